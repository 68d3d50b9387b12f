//! Tool arguments as typed structs. Each struct is the single definition of
//! a tool's input: its JSON schema is generated from it and incoming
//! arguments are validated by deserializing into it (unknown fields refused).

use enki_core::mail::{MailKind, Priority, ReplyStatus};
pub use enki_core::need::{StepNeed, TaskNeed};
use enki_core::{TaskStatus, Tier};
use schemars::JsonSchema;
use serde::Deserialize;

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoArgs {}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskListArgs {
    /// Only tasks in this status.
    pub status: Option<TaskStatus>,
    /// Only tasks of this execution (id or unique prefix).
    pub execution_id: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskIdArgs {
    /// Task id or a unique prefix of it (e.g. `task-01JX3F`).
    pub task_id: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DagArgs {
    /// Show only this execution (id or unique prefix); all executions when omitted.
    pub execution_id: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskCreateArgs {
    /// Short task title.
    pub title: String,
    /// What to do, with acceptance criteria.
    #[serde(default)]
    pub description: String,
    /// How hard the task is; defaults to the role's tier, else `standard`.
    pub tier: Option<Tier>,
    /// Worker role (e.g. `feature_developer`, `researcher`).
    pub role: Option<String>,
    /// Tasks this one depends on: task ids (condition `merged`) or `{task, condition}`.
    #[serde(default)]
    pub needs: Vec<TaskNeed>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StepArgs {
    /// Step id, unique in the execution (letters, digits, `_`, `-`, `.`).
    pub id: String,
    /// Short step title.
    pub title: String,
    /// What to do, with acceptance criteria.
    #[serde(default)]
    pub description: String,
    /// How hard the step is; defaults to the role's tier, else `standard`.
    pub tier: Option<Tier>,
    /// Worker role.
    pub role: Option<String>,
    /// What the step needs: a step id string, `{step, condition?}`, or `{task, condition?}` for a task outside this execution.
    #[serde(default)]
    pub needs: Vec<StepNeed>,
    /// Pause the execution when this step completes, so the planner can review and add steps.
    #[serde(default)]
    pub checkpoint: bool,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecutionCreateArgs {
    /// A name for the execution; defaults to the first step's title.
    pub title: Option<String>,
    /// The steps (at least one).
    pub steps: Vec<StepArgs>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AddStepsArgs {
    /// Execution id or unique prefix.
    pub execution_id: String,
    /// New steps; they may need existing steps of the execution.
    pub steps: Vec<StepArgs>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecutionTargetArgs {
    /// Execution id or unique prefix.
    pub execution_id: String,
    /// One step of the execution; the whole execution when omitted.
    pub step_id: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkerReportArgs {
    /// A short phrase of what you are doing now.
    pub status: String,
    /// Your final summary for the steps that depend on you.
    pub output: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadFileArgs {
    /// Path relative to your copy of the project.
    pub path: String,
    /// First line to show (1-based).
    pub offset: Option<usize>,
    /// How many lines to show at most.
    pub limit: Option<usize>,
}

/// One anchored edit. Anchors are `<line>:<hash>` exactly as `enki_read_file` shows them.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum EditArg {
    /// Replace lines `start`..=`end` (just `start` when `end` is omitted) with `lines`.
    Replace {
        start: String,
        end: Option<String>,
        lines: Vec<String>,
    },
    /// Insert `lines` before the anchored line.
    InsertBefore { anchor: String, lines: Vec<String> },
    /// Insert `lines` after the anchored line.
    InsertAfter { anchor: String, lines: Vec<String> },
    /// Delete lines `start`..=`end`.
    Delete { start: String, end: Option<String> },
    /// Insert `lines` at the start of the file (works on empty and new files).
    Prepend { lines: Vec<String> },
    /// Add `lines` at the end of the file (works on empty and new files).
    Append { lines: Vec<String> },
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EditFileArgs {
    /// Path relative to your copy of the project. A missing file is created (use prepend/append).
    pub path: String,
    /// Edits; every anchor refers to the file as you last read it.
    pub edits: Vec<EditArg>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MailSendArgs {
    /// `coordinator`, `user`, `@workers` (every running worker) or `worker/<task id or prefix>`.
    pub to: String,
    pub subject: String,
    pub body: String,
    #[serde(default)]
    pub priority: Priority,
    #[serde(default)]
    pub kind: MailKind,
    /// Continue an existing thread.
    pub thread_id: Option<String>,
    /// The message this one answers.
    pub reply_to: Option<String>,
    /// Drop the message if unread after this many seconds.
    pub ttl_seconds: Option<u64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageIdArgs {
    /// Message id or unique prefix.
    pub message_id: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MailReplyArgs {
    /// The message to answer (id or unique prefix).
    pub message_id: String,
    pub body: String,
    /// Your answer to a request.
    pub status: Option<ReplyStatus>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ThreadArgs {
    /// Thread id (the id of the message that started it) or unique prefix.
    pub thread_id: String,
}
