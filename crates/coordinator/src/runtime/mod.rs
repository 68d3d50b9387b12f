//! The main loop: turns signal files (`signals`), the reports of workers,
//! merges and the planner (`messages`) and timer ticks into orchestrator
//! commands, and carries out the events it answers (`events`). Everything
//! durable goes to the store first.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use enki_core::TaskStatus;
use enki_core::engine::{Command, Orchestrator};
use enki_signals::{SignalWatcher, Wake};
use tokio::sync::{mpsc, watch};

use crate::cleaner::Cleaner;
use crate::context::Shared;
use crate::merge;
use crate::planner_link::PlannerLink;
use crate::progress::{Outcome, Progress};
use crate::snapshot::execution_snapshot;

mod clock;
mod events;
mod limits;
mod messages;
mod signals;
mod spend;
mod witness;
use crate::worker::WorkerMessage;
use clock::AwakeClock;

const TICK: Duration = Duration::from_millis(250);
/// How often the store is compared with the graph, to repair what a lost
/// signal would have done (the same cadence as the signal rescan).
const RECONCILE_EVERY: Duration = Duration::from_secs(1);

/// What a front end can ask of a running coordinator.
#[derive(Debug)]
pub enum Control {
    /// Send the planner a message from the user.
    UserMessage(String),
    /// The person raised a spent budget (`scope`'s `measure` to `to`, for
    /// this session) and resumes `execution`.
    RaiseBudget {
        execution: String,
        scope: enki_core::budget::Scope,
        measure: enki_core::budget::Measure,
        to: f64,
    },
    /// Stop the workers and leave (tasks resume on the next start).
    Shutdown,
}

#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// The user's first request for the planner; no planner runs without one.
    pub request: Option<String>,
    /// Return once nothing can move any more (headless runs).
    pub exit_when_idle: bool,
    /// Take up the planner's conversation of the latest earlier session
    /// (the TUI): its ACP session when the agent can continue it, else the
    /// kept chat as context in its first prompt.
    pub continue_planner: bool,
}

/// How the run ended, by task status over the executions it handled.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunSummary {
    pub done: usize,
    pub failed: usize,
    pub cancelled: usize,
    /// Tasks that did not finish (paused, pending, ready).
    pub unfinished: usize,
    pub interrupted: bool,
    /// The planner could not start, died, or a turn of it failed.
    pub planner_failed: bool,
    /// A budget stopped work that is left unfinished: which, in words.
    pub budget_spent: Option<String>,
    /// Why the outcome is not [`Outcome::Done`] (`None` when it is).
    pub reason: Option<String>,
}

impl RunSummary {
    /// Done when every task is done or cancelled and nothing failed; nothing
    /// ran when the run had no task at all, whatever the reason.
    pub fn outcome(&self) -> Outcome {
        if self.done + self.failed + self.cancelled + self.unfinished == 0 {
            Outcome::NothingRan
        } else if self.budget_spent.is_some() && self.unfinished > 0 && !self.interrupted {
            Outcome::BudgetSpent
        } else if self.failed == 0
            && self.unfinished == 0
            && !self.interrupted
            && !self.planner_failed
        {
            Outcome::Done
        } else {
            Outcome::Failed
        }
    }

    pub fn success(&self) -> bool {
        self.outcome() == Outcome::Done
    }

    /// Why a run that did not end with every task done ended as it did.
    fn explain(&self, planner: &PlannerLink, refusal_hint: Option<&str>) -> Option<String> {
        match self.outcome() {
            Outcome::Done => None,
            Outcome::NothingRan if self.interrupted && planner.needs_start() => {
                Some("stopped before anything was planned".into())
            }
            Outcome::NothingRan => Some(planner.why_nothing_was_planned(refusal_hint)),
            Outcome::BudgetSpent => Some(format!(
                "{}; {} task(s) wait: raise the budget in enki.toml and `enki resume` the execution",
                self.budget_spent.as_deref().unwrap_or("a budget is spent"),
                self.unfinished
            )),
            Outcome::Failed => {
                let mut why = Vec::new();
                if self.failed > 0 {
                    why.push(format!("{} task(s) failed or were blocked", self.failed));
                }
                if self.interrupted {
                    why.push("the run was stopped".to_string());
                } else if self.unfinished > 0 {
                    why.push(format!("{} task(s) did not finish", self.unfinished));
                }
                if self.planner_failed {
                    why.push(planner.why_it_failed());
                }
                Some(why.join("; "))
            }
        }
    }
}

struct Runtime {
    ctx: Shared,
    orch: Orchestrator,
    /// The stall monitor's time (see `clock`).
    clock: AwakeClock,
    progress: mpsc::UnboundedSender<Progress>,
    workers: HashMap<String, watch::Sender<bool>>,
    worker_tx: mpsc::UnboundedSender<WorkerMessage>,
    merge_nudge: mpsc::UnboundedSender<()>,
    merges_pending: BTreeSet<String>,
    planner: PlannerLink,
    /// [`RunOptions::continue_planner`].
    continue_planner: bool,
    /// The planner's message so far, kept in the chat when it ends.
    planner_said: String,
    titles: HashMap<String, (String, String)>,
    /// The store's `data_version` at the last reconciliation.
    store_version: Option<i64>,
    /// When the store was last compared with the graph.
    reconciled_at: Instant,
    /// Why a budget last stopped work (see `spend`).
    budget_spent: Option<String>,
    /// The clean-up of landed work (and of landings an earlier coordinator
    /// did not finish), waited for before the run ends: a run that is soon
    /// idle would otherwise leave their copies and worktrees behind.
    cleaner: Cleaner,
}

/// Runs the coordinator until it is told to stop or, with
/// `exit_when_idle`, until nothing can move any more.
pub async fn run(
    ctx: Shared,
    options: RunOptions,
    progress: mpsc::UnboundedSender<Progress>,
    mut control: mpsc::UnboundedReceiver<Control>,
) -> Result<RunSummary, String> {
    let settings = enki_core::engine::Settings {
        limits: enki_core::engine::Limits {
            max_workers: ctx.config.workers.max_workers,
            max_light: ctx.config.workers.max_light,
            max_standard: ctx.config.workers.max_standard,
            max_heavy: ctx.config.workers.max_heavy,
        },
        retries: ctx.config.workers.retries,
        stall_timeout_ms: ctx.config.workers.stall_timeout_secs.saturating_mul(1000),
        api_retry_limit_ms: ctx.config.workers.api_retry_limit_secs.saturating_mul(1000),
    };
    let (worker_tx, mut worker_rx) = mpsc::unbounded_channel();
    let (merge_nudge, nudges) = mpsc::unbounded_channel();
    let (merge_tx, mut merge_rx) = mpsc::unbounded_channel();
    let (planner_tx, mut planner_rx) = mpsc::unbounded_channel();
    let merge_task = tokio::spawn(merge::run_queue(ctx.clone(), nudges, merge_tx));

    let mut rt = Runtime {
        ctx: ctx.clone(),
        orch: {
            let mut orch = Orchestrator::new(settings);
            orch.set_budget(ctx.config.budget.clone());
            orch
        },
        clock: AwakeClock::new(Instant::now(), clock::MAX_STEP),
        progress,
        workers: HashMap::new(),
        worker_tx,
        merge_nudge,
        merges_pending: BTreeSet::new(),
        planner: PlannerLink::new(planner_tx),
        continue_planner: options.continue_planner,
        planner_said: String::new(),
        titles: HashMap::new(),
        store_version: None,
        reconciled_at: Instant::now(),
        budget_spent: None,
        cleaner: Cleaner::start(ctx.clone()).await,
    };
    let agent = ctx.agent(enki_config::AgentRole::Worker, None, None);
    rt.emit(Progress::SessionStarted {
        session: ctx.session_id.clone(),
        agent: agent.name,
        base_branch: ctx.base_branch.clone(),
    });
    rt.adopt().await?;

    // Signal files: a blocking watcher thread wakes the loop.
    let (wake_tx, mut wake_rx) = mpsc::unbounded_channel::<Wake>();
    let watcher = SignalWatcher::start(&ctx.layout.events(), Duration::from_secs(1))
        .map_err(|e| format!("cannot watch {}: {e}", ctx.layout.events().display()))?;
    let watcher = std::sync::Arc::new(watcher);
    let (stop_watch_tx, stop_watch_rx) = std::sync::mpsc::channel::<()>();
    {
        let watcher = watcher.clone();
        std::thread::spawn(move || {
            loop {
                if stop_watch_rx.try_recv().is_ok() {
                    return;
                }
                if let Some(wake) = watcher.wait(Duration::from_millis(200))
                    && wake_tx.send(wake).is_err()
                {
                    return;
                }
            }
        });
    }

    // The planner starts with the first prompt: the request, or (in the
    // TUI) the user's first message.
    if let Some(request) = &options.request {
        rt.prompt_planner(request.clone()).await;
    }

    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut interrupted = false;
    loop {
        tokio::select! {
            Some(_) = wake_rx.recv() => rt.apply_signals().await,
            Some(message) = worker_rx.recv() => rt.on_worker(message).await,
            Some(message) = merge_rx.recv() => rt.on_merge(message).await,
            Some(message) = planner_rx.recv() => rt.on_planner(message).await,
            _ = tick.tick() => {
                // What the workers reported while this loop did not run (the
                // process was stopped, or busy) counts before stalls are judged.
                for _ in 0..worker_rx.len() {
                    match worker_rx.try_recv() {
                        Ok(message) => rt.on_worker(message).await,
                        Err(_) => break,
                    }
                }
                if wake_rx.try_recv().is_ok() {
                    while wake_rx.try_recv().is_ok() {}
                    rt.apply_signals().await;
                }
                let now = rt.now_ms();
                rt.command(Command::Tick { now_ms: now }).await;
                rt.free_agents().await;
                if rt.reconciled_at.elapsed() >= RECONCILE_EVERY {
                    rt.reconcile().await;
                }
                rt.planner.deliver_notes();
            }
            message = control.recv() => match message {
                Some(Control::UserMessage(text)) => rt.prompt_planner(text).await,
                Some(Control::RaiseBudget { execution, scope, measure, to }) => {
                    rt.raise_budget(execution, scope, measure, to).await
                }
                Some(Control::Shutdown) | None => { interrupted = true; break }
            },
        }
        if options.exit_when_idle && rt.is_idle() {
            // Signals written just before (e.g. by the planner's last tool
            // call) may not have woken us yet: apply them before deciding.
            rt.apply_signals().await;
            if rt.is_idle() {
                break;
            }
        }
    }

    // Stop workers. Their attempts end as interrupted and their tasks go
    // back to `ready`, so the store never shows workers that no longer run;
    // the next coordinator starts them again in their kept copies. (After a
    // SIGKILL nothing runs here: the next start treats `running` tasks the
    // same way.)
    let stopped: Vec<String> = rt.workers.keys().cloned().collect();
    for (_, cancel) in rt.workers.drain() {
        let _ = cancel.send(true);
    }
    if !stopped.is_empty() {
        let tasks = stopped.clone();
        let recorded = ctx
            .db
            .call(move |s| {
                for task in &tasks {
                    s.end_attempt(task, "interrupted", Some("the coordinator stopped"))?;
                    s.record_status(
                        task,
                        TaskStatus::Running,
                        TaskStatus::Ready,
                        Some("the coordinator stopped; it runs again at the next start"),
                    )?;
                }
                Ok(())
            })
            .await;
        if let Err(e) = recorded {
            tracing::warn!("cannot record the stopped workers: {e}");
        }
        rt.emit(Progress::Warning {
            message: format!(
                "stopped {} worker(s); their tasks run again in their kept copies the next time enki starts in this project",
                stopped.len()
            ),
        });
    }
    rt.planner.close();
    let _ = stop_watch_tx.send(());
    merge_task.abort();
    rt.cleaner.finish().await;
    let session = ctx.session_id.clone();
    if let Err(e) = ctx.db.call(move |s| s.end_session(&session)).await {
        tracing::warn!("cannot record the end of the session: {e}");
    }
    // The last write of a clean stop: fold the WAL into the database and
    // empty the file, so a project at rest keeps no large -wal beside it.
    match ctx.db.call(|s| s.truncate_wal()).await {
        Ok(true) => {}
        Ok(false) => tracing::debug!("the WAL was not emptied: another connection was busy"),
        Err(e) => tracing::warn!("cannot checkpoint the database at the end of the session: {e}"),
    }
    let summary = rt.summary(interrupted).await;
    rt.emit(Progress::Finished {
        done: summary.done,
        failed: summary.failed,
        cancelled: summary.cancelled,
        other: summary.unfinished,
        outcome: summary.outcome(),
        reason: summary.reason.clone(),
    });
    Ok(summary)
}

impl Runtime {
    fn emit(&self, progress: Progress) {
        crate::progress::log(&progress);
        let _ = self.progress.send(progress);
    }

    fn now_ms(&mut self) -> u64 {
        self.clock.now_ms()
    }

    /// Nothing can move any more: no worker, merge or planner turn is under
    /// way, and nothing waits on a pause that someone may lift.
    /// Work a spent budget paused does not count: a headless run ends
    /// (exit status 4) instead of waiting for a raise nobody can give.
    fn is_idle(&self) -> bool {
        self.orch.is_idle()
            && (!self.orch.has_paused_work() || self.budget_spent.is_some())
            && self.workers.is_empty()
            && self.merges_pending.is_empty()
            && self.planner.is_idle()
    }

    fn label(&self, task: &str) -> (String, String) {
        self.titles
            .get(task)
            .cloned()
            .unwrap_or_else(|| (String::new(), enki_core::id::short(task).to_string()))
    }

    /// Takes over what an earlier coordinator left unfinished.
    async fn adopt(&mut self) -> Result<(), String> {
        // Before any task can start: an agent still limited is not hammered.
        self.restore_holds().await;
        let session = self.ctx.session_id.clone();
        let adopted = self
            .ctx
            .db
            .call(move |s| s.adopt_unfinished(&session))
            .await
            .map_err(|e| e.to_string())?;
        if !adopted.is_empty() {
            self.emit(Progress::Adopted {
                executions: adopted.clone(),
            });
        }
        let unfinished = self
            .ctx
            .db
            .call(|s| s.unfinished_executions())
            .await
            .map_err(|e| e.to_string())?;
        for execution in unfinished {
            self.load_execution(&execution.id).await;
        }
        // Finished work whose merge request was lost with the old process.
        let waiting: Vec<String> = self
            .orch
            .graph()
            .executions_ids()
            .iter()
            .flat_map(|e| {
                self.orch
                    .graph()
                    .steps(e)
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .filter(|t| self.orch.graph().status(t) == Some(TaskStatus::WorkerDone))
            .collect();
        for task in waiting {
            self.queue_merge(&task).await;
        }
        let _ = self.merge_nudge.send(());
        Ok(())
    }

    /// Loads an execution (and any execution its steps depend on) from the store.
    async fn load_execution(&mut self, execution: &str) {
        let mut queue = vec![execution.to_string()];
        let mut seen = BTreeSet::new();
        while let Some(id) = queue.pop() {
            if !seen.insert(id.clone()) {
                continue;
            }
            let (lookup, default_base) = (id.clone(), self.ctx.base_branch.clone());
            let ctx = self.ctx.clone();
            let loaded = self
                .ctx
                .db
                .call(move |s| {
                    // Its work lands on the branch recorded now, whatever a
                    // later session finds checked out.
                    s.execution_base_branch(&lookup, &default_base)?;
                    let agent_of = |task: &enki_store::TaskRow| {
                        ctx.worker_agent(task.tier, task.role.as_deref()).name
                    };
                    let snapshot = execution_snapshot(s, &lookup, &agent_of)?;
                    let title = s.execution(&lookup)?.map(|e| e.title).unwrap_or_default();
                    let tasks = s.tasks(&enki_store::TaskFilter {
                        execution_id: Some(lookup.clone()),
                        ..Default::default()
                    })?;
                    Ok((snapshot, title, tasks))
                })
                .await;
            let (snapshot, title, tasks) = match loaded {
                Ok((Some(snapshot), title, tasks)) => (snapshot, title, tasks),
                Ok((None, _, _)) => continue,
                Err(e) => {
                    self.emit(Progress::Warning {
                        message: format!("cannot load execution {id}: {e}"),
                    });
                    continue;
                }
            };
            for task in &tasks {
                self.titles
                    .insert(task.id.clone(), (task.step_id.clone(), task.title.clone()));
            }
            // Dependencies in other executions must be in the graph too.
            for node in &snapshot.nodes {
                for edge in &node.needs {
                    if self.orch.graph().status(&edge.target).is_none()
                        && !snapshot.nodes.iter().any(|n| n.id == edge.target)
                    {
                        let target = edge.target.clone();
                        if let Ok(Some(task)) = self.ctx.db.call(move |s| s.task(&target)).await {
                            queue.push(task.execution_id);
                        }
                    }
                }
            }
            self.emit(Progress::ExecutionLoaded {
                execution: id.clone(),
                title,
                steps: snapshot.nodes.len(),
            });
            // What its tasks spent before counts before any of them starts.
            self.load_spent(&id).await;
            self.command(Command::Load(snapshot)).await;
        }
    }

    async fn command(&mut self, command: Command) {
        let events = self.orch.handle(command);
        for event in events {
            self.carry_out(event).await;
        }
    }

    async fn summary(&self, interrupted: bool) -> RunSummary {
        let mut summary = RunSummary {
            interrupted,
            planner_failed: self.planner.failed(),
            budget_spent: self.budget_spent.clone(),
            ..RunSummary::default()
        };
        let graph = self.orch.graph();
        for execution in graph.executions_ids() {
            for task in graph.steps(&execution) {
                match graph.status(task) {
                    Some(TaskStatus::Done) => summary.done += 1,
                    Some(TaskStatus::Failed | TaskStatus::Blocked) => summary.failed += 1,
                    Some(TaskStatus::Cancelled) => summary.cancelled += 1,
                    _ => summary.unfinished += 1,
                }
            }
        }
        let hint = self.unanswerable_questions_hint();
        summary.reason = summary.explain(&self.planner, hint);
        summary
    }

    /// Under `policy = "ask"` with nobody to ask (a headless run), every
    /// permission question is refused: said when the planner's were.
    fn unanswerable_questions_hint(&self) -> Option<&'static str> {
        let asks = self.ctx.config.permissions.policy == enki_config::PermissionPolicyName::Ask;
        (asks && self.ctx.ask_policy.is_none()).then_some(
            "with [permissions] policy = \"ask\" a headless `enki run` has nobody to ask, so every permission question is refused: run `enki` (the TUI) to answer them, or choose another policy in enki.toml",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_outcome_is_done_only_when_every_task_ended_well_and_nothing_ran_without_tasks() {
        let summary =
            |done, failed, cancelled, unfinished, interrupted, planner_failed| RunSummary {
                done,
                failed,
                cancelled,
                unfinished,
                interrupted,
                planner_failed,
                budget_spent: None,
                reason: None,
            };
        for (case, outcome) in [
            (summary(2, 0, 0, 0, false, false), Outcome::Done),
            (summary(1, 0, 1, 0, false, false), Outcome::Done),
            (summary(1, 1, 0, 0, false, false), Outcome::Failed),
            (summary(1, 0, 0, 1, false, false), Outcome::Failed),
            (summary(1, 0, 0, 0, true, false), Outcome::Failed),
            (summary(1, 0, 0, 0, false, true), Outcome::Failed),
            (summary(0, 0, 0, 0, false, false), Outcome::NothingRan),
            (summary(0, 0, 0, 0, true, true), Outcome::NothingRan),
        ] {
            assert_eq!(case.outcome(), outcome, "{case:?}");
        }
        let spent = |unfinished, interrupted| RunSummary {
            budget_spent: Some("the task's budget is spent".into()),
            ..summary(1, 0, 0, unfinished, interrupted, false)
        };
        assert_eq!(spent(2, false).outcome(), Outcome::BudgetSpent);
        assert_eq!(spent(0, false).outcome(), Outcome::Done, "all done anyway");
        assert_eq!(
            spent(2, true).outcome(),
            Outcome::Failed,
            "stopped by a person"
        );
    }
}
