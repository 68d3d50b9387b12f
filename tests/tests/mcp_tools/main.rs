//! The enki tools of the real `enki mcp` binary, spoken to over JSON-RPC:
//! tool lists per role, schemas, role refusals, argument validation, every
//! tool's happy path and main error, the signal files they write, the unread
//! mail notice, session scoping and the audit log (MCP.md, SIGNALS.md,
//! STATE.md), and the limits (rate, result size, pages, logs, confirmation
//! of destructive tools, a busy database: docs/MCP.md). This file holds the
//! helpers the groups below share.
// An integration test: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod audit;
mod busy;
mod catalogue;
mod confirmation;
mod limits;
mod mail_reading;
mod mail_sending;
mod mail_threads;
mod paging;
mod planning;
mod reading;
mod refusals;
mod steering;
mod worker_tools;

use std::collections::HashMap;
use std::path::PathBuf;

use enki_core::TaskStatus;
use enki_store::{MailFilter, Store, TaskFilter, TaskRow};
use enki_tests::{McpClient, Project};
use serde_json::{Value, json};

// ----- clients, the store, executions, signals ------------------------------

fn planner(project: &Project) -> McpClient {
    project.mcp(&["--role", "planner"])
}

fn worker(project: &Project, task_id: &str) -> McpClient {
    project.mcp(&["--role", "worker", "--task-id", task_id])
}

/// An initialized server with extra environment.
fn mcp_with_env(project: &Project, args: &[&str], env: &[(&str, &str)]) -> McpClient {
    let mut client = project.mcp_uninitialized(args, env);
    client.initialize();
    client
}

/// Writes `.enki/enki.toml`; a server reads it when it starts.
fn configure(project: &Project, toml: &str) {
    std::fs::write(project.enki_dir().join("enki.toml"), toml).expect("write enki.toml");
}

fn store(project: &Project) -> Store {
    Store::open(&project.db_path()).expect("open the project database")
}

fn task_row(project: &Project, task_id: &str) -> TaskRow {
    store(project)
        .task(task_id)
        .expect("read task")
        .unwrap_or_else(|| panic!("task {task_id} is missing"))
}

fn set_status(project: &Project, task_id: &str, status: TaskStatus) {
    store(project)
        .set_task_status(task_id, status)
        .expect("set task status");
}

/// Creates a standalone task through the tool; returns its full id.
fn create_task(client: &mut McpClient, title: &str) -> String {
    let result = client.call_ok("enki_task_create", json!({"title": title}));
    result["structuredContent"]["task_id"]
        .as_str()
        .expect("task_id in structuredContent")
        .to_string()
}

/// An execution created through the tool: its id and step id -> task id.
struct Execution {
    id: String,
    tasks: HashMap<String, String>,
}

impl Execution {
    fn task(&self, step: &str) -> &str {
        self.tasks
            .get(step)
            .unwrap_or_else(|| panic!("no step {step}"))
    }
}

fn steps_of(data: &Value) -> HashMap<String, String> {
    data["steps"]
        .as_array()
        .expect("steps in structuredContent")
        .iter()
        .map(|s| {
            (
                s["step_id"].as_str().expect("step_id").to_string(),
                s["task_id"].as_str().expect("task_id").to_string(),
            )
        })
        .collect()
}

fn create_execution(client: &mut McpClient, steps: Value) -> Execution {
    let result = client.call_ok(
        "enki_execution_create",
        json!({"title": "plan", "steps": steps}),
    );
    let data = &result["structuredContent"];
    Execution {
        id: data["execution_id"]
            .as_str()
            .expect("execution_id")
            .to_string(),
        tasks: steps_of(data),
    }
}

/// a <- b <- c, all with the default condition.
fn chain(client: &mut McpClient) -> Execution {
    create_execution(
        client,
        json!([
            {"id": "a", "title": "first"},
            {"id": "b", "title": "second", "needs": ["a"]},
            {"id": "c", "title": "third", "needs": ["b"]},
        ]),
    )
}

/// What the tools can change; compared before and after a refused call.
#[derive(Debug, PartialEq, Eq)]
struct Snapshot {
    tasks: usize,
    executions: usize,
    messages: usize,
    signals: usize,
}

fn snapshot(project: &Project) -> Snapshot {
    let store = store(project);
    Snapshot {
        tasks: store.tasks(&TaskFilter::default()).expect("tasks").len(),
        executions: store.executions(None).expect("executions").len(),
        messages: store
            .messages(&MailFilter {
                include_expired: true,
                ..MailFilter::default()
            })
            .expect("messages")
            .len(),
        signals: project.signals().len(),
    }
}

/// Calls a tool that must fail without changing anything; returns the text.
fn refused_without_effect(
    project: &Project,
    client: &mut McpClient,
    tool: &str,
    arguments: Value,
) -> String {
    let before = snapshot(project);
    let text = client.call_err(tool, arguments);
    assert_eq!(
        snapshot(project),
        before,
        "{tool} failed but changed something: {text}"
    );
    text
}

/// The one signal file waiting; fails if there is not exactly one.
fn only_signal(project: &Project) -> Value {
    let signals = project.signals();
    assert_eq!(
        signals.len(),
        1,
        "expected exactly one signal: {signals:#?}"
    );
    signals.into_iter().next().unwrap_or_default()
}

/// Checks the envelope every signal carries.
fn assert_envelope(signal: &Value, kind: &str, role: &str, task_id: Option<&str>) {
    assert_eq!(signal["v"], 1, "{signal}");
    assert_eq!(signal["type"], kind, "{signal}");
    assert!(
        signal["at"].as_str().is_some_and(|at| at.contains('T')),
        "{signal}"
    );
    assert!(
        signal.get("session").is_some(),
        "session key present: {signal}"
    );
    assert_eq!(signal["from"]["role"], role, "{signal}");
    assert_eq!(signal["from"]["task_id"], json!(task_id), "{signal}");
}

fn last_audit(project: &Project) -> Value {
    project.audit_lines().pop().expect("an audit line")
}

/// The folder enki uses as a task's worker copy.
fn copy_dir(project: &Project, task_id: &str) -> PathBuf {
    project.enki_dir().join("copies").join(task_id)
}

fn tools_of(client: &mut McpClient) -> Vec<Value> {
    client.request("tools/list", json!({}))["result"]["tools"]
        .as_array()
        .expect("tools array")
        .clone()
}

// ----- files ---------------------------------------------------------------

/// A task, its copy folder with `src.txt` (three lines), and a worker for it.
fn worker_with_copy(project: &Project) -> (String, PathBuf, McpClient) {
    let task = create_task(&mut planner(project), "edit files");
    let copy = copy_dir(project, &task);
    std::fs::create_dir_all(&copy).unwrap();
    std::fs::write(copy.join("src.txt"), "alpha\nbeta\ngamma\n").unwrap();
    project.clear_signals();
    let client = worker(project, &task);
    (task, copy, client)
}

// ----- mail ----------------------------------------------------------------

/// A planner, two tasks with a worker each.
struct MailSetup {
    planner: McpClient,
    a: String,
    b: String,
}

fn mail_setup(project: &Project) -> MailSetup {
    let mut planner = planner(project);
    let a = create_task(&mut planner, "worker a");
    let b = create_task(&mut planner, "worker b");
    project.clear_signals();
    MailSetup { planner, a, b }
}

fn send(client: &mut McpClient, to: &str, subject: &str, extra: Value) -> Value {
    let mut arguments = json!({"to": to, "subject": subject, "body": format!("body of {subject}")});
    if let (Some(map), Value::Object(more)) = (arguments.as_object_mut(), extra) {
        map.extend(more);
    }
    client.call_ok("enki_mail_send", arguments)
}

fn stored_message(project: &Project, id: &str) -> enki_store::MessageRow {
    store(project)
        .message(id)
        .unwrap()
        .unwrap_or_else(|| panic!("message {id} stored"))
}

fn message_ids(result: &Value) -> Vec<String> {
    result["structuredContent"]["messages"]
        .as_array()
        .expect("messages array")
        .iter()
        .map(|m| m["id"].as_str().expect("message id").to_string())
        .collect()
}

fn first_message_id(send_result: &Value) -> String {
    send_result["structuredContent"]["message_ids"][0]
        .as_str()
        .expect("message id")
        .to_string()
}
