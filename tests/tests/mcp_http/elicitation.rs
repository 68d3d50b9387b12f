//! The typed confirmation of destructive tools over HTTP: a session whose
//! client declared `elicitation` is asked with `elicitation/create` on the
//! call's own event stream (or on its GET stream when the POST takes only
//! JSON), POSTs its answer back, and the answer decides; a client that
//! cannot be asked passes `confirm`. A broken connection is resumed with
//! `Last-Event-ID`, and a cancellation ends the wait.

use enki_tests::{Project, text_of};
use serde_json::{Value, json};

use crate::{Client, HttpServer, send};

fn eliciting(server: &HttpServer) -> Client {
    let mut client = server.client();
    client.initialize_as("2025-11-25", json!({"elicitation": {}}));
    client
}

/// POSTs the answer to the server's request `asked`.
fn answer(client: &Client, asked: &Value, result: Value) {
    let reply = client.post(&json!({"jsonrpc": "2.0", "id": asked["id"], "result": result}));
    assert_eq!(reply.status, 202, "{}", reply.text());
}

fn accept(typed: &str) -> Value {
    json!({"action": "accept", "content": {"confirm": typed}})
}

#[test]
fn the_user_is_asked_on_the_calls_own_stream_and_the_answer_decides() {
    let project = Project::new();
    let server = HttpServer::start(&project);
    let mut client = eliciting(&server);

    let call = client.message(
        "tools/call",
        json!({"name": "enki_stop_all", "arguments": {"confirm": "stop all"}}),
    );
    let stream = client.post_stream(&call, &[]);
    assert_eq!(stream.status, 200);
    assert_eq!(stream.content_type.as_deref(), Some("text/event-stream"));
    let (asked, asked_id) = stream.next_message_where(|m| m["method"] == "elicitation/create");
    assert!(asked_id.is_some(), "events of a session have ids");
    let schema = &asked["params"]["requestedSchema"];
    assert_eq!(schema["required"], json!(["confirm"]), "{asked}");
    assert!(project.signals().is_empty(), "nothing before the answer");
    // The user's text counts, not the call's argument.
    answer(&client, &asked, accept("stop"));
    let (done, _) = stream.next_message_where(|m| m["id"] == call["id"]);
    assert_eq!(done["result"]["isError"], true, "{done}");
    let text = text_of(&done["result"]);
    assert!(text.contains(r#"typed "stop", not "stop all""#), "{text}");
    assert!(stream.ends(), "the answer ends the stream");
    assert!(project.signals().is_empty());

    // Accepted with the target: done. Other requests meanwhile wait.
    let call = client.message(
        "tools/call",
        json!({"name": "enki_stop_all", "arguments": {}}),
    );
    let stream = client.post_stream(&call, &[]);
    let (asked, _) = stream.next_message_where(|m| m["method"] == "elicitation/create");
    answer(&client, &asked, accept(" stop all "));
    let (done, _) = stream.next_message_where(|m| m["id"] == call["id"]);
    assert_eq!(done["result"]["isError"], false, "{done}");
    assert_eq!(project.signals().len(), 1, "one stop_all signal");

    // Declined: nothing is done.
    let call = client.message(
        "tools/call",
        json!({"name": "enki_stop_all", "arguments": {}}),
    );
    let stream = client.post_stream(&call, &[]);
    let (asked, _) = stream.next_message_where(|m| m["method"] == "elicitation/create");
    answer(&client, &asked, json!({"action": "decline"}));
    let (done, _) = stream.next_message_where(|m| m["id"] == call["id"]);
    assert!(text_of(&done["result"]).contains("declined"), "{done}");
    assert_eq!(project.signals().len(), 1);
}

#[test]
fn a_json_only_post_is_asked_on_the_get_stream_or_else_needs_confirm() {
    let project = Project::new();
    let server = HttpServer::start(&project);
    let mut client = eliciting(&server);
    let json_only = [("accept", "application/json")];

    // No stream to ask on: the `confirm` argument decides.
    let call = client.message(
        "tools/call",
        json!({"name": "enki_stop_all", "arguments": {}}),
    );
    let reply = client.post_raw(call.to_string().as_bytes(), &json_only);
    assert_eq!(reply.status, 200, "{}", reply.text());
    let text = text_of(&reply.json()["result"]);
    assert!(text.contains(r#""confirm": "stop all""#), "{text}");

    // With the GET stream open, the question goes there and the POST waits.
    let events = client.stream(&[]);
    assert_eq!(events.status, 200);
    let call = client.message(
        "tools/call",
        json!({"name": "enki_stop_all", "arguments": {}}),
    );
    let headers = client.headers(&json_only);
    let (addr, body) = (server.addr, call.to_string());
    let waiting = std::thread::spawn(move || {
        let pairs: Vec<(&str, &str)> = headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        send(addr, "POST", "/mcp", &pairs, body.as_bytes())
    });
    let (asked, _) = events.next_message_where(|m| m["method"] == "elicitation/create");
    answer(&client, &asked, accept("stop all"));
    let reply = waiting.join().expect("the call's POST");
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.header("content-type"), Some("application/json"));
    let done = reply.json();
    assert_eq!(done["id"], call["id"]);
    assert_eq!(done["result"]["isError"], false, "{done}");
    assert_eq!(project.signals().len(), 1);
}

#[test]
fn a_broken_call_stream_is_resumed_and_a_cancellation_ends_the_wait() {
    let project = Project::new();
    let server = HttpServer::start(&project);
    let mut client = eliciting(&server);

    let call = client.message(
        "tools/call",
        json!({"name": "enki_stop_all", "arguments": {}}),
    );
    let mut stream = client.post_stream(&call, &[]);
    let (asked, asked_id) = stream.next_message_where(|m| m["method"] == "elicitation/create");
    let asked_id = asked_id.expect("an id");
    stream.close();
    // The client comes back for the rest of the call's stream.
    let resumed = client.stream(&[("last-event-id", &asked_id)]);
    assert_eq!(resumed.status, 200);
    answer(&client, &asked, accept("stop all"));
    let (done, _) = resumed.next_message_where(|_| true);
    assert_eq!(done["id"], call["id"], "{done}");
    assert_eq!(done["result"]["isError"], false, "{done}");
    assert!(resumed.ends(), "the call's stream ends with its answer");
    assert_eq!(project.signals().len(), 1);

    // A cancellation of the call ends the wait, and nothing is done.
    let call = client.message(
        "tools/call",
        json!({"name": "enki_stop_all", "arguments": {}}),
    );
    let stream = client.post_stream(&call, &[]);
    stream.next_message_where(|m| m["method"] == "elicitation/create");
    let cancelled = client.post(&json!({
        "jsonrpc": "2.0",
        "method": "notifications/cancelled",
        "params": {"requestId": call["id"]},
    }));
    assert_eq!(cancelled.status, 202, "{}", cancelled.text());
    let (done, _) = stream.next_message_where(|m| m["id"] == call["id"]);
    assert!(text_of(&done["result"]).contains("cancelled"), "{done}");
    assert_eq!(project.signals().len(), 1);
    // The session serves on.
    let pong = client.request("ping", json!({}));
    assert_eq!(pong["result"], json!({}));
}

#[test]
fn a_client_without_elicitation_passes_confirm() {
    let project = Project::new();
    let server = HttpServer::start(&project);
    let mut client = server.client();
    client.initialize_as("2025-11-25", json!({}));
    let refused = client.call("enki_stop_all", json!({}));
    assert_eq!(refused["isError"], true);
    assert!(text_of(&refused).contains(r#""confirm": "stop all""#));
    let done = client.call("enki_stop_all", json!({"confirm": "stop all"}));
    assert_eq!(done["isError"], false, "{done}");
    assert_eq!(project.signals().len(), 1);
}
