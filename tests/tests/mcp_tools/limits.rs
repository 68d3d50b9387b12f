//! What a session may ask of `enki mcp` and what its logs keep: the rate
//! limit of tool calls (`[mcp] rate_limit`), the cap on a tool result, the
//! rotation of traffic logs (`[mcp] traffic_log_max_bytes`), and secrets
//! kept out of the audit and traffic logs.

use std::time::{Duration, Instant};

use enki_tests::{McpClient, Project, text_of};
use serde_json::{Value, json};

use crate::{configure, create_execution, last_audit, planner};

/// The seconds a rate-limit refusal says to wait.
fn retry_after(text: &str) -> f64 {
    let rest = text
        .split("Retry in ")
        .nth(1)
        .unwrap_or_else(|| panic!("no retry time in: {text}"));
    rest.split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number of seconds in: {text}"))
}

#[test]
fn tool_calls_over_the_rate_limit_are_refused_saying_when_to_retry() {
    let project = Project::new();
    configure(
        &project,
        "[mcp]\nrate_limit = { per_second = 2, burst = 3 }\n",
    );
    let mut client = planner(&project);
    for _ in 0..3 {
        client.call_ok("enki_status", json!({}));
    }
    let before = project.signals().len();
    let text = client.call_err("enki_task_create", json!({"title": "one too many"}));
    assert!(text.starts_with("rate limit:"), "{text}");
    assert!(
        text.contains("2 tool calls a second (3 at once)") && text.contains("[mcp] rate_limit"),
        "{text}"
    );
    let wait = retry_after(&text);
    assert!(wait > 0.0 && wait <= 0.5, "{wait}");
    assert_eq!(project.signals().len(), before, "nothing was done");
    let audit = last_audit(&project);
    assert_eq!(
        (audit["tool"].as_str(), audit["outcome"].as_str()),
        (Some("enki_task_create"), Some("refused"))
    );

    // Other requests are never limited.
    assert_eq!(client.request("ping", json!({}))["result"], json!({}));
    assert!(client.request("tools/list", json!({}))["result"]["tools"].is_array());

    std::thread::sleep(Duration::from_secs_f64(wait));
    client.call_ok("enki_task_create", json!({"title": "in time"}));
}

#[test]
fn the_default_limit_lets_a_busy_agent_through() {
    let project = Project::new();
    let mut client = planner(&project);
    for _ in 0..60 {
        client.call_ok("enki_status", json!({}));
    }
}

#[test]
fn a_result_over_the_cap_is_cut_with_a_marker() {
    let project = Project::new();
    let mut client = planner(&project);
    let huge = "h".repeat(600 * 1024);
    let plan = create_execution(
        &mut client,
        json!([{"id": "big", "title": "big", "description": huge}]),
    );
    let response = client.request(
        "tools/call",
        json!({"name": "enki_task_show", "arguments": {"task_id": plan.task("big")}}),
    );
    let size = response.to_string().len();
    assert!(
        size < 270 * 1024,
        "the whole answer stays near 256 KiB: {size}"
    );
    let result = &response["result"];
    assert_eq!(result["isError"], false);
    let text = text_of(result);
    assert!(text.contains("hhhh"), "the start is kept");
    assert!(
        text.ends_with("ask for less: a cursor, a filter, an offset and limit]"),
        "{}",
        &text[text.len() - 300..]
    );
    assert_eq!(result["structuredContent"]["truncated"], true);
}

fn traffic_logs(project: &Project) -> Vec<(String, u64)> {
    let mut files: Vec<(String, u64)> = std::fs::read_dir(project.enki_dir().join("logs/mcp"))
        .expect("the traffic log folder")
        .flatten()
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.contains(".jsonl") && !name.ends_with(".lock")
        })
        .map(|e| {
            let len = e.metadata().map(|m| m.len()).unwrap_or(0);
            (e.file_name().to_string_lossy().into_owned(), len)
        })
        .collect();
    files.sort();
    files
}

#[test]
fn traffic_logs_rotate_at_their_configured_size() {
    let project = Project::new();
    configure(&project, "[mcp]\ntraffic_log_max_bytes = 4096\n");
    let mut client = planner(&project);
    let padding = "p".repeat(500);
    for _ in 0..100 {
        client.request("ping", json!({"padding": padding}));
    }
    drop(client);
    let files = traffic_logs(&project);
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "nosession-planner.jsonl",
            "nosession-planner.jsonl.1",
            "nosession-planner.jsonl.2",
            "nosession-planner.jsonl.3",
        ],
        "three older files, no more"
    );
    for (name, len) in &files {
        assert!(*len < 4096 + 1024, "{name}: {len} bytes");
    }
    let newest =
        std::fs::read_to_string(project.enki_dir().join("logs/mcp/nosession-planner.jsonl"))
            .expect("the newest traffic log");
    for line in newest.lines() {
        let entry: Value = serde_json::from_str(line).expect("whole JSON lines after rotation");
        assert!(entry["msg"].is_object(), "{entry}");
    }
}

#[test]
fn secrets_never_reach_the_audit_or_traffic_logs() {
    let project = Project::new();
    let mut client = planner(&project);
    let long = "L".repeat(5000);
    client.call_err(
        "enki_task_create",
        json!({
            "title": "with secrets",
            "token": "tok-123456",
            "options": {"Password": "hunter2", "headers": [{"Authorization": "Bearer abc.def"}]},
            "client_secret": {"nested": "deeper-secret"},
            "notes": long,
        }),
    );
    client.request(
        "tools/call",
        json!({"name": "enki_teleport", "arguments": {"X-API-Key": "key-789"}}),
    );
    drop(client);
    let lines = project.audit_lines();
    let create = &lines[lines.len() - 2];
    let arguments = &create["arguments"];
    assert_eq!(arguments["token"], "[redacted]");
    assert_eq!(arguments["options"]["Password"], "[redacted]");
    assert_eq!(
        arguments["options"]["headers"][0]["Authorization"],
        "[redacted]"
    );
    assert_eq!(arguments["client_secret"], "[redacted]");
    assert_eq!(arguments["title"], "with secrets");
    let notes = arguments["notes"].as_str().unwrap_or_default();
    assert!(
        notes.ends_with("(5000 chars)") && notes.len() < 300,
        "{notes}"
    );
    assert_eq!(
        lines[lines.len() - 1]["arguments"]["X-API-Key"],
        "[redacted]"
    );

    let audit = std::fs::read_to_string(project.enki_dir().join("logs/audit.jsonl")).unwrap();
    let traffic =
        std::fs::read_to_string(project.enki_dir().join("logs/mcp/nosession-planner.jsonl"))
            .unwrap();
    for secret in [
        "tok-123456",
        "hunter2",
        "abc.def",
        "deeper-secret",
        "key-789",
    ] {
        assert!(!audit.contains(secret), "{secret} in the audit log");
        assert!(!traffic.contains(secret), "{secret} in the traffic log");
    }
    assert!(traffic.contains("with secrets"), "the rest is logged");
}

#[test]
fn a_flood_of_calls_costs_bounded_time_and_log() {
    let project = Project::new();
    configure(
        &project,
        "[mcp]\nrate_limit = { per_second = 1, burst = 1 }\ntraffic_log_max_bytes = 65536\n",
    );
    let mut client: McpClient = planner(&project);
    let started = Instant::now();
    let mut refused = 0;
    for _ in 0..200 {
        let result = client.call("enki_status", json!({}));
        if result["isError"] == true {
            refused += 1;
        }
    }
    assert!(refused >= 195, "{refused} refused");
    assert!(started.elapsed() < Duration::from_secs(30));
    drop(client);
    let total: u64 = traffic_logs(&project).iter().map(|(_, len)| len).sum();
    assert!(total < 4 * (65536 + 4096), "{total} bytes of traffic log");
}
