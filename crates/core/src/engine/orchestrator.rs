//! `handle(Command) -> Vec<Event>`: every state change of the DAG in one
//! place, deterministic and free of IO.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};
use std::hash::BuildHasherDefault;

use crate::budget::{Budget, Measure, Scope, Spent, Standing};
use crate::liveness::{AgentState, Bounds, GiveUp, Liveness, Sign};
use crate::{ExecutionStatus, TaskStatus, Tier, rules};

use super::graph::{ExecutionSnapshot, Graph};
use super::ids::IdHasher;
use super::scheduler::{self, Limits};

mod finish;
mod holds;
mod rerun;
mod review;
mod settle;
mod spending;

/// Policy knobs from configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    pub limits: Limits,
    /// Automatic retries after a worker failure (so `retries + 1` attempts).
    pub retries: u32,
    /// A running worker with no progress for this long (not counting waits
    /// for a person) is stopped and counts as failed.
    pub stall_timeout_ms: u64,
    /// A worker that keeps reporting retries of its model API for this long
    /// without progress is stopped and counts as failed.
    pub api_retry_limit_ms: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            limits: Limits::default(),
            retries: 2,
            stall_timeout_ms: 10 * 60 * 1000,
            api_retry_limit_ms: 2 * 60 * 1000,
        }
    }
}

/// How a worker's turn ended well.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkResult {
    /// Changes were committed to the task's branch: a merge is needed.
    Changes,
    /// Changes were committed, and a person reviews them before they land
    /// (`review = "ask"`): the task waits in `awaiting_review`.
    ChangesToReview,
    /// Nothing to merge.
    NoChanges,
    /// An artifact was written instead of code.
    Artifact,
}

/// Why the orchestrator stops a running worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopCause {
    Cancelled,
    Paused,
    StopAll,
    /// No progress for the stall timeout.
    Stalled,
    /// Retrying its model API past the bound.
    Unreachable,
    /// A budget it falls under is spent (`[budget]`): its work is kept.
    Budget,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// An execution (new, grown, or re-read) as the store has it.
    Load(ExecutionSnapshot),
    /// The worker did something at `at_ms` (see [`Sign`]: only progress
    /// resets its stall clock).
    WorkerActivity {
        task: String,
        at_ms: u64,
        sign: Sign,
    },
    WorkerFinished {
        task: String,
        result: WorkResult,
    },
    WorkerFailed {
        task: String,
        error: String,
    },
    MergeLanded {
        task: String,
    },
    MergeFailed {
        task: String,
        error: String,
    },
    Pause {
        execution: String,
        step: Option<String>,
    },
    Resume {
        execution: String,
        step: Option<String>,
    },
    Cancel {
        execution: String,
        step: Option<String>,
    },
    Retry {
        task: String,
    },
    /// A done task runs again with a further request (`enki followup`;
    /// [`rules::may_follow_up`]). Its dependents keep what they did.
    FollowUp {
        task: String,
    },
    /// A person approved the work awaiting review: it goes to the merge
    /// queue ([`rules::may_review`]).
    Approve {
        task: String,
    },
    /// A person rejected the work awaiting review: the task fails with
    /// `note` ([`rules::REJECTED`]), its branch kept.
    Reject {
        task: String,
        note: String,
    },
    /// The merger resolved the task's conflict and a person reviews the
    /// resolution before the base branch moves: the landing task waits in
    /// `awaiting_review` (its request is held back by the merge queue).
    ResolutionToReview {
        task: String,
    },
    StopAll,
    /// Time passes (milliseconds on any monotonic clock).
    Tick {
        now_ms: u64,
    },
    /// What was spent against budgets, as reported: everything a task's
    /// runs spent (`task`, none for the planner) and everything this
    /// session's runs spent. Checked against `[budget]` at once.
    Spent {
        task: Option<(String, Spent)>,
        session: Spent,
    },
    /// What a task's runs spent before (a coordinator adopting it), sent
    /// before its execution is loaded: recorded, not judged (a task of it
    /// starts only with enough left, see [`Command::Spent`]).
    SpentEarlier {
        task: String,
        spent: Spent,
    },
    /// A person raised a budget: `scope`'s `measure` is `to` from now on.
    RaiseBudget {
        scope: Scope,
        measure: Measure,
        to: f64,
    },
    /// An agent's account is limited (a rate limit or quota,
    /// [`crate::limits`]): no task of it starts until [`Command::AgentFree`].
    /// `task`, whose worker met the limit, goes back to ready saying
    /// `reason`, without counting a failure: a limit never fails a task.
    AgentLimited {
        agent: String,
        task: Option<String>,
        reason: String,
    },
    /// The agent's limit has reset: its tasks start again.
    AgentFree {
        agent: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Persist a task's new status; `from` is the one it had in the graph
    /// (see `rules::write_undoes_steering`). The reason is mostly a fixed
    /// phrase, borrowed rather than allocated for each of the many status
    /// events.
    TaskStatus {
        task: String,
        from: TaskStatus,
        status: TaskStatus,
        reason: Option<Cow<'static, str>>,
    },
    /// Persist an execution's new status.
    ExecutionStatus {
        execution: String,
        status: ExecutionStatus,
    },
    /// Start a worker for the task (`attempt` counts from 1 since the last retry).
    StartWorker { task: String, attempt: u32 },
    /// Stop a worker; `error` says why when the attempt failed (a stall,
    /// an unreachable model API), in the agent's own words where it had any;
    /// `said` is the end of its last message, kept in the attempt's history.
    StopWorker {
        task: String,
        cause: StopCause,
        error: Option<String>,
        said: Option<String>,
    },
    /// A running worker's agent state changed (persist and show it).
    AgentState {
        task: String,
        state: AgentState,
        reason: Option<String>,
    },
    /// The task's branch is ready for the merge queue.
    QueueMerge { task: String },
    /// The task's work (`resolution`: a merger's resolution of it) waits
    /// for a person's review before it lands.
    AwaitingReview { task: String, resolution: bool },
    /// A person approved the task's work; [`Event::QueueMerge`] follows.
    Approved { task: String },
    /// A checkpoint step completed; its execution is paused for the planner.
    CheckpointReached { execution: String, task: String },
    /// A task is done (merged, nothing to merge, or artifact written).
    TaskFinished { task: String },
    /// A worker or merge failed; `will_retry` when the budget allows another attempt.
    TaskFailed {
        task: String,
        error: String,
        will_retry: bool,
    },
    /// A task was running when the previous coordinator stopped; it will be retried.
    Interrupted { task: String },
    /// A budget is spent (or too little is left of it to start a task):
    /// `execution` is paused (its workers under that budget stopped, their
    /// work kept in their copies), and `reason` says which budget.
    BudgetSpent {
        execution: String,
        reason: String,
        standing: Standing,
    },
    /// 80 % of a budget is used.
    BudgetWarning {
        execution: Option<String>,
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Running {
    /// Its task's slot in the graph (a slot is never reused).
    slot: u32,
    tier: Tier,
    liveness: Liveness,
    /// The state last reported for it.
    shown: (AgentState, Option<String>),
}

/// The DAG plus the workers the coordinator is running.
#[derive(Debug, Clone, Default)]
pub struct Orchestrator {
    graph: Graph,
    settings: Settings,
    /// By task id, hashed as the graph hashes ids (quicker than SipHash:
    /// every event looks a worker up here).
    running: HashMap<String, Running, BuildHasherDefault<IdHasher>>,
    now_ms: u64,
    /// `[budget]` and what was spent against it (see `spending`).
    budget: Budget,
    ledger: spending::Ledger,
    /// Agents whose tasks wait for a limit to reset (see `holds`).
    held: BTreeSet<String>,
    settling: settle::Settling,
    /// The tasks the scheduler picked, kept between events.
    picked: Vec<u32>,
}

impl Orchestrator {
    pub fn new(settings: Settings) -> Orchestrator {
        Orchestrator {
            settings,
            ..Orchestrator::default()
        }
    }

    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Tasks with a running worker, in id order.
    pub fn running(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.running.keys().cloned().collect();
        ids.sort();
        ids
    }

    pub fn is_running(&self, task: &str) -> bool {
        self.running.contains_key(task)
    }

    pub fn running_count(&self) -> usize {
        self.running.len()
    }

    /// Whether nothing can move without outside help: no worker runs, no
    /// task is ready to start in a running execution, and no finished work
    /// waits for its merge. (Paused executions and blocked tasks wait for a
    /// person or the planner.)
    pub fn is_idle(&self) -> bool {
        if !self.running.is_empty() {
            return false;
        }
        // From the per-execution counts: this runs after every event.
        self.graph.executions.values().all(|e| {
            e.count(TaskStatus::WorkerDone) == 0
                && e.count(TaskStatus::AwaitingReview) == 0
                && (e.status != ExecutionStatus::Running || !e.has_ready())
        })
    }

    /// Whether some work waits on a pause (a paused execution with
    /// unfinished steps, or a paused step): a person or the planner can
    /// resume it.
    pub fn has_paused_work(&self) -> bool {
        self.graph.executions.values().any(|e| {
            e.count(TaskStatus::Paused) > 0
                || (e.status == ExecutionStatus::Paused
                    && e.present().any(TaskStatus::is_unfinished))
        })
    }

    pub fn handle(&mut self, command: Command) -> Vec<Event> {
        // Most commands answer with a handful of events.
        let mut out = Vec::with_capacity(8);
        match command {
            Command::Load(snapshot) => self.load(snapshot, &mut out),
            Command::WorkerActivity { task, at_ms, sign } => {
                self.now_ms = self.now_ms.max(at_ms);
                if let Some(run) = self.running.get_mut(&task) {
                    run.liveness.observe(sign, at_ms);
                    self.judge(&task, &mut out);
                }
            }
            Command::WorkerFinished { task, result } => self.finished(task, result, &mut out),
            Command::WorkerFailed { task, error } => {
                if self.running.remove(&task).is_some() {
                    self.worker_failed(&task, error, &mut out);
                }
            }
            Command::MergeLanded { task } => self.merge_landed(task, &mut out),
            Command::MergeFailed { task, error } => self.merge_failed(task, error, &mut out),
            Command::Pause { execution, step } => self.pause(&execution, step.as_deref(), &mut out),
            Command::Resume { execution, step } => {
                self.resume(&execution, step.as_deref(), &mut out)
            }
            Command::Cancel { execution, step } => {
                self.cancel(&execution, step.as_deref(), &mut out)
            }
            Command::Retry { task } => self.retry(&task, &mut out),
            Command::FollowUp { task } => self.follow_up(&task, &mut out),
            Command::Approve { task } => self.approve(&task, &mut out),
            Command::Reject { task, note } => self.reject(&task, note, &mut out),
            Command::ResolutionToReview { task } => self.resolution_to_review(&task, &mut out),
            Command::StopAll => self.stop_all(&mut out),
            Command::Tick { now_ms } => {
                self.now_ms = self.now_ms.max(now_ms);
                self.check_stalls(&mut out);
            }
            Command::Spent { task, session } => self.spent(task, session, &mut out),
            Command::SpentEarlier { task, spent } => self.spent_earlier(task, spent),
            Command::RaiseBudget { scope, measure, to } => self.budget.raise(scope, measure, to),
            Command::AgentLimited {
                agent,
                task,
                reason,
            } => self.limited(agent, task, reason, &mut out),
            Command::AgentFree { agent } => {
                self.held.remove(&agent);
            }
        }
        self.schedule(&mut out);
        out
    }

    // ----- transitions

    fn set(
        &mut self,
        task: &str,
        status: TaskStatus,
        reason: Option<Cow<'static, str>>,
        out: &mut Vec<Event>,
    ) {
        if let Some(slot) = self.graph.slot(task) {
            self.set_at(slot, status, reason, out);
        }
    }

    /// [`Orchestrator::set`] by slot: the status change and its event, if
    /// the status changes.
    fn set_at(
        &mut self,
        slot: u32,
        status: TaskStatus,
        reason: Option<Cow<'static, str>>,
        out: &mut Vec<Event>,
    ) {
        if let Some(from) = self.graph.set_status_at(slot, status)
            && from != status
        {
            out.push(Event::TaskStatus {
                task: self.graph.id_at(slot).to_string(),
                from,
                status,
                reason,
            });
        }
    }

    fn set_execution(&mut self, execution: &str, status: ExecutionStatus, out: &mut Vec<Event>) {
        if let Some(e) = self.graph.executions.get_mut(execution)
            && e.status != status
        {
            e.status = status;
            out.push(Event::ExecutionStatus {
                execution: execution.to_string(),
                status,
            });
        }
    }

    /// New work in an execution runs it again if it had finished
    /// ([`rules::new_work_reopens`]).
    fn reopen(&mut self, execution: &str, out: &mut Vec<Event>) {
        if self
            .graph
            .execution_status(execution)
            .is_some_and(rules::new_work_reopens)
        {
            self.set_execution(execution, ExecutionStatus::Running, out);
        }
    }

    fn refresh_execution(&mut self, execution: &str, out: &mut Vec<Event>) {
        if let Some(settled) = self.graph.settled_execution_status(execution) {
            self.set_execution(execution, settled, out);
        }
    }

    fn refresh_execution_of(&mut self, task: &str, out: &mut Vec<Event>) {
        if let Some(slot) = self.graph.slot(task) {
            self.refresh_execution_at(slot, out);
        }
    }

    /// [`Orchestrator::refresh_execution_of`] by slot.
    fn refresh_execution_at(&mut self, slot: u32, out: &mut Vec<Event>) {
        if let Some(execution) = self.graph.execution_at(slot) {
            self.refresh_execution(&execution, out);
        }
    }

    fn load(&mut self, snapshot: ExecutionSnapshot, out: &mut Vec<Event>) {
        let execution = snapshot.id.clone();
        let mut snapshot = snapshot;
        let mut interrupted = Vec::new();
        for node in &mut snapshot.nodes {
            if self.running.contains_key(&node.id) {
                // Only this coordinator knows its workers are alive.
                node.status = TaskStatus::Running;
            } else if node.status == TaskStatus::Running {
                node.status = TaskStatus::Ready;
                interrupted.push(node.id.clone());
            }
        }
        let slots = self.graph.load(snapshot);
        self.recount_spent(&execution);
        for task in interrupted {
            out.push(Event::Interrupted { task: task.clone() });
            out.push(Event::TaskStatus {
                task,
                from: TaskStatus::Running,
                status: TaskStatus::Ready,
                reason: Some("interrupted: the previous coordinator stopped while it ran".into()),
            });
        }
        // New steps reopen a finished execution.
        let has_waiting = slots.iter().any(|slot| {
            matches!(
                self.graph.status_at(*slot),
                Some(TaskStatus::Pending | TaskStatus::Ready)
            )
        });
        if has_waiting {
            self.reopen(&execution, out);
        }
        self.settle_slots(&slots, out);
        self.refresh_execution(&execution, out);
    }

    fn worker_failed(&mut self, task: &str, error: String, out: &mut Vec<Event>) {
        let retries = self.settings.retries;
        let Some(node) = self.graph.node_mut(task) else {
            return;
        };
        node.failures = node.failures.saturating_add(1);
        let failures = node.failures;
        let will_retry = failures <= retries;
        if will_retry {
            let reason = format!("attempt {failures} failed: {error}; retrying");
            self.set(task, TaskStatus::Ready, Some(reason.into()), out);
        } else {
            self.set(task, TaskStatus::Failed, Some(error.clone().into()), out);
        }
        out.push(Event::TaskFailed {
            task: task.to_string(),
            error,
            will_retry,
        });
        self.settle(&[task], out);
        self.refresh_execution_of(task, out);
    }

    fn stop(&mut self, task: &str, cause: StopCause, out: &mut Vec<Event>) {
        self.stop_with(task, cause, None, out);
    }

    fn stop_with(
        &mut self,
        task: &str,
        cause: StopCause,
        error: Option<String>,
        out: &mut Vec<Event>,
    ) {
        if let Some(run) = self.running.remove(task) {
            out.push(Event::StopWorker {
                task: task.to_string(),
                cause,
                error,
                said: run.liveness.last_words(),
            });
        }
    }

    fn pause(&mut self, execution: &str, step: Option<&str>, out: &mut Vec<Event>) {
        match step {
            None => {
                if self.graph.execution_status(execution) == Some(ExecutionStatus::Running) {
                    self.set_execution(execution, ExecutionStatus::Paused, out);
                }
            }
            Some(step) => {
                let Some(task) = self.graph.step_task(execution, step).map(str::to_string) else {
                    return;
                };
                if self.graph.status(&task).is_some_and(rules::step_may_pause) {
                    self.stop(&task, StopCause::Paused, out);
                    self.set(&task, TaskStatus::Paused, Some("paused".into()), out);
                    // A paused worker no longer satisfies `started` edges.
                    self.settle(&[task], out);
                }
            }
        }
    }

    fn resume(&mut self, execution: &str, step: Option<&str>, out: &mut Vec<Event>) {
        let tasks: Vec<String> = match step {
            None => {
                if self.graph.execution_status(execution) == Some(ExecutionStatus::Paused) {
                    self.set_execution(execution, ExecutionStatus::Running, out);
                }
                self.graph.steps(execution).map(str::to_string).collect()
            }
            Some(step) => self
                .graph
                .step_task(execution, step)
                .map(|t| vec![t.to_string()])
                .unwrap_or_default(),
        };
        let mut resumed = Vec::new();
        for task in tasks {
            if self.graph.status(&task) == Some(TaskStatus::Paused) {
                self.set(&task, TaskStatus::Pending, Some("resumed".into()), out);
                resumed.push(task);
            }
        }
        self.settle(&resumed, out);
    }

    fn cancel(&mut self, execution: &str, step: Option<&str>, out: &mut Vec<Event>) {
        let roots: Vec<String> = match step {
            None => self.graph.steps(execution).map(str::to_string).collect(),
            Some(step) => self
                .graph
                .step_task(execution, step)
                .map(|t| vec![t.to_string()])
                .unwrap_or_default(),
        };
        let targets = self.graph.cancel_reach(&roots);
        let mut executions = BTreeSet::new();
        for task in &targets {
            self.stop(task, StopCause::Cancelled, out);
            self.set(task, TaskStatus::Cancelled, Some("cancelled".into()), out);
            if let Some(e) = self.graph.execution_of(task) {
                executions.insert(e.to_string());
            }
        }
        if step.is_none() {
            self.set_execution(execution, ExecutionStatus::Cancelled, out);
        }
        for e in executions {
            self.refresh_execution(&e, out);
        }
    }

    fn stop_all(&mut self, out: &mut Vec<Event>) {
        let stopped = self.running();
        for task in &stopped {
            self.stop(task, StopCause::StopAll, out);
            self.set(
                task,
                TaskStatus::Paused,
                Some("stopped by stop_all".into()),
                out,
            );
        }
        // Paused workers no longer satisfy `started` edges.
        self.settle(&stopped, out);
        let running: Vec<String> = self
            .graph
            .executions
            .iter()
            .filter(|(_, e)| e.status == ExecutionStatus::Running)
            .map(|(id, _)| id.clone())
            .collect();
        for execution in running {
            self.set_execution(&execution, ExecutionStatus::Paused, out);
        }
    }

    fn bounds(&self) -> Bounds {
        Bounds {
            stall_ms: self.settings.stall_timeout_ms,
            retry_ms: self.settings.api_retry_limit_ms,
        }
    }

    /// Judges one running worker now: reports a changed state, and stops
    /// it (a failed attempt) when it stalled or kept retrying too long.
    fn judge(&mut self, task: &str, out: &mut Vec<Event>) {
        let bounds = self.bounds();
        let now = self.now_ms;
        let Some(run) = self.running.get_mut(task) else {
            return;
        };
        let judged = run.liveness.judge(now, bounds);
        if let Some(give_up) = judged.give_up {
            let (cause, error) = match give_up {
                GiveUp::Stalled(why) => (StopCause::Stalled, why),
                GiveUp::Unreachable(why) => (StopCause::Unreachable, why),
            };
            self.stop_with(task, cause, Some(error.clone()), out);
            self.worker_failed(task, error, out);
            return;
        }
        let shown = (judged.state, judged.reason);
        if run.shown != shown {
            run.shown = shown.clone();
            out.push(Event::AgentState {
                task: task.to_string(),
                state: shown.0,
                reason: shown.1,
            });
        }
    }

    fn check_stalls(&mut self, out: &mut Vec<Event>) {
        for task in self.running() {
            self.judge(&task, out);
        }
    }

    /// Starts what the limits allow. Starting a task can satisfy `started`
    /// edges, so this repeats until nothing more can start.
    fn schedule(&mut self, out: &mut Vec<Event>) {
        loop {
            // Every event comes here: when all slots are taken, that is all.
            if self.running.len() >= self.settings.limits.max_workers {
                return;
            }
            let mut per_tier = scheduler::TierCounts::default();
            for run in self.running.values() {
                per_tier.add(run.tier);
            }
            let mut picked = std::mem::take(&mut self.picked);
            scheduler::pick(
                &self.graph,
                &self.settings.limits,
                per_tier,
                &self.held,
                &mut picked,
            );
            if picked.is_empty() {
                self.picked = picked;
                return;
            }
            // The picks that start, kept in place.
            let mut started = 0;
            for index in 0..picked.len() {
                let slot = picked[index];
                let Some(node) = self.graph.node_at(slot) else {
                    continue;
                };
                let (tier, attempt) = (node.tier, node.failures + 1);
                let execution = self.graph.execution_id(node.execution);
                let task = self.graph.id_at(slot).to_string();
                // A budget's refusal pauses the execution: its other picks wait too.
                if self.graph.execution_status(execution) != Some(ExecutionStatus::Running)
                    || !self.may_start(&task, out)
                {
                    continue;
                }
                picked[started] = slot;
                started += 1;
                self.set_at(slot, TaskStatus::Running, None, out);
                out.push(Event::StartWorker {
                    task: task.clone(),
                    attempt,
                });
                self.running.insert(
                    task,
                    Running {
                        slot,
                        tier,
                        liveness: Liveness::new(self.now_ms),
                        shown: (AgentState::Idle, Some("starting".into())),
                    },
                );
            }
            picked.truncate(started);
            self.settle_slots(&picked, out);
            self.picked = picked;
        }
    }
}
