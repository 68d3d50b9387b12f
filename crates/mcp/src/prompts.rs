//! MCP prompts: `plan` (turn a request into an execution), `triage` (look
//! at failed and blocked tasks and propose what to do), and `role_<name>`
//! for every role of the cascade (its description and instructions, and
//! the task to work on).
//!
//! A prompt is offered only to a role that has the tools it asks the model
//! to use. The role prompts follow the role files: the server compares the
//! files between requests and sends `notifications/prompts/list_changed`
//! when the list changed (see `watch.rs`).

use enki_core::IdKind;
use enki_core::role::{OutputMode, Role};
use enki_jsonrpc::ErrorObject;
use serde_json::{Map, Value, json};

use crate::context::Context;
use crate::limits::cap_result;
use crate::resources::{role_has, tool_output, tool_text};

/// One argument of a prompt.
pub struct Arg {
    pub name: &'static str,
    pub description: &'static str,
    pub required: bool,
    /// The kind of id it takes, for completion.
    pub ids: Option<IdKind>,
}

const PLAN_ARGS: &[Arg] = &[
    Arg {
        name: "request",
        description: "What the user wants done, in their words.",
        required: true,
        ids: None,
    },
    Arg {
        name: "execution_id",
        description: "An existing execution to add the steps to (a unique prefix is enough).",
        required: false,
        ids: Some(IdKind::Execution),
    },
];

const TRIAGE_ARGS: &[Arg] = &[Arg {
    name: "execution_id",
    description: "Only this execution's tasks (a unique prefix is enough); all of this session's otherwise.",
    required: false,
    ids: Some(IdKind::Execution),
}];

const ROLE_ARGS: &[Arg] = &[Arg {
    name: "task_id",
    description: "The task to work on (a unique prefix is enough); its details are included.",
    required: false,
    ids: Some(IdKind::Task),
}];

/// What a prompt is made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Plan,
    Triage,
    Role(String),
}

/// A prompt as `prompts/list` shows it.
pub struct Prompt {
    pub name: String,
    pub title: String,
    pub description: String,
    pub args: &'static [Arg],
    pub kind: Kind,
}

/// The prefix of the role prompts' names.
const ROLE_PREFIX: &str = "role_";

/// How many failed or blocked tasks `triage` shows in full.
const TRIAGE_DETAILS: usize = 8;

/// The prompts this server offers its role, in `prompts/list` order. A
/// project whose roles cannot be loaded offers no role prompts.
pub fn available(ctx: &mut Context) -> Vec<Prompt> {
    let mut prompts = Vec::new();
    if role_has(ctx, "enki_execution_create") && role_has(ctx, "enki_execution_add_steps") {
        prompts.push(Prompt {
            name: "plan".into(),
            title: "Plan a request".into(),
            description: "Turn a request into an execution of steps for enki's workers, with the roles this project has.".into(),
            args: PLAN_ARGS,
            kind: Kind::Plan,
        });
    }
    if role_has(ctx, "enki_task_list") && role_has(ctx, "enki_task_retry") {
        prompts.push(Prompt {
            name: "triage".into(),
            title: "Triage failures".into(),
            description:
                "Look at the failed and blocked tasks and propose retries or changes to the plan."
                    .into(),
            args: TRIAGE_ARGS,
            kind: Kind::Triage,
        });
    }
    if role_has(ctx, "enki_task_show")
        && let Ok(roles) = ctx.roles()
    {
        prompts.extend(roles.iter().map(|role| Prompt {
            name: format!("{ROLE_PREFIX}{}", role.name),
            title: if role.label.is_empty() {
                role.name.clone()
            } else {
                role.label.clone()
            },
            description: if role.description.is_empty() {
                format!("Work on a task as the role '{}'.", role.name)
            } else {
                format!(
                    "Work on a task as the role '{}': {}",
                    role.name, role.description
                )
            },
            args: ROLE_ARGS,
            kind: Kind::Role(role.name.clone()),
        }));
    }
    prompts
}

/// The prompt called `name`, if this role has it.
pub fn find(ctx: &mut Context, name: &str) -> Result<Prompt, ErrorObject> {
    let mut prompts = available(ctx);
    match prompts.iter().position(|p| p.name == name) {
        Some(index) => Ok(prompts.swap_remove(index)),
        None => Err(ErrorObject::invalid_params(format!(
            "unknown prompt '{name}' for role '{}' (its prompts: {})",
            ctx.role,
            names(&prompts)
        ))),
    }
}

fn names(prompts: &[Prompt]) -> String {
    if prompts.is_empty() {
        return "none".into();
    }
    prompts
        .iter()
        .map(|p| p.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Answers `prompts/list`.
pub fn list(ctx: &mut Context) -> Value {
    let prompts: Vec<Value> = available(ctx)
        .iter()
        .map(|p| {
            let arguments: Vec<Value> = p
                .args
                .iter()
                .map(|a| json!({"name": a.name, "description": a.description, "required": a.required}))
                .collect();
            json!({"name": p.name, "title": p.title, "description": p.description, "arguments": arguments})
        })
        .collect();
    json!({"prompts": prompts})
}

/// Answers `prompts/get`.
pub fn get(ctx: &mut Context, params: Option<&Value>) -> Result<Value, ErrorObject> {
    let name = match params.and_then(|p| p.get("name")) {
        Some(Value::String(name)) => name.clone(),
        Some(other) => {
            return Err(ErrorObject::invalid_params(format!(
                "`name` must be a string, got {other}"
            )));
        }
        None => {
            return Err(ErrorObject::invalid_params(
                "prompts/get needs `name`; prompts/list gives the names",
            ));
        }
    };
    let prompt = find(ctx, &name)?;
    let arguments = arguments(&prompt, params.and_then(|p| p.get("arguments")))?;
    let arg = |name: &str| arguments.get(name).and_then(Value::as_str);
    let text = match &prompt.kind {
        Kind::Plan => plan_text(ctx, arg("request").unwrap_or_default(), arg("execution_id")),
        Kind::Triage => triage_text(ctx, arg("execution_id")),
        Kind::Role(role) => role_text(ctx, role, arg("task_id")),
    }
    .map_err(|e| ErrorObject::invalid_params(format!("prompt '{name}': {e}")))?;
    // Bounded like a tool result (triage shows several tasks in full).
    let text = cap_result(text, None).0;
    Ok(json!({
        "description": prompt.description,
        "messages": [{"role": "user", "content": {"type": "text", "text": text}}],
    }))
}

/// The prompt's arguments, checked: strings only, known names only, the
/// required ones present and not blank.
fn arguments(prompt: &Prompt, given: Option<&Value>) -> Result<Map<String, Value>, ErrorObject> {
    let expected = || {
        let list: Vec<String> = prompt
            .args
            .iter()
            .map(|a| {
                let required = if a.required { " (required)" } else { "" };
                format!("{}{required}", a.name)
            })
            .collect();
        format!("prompt '{}' takes: {}", prompt.name, list.join(", "))
    };
    let given = match given {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(map)) => map.clone(),
        Some(other) => {
            return Err(ErrorObject::invalid_params(format!(
                "`arguments` must be an object of strings, got {other}"
            )));
        }
    };
    for (name, value) in &given {
        if !prompt.args.iter().any(|a| a.name == name) {
            return Err(ErrorObject::invalid_params(format!(
                "unknown argument `{name}`: {}",
                expected()
            )));
        }
        if !value.is_string() {
            return Err(ErrorObject::invalid_params(format!(
                "argument `{name}` must be a string, got {value}"
            )));
        }
    }
    for arg in prompt.args.iter().filter(|a| a.required) {
        let present = given
            .get(arg.name)
            .and_then(Value::as_str)
            .is_some_and(|v| !v.trim().is_empty());
        if !present {
            return Err(ErrorObject::invalid_params(format!(
                "missing argument `{}`: {}",
                arg.name,
                expected()
            )));
        }
    }
    Ok(given)
}

fn plan_text(ctx: &mut Context, request: &str, execution: Option<&str>) -> Result<String, String> {
    let write = match execution {
        Some(id) => {
            let dag = tool_text(ctx, "enki_dag", json!({"execution_id": id}))?;
            format!(
                "3. Add the steps to execution {id} with enki_execution_add_steps; new steps may \
need its existing steps by their step ids. Its graph now:\n\n{dag}\n"
            )
        }
        None => "3. Write the steps with enki_execution_create (a single step: enki_task_create). \
A step `needs` the steps whose result it builds on (condition `merged` by default; `completed` or \
`started` when it need not wait for the merge).\n"
            .to_string(),
    };
    let roles = match ctx.roles() {
        Ok(roles) => roles.iter().map(role_line).collect::<Vec<_>>().join("\n"),
        Err(e) => format!("(the roles cannot be read: {e})"),
    };
    Ok(format!(
        "Plan this request as enki work:\n\n{request}\n\n\
1. See what exists already with enki_status, enki_task_list and enki_dag, so that no work is done twice.\n\
2. Split the request into steps that one worker can finish and check alone, in its own copy of the \
project. Give each step a short title and a description with everything the worker needs: the goal, \
the files or areas concerned, how to check the result.\n\
{write}\
4. Give each step a tier for its effort (light, standard, heavy) and a role when one fits; mark a step \
`checkpoint` when its result should be reviewed before the steps after it start.\n\
5. Follow progress with enki_dag and enki_task_show, and answer workers' mail (enki_mail_check, \
enki_mail_reply).\n\nRoles of this project:\n{roles}"
    ))
}

/// One line per role for the planner: name, label, what it does, and what
/// it leaves behind.
fn role_line(role: &Role) -> String {
    let mut notes = Vec::new();
    if !role.can_edit {
        notes.push("changes no files");
    }
    if role.output == OutputMode::Artifact {
        notes.push("writes a report");
    }
    let notes = if notes.is_empty() {
        String::new()
    } else {
        format!(" [{}]", notes.join(", "))
    };
    let label = if role.label.is_empty() {
        String::new()
    } else {
        format!(" ({})", role.label)
    };
    format!("- {}{label}: {}{notes}", role.name, role.description)
}

fn triage_text(ctx: &mut Context, execution: Option<&str>) -> Result<String, String> {
    let scope = match execution {
        Some(id) => format!("execution {id}"),
        None => "this session".to_string(),
    };
    let mut sections = Vec::new();
    let mut ids = Vec::new();
    for status in ["failed", "blocked"] {
        let mut arguments = json!({"status": status});
        if let (Some(id), Value::Object(map)) = (execution, &mut arguments) {
            map.insert("execution_id".into(), json!(id));
        }
        let output = tool_output(ctx, "enki_task_list", arguments)?;
        let tasks = output
            .structured
            .as_ref()
            .and_then(|d| d.get("tasks"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if tasks.is_empty() {
            continue;
        }
        ids.extend(
            tasks
                .iter()
                .filter_map(|t| t["id"].as_str().map(str::to_string)),
        );
        sections.push(format!("{} {status}:\n{}", tasks.len(), output.text));
    }
    if sections.is_empty() {
        return Ok(format!(
            "No task of {scope} is failed or blocked: there is nothing to triage. Check enki_status \
to be sure the work is moving."
        ));
    }
    let mut details = Vec::new();
    for id in ids.iter().take(TRIAGE_DETAILS) {
        details.push(tool_text(ctx, "enki_task_show", json!({"task_id": id}))?);
    }
    if ids.len() > TRIAGE_DETAILS {
        details.push(format!(
            "({} more: read them with enki_task_show)",
            ids.len() - TRIAGE_DETAILS
        ));
    }
    Ok(format!(
        "Triage the failed and blocked tasks of {scope}.\n\n{}\n\nDetails:\n\n{}\n\n\
For each failed task, say why it failed (its last error, its attempts) and propose one of: retry it \
with enki_task_retry (a passing problem, or once what it builds on is fixed); change the plan \
(enki_execution_add_steps with a corrected step, enki_cancel for a step that cannot succeed); or ask \
the user. A blocked task waits on a failed dependency and is unblocked when that dependency is \
retried. Propose first, and act only once the proposal is accepted.",
        sections.join("\n\n"),
        details.join("\n\n")
    ))
}

fn role_text(ctx: &mut Context, name: &str, task: Option<&str>) -> Result<String, String> {
    let role = ctx
        .roles()?
        .get(name)
        .cloned()
        .ok_or_else(|| format!("the role '{name}' is gone; list the prompts again"))?;
    let label = if role.label.is_empty() {
        role.name.clone()
    } else {
        format!("{} (role `{}`)", role.label, role.name)
    };
    let mut text = format!(
        "You work as {label}. {}\n\n{}",
        role.description, role.system_prompt
    );
    if !role.can_edit {
        text.push_str("\n\nThis role changes no files.");
    }
    if role.output == OutputMode::Artifact {
        text.push_str(
            "\n\nYour final answer is kept as a markdown report for the steps after you.",
        );
    }
    if let Some(task) = task {
        let detail = tool_text(ctx, "enki_task_show", json!({"task_id": task}))?;
        text.push_str(&format!("\n\nYour task:\n\n{detail}"));
    }
    Ok(text)
}

/// A fingerprint of a prompt list, to tell whether it changed.
pub fn fingerprint(list: &Value) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::hash::DefaultHasher::new();
    list.to_string().hash(&mut hasher);
    hasher.finish()
}
