//! MCP resources: what the read tools show, addressable by URI.
//!
//! | URI | shows | tool it reuses |
//! |---|---|---|
//! | `enki://status` | counts of this session's tasks | `enki_status` |
//! | `enki://tasks` | one line per task of this session | `enki_task_list` |
//! | `enki://task/{id}` | one task (a unique id prefix is enough) | `enki_task_show` |
//! | `enki://execution/{id}/dag` | one execution's graph | `enki_dag` |
//! | `enki://mail/inbox` | the caller's own mailbox | `enki_mail_inbox` |
//!
//! A resource is rendered by calling its tool's handler, so it shows exactly
//! the tool's text, and a role sees a resource only when it has the tool.

use enki_core::IdKind;
use enki_jsonrpc::ErrorObject;
use serde_json::{Value, json};

use crate::context::Context;
use crate::limits::cap_result;
use crate::roles::tools_for;
use crate::tools::{ALL_TOOLS, ToolResult};

/// MCP's "resource not found" error code.
pub const RESOURCE_NOT_FOUND: i64 = -32002;

const MIME: &str = "text/plain";

/// One resource a URI names, with the id as the caller typed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resource {
    Status,
    Tasks,
    Task(String),
    Dag(String),
    Inbox,
}

/// The fixed resources: URI, name, title, description, the tool they need.
const FIXED: &[(&str, &str, &str, &str, Resource)] = &[
    (
        "enki://status",
        "status",
        "Status",
        "Counts of this session's tasks by status, running workers and the merge queue length.",
        Resource::Status,
    ),
    (
        "enki://tasks",
        "tasks",
        "Tasks",
        "One line per task of this session: short id, status, tier, role, title, activity.",
        Resource::Tasks,
    ),
    (
        "enki://mail/inbox",
        "inbox",
        "Inbox",
        "Every message of your own mailbox, newest first.",
        Resource::Inbox,
    ),
];

/// A URI template: its pattern, name, title, description, the kind of id
/// its one parameter takes, and the tool it needs.
pub struct Template {
    pub uri_template: &'static str,
    pub name: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    /// The id kind of `{id}`, for completion.
    pub id_kind: IdKind,
    pub tool: &'static str,
}

pub const TEMPLATES: &[Template] = &[
    Template {
        uri_template: "enki://task/{id}",
        name: "task",
        title: "Task",
        description: "Everything about one task: fields, dependencies, attempts, last error, output, branch and merge state. `id` may be a unique prefix.",
        id_kind: IdKind::Task,
        tool: "enki_task_show",
    },
    Template {
        uri_template: "enki://execution/{id}/dag",
        name: "dag",
        title: "Execution graph",
        description: "The dependency graph of one execution with each step's status. `id` may be a unique prefix.",
        id_kind: IdKind::Execution,
        tool: "enki_dag",
    },
];

impl Resource {
    /// Parses an `enki://` URI.
    pub fn parse(uri: &str) -> Result<Resource, ErrorObject> {
        let not_found = |why: &str| {
            ErrorObject::new(
                RESOURCE_NOT_FOUND,
                format!(
                    "no resource '{uri}': {why}; enki's resources are enki://status, enki://tasks, enki://task/{{id}}, enki://execution/{{id}}/dag and enki://mail/inbox"
                ),
            )
        };
        let Some(path) = uri.strip_prefix("enki://") else {
            return Err(not_found("it is not an enki:// URI"));
        };
        let id = |text: &str| -> Result<String, ErrorObject> {
            if text.is_empty() || text.contains('/') {
                Err(not_found("the id is missing"))
            } else {
                Ok(text.to_string())
            }
        };
        match path {
            "status" => Ok(Resource::Status),
            "tasks" => Ok(Resource::Tasks),
            "mail/inbox" => Ok(Resource::Inbox),
            _ => {
                if let Some(task) = path.strip_prefix("task/") {
                    Ok(Resource::Task(id(task)?))
                } else if let Some(dag) = path
                    .strip_prefix("execution/")
                    .and_then(|rest| rest.strip_suffix("/dag"))
                {
                    Ok(Resource::Dag(id(dag)?))
                } else {
                    Err(not_found("unknown path"))
                }
            }
        }
    }

    /// The tool whose view this resource is.
    pub fn tool(&self) -> &'static str {
        match self {
            Resource::Status => "enki_status",
            Resource::Tasks => "enki_task_list",
            Resource::Task(_) => "enki_task_show",
            Resource::Dag(_) => "enki_dag",
            Resource::Inbox => "enki_mail_inbox",
        }
    }
}

/// Whether this server's role has `tool` (the rule for every resource,
/// prompt and completion that shows what a tool shows).
pub fn role_has(ctx: &Context, tool: &str) -> bool {
    tools_for(ctx.role, ctx.no_edit).contains(&tool)
}

/// Runs a tool's handler, as `tools/call` would.
pub fn tool_output(ctx: &mut Context, tool: &str, arguments: Value) -> ToolResult {
    let spec = ALL_TOOLS
        .iter()
        .find(|t| t.name == tool)
        .ok_or_else(|| format!("enki has no tool '{tool}'"))?;
    (spec.handler)(ctx, arguments)
}

/// Runs a tool's handler and returns its text.
pub fn tool_text(ctx: &mut Context, tool: &str, arguments: Value) -> Result<String, String> {
    tool_output(ctx, tool, arguments).map(|output| output.text)
}

/// The text a resource shows this caller now, or why it cannot be read.
pub fn render(ctx: &mut Context, uri: &str) -> Result<String, ErrorObject> {
    let resource = Resource::parse(uri)?;
    let tool = resource.tool();
    if !role_has(ctx, tool) {
        return Err(ErrorObject::new(
            RESOURCE_NOT_FOUND,
            format!(
                "resource '{uri}' is not available for role '{}' (it has no {tool} tool)",
                ctx.role
            ),
        ));
    }
    let arguments = match &resource {
        Resource::Task(input) => json!({"task_id": resolve(ctx, uri, IdKind::Task, input)?}),
        Resource::Dag(input) => {
            json!({"execution_id": resolve(ctx, uri, IdKind::Execution, input)?})
        }
        Resource::Status | Resource::Tasks | Resource::Inbox => json!({}),
    };
    tool_text(ctx, tool, arguments)
        // Bounded like a tool result (the tools page their long lists).
        .map(|text| cap_result(text, None).0)
        .map_err(|e| ErrorObject::internal(format!("cannot read {uri}: {e}")))
}

/// The full id an `{id}` stands for, with the tools' prefix lookup.
fn resolve(ctx: &mut Context, uri: &str, kind: IdKind, input: &str) -> Result<String, ErrorObject> {
    let store = ctx
        .store()
        .map_err(|e| ErrorObject::internal(format!("cannot read {uri}: {e}")))?;
    store.resolve(kind, input).map_err(|e| {
        ErrorObject::new(
            RESOURCE_NOT_FOUND,
            format!("no resource '{uri}': {e}; complete the id with completion/complete"),
        )
    })
}

/// Answers `resources/read`.
pub fn read(ctx: &mut Context, params: Option<&Value>) -> Result<Value, ErrorObject> {
    let uri = uri_param(params, "resources/read")?;
    let text = render(ctx, uri)?;
    Ok(json!({"contents": [{"uri": uri, "mimeType": MIME, "text": text}]}))
}

/// The `uri` parameter of a resources request.
pub fn uri_param<'a>(params: Option<&'a Value>, method: &str) -> Result<&'a str, ErrorObject> {
    match params.and_then(|p| p.get("uri")) {
        Some(Value::String(uri)) => Ok(uri),
        Some(other) => Err(ErrorObject::invalid_params(format!(
            "`uri` must be a string, got {other}"
        ))),
        None => Err(ErrorObject::invalid_params(format!(
            "{method} needs `uri`, e.g. enki://status"
        ))),
    }
}

/// Answers `resources/list`: the fixed resources this role may read, and a
/// worker's or merger's own task and its execution's graph.
pub fn list(ctx: &mut Context) -> Value {
    let mut resources: Vec<Value> = FIXED
        .iter()
        .filter(|(.., resource)| role_has(ctx, resource.tool()))
        .map(|(uri, name, title, description, _)| {
            json!({"uri": uri, "name": name, "title": title, "description": description, "mimeType": MIME})
        })
        .collect();
    if let Some((task, execution)) = own_task(ctx) {
        resources.push(json!({
            "uri": format!("enki://task/{task}"),
            "name": "my-task",
            "title": "My task",
            "description": "The task this server was started for.",
            "mimeType": MIME,
        }));
        if role_has(ctx, "enki_dag") {
            resources.push(json!({
                "uri": format!("enki://execution/{execution}/dag"),
                "name": "my-execution",
                "title": "My execution's graph",
                "description": "The dependency graph of the execution of the task this server was started for.",
                "mimeType": MIME,
            }));
        }
    }
    json!({"resources": resources})
}

/// The caller's own task and its execution, when it was started for one.
fn own_task(ctx: &mut Context) -> Option<(String, String)> {
    ctx.task_label()?;
    if !role_has(ctx, "enki_task_show") {
        return None;
    }
    let task = ctx.my_task().ok()?;
    let row = ctx.store().ok()?.task(&task).ok()??;
    Some((task, row.execution_id))
}

/// Answers `resources/templates/list`: the templates this role may read.
pub fn templates(ctx: &Context) -> Value {
    let templates: Vec<Value> = TEMPLATES
        .iter()
        .filter(|t| role_has(ctx, t.tool))
        .map(|t| {
            json!({
                "uriTemplate": t.uri_template,
                "name": t.name,
                "title": t.title,
                "description": t.description,
                "mimeType": MIME,
            })
        })
        .collect();
    json!({"resourceTemplates": templates})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_parse_into_resources_and_others_are_not_found() {
        assert_eq!(
            Resource::parse("enki://status").ok(),
            Some(Resource::Status)
        );
        assert_eq!(Resource::parse("enki://tasks").ok(), Some(Resource::Tasks));
        assert_eq!(
            Resource::parse("enki://task/task-01J").ok(),
            Some(Resource::Task("task-01J".into()))
        );
        assert_eq!(
            Resource::parse("enki://execution/exec-01/dag").ok(),
            Some(Resource::Dag("exec-01".into()))
        );
        assert_eq!(
            Resource::parse("enki://mail/inbox").ok(),
            Some(Resource::Inbox)
        );
        for bad in [
            "enki://task/",
            "enki://task/a/b",
            "enki://execution//dag",
            "enki://nope",
            "file:///etc/passwd",
        ] {
            let error = Resource::parse(bad).expect_err(bad);
            assert_eq!(error.code, RESOURCE_NOT_FOUND, "{bad}");
            assert!(error.message.contains("enki://status"), "{}", error.message);
        }
    }

    #[test]
    fn every_resource_and_template_reuses_a_real_read_only_tool() {
        let tools = FIXED
            .iter()
            .map(|(.., r)| r.tool())
            .chain(TEMPLATES.iter().map(|t| t.tool));
        for tool in tools {
            let spec = ALL_TOOLS.iter().find(|t| t.name == tool);
            assert!(
                spec.is_some_and(|s| s.annotations.read_only),
                "{tool} is not a read-only tool"
            );
        }
    }
}
