//! Protocol versions of the real `enki mcp` over stdio: initialize in every
//! legacy revision, the stateless 2026-07-28 revision (server/discover and
//! per-request `_meta`, no initialize), JSON-RPC batches in 2025-03-26 only,
//! and request ids echoed byte for byte.
// An integration test: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use enki_tests::{Project, describe, wait_output};
use serde_json::{Value, json};

/// Runs one `enki mcp` (a planner) over `lines` and returns every line it
/// wrote, exactly as written. stdin is closed after the last line, so the
/// server answers everything and exits.
fn session(project: &Project, lines: &[String]) -> Vec<String> {
    let mut cmd = project.enki(&["mcp"]);
    cmd.env("ENKI_DIR", project.enki_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    for line in lines {
        stdin.write_all(line.as_bytes()).unwrap();
        stdin.write_all(b"\n").unwrap();
    }
    drop(stdin);
    let output = wait_output(child, Duration::from_secs(30));
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn parsed(line: &str) -> Value {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
}

fn initialize(id: u32, version: &str) -> String {
    json!({"jsonrpc": "2.0", "id": id, "method": "initialize", "params": {
        "protocolVersion": version, "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}})
    .to_string()
}

/// The `_meta` every 2026-07-28 request carries.
fn modern_meta() -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "t", "version": "1"},
    })
}

fn modern(id: Value, method: &str, mut params: Value) -> String {
    params["_meta"] = modern_meta();
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}).to_string()
}

fn ping(id: Value) -> String {
    json!({"jsonrpc": "2.0", "id": id, "method": "ping"}).to_string()
}

#[test]
fn initialize_is_legacy_and_settles_on_a_legacy_version() {
    let project = Project::new();
    for (asked, expected) in [
        ("2024-11-05", "2024-11-05"),
        ("2025-03-26", "2025-03-26"),
        ("2025-06-18", "2025-06-18"),
        ("2025-11-25", "2025-11-25"),
        // 2026-07-28 has no initialize: asking for it there means legacy.
        ("2026-07-28", "2025-11-25"),
        ("2099-01-01", "2025-11-25"),
    ] {
        let replies = session(&project, &[initialize(1, asked)]);
        let result = &parsed(&replies[0])["result"];
        assert_eq!(result["protocolVersion"], expected, "asked {asked}");
        assert!(result.get("resultType").is_none(), "a legacy result");
        assert_eq!(
            result["capabilities"]["tools"],
            json!({"listChanged": false})
        );
    }
}

#[test]
fn a_2026_07_28_client_discovers_and_uses_the_tools_without_initialize() {
    let project = Project::new();
    let replies = session(
        &project,
        &[
            modern(json!("d"), "server/discover", json!({})),
            modern(json!(2), "tools/list", json!({})),
            modern(
                json!(3),
                "tools/call",
                json!({"name": "enki_status", "arguments": {}}),
            ),
            modern(json!(4), "tools/call", json!({"name": "enki_teleport"})),
            // The same process still serves a legacy client.
            ping(json!(5)),
            json!({"jsonrpc": "2.0", "id": 6, "method": "tools/list"}).to_string(),
        ],
    );
    assert_eq!(replies.len(), 6, "{replies:#?}");
    let discovered = parsed(&replies[0]);
    assert_eq!(discovered["id"], "d");
    let result = &discovered["result"];
    assert_eq!(result["resultType"], "complete");
    assert_eq!(
        result["supportedVersions"],
        json!([
            "2026-07-28",
            "2025-11-25",
            "2025-06-18",
            "2025-03-26",
            "2024-11-05"
        ])
    );
    let capabilities = &result["capabilities"];
    assert_eq!(
        capabilities["tools"],
        json!({"listChanged": false}),
        "{capabilities}"
    );
    // Changes come on a subscriptions/listen stream; log levels are not
    // honoured per request.
    assert_eq!(capabilities["resources"]["subscribe"], true);
    assert_eq!(capabilities["prompts"]["listChanged"], true);
    assert!(capabilities.get("logging").is_none(), "{capabilities}");
    assert!(result["instructions"].as_str().unwrap().contains("planner"));
    assert_eq!(
        result["_meta"]["io.modelcontextprotocol/serverInfo"]["name"],
        "enki"
    );
    assert!(result["ttlMs"].as_u64().is_some(), "{result}");
    assert_eq!(result["cacheScope"], "private");

    let listed = &parsed(&replies[1])["result"];
    assert_eq!(listed["resultType"], "complete");
    assert!(listed["ttlMs"].as_u64().is_some() && listed["cacheScope"] == "private");
    let legacy_listed = &parsed(&replies[5])["result"];
    assert_eq!(listed["tools"], legacy_listed["tools"], "one tool list");
    assert!(legacy_listed.get("resultType").is_none());
    assert!(legacy_listed.get("ttlMs").is_none());

    let called = &parsed(&replies[2])["result"];
    assert_eq!(called["resultType"], "complete");
    assert_eq!(called["isError"], false, "{called}");
    assert!(called.get("ttlMs").is_none(), "tool results are not cached");
    assert_eq!(
        called["_meta"]["io.modelcontextprotocol/serverInfo"]["name"],
        "enki"
    );
    assert_eq!(parsed(&replies[3])["error"]["code"], -32602, "unknown tool");
    assert_eq!(parsed(&replies[4])["result"], json!({}));
}

#[test]
fn what_a_2026_07_28_request_must_carry_is_checked() {
    let project = Project::new();
    let unknown = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": {
        "io.modelcontextprotocol/protocolVersion": "1900-01-01",
        "io.modelcontextprotocol/clientCapabilities": {}}}});
    let no_capabilities = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {"_meta": {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28"}}});
    let bare_discover = json!({"jsonrpc": "2.0", "id": 3, "method": "server/discover"});
    let replies = session(
        &project,
        &[
            unknown.to_string(),
            no_capabilities.to_string(),
            bare_discover.to_string(),
            modern(json!(4), "ping", json!({})),
            modern(
                json!(5),
                "initialize",
                json!({"protocolVersion": "2026-07-28"}),
            ),
            modern(json!(6), "logging/setLevel", json!({"level": "info"})),
            modern(
                json!(7),
                "resources/subscribe",
                json!({"uri": "enki://status"}),
            ),
        ],
    );
    assert_eq!(replies.len(), 7, "{replies:#?}");
    let error = &parsed(&replies[0])["error"];
    assert_eq!(error["code"], -32022, "UnsupportedProtocolVersion");
    assert_eq!(error["data"]["requested"], "1900-01-01");
    assert_eq!(error["data"]["supported"][0], "2026-07-28");
    let error = &parsed(&replies[1])["error"];
    assert_eq!(error["code"], -32602);
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("io.modelcontextprotocol/clientCapabilities")
    );
    let error = &parsed(&replies[2])["error"];
    assert_eq!(error["code"], -32602, "discover needs its _meta");
    assert!(error["message"].as_str().unwrap().contains("initialize"));
    for (line, method) in replies[3..].iter().zip([
        "ping",
        "initialize",
        "logging/setLevel",
        "resources/subscribe",
    ]) {
        let error = &parsed(line)["error"];
        assert_eq!(error["code"], -32601, "{method}: {line}");
        assert!(error["message"].as_str().unwrap().contains("2026-07-28"));
    }
}

#[test]
fn batches_are_answered_in_2025_03_26_and_refused_in_every_other_version() {
    let project = Project::new();
    let batch = format!(
        "[{},{},{},7,{},{}]",
        ping(json!("a")),
        json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 1}}),
        json!({"jsonrpc": "2.0", "id": 3, "method": "tools/list"}),
        initialize(4, "2025-03-26"),
        json!({"jsonrpc": "2.0", "id": 5, "method": "nope"}),
    );
    let notifications_only = format!(
        "[{},{}]",
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 1}})
    );
    let replies = session(
        &project,
        &[
            initialize(1, "2025-03-26"),
            batch.clone(),
            notifications_only.clone(),
            "[]".to_string(),
            ping(json!("after")),
        ],
    );
    assert_eq!(
        replies.len(),
        4,
        "notifications alone get nothing: {replies:#?}"
    );
    let answered = parsed(&replies[1]);
    let answered = answered.as_array().expect("an array of responses");
    assert_eq!(answered.len(), 5, "{answered:#?}");
    assert_eq!(
        answered[0],
        json!({"jsonrpc": "2.0", "id": "a", "result": {}})
    );
    assert_eq!(answered[1]["id"], 3);
    assert!(answered[1]["result"]["tools"].is_array());
    assert_eq!(answered[2]["id"], Value::Null);
    assert_eq!(answered[2]["error"]["code"], -32600, "7 is not a message");
    assert_eq!(answered[3]["id"], 4);
    assert_eq!(
        answered[3]["error"]["code"], -32600,
        "no initialize in a batch"
    );
    assert_eq!(answered[4]["error"]["code"], -32601);
    let empty = parsed(&replies[2]);
    assert_eq!(empty["error"]["code"], -32600);
    assert_eq!(empty["id"], Value::Null);
    assert_eq!(parsed(&replies[3])["id"], "after");

    for negotiated in [
        None,
        Some("2024-11-05"),
        Some("2025-06-18"),
        Some("2025-11-25"),
    ] {
        let mut lines: Vec<String> = negotiated.map(|v| initialize(1, v)).into_iter().collect();
        lines.extend([batch.clone(), notifications_only.clone(), "[]".to_string()]);
        let replies = session(&project, &lines);
        let refusals = &replies[usize::from(negotiated.is_some())..];
        assert_eq!(refusals.len(), 3, "one refusal per batch: {replies:#?}");
        for refusal in refusals {
            let refusal = parsed(refusal);
            assert_eq!(refusal["id"], Value::Null, "{refusal}");
            assert_eq!(refusal["error"]["code"], -32600);
            let message = refusal["error"]["message"].as_str().unwrap();
            let named = negotiated.unwrap_or("no version has been negotiated");
            assert!(message.contains(named), "{message}");
        }
    }
}

#[test]
fn ids_are_echoed_byte_for_byte() {
    let project = Project::new();
    let ids = [
        "-0",
        "1e3",
        "1E+3",
        "-1.5e-7",
        "2.50",
        "0",
        "-9223372036854775808",
        "18446744073709551617",
        "-18446744073709551617",
        "123456789012345678901234567890",
        "\"\"",
        "\"\\u00e9t\\u00e9\"",
        "\"a\\/b\"",
    ];
    let mut lines = Vec::new();
    for id in ids {
        lines.push(format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"ping"}}"#));
        // An error keeps the id too: a wrong jsonrpc, an unknown method.
        lines.push(format!(r#"{{"jsonrpc":"1.0","id":{id},"method":"ping"}}"#));
        lines.push(format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"nope"}}"#));
        let meta = modern_meta();
        lines.push(format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"server/discover","params":{{"_meta":{meta}}}}}"#
        ));
    }
    let replies = session(&project, &lines);
    assert_eq!(replies.len(), ids.len() * 4, "{replies:#?}");
    for (id, replies) in ids.iter().zip(replies.chunks(4)) {
        assert_eq!(
            replies[0],
            format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{{}}}}"#)
        );
        for reply in &replies[1..] {
            assert!(
                reply.starts_with(&format!(r#"{{"jsonrpc":"2.0","id":{id},"#)),
                "{reply}"
            );
        }
    }
    // In a 2025-03-26 batch as well.
    let batch = format!(
        "[{},{}]",
        ping(json!(1)),
        r#"{"jsonrpc":"2.0","id":-0,"method":"ping"}"#
    );
    let replies = session(&project, &[initialize(1, "2025-03-26"), batch]);
    assert_eq!(
        replies[1],
        r#"[{"jsonrpc":"2.0","id":1,"result":{}},{"jsonrpc":"2.0","id":-0,"result":{}}]"#
    );
}

#[test]
fn a_2026_07_28_client_listens_on_stdio_until_it_cancels() {
    let project = Project::new();
    let create = |id: u32, title: &str| {
        modern(
            json!(id),
            "tools/call",
            json!({"name": "enki_task_create", "arguments": {"title": title}}),
        )
    };
    let replies = session(
        &project,
        &[
            modern(
                json!("sub"),
                "subscriptions/listen",
                json!({"notifications": {"resourceSubscriptions": ["enki://tasks"], "toolsListChanged": true}}),
            ),
            create(1, "heard"),
            json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": "sub"}})
                .to_string(),
            create(2, "not heard"),
        ],
    );
    let messages: Vec<Value> = replies.iter().map(|l| parsed(l)).collect();
    let methods: Vec<&str> = messages
        .iter()
        .map(|m| m["method"].as_str().unwrap_or("(answer)"))
        .collect();
    assert_eq!(
        methods,
        [
            "notifications/subscriptions/acknowledged",
            "(answer)",
            "notifications/resources/updated",
            "(answer)",
        ],
        "{replies:#?}"
    );
    let subscription = "io.modelcontextprotocol/subscriptionId";
    assert_eq!(messages[0]["params"]["_meta"][subscription], "sub");
    assert_eq!(
        messages[0]["params"]["notifications"],
        json!({"resourceSubscriptions": ["enki://tasks"]})
    );
    assert_eq!(messages[1]["id"], 1);
    assert_eq!(messages[2]["params"]["uri"], "enki://tasks");
    assert_eq!(messages[2]["params"]["_meta"][subscription], "sub");
    assert_eq!(messages[3]["id"], 2, "no update after the cancellation");
}
