//! What a task or a step depends on, as planners write it: the items of
//! `needs` in the MCP tools and in plan files. One definition gives the
//! parsing (with messages that name what was expected) and the JSON schema.

use std::fmt;

use schemars::JsonSchema;
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::Condition;
use crate::dag::NeedRef;

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

// ----- `needs` items: a string or an object, with precise error messages.

fn condition_of(map: &Map<String, Value>) -> Result<Condition, String> {
    match map.get("condition") {
        None | Some(Value::Null) => Ok(Condition::default()),
        Some(Value::String(s)) => s.parse().map_err(|e: crate::ParseEnumError| e.to_string()),
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
    /// What the graph check needs to know about this edge.
    pub fn shape(&self) -> NeedRef<'_> {
        match self {
            StepNeed::Step { step, .. } => NeedRef::Step(step),
            StepNeed::Task { task, .. } => NeedRef::Task(task),
        }
    }

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
