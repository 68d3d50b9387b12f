//! What the coordinator tells its front end (headless lines, JSON, TUI).

use serde::Serialize;

use crate::transcript::TranscriptEntry;

/// How a run ended, for a script as much as for a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Every task is done (or was cancelled on purpose).
    Done,
    /// Work ran but not all of it finished: a task failed or was blocked,
    /// tasks were left unfinished, the planner failed or the run was stopped.
    Failed,
    /// No task existed to run: nothing was planned, or nothing could start.
    NothingRan,
    /// A budget (`[budget]`) is spent: the work it covered is paused,
    /// kept, and waits for the budget to be raised.
    BudgetSpent,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Progress {
    SessionStarted {
        session: String,
        agent: String,
        base_branch: String,
    },
    /// Unfinished executions of an earlier coordinator were taken over.
    Adopted {
        executions: Vec<String>,
    },
    ExecutionLoaded {
        execution: String,
        title: String,
        steps: usize,
    },
    TaskStatus {
        task: String,
        step: String,
        title: String,
        status: enki_core::TaskStatus,
        reason: Option<String>,
    },
    WorkerStarted {
        task: String,
        step: String,
        title: String,
        attempt: i64,
    },
    WorkerActivity {
        task: String,
        text: String,
    },
    /// What a running worker's agent is doing changed (`enki_core::liveness`).
    AgentState {
        task: String,
        state: enki_core::AgentState,
        reason: Option<String>,
    },
    /// One entry of a worker's live transcript (its `kind` flattened in).
    WorkerTranscript {
        task: String,
        #[serde(flatten)]
        entry: TranscriptEntry,
    },
    WorkerFailed {
        task: String,
        error: String,
        will_retry: bool,
    },
    MergeQueued {
        task: String,
    },
    /// The task's work (`resolution`: its merger's resolution of a
    /// conflict) waits for the person's review before it lands: `enki
    /// review`, then `enki approve`, `enki reject` or `enki followup`.
    AwaitingReview {
        task: String,
        step: String,
        title: String,
        resolution: bool,
    },
    /// A person approved the task's work; it goes to the merge queue.
    Approved {
        task: String,
    },
    MergeLanded {
        task: String,
        commit: Option<String>,
    },
    /// A merge request is being resolved by a merger or verified.
    MergeStatus {
        task: String,
        status: String,
        reason: String,
    },
    /// A merger agent starts resolving the task's conflicted files (its
    /// `run`-th run for the task); its activity and transcript follow.
    MergerStarted {
        task: String,
        step: String,
        title: String,
        run: i64,
        files: Vec<String>,
    },
    MergerActivity {
        task: String,
        text: String,
    },
    /// One entry of a merger's live transcript (kinds as a worker's).
    MergerTranscript {
        task: String,
        #[serde(flatten)]
        entry: TranscriptEntry,
    },
    MergeWaiting {
        task: String,
        reason: String,
    },
    MergeFailed {
        task: String,
        error: String,
    },
    ExecutionStatus {
        execution: String,
        title: String,
        status: enki_core::ExecutionStatus,
    },
    Checkpoint {
        execution: String,
        task: String,
    },
    /// Text the planner streamed.
    PlannerText {
        text: String,
    },
    /// The planner's current message ended; its next text is a new one.
    PlannerMessageEnd,
    /// A tool call of the planner.
    PlannerTool {
        title: String,
    },
    /// The planner's turn ended.
    PlannerIdle,
    Mail {
        from: String,
        to: String,
        subject: String,
    },
    Warning {
        message: String,
    },
    /// What a run (`run`: worker, merger or planner; `task` `None` for the
    /// planner) has used so far changed (`usage`, priced with `[prices]`
    /// where it reports no cost); `session` is everything this coordinator
    /// session's runs used, the planner's included.
    Usage {
        task: Option<String>,
        run: String,
        usage: Box<enki_core::usage::Totals>,
        session: Box<enki_core::usage::Totals>,
    },
    /// A budget is spent (or too little is left of it to start a task):
    /// `execution` is paused, its workers under that budget stopped with
    /// their work kept; `standing` says which budget and by how much, so a
    /// person can raise it (`raise_to` is a suggestion: doubled).
    BudgetSpent {
        execution: String,
        title: String,
        reason: String,
        standing: enki_core::budget::Standing,
        raise_to: f64,
    },
    /// An agent's account met a limit (a rate limit, an overloaded API, a
    /// quota): no task of it starts before `hold.until_ms` (Unix ms; the
    /// agent's reset time, or a backoff when it gave none). `met_by` says
    /// who met it and what waits: a worker's task (back to ready, the
    /// attempt not counted), a merger's merge, the planner's turn, or
    /// nothing (a hold an earlier coordinator recorded).
    /// `Hold::announce` words it for both front ends.
    AgentHeld {
        hold: enki_core::limits::Hold,
        met_by: enki_core::limits::MetBy,
    },
    /// The agent's wait is over: its tasks start again.
    AgentFree {
        agent: String,
    },
    /// The run is over: how its tasks ended, the outcome (`enki run`'s
    /// exit status follows it) and, unless every task is done, why.
    Finished {
        done: usize,
        failed: usize,
        cancelled: usize,
        other: usize,
        outcome: Outcome,
        reason: Option<String>,
    },
}

/// Everything the front ends are told also goes to enki's log, under
/// [`enki_log::PROGRESS_TARGET`] (so that a warning is not shown twice):
/// warnings as warnings, the running commentary of agents at debug level,
/// the rest at info level, as the JSON `enki run --json` prints.
pub(crate) fn log(progress: &Progress) {
    use enki_log::PROGRESS_TARGET;
    let json = || serde_json::to_string(progress).unwrap_or_default();
    match progress {
        Progress::Warning { message } => tracing::warn!(target: PROGRESS_TARGET, "{message}"),
        Progress::PlannerText { .. }
        | Progress::PlannerMessageEnd
        | Progress::WorkerTranscript { .. }
        | Progress::WorkerActivity { .. }
        | Progress::MergerTranscript { .. }
        | Progress::MergerActivity { .. }
        | Progress::Usage { .. } => tracing::debug!(target: PROGRESS_TARGET, "{}", json()),
        _ => tracing::info!(target: PROGRESS_TARGET, "{}", json()),
    }
}
