//! The read tools (`enki_status`, `enki_task_list`, `enki_task_show`,
//! `enki_dag`) and how the session scopes what a server sees.

use enki_core::TaskStatus;
use enki_tests::{Project, text_of};
use serde_json::{Value, json};

use crate::{
    chain, create_execution, create_task, mcp_with_env, only_signal, planner, set_status, store,
    task_row,
};

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
    let text = text_of(&result);
    let (counts, workers) = text.split_once('\n').expect("a workers section");
    assert_eq!(
        counts,
        "4 tasks: 2 pending, 1 running, 1 worker_done · 1 running worker · merge queue: 1 · 2 active executions"
    );
    // The running task shows what its agent does (no coordinator judged it:
    // idle, starting), for how long and why.
    assert!(workers.starts_with("workers:\n  task-"), "{workers}");
    assert!(
        workers.contains("[a] ") && workers.contains("○ idle "),
        "{workers}"
    );
    assert!(workers.ends_with(" — starting"), "{workers}");
    let mut data = result["structuredContent"].clone();
    let listed = data["workers"].take();
    assert_eq!(listed[0]["task_id"], plan.task("a"));
    assert_eq!(listed[0]["agent_state"], "idle");
    assert_eq!(listed[0]["agent_state_reason"], "starting");
    // No agent ran: no usage, its amounts unknown (not 0).
    let usage = data["usage"].take();
    assert_eq!(usage["runs"], 0, "{usage}");
    assert_eq!(usage["tokens"]["input"], Value::Null, "{usage}");
    assert!(!text.contains("usage:"), "{text}");
    assert_eq!(
        data,
        json!({
            "total": 4,
            "by_status": {"pending": 2, "running": 1, "worker_done": 1},
            "running_workers": 1,
            "merge_queue": 1,
            "executions_active": 2,
            "workers": null,
            "usage": null,
        })
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
    assert!(text.starts_with("TASK "), "a header first: {text}");
    assert_eq!(
        text.lines().count(),
        5,
        "a header and one line per task: {text}"
    );

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
    b.call_ok("enki_stop_all", json!({"confirm": "stop all"}));
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
