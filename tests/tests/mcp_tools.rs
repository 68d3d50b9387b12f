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
    store(project)
        .tasks(&TaskFilter::default())
        .expect("list tasks")
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
    "enki_worker_report",
    "enki_mail_send",
    "enki_mail_reply",
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
    let no_edit_tools: Vec<&str> = worker_tools
        .iter()
        .copied()
        .filter(|t| *t != "enki_edit_file")
        .collect();
    let merger_tools = [
        "enki_status",
        "enki_task_list",
        "enki_task_show",
        "enki_dag",
    ];

    assert_eq!(
        project.mcp(&[]).tool_names(),
        names(&planner_tools),
        "planner is the default role"
    );
    assert_eq!(
        project.mcp(&["--role", "planner"]).tool_names(),
        names(&planner_tools)
    );
    assert_eq!(
        project
            .mcp(&["--role", "worker", "--task-id", "task-01"])
            .tool_names(),
        names(&worker_tools)
    );
    assert_eq!(
        project
            .mcp(&["--role", "worker", "--task-id", "task-01", "--no-edit"])
            .tool_names(),
        names(&no_edit_tools)
    );
    assert_eq!(
        project
            .mcp(&["--role", "merger", "--task-id", "task-01"])
            .tool_names(),
        names(&merger_tools)
    );
}

#[test]
fn every_tool_has_a_strict_schema_and_truthful_annotations() {
    let project = Project::new();
    let mut tools = tools_of(&mut project.mcp(&["--role", "planner"]));
    tools.extend(tools_of(&mut project.mcp(&[
        "--role",
        "worker",
        "--task-id",
        "task-01",
    ])));
    let mut seen = std::collections::BTreeSet::new();
    for tool in &tools {
        let name = tool["name"].as_str().expect("name");
        seen.insert(name.to_string());
        assert!(
            tool["title"].as_str().is_some_and(|t| !t.is_empty()),
            "{name}: title"
        );
        assert!(
            tool["description"].as_str().is_some_and(|d| d.len() > 10),
            "{name}: description"
        );
        let schema = &tool["inputSchema"];
        assert_eq!(schema["type"], "object", "{name}: {schema}");
        assert_eq!(schema["additionalProperties"], false, "{name}: {schema}");
        assert!(schema["properties"].is_object(), "{name}: {schema}");
        let text = schema.to_string();
        assert!(
            !text.contains("$ref") && !text.contains("$defs"),
            "{name}: self-contained schema: {text}"
        );
        let required = schema["required"]
            .as_array()
            .unwrap_or_else(|| panic!("{name}: required array: {schema}"));
        for field in required {
            let field = field.as_str().expect("required names are strings");
            assert!(
                schema["properties"].get(field).is_some(),
                "{name}: required `{field}` is a property"
            );
        }
        let hints = &tool["annotations"];
        for hint in [
            "readOnlyHint",
            "destructiveHint",
            "idempotentHint",
            "openWorldHint",
        ] {
            assert!(hints[hint].is_boolean(), "{name}: {hint} in {hints}");
        }
        assert_eq!(hints["openWorldHint"], false, "{name}");
        let read_only = READ_TOOLS.contains(&name);
        assert_eq!(hints["readOnlyHint"], read_only, "{name}: readOnlyHint");
        let destructive = ["enki_cancel", "enki_stop_all", "enki_edit_file"].contains(&name);
        assert_eq!(
            hints["destructiveHint"], destructive,
            "{name}: destructiveHint"
        );
        if read_only {
            assert_eq!(
                hints["idempotentHint"], true,
                "{name}: a read is idempotent"
            );
        }
    }
    assert_eq!(
        seen.len(),
        21,
        "planner and worker together offer every tool: {seen:?}"
    );

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
    assert_eq!(
        required("enki_execution_add_steps"),
        json!(["execution_id", "steps"])
    );
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
fn tools_that_add_are_not_marked_idempotent() {
    let project = Project::new();
    let mut tools = tools_of(&mut project.mcp(&["--role", "planner"]));
    tools.extend(tools_of(&mut project.mcp(&[
        "--role",
        "worker",
        "--task-id",
        "task-01",
    ])));
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
fn edit_file_is_not_idempotent_and_must_not_be_annotated_so() {
    // `idempotentHint: true` promises that repeating a call with the same
    // arguments has no additional effect; an append (or insert) repeated
    // edits the file again, so the hint must be false (MCP.md: annotations
    // "true to what the tool does").
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
    let hint = &tools
        .iter()
        .find(|t| t["name"] == "enki_edit_file")
        .expect("listed")["annotations"]["idempotentHint"];
    assert_eq!(
        hint,
        &json!(false),
        "enki_edit_file is annotated idempotent but is not"
    );
}

// ----- role refusals --------------------------------------------------------

#[test]
fn a_worker_cannot_create_tasks_and_the_refusal_has_no_side_effect() {
    let project = Project::new();
    let task = create_task(&mut planner(&project), "existing");
    project.clear_signals();
    let mut client = worker(&project, &task);
    let audit_before = project.audit_lines().len();

    let text = refused_without_effect(
        &project,
        &mut client,
        "enki_task_create",
        json!({"title": "sneaky"}),
    );
    assert_eq!(
        text,
        "tool 'enki_task_create' is not available for role 'worker'"
    );
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
    assert_eq!(
        text,
        "tool 'enki_mail_send' is not available for role 'merger'"
    );
    assert_eq!(last_audit(&project)["outcome"], "refused");

    let mut reader = project.mcp(&["--role", "worker", "--task-id", &task, "--no-edit"]);
    let text = refused_without_effect(
        &project,
        &mut reader,
        "enki_edit_file",
        json!({"path": "new.txt", "edits": [{"op": "append", "lines": ["x"]}]}),
    );
    assert_eq!(
        text,
        "tool 'enki_edit_file' is not available for role 'worker'"
    );
    assert!(
        !copy_dir(&project, &task).join("new.txt").exists(),
        "nothing was written"
    );
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
    let mut fails = |arguments: Value| {
        refused_without_effect(&project, &mut client, "enki_task_create", arguments)
    };

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
    assert!(
        text.contains("merged") && text.contains("started"),
        "lists the conditions: {text}"
    );

    let text = fails(json!({"title": "t", "needs": [{"task": existing, "when": "now"}]}));
    assert!(text.contains("when"), "{text}");

    let text = fails(json!({"title": "t", "role": "wizard"}));
    assert!(
        text.contains("role") && text.contains("wizard") && text.contains("researcher"),
        "{text}"
    );

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
    let mut fails = |steps: Value| {
        refused_without_effect(
            &project,
            &mut client,
            "enki_execution_create",
            json!({"steps": steps}),
        )
    };

    let text = fails(json!([{"id": "a", "title": "A", "role": "wizard"}]));
    assert!(
        text.contains("steps[0].role") && text.contains("wizard"),
        "{text}"
    );
    for role in [
        "feature_developer",
        "bug_fixer",
        "ralph",
        "researcher",
        "code_referencer",
        "documenter",
    ] {
        assert!(text.contains(role), "lists {role}: {text}");
    }

    let text = fails(json!([
        {"id": "a", "title": "A", "needs": ["b"]},
        {"id": "b", "title": "B", "needs": ["a"]},
    ]));
    assert!(
        text.contains("cycle") && text.contains("a") && text.contains("b"),
        "{text}"
    );

    let text = fails(json!([{"id": "a", "title": "A", "needs": [{"step": "a"}]}]));
    assert!(text.contains("itself") && text.contains("'a'"), "{text}");

    let text = fails(json!([{"id": "a", "title": "A"}, {"id": "a", "title": "again"}]));
    assert!(
        text.contains("'a'") && text.contains("more than once"),
        "{text}"
    );

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

    let text = fails(
        json!([{"id": "a", "title": "A", "needs": [{"step": "b", "condition": "later"}]}, {"id": "b", "title": "B"}]),
    );
    assert!(
        text.contains("later") && text.contains("completed"),
        "{text}"
    );

    let text = fails(json!([]));
    assert!(
        text.contains("`steps`") && text.contains("at least one"),
        "{text}"
    );

    let text = fails(json!([{"id": "a b", "title": "A"}]));
    assert!(
        text.contains("steps[0].id") && text.contains("a b"),
        "{text}"
    );

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
    assert!(
        common.len() > "task-".len(),
        "ids made together share a time prefix: {common}"
    );

    let text = client.call_err("enki_task_show", json!({"task_id": common}));
    assert!(text.contains("ambiguous"), "{text}");
    assert!(
        text.contains(&first) && text.contains(&second),
        "lists the candidates: {text}"
    );

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
    assert!(
        text.contains("4 tasks") && text.contains("3 pending") && text.contains("1 running"),
        "{text}"
    );
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
    assert!(
        text.contains("standalone job") && text.contains("failed") && text.contains("standard"),
        "{text}"
    );
    assert!(
        text.contains(enki_core::id::short(&single)),
        "short ids: {text}"
    );
    assert_eq!(text.lines().count(), 4, "one line per task: {text}");

    let failed = client.call_ok("enki_task_list", json!({"status": "failed"}));
    assert_eq!(ids(&failed), vec![plan.task("b").to_string()]);

    let in_plan = client.call_ok("enki_task_list", json!({"execution_id": plan.id}));
    assert_eq!(
        ids(&in_plan),
        vec![plan.task("a"), plan.task("b"), plan.task("c")]
    );

    let short_exec = enki_core::id::short(&plan.id);
    let both = client.call_ok(
        "enki_task_list",
        json!({"execution_id": short_exec, "status": "pending"}),
    );
    assert_eq!(ids(&both), vec![plan.task("a"), plan.task("c")]);

    let text = client.call_err("enki_task_list", json!({"status": "sleeping"}));
    assert!(
        text.contains("status") && text.contains("pending"),
        "{text}"
    );
    let text = client.call_err("enki_task_list", json!({"execution_id": "exec-01ZZZZZZZZ"}));
    assert!(text.contains("no execution matches"), "{text}");
}

#[test]
fn task_show_gives_dependencies_with_their_conditions() {
    let project = Project::new();
    let mut client = planner(&project);
    let base = create_task(&mut client, "base");
    let plan = create_execution(
        &mut client,
        json!([
            {"id": "a", "title": "A"},
            {"id": "b", "title": "B", "description": "do B well",
             "needs": [{"step": "a", "condition": "completed"}, {"task": base, "condition": "started"}]},
        ]),
    );
    set_status(&project, &base, TaskStatus::Running);
    store(&project)
        .record_worker_report(plan.task("a"), "testing", Some("A is ready"))
        .unwrap();

    let result = client.call_ok("enki_task_show", json!({"task_id": plan.task("b")}));
    let data = &result["structuredContent"];
    assert_eq!(data["task"]["id"], plan.task("b"));
    assert_eq!(data["task"]["step_id"], "b");
    assert_eq!(data["task"]["status"], "pending");
    assert_eq!(data["task"]["description"], "do B well");
    assert_eq!(data["execution"]["id"], plan.id.as_str());
    let needs = data["needs"].as_array().expect("needs");
    let edge = |task: &str| {
        needs
            .iter()
            .find(|n| n["needs_task_id"] == task)
            .unwrap_or_else(|| panic!("edge to {task} in {needs:?}"))
    };
    assert_eq!(needs.len(), 2);
    assert_eq!(edge(plan.task("a"))["condition"], "completed");
    assert_eq!(edge(plan.task("a"))["satisfied"], false);
    assert_eq!(edge(&base)["condition"], "started");
    assert_eq!(
        edge(&base)["satisfied"],
        true,
        "a running task satisfies `started`"
    );
    let text = text_of(&result);
    assert!(
        text.contains("completed") && text.contains("started") && text.contains("do B well"),
        "{text}"
    );

    let a = client.call_ok("enki_task_show", json!({"task_id": plan.task("a")}));
    assert_eq!(a["structuredContent"]["task"]["output"], "A is ready");
    assert_eq!(a["structuredContent"]["task"]["activity"], "testing");
    assert_eq!(
        a["structuredContent"]["dependents"][0]["task_id"],
        plan.task("b")
    );

    let text = client.call_err("enki_task_show", json!({}));
    assert!(text.contains("task_id"), "{text}");
}

#[test]
fn dag_shows_text_and_the_same_graph_as_data() {
    let project = Project::new();
    let mut client = planner(&project);
    let plan = create_execution(
        &mut client,
        json!([
            {"id": "design", "title": "Design"},
            {"id": "build", "title": "Build", "needs": [{"step": "design", "condition": "completed"}], "checkpoint": true},
            {"id": "docs", "title": "Docs", "needs": ["design"]},
        ]),
    );
    set_status(&project, plan.task("design"), TaskStatus::Done);

    let result = client.call_ok("enki_dag", json!({"execution_id": plan.id}));
    let text = text_of(&result);
    for expected in [
        "design",
        "build",
        "docs",
        "done",
        "pending",
        "checkpoint",
        "completed",
    ] {
        assert!(text.contains(expected), "{expected} in {text}");
    }
    let executions = result["structuredContent"]["executions"]
        .as_array()
        .expect("executions");
    assert_eq!(executions.len(), 1);
    let dag = &executions[0];
    assert_eq!(dag["id"], plan.id.as_str());
    assert_eq!(dag["nodes"].as_array().expect("nodes").len(), 3);
    let mut edges: Vec<(String, String, String, bool)> = dag["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| {
            (
                e["from"].as_str().unwrap().to_string(),
                e["to"].as_str().unwrap().to_string(),
                e["condition"].as_str().unwrap().to_string(),
                e["satisfied"].as_bool().unwrap(),
            )
        })
        .collect();
    edges.sort();
    let mut expected = vec![
        (
            plan.task("design").to_string(),
            plan.task("build").to_string(),
            "completed".to_string(),
            true,
        ),
        (
            plan.task("design").to_string(),
            plan.task("docs").to_string(),
            "merged".to_string(),
            true,
        ),
    ];
    expected.sort();
    assert_eq!(edges, expected);
    let build = dag["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["step_id"] == "build")
        .unwrap();
    assert_eq!(build["checkpoint"], true);
    assert_eq!(build["level"], 1);

    create_task(&mut client, "another");
    let all = client.call_ok("enki_dag", json!({}));
    assert_eq!(
        all["structuredContent"]["executions"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let text = client.call_err("enki_dag", json!({"execution_id": "exec-01ZZZZZZZZ"}));
    assert!(text.contains("no execution matches"), "{text}");
}

// ----- planning -------------------------------------------------------------

#[test]
fn task_create_writes_the_task_its_needs_and_a_signal() {
    let project = Project::new();
    let mut client = planner(&project);
    let base = create_task(&mut client, "base");
    project.clear_signals();

    let result = client.call_ok(
        "enki_task_create",
        json!({"title": "  follow up ", "description": "after base", "tier": "heavy", "role": "bug_fixer",
               "needs": [{"task": enki_core::id::short(&base), "condition": "started"}]}),
    );
    let data = &result["structuredContent"];
    let id = data["task_id"].as_str().expect("task_id").to_string();
    assert!(id.starts_with("task-"), "{id}");
    assert_eq!(data["status"], "pending");
    assert_eq!(data["tier"], "heavy");
    let text = text_of(&result);
    assert!(
        text.contains("follow up") && text.contains(enki_core::id::short(&id)),
        "{text}"
    );

    let row = task_row(&project, &id);
    assert_eq!(row.title, "follow up");
    assert_eq!(row.description, "after base");
    assert_eq!(row.tier.as_str(), "heavy");
    assert_eq!(row.role.as_deref(), Some("bug_fixer"));
    assert_eq!(row.status, TaskStatus::Pending);
    assert_eq!(row.session_id, None);
    let deps = store(&project).dependencies_of(&id).unwrap();
    assert_eq!(deps.len(), 1);
    assert_eq!(deps[0].needs_task_id, base, "the prefix was resolved");
    assert_eq!(deps[0].condition.as_str(), "started");
    let exec = store(&project)
        .execution(&row.execution_id)
        .unwrap()
        .expect("its execution");
    assert!(
        exec.standalone,
        "a standalone task is an execution of one step"
    );

    let signal = only_signal(&project);
    assert_envelope(&signal, "task_created", "planner", None);
    assert_eq!(signal["session"], Value::Null);
    assert_eq!(signal["task_id"], id.as_str());

    // Plain ids default to `merged`, and the tier to `standard`.
    let plain = client.call_ok(
        "enki_task_create",
        json!({"title": "plain", "needs": [base]}),
    );
    let plain = plain["structuredContent"]["task_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        store(&project).dependencies_of(&plain).unwrap()[0]
            .condition
            .as_str(),
        "merged"
    );
    assert_eq!(task_row(&project, &plain).tier.as_str(), "standard");
}

#[test]
fn execution_create_persists_roles_checkpoints_and_every_condition() {
    let project = Project::new();
    let mut client = planner(&project);
    let outside = create_task(&mut client, "outside");
    project.clear_signals();

    let plan = create_execution(
        &mut client,
        json!([
            {"id": "research", "title": "Research", "role": "researcher", "tier": "light"},
            {"id": "build", "title": "Build", "checkpoint": true,
             "needs": [{"step": "research", "condition": "completed"}]},
            {"id": "polish", "title": "Polish", "role": "documenter",
             "needs": ["research", {"step": "build", "condition": "started"},
                       {"task": enki_core::id::short(&outside), "condition": "completed"}]},
        ]),
    );
    assert_eq!(plan.tasks.len(), 3);

    let signal = only_signal(&project);
    assert_envelope(&signal, "execution_created", "planner", None);
    assert_eq!(signal["execution_id"], plan.id.as_str());

    let research = task_row(&project, plan.task("research"));
    assert_eq!(research.role.as_deref(), Some("researcher"));
    assert_eq!(research.tier.as_str(), "light");
    assert!(!research.checkpoint);
    let build = task_row(&project, plan.task("build"));
    assert!(build.checkpoint, "the checkpoint is persisted");
    assert_eq!(build.role, None);
    assert_eq!(build.execution_id, plan.id);
    assert_eq!((research.step_index, build.step_index), (0, 1));

    let conditions = |task: &str| -> Vec<(String, String)> {
        let mut list: Vec<(String, String)> = store(&project)
            .dependencies_of(task)
            .unwrap()
            .into_iter()
            .map(|d| (d.needs_task_id, d.condition.as_str().to_string()))
            .collect();
        list.sort();
        list
    };
    assert_eq!(
        conditions(plan.task("build")),
        vec![(plan.task("research").to_string(), "completed".to_string())]
    );
    let mut expected = vec![
        (plan.task("research").to_string(), "merged".to_string()),
        (plan.task("build").to_string(), "started".to_string()),
        (outside.clone(), "completed".to_string()),
    ];
    expected.sort();
    assert_eq!(conditions(plan.task("polish")), expected);

    // The same through the tool.
    let shown = client.call_ok("enki_task_show", json!({"task_id": plan.task("polish")}));
    let data = &shown["structuredContent"];
    assert_eq!(data["task"]["role"], "documenter");
    let mut seen: Vec<String> = data["needs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            format!(
                "{}:{}",
                n["needs_task_id"].as_str().unwrap(),
                n["condition"].as_str().unwrap()
            )
        })
        .collect();
    seen.sort();
    let mut want: Vec<String> = expected.iter().map(|(t, c)| format!("{t}:{c}")).collect();
    want.sort();
    assert_eq!(seen, want);
    let shown = client.call_ok("enki_task_show", json!({"task_id": plan.task("build")}));
    assert_eq!(shown["structuredContent"]["task"]["checkpoint"], true);
}

#[test]
fn add_steps_extends_an_execution_and_signals_the_new_step_ids() {
    let project = Project::new();
    let mut client = planner(&project);
    let plan = chain(&mut client);
    project.clear_signals();

    let result = client.call_ok(
        "enki_execution_add_steps",
        json!({"execution_id": enki_core::id::short(&plan.id), "steps": [
            {"id": "d", "title": "fourth", "needs": [{"step": "c", "condition": "completed"}]},
            {"id": "e", "title": "fifth", "needs": ["d", "a"]},
        ]}),
    );
    let added = steps_of(&result["structuredContent"]);
    assert_eq!(
        result["structuredContent"]["execution_id"],
        plan.id.as_str()
    );
    assert_eq!(added.len(), 2);

    let signal = only_signal(&project);
    assert_envelope(&signal, "steps_added", "planner", None);
    assert_eq!(signal["execution_id"], plan.id.as_str());
    assert_eq!(signal["step_ids"], json!(["d", "e"]));

    let d = task_row(&project, &added["d"]);
    assert_eq!(
        (d.execution_id.as_str(), d.step_index, d.status),
        (plan.id.as_str(), 3, TaskStatus::Pending)
    );
    let deps = store(&project).dependencies_of(&added["d"]).unwrap();
    assert_eq!(deps.len(), 1);
    assert_eq!(
        (deps[0].needs_task_id.as_str(), deps[0].condition.as_str()),
        (plan.task("c"), "completed")
    );
    assert_eq!(
        store(&project).dependencies_of(&added["e"]).unwrap().len(),
        2
    );
    project.clear_signals();

    let mut fails = |arguments: Value| {
        refused_without_effect(&project, &mut client, "enki_execution_add_steps", arguments)
    };
    let text = fails(json!({"execution_id": plan.id, "steps": [{"id": "a", "title": "again"}]}));
    assert!(
        text.contains("'a'") && text.contains("already exists"),
        "{text}"
    );
    let text = fails(json!({"execution_id": plan.id, "steps": [
        {"id": "x", "title": "X", "needs": ["y"]}, {"id": "y", "title": "Y", "needs": ["x"]}]}));
    assert!(text.contains("cycle"), "{text}");
    let text =
        fails(json!({"execution_id": "exec-01ZZZZZZZZ", "steps": [{"id": "x", "title": "X"}]}));
    assert!(text.contains("no execution matches"), "{text}");
    let text = fails(json!({"execution_id": plan.id}));
    assert!(text.contains("steps"), "{text}");
}

#[test]
fn retry_refuses_a_pending_task_and_resets_a_failed_one_with_its_blocked_dependents() {
    let project = Project::new();
    let mut client = planner(&project);
    let plan = chain(&mut client);
    project.clear_signals();

    let text = refused_without_effect(
        &project,
        &mut client,
        "enki_task_retry",
        json!({"task_id": plan.task("a")}),
    );
    assert!(
        text.contains("pending") && text.contains("failed or blocked"),
        "{text}"
    );

    set_status(&project, plan.task("a"), TaskStatus::Failed);
    set_status(&project, plan.task("b"), TaskStatus::Blocked);
    set_status(&project, plan.task("c"), TaskStatus::Blocked);
    let result = client.call_ok(
        "enki_task_retry",
        json!({"task_id": enki_core::id::short(plan.task("a"))}),
    );
    assert!(
        text_of(&result).contains("2 blocked dependents unblocked"),
        "{}",
        text_of(&result)
    );
    for step in ["a", "b", "c"] {
        let row = task_row(&project, plan.task(step));
        assert_eq!(row.status, TaskStatus::Pending, "{step}");
        assert_eq!(row.failures, 0, "{step}: fresh retry budget");
    }
    let signal = only_signal(&project);
    assert_envelope(&signal, "retry_task", "planner", None);
    assert_eq!(signal["task_id"], plan.task("a"));

    set_status(&project, plan.task("b"), TaskStatus::Blocked);
    project.clear_signals();
    client.call_ok("enki_task_retry", json!({"task_id": plan.task("b")}));
    assert_eq!(
        task_row(&project, plan.task("b")).status,
        TaskStatus::Pending,
        "blocked tasks can be retried"
    );
    assert_eq!(only_signal(&project)["type"], "retry_task");
}

#[test]
fn pause_and_resume_an_execution_or_one_step() {
    let project = Project::new();
    let mut client = planner(&project);
    let plan = chain(&mut client);
    let execution_status = |project: &Project| {
        store(project)
            .execution(&plan.id)
            .unwrap()
            .unwrap()
            .status
            .as_str()
    };
    project.clear_signals();

    client.call_ok("enki_pause", json!({"execution_id": plan.id}));
    assert_eq!(execution_status(&project), "paused");
    let signal = only_signal(&project);
    assert_envelope(&signal, "pause", "planner", None);
    assert_eq!(signal["execution_id"], plan.id.as_str());
    assert!(signal.get("step_id").is_none_or(Value::is_null), "{signal}");
    project.clear_signals();

    client.call_ok(
        "enki_resume",
        json!({"execution_id": enki_core::id::short(&plan.id)}),
    );
    assert_eq!(execution_status(&project), "running");
    assert_eq!(only_signal(&project)["type"], "resume");
    project.clear_signals();

    client.call_ok(
        "enki_pause",
        json!({"execution_id": plan.id, "step_id": "b"}),
    );
    assert_eq!(
        task_row(&project, plan.task("b")).status,
        TaskStatus::Paused
    );
    assert_eq!(
        task_row(&project, plan.task("a")).status,
        TaskStatus::Pending
    );
    let signal = only_signal(&project);
    assert_envelope(&signal, "pause", "planner", None);
    assert_eq!(signal["step_id"], "b");
    project.clear_signals();

    client.call_ok(
        "enki_resume",
        json!({"execution_id": plan.id, "step_id": "b"}),
    );
    assert_eq!(
        task_row(&project, plan.task("b")).status,
        TaskStatus::Pending
    );
    let signal = only_signal(&project);
    assert_eq!(
        (signal["type"].as_str(), signal["step_id"].as_str()),
        (Some("resume"), Some("b"))
    );
    project.clear_signals();

    let text = refused_without_effect(
        &project,
        &mut client,
        "enki_resume",
        json!({"execution_id": plan.id, "step_id": "b"}),
    );
    assert!(text.contains("not paused"), "{text}");
    let text = refused_without_effect(
        &project,
        &mut client,
        "enki_pause",
        json!({"execution_id": plan.id, "step_id": "zz"}),
    );
    assert!(text.contains("zz"), "{text}");
    let text = refused_without_effect(
        &project,
        &mut client,
        "enki_pause",
        json!({"execution_id": "exec-01ZZZZZZZZ"}),
    );
    assert!(text.contains("no execution matches"), "{text}");
}

#[test]
fn cancelling_a_step_cascades_to_its_dependents() {
    let project = Project::new();
    let mut client = planner(&project);
    let plan = chain(&mut client);
    let elsewhere = client.call_ok(
        "enki_task_create",
        json!({"title": "needs b", "needs": [{"task": plan.task("b"), "condition": "completed"}]}),
    )["structuredContent"]["task_id"]
        .as_str()
        .unwrap()
        .to_string();
    let unrelated = create_task(&mut client, "unrelated");
    project.clear_signals();

    let result = client.call_ok(
        "enki_cancel",
        json!({"execution_id": plan.id, "step_id": "b"}),
    );
    let mut cancelled: Vec<String> = result["structuredContent"]["cancelled"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    cancelled.sort();
    let mut expected = vec![
        plan.task("b").to_string(),
        plan.task("c").to_string(),
        elsewhere.clone(),
    ];
    expected.sort();
    assert_eq!(
        cancelled, expected,
        "b, its dependent c and the task in another execution"
    );
    assert_eq!(
        task_row(&project, plan.task("a")).status,
        TaskStatus::Pending
    );
    assert_eq!(
        task_row(&project, plan.task("b")).status,
        TaskStatus::Cancelled
    );
    assert_eq!(
        task_row(&project, plan.task("c")).status,
        TaskStatus::Cancelled
    );
    assert_eq!(task_row(&project, &elsewhere).status, TaskStatus::Cancelled);
    assert_eq!(task_row(&project, &unrelated).status, TaskStatus::Pending);

    let signal = only_signal(&project);
    assert_envelope(&signal, "cancel", "planner", None);
    assert_eq!(signal["execution_id"], plan.id.as_str());
    assert_eq!(signal["step_id"], "b");
    project.clear_signals();

    client.call_ok("enki_cancel", json!({"execution_id": plan.id}));
    assert_eq!(
        task_row(&project, plan.task("a")).status,
        TaskStatus::Cancelled
    );
    assert_eq!(
        store(&project)
            .execution(&plan.id)
            .unwrap()
            .unwrap()
            .status
            .as_str(),
        "cancelled"
    );
    let signal = only_signal(&project);
    assert_eq!(signal["type"], "cancel");
    assert!(signal.get("step_id").is_none_or(Value::is_null), "{signal}");
}

#[test]
fn stop_all_pauses_every_execution_and_signals() {
    let project = Project::new();
    let mut client = planner(&project);
    let plan = chain(&mut client);
    let single = create_task(&mut client, "single");
    set_status(&project, plan.task("a"), TaskStatus::Running);
    project.clear_signals();

    let result = client.call_ok("enki_stop_all", json!({}));
    let paused = result["structuredContent"]["paused_executions"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(paused, 2);
    let store = store(&project);
    for execution in store.executions(None).unwrap() {
        assert_eq!(execution.status.as_str(), "paused", "{}", execution.id);
    }
    assert_eq!(
        store.tasks(&TaskFilter::default()).unwrap().len(),
        4,
        "nothing is deleted"
    );
    assert!(store.task(&single).unwrap().is_some());

    let signal = only_signal(&project);
    assert_envelope(&signal, "stop_all", "planner", None);
    let keys: Vec<&str> = signal
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for key in keys {
        assert!(
            ["v", "type", "at", "session", "from"].contains(&key),
            "stop_all has no field {key}"
        );
    }
}

// ----- worker reports --------------------------------------------------------

#[test]
fn worker_report_stores_activity_and_output_and_signals() {
    let project = Project::new();
    let task = create_task(&mut planner(&project), "work");
    project.clear_signals();
    let mut client = worker(&project, enki_core::id::short(&task));

    let result = client.call_ok("enki_worker_report", json!({"status": "writing tests"}));
    assert!(
        text_of(&result).contains("writing tests"),
        "{}",
        text_of(&result)
    );
    let row = task_row(&project, &task);
    assert_eq!(row.activity.as_deref(), Some("writing tests"));
    assert!(row.activity_at.is_some());
    assert_eq!(row.output, None);
    let signal = only_signal(&project);
    assert_envelope(&signal, "worker_report", "worker", Some(&task));
    assert_eq!(signal["task_id"], task.as_str());
    assert_eq!(signal["status"], "writing tests");
    assert!(signal.get("output").is_none_or(Value::is_null), "{signal}");
    project.clear_signals();

    client.call_ok(
        "enki_worker_report",
        json!({"status": "done", "output": "[OUTPUT] all good [/OUTPUT]"}),
    );
    let row = task_row(&project, &task);
    assert_eq!(row.activity.as_deref(), Some("done"));
    assert_eq!(row.output.as_deref(), Some("[OUTPUT] all good [/OUTPUT]"));
    assert_eq!(
        only_signal(&project)["output"],
        "[OUTPUT] all good [/OUTPUT]"
    );
    project.clear_signals();

    let text = refused_without_effect(
        &project,
        &mut client,
        "enki_worker_report",
        json!({"status": "  "}),
    );
    assert!(text.contains("status"), "{text}");
    let text = refused_without_effect(
        &project,
        &mut client,
        "enki_worker_report",
        json!({"output": "x"}),
    );
    assert!(text.contains("status"), "{text}");
}

#[test]
fn worker_report_without_a_task_id_is_a_clear_error() {
    let project = Project::new();
    create_task(&mut planner(&project), "work");
    project.clear_signals();
    let mut client = project.mcp(&["--role", "worker"]);
    let text = refused_without_effect(
        &project,
        &mut client,
        "enki_worker_report",
        json!({"status": "busy"}),
    );
    assert!(text.contains("--task-id"), "tells how to fix it: {text}");
    // The server still answers tools that need no task.
    client.call_ok("enki_status", json!({}));

    let mut client = worker(&project, "task-01ZZZZZZZZZZ");
    let text = refused_without_effect(
        &project,
        &mut client,
        "enki_worker_report",
        json!({"status": "busy"}),
    );
    assert!(
        text.contains("task-01ZZZZZZZZZZ"),
        "names the unknown task: {text}"
    );
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

#[test]
fn read_file_shows_hashlines_and_edit_file_applies_anchored_edits() {
    let project = Project::new();
    let (_task, copy, mut client) = worker_with_copy(&project);

    let read = client.call_ok("enki_read_file", json!({"path": "src.txt"}));
    let text = text_of(&read);
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].contains("src.txt") && lines[0].contains("3 lines"),
        "{text}"
    );
    for (i, expected) in ["alpha", "beta", "gamma"].iter().enumerate() {
        let line = lines[i + 1];
        let (anchor, body) = line
            .split_once('|')
            .unwrap_or_else(|| panic!("hashline: {line}"));
        let (number, hash) = anchor.split_once(':').unwrap();
        assert_eq!(number, (i + 1).to_string());
        assert_eq!(hash, enki_core::hashline::line_hash(expected));
        assert_eq!(body, *expected);
    }
    assert_eq!(read["structuredContent"]["total_lines"], 3);
    let window = client.call_ok(
        "enki_read_file",
        json!({"path": "src.txt", "offset": 2, "limit": 1}),
    );
    let anchors = anchors(&text);
    assert_eq!(anchors.len(), 3);
    assert_eq!(self::anchors(&text_of(&window)), vec![anchors[1].clone()]);

    let result = client.call_ok(
        "enki_edit_file",
        json!({"path": "src.txt", "edits": [
            {"op": "replace", "start": anchors[1], "lines": ["BETA"]},
            {"op": "insert_before", "anchor": anchors[0], "lines": ["zero"]},
            {"op": "delete", "start": anchors[2]},
        ]}),
    );
    assert!(
        text_of(&result).contains("Edited src.txt"),
        "{}",
        text_of(&result)
    );
    assert_eq!(
        std::fs::read_to_string(copy.join("src.txt")).unwrap(),
        "zero\nalpha\nBETA\n"
    );
    let absolute = copy.join("src.txt");
    let again = client.call_ok(
        "enki_read_file",
        json!({"path": absolute.to_str().unwrap()}),
    );
    assert!(
        text_of(&again).contains("|BETA"),
        "an absolute path inside the copy is fine"
    );
    assert!(project.signals().is_empty(), "file edits write no signal");

    let text = client.call_err("enki_read_file", json!({"path": "missing.txt"}));
    assert!(text.contains("missing.txt"), "{text}");
}

#[test]
fn a_stale_anchor_is_refused_and_names_the_line() {
    let project = Project::new();
    let (_task, copy, mut client) = worker_with_copy(&project);
    let old = anchors(&text_of(
        &client.call_ok("enki_read_file", json!({"path": "src.txt"})),
    ));
    std::fs::write(
        copy.join("src.txt"),
        "alpha\nchanged behind your back\ngamma\n",
    )
    .unwrap();

    let text = client.call_err(
        "enki_edit_file",
        json!({"path": "src.txt", "edits": [
            {"op": "replace", "start": old[0], "lines": ["ALPHA"]},
            {"op": "replace", "start": old[1], "lines": ["BETA"]},
        ]}),
    );
    assert!(text.contains("line 2"), "names the line: {text}");
    assert!(
        text.contains("changed behind your back"),
        "shows what it is now: {text}"
    );
    assert_eq!(
        std::fs::read_to_string(copy.join("src.txt")).unwrap(),
        "alpha\nchanged behind your back\ngamma\n",
        "nothing was written"
    );

    let text = client.call_err(
        "enki_edit_file",
        json!({"path": "src.txt", "edits": [{"op": "delete", "start": "nonsense"}]}),
    );
    assert!(
        text.contains("edits[0]") && text.contains("nonsense"),
        "{text}"
    );
    let text = client.call_err(
        "enki_edit_file",
        json!({"path": "src.txt", "edits": [{"op": "explode"}]}),
    );
    assert!(text.contains("explode"), "{text}");
    let text = client.call_err("enki_edit_file", json!({"path": "src.txt", "edits": []}));
    assert!(text.contains("edits"), "{text}");
}

#[test]
fn edit_file_creates_a_new_file_with_append() {
    let project = Project::new();
    let (_task, copy, mut client) = worker_with_copy(&project);
    let result = client.call_ok(
        "enki_edit_file",
        json!({"path": "docs/notes.md", "edits": [{"op": "append", "lines": ["# Notes", "", "first"]}]}),
    );
    assert_eq!(result["structuredContent"]["created"], true);
    assert!(
        text_of(&result).contains("Created docs/notes.md"),
        "{}",
        text_of(&result)
    );
    assert_eq!(
        std::fs::read_to_string(copy.join("docs/notes.md")).unwrap(),
        "# Notes\n\nfirst\n"
    );
    let read = client.call_ok("enki_read_file", json!({"path": "docs/notes.md"}));
    assert_eq!(anchors(&text_of(&read)).len(), 3);
}

#[test]
fn edits_keep_crlf_endings_and_a_missing_final_newline() {
    let project = Project::new();
    let (_task, copy, mut client) = worker_with_copy(&project);
    std::fs::write(copy.join("dos.txt"), "one\r\ntwo\r\n").unwrap();
    std::fs::write(copy.join("open.txt"), "x\ny").unwrap();

    let dos = anchors(&text_of(
        &client.call_ok("enki_read_file", json!({"path": "dos.txt"})),
    ));
    assert_eq!(
        dos[0],
        format!("1:{}", enki_core::hashline::line_hash("one")),
        "CR is not part of the text"
    );
    client.call_ok(
        "enki_edit_file",
        json!({"path": "dos.txt", "edits": [{"op": "insert_after", "anchor": dos[1], "lines": ["three"]},
                                            {"op": "replace", "start": dos[0], "lines": ["ONE"]}]}),
    );
    assert_eq!(
        std::fs::read_to_string(copy.join("dos.txt")).unwrap(),
        "ONE\r\ntwo\r\nthree\r\n"
    );

    let open = anchors(&text_of(
        &client.call_ok("enki_read_file", json!({"path": "open.txt"})),
    ));
    client.call_ok(
        "enki_edit_file",
        json!({"path": "open.txt", "edits": [{"op": "replace", "start": open[1], "lines": ["Y"]}]}),
    );
    assert_eq!(
        std::fs::read_to_string(copy.join("open.txt")).unwrap(),
        "x\nY",
        "still no final newline"
    );

    std::fs::write(copy.join("empty.txt"), "").unwrap();
    let read = client.call_ok("enki_read_file", json!({"path": "empty.txt"}));
    assert_eq!(read["structuredContent"]["total_lines"], 0);
    client.call_ok(
        "enki_edit_file",
        json!({"path": "empty.txt", "edits": [{"op": "prepend", "lines": ["first"]}]}),
    );
    assert_eq!(
        std::fs::read_to_string(copy.join("empty.txt")).unwrap(),
        "first\n"
    );
}

#[test]
fn the_copy_recorded_on_the_task_is_the_one_used() {
    let project = Project::new();
    let task = create_task(&mut planner(&project), "elsewhere");
    let elsewhere = project.root.join("workspaces").join("w1");
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::fs::write(elsewhere.join("here.txt"), "found\n").unwrap();
    store(&project)
        .set_task_workspace(&task, Some(elsewhere.to_str().unwrap()), Some("enki/w1"))
        .unwrap();
    let mut client = worker(&project, &task);
    let text = text_of(&client.call_ok("enki_read_file", json!({"path": "here.txt"})));
    assert!(text.contains("|found"), "{text}");
    client.call_ok(
        "enki_edit_file",
        json!({"path": "new.txt", "edits": [{"op": "append", "lines": ["n"]}]}),
    );
    assert!(elsewhere.join("new.txt").is_file());
    assert!(!copy_dir(&project, &task).exists());
}

#[test]
fn paths_that_leave_the_copy_are_refused_and_nothing_outside_is_written() {
    let project = Project::new();
    let (_task, copy, mut client) = worker_with_copy(&project);
    let append =
        |path: &str| json!({"path": path, "edits": [{"op": "append", "lines": ["pwned"]}]});

    let text = client.call_err("enki_edit_file", append("../outside.txt"));
    assert!(text.contains("leaves"), "{text}");
    assert!(!copy.parent().unwrap().join("outside.txt").exists());

    let text = client.call_err("enki_read_file", json!({"path": "/etc/passwd"}));
    assert!(
        text.contains("/etc/passwd") && text.contains("leaves"),
        "{text}"
    );
    let target = project.root.join("abs.txt");
    let text = client.call_err("enki_edit_file", append(target.to_str().unwrap()));
    assert!(text.contains("leaves"), "{text}");
    assert!(!target.exists());

    let outside = project.root.join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("secret.txt"), "secret\n").unwrap();
    std::os::unix::fs::symlink(&outside, copy.join("link")).unwrap();
    std::os::unix::fs::symlink(outside.join("secret.txt"), copy.join("secret.txt")).unwrap();

    let text = client.call_err("enki_edit_file", append("link/new.txt"));
    assert!(text.contains("symlink"), "{text}");
    assert!(!outside.join("new.txt").exists());
    let text = client.call_err("enki_edit_file", append("secret.txt"));
    assert!(text.contains("symlink"), "{text}");
    let text = client.call_err("enki_read_file", json!({"path": "link/secret.txt"}));
    assert!(text.contains("symlink"), "{text}");
    assert_eq!(
        std::fs::read_to_string(outside.join("secret.txt")).unwrap(),
        "secret\n"
    );
}

#[test]
fn file_tools_without_a_copy_fail_clearly() {
    let project = Project::new();
    let task = create_task(&mut planner(&project), "no copy yet");
    let mut client = worker(&project, &task);
    let text = client.call_err("enki_read_file", json!({"path": "README.md"}));
    assert!(text.contains("copy") && text.contains(&task), "{text}");
    let text = client.call_err(
        "enki_edit_file",
        json!({"path": "x.txt", "edits": [{"op": "append", "lines": ["x"]}]}),
    );
    assert!(
        text.contains("copy") && text.contains("does not exist"),
        "{text}"
    );
    assert!(
        !copy_dir(&project, &task).exists(),
        "the copy is not created by a failed edit"
    );

    let mut anonymous = project.mcp(&["--role", "worker"]);
    let text = anonymous.call_err("enki_read_file", json!({"path": "README.md"}));
    assert!(text.contains("--task-id"), "{text}");
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

#[test]
fn the_planner_mails_a_worker_by_id_prefix() {
    let project = Project::new();
    let mut setup = mail_setup(&project);
    let prefix = enki_core::id::short(&setup.a).to_string();
    let result = send(
        &mut setup.planner,
        &format!("worker/{prefix}"),
        "hello",
        json!({"priority": "high", "kind": "request"}),
    );
    let id = first_message_id(&result);
    let row = stored_message(&project, &id);
    assert_eq!(
        row.to,
        format!("worker/{}", setup.a),
        "the prefix is resolved to the full id"
    );
    assert_eq!(row.from, "coordinator");
    assert_eq!(
        (row.priority.as_str(), row.kind.as_str()),
        ("high", "request")
    );
    assert_eq!(row.thread_id, id, "a new message starts its thread");
    assert_eq!(result["structuredContent"]["thread_id"], id.as_str());

    let signal = only_signal(&project);
    assert_envelope(&signal, "mail", "planner", None);
    assert_eq!(signal["message_id"], id.as_str());
    assert_eq!(signal["from"]["address"], "coordinator", "{signal}");
    assert!(signal.get("mail_from").is_none(), "{signal}");
    assert_eq!(signal["to"], format!("worker/{}", setup.a));
    assert_eq!(signal["subject"], "hello");
    assert_eq!(signal["priority"], "high");

    let mut a = worker(&project, &setup.a);
    let inbox = a.call_ok("enki_mail_inbox", json!({}));
    assert_eq!(message_ids(&inbox), vec![id]);
    let mut b = worker(&project, &setup.b);
    assert!(
        message_ids(&b.call_ok("enki_mail_inbox", json!({}))).is_empty(),
        "b got nothing"
    );
}

#[test]
fn a_worker_mails_the_coordinator_and_the_user() {
    let project = Project::new();
    let mut setup = mail_setup(&project);
    let mut a = worker(&project, &setup.a);

    let to_coordinator = first_message_id(&send(&mut a, "coordinator", "question", json!({})));
    let row = stored_message(&project, &to_coordinator);
    assert_eq!(
        (row.from.as_str(), row.to.as_str()),
        (format!("worker/{}", setup.a).as_str(), "coordinator")
    );
    let signal = only_signal(&project);
    assert_envelope(&signal, "mail", "worker", Some(&setup.a));
    assert_eq!(signal["from"]["address"], format!("worker/{}", setup.a));
    assert_eq!(signal["to"], "coordinator");
    project.clear_signals();

    let to_user = first_message_id(&send(&mut a, "user", "fyi", json!({"priority": "low"})));
    assert_eq!(stored_message(&project, &to_user).to, "user");
    assert_eq!(only_signal(&project)["to"], "user");

    let planner_inbox = setup.planner.call_ok("enki_mail_inbox", json!({}));
    assert_eq!(
        message_ids(&planner_inbox),
        vec![to_coordinator],
        "the user's mail is not the planner's"
    );
    assert_eq!(planner_inbox["structuredContent"]["mailbox"], "coordinator");
}

#[test]
fn mail_to_workers_fans_out_to_running_workers_only() {
    let project = Project::new();
    let mut setup = mail_setup(&project);
    let idle = create_task(&mut setup.planner, "idle");
    project.clear_signals();

    let text = refused_without_effect(
        &project,
        &mut setup.planner,
        "enki_mail_send",
        json!({"to": "@workers", "subject": "all", "body": "x"}),
    );
    assert!(text.contains("no worker is running"), "{text}");

    set_status(&project, &setup.a, TaskStatus::Running);
    set_status(&project, &setup.b, TaskStatus::Running);
    let result = send(
        &mut setup.planner,
        "@workers",
        "all hands",
        json!({"priority": "urgent"}),
    );
    let ids: Vec<String> = result["structuredContent"]["message_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 2);
    let mut recipients: Vec<String> = ids
        .iter()
        .map(|id| stored_message(&project, id).to)
        .collect();
    recipients.sort();
    let mut expected = vec![format!("worker/{}", setup.a), format!("worker/{}", setup.b)];
    expected.sort();
    assert_eq!(recipients, expected);
    assert!(!recipients.contains(&format!("worker/{idle}")));
    let threads: Vec<String> = ids
        .iter()
        .map(|id| stored_message(&project, id).thread_id)
        .collect();
    assert_eq!(threads[0], threads[1], "a fan-out shares one thread");
    let signals = project.signals();
    assert_eq!(signals.len(), 2, "one mail signal per message");
    assert!(
        signals
            .iter()
            .all(|s| s["type"] == "mail" && s["priority"] == "urgent")
    );
    project.clear_signals();

    // A running worker's @workers mail reaches the others, not itself.
    let mut a = worker(&project, &setup.a);
    let result = send(&mut a, "@workers", "from a", json!({}));
    let id = first_message_id(&result);
    assert_eq!(
        result["structuredContent"]["message_ids"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        stored_message(&project, &id).to,
        format!("worker/{}", setup.b)
    );
}

#[test]
fn mail_check_lists_unread_by_priority_then_age_without_marking_read() {
    let project = Project::new();
    let mut setup = mail_setup(&project);
    let to = format!("worker/{}", setup.a);
    let low = first_message_id(&send(
        &mut setup.planner,
        &to,
        "low",
        json!({"priority": "low"}),
    ));
    let urgent1 = first_message_id(&send(
        &mut setup.planner,
        &to,
        "urgent 1",
        json!({"priority": "urgent"}),
    ));
    let normal = first_message_id(&send(&mut setup.planner, &to, "normal", json!({})));
    let urgent2 = first_message_id(&send(
        &mut setup.planner,
        &to,
        "urgent 2",
        json!({"priority": "urgent"}),
    ));
    let high = first_message_id(&send(
        &mut setup.planner,
        &to,
        "high",
        json!({"priority": "high"}),
    ));

    let mut a = worker(&project, &setup.a);
    let check = a.call_ok("enki_mail_check", json!({}));
    let order = vec![
        urgent1.clone(),
        urgent2.clone(),
        high.clone(),
        normal.clone(),
        low.clone(),
    ];
    assert_eq!(message_ids(&check), order);
    assert!(
        text_of(&check).starts_with("5 unread"),
        "{}",
        text_of(&check)
    );
    assert_eq!(
        message_ids(&a.call_ok("enki_mail_check", json!({}))),
        order,
        "checking does not mark read"
    );
    assert!(stored_message(&project, &low).read_at.is_none());

    a.call_ok("enki_mail_read", json!({"message_id": urgent1}));
    assert_eq!(
        message_ids(&a.call_ok("enki_mail_check", json!({}))),
        order[1..].to_vec()
    );
    let inbox = a.call_ok("enki_mail_inbox", json!({}));
    assert_eq!(
        message_ids(&inbox),
        vec![high, urgent2, normal, urgent1, low],
        "the inbox lists everything, newest first"
    );
}

#[test]
fn mail_read_marks_read_and_only_the_parties_and_the_planner_may_read() {
    let project = Project::new();
    let mut setup = mail_setup(&project);
    let third = create_task(&mut setup.planner, "worker c");
    let mut a = worker(&project, &setup.a);
    let id = first_message_id(&send(
        &mut a,
        &format!("worker/{}", setup.b),
        "private",
        json!({}),
    ));
    project.clear_signals();

    let mut c = worker(&project, &third);
    let text = c.call_err("enki_mail_read", json!({"message_id": id}));
    assert!(text.contains("not yours"), "{text}");
    let text = c.call_err("enki_mail_thread", json!({"thread_id": id}));
    assert!(text.contains("no messages you may read"), "{text}");

    let by_planner = setup
        .planner
        .call_ok("enki_mail_read", json!({"message_id": id}));
    assert_eq!(by_planner["structuredContent"]["subject"], "private");
    assert!(
        stored_message(&project, &id).read_at.is_none(),
        "the planner reading does not mark it read"
    );
    let by_sender = a.call_ok("enki_mail_read", json!({"message_id": id}));
    assert!(
        by_sender["structuredContent"]["read_at"].is_null(),
        "nor does the sender"
    );

    let mut b = worker(&project, &setup.b);
    let read = b.call_ok(
        "enki_mail_read",
        json!({"message_id": enki_core::id::short(&id)}),
    );
    let text = text_of(&read);
    assert!(
        text.contains("private") && text.contains("body of private"),
        "{text}"
    );
    assert!(read["structuredContent"]["read_at"].is_string());
    assert!(
        stored_message(&project, &id).read_at.is_some(),
        "the recipient reading marks it read"
    );
    assert!(message_ids(&b.call_ok("enki_mail_check", json!({}))).is_empty());
    assert!(project.signals().is_empty(), "reading writes no signal");

    let text = b.call_err("enki_mail_read", json!({"message_id": "msg-01ZZZZZZZZ"}));
    assert!(text.contains("no message matches"), "{text}");
}

#[test]
fn a_reply_stays_in_the_thread_and_goes_back_to_the_sender() {
    let project = Project::new();
    let mut setup = mail_setup(&project);
    let request = first_message_id(&send(
        &mut setup.planner,
        &format!("worker/{}", setup.a),
        "can you",
        json!({"kind": "request", "priority": "high"}),
    ));
    project.clear_signals();

    let mut a = worker(&project, &setup.a);
    let result = a.call_ok(
        "enki_mail_reply",
        json!({"message_id": request, "body": "on it", "status": "accepted"}),
    );
    let reply_id = result["structuredContent"]["message_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(result["structuredContent"]["thread_id"], request.as_str());
    assert_eq!(result["structuredContent"]["to"], "coordinator");
    let reply = stored_message(&project, &reply_id);
    assert_eq!(reply.thread_id, request);
    assert_eq!(reply.reply_to.as_deref(), Some(request.as_str()));
    assert_eq!(reply.reply_status.as_deref(), Some("accepted"));
    assert_eq!(
        (reply.from.as_str(), reply.to.as_str()),
        (format!("worker/{}", setup.a).as_str(), "coordinator")
    );
    assert_eq!(reply.subject, "Re: can you");
    let signal = only_signal(&project);
    assert_envelope(&signal, "mail", "worker", Some(&setup.a));
    assert_eq!(signal["message_id"], reply_id.as_str());
    assert_eq!(signal["from"]["address"], format!("worker/{}", setup.a));
    assert_eq!(signal["to"], "coordinator");

    // The planner answers the reply: back to the worker, same thread.
    let back = setup.planner.call_ok(
        "enki_mail_reply",
        json!({"message_id": reply_id, "body": "thanks", "status": "completed"}),
    );
    let back_id = back["structuredContent"]["message_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        back["structuredContent"]["to"],
        format!("worker/{}", setup.a)
    );
    assert_eq!(
        stored_message(&project, &back_id).subject,
        "Re: can you",
        "no Re: Re:"
    );

    let thread = a.call_ok("enki_mail_thread", json!({"thread_id": request}));
    assert_eq!(
        message_ids(&thread),
        vec![request.clone(), reply_id, back_id],
        "oldest first"
    );
    let text = text_of(&thread);
    assert!(text.contains("on it") && text.contains("thanks"), "{text}");

    // An explicit thread_id continues the thread too.
    let more = send(
        &mut setup.planner,
        &format!("worker/{}", setup.a),
        "also",
        json!({"thread_id": request}),
    );
    assert_eq!(more["structuredContent"]["thread_id"], request.as_str());
    assert_eq!(
        stored_message(&project, &first_message_id(&more)).thread_id,
        request
    );

    let text = a.call_err(
        "enki_mail_reply",
        json!({"message_id": request, "body": "x", "status": "maybe"}),
    );
    assert!(
        text.contains("status") && text.contains("accepted"),
        "{text}"
    );
    let text = a.call_err("enki_mail_thread", json!({"thread_id": "msg-01ZZZZZZZZ"}));
    assert!(text.contains("no message matches"), "{text}");
}

#[test]
fn a_bad_address_names_the_expected_forms() {
    let project = Project::new();
    let mut setup = mail_setup(&project);
    for bad in ["planner", "worker/", "workers", "worker/not an id"] {
        let text = refused_without_effect(
            &project,
            &mut setup.planner,
            "enki_mail_send",
            json!({"to": bad, "subject": "s", "body": "b"}),
        );
        assert!(text.contains("to"), "{bad}: {text}");
        for form in ["coordinator", "user", "@workers", "worker/<task id>"] {
            assert!(text.contains(form), "{bad}: lists {form}: {text}");
        }
    }
    let text = refused_without_effect(
        &project,
        &mut setup.planner,
        "enki_mail_send",
        json!({"to": "worker/task-01ZZZZZZZZZZ", "subject": "s", "body": "b"}),
    );
    assert!(text.contains("no task matches"), "{text}");
    let text = refused_without_effect(
        &project,
        &mut setup.planner,
        "enki_mail_send",
        json!({"to": "user", "subject": "s", "body": "b", "priority": "asap"}),
    );
    assert!(
        text.contains("priority") && text.contains("urgent"),
        "{text}"
    );
    let text = refused_without_effect(
        &project,
        &mut setup.planner,
        "enki_mail_send",
        json!({"to": "user", "body": "b"}),
    );
    assert!(text.contains("subject"), "{text}");
}

/// Waits (polling the store, no fixed sleep) until the message's ttl has
/// passed; the timeout is only a safety net.
fn wait_until_expired(project: &Project, id: &str) {
    let expires = stored_message(project, id)
        .expires_at
        .expect("the message has a ttl");
    project.wait_until("the ttl to pass", || enki_store::now_rfc3339() > expires);
}

#[test]
fn an_expired_message_is_gone_for_check_inbox_read_reply_and_thread() {
    let project = Project::new();
    let mut setup = mail_setup(&project);
    let to = format!("worker/{}", setup.a);
    let expired = first_message_id(&send(
        &mut setup.planner,
        &to,
        "too late",
        json!({"ttl_seconds": 1}),
    ));
    let kept = first_message_id(&send(
        &mut setup.planner,
        &to,
        "still here",
        json!({"ttl_seconds": 3600}),
    ));
    assert!(stored_message(&project, &expired).expires_at.is_some());
    wait_until_expired(&project, &expired);

    let mut a = worker(&project, &setup.a);
    assert_eq!(
        message_ids(&a.call_ok("enki_mail_check", json!({}))),
        vec![kept.clone()]
    );
    assert_eq!(
        message_ids(&a.call_ok("enki_mail_inbox", json!({}))),
        vec![kept.clone()]
    );
    let status = text_of(&a.call_ok("enki_status", json!({})));
    assert!(
        status.ends_with("You have 1 unread message: call enki_mail_check."),
        "{status}"
    );
    project.clear_signals();

    // Reading or answering it: no message matches, and nothing changes.
    for reader in [&mut a, &mut setup.planner] {
        let text = refused_without_effect(
            &project,
            reader,
            "enki_mail_read",
            json!({"message_id": expired}),
        );
        assert!(text.contains("no message matches"), "{text}");
    }
    assert!(
        stored_message(&project, &expired).read_at.is_none(),
        "an expired message is not marked read"
    );
    let text = refused_without_effect(
        &project,
        &mut a,
        "enki_mail_reply",
        json!({"message_id": expired, "body": "sorry, late"}),
    );
    assert!(text.contains("no message matches"), "{text}");
    let text = refused_without_effect(
        &project,
        &mut a,
        "enki_mail_send",
        json!({"to": "coordinator", "subject": "re", "body": "x", "reply_to": expired}),
    );
    assert!(text.contains("no message matches"), "{text}");
    let text = a.call_err("enki_mail_thread", json!({"thread_id": expired}));
    assert!(text.contains("no messages you may read"), "{text}");

    // The live one is untouched.
    a.call_ok("enki_mail_read", json!({"message_id": kept}));
}

#[test]
fn a_ttl_of_zero_is_refused_by_schema_and_validation() {
    let project = Project::new();
    let mut setup = mail_setup(&project);
    let text = refused_without_effect(
        &project,
        &mut setup.planner,
        "enki_mail_send",
        json!({"to": "user", "subject": "s", "body": "b", "ttl_seconds": 0}),
    );
    assert!(text.contains("ttl_seconds"), "{text}");
    let tools = tools_of(&mut setup.planner);
    let send = tools
        .iter()
        .find(|t| t["name"] == "enki_mail_send")
        .expect("listed");
    assert_eq!(
        send["inputSchema"]["properties"]["ttl_seconds"]["minimum"],
        1
    );
}

#[test]
fn the_largest_ttl_keeps_the_message() {
    let project = Project::new();
    let mut setup = mail_setup(&project);
    let to = format!("worker/{}", setup.a);
    let id = first_message_id(&send(
        &mut setup.planner,
        &to,
        "forever",
        json!({"ttl_seconds": u64::MAX}),
    ));
    let mut a = worker(&project, &setup.a);
    assert_eq!(
        message_ids(&a.call_ok("enki_mail_check", json!({}))),
        vec![id]
    );
}

// ----- the unread-mail notice ----------------------------------------------

#[test]
fn a_worker_hears_about_unread_mail_until_it_reads_it() {
    let project = Project::new();
    let mut setup = mail_setup(&project);
    let mut a = worker(&project, &setup.a);
    let quiet = text_of(&a.call_ok("enki_status", json!({})));
    assert!(!quiet.contains("unread"), "{quiet}");

    let id = first_message_id(&send(
        &mut setup.planner,
        &format!("worker/{}", setup.a),
        "stop",
        json!({"priority": "urgent"}),
    ));
    let text = text_of(&a.call_ok("enki_status", json!({})));
    let notice = text.lines().last().unwrap_or_default();
    assert!(
        notice.contains("1 unread message") && notice.contains("1 urgent"),
        "{text}"
    );
    assert!(
        text.lines().count() >= 2,
        "the notice is its own line: {text}"
    );
    // Failed calls carry no notice.
    let error = a.call_err("enki_task_show", json!({"task_id": "task-01ZZZZZZZZ"}));
    assert!(!error.contains("unread"), "{error}");

    let read = text_of(&a.call_ok("enki_mail_read", json!({"message_id": id})));
    assert!(!read.contains("unread message"), "{read}");
    let after = text_of(&a.call_ok("enki_status", json!({})));
    assert!(!after.contains("unread"), "{after}");

    // The planner's results never carry it, even with mail for the coordinator.
    send(
        &mut a,
        "coordinator",
        "question",
        json!({"priority": "urgent"}),
    );
    let planner_text = text_of(&setup.planner.call_ok("enki_status", json!({})));
    assert!(
        !planner_text.contains("unread") && !planner_text.contains("[mail]"),
        "{planner_text}"
    );
}

// ----- sessions ------------------------------------------------------------

#[test]
fn the_session_scopes_what_a_server_sees() {
    let project = Project::new();
    let mut a = mcp_with_env(
        &project,
        &["--role", "planner"],
        &[("ENKI_SESSION_ID", "sess-a")],
    );
    let id = create_task(&mut a, "in session a");
    assert_eq!(
        task_row(&project, &id).session_id.as_deref(),
        Some("sess-a")
    );
    let signal = only_signal(&project);
    assert_eq!(signal["session"], "sess-a");

    let status = a.call_ok("enki_status", json!({}));
    assert_eq!(status["structuredContent"]["total"], 1);

    let mut b = mcp_with_env(
        &project,
        &["--role", "planner"],
        &[("ENKI_SESSION_ID", "sess-b")],
    );
    let status = b.call_ok("enki_status", json!({}));
    assert_eq!(status["structuredContent"]["total"], 0);
    let list = b.call_ok("enki_task_list", json!({}));
    assert_eq!(list["structuredContent"]["tasks"], json!([]));
    assert_eq!(text_of(&list), "no tasks");
    let dag = b.call_ok("enki_dag", json!({}));
    assert_eq!(dag["structuredContent"]["executions"], json!([]));
    // stop_all pauses only this session's executions.
    b.call_ok("enki_stop_all", json!({}));
    let row = task_row(&project, &id);
    assert_eq!(
        store(&project)
            .execution(&row.execution_id)
            .unwrap()
            .unwrap()
            .status
            .as_str(),
        "running"
    );
}

// ----- audit log -----------------------------------------------------------

#[test]
fn every_tool_call_appends_one_audit_line_with_its_outcome() {
    let project = Project::new();
    let mut client = mcp_with_env(
        &project,
        &["--role", "planner"],
        &[("ENKI_SESSION_ID", "sess-audit")],
    );
    let before = project.audit_lines().len();
    create_task(&mut client, "audited");
    client.call_err("enki_task_show", json!({"task_id": "task-01ZZZZZZZZ"}));
    client.call_err("enki_task_create", json!({"nope": 1}));
    client.request("ping", json!({}));
    client.request("tools/list", json!({}));

    let lines = project.audit_lines();
    assert_eq!(
        lines.len(),
        before + 3,
        "one line per tools/call, none for other methods"
    );
    let new = &lines[before..];
    let outcomes: Vec<&str> = new.iter().map(|l| l["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, ["ok", "tool error", "tool error"]);
    assert_eq!(new[0]["tool"], "enki_task_create");
    assert_eq!(new[0]["arguments"]["title"], "audited");
    assert_eq!(new[1]["tool"], "enki_task_show");
    for line in new {
        assert_eq!(line["role"], "planner");
        assert_eq!(line["session"], "sess-audit");
        assert_eq!(line["task"], Value::Null);
        assert!(line["at"].is_string());
    }

    let task = create_task(&mut client, "for a worker");
    let mut w = worker(&project, &task);
    w.call_ok("enki_status", json!({}));
    w.call_err("enki_task_retry", json!({"task_id": task}));
    let lines = project.audit_lines();
    let tail = &lines[lines.len() - 2..];
    assert_eq!(
        (tail[0]["tool"].as_str(), tail[0]["outcome"].as_str()),
        (Some("enki_status"), Some("ok"))
    );
    assert_eq!(
        (tail[1]["tool"].as_str(), tail[1]["outcome"].as_str()),
        (Some("enki_task_retry"), Some("refused"))
    );
    for line in tail {
        assert_eq!(line["role"], "worker");
        assert_eq!(line["task"], task.as_str());
    }
}

#[test]
fn long_argument_values_are_truncated_in_the_audit_log() {
    let project = Project::new();
    let mut client = planner(&project);
    let description = "d".repeat(10_000);
    let id = create_task_with(
        &mut client,
        json!({"title": "long", "description": description}),
    );
    assert_eq!(
        task_row(&project, &id).description.len(),
        10_000,
        "the task keeps it all"
    );
    let line = last_audit(&project);
    let stored = line["arguments"]["description"]
        .as_str()
        .expect("description kept, cut");
    assert!(
        stored.chars().count() < 1000,
        "{} chars",
        stored.chars().count()
    );
    assert!(stored.starts_with("dddd"));
    assert_eq!(line["arguments"]["title"], "long");
    assert!(line.to_string().len() < 2000, "the whole line stays small");
}

fn create_task_with(client: &mut McpClient, arguments: Value) -> String {
    let result = client.call_ok("enki_task_create", arguments);
    result["structuredContent"]["task_id"]
        .as_str()
        .expect("task_id")
        .to_string()
}

// ----- schemas promise what validation enforces ------------------------------

/// Walks a schema: every object schema has `required` and
/// `additionalProperties: false`, every property a description, and no
/// schema admits `null` (validation refuses it everywhere).
fn check_schema(tool: &str, path: &str, schema: &Value) {
    let Some(map) = schema.as_object() else {
        panic!("{tool} {path}: a schema is an object: {schema}");
    };
    let types: Vec<&Value> = match map.get("type") {
        Some(Value::Array(types)) => types.iter().collect(),
        Some(one) => vec![one],
        None => Vec::new(),
    };
    assert!(
        !types.contains(&&json!("null")),
        "{tool} {path}: null is not accepted, so not advertised: {schema}"
    );
    if types.contains(&&json!("object")) || map.contains_key("properties") {
        assert!(
            map.get("required").is_some_and(Value::is_array),
            "{tool} {path}: `required` listed: {schema}"
        );
        assert_eq!(
            map.get("additionalProperties"),
            Some(&json!(false)),
            "{tool} {path}: closed object: {schema}"
        );
        let properties = map
            .get("properties")
            .and_then(Value::as_object)
            .unwrap_or_else(|| panic!("{tool} {path}: properties: {schema}"));
        for (name, property) in properties {
            assert!(
                property["description"]
                    .as_str()
                    .is_some_and(|d| d.trim().len() > 3),
                "{tool} {path}.{name} has no description: {property}"
            );
            check_schema(tool, &format!("{path}.{name}"), property);
        }
    }
    if let Some(items) = map.get("items") {
        check_schema(tool, &format!("{path}[]"), items);
    }
    for key in ["oneOf", "anyOf", "allOf"] {
        if let Some(Value::Array(options)) = map.get(key) {
            for (i, option) in options.iter().enumerate() {
                check_schema(tool, &format!("{path}/{key}[{i}]"), option);
            }
        }
    }
}

#[test]
fn every_property_of_every_tool_is_described_and_every_object_is_closed() {
    let project = Project::new();
    let mut tools = tools_of(&mut project.mcp(&["--role", "planner"]));
    tools.extend(tools_of(&mut project.mcp(&[
        "--role",
        "worker",
        "--task-id",
        "task-01",
    ])));
    for tool in &tools {
        let name = tool["name"].as_str().expect("name");
        check_schema(name, "", &tool["inputSchema"]);
    }

    let schema = |name: &str| -> Value {
        tools
            .iter()
            .find(|t| t["name"] == name)
            .map(|t| t["inputSchema"].clone())
            .unwrap_or_else(|| panic!("{name} is listed"))
    };
    let create = schema("enki_execution_create");
    assert_eq!(create["properties"]["steps"]["minItems"], 1);
    let step = &create["properties"]["steps"]["items"];
    assert_eq!(step["properties"]["title"]["minLength"], 1);
    assert_eq!(
        step["properties"]["id"]["pattern"],
        enki_core::dag::STEP_ID_PATTERN
    );
    assert_eq!(
        schema("enki_execution_add_steps")["properties"]["steps"]["minItems"],
        1
    );
    assert_eq!(
        schema("enki_task_create")["properties"]["title"]["minLength"],
        1
    );
    assert_eq!(
        schema("enki_worker_report")["properties"]["status"]["minLength"],
        1
    );
    let read = schema("enki_read_file");
    assert_eq!(read["properties"]["offset"]["minimum"], 1);
    assert_eq!(read["properties"]["limit"]["minimum"], 1);
    assert_eq!(
        schema("enki_edit_file")["properties"]["edits"]["minItems"],
        1
    );
    assert_eq!(
        schema("enki_mail_send")["properties"]["subject"]["minLength"],
        1
    );
}

#[test]
fn values_the_schema_excludes_are_refused_naming_the_field() {
    let project = Project::new();
    let mut client = planner(&project);
    project.clear_signals();
    for (tool, arguments, field) in [
        ("enki_task_create", json!({"title": ""}), "title"),
        (
            "enki_task_create",
            json!({"title": "t", "tier": null}),
            "tier",
        ),
        (
            "enki_task_create",
            json!({"title": "t", "needs": [{"task": "task-01", "condition": null}]}),
            "needs[0].condition",
        ),
        (
            "enki_execution_create",
            json!({"steps": [{"id": "a", "title": ""}]}),
            "steps[0].title",
        ),
        (
            "enki_execution_create",
            json!({"steps": [{"id": "a".repeat(65), "title": "A"}]}),
            "steps[0].id",
        ),
        (
            "enki_mail_send",
            json!({"to": "user", "subject": "", "body": "b"}),
            "subject",
        ),
    ] {
        let text = refused_without_effect(&project, &mut client, tool, arguments.clone());
        assert!(
            text.contains(&format!("`{field}`")),
            "{tool}({arguments}): names `{field}`: {text}"
        );
    }
    let text = client.call_err("enki_task_create", json!({"title": "t", "tier": null}));
    assert!(text.contains("null"), "{text}");

    let (_task, copy, mut worker) = worker_with_copy(&project);
    for (arguments, field) in [
        (json!({"path": "src.txt", "offset": 0}), "offset"),
        (json!({"path": "src.txt", "limit": 0}), "limit"),
    ] {
        let text = worker.call_err("enki_read_file", arguments);
        assert!(text.contains(&format!("`{field}`")), "{text}");
    }
    let text = worker.call_err("enki_edit_file", json!({"path": "src.txt", "edits": []}));
    assert!(
        text.contains("`edits`") && text.contains("at least one"),
        "{text}"
    );
    let text = worker.call_err("enki_worker_report", json!({"status": ""}));
    assert!(text.contains("`status`"), "{text}");
    assert_eq!(
        std::fs::read_to_string(copy.join("src.txt")).unwrap(),
        "alpha\nbeta\ngamma\n"
    );
    // offset 1 is the first line.
    let first = worker.call_ok(
        "enki_read_file",
        json!({"path": "src.txt", "offset": 1, "limit": 1}),
    );
    assert!(text_of(&first).contains("|alpha"), "{}", text_of(&first));
}

// ----- needs are resolved before the new task exists -----------------------

#[test]
fn a_prefix_in_needs_never_matches_the_task_being_created() {
    let project = Project::new();
    let mut client = planner(&project);

    // An empty database: `task-0` matches nothing (not the new task itself).
    let text = refused_without_effect(
        &project,
        &mut client,
        "enki_task_create",
        json!({"title": "t", "needs": ["task-0"]}),
    );
    assert_eq!(
        text, "needs task 'task-0': no task matches 'task-0'",
        "a standalone task is spoken of as a task"
    );
    let text = refused_without_effect(
        &project,
        &mut client,
        "enki_execution_create",
        json!({"steps": [{"id": "a", "title": "A", "needs": [{"task": "task-0"}]}]}),
    );
    assert_eq!(
        text,
        "step 'a' needs task 'task-0': no task matches 'task-0'"
    );

    // With two tasks, the ambiguity lists exactly those two.
    let first = create_task(&mut client, "one");
    let second = create_task(&mut client, "two");
    let common: String = first
        .chars()
        .zip(second.chars())
        .take_while(|(a, b)| a == b)
        .map(|(a, _)| a)
        .collect();
    let text = refused_without_effect(
        &project,
        &mut client,
        "enki_task_create",
        json!({"title": "three", "needs": [common]}),
    );
    let (_, candidates) = text
        .split_once("it matches tasks ")
        .unwrap_or_else(|| panic!("an ambiguity: {text}"));
    let mut candidates: Vec<&str> = candidates.split(", ").collect();
    candidates.sort();
    let mut expected = vec![first.as_str(), second.as_str()];
    expected.sort();
    assert_eq!(
        candidates, expected,
        "the two existing tasks, not the one being created: {text}"
    );
}

// ----- new work that cannot run starts blocked --------------------------------

#[test]
fn a_task_that_needs_a_failed_or_cancelled_task_is_created_blocked() {
    let project = Project::new();
    let mut client = planner(&project);
    let failed = create_task(&mut client, "broken");
    set_status(&project, &failed, TaskStatus::Failed);
    let landed = create_task(&mut client, "landed");
    set_status(&project, &landed, TaskStatus::Done);
    project.clear_signals();

    let result = client.call_ok(
        "enki_task_create",
        json!({"title": "after broken", "needs": [{"task": failed, "condition": "started"}]}),
    );
    let data = &result["structuredContent"];
    let blocked = data["task_id"].as_str().expect("task_id").to_string();
    assert_eq!(data["status"], "blocked");
    assert!(
        data["blocked_because"]
            .as_str()
            .is_some_and(|why| why.contains(&failed) && why.contains("failed")),
        "{data}"
    );
    let text = text_of(&result);
    assert!(
        text.contains("status: blocked")
            && text.contains(&failed)
            && text.contains("enki_task_retry"),
        "{text}"
    );
    assert_eq!(task_row(&project, &blocked).status, TaskStatus::Blocked);
    assert_eq!(only_signal(&project)["type"], "task_created");

    // A need that already holds does not block.
    let fine = client.call_ok(
        "enki_task_create",
        json!({"title": "after landed", "needs": [landed]}),
    );
    assert_eq!(fine["structuredContent"]["status"], "pending");
    assert!(
        text_of(&fine).contains("status: pending"),
        "{}",
        text_of(&fine)
    );

    // Retrying the failed task unblocks it.
    client.call_ok("enki_task_retry", json!({"task_id": failed}));
    assert_eq!(task_row(&project, &blocked).status, TaskStatus::Pending);

    // Steps: a cancelled need blocks its step and what needs that step.
    let cancelled = create_task(&mut client, "dropped");
    set_status(&project, &cancelled, TaskStatus::Cancelled);
    let result = client.call_ok(
        "enki_execution_create",
        json!({"title": "plan", "steps": [
            {"id": "a", "title": "A", "needs": [{"task": cancelled}]},
            {"id": "b", "title": "B", "needs": ["a"]},
            {"id": "c", "title": "C"},
        ]}),
    );
    let plan = steps_of(&result["structuredContent"]);
    let statuses: HashMap<String, String> = result["structuredContent"]["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| {
            (
                s["step_id"].as_str().unwrap_or_default().to_string(),
                s["status"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_eq!(statuses["a"], "blocked");
    assert_eq!(statuses["b"], "blocked");
    assert_eq!(statuses["c"], "pending");
    assert_eq!(task_row(&project, &plan["a"]).status, TaskStatus::Blocked);
    assert_eq!(task_row(&project, &plan["b"]).status, TaskStatus::Blocked);
    assert_eq!(task_row(&project, &plan["c"]).status, TaskStatus::Pending);
    let text = text_of(&result);
    assert!(
        text.contains("a -> ")
            && text.contains("(blocked: needs")
            && text.contains("2 of them are blocked"),
        "{text}"
    );

    // Added steps that need a failed step start blocked too.
    let execution = result["structuredContent"]["execution_id"]
        .as_str()
        .expect("execution_id")
        .to_string();
    set_status(&project, &plan["c"], TaskStatus::Failed);
    let added = client.call_ok(
        "enki_execution_add_steps",
        json!({"execution_id": execution, "steps": [{"id": "d", "title": "D", "needs": ["c"]}]}),
    );
    let d = steps_of(&added["structuredContent"])["d"].clone();
    assert_eq!(task_row(&project, &d).status, TaskStatus::Blocked);
    assert!(
        text_of(&added).contains("step 'c'") || text_of(&added).contains(&plan["c"]),
        "{}",
        text_of(&added)
    );
}

// ----- steering errors and happy paths ---------------------------------------

#[test]
fn cancel_refuses_unknown_targets_and_finished_steps_without_effect() {
    let project = Project::new();
    let mut client = planner(&project);
    let plan = chain(&mut client);
    set_status(&project, plan.task("a"), TaskStatus::Done);
    project.clear_signals();

    let text = refused_without_effect(
        &project,
        &mut client,
        "enki_cancel",
        json!({"execution_id": plan.id, "step_id": "zz"}),
    );
    assert!(text.contains("has no step 'zz'"), "{text}");
    let text = refused_without_effect(
        &project,
        &mut client,
        "enki_cancel",
        json!({"execution_id": "exec-01ZZZZZZZZ"}),
    );
    assert!(text.contains("no execution matches"), "{text}");
    let text = refused_without_effect(
        &project,
        &mut client,
        "enki_cancel",
        json!({"execution_id": plan.id, "step_id": "a"}),
    );
    assert!(
        text.contains("step 'a' is done") && text.contains("nothing to cancel"),
        "{text}"
    );
    for step in ["b", "c"] {
        assert_eq!(
            task_row(&project, plan.task(step)).status,
            TaskStatus::Pending,
            "{step} untouched"
        );
    }
}

#[test]
fn mail_check_and_inbox_need_the_workers_task_id() {
    let project = Project::new();
    let mut setup = mail_setup(&project);
    send(
        &mut setup.planner,
        &format!("worker/{}", setup.a),
        "hello",
        json!({}),
    );
    let mut anonymous = project.mcp(&["--role", "worker"]);
    for tool in ["enki_mail_check", "enki_mail_inbox"] {
        let text = anonymous.call_err(tool, json!({}));
        assert!(
            text.contains("--task-id") && text.contains("worker"),
            "{tool}: {text}"
        );
    }
    // The planner's mailbox needs no task.
    let check = setup.planner.call_ok("enki_mail_check", json!({}));
    assert_eq!(check["structuredContent"]["mailbox"], "coordinator");
    assert_eq!(text_of(&check), "No unread mail for coordinator");
}

#[test]
fn status_reports_every_count_it_knows() {
    let project = Project::new();
    let mut client = planner(&project);
    let plan = chain(&mut client);
    let single = create_task(&mut client, "single");
    set_status(&project, plan.task("a"), TaskStatus::Running);
    set_status(&project, &single, TaskStatus::WorkerDone);
    store(&project)
        .enqueue_merge(&single, &format!("enki/{single}"), Some("main"))
        .expect("queue a merge");

    let result = client.call_ok("enki_status", json!({}));
    assert_eq!(
        text_of(&result),
        "4 tasks: 2 pending, 1 running, 1 worker_done · 1 running worker · merge queue: 1 · 2 active executions"
    );
    assert_eq!(
        result["structuredContent"],
        json!({
            "total": 4,
            "by_status": {"pending": 2, "running": 1, "worker_done": 1},
            "running_workers": 1,
            "merge_queue": 1,
            "executions_active": 2,
        })
    );
}

#[test]
fn stop_all_reports_the_executions_it_paused() {
    let project = Project::new();
    let mut client = planner(&project);
    let first = chain(&mut client);
    let second = chain(&mut client);
    let already = chain(&mut client);
    client.call_ok("enki_pause", json!({"execution_id": already.id}));
    project.clear_signals();

    let result = client.call_ok("enki_stop_all", json!({}));
    assert_eq!(
        text_of(&result),
        "Stopping every running worker; 2 executions paused. Nothing was deleted: use enki_resume to continue."
    );
    assert_eq!(
        result["structuredContent"]["paused_executions"],
        json!([first.id, second.id]),
        "the running ones, oldest first; the paused one is not counted again"
    );
    assert_eq!(only_signal(&project)["type"], "stop_all");

    // Nothing left to pause: it still stops workers and says so.
    let again = client.call_ok("enki_stop_all", json!({}));
    assert!(
        text_of(&again).contains("0 executions paused"),
        "{}",
        text_of(&again)
    );
}

// ----- the audit log covers every tools/call ----------------------------------

#[test]
fn unknown_tools_and_calls_without_a_name_are_audited_as_refused() {
    let project = Project::new();
    let mut client = planner(&project);
    let before = project.audit_lines().len();
    let long = "z".repeat(5_000);
    let response = client.request(
        "tools/call",
        json!({"name": "enki_teleport", "arguments": {"where": long}}),
    );
    assert_eq!(response["error"]["code"], -32602);
    let response = client.request("tools/call", json!({"arguments": {"a": 1}}));
    assert_eq!(response["error"]["code"], -32602);
    let response = client.request("tools/call", json!({"name": 7}));
    assert_eq!(response["error"]["code"], -32602);
    let response = client.request("tools/call", json!([1]));
    assert_eq!(response["error"]["code"], -32602);

    let lines = project.audit_lines();
    assert_eq!(lines.len(), before + 4, "{lines:#?}");
    let new = &lines[before..];
    for line in new {
        assert_eq!(line["outcome"], "refused", "{line}");
        assert_eq!(line["role"], "planner");
        assert!(line["detail"].is_string(), "{line}");
    }
    assert_eq!(new[0]["tool"], "enki_teleport");
    assert!(
        new[0]["detail"]
            .as_str()
            .is_some_and(|d| d.contains("unknown tool")),
        "{}",
        new[0]
    );
    let kept = new[0]["arguments"]["where"]
        .as_str()
        .expect("argument kept");
    assert!(
        kept.starts_with("zzz") && kept.chars().count() < 300,
        "truncated as usual: {} chars",
        kept.chars().count()
    );
    assert_eq!(new[1]["tool"], Value::Null);
    assert_eq!(new[1]["arguments"], json!({"a": 1}));
    assert_eq!(new[2]["tool"], Value::Null);
    assert_eq!(new[3]["tool"], Value::Null);
}
