//! The enki tools of the real `enki mcp` binary, spoken to over JSON-RPC:
//! tool lists per role, schemas, role refusals, argument validation, every
//! tool's happy path and main error, the signal files they write, the unread
//! mail notice, session scoping and the audit log (MCP.md, SIGNALS.md,
//! STATE.md).

use std::collections::HashMap;
use std::path::PathBuf;

use enki_core::TaskStatus;
use enki_store::{MailFilter, Store, TaskFilter, TaskRow};
use enki_tests::{McpClient, Project, text_of};
use serde_json::{Value, json};

// ----- helpers -------------------------------------------------------------

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

fn store(project: &Project) -> Store {
    Store::open(&project.db_path()).expect("open the project database")
}

fn all_tasks(project: &Project) -> Vec<TaskRow> {
    store(project).tasks(&TaskFilter::default()).expect("list tasks")
}

fn task_row(project: &Project, task_id: &str) -> TaskRow {
    store(project)
        .task(task_id)
        .expect("read task")
        .unwrap_or_else(|| panic!("task {task_id} is missing"))
}

fn set_status(project: &Project, task_id: &str, status: TaskStatus) {
    store(project).set_task_status(task_id, status).expect("set task status");
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
        self.tasks.get(step).unwrap_or_else(|| panic!("no step {step}"))
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
    let result = client.call_ok("enki_execution_create", json!({"title": "plan", "steps": steps}));
    let data = &result["structuredContent"];
    Execution {
        id: data["execution_id"].as_str().expect("execution_id").to_string(),
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
fn refused_without_effect(project: &Project, client: &mut McpClient, tool: &str, arguments: Value) -> String {
    let before = snapshot(project);
    let text = client.call_err(tool, arguments);
    assert_eq!(snapshot(project), before, "{tool} failed but changed something: {text}");
    text
}

/// The one signal file waiting; fails if there is not exactly one.
fn only_signal(project: &Project) -> Value {
    let signals = project.signals();
    assert_eq!(signals.len(), 1, "expected exactly one signal: {signals:#?}");
    signals.into_iter().next().unwrap_or_default()
}

/// Checks the envelope every signal carries.
fn assert_envelope(signal: &Value, kind: &str, role: &str, task_id: Option<&str>) {
    assert_eq!(signal["v"], 1, "{signal}");
    assert_eq!(signal["type"], kind, "{signal}");
    assert!(signal["at"].as_str().is_some_and(|at| at.contains('T')), "{signal}");
    assert!(signal.get("session").is_some(), "session key present: {signal}");
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

/// The `N:hash` anchors of a hashline read, by line number (1-based).
fn anchors(read_text: &str) -> Vec<String> {
    read_text
        .lines()
        .filter_map(|line| {
            let (anchor, _) = line.split_once('|')?;
            let (number, hash) = anchor.split_once(':')?;
            (number.parse::<usize>().is_ok() && hash.len() == 4).then(|| anchor.to_string())
        })
        .collect()
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
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

fn tools_of(client: &mut McpClient) -> Vec<Value> {
    client.request("tools/list", json!({}))["result"]["tools"]
        .as_array()
        .expect("tools array")
        .clone()
}

const READ_TOOLS: &[&str] = &[
    "enki_status",
    "enki_task_list",
    "enki_task_show",
    "enki_dag",
    "enki_read_file",
    "enki_mail_check",
    "enki_mail_inbox",
    "enki_mail_thread",
];

/// Tools whose repeated call with the same arguments changes things again.
const NOT_IDEMPOTENT: &[&str] = &[
    "enki_task_create",
    "enki_execution_create",
    "enki_execution_add_steps",
    "enki_mail_send",
    "enki_mail_reply",
    "enki_edit_file",
];

// ----- tool lists and descriptions -----------------------------------------

#[test]
fn each_role_lists_exactly_its_tools() {
    let project = Project::new();
    let planner_tools = [
        "enki_status",
        "enki_task_list",
        "enki_task_show",
        "enki_dag",
        "enki_task_create",
        "enki_execution_create",
        "enki_execution_add_steps",
        "enki_task_retry",
        "enki_pause",
        "enki_resume",
        "enki_cancel",
        "enki_stop_all",
        "enki_mail_send",
        "enki_mail_check",
        "enki_mail_read",
        "enki_mail_inbox",
        "enki_mail_reply",
        "enki_mail_thread",
    ];
    let worker_tools = [
        "enki_status",
        "enki_task_list",
        "enki_task_show",
        "enki_dag",
        "enki_worker_report",
        "enki_read_file",
        "enki_edit_file",
        "enki_mail_send",
        "enki_mail_check",
        "enki_mail_read",
        "enki_mail_inbox",
        "enki_mail_reply",
        "enki_mail_thread",
    ];
    let no_edit_tools: Vec<&str> = worker_tools.iter().copied().filter(|t| *t != "enki_edit_file").collect();
    let merger_tools = ["enki_status", "enki_task_list", "enki_task_show", "enki_dag"];

    assert_eq!(project.mcp(&[]).tool_names(), names(&planner_tools), "planner is the default role");
    assert_eq!(project.mcp(&["--role", "planner"]).tool_names(), names(&planner_tools));
    assert_eq!(project.mcp(&["--role", "worker", "--task-id", "task-01"]).tool_names(), names(&worker_tools));
    assert_eq!(
        project.mcp(&["--role", "worker", "--task-id", "task-01", "--no-edit"]).tool_names(),
        names(&no_edit_tools)
    );
    assert_eq!(project.mcp(&["--role", "merger", "--task-id", "task-01"]).tool_names(), names(&merger_tools));
}

#[test]
fn every_tool_has_a_strict_schema_and_truthful_annotations() {
    let project = Project::new();
    let mut tools = tools_of(&mut project.mcp(&["--role", "planner"]));
    tools.extend(tools_of(&mut project.mcp(&["--role", "worker", "--task-id", "task-01"])));
    let mut seen = std::collections::BTreeSet::new();
    for tool in &tools {
        let name = tool["name"].as_str().expect("name");
        seen.insert(name.to_string());
        assert!(tool["title"].as_str().is_some_and(|t| !t.is_empty()), "{name}: title");
        assert!(tool["description"].as_str().is_some_and(|d| d.len() > 10), "{name}: description");
        let schema = &tool["inputSchema"];
        assert_eq!(schema["type"], "object", "{name}: {schema}");
        assert_eq!(schema["additionalProperties"], false, "{name}: {schema}");
        assert!(schema["properties"].is_object(), "{name}: {schema}");
        let required = schema["required"].as_array().unwrap_or_else(|| panic!("{name}: required array: {schema}"));
        for field in required {
            let field = field.as_str().expect("required names are strings");
            assert!(schema["properties"].get(field).is_some(), "{name}: required `{field}` is a property");
        }
        let hints = &tool["annotations"];
        for hint in ["readOnlyHint", "destructiveHint", "idempotentHint", "openWorldHint"] {
            assert!(hints[hint].is_boolean(), "{name}: {hint} in {hints}");
        }
        assert_eq!(hints["openWorldHint"], false, "{name}");
        let read_only = READ_TOOLS.contains(&name);
        assert_eq!(hints["readOnlyHint"], read_only, "{name}: readOnlyHint");
        let destructive = ["enki_cancel", "enki_stop_all", "enki_edit_file"].contains(&name);
        assert_eq!(hints["destructiveHint"], destructive, "{name}: destructiveHint");
        if read_only {
            assert_eq!(hints["idempotentHint"], true, "{name}: a read is idempotent");
        }
    }
    assert_eq!(seen.len(), 21, "planner and worker together offer every tool: {seen:?}");

    let schema_of = |name: &str| -> Value {
        tools
            .iter()
            .find(|t| t["name"] == name)
            .map(|t| t["inputSchema"].clone())
            .unwrap_or_else(|| panic!("{name} is listed"))
    };
    let required = |name: &str| schema_of(name)["required"].clone();
    assert_eq!(required("enki_task_create"), json!(["title"]));
    assert_eq!(required("enki_execution_create"), json!(["steps"]));
    assert_eq!(required("enki_execution_add_steps"), json!(["execution_id", "steps"]));
    assert_eq!(required("enki_task_show"), json!(["task_id"]));
    assert_eq!(required("enki_worker_report"), json!(["status"]));
    assert_eq!(required("enki_status"), json!([]));
    assert_eq!(required("enki_mail_send"), json!(["to", "subject", "body"]));
    let tier = schema_of("enki_task_create")["properties"]["tier"].to_string();
    for level in ["light", "standard", "heavy"] {
        assert!(tier.contains(level), "tier schema lists {level}: {tier}");
    }
}

#[test]
fn tools_that_add_or_append_are_not_marked_idempotent() {
    let project = Project::new();
    let mut tools = tools_of(&mut project.mcp(&["--role", "planner"]));
    tools.extend(tools_of(&mut project.mcp(&["--role", "worker", "--task-id", "task-01"])));
    for name in NOT_IDEMPOTENT {
        let tool = tools.iter().find(|t| t["name"] == *name).expect("listed");
        assert_eq!(tool["annotations"]["readOnlyHint"], false, "{name}");
        assert_eq!(
            tool["annotations"]["idempotentHint"], false,
            "{name}: calling it twice with the same arguments changes things twice"
        );
    }
}

#[test]
fn the_same_append_twice_appends_twice_so_edit_file_is_not_idempotent() {
    // Evidence for the annotation above: `idempotentHint: true` on
    // enki_edit_file promises that a repeated call has no additional effect.
    let project = Project::new();
    let task = create_task(&mut planner(&project), "edit");
    std::fs::create_dir_all(copy_dir(&project, &task)).unwrap();
    let mut client = worker(&project, &task);
    let edit = json!({"path": "log.txt", "edits": [{"op": "append", "lines": ["entry"]}]});
    client.call_ok("enki_edit_file", edit.clone());
    client.call_ok("enki_edit_file", edit);
    let text = std::fs::read_to_string(copy_dir(&project, &task).join("log.txt")).unwrap();
    assert_eq!(text, "entry\nentry\n");
    let tools = tools_of(&mut client);
    let hint = &tools.iter().find(|t| t["name"] == "enki_edit_file").expect("listed")["annotations"]["idempotentHint"];
    assert_eq!(hint, &json!(false), "enki_edit_file is annotated idempotent but is not");
}

// ----- role refusals --------------------------------------------------------

#[test]
fn a_worker_cannot_create_tasks_and_the_refusal_has_no_side_effect() {
    let project = Project::new();
    let task = create_task(&mut planner(&project), "existing");
    project.clear_signals();
    let mut client = worker(&project, &task);
    let audit_before = project.audit_lines().len();

    let text = refused_without_effect(&project, &mut client, "enki_task_create", json!({"title": "sneaky"}));
    assert_eq!(text, "tool 'enki_task_create' is not available for role 'worker'");
    assert_eq!(all_tasks(&project).len(), 1, "no task was written");
    assert!(project.signals().is_empty(), "no signal file");

    let audit = project.audit_lines();
    assert_eq!(audit.len(), audit_before + 1);
    let line = &audit[audit_before];
    assert_eq!(line["tool"], "enki_task_create");
    assert_eq!(line["role"], "worker");
    assert_eq!(line["task"], task.as_str());
    assert_eq!(line["outcome"], "refused");
}

#[test]
fn a_merger_cannot_send_mail_and_a_no_edit_worker_cannot_edit() {
    let project = Project::new();
    let task = create_task(&mut planner(&project), "work");
    project.clear_signals();
    std::fs::create_dir_all(copy_dir(&project, &task)).unwrap();

    let mut merger = project.mcp(&["--role", "merger", "--task-id", &task]);
    let text = refused_without_effect(
        &project,
        &mut merger,
        "enki_mail_send",
        json!({"to": "coordinator", "subject": "hi", "body": "x"}),
    );
    assert_eq!(text, "tool 'enki_mail_send' is not available for role 'merger'");
    assert_eq!(last_audit(&project)["outcome"], "refused");

    let mut reader = project.mcp(&["--role", "worker", "--task-id", &task, "--no-edit"]);
    let text = refused_without_effect(
        &project,
        &mut reader,
        "enki_edit_file",
        json!({"path": "new.txt", "edits": [{"op": "append", "lines": ["x"]}]}),
    );
    assert_eq!(text, "tool 'enki_edit_file' is not available for role 'worker'");
    assert!(!copy_dir(&project, &task).join("new.txt").exists(), "nothing was written");
    assert_eq!(last_audit(&project)["outcome"], "refused");
    // The same worker may still read.
    std::fs::write(copy_dir(&project, &task).join("a.txt"), "x\n").unwrap();
    reader.call_ok("enki_read_file", json!({"path": "a.txt"}));
}

// ----- argument validation --------------------------------------------------

#[test]
fn task_create_arguments_are_validated_without_side_effects() {
    let project = Project::new();
    let mut client = planner(&project);
    let existing = create_task(&mut client, "existing");
    project.clear_signals();
    let mut fails = |arguments: Value| refused_without_effect(&project, &mut client, "enki_task_create", arguments);

    let text = fails(json!({"description": "no title"}));
    assert!(text.contains("title"), "{text}");

    let text = fails(json!({"title": 5}));
    assert!(text.contains("title") && text.contains("string"), "{text}");

    let text = fails(json!({"title": "t", "tier": "huge"}));
    assert!(text.contains("tier") && text.contains("huge"), "{text}");
    for level in ["light", "standard", "heavy"] {
        assert!(text.contains(level), "lists {level}: {text}");
    }

    let text = fails(json!({"title": "t", "colour": "red"}));
    assert!(text.contains("colour"), "{text}");

    let text = fails(json!({"title": "t", "needs": [{"task": existing, "condition": "soon"}]}));
    assert!(text.contains("needs") && text.contains("soon"), "{text}");
    assert!(text.contains("merged") && text.contains("started"), "lists the conditions: {text}");

    let text = fails(json!({"title": "t", "needs": [{"task": existing, "when": "now"}]}));
    assert!(text.contains("when"), "{text}");

    let text = fails(json!({"title": "t", "role": "wizard"}));
    assert!(text.contains("role") && text.contains("wizard") && text.contains("researcher"), "{text}");

    let missing = "task-01ZZZZZZZZZZZZZZZZZZZZZZZZ";
    let text = fails(json!({"title": "t", "needs": [missing]}));
    assert!(text.contains(missing), "names the missing task: {text}");

    let text = fails(json!({"title": "   "}));
    assert!(text.contains("title"), "{text}");

    assert_eq!(all_tasks(&project).len(), 1);
    assert!(project.signals().is_empty());
}

#[test]
fn execution_create_validates_the_graph_without_side_effects() {
    let project = Project::new();
    let mut client = planner(&project);
    let mut fails = |steps: Value| refused_without_effect(&project, &mut client, "enki_execution_create", json!({"steps": steps}));

    let text = fails(json!([{"id": "a", "title": "A", "role": "wizard"}]));
    assert!(text.contains("steps[0].role") && text.contains("wizard"), "{text}");
    for role in ["feature_developer", "bug_fixer", "ralph", "researcher", "code_referencer", "documenter"] {
        assert!(text.contains(role), "lists {role}: {text}");
    }

    let text = fails(json!([
        {"id": "a", "title": "A", "needs": ["b"]},
        {"id": "b", "title": "B", "needs": ["a"]},
    ]));
    assert!(text.contains("cycle") && text.contains("a") && text.contains("b"), "{text}");

    let text = fails(json!([{"id": "a", "title": "A", "needs": [{"step": "a"}]}]));
    assert!(text.contains("itself") && text.contains("'a'"), "{text}");

    let text = fails(json!([{"id": "a", "title": "A"}, {"id": "a", "title": "again"}]));
    assert!(text.contains("'a'") && text.contains("more than once"), "{text}");

    let text = fails(json!([{"id": "a", "title": "A", "needs": ["ghost"]}]));
    assert!(text.contains("ghost"), "{text}");

    let missing = "task-01ZZZZZZZZZZZZZZZZZZZZZZZZ";
    let text = fails(json!([
        {"id": "a", "title": "A"},
        {"id": "b", "title": "B", "needs": ["a", {"task": missing}]},
    ]));
    assert!(text.contains(missing), "{text}");

    let text = fails(json!([{"id": "a", "title": "A", "needs": [{"step": "x", "task": "y"}]}]));
    assert!(text.contains("step") && text.contains("task"), "{text}");

    let text = fails(json!([{"id": "a", "title": "A", "needs": [{"step": "b", "condition": "later"}]}, {"id": "b", "title": "B"}]));
    assert!(text.contains("later") && text.contains("completed"), "{text}");

    let text = fails(json!([]));
    assert!(text.contains("at least one step"), "{text}");

    let text = fails(json!([{"id": "a b", "title": "A"}]));
    assert!(text.contains("a b"), "{text}");

    assert!(all_tasks(&project).is_empty());
    assert!(project.signals().is_empty());
}

#[test]
fn an_ambiguous_id_prefix_lists_the_candidates() {
    let project = Project::new();
    let mut client = planner(&project);
    let first = create_task(&mut client, "one");
    let second = create_task(&mut client, "two");
    let common: String = first
        .chars()
        .zip(second.chars())
        .take_while(|(a, b)| a == b)
        .map(|(a, _)| a)
        .collect();
    assert!(common.len() > "task-".len(), "ids made together share a time prefix: {common}");

    let text = client.call_err("enki_task_show", json!({"task_id": common}));
    assert!(text.contains("ambiguous"), "{text}");
    assert!(text.contains(&first) && text.contains(&second), "lists the candidates: {text}");

    let text = client.call_err("enki_task_show", json!({"task_id": "task-"}));
    assert!(text.contains("task-"), "{text}");
    let text = client.call_err("enki_task_show", json!({"task_id": "task-01ZZZZZZZZZZ"}));
    assert!(text.contains("no task matches"), "{text}");

    // A unique prefix works, with or without the kind prefix and in lower case.
    let unique = &first[..first.len() - 2];
    let shown = client.call_ok("enki_task_show", json!({"task_id": unique.to_lowercase()}));
    assert_eq!(shown["structuredContent"]["task"]["id"], first.as_str());
}

// ----- reading --------------------------------------------------------------

#[test]
fn status_counts_this_sessions_tasks_by_status() {
    let project = Project::new();
    let mut client = planner(&project);
    let result = client.call_ok("enki_status", json!({}));
    assert_eq!(result["structuredContent"]["total"], 0);
    assert_eq!(text_of(&result), "no tasks yet");

    let plan = chain(&mut client);
    create_task(&mut client, "standalone");
    set_status(&project, plan.task("a"), TaskStatus::Running);

    let result = client.call_ok("enki_status", json!({}));
    let data = &result["structuredContent"];
    assert_eq!(data["total"], 4);
    assert_eq!(data["by_status"], json!({"pending": 3, "running": 1}));
    assert_eq!(data["running_workers"], 1);
    assert_eq!(data["merge_queue"], 0);
    assert_eq!(data["executions_active"], 2);
    let text = text_of(&result);
    assert!(text.contains("4 tasks") && text.contains("3 pending") && text.contains("1 running"), "{text}");
}

#[test]
fn task_list_filters_by_status_and_execution() {
    let project = Project::new();
    let mut client = planner(&project);
    let plan = chain(&mut client);
    let single = create_task(&mut client, "standalone job");
    set_status(&project, plan.task("b"), TaskStatus::Failed);

    let ids = |result: &Value| -> Vec<String> {
        result["structuredContent"]["tasks"]
            .as_array()
            .expect("tasks array")
            .iter()
            .map(|t| t["id"].as_str().expect("id").to_string())
            .collect()
    };
    let all = client.call_ok("enki_task_list", json!({}));
    assert_eq!(ids(&all).len(), 4);
    let text = text_of(&all);
    assert!(text.contains("standalone job") && text.contains("failed") && text.contains("standard"), "{text}");
    assert!(text.contains(enki_core::id::short(&single)), "short ids: {text}");
    assert_eq!(text.lines().count(), 4, "one line per task: {text}");

    let failed = client.call_ok("enki_task_list", json!({"status": "failed"}));
    assert_eq!(ids(&failed), vec![plan.task("b").to_string()]);

    let in_plan = client.call_ok("enki_task_list", json!({"execution_id": plan.id}));
    assert_eq!(ids(&in_plan), vec![plan.task("a"), plan.task("b"), plan.task("c")]);

    let short_exec = enki_core::id::short(&plan.id);
    let both = client.call_ok("enki_task_list", json!({"execution_id": short_exec, "status": "pending"}));
    assert_eq!(ids(&both), vec![plan.task("a"), plan.task("c")]);

    let text = client.call_err("enki_task_list", json!({"status": "sleeping"}));
    assert!(text.contains("status") && text.contains("pending"), "{text}");
    let text = client.call_err("enki_task_list", json!({"execution_id": "exec-01ZZZZZZZZ"}));
    assert!(text.contains("no execution matches"), "{text}");
}

