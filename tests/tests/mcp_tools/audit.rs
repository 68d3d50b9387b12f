//! The audit log: one line per `tools/call` with its outcome, truncated
//! arguments, and refused calls to unknown or unnamed tools.

use enki_tests::{McpClient, Project};
use serde_json::{Value, json};

use crate::{create_task, last_audit, mcp_with_env, planner, task_row, worker};

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
