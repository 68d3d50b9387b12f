//! Tool arguments as typed structs. Each struct is the single definition of
//! a tool's input: its JSON schema is generated from it and incoming
//! arguments are validated by deserializing into it (unknown fields refused).

use std::borrow::Cow;
use std::num::{NonZeroU64, NonZeroUsize};

use enki_core::dag::{STEP_ID_PATTERN, valid_step_id};
use enki_core::mail::{MailKind, Priority, ReplyStatus};
pub use enki_core::need::{StepNeed, TaskNeed};
use enki_core::{TaskStatus, Tier};
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::Deserialize;
use serde::de::{Deserializer, Error as _};

// ----- values with a constraint: each type gives both its schema and its
// check, so `tools/list` promises exactly what validation enforces.

/// Text with at least one non-blank character (`minLength: 1`, `pattern: \S`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NonBlank(String);

impl NonBlank {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The text without surrounding blanks.
    pub fn trimmed(&self) -> &str {
        self.0.trim()
    }
}

impl<'de> Deserialize<'de> for NonBlank {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        if text.trim().is_empty() {
            return Err(D::Error::custom("must not be empty or blank"));
        }
        Ok(NonBlank(text))
    }
}

impl JsonSchema for NonBlank {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        "NonBlank".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "string", "minLength": 1, "pattern": "\\S"})
    }
}

/// A step id: 1 to 64 letters, digits, `_`, `-` or `.` (the rule of
/// `enki_core::dag`, which plan files share).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepId(String);

impl StepId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for StepId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let id = String::deserialize(deserializer)?;
        if !valid_step_id(&id) {
            return Err(D::Error::custom(format!(
                "'{id}' is not a valid step id (use 1-64 letters, digits, '_', '-' or '.')"
            )));
        }
        Ok(StepId(id))
    }
}

impl JsonSchema for StepId {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        "StepId".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "string", "pattern": STEP_ID_PATTERN})
    }
}

/// A list with at least one item (`minItems: 1`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AtLeastOne<T>(Vec<T>);

impl<T> AtLeastOne<T> {
    pub fn as_slice(&self) -> &[T] {
        &self.0
    }

    pub fn into_vec(self) -> Vec<T> {
        self.0
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for AtLeastOne<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let items = Vec::<T>::deserialize(deserializer)?;
        if items.is_empty() {
            return Err(D::Error::custom(
                "needs at least one item, got an empty list",
            ));
        }
        Ok(AtLeastOne(items))
    }
}

impl<T: JsonSchema> JsonSchema for AtLeastOne<T> {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        format!("AtLeastOne_{}", T::schema_name()).into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let mut schema = Vec::<T>::json_schema(generator);
        schema.insert("minItems".into(), 1.into());
        schema
    }
}

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
    /// The `next_cursor` of the previous page, to get the next one.
    pub cursor: Option<String>,
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
    /// The `next_cursor` of the previous page, to get the next one.
    pub cursor: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskCreateArgs {
    /// Short task title.
    pub title: NonBlank,
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
    /// Step id, unique in the execution (1-64 letters, digits, `_`, `-`, `.`).
    pub id: StepId,
    /// Short step title.
    pub title: NonBlank,
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
    pub steps: AtLeastOne<StepArgs>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AddStepsArgs {
    /// Execution id or unique prefix.
    pub execution_id: String,
    /// New steps (at least one); they may need existing steps of the execution.
    pub steps: AtLeastOne<StepArgs>,
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
pub struct CancelArgs {
    /// Execution id or unique prefix.
    pub execution_id: String,
    /// One step of the execution (and what depends on it); the whole execution when omitted.
    pub step_id: Option<String>,
    /// Cancelling a whole execution needs a typed confirmation: its full id, exactly (a refusal says it). Not needed with `step_id`, nor when the client asks its user.
    pub confirm: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StopAllArgs {
    /// A typed confirmation: exactly `stop all`. Not needed when the client asks its user.
    pub confirm: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MailListArgs {
    /// The `next_cursor` of the previous page, to get the next one.
    pub cursor: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkerReportArgs {
    /// A short phrase of what you are doing now.
    pub status: NonBlank,
    /// Your final summary for the steps that depend on you.
    pub output: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadFileArgs {
    /// Path relative to your copy of the project.
    pub path: String,
    /// First line to show (1-based; default 1).
    pub offset: Option<NonZeroUsize>,
    /// How many lines to show at most (default 2000).
    pub limit: Option<NonZeroUsize>,
}

/// One anchored edit. Anchors are `<line>:<hash>` exactly as `enki_read_file` shows them.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
#[schemars(transform = describe_edit_op)]
pub enum EditArg {
    /// Replace lines `start`..=`end` (just `start` when `end` is omitted) with `lines`.
    Replace {
        /// Anchor (`<line>:<hash>`) of the first line to replace.
        start: String,
        /// Anchor of the last line to replace; only `start` when omitted.
        end: Option<String>,
        /// The new lines, without line endings (empty to delete the range).
        lines: Vec<String>,
    },
    /// Insert `lines` before the anchored line.
    InsertBefore {
        /// Anchor (`<line>:<hash>`) of the line to insert before.
        anchor: String,
        /// The lines to insert, without line endings.
        lines: Vec<String>,
    },
    /// Insert `lines` after the anchored line.
    InsertAfter {
        /// Anchor (`<line>:<hash>`) of the line to insert after.
        anchor: String,
        /// The lines to insert, without line endings.
        lines: Vec<String>,
    },
    /// Delete lines `start`..=`end`.
    Delete {
        /// Anchor (`<line>:<hash>`) of the first line to delete.
        start: String,
        /// Anchor of the last line to delete; only `start` when omitted.
        end: Option<String>,
    },
    /// Insert `lines` at the start of the file (works on empty and new files).
    Prepend {
        /// The lines to insert, without line endings.
        lines: Vec<String>,
    },
    /// Add `lines` at the end of the file (works on empty and new files).
    Append {
        /// The lines to add, without line endings.
        lines: Vec<String>,
    },
}

/// The `op` tag of each edit shape gets a description like every other property.
fn describe_edit_op(schema: &mut Schema) {
    let Some(shapes) = schema.get_mut("oneOf").and_then(|v| v.as_array_mut()) else {
        return;
    };
    for shape in shapes {
        if let Some(op) = shape
            .pointer_mut("/properties/op")
            .and_then(|v| v.as_object_mut())
        {
            op.insert(
                "description".into(),
                "Which edit this is; it decides the other fields.".into(),
            );
        }
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EditFileArgs {
    /// Path relative to your copy of the project. A missing file is created (use prepend/append).
    pub path: String,
    /// Edits (at least one); every anchor refers to the file as you last read it.
    pub edits: AtLeastOne<EditArg>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MailSendArgs {
    /// `coordinator`, `user`, `@workers` (every running worker) or `worker/<task id or prefix>`.
    pub to: String,
    /// One line saying what the message is about.
    pub subject: NonBlank,
    /// The message.
    pub body: String,
    /// How pressing it is (default `normal`).
    #[serde(default)]
    pub priority: Priority,
    /// `request` when you expect an answer (default `info`). A worker whose
    /// request to `user` or `coordinator` awaits its answer is shown as
    /// waiting for the user and is not stopped as stalled meanwhile.
    #[serde(default)]
    pub kind: MailKind,
    /// Continue an existing thread.
    pub thread_id: Option<String>,
    /// The message this one answers.
    pub reply_to: Option<String>,
    /// Drop the message if it is still unread after this many seconds (at least 1).
    pub ttl_seconds: Option<NonZeroU64>,
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
    /// Your answer.
    pub body: String,
    /// Your answer to a request.
    pub status: Option<ReplyStatus>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ThreadArgs {
    /// Thread id (the id of the message that started it) or unique prefix.
    pub thread_id: String,
    /// The `next_cursor` of the previous page, to get the next one.
    pub cursor: Option<String>,
}
