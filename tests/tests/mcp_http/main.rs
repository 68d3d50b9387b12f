//! `enki mcp --transport http` over real HTTP: the real binary listening on
//! 127.0.0.1:0 (its port read from stderr), spoken to with hyper's client.
//! Session lifecycle, framing, event streams and versions (`lifecycle`),
//! tokens, Host and Origin guards, body cap, expiry and logs (`security`),
//! the stateless 2026-07-28 revision (`stateless`) and token tables that
//! carry identity (`tokens`), fed on stdin by the coordinator (`fed`), the
//! database connections sessions share (`shared`) and the commits their
//! writes share (`grouped`). This file holds the helpers they share.
// An integration test: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod elicitation;
mod fed;
mod grouped;
mod lifecycle;
mod listen;
mod resumption;
mod security;
mod shared;
mod stateless;
mod tokens;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::HeaderMap;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

use enki_tests::{Project, TIMEOUT};

/// The token most tests start the server with.
const TOKEN: &str = "test-token-0123456789abcdef";

/// A running `enki mcp --transport http`, killed when dropped.
struct HttpServer {
    child: Child,
    addr: SocketAddr,
    stderr: Arc<Mutex<String>>,
}

impl HttpServer {
    /// `enki mcp --transport http --addr 127.0.0.1:0 --auth-token TOKEN`.
    fn start(project: &Project) -> HttpServer {
        HttpServer::start_with(project, &["--auth-token", TOKEN], &[])
    }

    /// `enki mcp --transport http --addr 127.0.0.1:0 <args>` with extra
    /// environment; waits for the line that names the port.
    fn start_with(project: &Project, args: &[&str], env: &[(&str, &str)]) -> HttpServer {
        let mut child = spawn(project, args, env);
        let lines = stderr_lines(&mut child);
        let stderr = Arc::new(Mutex::new(String::new()));
        let deadline = Instant::now() + TIMEOUT;
        let addr = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(line) = lines.recv_timeout(left) else {
                let status = child.try_wait().ok().flatten();
                panic!(
                    "enki mcp did not say where it listens (exit {status:?}); stderr:\n{}",
                    stderr.lock().unwrap()
                );
            };
            stderr.lock().unwrap().push_str(&format!("{line}\n"));
            if let Some(url) = line.strip_prefix("enki mcp: listening on http://") {
                let addr = url.strip_suffix("/mcp").expect("the URL ends in /mcp");
                break addr.parse().expect("a socket address");
            }
        };
        // Keep collecting stderr, for the tests that look at it.
        let collected = Arc::clone(&stderr);
        std::thread::spawn(move || {
            for line in lines {
                collected.lock().unwrap().push_str(&format!("{line}\n"));
            }
        });
        HttpServer {
            child,
            addr,
            stderr,
        }
    }

    fn url_host(&self) -> String {
        self.addr.to_string()
    }

    /// A client with the right token and Host.
    fn client(&self) -> Client {
        Client::new(self.addr, TOKEN)
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(project: &Project, args: &[&str], env: &[(&str, &str)]) -> Child {
    let mut cmd: Command = project.enki(&["mcp", "--transport", "http"]);
    if !args.contains(&"--addr") {
        cmd.args(["--addr", "127.0.0.1:0"]);
    }
    cmd.args(args)
        .env("ENKI_DIR", project.enki_dir())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().expect("spawn enki mcp --transport http")
}

fn stderr_lines(child: &mut Child) -> Receiver<String> {
    let stderr = child.stderr.take().expect("stderr piped");
    let (send, receive) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if send.send(line).is_err() {
                break;
            }
        }
    });
    receive
}

/// `enki mcp --transport http <args>` that must refuse to start: its exit
/// code and stderr.
fn refused_start(project: &Project, args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let child = spawn(project, args, env);
    let output = enki_tests::wait_output(child, TIMEOUT);
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// An HTTP answer.
#[derive(Debug)]
struct Reply {
    status: u16,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}), status {}: {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends one request for `path` on a new connection. `headers` are sent
/// exactly as given (no Host is added).
fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Reply {
    try_send(addr, method, path, headers, body).unwrap_or_else(|e| panic!("{e}"))
}

/// [`send`], or what kept the request from being answered (a server that
/// is gone).
fn try_send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<Reply, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime for the client");
    let body = Bytes::copy_from_slice(body);
    let path = path.to_string();
    runtime.block_on(async move {
        let stream = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake::<_, Full<Bytes>>(TokioIo::new(stream))
                .await
                .map_err(|e| format!("HTTP handshake: {e}"))?;
        tokio::spawn(connection);
        let mut request = hyper::Request::builder().method(method).uri(path);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(Full::new(body)).expect("a request");
        let response = tokio::time::timeout(TIMEOUT, sender.send_request(request))
            .await
            .expect("an answer in time")
            .map_err(|e| format!("an HTTP response: {e}"))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("the body: {e}"))?
            .to_bytes()
            .to_vec();
        Ok(Reply {
            status,
            headers,
            body,
        })
    })
}

/// One server-sent event: its id, if any, and its data.
#[derive(Debug, Clone)]
struct Event {
    id: Option<String>,
    data: String,
}

/// An event stream (a GET, or a POST answered with one) being read on a
/// thread of its own.
struct EventStream {
    status: u16,
    content_type: Option<String>,
    /// Each event, then the end of the stream (disconnect).
    events: Receiver<Event>,
    /// Closes the connection.
    close: Option<tokio::sync::oneshot::Sender<()>>,
}

impl EventStream {
    /// Opens `GET /mcp` with `headers`; returns once the status is known.
    fn open(addr: SocketAddr, headers: Vec<(String, String)>) -> EventStream {
        EventStream::request(addr, "GET", headers, Vec::new())
    }

    /// Sends `method /mcp` with `headers` and `body`, and reads the answer
    /// as an event stream (a JSON answer arrives as one event without id).
    fn request(
        addr: SocketAddr,
        method: &str,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    ) -> EventStream {
        let (head_tx, head_rx) = channel();
        let (events_tx, events) = channel();
        let (close, mut closed) = tokio::sync::oneshot::channel::<()>();
        let method = method.to_string();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for the stream");
            runtime.block_on(async move {
                let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
                let (mut sender, connection) =
                    hyper::client::conn::http1::handshake::<_, Full<Bytes>>(TokioIo::new(stream))
                        .await
                        .expect("HTTP handshake");
                tokio::spawn(connection);
                let mut request = hyper::Request::builder()
                    .method(method.as_str())
                    .uri("/mcp");
                for (name, value) in &headers {
                    request = request.header(name, value);
                }
                let request = request
                    .body(Full::new(Bytes::from(body)))
                    .expect("a request");
                let response = sender.send_request(request).await.expect("a response");
                let content_type = response
                    .headers()
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                let _ = head_tx.send((response.status().as_u16(), content_type.clone()));
                let mut body = response.into_body();
                let mut text = String::new();
                loop {
                    let frame = tokio::select! {
                        frame = body.frame() => frame,
                        _ = &mut closed => return,
                    };
                    let Some(Ok(frame)) = frame else { break };
                    let Ok(data) = frame.into_data() else {
                        continue;
                    };
                    text.push_str(&String::from_utf8_lossy(&data));
                    if content_type.as_deref() != Some("text/event-stream") {
                        continue;
                    }
                    while let Some(end) = text.find("\n\n") {
                        let block: String = text.drain(..end + 2).collect();
                        let mut event = Event {
                            id: None,
                            data: String::new(),
                        };
                        let mut is_event = false;
                        for line in block.lines() {
                            if let Some(id) = line.strip_prefix("id: ") {
                                event.id = Some(id.to_string());
                                is_event = true;
                            } else if let Some(data) = line.strip_prefix("data: ") {
                                event.data.push_str(data);
                                is_event = true;
                            }
                        }
                        if is_event && events_tx.send(event).is_err() {
                            return;
                        }
                    }
                }
                if !text.is_empty() {
                    let _ = events_tx.send(Event {
                        id: None,
                        data: text,
                    });
                }
            });
        });
        let (status, content_type) = head_rx.recv_timeout(TIMEOUT).expect("the stream's status");
        EventStream {
            status,
            content_type,
            events,
            close: Some(close),
        }
    }

    /// The next event within `TIMEOUT` (priming events, with no data,
    /// included); panics when none comes.
    fn next_event(&self) -> Event {
        self.events
            .recv_timeout(TIMEOUT)
            .unwrap_or_else(|e| panic!("no event on the stream: {e}"))
    }

    /// The next message (an event with data) within `TIMEOUT` that
    /// `wanted` accepts, and its event id; panics when none comes.
    fn next_message_where(
        &self,
        mut wanted: impl FnMut(&Value) -> bool,
    ) -> (Value, Option<String>) {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let event = self
                .events
                .recv_timeout(left)
                .unwrap_or_else(|e| panic!("no wanted event on the stream: {e}"));
            if event.data.trim().is_empty() {
                continue;
            }
            let message: Value = serde_json::from_str(&event.data).expect("an event is JSON");
            if wanted(&message) {
                return (message, event.id);
            }
        }
    }

    /// The next message within `TIMEOUT` that `wanted` accepts.
    fn next_where(&self, wanted: impl FnMut(&Value) -> bool) -> Value {
        self.next_message_where(wanted).0
    }

    /// Closes the connection, as a client whose network broke would.
    fn close(&mut self) {
        if let Some(close) = self.close.take() {
            let _ = close.send(());
        }
    }

    /// Whether the server ended the stream within `TIMEOUT`.
    fn ends(&self) -> bool {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(_) => continue,
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return true,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => return false,
            }
        }
    }
}

/// An MCP client over HTTP: token, Host, session and version headers.
struct Client {
    addr: SocketAddr,
    token: String,
    session: Option<String>,
    version: Option<String>,
    next_id: i64,
}

impl Client {
    fn new(addr: SocketAddr, token: &str) -> Client {
        Client {
            addr,
            token: token.to_string(),
            session: None,
            version: None,
            next_id: 1,
        }
    }

    /// The headers a well-behaved client sends, then `extra`.
    fn headers(&self, extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut headers = vec![
            ("host".to_string(), self.addr.to_string()),
            (
                "authorization".to_string(),
                format!("Bearer {}", self.token),
            ),
            ("content-type".to_string(), "application/json".to_string()),
            (
                "accept".to_string(),
                "application/json, text/event-stream".to_string(),
            ),
        ];
        if let Some(session) = &self.session {
            headers.push(("mcp-session-id".to_string(), session.clone()));
        }
        if let Some(version) = &self.version {
            headers.push(("mcp-protocol-version".to_string(), version.clone()));
        }
        for (name, value) in extra {
            headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
            headers.push((name.to_string(), value.to_string()));
        }
        headers
    }

    /// POSTs raw bytes with the usual headers and `extra`.
    fn post_raw(&self, body: &[u8], extra: &[(&str, &str)]) -> Reply {
        let headers = self.headers(extra);
        let pairs: Vec<(&str, &str)> = headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        send(self.addr, "POST", "/mcp", &pairs, body)
    }

    fn post(&self, message: &Value) -> Reply {
        self.post_raw(message.to_string().as_bytes(), &[])
    }

    /// Any other method with the usual headers and `extra`.
    fn method(&self, method: &str, extra: &[(&str, &str)]) -> Reply {
        let headers = self.headers(extra);
        let pairs: Vec<(&str, &str)> = headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        send(self.addr, method, "/mcp", &pairs, b"")
    }

    /// `GET /mcp`: the session's event stream.
    fn stream(&self, extra: &[(&str, &str)]) -> EventStream {
        let mut extra = extra.to_vec();
        if !extra.iter().any(|(n, _)| n.eq_ignore_ascii_case("accept")) {
            extra.push(("accept", "text/event-stream"));
        }
        EventStream::open(self.addr, self.headers(&extra))
    }

    /// POSTs `message` and reads the answer as an event stream as it comes.
    fn post_stream(&self, message: &Value, extra: &[(&str, &str)]) -> EventStream {
        EventStream::request(
            self.addr,
            "POST",
            self.headers(extra),
            message.to_string().into_bytes(),
        )
    }

    fn message(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
    }

    /// A request that must be answered 200 with JSON; the response.
    fn request(&mut self, method: &str, params: Value) -> Value {
        let message = self.message(method, params);
        let reply = self.post(&message);
        assert_eq!(reply.status, 200, "{method}: {}", reply.text());
        assert_eq!(reply.header("content-type"), Some("application/json"));
        let response = reply.json();
        assert_eq!(response["id"], message["id"], "{response}");
        response
    }

    /// `initialize` (2025-06-18) then `notifications/initialized`; keeps
    /// the session id and version. Returns the initialize reply.
    fn initialize(&mut self) -> Reply {
        self.initialize_as("2025-06-18", json!({}))
    }

    /// `initialize` with this version and client capabilities, then
    /// `notifications/initialized`.
    fn initialize_as(&mut self, version: &str, capabilities: Value) -> Reply {
        let message = self.message(
            "initialize",
            json!({"protocolVersion": version, "capabilities": capabilities, "clientInfo": {"name": "enki-tests", "version": "0"}}),
        );
        let reply = self.post(&message);
        assert_eq!(reply.status, 200, "initialize: {}", reply.text());
        self.session = Some(
            reply
                .header("mcp-session-id")
                .expect("initialize returns Mcp-Session-Id")
                .to_string(),
        );
        self.version = Some(version.to_string());
        let initialized =
            self.post(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        assert_eq!(initialized.status, 202, "{}", initialized.text());
        assert!(initialized.body.is_empty());
        reply
    }

    fn tool_names(&mut self) -> Vec<String> {
        self.request("tools/list", json!({}))["result"]["tools"]
            .as_array()
            .expect("tools")
            .iter()
            .map(|t| t["name"].as_str().expect("name").to_string())
            .collect()
    }

    /// A tool call's result (with `isError`), or why no answer came (the
    /// server is gone).
    fn try_call(&mut self, tool: &str, arguments: Value) -> Result<Value, String> {
        let message = self.message("tools/call", json!({"name": tool, "arguments": arguments}));
        let headers = self.headers(&[]);
        let pairs: Vec<(&str, &str)> = headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let body = message.to_string();
        let reply = try_send(self.addr, "POST", "/mcp", &pairs, body.as_bytes())?;
        assert_eq!(reply.status, 200, "{tool}: {}", reply.text());
        Ok(reply.json()["result"].clone())
    }

    /// A tool call's result (with `isError`).
    fn call(&mut self, tool: &str, arguments: Value) -> Value {
        let response = self.request("tools/call", json!({"name": tool, "arguments": arguments}));
        assert!(response.get("error").is_none(), "{tool}: {response}");
        response["result"].clone()
    }
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files
}
