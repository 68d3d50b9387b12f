//! The HTTP transport's guards: a bearer token on every request (401 with
//! `WWW-Authenticate`), loopback `Host` (421) and `Origin` (403) against DNS
//! rebinding, loopback binding unless `--allow-remote`, a 4 MiB body cap
//! (413), idle sessions that expire, and a token that never reaches a log.

use std::time::{Duration, Instant};

use enki_tests::{Project, TIMEOUT};
use serde_json::json;

use crate::{Client, HttpServer, TOKEN, files_under, refused_start, send};

#[test]
fn without_a_token_or_with_a_wrong_one_the_answer_is_401_with_a_bearer_challenge() {
    let project = Project::new();
    let server = HttpServer::start(&project);
    let host = server.url_host();
    let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-06-18", "capabilities": {}}}).to_string();
    let headers = |authorization: Option<&'static str>| {
        let mut headers = vec![
            ("host", host.as_str()),
            ("content-type", "application/json"),
        ];
        if let Some(value) = authorization {
            headers.push(("authorization", value));
        }
        headers
    };
    let missing = send(
        server.addr,
        "POST",
        "/mcp",
        &headers(None),
        initialize.as_bytes(),
    );
    assert_eq!(missing.status, 401, "{}", missing.text());
    assert_eq!(
        missing.header("www-authenticate"),
        Some(r#"Bearer realm="enki mcp""#)
    );
    assert_eq!(missing.header("mcp-session-id"), None);

    for wrong in [
        "Bearer not-the-token",
        "Bearer test-token-0123456789abcdeX",
        "Basic dGVzdA==",
    ] {
        let reply = send(
            server.addr,
            "POST",
            "/mcp",
            &headers(Some(wrong)),
            initialize.as_bytes(),
        );
        assert_eq!(reply.status, 401, "{wrong}: {}", reply.text());
        let challenge = reply.header("www-authenticate").unwrap_or_default();
        assert!(challenge.starts_with("Bearer"), "{challenge}");
        assert!(!reply.text().contains(TOKEN), "the token is never echoed");
    }

    // A valid session is not enough without the token.
    let mut client = server.client();
    client.initialize();
    client.token = "wrong".to_string();
    let message = client.message("ping", json!({}));
    assert_eq!(client.post(&message).status, 401);
    assert_eq!(client.method("DELETE", &[]).status, 401);
    assert_eq!(client.method("GET", &[]).status, 401);
}

#[test]
fn a_foreign_host_is_421_and_a_foreign_origin_403_and_loopback_names_pass() {
    let project = Project::new();
    let server = HttpServer::start(&project);
    let port = server.addr.port();
    let mut client = server.client();
    client.initialize();
    let message = client.message("ping", json!({}));
    let body = message.to_string();

    for host in [
        "evil.example".to_string(),
        format!("evil.example:{port}"),
        format!("127.0.0.1:{}", port.wrapping_add(1)),
        format!("localhost.evil.example:{port}"),
    ] {
        let reply = client.post_raw(body.as_bytes(), &[("host", &host)]);
        assert_eq!(reply.status, 421, "Host {host}: {}", reply.text());
        assert_eq!(reply.json()["error"]["code"], -32600);
    }
    for origin in [
        "http://evil.example",
        "null",
        "http://localhost.evil.example:80",
    ] {
        let reply = client.post_raw(body.as_bytes(), &[("origin", origin)]);
        assert_eq!(reply.status, 403, "Origin {origin}: {}", reply.text());
    }
    // The guards come before the token: a rebinding page learns nothing.
    let reply = send(
        server.addr,
        "POST",
        "/mcp",
        &[
            ("host", "evil.example"),
            ("content-type", "application/json"),
        ],
        body.as_bytes(),
    );
    assert_eq!(reply.status, 421);

    for host in [format!("localhost:{port}"), format!("127.0.0.1:{port}")] {
        let reply = client.post_raw(
            body.as_bytes(),
            &[("host", &host), ("origin", "http://localhost:6274")],
        );
        assert_eq!(reply.status, 200, "Host {host}: {}", reply.text());
    }
}

#[test]
fn a_body_over_the_cap_is_413_and_the_server_keeps_serving() {
    let project = Project::new();
    let server = HttpServer::start(&project);
    let mut client = server.client();
    client.initialize();
    let filler = "x".repeat(4 * 1024 * 1024 + 16);
    let body = json!({"jsonrpc": "2.0", "id": 5, "method": "ping", "params": {"filler": filler}})
        .to_string();
    let reply = client.post_raw(body.as_bytes(), &[]);
    assert_eq!(reply.status, 413, "{}", reply.text());
    assert!(
        reply.text().contains("4194304"),
        "names the limit: {}",
        reply.text()
    );
    assert_eq!(client.request("ping", json!({}))["result"], json!({}));

    // Just under the cap is served.
    let filler = "x".repeat(4 * 1024 * 1024 - 200);
    let body =
        json!({"jsonrpc": "2.0", "id": 6, "method": "ping", "params": {"f": filler}}).to_string();
    let reply = client.post_raw(body.as_bytes(), &[]);
    assert_ne!(reply.status, 413, "{}", reply.text());
}

#[test]
fn an_idle_session_expires_and_a_used_one_does_not() {
    let project = Project::new();
    let server = HttpServer::start_with(
        &project,
        &["--auth-token", TOKEN, "--idle-timeout", "2"],
        &[],
    );
    let mut idle = server.client();
    idle.initialize();
    let mut busy = server.client();
    busy.initialize();
    let started = Instant::now();
    let ping = idle.message("ping", json!({}));
    loop {
        // The busy session is used every 200 ms; the idle one not at all.
        assert_eq!(busy.request("ping", json!({}))["result"], json!({}));
        if started.elapsed() > Duration::from_millis(2500) {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let reply = idle.post(&ping);
    assert_eq!(reply.status, 404, "expired: {}", reply.text());
    assert_eq!(busy.request("ping", json!({}))["result"], json!({}));
    assert!(started.elapsed() < TIMEOUT);
}

#[test]
fn a_non_loopback_address_is_refused_without_allow_remote_and_needs_a_token_with_it() {
    let project = Project::new();
    let (code, stderr) = refused_start(
        &project,
        &["--addr", "0.0.0.0:0", "--auth-token", TOKEN],
        &[],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--allow-remote"), "{stderr}");
    assert!(!stderr.contains("listening"), "{stderr}");

    let (code, stderr) = refused_start(&project, &["--addr", "0.0.0.0:0", "--allow-remote"], &[]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("ENKI_MCP_TOKEN"), "{stderr}");

    let (code, stderr) = refused_start(&project, &[], &[]);
    assert_eq!(code, 2, "no token at all: {stderr}");

    let server = HttpServer::start_with(
        &project,
        &[
            "--addr",
            "0.0.0.0:0",
            "--allow-remote",
            "--auth-token",
            TOKEN,
        ],
        &[],
    );
    // Reached over loopback, it still wants the token.
    let loopback = std::net::SocketAddr::from(([127, 0, 0, 1], server.addr.port()));
    let mut client = Client::new(loopback, "wrong-token");
    let message = client.message("ping", json!({}));
    assert_eq!(client.post(&message).status, 401);
    client.token = TOKEN.to_string();
    client.initialize();
}

#[test]
fn the_token_from_the_environment_works_and_never_reaches_a_log() {
    let project = Project::new();
    let secret = "env-secret-5f1c9a0e7d2b4c68";
    let server = HttpServer::start_with(
        &project,
        &[],
        &[("ENKI_MCP_TOKEN", secret), ("ENKI_LOG", "trace")],
    );
    let mut client = Client::new(server.addr, secret);
    client.initialize();
    client.tool_names();
    let created = client.call(
        "enki_task_create",
        json!({"title": "logged", "description": "see the audit log"}),
    );
    assert_eq!(created["isError"], false, "{created}");
    client.call("enki_status", json!({}));
    let mut wrong = Client::new(server.addr, &format!("{secret}x"));
    let message = wrong.message("ping", json!({}));
    assert_eq!(wrong.post(&message).status, 401);
    assert_eq!(client.method("DELETE", &[]).status, 204);

    let logs = project.enki_dir().join("logs");
    let files = files_under(&logs);
    assert!(
        files.iter().any(|f| f.to_string_lossy().contains("audit")),
        "the run was audited: {files:?}"
    );
    assert!(
        files
            .iter()
            .any(|f| f.extension().is_some_and(|e| e == "jsonl")
                && f.to_string_lossy().contains("mcp/")),
        "the traffic was logged: {files:?}"
    );
    for file in files {
        let bytes = std::fs::read(&file).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains(secret), "the token is in {}", file.display());
    }
    assert!(!server.stderr().contains(secret), "{}", server.stderr());
}
