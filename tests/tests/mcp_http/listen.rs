//! The 2026-07-28 revision's replacements over HTTP: `subscriptions/listen`
//! (an event stream that acknowledges the filter it honours, then carries
//! the change notifications asked for, each naming its subscription) and
//! multi round-trip requests (a destructive tool answers an
//! `InputRequiredResult` asking for the user's confirmation, and the call
//! sent again with `inputResponses` is decided by that answer).

use enki_tests::{Project, text_of};
use serde_json::{Value, json};

use crate::{Client, EventStream, HttpServer, Reply};

const MODERN: &str = "2026-07-28";
const SUBSCRIPTION: &str = "io.modelcontextprotocol/subscriptionId";

fn meta(capabilities: Value) -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": capabilities,
    })
}

/// A 2026-07-28 request with its mirrored headers.
fn modern(
    client: &mut Client,
    method: &str,
    mut params: Value,
    capabilities: Value,
) -> (Value, Vec<(&'static str, String)>) {
    params["_meta"] = meta(capabilities);
    let name = params
        .get("name")
        .or_else(|| params.get("uri"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let message = client.message(method, params);
    let mut headers = vec![
        ("mcp-protocol-version", MODERN.to_string()),
        ("mcp-method", method.to_string()),
    ];
    if let Some(name) = name {
        headers.push(("mcp-name", name));
    }
    (message, headers)
}

fn post(client: &mut Client, method: &str, params: Value, capabilities: Value) -> Reply {
    let (message, headers) = modern(client, method, params, capabilities);
    let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
    client.post_raw(message.to_string().as_bytes(), &headers)
}

fn listen(client: &mut Client, filter: Value) -> (Value, EventStream) {
    let (message, headers) = modern(
        client,
        "subscriptions/listen",
        json!({"notifications": filter}),
        json!({}),
    );
    let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let stream = client.post_stream(&message, &headers);
    (message, stream)
}

fn call(
    client: &mut Client,
    tool: &str,
    arguments: Value,
    extra: Value,
    capabilities: Value,
) -> Value {
    let mut params = json!({"name": tool, "arguments": arguments});
    if let (Value::Object(params), Value::Object(extra)) = (&mut params, extra) {
        params.extend(extra);
    }
    let reply = post(client, "tools/call", params, capabilities);
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json()["result"].clone()
}

#[test]
fn a_listen_stream_acknowledges_its_filter_then_carries_what_was_asked() {
    let project = Project::new();
    let server = HttpServer::start(&project);
    let mut client = server.client();
    let (request, stream) = listen(
        &mut client,
        json!({
            "toolsListChanged": true,
            "promptsListChanged": true,
            "resourceSubscriptions": ["enki://tasks", "enki://no-such-thing"],
        }),
    );
    assert_eq!(stream.status, 200);
    assert_eq!(stream.content_type.as_deref(), Some("text/event-stream"));
    let ack = stream.next_where(|_| true);
    assert_eq!(
        ack["method"], "notifications/subscriptions/acknowledged",
        "{ack}"
    );
    assert_eq!(ack["params"]["_meta"][SUBSCRIPTION], request["id"]);
    assert_eq!(
        ack["params"]["notifications"],
        json!({"promptsListChanged": true, "resourceSubscriptions": ["enki://tasks"]}),
        "the tool list never changes; an unknown resource is left out"
    );

    // A stateless call changes the tasks: the stream says so.
    let created = call(
        &mut client,
        "enki_task_create",
        json!({"title": "listened"}),
        json!({}),
        json!({}),
    );
    assert_eq!(created["isError"], false, "{created}");
    let update = stream.next_where(|m| m["method"] == "notifications/resources/updated");
    assert_eq!(update["params"]["uri"], "enki://tasks");
    assert_eq!(update["params"]["_meta"][SUBSCRIPTION], request["id"]);

    // A new role file changes the prompt list.
    let roles = project.enki_dir().join("roles");
    std::fs::create_dir_all(&roles).unwrap();
    std::fs::write(
        roles.join("auditor.toml"),
        "name = \"auditor\"\nlabel = \"Security auditor\"\ndescription = \"Reviews code for security holes.\"\ncan_edit = false\noutput = \"artifact\"\nsystem_prompt = \"Look for leaked secrets.\"\n",
    )
    .unwrap();
    let changed = stream.next_where(|m| m["method"] == "notifications/prompts/list_changed");
    assert_eq!(changed["params"]["_meta"][SUBSCRIPTION], request["id"]);
}

#[test]
fn a_listen_request_that_cannot_be_honoured_is_answered_not_streamed() {
    let project = Project::new();
    let server = HttpServer::start(&project);
    let mut client = server.client();
    let (_, stream) = listen(
        &mut client,
        json!({"resourceSubscriptions": "enki://tasks"}),
    );
    assert_eq!(stream.status, 400);
    let error: Value = serde_json::from_str(&stream.next_event().data).expect("JSON");
    assert_eq!(error["error"]["code"], -32602, "{error}");

    // A legacy session has resources/subscribe instead.
    client.initialize();
    let refused = client.request("subscriptions/listen", json!({"notifications": {}}));
    assert_eq!(refused["error"]["code"], -32601, "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("resources/subscribe"),
        "{refused}"
    );
}

#[test]
fn a_destructive_tool_asks_for_input_and_the_retry_carries_the_answer() {
    let project = Project::new();
    let server = HttpServer::start(&project);
    let mut client = server.client();
    let eliciting = json!({"elicitation": {}});

    let asked = call(
        &mut client,
        "enki_stop_all",
        json!({}),
        json!({}),
        eliciting.clone(),
    );
    assert_eq!(asked["resultType"], "input_required", "{asked}");
    let request = &asked["inputRequests"]["confirm"];
    assert_eq!(request["method"], "elicitation/create", "{asked}");
    assert_eq!(request["params"]["mode"], "form");
    assert_eq!(
        request["params"]["requestedSchema"]["required"],
        json!(["confirm"])
    );
    assert!(
        asked.get("content").is_none() && asked.get("ttlMs").is_none(),
        "{asked}"
    );
    assert!(project.signals().is_empty(), "nothing before the answer");

    let answered = |typed: &str| json!({"inputResponses": {"confirm": {"action": "accept", "content": {"confirm": typed}}}});
    let wrong = call(
        &mut client,
        "enki_stop_all",
        json!({}),
        answered("stop"),
        eliciting.clone(),
    );
    assert_eq!(wrong["resultType"], "complete");
    assert_eq!(wrong["isError"], true, "{wrong}");
    assert!(
        text_of(&wrong).contains(r#"typed "stop", not "stop all""#),
        "{wrong}"
    );
    let declined = call(
        &mut client,
        "enki_stop_all",
        json!({}),
        json!({"inputResponses": {"confirm": {"action": "decline"}}}),
        eliciting.clone(),
    );
    assert!(text_of(&declined).contains("declined"), "{declined}");
    // An answer under another key is no answer: asked again.
    let again = call(
        &mut client,
        "enki_stop_all",
        json!({}),
        json!({"inputResponses": {"other": {"action": "accept"}}}),
        eliciting.clone(),
    );
    assert_eq!(again["resultType"], "input_required", "{again}");
    assert!(project.signals().is_empty());

    let done = call(
        &mut client,
        "enki_stop_all",
        json!({}),
        answered("stop all"),
        eliciting.clone(),
    );
    assert_eq!(done["resultType"], "complete");
    assert_eq!(done["isError"], false, "{done}");
    assert_eq!(project.signals().len(), 1);

    // Malformed answers are protocol errors.
    let reply = post(
        &mut client,
        "tools/call",
        json!({"name": "enki_stop_all", "arguments": {}, "inputResponses": []}),
        eliciting,
    );
    assert_eq!(reply.status, 400, "{}", reply.text());
    assert_eq!(reply.json()["error"]["code"], -32602);
}

#[test]
fn a_client_that_cannot_elicit_passes_confirm_in_2026_07_28_too() {
    let project = Project::new();
    let server = HttpServer::start(&project);
    let mut client = server.client();
    let refused = call(
        &mut client,
        "enki_stop_all",
        json!({}),
        json!({}),
        json!({}),
    );
    assert_eq!(refused["resultType"], "complete");
    assert!(
        text_of(&refused).contains(r#""confirm": "stop all""#),
        "{refused}"
    );
    let url_only = json!({"elicitation": {"url": {}}});
    let refused = call(&mut client, "enki_stop_all", json!({}), json!({}), url_only);
    assert_eq!(refused["isError"], true, "a form is needed: {refused}");
    let done = call(
        &mut client,
        "enki_stop_all",
        json!({"confirm": "stop all"}),
        json!({}),
        json!({}),
    );
    assert_eq!(done["isError"], false, "{done}");
    assert_eq!(project.signals().len(), 1);
}
