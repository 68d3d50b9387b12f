//! A loopback fake of the Anthropic Messages API, played by [`super::script`]:
//! what Claude Code calls at start (`HEAD /api/hello`, model and token
//! counts), and `POST /v1/messages` streamed as server-sent events or not, as
//! asked. Every request is logged, whole, to a JSON-lines file.

use std::convert::Infallible;
use std::fs::File;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::{Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::{Value, json};
use tokio::net::TcpListener;

use super::script::{self, Observed, Reply, Script};

/// Requests are at most this big (Claude Code's carry the whole
/// conversation and every tool's schema: about 100 KiB at first).
const MAX_BODY: usize = 32 << 20;
/// The model named in replies when the request names none.
const MODEL: &str = "claude-e2e-fake";

/// What the scenario reads back once its agents are done.
#[derive(Default)]
pub struct Record {
    /// Results of the fake's tool calls, in the order they came back.
    pub observed: Vec<Observed>,
    /// Requests no script could answer, and routes the fake does not know.
    pub anomalies: Vec<String>,
    /// `POST /v1/messages` answered, per agent (`None`: side requests).
    pub turns: Vec<Option<String>>,
}

struct State {
    scripts: Vec<Script>,
    key: String,
    seq: AtomicU64,
    log: Mutex<File>,
    record: Mutex<Record>,
}

impl State {
    fn record(&self) -> MutexGuard<'_, Record> {
        self.record.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The running fake; it stops when dropped.
pub struct FakeApi {
    pub addr: SocketAddr,
    state: Arc<State>,
    _runtime: tokio::runtime::Runtime,
}

impl FakeApi {
    /// Serves `scripts` on 127.0.0.1 (any free port) to clients that send
    /// `key` as their API key, logging requests to `log`.
    pub fn start(scripts: Vec<Script>, key: &str, log: &Path) -> Result<FakeApi> {
        let log = File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .context("starting the fake API's runtime")?;
        let listener =
            std::net::TcpListener::bind("127.0.0.1:0").context("binding the fake API")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let state = Arc::new(State {
            scripts,
            key: key.to_owned(),
            seq: AtomicU64::new(0),
            log: Mutex::new(log),
            record: Mutex::new(Record::default()),
        });
        let served = Arc::clone(&state);
        runtime.spawn(async move {
            let listener = match TcpListener::from_std(listener) {
                Ok(listener) => listener,
                Err(e) => {
                    eprintln!("fake API: cannot listen: {e}");
                    return;
                }
            };
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let state = Arc::clone(&served);
                tokio::spawn(async move {
                    let service = service_fn(move |request| answer(Arc::clone(&state), request));
                    // A client that goes away mid-request is no concern here.
                    let _ = http1::Builder::new()
                        .timer(TokioTimer::new())
                        .header_read_timeout(Duration::from_secs(30))
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(FakeApi {
            addr,
            state,
            _runtime: runtime,
        })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// What happened so far.
    pub fn take_record(&self) -> Record {
        std::mem::take(&mut *self.state.record())
    }
}

async fn answer(
    state: Arc<State>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path().to_owned();
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(body) => body.to_bytes(),
        Err(e) => {
            return Ok(error(
                StatusCode::BAD_REQUEST,
                &format!("reading the body: {e}"),
            ));
        }
    };
    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let authorised = [
        ("x-api-key", state.key.clone()),
        ("authorization", format!("Bearer {}", state.key)),
    ]
    .iter()
    .any(|(name, value)| {
        parts
            .headers
            .get(*name)
            .is_some_and(|v| v == value.as_str())
    });
    let (response, agent) = match (&parts.method, path.as_str()) {
        (&Method::HEAD | &Method::GET, "/api/hello") => (empty(StatusCode::OK), None),
        (_, p) if p.starts_with("/v1/") && !authorised => (
            error(StatusCode::UNAUTHORIZED, "the fake API wants its own key"),
            None,
        ),
        (&Method::POST, "/v1/messages") => messages(&state, &json),
        (&Method::POST, "/v1/messages/count_tokens") => {
            (ok_json(&json!({"input_tokens": body.len() / 4})), None)
        }
        (&Method::GET, "/v1/models") => (
            ok_json(&json!({
                "data": [{"type": "model", "id": MODEL, "display_name": "e2e fake",
                          "created_at": "2026-01-01T00:00:00Z"}],
                "has_more": false, "first_id": MODEL, "last_id": MODEL,
            })),
            None,
        ),
        (method, path) => {
            state
                .record()
                .anomalies
                .push(format!("unknown route {method} {path}"));
            (
                error(StatusCode::NOT_FOUND, "the fake API has no such route"),
                None,
            )
        }
    };
    let line = json!({
        "method": parts.method.as_str(),
        "uri": parts.uri.to_string(),
        "status": response.status().as_u16(),
        "agent": agent,
        "headers": parts.headers.iter()
            .filter(|(name, _)| !matches!(name.as_str(), "x-api-key" | "authorization"))
            .map(|(name, value)| (name.as_str().to_owned(), Value::String(value.to_str().unwrap_or("?").to_owned())))
            .collect::<serde_json::Map<_, _>>(),
        "body": json,
    });
    let mut log = state.log.lock().unwrap_or_else(|e| e.into_inner());
    // The log is for reading after a failure; a full disk shows up elsewhere.
    let _ = writeln!(log, "{line}");
    Ok(response)
}

/// `POST /v1/messages`: the script's next step, as the request asks for it.
fn messages(state: &State, body: &Value) -> (Response<Full<Bytes>>, Option<String>) {
    let seq = state.seq.fetch_add(1, Ordering::Relaxed);
    let decision = script::decide(&state.scripts, body, seq);
    {
        let mut record = state.record();
        record.observed.extend(decision.results);
        record.anomalies.extend(decision.anomaly);
        record.turns.push(decision.agent.clone());
    }
    let model = body["model"].as_str().unwrap_or(MODEL);
    let id = format!("msg_e2e_{seq}");
    let response = if body["stream"] == true {
        let mut events = String::new();
        for (name, data) in stream_events(&id, model, &decision.reply) {
            events.push_str(&format!("event: {name}\ndata: {data}\n\n"));
        }
        Response::builder()
            .header("content-type", "text/event-stream")
            .header("cache-control", "no-cache")
            .body(Full::new(Bytes::from(events)))
            .unwrap_or_else(|_| empty(StatusCode::INTERNAL_SERVER_ERROR))
    } else {
        let (content, stop) = content(&decision.reply);
        ok_json(&json!({
            "id": id, "type": "message", "role": "assistant", "model": model,
            "content": [content], "stop_reason": stop, "stop_sequence": null,
            "usage": usage(1),
        }))
    };
    (response, decision.agent)
}

/// The reply as one content block, and the stop reason it ends with.
fn content(reply: &Reply) -> (Value, &'static str) {
    match reply {
        Reply::Tool { id, name, input } => (
            json!({"type": "tool_use", "id": id, "name": name, "input": input}),
            "tool_use",
        ),
        Reply::Text(text) => (json!({"type": "text", "text": text}), "end_turn"),
    }
}

/// The server-sent events of a streamed reply: the message, its one block
/// (empty at start, then its text or its input as JSON in a delta), and the
/// stop reason.
fn stream_events(id: &str, model: &str, reply: &Reply) -> Vec<(&'static str, Value)> {
    let (start, delta) = match reply {
        Reply::Tool { id, name, input } => (
            json!({"type": "tool_use", "id": id, "name": name, "input": {}}),
            json!({"type": "input_json_delta", "partial_json": input.to_string()}),
        ),
        Reply::Text(text) => (
            json!({"type": "text", "text": ""}),
            json!({"type": "text_delta", "text": text}),
        ),
    };
    let (_, stop) = content(reply);
    vec![
        (
            "message_start",
            json!({"type": "message_start", "message": {
                "id": id, "type": "message", "role": "assistant", "model": model,
                "content": [], "stop_reason": null, "stop_sequence": null, "usage": usage(1),
            }}),
        ),
        (
            "content_block_start",
            json!({"type": "content_block_start", "index": 0, "content_block": start}),
        ),
        ("ping", json!({"type": "ping"})),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": delta}),
        ),
        (
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 0}),
        ),
        (
            "message_delta",
            json!({"type": "message_delta",
            "delta": {"stop_reason": stop, "stop_sequence": null}, "usage": {"output_tokens": 16}}),
        ),
        ("message_stop", json!({"type": "message_stop"})),
    ]
}

fn usage(output: u64) -> Value {
    json!({"input_tokens": 100, "output_tokens": output,
           "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0})
}

fn ok_json(value: &Value) -> Response<Full<Bytes>> {
    Response::builder()
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(value.to_string())))
        .unwrap_or_else(|_| empty(StatusCode::INTERNAL_SERVER_ERROR))
}

fn error(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    let kind = match status {
        StatusCode::UNAUTHORIZED => "authentication_error",
        StatusCode::NOT_FOUND => "not_found_error",
        _ => "invalid_request_error",
    };
    let mut response =
        ok_json(&json!({"type": "error", "error": {"type": kind, "message": message}}));
    *response.status_mut() = status;
    response
}

fn empty(status: StatusCode) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = status;
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::e2e_agents::script::{Role, Step};

    fn scripts() -> Vec<Script> {
        vec![Script {
            role: Role::Planner,
            marker: "p".into(),
            steps: vec![
                Step::Tool {
                    name: "Bash",
                    input: json!({"command": "ls {cwd}"}),
                },
                Step::Answer("planned".into()),
            ],
        }]
    }

    fn planner_turn(stream: bool) -> Value {
        json!({
            "model": "m", "stream": stream,
            "tools": [{"name": "Bash"}],
            "messages": [
                {"role": "user", "content": "plan this [[e2e:p]]"},
                {"role": "system", "content":
                    "Primary working directory: /p\n - mcp__enki__enki_execution_create"},
            ],
        })
    }

    /// One request to the fake with hyper's client: status and body.
    fn post(fake: &FakeApi, path: &str, key: &str, body: &Value) -> (StatusCode, String) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let stream = tokio::net::TcpStream::connect(fake.addr).await.unwrap();
            let (mut sender, connection) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream))
                    .await
                    .unwrap();
            tokio::spawn(connection);
            let request = Request::post(path)
                .header("host", "127.0.0.1")
                .header("x-api-key", key)
                .body(Full::new(Bytes::from(body.to_string())))
                .unwrap();
            let response = sender.send_request(request).await.unwrap();
            let status = response.status();
            let body = response.into_body().collect().await.unwrap().to_bytes();
            (status, String::from_utf8(body.to_vec()).unwrap())
        })
    }

    #[test]
    fn a_streamed_turn_is_a_tool_use_in_server_sent_events_and_a_plain_one_json() {
        let log = tempfile::NamedTempFile::new().unwrap();
        let fake = FakeApi::start(scripts(), "k", log.path()).unwrap();

        let (status, body) = post(&fake, "/v1/messages?beta=true", "k", &planner_turn(true));
        assert_eq!(status, StatusCode::OK);
        let events: Vec<(&str, Value)> = body
            .split("\n\n")
            .filter(|e| !e.is_empty())
            .map(|e| {
                let (name, data) = e.split_once('\n').unwrap();
                let data = data.strip_prefix("data: ").unwrap();
                (
                    name.strip_prefix("event: ").unwrap(),
                    serde_json::from_str(data).unwrap(),
                )
            })
            .collect();
        let names: Vec<&str> = events.iter().map(|(n, _)| *n).collect();
        assert_eq!(
            names,
            [
                "message_start",
                "content_block_start",
                "ping",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop"
            ]
        );
        assert_eq!(events[1].1["content_block"]["name"], "Bash");
        let input = events[3].1["delta"]["partial_json"].as_str().unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(input).unwrap()["command"],
            "ls /p"
        );
        assert_eq!(events[5].1["delta"]["stop_reason"], "tool_use");

        let (status, body) = post(&fake, "/v1/messages", "k", &planner_turn(false));
        assert_eq!(status, StatusCode::OK);
        let message: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(message["content"][0]["type"], "tool_use");
        assert_eq!(message["stop_reason"], "tool_use");

        let record = fake.take_record();
        assert_eq!(
            record.turns,
            [Some("planner p".into()), Some("planner p".into())]
        );
        let logged = std::fs::read_to_string(log.path()).unwrap();
        assert_eq!(logged.lines().count(), 2);
    }

    #[test]
    fn a_wrong_key_and_an_unknown_route_are_refused() {
        let log = tempfile::NamedTempFile::new().unwrap();
        let fake = FakeApi::start(scripts(), "k", log.path()).unwrap();
        let (status, _) = post(&fake, "/v1/messages", "wrong", &planner_turn(true));
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let (status, _) = post(&fake, "/v1/elsewhere", "k", &json!({}));
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(
            fake.take_record().anomalies,
            ["unknown route POST /v1/elsewhere"]
        );
    }
}
