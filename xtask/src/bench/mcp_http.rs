//! `cargo xtask bench mcp`, over HTTP: the release `enki mcp --transport http`
//! on 127.0.0.1, spoken to with hyper's client (keep-alive connections).
//!
//! 1. `tools/call` latency (`enki_status`, `enki_task_create`) on one warm
//!    session: p50 and p95;
//! 2. throughput: 64 clients, each on its own connection and session, set up
//!    (`initialize`) and then released together, alternating
//!    `enki_task_create` and `enki_status`.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

use super::client::outcome;
use super::http_server::{HttpServer, random_token};
use super::mark;
use super::stats::Summary;

/// Per-response timeout.
const TIMEOUT: Duration = Duration::from_secs(10);
/// Un-timed calls made on a fresh session before the latency samples.
const WARMUP_CALLS: usize = 10;
/// The version the bench's sessions negotiate.
const PROTOCOL_VERSION: &str = "2025-11-25";

const TARGET_CALL_P50_MS: f64 = 1.0;
const TARGET_CALLS_PER_SEC: f64 = 3000.0;

/// What the HTTP part measured.
pub struct HttpFigures {
    /// (tool, latency of its calls).
    latency: Vec<(&'static str, Result<Summary>)>,
    throughput: Result<Throughput>,
}

struct Throughput {
    clients: usize,
    calls_per_client: usize,
    responses: usize,
    errors: usize,
    first_error: Option<String>,
    wall: Duration,
}

/// Starts the server in `project` (an `enki init`ed folder whose rate limit
/// the bench has lifted) and measures.
pub fn measure(bin: &Path, project: &Path, quick: bool) -> Result<HttpFigures> {
    let (calls, clients, calls_per_client) = if quick { (20, 64, 10) } else { (200, 64, 100) };
    let token = random_token()?;
    let server = HttpServer::start(bin, project, &token, TIMEOUT)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("a tokio runtime for the HTTP clients")?;
    let mut latency = Vec::new();
    for tool in ["enki_status", "enki_task_create"] {
        progress(&format!(
            "HTTP tools/call {tool}, {calls} calls on one warm session"
        ));
        let result = runtime.block_on(latency_bench(server.addr, &token, tool, calls));
        latency.push((tool, result));
    }
    progress(&format!(
        "HTTP throughput, {clients} clients × {calls_per_client} tools/call"
    ));
    let throughput = runtime.block_on(throughput(server.addr, &token, clients, calls_per_client));
    let stderr = server.stderr();
    let stopped = server.stop(TIMEOUT)?;
    if !stopped.success() {
        bail!("SIGTERM ended `enki mcp --transport http` with {stopped}; stderr:\n{stderr}");
    }
    Ok(HttpFigures {
        latency,
        throughput,
    })
}

fn progress(what: &str) {
    eprintln!("==> {what}");
}

/// The arguments of the `i`-th call of `tool`.
fn arguments(tool: &str, tag: &str) -> Value {
    match tool {
        "enki_task_create" => json!({"title": format!("bench http task {tag}")}),
        _ => json!({}),
    }
}

async fn latency_bench(addr: SocketAddr, token: &str, tool: &str, calls: usize) -> Result<Summary> {
    let mut conn = Conn::open(addr, token).await?;
    conn.initialize().await?;
    let mut samples = Vec::with_capacity(calls);
    for i in 0..WARMUP_CALLS + calls {
        let start = Instant::now();
        let resp = conn
            .call_tool(tool, arguments(tool, &i.to_string()))
            .await?;
        let elapsed = start.elapsed();
        if let Err(text) = outcome(&resp) {
            bail!("call {}: {text}", i + 1);
        }
        if i >= WARMUP_CALLS {
            samples.push(elapsed);
        }
    }
    conn.close().await?;
    Summary::of_durations(&samples).context("no samples")
}

/// `clients` sessions, each opened first, then released together by a
/// barrier; wall time from the release to the last response.
async fn throughput(
    addr: SocketAddr,
    token: &str,
    clients: usize,
    calls: usize,
) -> Result<Throughput> {
    let barrier = Arc::new(tokio::sync::Barrier::new(clients + 1));
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..clients {
        let barrier = Arc::clone(&barrier);
        let token = token.to_owned();
        tasks.spawn(async move {
            let setup = async {
                let mut conn = Conn::open(addr, &token).await?;
                conn.initialize().await?;
                anyhow::Ok(conn)
            }
            .await;
            barrier.wait().await;
            let mut conn = setup.with_context(|| format!("client {c}: setup"))?;
            let (mut responses, mut errors, mut first_error) = (0, 0, None);
            for i in 0..calls {
                let tool = if i % 2 == 0 {
                    "enki_task_create"
                } else {
                    "enki_status"
                };
                let resp = conn
                    .call_tool(tool, arguments(tool, &format!("{c}-{i}")))
                    .await
                    .with_context(|| format!("client {c}, call {} ({tool})", i + 1))?;
                responses += 1;
                if let Err(text) = outcome(&resp) {
                    errors += 1;
                    first_error
                        .get_or_insert(format!("client {c}, call {} ({tool}): {text}", i + 1));
                }
            }
            let end = Instant::now();
            conn.close().await?;
            anyhow::Ok((responses, errors, first_error, end))
        });
    }
    barrier.wait().await;
    let release = Instant::now();
    let mut t = Throughput {
        clients,
        calls_per_client: calls,
        responses: 0,
        errors: 0,
        first_error: None,
        wall: Duration::ZERO,
    };
    let mut last = release;
    while let Some(joined) = tasks.join_next().await {
        let (responses, errors, first_error, end) =
            joined.map_err(|e| anyhow!("a client task failed: {e}"))??;
        t.responses += responses;
        t.errors += errors;
        if t.first_error.is_none() {
            t.first_error = first_error;
        }
        last = last.max(end);
    }
    t.wall = last - release;
    Ok(t)
}

/// One keep-alive connection carrying one MCP session.
struct Conn {
    sender: SendRequest<Full<Bytes>>,
    host: String,
    authorization: String,
    session: Option<String>,
    next_id: u64,
}

impl Conn {
    async fn open(addr: SocketAddr, token: &str) -> Result<Conn> {
        let stream = tokio::net::TcpStream::connect(addr)
            .await
            .with_context(|| format!("connecting to {addr}"))?;
        stream.set_nodelay(true)?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .context("HTTP handshake")?;
        tokio::spawn(connection);
        Ok(Conn {
            sender,
            host: addr.to_string(),
            authorization: format!("Bearer {token}"),
            session: None,
            next_id: 1,
        })
    }

    /// `initialize`, keeping the session id, then `notifications/initialized`.
    async fn initialize(&mut self) -> Result<()> {
        let params = json!({
            "protocolVersion": PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": {"name": "enki-bench", "version": "0"},
        });
        self.request("initialize", params).await?;
        let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        let (status, _) = self.post("POST", Some(&note)).await?;
        if status != 202 {
            bail!("notifications/initialized: HTTP {status}");
        }
        Ok(())
    }

    async fn call_tool(&mut self, name: &str, arguments: Value) -> Result<Value> {
        self.request("tools/call", json!({"name": name, "arguments": arguments}))
            .await
    }

    /// A request; its JSON-RPC response (which may be an error).
    async fn request(&mut self, method: &str, params: Value) -> Result<Value> {
        let id = self.next_id;
        self.next_id += 1;
        let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let (status, body) = self.post("POST", Some(&body)).await?;
        let text = String::from_utf8_lossy(&body);
        if status != 200 {
            bail!("{method}: HTTP {status}: {text}");
        }
        let resp: Value =
            serde_json::from_slice(&body).with_context(|| format!("{method}: not JSON: {text}"))?;
        if resp["id"] != json!(id) {
            bail!("{method}: answered id {} for {id}", resp["id"]);
        }
        Ok(resp)
    }

    /// Ends the session (DELETE).
    async fn close(mut self) -> Result<()> {
        let (status, _) = self.post("DELETE", None).await?;
        if status != 204 {
            bail!("DELETE: HTTP {status}");
        }
        Ok(())
    }

    /// Sends `method /mcp` with the session's headers; (status, body).
    async fn post(&mut self, method: &str, body: Option<&Value>) -> Result<(u16, Bytes)> {
        let mut request = hyper::Request::builder()
            .method(method)
            .uri("/mcp")
            .header("host", &self.host)
            .header("authorization", &self.authorization)
            .header("accept", "application/json, text/event-stream");
        if body.is_some() {
            request = request.header("content-type", "application/json");
        }
        if let Some(session) = &self.session {
            request = request
                .header("mcp-session-id", session)
                .header("mcp-protocol-version", PROTOCOL_VERSION);
        }
        let bytes = body.map_or_else(Bytes::new, |b| Bytes::from(b.to_string()));
        let request = request.body(Full::new(bytes))?;
        let exchange = async {
            self.sender.ready().await?;
            let response = self.sender.send_request(request).await?;
            let status = response.status().as_u16();
            let session = response
                .headers()
                .get("mcp-session-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let body = response.into_body().collect().await?.to_bytes();
            anyhow::Ok((status, session, body))
        };
        let (status, session, body) = tokio::time::timeout(TIMEOUT, exchange)
            .await
            .map_err(|_| anyhow!("no answer to {method} within {TIMEOUT:?}"))??;
        if self.session.is_none() {
            self.session = session;
        }
        Ok((status, body))
    }
}

impl HttpFigures {
    /// Prints the HTTP figures; returns (a target missed, a measurement failed).
    pub fn report(&self) -> (bool, bool) {
        let (mut missed, mut failed) = (false, false);
        println!("  over HTTP (enki mcp --transport http, loopback, keep-alive):");
        println!(
            "  {:<32} {:>5} {:>10} {:>10} {:>10}   target (p50)",
            "benchmark", "n", "p50", "p95", "max"
        );
        println!("  {}", "─".repeat(88));
        for (tool, result) in &self.latency {
            let name = format!("HTTP tools/call {tool}");
            match result {
                Ok(s) => {
                    let ok = s.median <= TARGET_CALL_P50_MS;
                    missed |= !ok;
                    println!(
                        "  {name:<32} {:>5} {:>7.3} ms {:>7.3} ms {:>7.3} ms   ≤ {TARGET_CALL_P50_MS} ms  {}",
                        s.n,
                        s.median,
                        s.p95,
                        s.max,
                        mark(ok)
                    );
                }
                Err(err) => {
                    failed = true;
                    println!("  {name:<32} FAILED: {err:#}");
                }
            }
        }
        println!();
        match &self.throughput {
            Ok(t) => {
                let secs = t.wall.as_secs_f64();
                let rate = if secs > 0.0 {
                    t.responses as f64 / secs
                } else {
                    0.0
                };
                let (rate_ok, errors_ok) = (rate >= TARGET_CALLS_PER_SEC, t.errors == 0);
                missed |= !rate_ok || !errors_ok;
                println!(
                    "  HTTP throughput: {} clients × {} tools/call, each its own connection and session",
                    t.clients, t.calls_per_client
                );
                println!(
                    "    {} of {} responses in {:.1} ms wall (release → last response)",
                    t.responses,
                    t.clients * t.calls_per_client,
                    secs * 1e3
                );
                println!(
                    "    {rate:<10.0} calls/s   target ≥ {TARGET_CALLS_PER_SEC:.0} calls/s  {}",
                    mark(rate_ok)
                );
                println!(
                    "    {:<10} errors    target 0  {}",
                    t.errors,
                    mark(errors_ok)
                );
                if let Some(first) = &t.first_error {
                    println!("    first error: {first}");
                }
            }
            Err(err) => {
                failed = true;
                println!("  HTTP throughput FAILED: {err:#}");
            }
        }
        println!();
        (missed, failed)
    }
}
