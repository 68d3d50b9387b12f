//! The Streamable HTTP session lifecycle: `initialize` opens a session with
//! a random `Mcp-Session-Id`, requests answer JSON (or one event for a
//! client that accepts only event streams), notifications get 202, missing
//! and unknown sessions 400 and 404, GET streams the session's
//! notifications, DELETE ends a session (and its stream), other methods are
//! 405, and `MCP-Protocol-Version` is checked.

use enki_tests::{Project, text_of};
use serde_json::json;

use crate::{Client, HttpServer, send};

#[test]
fn initialize_opens_a_session_whose_tools_answer_over_http() {
    let project = Project::new();
    let server = HttpServer::start(&project);
    let mut client = server.client();
    let reply = client.initialize();
    let session = reply.header("mcp-session-id").unwrap().to_string();
    assert!(session.len() >= 32, "{session}");
    assert!(session.bytes().all(|b| b.is_ascii_graphic()), "{session}");
    let result = &reply.json()["result"];
    assert_eq!(result["protocolVersion"], "2025-06-18");
    assert_eq!(result["serverInfo"]["name"], "enki");

    let tools = client.tool_names();
    assert!(
        tools.contains(&"enki_execution_create".to_string()),
        "{tools:?}"
    );
    let created = client.call("enki_task_create", json!({"title": "over http"}));
    assert_eq!(created["isError"], false, "{created}");
    let task = created["structuredContent"]["task_id"].as_str().unwrap();
    let listed = client.call("enki_task_list", json!({}));
    assert!(
        text_of(&listed).contains("over http"),
        "{}",
        text_of(&listed)
    );
    let shown = client.call("enki_task_show", json!({"task_id": task}));
    assert_eq!(shown["isError"], false, "{shown}");

    let pong = client.request("ping", json!({}));
    assert_eq!(pong["result"], json!({}));

    // A second client gets a session of its own.
    let mut other = server.client();
    other.initialize();
    assert_ne!(other.session, client.session);
    assert!(other.tool_names().len() == tools.len());
}

#[test]
fn a_request_without_a_session_is_400_and_an_unknown_session_404() {
    let project = Project::new();
    let server = HttpServer::start(&project);
    let mut client = server.client();
    let message = client.message("tools/list", json!({}));
    let reply = client.post(&message);
    assert_eq!(reply.status, 400, "{}", reply.text());
    let text = reply.json()["error"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(text.contains("Mcp-Session-Id"), "{text}");

    client.session = Some("0".repeat(64));
    let reply = client.post(&message);
    assert_eq!(reply.status, 404, "{}", reply.text());
    assert!(reply.text().contains("initialize"), "{}", reply.text());
}

#[test]
fn delete_ends_a_session_and_its_id_is_unknown_afterwards() {
    let project = Project::new();
    let server = HttpServer::start(&project);
    let mut client = server.client();
    client.initialize();
    client.tool_names();

    let deleted = client.method("DELETE", &[]);
    assert_eq!(deleted.status, 204, "{}", deleted.text());
    let message = client.message("tools/list", json!({}));
    assert_eq!(client.post(&message).status, 404);
    assert_eq!(client.method("DELETE", &[]).status, 404, "already ended");

    let mut anonymous = server.client();
    let reply = anonymous.method("DELETE", &[]);
    assert_eq!(
        reply.status,
        400,
        "DELETE needs a session id: {}",
        reply.text()
    );
    anonymous.initialize();
    assert!(!anonymous.tool_names().is_empty(), "other sessions live on");
}

#[test]
fn get_needs_a_session_and_an_event_stream_and_other_methods_are_405_with_allow() {
    let project = Project::new();
    let server = HttpServer::start(&project);
    let mut client = server.client();
    let reply = client.method("GET", &[("accept", "text/event-stream")]);
    assert_eq!(reply.status, 400, "no session: {}", reply.text());
    client.initialize();
    let reply = client.method("GET", &[("accept", "application/json")]);
    assert_eq!(reply.status, 406, "{}", reply.text());
    for method in ["PUT", "PATCH"] {
        let reply = client.method(method, &[]);
        assert_eq!(reply.status, 405, "{method}: {}", reply.text());
        assert_eq!(reply.header("allow"), Some("GET, POST, DELETE"), "{method}");
    }
    client.session = Some("f".repeat(64));
    let reply = client.method("GET", &[("accept", "text/event-stream")]);
    assert_eq!(reply.status, 404, "{}", reply.text());
    // Only /mcp is served.
    let authorization = format!("Bearer {}", crate::TOKEN);
    let reply = send(
        server.addr,
        "POST",
        "/other",
        &[
            ("host", &server.url_host()),
            ("authorization", &authorization),
        ],
        b"{}",
    );
    assert_eq!(reply.status, 404, "{}", reply.text());
    assert!(reply.text().contains("/mcp"), "{}", reply.text());
}

#[test]
fn a_client_that_accepts_only_event_streams_gets_its_answer_as_one_event() {
    let project = Project::new();
    let server = HttpServer::start(&project);
    let mut client = server.client();
    client.initialize();
    let message = client.message("ping", json!({}));
    let reply = client.post_raw(
        message.to_string().as_bytes(),
        &[("accept", "text/event-stream")],
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.header("content-type"), Some("text/event-stream"));
    let text = reply.text();
    let data = text
        .lines()
        .find_map(|l| l.strip_prefix("data: "))
        .unwrap_or_else(|| panic!("one data line: {text:?}"));
    let response: serde_json::Value = serde_json::from_str(data).unwrap();
    assert_eq!(response["id"], message["id"]);
    assert_eq!(response["result"], json!({}));
    // One event, with an id of the session's (`resumption.rs`).
    assert!(
        text.starts_with("id: ") && text.contains("\nevent: message\n") && text.ends_with("\n\n"),
        "{text:?}"
    );
    assert_eq!(text.matches("data: ").count(), 1, "{text:?}");

    let reply = client.post_raw(message.to_string().as_bytes(), &[("accept", "text/html")]);
    assert_eq!(reply.status, 406, "{}", reply.text());
    let reply = client.post_raw(
        message.to_string().as_bytes(),
        &[("content-type", "text/plain")],
    );
    assert_eq!(reply.status, 415, "{}", reply.text());
}

#[test]
fn protocol_version_headers_are_checked_after_initialize() {
    let project = Project::new();
    let server = HttpServer::start(&project);
    let mut client = server.client();
    client.initialize();
    let message = client.message("ping", json!({}));
    let body = message.to_string();

    let reply = client.post_raw(body.as_bytes(), &[("mcp-protocol-version", "1999-01-01")]);
    assert_eq!(reply.status, 400, "{}", reply.text());
    assert!(
        reply.text().contains("2025-06-18"),
        "names what it speaks: {}",
        reply.text()
    );
    let reply = client.post_raw(body.as_bytes(), &[("mcp-protocol-version", "2025-03-26")]);
    assert_eq!(
        reply.status,
        400,
        "not the agreed version: {}",
        reply.text()
    );

    // Without the header the request is served (taken as 2025-03-26).
    client.version = None;
    let reply = client.post(&message);
    assert_eq!(reply.status, 200, "{}", reply.text());
}

#[test]
fn bodies_that_are_not_messages_are_bad_requests_and_notifications_accepted() {
    let project = Project::new();
    let server = HttpServer::start(&project);
    let mut client = server.client();
    client.initialize();
    let reply = client.post_raw(b"{not json", &[]);
    assert_eq!(reply.status, 400, "{}", reply.text());
    assert_eq!(reply.json()["error"]["code"], -32700);

    let reply = client.post(
        &json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 9}}),
    );
    assert_eq!(reply.status, 202);
    assert!(reply.body.is_empty());
    // A response from the client (to nothing) is accepted too.
    let reply = client.post(&json!({"jsonrpc": "2.0", "id": 77, "result": {}}));
    assert_eq!(reply.status, 202);

    // An unknown method with an id is a JSON-RPC error, over a 200.
    let message = client.message("no/such/method", json!({}));
    let reply = client.post(&message);
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["error"]["code"], -32601);
}

#[test]
fn initialize_that_fails_opens_no_session() {
    let project = Project::new();
    let server = HttpServer::start(&project);
    let mut client = server.client();
    let message = client.message("initialize", json!({"capabilities": {}}));
    let reply = client.post(&message);
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["error"]["code"], -32602);
    assert_eq!(reply.header("mcp-session-id"), None);
}

#[test]
fn http_flags_without_the_http_transport_are_usage_errors() {
    let project = Project::new();
    let output = project
        .enki(&["mcp", "--auth-token", "x"])
        .output()
        .expect("enki mcp runs");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--transport http"), "{stderr}");
}

/// Many sessions at once, each answered in order.
#[test]
fn concurrent_sessions_are_served_side_by_side() {
    let project = Project::new();
    let server = HttpServer::start(&project);
    let addr = server.addr;
    let threads: Vec<_> = (0..8)
        .map(|_| {
            std::thread::spawn(move || {
                let mut client = Client::new(addr, crate::TOKEN);
                client.initialize();
                for _ in 0..10 {
                    let status = client.call("enki_status", json!({}));
                    assert_eq!(status["isError"], false, "{status}");
                }
                client.session.clone()
            })
        })
        .collect();
    let mut sessions: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    sessions.sort();
    sessions.dedup();
    assert_eq!(sessions.len(), 8);
}

#[test]
fn the_event_stream_carries_the_notifications_a_session_asked_for_until_it_ends() {
    let project = Project::new();
    let server = HttpServer::start(&project);
    let mut watcher = server.client();
    watcher.initialize();
    let stream = watcher.stream(&[]);
    assert_eq!(stream.status, 200);
    let subscribed = watcher.request("resources/subscribe", json!({"uri": "enki://tasks"}));
    assert!(subscribed.get("error").is_none(), "{subscribed}");

    // Another session changes the tasks; the watcher is told on its stream.
    let mut planner = server.client();
    planner.initialize();
    let created = planner.call("enki_task_create", json!({"title": "watched"}));
    assert_eq!(created["isError"], false, "{created}");
    let update = stream.next_where(|m| m["method"] == "notifications/resources/updated");
    assert_eq!(update["params"]["uri"], "enki://tasks", "{update}");
    assert!(update.get("id").is_none(), "a notification: {update}");

    // A second GET replaces the first, which ends; DELETE ends the second.
    let second = watcher.stream(&[]);
    assert_eq!(second.status, 200);
    assert!(stream.ends(), "the replaced stream ends");
    assert_eq!(watcher.method("DELETE", &[]).status, 204);
    assert!(second.ends(), "the session's end ends its stream");
}
