//! Plain row types read back from the store.

use enki_core::landing::LandingPhase;
use enki_core::liveness::shown_state;
use enki_core::{AgentState, Condition, ExecutionStatus, MergeStatus, TaskStatus, Tier};
use rusqlite::Row;
use serde::Serialize;

/// Reads a text column holding one of the core's string enums; a value the
/// core does not know surfaces as a conversion error naming the column.
pub(crate) fn get_enum<T>(row: &Row<'_>, index: usize) -> rusqlite::Result<T>
where
    T: std::str::FromStr,
    T::Err: std::error::Error + Send + Sync + 'static,
{
    let text: String = row.get(index)?;
    text.parse().map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(index, rusqlite::types::Type::Text, Box::new(e))
    })
}

/// [`get_enum`] for a column that may be NULL.
pub(crate) fn get_optional_enum<T>(row: &Row<'_>, index: usize) -> rusqlite::Result<Option<T>>
where
    T: std::str::FromStr,
    T::Err: std::error::Error + Send + Sync + 'static,
{
    match row.get::<_, Option<String>>(index)? {
        None => Ok(None),
        Some(_) => get_enum(row, index).map(Some),
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExecutionRow {
    pub id: String,
    pub session_id: Option<String>,
    pub title: String,
    pub status: ExecutionStatus,
    pub standalone: bool,
    pub created_at: String,
    pub updated_at: String,
    /// Why enki paused it (a spent budget), while it is paused for that.
    pub paused_reason: Option<String>,
}

impl ExecutionRow {
    pub(crate) const COLUMNS: &'static str =
        "id, session_id, title, status, standalone, created_at, updated_at, paused_reason";

    pub(crate) fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(ExecutionRow {
            id: row.get(0)?,
            session_id: row.get(1)?,
            title: row.get(2)?,
            status: get_enum(row, 3)?,
            standalone: row.get(4)?,
            created_at: row.get(5)?,
            updated_at: row.get(6)?,
            paused_reason: row.get(7)?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaskRow {
    pub id: String,
    pub session_id: Option<String>,
    pub execution_id: String,
    pub step_id: String,
    pub step_index: i64,
    pub title: String,
    pub description: String,
    pub tier: Tier,
    pub role: Option<String>,
    pub checkpoint: bool,
    pub status: TaskStatus,
    pub attempts: i64,
    pub failures: i64,
    pub last_error: Option<String>,
    pub activity: Option<String>,
    pub activity_at: Option<String>,
    pub output: Option<String>,
    pub branch: Option<String>,
    pub copy_path: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    /// What its agent is doing: the running worker's state as the
    /// coordinator last judged it, else what the status says
    /// (`enki_core::liveness::shown_state`).
    pub agent_state: AgentState,
    pub agent_state_reason: Option<String>,
    /// Since when it has been in that state.
    pub agent_state_since: Option<String>,
    /// Its round: 1 for its first run, one more for each follow-up
    /// (`enki followup`).
    pub round: i64,
    /// The request of the current follow-up round (`None` in round 1).
    pub followup: Option<String>,
}

impl TaskRow {
    pub(crate) const COLUMNS: &'static str = "id, session_id, execution_id, step_id, step_index, \
        title, description, tier, role, checkpoint, status, attempts, failures, last_error, \
        activity, activity_at, output, branch, copy_path, created_at, updated_at, started_at, \
        finished_at, agent_state, agent_state_reason, agent_state_at, round, followup";

    pub(crate) fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        let status: TaskStatus = get_enum(row, 10)?;
        let last_error: Option<String> = row.get(13)?;
        let live_state: Option<AgentState> = get_optional_enum(row, 23)?;
        let live_reason: Option<String> = row.get(24)?;
        let live_at: Option<String> = row.get(25)?;
        let (agent_state, agent_state_reason) = shown_state(
            status,
            live_state.map(|state| (state, live_reason.as_deref())),
            last_error.as_deref(),
        );
        let updated_at: String = row.get(20)?;
        let started_at: Option<String> = row.get(21)?;
        let finished_at: Option<String> = row.get(22)?;
        let agent_state_since = match status {
            TaskStatus::Running => live_at.or_else(|| started_at.clone()),
            TaskStatus::Done | TaskStatus::Failed => finished_at.clone(),
            _ => None,
        }
        .or_else(|| Some(updated_at.clone()));
        Ok(TaskRow {
            id: row.get(0)?,
            session_id: row.get(1)?,
            execution_id: row.get(2)?,
            step_id: row.get(3)?,
            step_index: row.get(4)?,
            title: row.get(5)?,
            description: row.get(6)?,
            tier: get_enum(row, 7)?,
            role: row.get(8)?,
            checkpoint: row.get(9)?,
            status,
            attempts: row.get(11)?,
            failures: row.get(12)?,
            last_error,
            activity: row.get(14)?,
            activity_at: row.get(15)?,
            output: row.get(16)?,
            branch: row.get(17)?,
            copy_path: row.get(18)?,
            created_at: row.get(19)?,
            updated_at,
            started_at,
            finished_at,
            agent_state,
            agent_state_reason,
            agent_state_since,
            round: row.get(26)?,
            followup: row.get(27)?,
        })
    }
}

/// One dependency edge seen from the dependent task, with the current state
/// of the task it needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DependencyRow {
    pub task_id: String,
    pub needs_task_id: String,
    pub condition: Condition,
    pub needs_title: String,
    pub needs_status: TaskStatus,
    pub needs_step_id: String,
    pub needs_execution_id: String,
    /// Whether the condition currently holds.
    pub satisfied: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MergeRequestRow {
    pub id: String,
    pub task_id: String,
    pub status: MergeStatus,
    pub branch: String,
    pub base_branch: Option<String>,
    pub reason: Option<String>,
    pub merged_commit: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    /// How far its landing got (`None` before the intent is recorded).
    pub phase: Option<LandingPhase>,
    /// The commit about to land and the base tip it lands on (the intent).
    pub landing_commit: Option<String>,
    pub landing_parent: Option<String>,
    /// The task's round whose work it lands (1, or a follow-up's).
    pub round: i64,
    /// A merger's resolution held for review, and the base tip it was
    /// made on (`awaiting_review`; kept once approved, so that exactly it
    /// lands while the base stays put).
    pub held_commit: Option<String>,
    pub held_base: Option<String>,
}

impl MergeRequestRow {
    pub(crate) const COLUMNS: &'static str = "id, task_id, status, branch, base_branch, reason, merged_commit, created_at, updated_at, \
         phase, landing_commit, landing_parent, round, held_commit, held_base";

    pub(crate) fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(MergeRequestRow {
            id: row.get(0)?,
            task_id: row.get(1)?,
            status: get_enum(row, 2)?,
            branch: row.get(3)?,
            base_branch: row.get(4)?,
            reason: row.get(5)?,
            merged_commit: row.get(6)?,
            created_at: row.get(7)?,
            updated_at: row.get(8)?,
            phase: get_optional_enum(row, 9)?,
            landing_commit: row.get(10)?,
            landing_parent: row.get(11)?,
            round: row.get(12)?,
            held_commit: row.get(13)?,
            held_base: row.get(14)?,
        })
    }
}

/// One worker attempt at a task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttemptRow {
    pub number: i64,
    pub started_at: String,
    pub ended_at: Option<String>,
    /// `succeeded`, `failed`, `stalled`, `interrupted`, `cancelled`,
    /// `paused`, `stopped`; `None` while the attempt runs.
    pub outcome: Option<String>,
    pub error: Option<String>,
    /// What its agent said last (kept when a stopped or failed attempt
    /// ends).
    pub last_message: Option<String>,
    /// The task's round it ran in (1, or a follow-up's).
    pub round: i64,
    /// The ACP session its agent worked in, and that agent's configured
    /// name, when one was opened.
    pub session: Option<String>,
    pub agent: Option<String>,
}

impl AttemptRow {
    pub(crate) const COLUMNS: &'static str =
        "number, started_at, ended_at, outcome, error, last_message, round, acp_session, acp_agent";

    pub(crate) fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(AttemptRow {
            number: row.get(0)?,
            started_at: row.get(1)?,
            ended_at: row.get(2)?,
            outcome: row.get(3)?,
            error: row.get(4)?,
            last_message: row.get(5)?,
            round: row.get(6)?,
            session: row.get(7)?,
            agent: row.get(8)?,
        })
    }
}

/// One run of a merger agent on a task's conflicting merge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MergerRunRow {
    /// 1-based over the task's whole life.
    pub number: i64,
    pub merge_request_id: String,
    /// The conflicted files it was given.
    pub files: Vec<String>,
    pub started_at: String,
    pub ended_at: Option<String>,
    /// `resolved`, `failed` or `interrupted`; `None` while it runs.
    pub outcome: Option<String>,
    pub error: Option<String>,
    /// Its `[OUTPUT]` block: how it resolved the conflict.
    pub output: Option<String>,
}

impl MergerRunRow {
    pub(crate) const COLUMNS: &'static str =
        "number, merge_request_id, files, started_at, ended_at, outcome, error, output";

    pub(crate) fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        let files: String = row.get(2)?;
        Ok(MergerRunRow {
            number: row.get(0)?,
            merge_request_id: row.get(1)?,
            files: serde_json::from_str(&files).unwrap_or_else(|_| vec![files]),
            started_at: row.get(3)?,
            ended_at: row.get(4)?,
            outcome: row.get(5)?,
            error: row.get(6)?,
            output: row.get(7)?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MessageRow {
    pub id: String,
    pub session_id: Option<String>,
    pub thread_id: String,
    pub reply_to: Option<String>,
    pub from: String,
    pub to: String,
    pub subject: String,
    pub body: String,
    pub priority: String,
    pub kind: String,
    pub reply_status: Option<String>,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub read_at: Option<String>,
}

impl MessageRow {
    pub(crate) const COLUMNS: &'static str = "id, session_id, thread_id, reply_to, from_addr, \
        to_addr, subject, body, priority, kind, reply_status, created_at, expires_at, read_at";

    pub(crate) fn from_row(row: &Row<'_>) -> rusqlite::Result<MessageRow> {
        Ok(MessageRow {
            id: row.get(0)?,
            session_id: row.get(1)?,
            thread_id: row.get(2)?,
            reply_to: row.get(3)?,
            from: row.get(4)?,
            to: row.get(5)?,
            subject: row.get(6)?,
            body: row.get(7)?,
            priority: row.get(8)?,
            kind: row.get(9)?,
            reply_status: row.get(10)?,
            created_at: row.get(11)?,
            expires_at: row.get(12)?,
            read_at: row.get(13)?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaskEventRow {
    pub seq: i64,
    pub task_id: String,
    pub at: String,
    pub kind: String,
    pub data: serde_json::Value,
}

/// Task counts by status, plus queue figures, for `enki_status`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StatusCounts {
    pub by_status: std::collections::BTreeMap<String, i64>,
    pub total: i64,
    pub running_workers: i64,
    pub merge_queue: i64,
    pub executions_active: i64,
}
