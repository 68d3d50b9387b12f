//! Properties of random DAGs under random commands: limits and edge
//! conditions always hold, and everything finishes once allowed to.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use proptest::sample::Index;

use super::*;

#[derive(Debug, Clone)]
struct RandomDag {
    tiers: Vec<Tier>,
    checkpoints: Vec<bool>,
    /// (dependent, dependency, condition) with dependency < dependent.
    edges: Vec<(usize, usize, Condition)>,
    /// Task `i` belongs to execution `i % executions`, so edges cross
    /// executions as often as not, and an execution may need one loaded
    /// after it.
    executions: usize,
}

fn tier() -> impl Strategy<Value = Tier> {
    prop_oneof![Just(Tier::Light), Just(Tier::Standard), Just(Tier::Heavy)]
}

fn condition() -> impl Strategy<Value = Condition> {
    prop_oneof![Just(Merged), Just(Completed), Just(Started)]
}

fn random_dag() -> impl Strategy<Value = RandomDag> {
    (2usize..24, 1usize..=4).prop_flat_map(|(n, executions)| {
        let tiers = proptest::collection::vec(tier(), n);
        let checkpoints = proptest::collection::vec(proptest::bool::weighted(0.1), n);
        let edges = proptest::collection::vec((1..n, 0..n, condition()), 0..n * 2);
        (tiers, checkpoints, edges).prop_map(move |(tiers, checkpoints, edges)| {
            // One edge per pair, always pointing to an earlier node.
            let mut kept: Vec<(usize, usize, Condition)> = Vec::new();
            for (a, b, c) in edges {
                if b < a && !kept.iter().any(|(x, y, _)| *x == a && *y == b) {
                    kept.push((a, b, c));
                }
            }
            RandomDag {
                tiers,
                checkpoints,
                edges: kept,
                // Every execution holds at least one step, as in the store.
                executions: executions.min(n),
            }
        })
    })
}

fn task_name(i: usize) -> String {
    format!("t{i:02}")
}

impl RandomDag {
    fn len(&self) -> usize {
        self.tiers.len()
    }

    fn needs(&self, i: usize) -> Vec<(String, Condition)> {
        self.edges
            .iter()
            .filter(|(a, _, _)| *a == i)
            .map(|(_, b, c)| (task_name(*b), *c))
            .collect()
    }

    /// Execution `e` as a store holding `model` has it (everything pending
    /// before anything ran).
    fn snapshot(&self, e: usize, model: &Model, o: &Orchestrator) -> ExecutionSnapshot {
        let id = format!("e{e}");
        let nodes = (0..self.len())
            .filter(|i| i % self.executions == e)
            .map(|i| {
                let name = task_name(i);
                NodeSnapshot {
                    tier: self.tiers[i],
                    checkpoint: self.checkpoints[i],
                    status: model
                        .tasks
                        .get(&name)
                        .copied()
                        .unwrap_or(TaskStatus::Pending),
                    failures: o.graph().failures(&name).unwrap_or(0),
                    needs: self
                        .needs(i)
                        .into_iter()
                        .map(|(target, condition)| Edge { target, condition })
                        .collect(),
                    ..node(&name, i as i64, &[])
                }
            })
            .collect();
        ExecutionSnapshot {
            status: model
                .executions
                .get(&id)
                .copied()
                .unwrap_or(ExecutionStatus::Running),
            id,
            order: e as u64,
            nodes,
        }
    }
}

/// What a pause, resume or cancel names.
#[derive(Debug, Clone, Copy)]
enum Target {
    /// The step of a running task (of any task when none runs).
    RunningStep,
    /// The step of any task.
    Step,
    /// The execution of any task.
    Execution,
}

fn target() -> impl Strategy<Value = Target> {
    prop_oneof![
        2 => Just(Target::RunningStep),
        2 => Just(Target::Step),
        1 => Just(Target::Execution),
    ]
}

/// What the coordinator would do to the orchestrator next.
#[derive(Debug, Clone)]
enum Action {
    Finish(Index, WorkResult),
    Fail(Index),
    Land(Index),
    MergeFail(Index),
    Cancel(Index, Target),
    Pause(Index, Target),
    Resume(Index, Target),
    Retry(Index),
    /// A follow-up of a done task (the engine refuses one in a cancelled execution).
    FollowUp(Index),
    Activity(Index),
    /// Time passes (workers without activity for two ticks stall).
    Tick,
    StopAll,
    /// A new coordinator loads everything from the store.
    Restart,
}

fn action() -> impl Strategy<Value = Action> {
    let result = prop_oneof![Just(WorkResult::Changes), Just(WorkResult::NoChanges)];
    prop_oneof![
        8 => (any::<Index>(), result).prop_map(|(i, r)| Action::Finish(i, r)),
        3 => any::<Index>().prop_map(Action::Fail),
        5 => any::<Index>().prop_map(Action::Land),
        1 => any::<Index>().prop_map(Action::MergeFail),
        1 => (any::<Index>(), target()).prop_map(|(i, t)| Action::Cancel(i, t)),
        2 => (any::<Index>(), target()).prop_map(|(i, t)| Action::Pause(i, t)),
        2 => (any::<Index>(), target()).prop_map(|(i, t)| Action::Resume(i, t)),
        2 => any::<Index>().prop_map(Action::Retry),
        1 => any::<Index>().prop_map(Action::FollowUp),
        2 => any::<Index>().prop_map(Action::Activity),
        1 => Just(Action::Tick),
        1 => Just(Action::StopAll),
        1 => Just(Action::Restart),
    ]
}

/// The store as the events wrote it, plus what the test has learned.
#[derive(Debug, Default)]
struct Model {
    tasks: BTreeMap<String, TaskStatus>,
    executions: BTreeMap<String, ExecutionStatus>,
    needs: BTreeMap<String, Vec<(String, Condition)>>,
    /// Failed or cancelled tasks (until a retry): their dependents must not start.
    dead: BTreeSet<String>,
    /// Queued merges, in order.
    merges: Vec<String>,
    /// A task failed for good or was cancelled.
    disrupted: bool,
}

impl Model {
    fn new(dag: &RandomDag) -> Model {
        Model {
            needs: (0..dag.len())
                .map(|i| (task_name(i), dag.needs(i)))
                .collect(),
            ..Model::default()
        }
    }

    /// Feeds the events of one command, checking each start against the
    /// statuses the store held at that moment.
    fn observe(&mut self, events: &[Event]) -> Result<(), TestCaseError> {
        for event in events {
            match event {
                Event::TaskStatus { task, status, .. } => {
                    let previous = self.tasks.get(task).copied();
                    if *status == TaskStatus::Running {
                        prop_assert_eq!(previous, Some(TaskStatus::Ready), "{} started", task);
                    }
                    match status {
                        TaskStatus::Failed | TaskStatus::Cancelled => {
                            self.dead.insert(task.clone());
                        }
                        TaskStatus::Pending if previous == Some(TaskStatus::Failed) => {
                            self.dead.remove(task);
                        }
                        _ => {}
                    }
                    if *status == TaskStatus::Cancelled {
                        self.disrupted = true;
                    }
                    self.tasks.insert(task.clone(), *status);
                }
                Event::ExecutionStatus { execution, status } => {
                    self.executions.insert(execution.clone(), *status);
                }
                Event::StartWorker { task, .. } => {
                    for (target, condition) in &self.needs[task] {
                        let held = self.tasks.get(target).copied();
                        prop_assert!(
                            held.is_some_and(|s| condition.is_satisfied_by(s)),
                            "{} started while {} is {:?} ({})",
                            task,
                            target,
                            held,
                            condition
                        );
                        prop_assert!(
                            !self.dead.contains(target),
                            "{} started after {} failed or was cancelled",
                            task,
                            target
                        );
                    }
                }
                Event::QueueMerge { task } => self.merges.push(task.clone()),
                Event::TaskFailed {
                    will_retry: false, ..
                } => self.disrupted = true,
                _ => {}
            }
        }
        Ok(())
    }
}

/// Invariants that hold after every command.
fn check(o: &Orchestrator, model: &Model, limits: &Limits) -> Result<(), TestCaseError> {
    let graph = o.graph();
    // The store, fed only the events, agrees with the graph.
    for (task, stored) in &model.tasks {
        prop_assert_eq!(graph.status(task), Some(*stored), "{}", task);
        prop_assert_eq!(
            *stored == TaskStatus::Running,
            o.is_running(task),
            "{} is {} in the store",
            task,
            stored
        );
    }
    for (execution, stored) in &model.executions {
        prop_assert_eq!(graph.execution_status(execution), Some(*stored));
    }
    // Limits.
    let running = o.running();
    prop_assert!(running.len() <= limits.max_workers);
    let mut per_tier: BTreeMap<Tier, usize> = BTreeMap::new();
    for task in &running {
        *per_tier.entry(graph.tier(task).unwrap()).or_default() += 1;
    }
    for (tier, count) in &per_tier {
        if let Some(max) = limits.for_tier(*tier) {
            prop_assert!(*count <= max, "{} {} workers (max {})", count, tier, max);
        }
    }
    for (task, stored) in &model.tasks {
        // Waiting tasks are exactly as ready as their edges say.
        if matches!(stored, TaskStatus::Pending | TaskStatus::Ready) {
            prop_assert_eq!(graph.readiness(task), *stored, "{}", task);
        }
        // Nothing ready waits while its execution runs and a slot is free.
        if *stored == TaskStatus::Ready {
            let execution = graph.execution_of(task).unwrap();
            let tier = graph.tier(task).unwrap();
            let tier_full = limits
                .for_tier(tier)
                .is_some_and(|max| per_tier.get(&tier).copied().unwrap_or(0) >= max);
            prop_assert!(
                graph.execution_status(execution) != Some(ExecutionStatus::Running)
                    || running.len() >= limits.max_workers
                    || tier_full,
                "{} is ready with a free slot",
                task
            );
        }
    }
    Ok(())
}

struct World {
    dag: RandomDag,
    settings: Settings,
    o: Orchestrator,
    model: Model,
    now_ms: u64,
}

impl World {
    fn new(dag: RandomDag, settings: Settings) -> Result<World, TestCaseError> {
        let mut world = World {
            model: Model::new(&dag),
            o: Orchestrator::new(settings),
            dag,
            settings,
            now_ms: 0,
        };
        world.load_all()?;
        Ok(world)
    }

    fn load_all(&mut self) -> Result<(), TestCaseError> {
        for e in 0..self.dag.executions {
            let snapshot = self.dag.snapshot(e, &self.model, &self.o);
            for n in &snapshot.nodes {
                self.model.tasks.entry(n.id.clone()).or_insert(n.status);
            }
            self.model
                .executions
                .entry(snapshot.id.clone())
                .or_insert(snapshot.status);
            self.apply(Command::Load(snapshot))?;
        }
        Ok(())
    }

    fn apply(&mut self, command: Command) -> Result<Vec<Event>, TestCaseError> {
        let events = self.o.handle(command);
        self.model.observe(&events)?;
        check(&self.o, &self.model, &self.settings.limits)?;
        Ok(events)
    }

    fn tasks(&self) -> Vec<String> {
        self.model.tasks.keys().cloned().collect()
    }

    fn step_command(&self, i: Index, target: Target) -> (String, Option<String>) {
        let running = self.o.running();
        let tasks = match target {
            Target::RunningStep if !running.is_empty() => running,
            _ => self.tasks(),
        };
        let task = &tasks[i.index(tasks.len())];
        let execution = self.o.graph().execution_of(task).unwrap().to_string();
        let whole = matches!(target, Target::Execution);
        (execution, (!whole).then(|| task.clone()))
    }

    fn act(&mut self, action: &Action) -> Result<(), TestCaseError> {
        let running = self.o.running();
        match action {
            Action::Finish(i, result) if !running.is_empty() => {
                let task = running[i.index(running.len())].clone();
                self.apply(Command::WorkerFinished {
                    task,
                    result: *result,
                })?;
            }
            Action::Fail(i) if !running.is_empty() => {
                let task = running[i.index(running.len())].clone();
                self.apply(Command::WorkerFailed {
                    task,
                    error: "boom".into(),
                })?;
            }
            Action::Land(i) | Action::MergeFail(i) if !self.model.merges.is_empty() => {
                let task = self.model.merges.remove(i.index(self.model.merges.len()));
                let queued = self.o.graph().status(&task) == Some(TaskStatus::WorkerDone);
                let command = if matches!(action, Action::Land(_)) {
                    Command::MergeLanded { task }
                } else {
                    Command::MergeFailed {
                        task,
                        error: "verify hook failed".into(),
                    }
                };
                let events = self.apply(command)?;
                // A merge for a task cancelled meanwhile changes nothing.
                prop_assert!(queued || events.is_empty(), "{:?}", events);
            }
            Action::Cancel(i, target) => {
                let (execution, step) = self.step_command(*i, *target);
                self.apply(Command::Cancel { execution, step })?;
            }
            Action::Pause(i, target) => {
                let (execution, step) = self.step_command(*i, *target);
                self.apply(Command::Pause { execution, step })?;
            }
            Action::Resume(i, target) => {
                let (execution, step) = self.step_command(*i, *target);
                self.apply(Command::Resume { execution, step })?;
            }
            Action::Retry(i) => {
                // Retrying inside a cancelled execution is left out: neither
                // the store nor the engine refuses it, and the task would then
                // wait forever in an execution that never schedules again (a
                // known gap, for the steering commands to refuse).
                let graph = self.o.graph();
                let retryable: Vec<String> = self
                    .tasks()
                    .into_iter()
                    .filter(|t| graph.status(t).is_some_and(TaskStatus::is_retryable))
                    .filter(|t| {
                        graph.execution_status(graph.execution_of(t).unwrap())
                            != Some(ExecutionStatus::Cancelled)
                    })
                    .collect();
                if !retryable.is_empty() {
                    let task = retryable[i.index(retryable.len())].clone();
                    self.apply(Command::Retry { task })?;
                }
            }
            Action::FollowUp(i) => {
                let graph = self.o.graph();
                let done: Vec<String> = self
                    .tasks()
                    .into_iter()
                    .filter(|t| graph.status(t) == Some(TaskStatus::Done))
                    .collect();
                if !done.is_empty() {
                    let task = done[i.index(done.len())].clone();
                    self.apply(Command::FollowUp { task })?;
                }
            }
            Action::Activity(i) if !running.is_empty() => {
                let task = running[i.index(running.len())].clone();
                self.apply(Command::WorkerActivity {
                    task,
                    at_ms: self.now_ms,
                    sign: crate::liveness::Sign::Progress,
                })?;
            }
            Action::Tick => {
                self.now_ms += 700;
                self.apply(Command::Tick {
                    now_ms: self.now_ms,
                })?;
            }
            Action::StopAll => {
                self.apply(Command::StopAll)?;
            }
            Action::Restart => {
                // The new coordinator's clock starts again.
                let old = std::mem::replace(&mut self.o, Orchestrator::new(self.settings));
                self.now_ms = 0;
                // The store knows every task already: check once all are loaded.
                for e in 0..self.dag.executions {
                    let snapshot = self.dag.snapshot(e, &self.model, &old);
                    let events = self.o.handle(Command::Load(snapshot));
                    self.model.observe(&events)?;
                }
                check(&self.o, &self.model, &self.settings.limits)?;
            }
            _ => {}
        }
        Ok(())
    }

    /// Resumes everything and lets every worker and merge succeed until
    /// nothing moves.
    fn drain(&mut self) -> Result<(), TestCaseError> {
        for round in 0.. {
            prop_assert!(round < 10 * self.dag.len() + 20, "no progress");
            for e in 0..self.dag.executions {
                self.apply(Command::Resume {
                    execution: format!("e{e}"),
                    step: None,
                })?;
            }
            for (k, task) in self.o.running().into_iter().enumerate() {
                let result = if k % 2 == 0 {
                    WorkResult::Changes
                } else {
                    WorkResult::NoChanges
                };
                self.apply(Command::WorkerFinished { task, result })?;
            }
            for task in std::mem::take(&mut self.model.merges) {
                self.apply(Command::MergeLanded { task })?;
            }
            if self.o.running_count() == 0
                && self.model.merges.is_empty()
                && !self.o.has_paused_work()
            {
                return Ok(());
            }
        }
        unreachable!()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Random DAGs over 1-4 executions with cross-execution edges, random
    /// tiers, limits and retry budgets, under a random mix of successes,
    /// failures, merges, cancels, pauses, resumes, retries, stalls, stop-all
    /// and restarts: no limit is ever exceeded, no task starts before its
    /// edges hold (nor after an upstream failed or was cancelled), and once
    /// everything is resumed and allowed to succeed every task ends
    /// terminal and the orchestrator is idle.
    #[test]
    fn random_dags_under_random_events_keep_limits_and_conditions_and_finish(
        dag in random_dag(),
        max_workers in 1usize..5,
        max_light in proptest::option::of(1usize..3),
        max_standard in proptest::option::of(1usize..3),
        max_heavy in proptest::option::of(1usize..3),
        retries in 0u32..3,
        actions in proptest::collection::vec(action(), 0..120),
    ) {
        let limits = Limits { max_workers, max_light, max_standard, max_heavy };
        let settings = Settings { limits, retries, stall_timeout_ms: 1000, api_retry_limit_ms: 5000 };
        let mut world = World::new(dag, settings)?;
        for action in &actions {
            world.act(action)?;
        }
        world.drain()?;

        let graph = world.o.graph();
        prop_assert!(world.o.is_idle());
        for task in world.tasks() {
            let status = graph.status(&task).unwrap();
            match status {
                TaskStatus::Done | TaskStatus::Failed | TaskStatus::Cancelled => {}
                TaskStatus::Blocked => {
                    // Blocked by an upstream that failed, was cancelled or is blocked.
                    let blocker = world.model.needs[&task].iter().any(|(target, condition)| {
                        let s = graph.status(target).unwrap();
                        !condition.is_satisfied_by(s)
                            && matches!(s, TaskStatus::Failed | TaskStatus::Cancelled | TaskStatus::Blocked)
                    });
                    prop_assert!(blocker, "{} is blocked by nothing", task);
                }
                other => prop_assert!(false, "{} ends {}", task, other),
            }
            if !world.model.disrupted {
                prop_assert_eq!(status, TaskStatus::Done, "{}: nothing failed or was cancelled", task);
            }
        }
        for e in 0..world.dag.executions {
            let status = graph.execution_status(&format!("e{e}")).unwrap();
            prop_assert!(status.is_terminal(), "e{} ends {}", e, status);
        }
    }
}
