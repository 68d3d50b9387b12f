//! The main loop: turns signal files, worker and merge results, planner
//! turns and timer ticks into orchestrator commands, and carries out the
//! events it answers. Everything durable goes to the store first.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::time::{Duration, Instant};

use enki_core::engine::{Command, Event, Orchestrator, StopCause};
use enki_core::{ExecutionStatus, TaskStatus};
use enki_signals::{SignalKind, SignalWatcher, Wake};
use tokio::sync::{mpsc, watch};

use crate::context::Shared;
use crate::merge::{self, MergeMessage};
use crate::planner::{self, PlannerMessage};
use crate::planner_link::PlannerLink;
use crate::progress::Progress;
use crate::reconcile::{Repair, StoredExecution, repairs};
use crate::snapshot::execution_snapshot;
use crate::worker::{WorkerMessage, run_worker};

const TICK: Duration = Duration::from_millis(250);
/// How often the store is compared with the graph, to repair what a lost
/// signal would have done (the same cadence as the signal rescan).
const RECONCILE_EVERY: Duration = Duration::from_secs(1);

/// What a front end can ask of a running coordinator.
#[derive(Debug)]
pub enum Control {
    /// Send the planner a message from the user.
    UserMessage(String),
    /// Stop the workers and leave (tasks resume on the next start).
    Shutdown,
}

#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// The user's first request for the planner; no planner runs without one.
    pub request: Option<String>,
    /// Return once nothing can move any more (headless runs).
    pub exit_when_idle: bool,
}

/// How the run ended, by task status over the executions it handled.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunSummary {
    pub done: usize,
    pub failed: usize,
    pub cancelled: usize,
    /// Tasks that did not finish (paused, blocked, pending).
    pub unfinished: usize,
    pub interrupted: bool,
    /// The planner could not start or died before its work was done.
    pub planner_failed: bool,
}

impl RunSummary {
    pub fn success(&self) -> bool {
        self.failed == 0 && self.unfinished == 0 && !self.interrupted && !self.planner_failed
    }
}

struct Runtime {
    ctx: Shared,
    orch: Orchestrator,
    started: Instant,
    progress: mpsc::UnboundedSender<Progress>,
    workers: HashMap<String, watch::Sender<bool>>,
    worker_tx: mpsc::UnboundedSender<WorkerMessage>,
    merge_nudge: mpsc::UnboundedSender<()>,
    merges_pending: BTreeSet<String>,
    planner: PlannerLink,
    titles: HashMap<String, (String, String)>,
    /// The store's `data_version` at the last reconciliation.
    store_version: Option<i64>,
    /// When the store was last compared with the graph.
    reconciled_at: Instant,
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
    };
    let (worker_tx, mut worker_rx) = mpsc::unbounded_channel();
    let (merge_nudge, nudges) = mpsc::unbounded_channel();
    let (merge_tx, mut merge_rx) = mpsc::unbounded_channel();
    let (planner_tx, mut planner_rx) = mpsc::unbounded_channel();
    let merge_task = tokio::spawn(merge::run_queue(ctx.clone(), nudges, merge_tx));

    let mut rt = Runtime {
        ctx: ctx.clone(),
        orch: Orchestrator::new(settings),
        started: Instant::now(),
        progress,
        workers: HashMap::new(),
        worker_tx,
        merge_nudge,
        merges_pending: BTreeSet::new(),
        planner: PlannerLink::new(planner_tx),
        titles: HashMap::new(),
        store_version: None,
        reconciled_at: Instant::now(),
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
        rt.prompt_planner(request.clone());
    }

    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut interrupted = false;
    loop {
        tokio::select! {
            Some(_) = wake_rx.recv() => rt.apply_signals().await,
            Some(message) = worker_rx.recv() => rt.on_worker(message).await,
            Some(message) = merge_rx.recv() => rt.on_merge(message).await,
            Some(message) = planner_rx.recv() => rt.on_planner(message),
            _ = tick.tick() => {
                let now = rt.now_ms();
                rt.command(Command::Tick { now_ms: now }).await;
                if rt.reconciled_at.elapsed() >= RECONCILE_EVERY {
                    rt.reconcile().await;
                }
                rt.planner.deliver_notes();
            }
            message = control.recv() => match message {
                Some(Control::UserMessage(text)) => rt.prompt_planner(text),
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
    let session = ctx.session_id.clone();
    if let Err(e) = ctx.db.call(move |s| s.end_session(&session)).await {
        tracing::warn!("cannot record the end of the session: {e}");
    }
    let summary = rt.summary(interrupted).await;
    rt.emit(Progress::Finished {
        done: summary.done,
        failed: summary.failed,
        cancelled: summary.cancelled,
        other: summary.unfinished,
    });
    Ok(summary)
}

impl Runtime {
    fn emit(&self, progress: Progress) {
        crate::progress::log(&progress);
        let _ = self.progress.send(progress);
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Nothing can move any more: no worker, merge or planner turn is under
    /// way, and nothing waits on a pause that someone may lift.
    fn is_idle(&self) -> bool {
        self.orch.is_idle()
            && !self.orch.has_paused_work()
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
            .flat_map(|e| self.orch.graph().steps(e).to_vec())
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
            let lookup = id.clone();
            let loaded = self
                .ctx
                .db
                .call(move |s| {
                    let snapshot = execution_snapshot(s, &lookup)?;
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
            self.command(Command::Load(snapshot)).await;
        }
    }

    async fn command(&mut self, command: Command) {
        let events = self.orch.handle(command);
        for event in events {
            self.carry_out(event).await;
        }
    }

    async fn carry_out(&mut self, event: Event) {
        let db = self.ctx.db.clone();
        match event {
            Event::TaskStatus {
                task,
                status,
                reason,
            } => {
                let (t, r) = (task.clone(), reason.clone());
                if let Err(e) = db
                    .call(move |s| s.record_status(&t, status, r.as_deref()))
                    .await
                {
                    self.emit(Progress::Warning {
                        message: format!("cannot record the status of {task}: {e}"),
                    });
                }
                // Running is reported by WorkerStarted.
                if status != TaskStatus::Running {
                    let (step, title) = self.label(&task);
                    self.emit(Progress::TaskStatus {
                        task,
                        step,
                        title,
                        status: status.to_string(),
                        reason,
                    });
                }
            }
            Event::ExecutionStatus { execution, status } => {
                let e = execution.clone();
                let _ = db
                    .call(move |s| s.record_execution_status(&e, status))
                    .await;
                let e = execution.clone();
                let title = db
                    .call(move |s| Ok(s.execution(&e)?.map(|x| x.title).unwrap_or_default()))
                    .await
                    .unwrap_or_default();
                if status.is_terminal() {
                    self.planner
                        .note(format!("execution {execution} ({title}) is {status}"));
                }
                self.emit(Progress::ExecutionStatus {
                    execution,
                    title,
                    status: status.to_string(),
                });
            }
            Event::StartWorker { task, .. } => {
                let t = task.clone();
                let attempt = match db.call(move |s| s.start_attempt(&t)).await {
                    Ok(n) => n,
                    Err(e) => {
                        self.emit(Progress::Warning {
                            message: format!("cannot start {task}: {e}"),
                        });
                        // Let the orchestrator count it as a failed attempt.
                        let _ = self.worker_tx.send(WorkerMessage::Failed {
                            task,
                            error: e.to_string(),
                        });
                        return;
                    }
                };
                let (cancel_tx, cancel_rx) = watch::channel(false);
                self.workers.insert(task.clone(), cancel_tx);
                tokio::spawn(run_worker(
                    self.ctx.clone(),
                    task.clone(),
                    attempt,
                    cancel_rx,
                    self.worker_tx.clone(),
                ));
                let (step, title) = self.label(&task);
                self.emit(Progress::WorkerStarted {
                    task,
                    step,
                    title,
                    attempt,
                });
            }
            Event::StopWorker { task, cause } => {
                if let Some(cancel) = self.workers.remove(&task) {
                    let _ = cancel.send(true);
                }
                // A stall counts as a failed attempt (the orchestrator
                // retries it within budget), so it is recorded as one.
                let (outcome, error) = match cause {
                    StopCause::Cancelled => ("cancelled", None),
                    StopCause::Paused => ("paused", None),
                    StopCause::StopAll => ("stopped", None),
                    StopCause::Stalled => (
                        "failed",
                        Some(format!(
                            "stalled: no activity for {} s; the worker was stopped",
                            self.ctx.config.workers.stall_timeout_secs
                        )),
                    ),
                };
                let t = task.clone();
                let _ = db
                    .call(move |s| s.end_attempt(&t, outcome, error.as_deref()))
                    .await;
            }
            Event::QueueMerge { task } => self.queue_merge(&task).await,
            Event::CheckpointReached { execution, task } => {
                let (step, title) = self.label(&task);
                if !self.planner.is_running() {
                    self.emit(Progress::Warning {
                        message: format!("execution {execution} is paused at a checkpoint; continue it with `enki resume {execution}`"),
                    });
                }
                self.planner.note(format!(
                    "checkpoint: step `{step}` ({title}, {task}) of execution {execution} completed; the execution is paused. Review it, add steps with enki_execution_add_steps if needed, then enki_resume."
                ));
                self.emit(Progress::Checkpoint { execution, task });
            }
            Event::TaskFinished { task } => {
                let (step, title) = self.label(&task);
                let t = task.clone();
                let output = db
                    .call(move |s| Ok(s.task(&t)?.and_then(|x| x.output)))
                    .await
                    .ok()
                    .flatten()
                    .unwrap_or_default();
                self.planner.note(format!(
                    "finished: step `{step}` ({title}, {task}). Output: {output}"
                ));
            }
            Event::TaskFailed {
                task,
                error,
                will_retry,
            } => {
                if !will_retry {
                    let (step, title) = self.label(&task);
                    self.planner.note(format!(
                        "failed: step `{step}` ({title}, {task}): {error}. Its dependents are blocked; use enki_task_retry to try again."
                    ));
                }
                self.emit(Progress::WorkerFailed {
                    task,
                    error,
                    will_retry,
                });
            }
            Event::Interrupted { task } => {
                let t = task.clone();
                let leftover = db
                    .call(move |s| {
                        let copy = s.task(&t)?.and_then(|x| x.copy_path);
                        Ok(s.last_attempt_agent(&t)?.zip(copy))
                    })
                    .await
                    .ok()
                    .flatten();
                if let Some((pgid, copy)) = leftover {
                    let stopped = crate::leftovers::stop_leftover_group(pgid, Path::new(&copy));
                    if stopped > 0 {
                        self.emit(Progress::Warning {
                            message: format!("stopped {stopped} process(es) that the interrupted attempt at {task} left running in its copy"),
                        });
                    }
                }
                let t = task.clone();
                let _ = db
                    .call(move |s| {
                        s.end_attempt(
                            &t,
                            "interrupted",
                            Some("the coordinator stopped while the worker ran"),
                        )
                    })
                    .await;
                self.emit(Progress::Warning {
                    message: format!("task {task} was interrupted by a coordinator restart; it will run again in its kept copy"),
                });
            }
        }
    }

    async fn queue_merge(&mut self, task: &str) {
        match merge::enqueue(&self.ctx, task).await {
            Ok(_) => {
                self.merges_pending.insert(task.to_string());
                let _ = self.merge_nudge.send(());
                self.emit(Progress::MergeQueued {
                    task: task.to_string(),
                });
            }
            Err(e) => self.emit(Progress::Warning {
                message: format!("cannot queue the merge of {task}: {e}"),
            }),
        }
    }

    async fn on_worker(&mut self, message: WorkerMessage) {
        let db = self.ctx.db.clone();
        match message {
            WorkerMessage::Activity { task, text } => {
                let now = self.now_ms();
                self.command(Command::WorkerActivity {
                    task: task.clone(),
                    at_ms: now,
                })
                .await;
                if let Some(text) = text {
                    self.emit(Progress::WorkerActivity { task, text });
                }
            }
            WorkerMessage::Transcript { task, kind, text } => {
                self.emit(Progress::WorkerTranscript { task, kind, text });
            }
            WorkerMessage::Finished { task, result } => {
                if self.workers.remove(&task).is_none() {
                    return;
                }
                let t = task.clone();
                let _ = db.call(move |s| s.end_attempt(&t, "succeeded", None)).await;
                self.command(Command::WorkerFinished { task, result }).await;
            }
            WorkerMessage::Failed { task, error } => {
                let was_running = self.workers.remove(&task).is_some();
                let (t, e) = (task.clone(), error.clone());
                let _ = db
                    .call(move |s| s.end_attempt(&t, "failed", Some(&e)))
                    .await;
                if was_running || self.orch.is_running(&task) {
                    self.command(Command::WorkerFailed { task, error }).await;
                }
            }
        }
    }

    async fn on_merge(&mut self, message: MergeMessage) {
        match message {
            MergeMessage::Landed { task, commit } => {
                self.merges_pending.remove(&task);
                self.emit(Progress::MergeLanded {
                    task: task.clone(),
                    commit,
                });
                self.command(Command::MergeLanded { task }).await;
            }
            MergeMessage::Failed { task, error } => {
                self.merges_pending.remove(&task);
                let (t, e) = (task.clone(), error.clone());
                let _ = self
                    .ctx
                    .db
                    .call(move |s| {
                        s.append_task_event(&t, "merge_failed", &serde_json::json!({"error": e}))
                    })
                    .await;
                self.emit(Progress::MergeFailed {
                    task: task.clone(),
                    error: error.clone(),
                });
                self.command(Command::MergeFailed { task, error }).await;
            }
            MergeMessage::Waiting { task, reason } => {
                self.emit(Progress::MergeWaiting { task, reason })
            }
            MergeMessage::Status {
                task,
                status,
                reason,
            } => self.emit(Progress::MergeStatus {
                task,
                status: status.to_string(),
                reason,
            }),
        }
    }

    fn on_planner(&mut self, message: PlannerMessage) {
        self.planner.observe(&message);
        match message {
            PlannerMessage::Ready => {}
            PlannerMessage::Text(text) => self.emit(Progress::PlannerText { text }),
            PlannerMessage::Tool(title) => self.emit(Progress::PlannerTool { title }),
            PlannerMessage::TurnEnded(result) => {
                if let Err(e) = result {
                    self.emit(Progress::Warning {
                        message: format!("the planner's turn failed: {e}"),
                    });
                }
                self.emit(Progress::PlannerIdle);
            }
            PlannerMessage::Gone(reason) => self.emit(Progress::Warning { message: reason }),
        }
    }

    /// Sends the planner a prompt, starting the planner on the first one
    /// (with its standing instructions in front of the user's words).
    fn prompt_planner(&mut self, text: String) {
        let text = if self.planner.needs_start() {
            format!(
                "{}\n\n# The user's request\n\n{text}",
                planner::system_prompt(&self.ctx)
            )
        } else {
            text
        };
        let ctx = self.ctx.clone();
        let sent = self.planner.prompt(text, |prompts, events| {
            tokio::spawn(planner::run_planner(ctx, prompts, events))
        });
        if let Err(message) = sent {
            self.emit(Progress::Warning { message });
        }
    }

    /// Applies every waiting signal file in order, then deletes it.
    async fn apply_signals(&mut self) {
        let dir = self.ctx.layout.events();
        let scan = match tokio::task::spawn_blocking(move || enki_signals::scan(&dir)).await {
            Ok(Ok(scan)) => scan,
            Ok(Err(e)) => {
                self.emit(Progress::Warning {
                    message: format!("cannot read signal files: {e}"),
                });
                return;
            }
            Err(_) => return,
        };
        for rejected in scan.rejected {
            self.emit(Progress::Warning {
                message: format!(
                    "rejected signal file {}: {} (moved to {})",
                    rejected.original.display(),
                    rejected.reason,
                    rejected.moved_to.display()
                ),
            });
        }
        for pending in scan.ready {
            self.apply(pending.signal.kind.clone()).await;
            if let Err(e) = enki_signals::acknowledge(&pending) {
                tracing::warn!(
                    "cannot delete applied signal {}: {e}",
                    pending.path.display()
                );
            }
        }
    }

    /// Repairs what lost signals left undone: when someone else wrote to
    /// the store since the last look, compares it with the graph and applies
    /// the commands the signals would have caused (see `reconcile`).
    async fn reconcile(&mut self) {
        self.reconciled_at = Instant::now();
        let seen = self.store_version;
        // A cancelled execution never changes again (the store refuses to
        // retry, cancel or grow it), so it is not read back. Done and failed
        // ones are: new steps and retries reopen them.
        let graph = self.orch.graph();
        let loaded: Vec<String> = graph
            .executions_ids()
            .into_iter()
            .filter(|e| graph.execution_status(e) != Some(ExecutionStatus::Cancelled))
            .collect();
        let read = self
            .ctx
            .db
            .call(move |s| {
                let version = s.data_version()?;
                if Some(version) == seen {
                    return Ok((version, None));
                }
                let mut ids: BTreeSet<String> = loaded.into_iter().collect();
                ids.extend(s.unfinished_executions()?.into_iter().map(|e| e.id));
                let mut stored = Vec::with_capacity(ids.len());
                for id in ids {
                    let Some(execution) = s.execution(&id)? else {
                        continue;
                    };
                    let tasks = s.tasks(&enki_store::TaskFilter {
                        execution_id: Some(id),
                        ..Default::default()
                    })?;
                    stored.push(StoredExecution { execution, tasks });
                }
                Ok((version, Some(stored)))
            })
            .await;
        let stored = match read {
            Ok((version, stored)) => {
                self.store_version = Some(version);
                match stored {
                    Some(stored) => stored,
                    None => return,
                }
            }
            Err(e) => {
                tracing::warn!("cannot compare the store with the graph: {e}");
                return;
            }
        };
        for repair in repairs(self.orch.graph(), &stored) {
            tracing::info!(?repair, "repairing what a lost signal left undone");
            match repair {
                Repair::Load(execution) => self.load_execution(&execution).await,
                Repair::Command(command) => self.command(command).await,
            }
        }
    }

    async fn execution_of_task(&self, task: &str) -> Option<String> {
        if let Some(e) = self.orch.graph().execution_of(task) {
            return Some(e.to_string());
        }
        let t = task.to_string();
        self.ctx
            .db
            .call(move |s| s.task(&t))
            .await
            .ok()
            .flatten()
            .map(|t| t.execution_id)
    }

    async fn ensure_loaded(&mut self, execution: &str) {
        if self.orch.graph().execution_status(execution).is_none() {
            self.load_execution(execution).await;
        }
    }

    async fn apply(&mut self, kind: SignalKind) {
        match kind {
            SignalKind::TaskCreated { task_id } => {
                if let Some(execution) = self.execution_of_task(&task_id).await {
                    self.load_execution(&execution).await;
                }
            }
            SignalKind::ExecutionCreated { execution_id }
            | SignalKind::StepsAdded { execution_id, .. } => {
                self.load_execution(&execution_id).await;
            }
            SignalKind::RetryTask { task_id } => {
                if let Some(execution) = self.execution_of_task(&task_id).await {
                    self.ensure_loaded(&execution).await;
                }
                self.command(Command::Retry { task: task_id }).await;
            }
            SignalKind::Pause {
                execution_id,
                step_id,
            } => {
                self.ensure_loaded(&execution_id).await;
                self.command(Command::Pause {
                    execution: execution_id,
                    step: step_id,
                })
                .await;
            }
            SignalKind::Resume {
                execution_id,
                step_id,
            } => {
                self.ensure_loaded(&execution_id).await;
                self.command(Command::Resume {
                    execution: execution_id,
                    step: step_id,
                })
                .await;
            }
            SignalKind::Cancel {
                execution_id,
                step_id,
            } => {
                self.ensure_loaded(&execution_id).await;
                self.command(Command::Cancel {
                    execution: execution_id,
                    step: step_id,
                })
                .await;
            }
            SignalKind::StopAll => self.command(Command::StopAll).await,
            SignalKind::WorkerReport {
                task_id, status, ..
            } => {
                let now = self.now_ms();
                self.command(Command::WorkerActivity {
                    task: task_id.clone(),
                    at_ms: now,
                })
                .await;
                self.emit(Progress::WorkerActivity {
                    task: task_id,
                    text: status,
                });
            }
            SignalKind::Mail {
                message_id,
                from,
                to,
                subject,
                priority,
            } => {
                if to == "coordinator" {
                    self.planner.note(format!(
                        "mail {message_id} from {from} ({priority}): {subject}. Read it with enki_mail_read."
                    ));
                }
                self.emit(Progress::Mail { from, to, subject });
            }
        }
    }

    async fn summary(&self, interrupted: bool) -> RunSummary {
        let mut summary = RunSummary {
            interrupted,
            planner_failed: self.planner.failed(),
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
        summary
    }
}
