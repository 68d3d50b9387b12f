//! Tool arguments as typed structs. Each struct is the single definition of
//! a tool's input: its JSON schema is generated from it and incoming
//! arguments are validated by deserializing into it (unknown fields refused).

use std::fmt;

use enki_core::mail::{MailKind, Priority, ReplyStatus};
use enki_core::{Condition, TaskStatus, Tier};
use schemars::JsonSchema;
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

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

/// What a standalone task needs: a task id, or a task with a condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskNeed {
    pub task: String,
    pub condition: Condition,
}

/// What a step needs: another step of the execution, or any task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepNeed {
    Step { step: String, condition: Condition },
    Task { task: String, condition: Condition },
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

// ----- `needs` items: a string or an object, with precise error messages.

fn condition_of(map: &Map<String, Value>) -> Result<Condition, String> {
    match map.get("condition") {
        None | Some(Value::Null) => Ok(Condition::default()),
        Some(Value::String(s)) => s
            .parse()
            .map_err(|e: enki_core::ParseEnumError| e.to_string()),
        Some(other) => Err(format!("condition must be a string, got {other}")),
    }
}

fn check_keys(map: &Map<String, Value>, allowed: &[&str]) -> Result<(), String> {
    match map.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(format!("unknown field `{k}`, expected one of {allowed:?}")),
        None => Ok(()),
    }
}

fn string_field(map: &Map<String, Value>, key: &str) -> Result<String, String> {
    match map.get(key) {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
        Some(other) => Err(format!("`{key}` must be a non-empty string, got {other}")),
        None => Err(format!("missing field `{key}`")),
    }
}

impl TaskNeed {
    fn from_value(value: Value) -> Result<TaskNeed, String> {
        match value {
            Value::String(task) => Ok(TaskNeed {
                task,
                condition: Condition::default(),
            }),
            Value::Object(map) => {
                check_keys(&map, &["task", "condition"])?;
                Ok(TaskNeed {
                    task: string_field(&map, "task")?,
                    condition: condition_of(&map)?,
                })
            }
            other => Err(format!(
                "expected a task id string or {{\"task\": id, \"condition\": \"merged|completed|started\"}}, got {other}"
            )),
        }
    }
}

impl StepNeed {
    fn from_value(value: Value) -> Result<StepNeed, String> {
        match value {
            Value::String(step) => Ok(StepNeed::Step {
                step,
                condition: Condition::default(),
            }),
            Value::Object(map) => match (map.contains_key("step"), map.contains_key("task")) {
                (true, false) => {
                    check_keys(&map, &["step", "condition"])?;
                    Ok(StepNeed::Step {
                        step: string_field(&map, "step")?,
                        condition: condition_of(&map)?,
                    })
                }
                (false, true) => {
                    check_keys(&map, &["task", "condition"])?;
                    Ok(StepNeed::Task {
                        task: string_field(&map, "task")?,
                        condition: condition_of(&map)?,
                    })
                }
                _ => Err("a need object must have exactly one of `step` or `task`".to_string()),
            },
            other => Err(format!(
                "expected a step id string, {{\"step\": id, \"condition\"?}} or {{\"task\": id, \"condition\"?}}, got {other}"
            )),
        }
    }
}

struct Message(String);
impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for TaskNeed {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        TaskNeed::from_value(value).map_err(|m| de::Error::custom(Message(m)))
    }
}

impl<'de> Deserialize<'de> for StepNeed {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        StepNeed::from_value(value).map_err(|m| de::Error::custom(Message(m)))
    }
}

// Schema shapes for the hand-written `needs` items.
#[derive(Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct TaskNeedObject {
    /// Task id or unique prefix.
    task: String,
    /// When the dependency counts as satisfied (default `merged`).
    condition: Option<Condition>,
}

#[derive(Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct StepNeedObject {
    /// Step id in this execution.
    step: String,
    /// When the dependency counts as satisfied (default `merged`).
    condition: Option<Condition>,
}

#[derive(Serialize, JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum TaskNeedShape {
    /// Task id or unique prefix (condition `merged`).
    Id(String),
    Object(TaskNeedObject),
}

#[derive(Serialize, JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum StepNeedShape {
    /// Step id in this execution (condition `merged`).
    Step(String),
    StepObject(StepNeedObject),
    TaskObject(TaskNeedObject),
}

impl JsonSchema for TaskNeed {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "TaskNeed".into()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        TaskNeedShape::json_schema(generator)
    }
}

impl JsonSchema for StepNeed {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "StepNeed".into()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        StepNeedShape::json_schema(generator)
    }
}
