//! The enki tools: one registry entry per tool, with its schema, annotations
//! and handler.

mod args;
mod files;
mod listing;
mod mail;
pub mod page;
mod plan;
mod read;
mod worker;

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::confirm::Confirmation;
use crate::context::Context;

pub use args::*;
pub use listing::{EVERY_ROLE, described, list, list_for, list_text_for};

/// A successful tool result: the text for the model and, for tools that
/// return data, the same data as a JSON object.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolOutput {
    pub text: String,
    pub structured: Option<Value>,
}

impl ToolOutput {
    pub fn text(text: impl Into<String>) -> ToolOutput {
        ToolOutput {
            text: text.into(),
            structured: None,
        }
    }

    pub fn with_data(text: impl Into<String>, data: Value) -> ToolOutput {
        ToolOutput {
            text: text.into(),
            structured: Some(data),
        }
    }
}

/// A tool error: reported to the model as `isError: true` with this text.
pub type ToolResult = Result<ToolOutput, String>;

/// MCP tool annotations; they must be true to what the tool does.
#[derive(Debug, Clone, Copy)]
pub struct Annotations {
    pub read_only: bool,
    pub destructive: bool,
    pub idempotent: bool,
}

const READ_ONLY: Annotations = Annotations {
    read_only: true,
    destructive: false,
    idempotent: true,
};
const ADDITIVE: Annotations = Annotations {
    read_only: false,
    destructive: false,
    idempotent: false,
};
const IDEMPOTENT: Annotations = Annotations {
    read_only: false,
    destructive: false,
    idempotent: true,
};
const DESTRUCTIVE: Annotations = Annotations {
    read_only: false,
    destructive: true,
    idempotent: true,
};
/// Overwrites content, and repeating the call repeats the change.
const REWRITING: Annotations = Annotations {
    read_only: false,
    destructive: true,
    idempotent: false,
};

/// Whether a call needs a typed confirmation, and of what (`confirm.rs`);
/// an error is the tool error to answer (bad arguments, unknown target).
pub type ConfirmFn = fn(&mut Context, &Value) -> Result<Option<Confirmation>, String>;

pub struct ToolSpec {
    pub name: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    pub annotations: Annotations,
    pub schema: fn() -> Value,
    pub handler: fn(&mut Context, Value) -> ToolResult,
    /// Destructive tools whose calls the user must confirm.
    pub confirm: Option<ConfirmFn>,
}

impl ToolSpec {
    /// The tool as `tools/list` describes it.
    pub fn describe(&self) -> Value {
        json!({
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "inputSchema": (self.schema)(),
            "annotations": {
                "title": self.title,
                "readOnlyHint": self.annotations.read_only,
                "destructiveHint": self.annotations.destructive,
                "idempotentHint": self.annotations.idempotent,
                "openWorldHint": false,
            },
        })
    }
}

/// The JSON schema of an argument struct, self-contained (no `$ref`).
pub fn schema_of<T: JsonSchema>() -> Value {
    let settings = schemars::generate::SchemaSettings::draft07().with(|s| {
        s.inline_subschemas = true;
    });
    let schema = settings.into_generator().into_root_schema_for::<T>();
    let mut value = schema.to_value();
    drop_null_alternatives(&mut value);
    if let Value::Object(map) = &mut value {
        map.remove("$schema");
        map.remove("title");
        map.remove("description");
        map.entry("properties").or_insert_with(|| json!({}));
        map.entry("required").or_insert_with(|| json!([]));
        map.insert("additionalProperties".into(), Value::Bool(false));
    }
    value
}

/// Optional fields are simply omitted by callers, so `null` alternatives only
/// add noise (and some model providers reject type arrays): remove them.
fn drop_null_alternatives(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(Value::Array(types)) = map.get_mut("type") {
                types.retain(|t| t != "null");
                if types.len() == 1 {
                    let single = types.remove(0);
                    map.insert("type".into(), single);
                }
            }
            if let Some(Value::Array(options)) = map.get_mut("enum") {
                options.retain(|o| !o.is_null());
            }
            if let Some(Value::Array(options)) = map.get_mut("anyOf") {
                options.retain(|o| o.get("type").is_none_or(|t| t != "null"));
            }
            map.values_mut().for_each(drop_null_alternatives);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_null_alternatives),
        _ => {}
    }
}

/// Where the first `null` inside `value` is, as a field path (`steps[0].tier`).
fn first_null(value: &Value, path: &mut String) -> bool {
    let len = path.len();
    let found = match value {
        Value::Null => return true,
        Value::Object(map) => map.iter().any(|(key, item)| {
            path.truncate(len);
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(key);
            first_null(item, path)
        }),
        Value::Array(items) => items.iter().enumerate().any(|(index, item)| {
            path.truncate(len);
            path.push_str(&format!("[{index}]"));
            first_null(item, path)
        }),
        _ => false,
    };
    if !found {
        path.truncate(len);
    }
    found
}

/// Validates arguments by deserializing them into the tool's struct. The
/// error names the offending field path and what was expected.
///
/// No schema allows `null` (see [`schema_of`]), so a `null` anywhere is
/// refused; an optional field is left out instead.
pub fn parse_args<T: DeserializeOwned>(arguments: Value) -> Result<T, String> {
    let arguments = match arguments {
        Value::Null => json!({}),
        Value::Object(map) => Value::Object(map),
        other => {
            return Err(format!(
                "invalid arguments: expected an object, got {other}"
            ));
        }
    };
    let mut path = String::new();
    if first_null(&arguments, &mut path) {
        return Err(format!(
            "invalid arguments: `{path}`: null is not allowed; leave an optional field out instead"
        ));
    }
    serde_path_to_error::deserialize(arguments).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        if path == "." {
            format!("invalid arguments: {inner}")
        } else {
            format!("invalid arguments: `{path}`: {inner}")
        }
    })
}

macro_rules! tool {
    ($name:literal, $title:literal, $annotations:expr, $args:ty, $handler:path, $description:literal) => {
        tool!(
            $name,
            $title,
            $annotations,
            $args,
            $handler,
            $description,
            None
        )
    };
    ($name:literal, $title:literal, $annotations:expr, $args:ty, $handler:path, $description:literal, confirm = $confirm:path) => {
        tool!(
            $name,
            $title,
            $annotations,
            $args,
            $handler,
            $description,
            Some($confirm)
        )
    };
    ($name:literal, $title:literal, $annotations:expr, $args:ty, $handler:path, $description:literal, $confirm:expr) => {
        ToolSpec {
            name: $name,
            title: $title,
            description: $description,
            annotations: $annotations,
            schema: schema_of::<$args>,
            handler: |ctx, arguments| $handler(ctx, parse_args::<$args>(arguments)?),
            confirm: $confirm,
        }
    };
}

/// Every tool enki has, in `tools/list` order.
pub static ALL_TOOLS: &[ToolSpec] = &[
    tool!(
        "enki_status",
        "Status",
        READ_ONLY,
        NoArgs,
        read::status,
        "Counts of this session's tasks by status, running workers and the merge queue length, and what each running worker's agent is doing (agent_state: working, waiting_permission, waiting_user, retrying, stalled, idle, done or failed), since when and why, and what this session's agent runs used (work tokens, cost; unknown where an agent reports none, estimates marked)."
    ),
    tool!(
        "enki_task_list",
        "List tasks",
        READ_ONLY,
        TaskListArgs,
        read::task_list,
        "One line per task: short id, status, tier, role, title and current activity. Filter by status or execution."
    ),
    tool!(
        "enki_task_show",
        "Show task",
        READ_ONLY,
        TaskIdArgs,
        read::task_show,
        "Everything about one task: fields, dependencies and their conditions, attempts, last error, output, branch and merge request state."
    ),
    tool!(
        "enki_dag",
        "Dependency graph",
        READ_ONLY,
        DagArgs,
        read::dag,
        "The dependency graph of one execution (or all) with each step's status."
    ),
    tool!(
        "enki_task_create",
        "Create task",
        ADDITIVE,
        TaskCreateArgs,
        plan::task_create,
        "Create one standalone task. It starts when its dependencies are satisfied (`needs`: task ids, or {task, condition} with condition merged|completed|started; default merged)."
    ),
    tool!(
        "enki_execution_create",
        "Create execution",
        ADDITIVE,
        ExecutionCreateArgs,
        plan::execution_create,
        "Create an execution: a DAG of steps, each run by a worker in its own copy of the project. Steps reference each other by step id in `needs`; all steps are written at once or not at all. Cycles, unknown steps or tasks and unknown roles are refused."
    ),
    tool!(
        "enki_execution_add_steps",
        "Add steps",
        ADDITIVE,
        AddStepsArgs,
        plan::add_steps,
        "Add steps to an existing execution (e.g. after a checkpoint). New steps may need existing ones."
    ),
    tool!(
        "enki_task_retry",
        "Retry task",
        IDEMPOTENT,
        TaskIdArgs,
        plan::retry,
        "Send a failed or blocked task back to pending with a fresh retry budget; its blocked dependents are unblocked."
    ),
    tool!(
        "enki_pause",
        "Pause",
        IDEMPOTENT,
        ExecutionTargetArgs,
        plan::pause,
        "Pause an execution (no new steps start) or one step of it."
    ),
    tool!(
        "enki_resume",
        "Resume",
        IDEMPOTENT,
        ExecutionTargetArgs,
        plan::resume,
        "Resume a paused execution (and its paused steps) or one paused step."
    ),
    tool!(
        "enki_cancel",
        "Cancel",
        DESTRUCTIVE,
        CancelArgs,
        plan::cancel,
        "Cancel an execution, or one step and every step that depends on it. Finished work is kept. Cancelling a whole execution must be confirmed: the user is asked when the client can ask; otherwise pass `confirm` with the execution's full id (a call without it says what to type).",
        confirm = plan::cancel_confirmation
    ),
    tool!(
        "enki_stop_all",
        "Stop all",
        DESTRUCTIVE,
        StopAllArgs,
        plan::stop_all,
        "Stop every running worker and pause every execution. Nothing is deleted; resume later. Must be confirmed: the user is asked when the client can ask; otherwise pass `confirm`: \"stop all\".",
        confirm = plan::stop_all_confirmation
    ),
    tool!(
        "enki_worker_report",
        "Report progress",
        ADDITIVE,
        WorkerReportArgs,
        worker::report,
        "Tell the coordinator what you are doing now (`status`, a short phrase); give `output` with your final summary when done."
    ),
    tool!(
        "enki_read_file",
        "Read file",
        READ_ONLY,
        ReadFileArgs,
        files::read_file,
        "Read a file of your copy in the hashline view: each line is `<number>:<hash>|<text>`. Use the `<number>:<hash>` anchors with enki_edit_file."
    ),
    tool!(
        "enki_edit_file",
        "Edit file",
        REWRITING,
        EditFileArgs,
        files::edit_file,
        "Edit one file of your copy with hash-anchored edits (replace, insert_before, insert_after, delete, prepend, append). Every anchor must match the file as it is now; a stale anchor is refused with the line that changed. Paths outside your copy are refused."
    ),
    tool!(
        "enki_mail_send",
        "Send mail",
        ADDITIVE,
        MailSendArgs,
        mail::send,
        "Send a message to `coordinator`, `user`, `@workers` (every running worker) or `worker/<task id>`."
    ),
    tool!(
        "enki_mail_check",
        "Check mail",
        READ_ONLY,
        MailListArgs,
        mail::check,
        "Your unread messages, most pressing first (by priority, then age). Does not mark them read."
    ),
    tool!(
        "enki_mail_read",
        "Read mail",
        IDEMPOTENT,
        MessageIdArgs,
        mail::read,
        "Read one message in full and mark it read."
    ),
    tool!(
        "enki_mail_inbox",
        "Inbox",
        READ_ONLY,
        MailListArgs,
        mail::inbox,
        "All your messages, newest first."
    ),
    tool!(
        "enki_mail_reply",
        "Reply",
        ADDITIVE,
        MailReplyArgs,
        mail::reply,
        "Reply to a message in its thread, optionally answering a request (accepted, rejected, completed)."
    ),
    tool!(
        "enki_mail_thread",
        "Thread",
        READ_ONLY,
        ThreadArgs,
        mail::thread,
        "Every message of a thread, oldest first."
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_null_anywhere_is_refused_with_its_path() {
        let refused = |arguments: Value| {
            parse_args::<ExecutionCreateArgs>(arguments).expect_err("null is refused")
        };
        let text = refused(json!({"title": null, "steps": [{"id": "a", "title": "A"}]}));
        assert!(text.contains("`title`: null is not allowed"), "{text}");
        let text = refused(
            json!({"steps": [{"id": "a", "title": "A"}, {"id": "b", "title": "B", "tier": null}]}),
        );
        assert!(text.contains("`steps[1].tier`"), "{text}");
        let text = refused(
            json!({"steps": [{"id": "a", "title": "A", "needs": [{"step": "b", "condition": null}]}]}),
        );
        assert!(text.contains("`steps[0].needs[0].condition`"), "{text}");
        let parsed = parse_args::<ExecutionCreateArgs>(
            json!({"steps": [{"id": "a", "title": "A", "tier": "light"}]}),
        );
        assert!(parsed.is_ok(), "{parsed:?}");
    }

    /// The annotations are true to the table: a tool that asks for a typed
    /// confirmation is destructive, takes `confirm`, and repeating it
    /// changes nothing more (so it is idempotent).
    #[test]
    fn confirmed_tools_are_destructive_idempotent_and_take_confirm() {
        let confirmed: Vec<&str> = ALL_TOOLS
            .iter()
            .filter(|t| t.confirm.is_some())
            .map(|t| t.name)
            .collect();
        assert_eq!(confirmed, ["enki_cancel", "enki_stop_all"]);
        for tool in ALL_TOOLS.iter().filter(|t| t.confirm.is_some()) {
            let a = tool.annotations;
            assert!(
                a.destructive && a.idempotent && !a.read_only,
                "{}",
                tool.name
            );
            let schema = (tool.schema)();
            assert!(schema["properties"]["confirm"].is_object(), "{}", tool.name);
            assert!(
                !schema["required"]
                    .as_array()
                    .is_some_and(|r| r.contains(&json!("confirm"))),
                "{}: optional, the user may confirm instead",
                tool.name
            );
        }
    }

    /// Listings take a cursor.
    #[test]
    fn listings_take_a_cursor() {
        for name in [
            "enki_task_list",
            "enki_dag",
            "enki_mail_check",
            "enki_mail_inbox",
            "enki_mail_thread",
        ] {
            let tool = ALL_TOOLS.iter().find(|t| t.name == name).expect("listed");
            assert!(
                (tool.schema)()["properties"]["cursor"].is_object(),
                "{name}"
            );
        }
    }

    /// Validation refuses `null`, so no schema may offer it.
    #[test]
    fn no_schema_offers_null() {
        for tool in ALL_TOOLS {
            let text = (tool.schema)().to_string();
            assert!(!text.contains("\"null\""), "{}: {text}", tool.name);
        }
    }
}
