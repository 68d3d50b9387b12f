//! The JSON-RPC transport and MCP lifecycle of the real `enki mcp` binary.
// An integration test: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use enki_tests::{McpClient, Project};
use serde_json::{Value, json};

fn error_code(response: &Value) -> i64 {
    response["error"]["code"]
        .as_i64()
        .unwrap_or_else(|| panic!("expected an error response, got {response}"))
}

#[test]
fn initialize_negotiates_versions_and_describes_the_server() {
    let project = Project::new();
    for (asked, expected) in [
        ("2024-11-05", "2024-11-05"),
        ("2025-03-26", "2025-03-26"),
        ("2025-06-18", "2025-06-18"),
        ("2025-11-25", "2025-11-25"),
        ("2099-01-01", "2025-11-25"),
    ] {
        let mut client =
            project.mcp_uninitialized(&["--role", "worker", "--task-id", "task-x"], &[]);
        let response = client.request(
            "initialize",
            json!({"protocolVersion": asked, "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}),
        );
        let result = &response["result"];
        assert_eq!(result["protocolVersion"], expected);
        assert_eq!(
            result["capabilities"],
            json!({
                "tools": {"listChanged": false},
                "resources": {"subscribe": true, "listChanged": false},
                "prompts": {"listChanged": true},
                "completions": {},
                "logging": {},
            })
        );
        assert_eq!(result["serverInfo"]["name"], "enki");
        assert!(result["serverInfo"]["version"].is_string());
        let instructions = result["instructions"].as_str().unwrap();
        assert!(instructions.contains("[OUTPUT]"), "{instructions}");
    }
}

#[test]
fn ping_unknown_methods_and_notifications() {
    let project = Project::new();
    let mut client = project.mcp(&[]);
    assert_eq!(client.request("ping", json!({}))["result"], json!({}));
    // Real clients send this first and stall unless it is answered at once;
    // without the 2026-07-28 `_meta` it is malformed (mcp_versions.rs).
    let response = client.request("server/discover", json!({}));
    assert_eq!(error_code(&response), -32602);
    // Notifications, known or not, get no reply: the next line answers the ping.
    client.send(
        &json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 1}}),
    );
    client.send(&json!({"jsonrpc": "2.0", "method": "notifications/whatever"}));
    client.send(&json!({"jsonrpc": "2.0", "id": 99, "result": {}}));
    let response = client.request("ping", json!(null));
    assert_eq!(response["result"], json!({}));
}

#[test]
fn malformed_input_gets_the_specified_errors_and_the_server_keeps_serving() {
    let project = Project::new();
    let mut client = project.mcp(&[]);

    client.send_raw(b"{not json\n");
    let response = client.read();
    assert_eq!(error_code(&response), -32700);
    assert_eq!(response["id"], Value::Null);

    client.send_raw(b"{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"ping\",\"x\":\"\xff\xfe\"}\n");
    assert_eq!(
        error_code(&client.read()),
        -32700,
        "non-UTF-8 bytes are a parse error"
    );

    client.send_raw(b"[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}]\n");
    assert_eq!(error_code(&client.read()), -32600, "batches are refused");

    client.send_raw(b"{\"id\":7,\"method\":\"ping\"}\n");
    let response = client.read();
    assert_eq!(error_code(&response), -32600, "jsonrpc 2.0 is required");
    assert_eq!(
        response["id"], 7,
        "the id is echoed when it can be recovered"
    );

    client.send_raw(b"{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":42}\n");
    assert_eq!(error_code(&client.read()), -32600);

    client.send_raw(b"\"just a string\"\n");
    assert_eq!(error_code(&client.read()), -32600);

    // Blank lines are skipped silently.
    client.send_raw(b"\n   \n");
    assert_eq!(client.request("ping", json!({}))["result"], json!({}));
}

#[test]
fn a_ten_megabyte_line_is_refused_and_the_next_request_is_served() {
    let project = Project::new();
    let mut client = project.mcp(&[]);
    let mut huge =
        b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"params\":{\"pad\":\"".to_vec();
    huge.extend(std::iter::repeat_n(b'a', 10 * 1024 * 1024));
    huge.extend_from_slice(b"\"}}\n");
    client.send_raw(&huge);
    let response = client.read();
    assert_eq!(error_code(&response), -32600);
    assert_eq!(response["id"], Value::Null);
    assert!(
        response["error"]["message"]
            .as_str()
            .unwrap()
            .contains("too long")
    );
    assert_eq!(client.request("ping", json!({}))["result"], json!({}));
}

#[test]
fn invalid_params_and_unknown_tools_are_minus_32602() {
    let project = Project::new();
    let mut client = project.mcp(&[]);
    assert_eq!(error_code(&client.request("initialize", json!({}))), -32602);
    assert_eq!(
        error_code(&client.request("initialize", json!({"protocolVersion": 1}))),
        -32602
    );
    assert_eq!(error_code(&client.request("tools/call", json!({}))), -32602);
    assert_eq!(
        error_code(&client.request("tools/call", json!({"name": 3}))),
        -32602
    );
    assert_eq!(
        error_code(&client.request("tools/list", json!([1]))),
        -32602
    );
    assert_eq!(error_code(&client.request("ping", json!([1]))), -32602);
    for cursor in [json!(5), json!({}), json!(["a"]), json!(true)] {
        let response = client.request("tools/list", json!({"cursor": cursor}));
        assert_eq!(error_code(&response), -32602, "cursor {cursor}");
        assert!(
            response["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .contains("cursor"),
            "{response}"
        );
    }
    // A string cursor is accepted and ignored (there is one page).
    let listed = client.request("tools/list", json!({"cursor": "next"}));
    assert!(listed["result"]["tools"].is_array(), "{listed}");
    assert!(listed["result"].get("nextCursor").is_none(), "{listed}");
    let response = client.request(
        "tools/call",
        json!({"name": "enki_teleport", "arguments": {}}),
    );
    assert_eq!(error_code(&response), -32602);
    assert!(
        response["error"]["message"]
            .as_str()
            .unwrap()
            .contains("unknown tool")
    );
}

#[test]
fn responses_come_in_request_order_and_eof_exits_zero() {
    let project = Project::new();
    let mut client = project.mcp(&[]);
    let mut batch = Vec::new();
    for id in 100..120 {
        let method = if id % 3 == 0 { "tools/list" } else { "ping" };
        batch.extend(
            serde_json::to_vec(&json!({"jsonrpc": "2.0", "id": id, "method": method})).unwrap(),
        );
        batch.push(b'\n');
    }
    client.send_raw(&batch);
    for id in 100..120 {
        assert_eq!(client.read()["id"], id);
    }
    let (status, _stderr) = client.finish();
    assert_eq!(status.code(), Some(0));
}

#[test]
fn an_unknown_role_is_a_usage_error() {
    let project = Project::new();
    let output = project.enki(&["mcp", "--role", "wizard"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(output.stdout.is_empty(), "stdout carries only protocol");
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown role 'wizard'"));
}

#[test]
fn without_an_enki_folder_tools_fail_clearly_but_the_protocol_works() {
    let project = Project::bare();
    let mut cmd = project.enki(&["mcp"]);
    cmd.current_dir(&project.root);
    let mut client = McpClient::spawn(cmd);
    client.initialize();
    assert_eq!(client.request("ping", json!({}))["result"], json!({}));
    let text = client.call_err("enki_status", json!({}));
    assert!(text.contains("enki init"), "{text}");
    assert!(
        text.contains(project.root.to_str().unwrap()),
        "names the path: {text}"
    );
}

#[test]
fn a_database_from_a_newer_enki_is_refused_with_a_clear_message() {
    let project = Project::new();
    let conn = rusqlite_like_bump(&project);
    drop(conn);
    let mut client = project.mcp(&[]);
    let text = client.call_err("enki_status", json!({}));
    assert!(text.contains("newer than this enki understands"), "{text}");
    // The server is still alive.
    assert_eq!(client.request("ping", json!({}))["result"], json!({}));
}

/// Sets the schema version past what this binary knows.
fn rusqlite_like_bump(project: &Project) -> enki_store::Store {
    let store = enki_store::Store::open(&project.db_path()).unwrap();
    store
        .connection()
        .pragma_update(None, "user_version", enki_store::SCHEMA_VERSION + 1)
        .unwrap();
    store
}

#[test]
fn traffic_is_logged_per_process_and_stdout_is_pure_protocol() {
    let project = Project::new();
    let mut client =
        project.mcp_uninitialized(&["--role", "planner"], &[("ENKI_SESSION_ID", "sess-log")]);
    client.initialize();
    client.call_ok("enki_status", json!({}));
    drop(client);
    let log = project.enki_dir().join("logs/mcp/sess-log-planner.jsonl");
    let text = std::fs::read_to_string(&log).unwrap();
    let entries: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        entries
            .iter()
            .any(|e| e["dir"] == "in" && e["msg"]["method"] == "initialize")
    );
    assert!(
        entries
            .iter()
            .any(|e| e["dir"] == "out" && e["msg"]["result"]["serverInfo"]["name"] == "enki")
    );
    assert!(entries.iter().all(|e| e["at"].is_string()));
}

#[test]
fn a_workers_traffic_log_is_named_after_its_full_task_id() {
    let project = Project::new();
    let mut planner = project.mcp(&["--role", "planner"]);
    let created = planner.call_ok("enki_task_create", json!({"title": "logged"}));
    let task = created["structuredContent"]["task_id"]
        .as_str()
        .expect("task id")
        .to_string();
    drop(planner);
    let prefix = enki_core::id::short(&task).to_lowercase();
    for typed in [prefix.as_str(), task.as_str()] {
        let mut worker = project.mcp_uninitialized(
            &["--role", "worker", "--task-id", typed],
            &[("ENKI_SESSION_ID", "sess-w")],
        );
        worker.initialize();
        assert_eq!(worker.request("ping", json!({}))["result"], json!({}));
        let (status, _) = worker.finish();
        assert_eq!(status.code(), Some(0));
    }
    let logs = project.enki_dir().join("logs/mcp");
    let mut names: Vec<String> = std::fs::read_dir(&logs)
        .expect("mcp logs")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("sess-w-"))
        .collect();
    names.sort();
    assert_eq!(
        names,
        vec![format!("sess-w-worker-{task}.jsonl")],
        "one file for the prefix and the full id"
    );
    let text = std::fs::read_to_string(logs.join(&names[0])).expect("log");
    let pings = text
        .lines()
        .filter(|l| l.contains("\"method\":\"ping\""))
        .count();
    assert_eq!(pings, 2, "both servers wrote to it: {text}");
}
