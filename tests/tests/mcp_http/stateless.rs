//! The stateless 2026-07-28 revision over HTTP: no session, every request
//! names its version in a header and in `_meta`, `Mcp-Method` and
//! `Mcp-Name` mirror the body (`HeaderMismatch`, -32020, when they do not),
//! and the HTTP status says what the error says.

use enki_tests::Project;
use serde_json::{Value, json};

use crate::{Client, HttpServer, Reply};

const MODERN: &str = "2026-07-28";

fn meta() -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": {},
    })
}

/// POSTs a 2026-07-28 request with its mirrored headers (`name` for
/// `Mcp-Name`), overridden by `extra`.
fn post(
    client: &mut Client,
    method: &str,
    mut params: Value,
    name: Option<&str>,
    extra: &[(&str, &str)],
) -> Reply {
    params["_meta"] = meta();
    let message = client.message(method, params);
    let mut headers = vec![("mcp-protocol-version", MODERN), ("mcp-method", method)];
    if let Some(name) = name {
        headers.push(("mcp-name", name));
    }
    headers.extend_from_slice(extra);
    client.post_raw(message.to_string().as_bytes(), &headers)
}

#[test]
fn a_stateless_client_is_served_without_a_session() {
    let project = Project::new();
    let server = HttpServer::start(&project);
    let mut client = server.client();

    let reply = post(&mut client, "server/discover", json!({}), None, &[]);
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.header("mcp-session-id"), None);
    let result = &reply.json()["result"];
    assert_eq!(result["supportedVersions"][0], MODERN, "{result}");

    let reply = post(&mut client, "tools/list", json!({}), None, &[]);
    assert_eq!(reply.status, 200, "{}", reply.text());
    let reply = post(
        &mut client,
        "tools/call",
        json!({"name": "enki_status", "arguments": {}}),
        Some("enki_status"),
        &[],
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["result"]["isError"], false, "{}", reply.text());
}

#[test]
fn mirrored_headers_that_disagree_with_the_body_are_400_header_mismatch() {
    let project = Project::new();
    let server = HttpServer::start(&project);
    let mut client = server.client();
    let call = json!({"name": "enki_status", "arguments": {}});
    for (name, extra) in [
        (Some("enki_dag"), vec![]),
        (None, vec![]),
        (Some("enki_status"), vec![("mcp-method", "tools/list")]),
    ] {
        let reply = post(&mut client, "tools/call", call.clone(), name, &extra);
        assert_eq!(reply.status, 400, "{name:?} {extra:?}: {}", reply.text());
        assert_eq!(reply.json()["error"]["code"], -32020, "{}", reply.text());
    }
    // The header says 2026-07-28, the body names no version.
    let message = client.message("tools/list", json!({}));
    let reply = client.post_raw(
        message.to_string().as_bytes(),
        &[
            ("mcp-protocol-version", MODERN),
            ("mcp-method", "tools/list"),
        ],
    );
    assert_eq!(reply.status, 400, "{}", reply.text());
    assert_eq!(reply.json()["error"]["code"], -32020);
}

#[test]
fn errors_have_the_http_status_the_revision_gives_them() {
    let project = Project::new();
    let server = HttpServer::start(&project);
    let mut client = server.client();

    let reply = post(&mut client, "no/such/method", json!({}), None, &[]);
    assert_eq!(reply.status, 404, "{}", reply.text());
    assert_eq!(reply.json()["error"]["code"], -32601);

    let message = client.message(
        "tools/list",
        json!({"_meta": {"io.modelcontextprotocol/protocolVersion": MODERN}}),
    );
    let reply = client.post_raw(
        message.to_string().as_bytes(),
        &[
            ("mcp-protocol-version", MODERN),
            ("mcp-method", "tools/list"),
        ],
    );
    assert_eq!(reply.status, 400, "no clientCapabilities: {}", reply.text());
    assert_eq!(reply.json()["error"]["code"], -32602);

    let reply = post(
        &mut client,
        "tools/list",
        json!({}),
        None,
        &[("mcp-protocol-version", "2099-01-01")],
    );
    assert_eq!(reply.status, 400, "{}", reply.text());
    assert_eq!(reply.json()["error"]["code"], -32022);
    assert!(reply.json()["error"]["data"]["supported"].is_array());

    let reply = client.method(
        "GET",
        &[
            ("mcp-protocol-version", MODERN),
            ("accept", "text/event-stream"),
        ],
    );
    assert_eq!(reply.status, 405, "{}", reply.text());
}
