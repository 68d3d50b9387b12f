//! A tiny blocking MCP client over a child process's stdio (newline-delimited JSON-RPC 2.0).
//!
//! Reads happen directly on the calling thread (no hand-off, so latencies are not inflated by
//! thread wake-ups). A per-client watchdog thread enforces the response timeout: if a response
//! does not arrive in time it kills the child, which unblocks the read with EOF. The child is
//! killed when the client is dropped without a clean [`Client::close`].

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Value, json};

/// Protocol version the bench client asks for.
pub const PROTOCOL_VERSION: &str = "2025-06-18";

/// How often the watchdog looks at the deadline.
const WATCHDOG_TICK: Duration = Duration::from_millis(25);

pub struct Client {
    shared: Arc<Shared>,
    watchdog: Option<JoinHandle<()>>,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    next_id: u64,
    timeout: Duration,
    line: String,
    /// Taken immediately before `Command::spawn`.
    pub spawned_at: Instant,
}

/// State shared with the watchdog thread.
struct Shared {
    base: Instant,
    /// Deadline in nanoseconds since `base`; 0 means "not waiting".
    deadline_ns: AtomicU64,
    closed: AtomicBool,
    fired: AtomicBool,
    child: Mutex<Option<Child>>,
}

impl Shared {
    fn child(&self) -> MutexGuard<'_, Option<Child>> {
        self.child.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn now_ns(&self) -> u64 {
        u64::try_from(self.base.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

impl Client {
    /// Spawn `cmd` with piped stdin/stdout and stderr discarded.
    pub fn spawn(mut cmd: Command, timeout: Duration) -> Result<Client> {
        let shared = Arc::new(Shared {
            base: Instant::now(),
            deadline_ns: AtomicU64::new(0),
            closed: AtomicBool::new(false),
            fired: AtomicBool::new(false),
            child: Mutex::new(None),
        });
        // The watchdog thread is started before the child so that its cost is not timed.
        let wd = Arc::clone(&shared);
        let watchdog = std::thread::Builder::new()
            .name("mcp-watchdog".into())
            .stack_size(64 * 1024)
            .spawn(move || watchdog(&wd))
            .context("spawning watchdog thread")?;

        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let spawned_at = Instant::now();
        let spawned = cmd.spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(err) => {
                shared.closed.store(true, Ordering::SeqCst);
                watchdog.thread().unpark();
                let _ = watchdog.join();
                return Err(err).with_context(|| format!("spawning {:?}", cmd.get_program()));
            }
        };
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("stdout is piped");
        *shared.child() = Some(child);
        Ok(Client {
            shared,
            watchdog: Some(watchdog),
            stdin,
            stdout: BufReader::with_capacity(64 * 1024, stdout),
            next_id: 1,
            timeout,
            line: String::new(),
            spawned_at,
        })
    }

    /// Send `initialize` and return its result (a JSON-RPC error is an `Err`).
    pub fn initialize(&mut self) -> Result<Value> {
        let resp = self.request(
            "initialize",
            json!({
                "protocolVersion": PROTOCOL_VERSION,
                "capabilities": {},
                "clientInfo": {"name": "bench", "version": "0"},
            }),
        )?;
        match resp.get("result") {
            Some(result) if resp.get("error").is_none() => Ok(result.clone()),
            _ => bail!("initialize failed: {}", describe_error(&resp)),
        }
    }

    /// `initialize` followed by `notifications/initialized`, as real clients do.
    pub fn handshake(&mut self) -> Result<Value> {
        let result = self.initialize()?;
        self.notify("notifications/initialized", json!({}))?;
        Ok(result)
    }

    /// `tools/call` of `name` with `arguments`; returns the whole response object.
    pub fn call_tool(&mut self, name: &str, arguments: Value) -> Result<Value> {
        self.request("tools/call", json!({"name": name, "arguments": arguments}))
    }

    /// Send a request and wait for its response; returns the whole response object
    /// (`result` or `error`). Transport failures and timeouts are `Err`.
    pub fn request(&mut self, method: &str, params: Value) -> Result<Value> {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
            .with_context(|| format!("sending `{method}`"))?;
        self.read_response(id)
            .with_context(|| format!("waiting for the response to `{method}` (id {id})"))
    }

    /// Send a notification (no response expected).
    pub fn notify(&mut self, method: &str, params: Value) -> Result<()> {
        self.send(&json!({"jsonrpc": "2.0", "method": method, "params": params}))
            .with_context(|| format!("sending notification `{method}`"))
    }

    fn send(&mut self, msg: &Value) -> Result<()> {
        let mut line = serde_json::to_string(msg)?;
        line.push('\n');
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| anyhow!("stdin already closed"))?;
        stdin.write_all(line.as_bytes())?;
        Ok(())
    }

    fn read_response(&mut self, id: u64) -> Result<Value> {
        let deadline = self.shared.now_ns().saturating_add(self.timeout_ns());
        self.shared.deadline_ns.store(deadline, Ordering::SeqCst);
        let result = self.read_response_inner(id);
        self.shared.deadline_ns.store(0, Ordering::SeqCst);
        result
    }

    fn read_response_inner(&mut self, id: u64) -> Result<Value> {
        loop {
            self.line.clear();
            let n = self.stdout.read_line(&mut self.line);
            if self.shared.fired.load(Ordering::SeqCst) {
                bail!("timed out after {:?}; the server was killed", self.timeout);
            }
            match n {
                Ok(0) => bail!("the server closed its stdout ({})", self.exit_description()),
                Ok(_) => {}
                Err(err) => return Err(err).context("reading the server's stdout"),
            }
            let text = self.line.trim();
            if text.is_empty() {
                continue;
            }
            let msg: Value = serde_json::from_str(text).with_context(|| {
                format!("the server wrote a line that is not JSON: {}", clip(text))
            })?;
            match msg.get("id") {
                Some(got) if got.as_u64() == Some(id) => return Ok(msg),
                // A server-initiated notification or request: not ours, skip it.
                _ if msg.get("method").is_some() => continue,
                got => bail!(
                    "expected the response to id {id}, got id {}: {}",
                    got.map_or_else(|| "none".to_owned(), Value::to_string),
                    clip(text)
                ),
            }
        }
    }

    fn timeout_ns(&self) -> u64 {
        u64::try_from(self.timeout.as_nanos()).unwrap_or(u64::MAX)
    }

    fn exit_description(&self) -> String {
        let mut guard = self.shared.child();
        match guard.as_mut().map(Child::try_wait) {
            Some(Ok(Some(status))) => format!("exited: {status}"),
            Some(Ok(None)) => "still running".to_owned(),
            Some(Err(err)) => format!("status unknown: {err}"),
            None => "already reaped".to_owned(),
        }
    }

    /// Close stdin and wait (up to the timeout) for the server to exit. A non-zero exit is an
    /// error; on timeout the server is killed.
    pub fn close(mut self) -> Result<ExitStatus> {
        drop(self.stdin.take());
        let start = Instant::now();
        loop {
            let mut guard = self.shared.child();
            let Some(child) = guard.as_mut() else {
                bail!("the server was already reaped");
            };
            if let Some(status) = child.try_wait().context("waiting for the server")? {
                *guard = None;
                drop(guard);
                if !status.success() {
                    bail!("the server exited with {status} after stdin was closed");
                }
                return Ok(status);
            }
            if start.elapsed() > self.timeout {
                let _ = child.kill();
                let _ = child.wait();
                *guard = None;
                bail!(
                    "the server did not exit within {:?} of stdin closing; killed it",
                    self.timeout
                );
            }
            drop(guard);
            std::thread::sleep(Duration::from_micros(200));
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        drop(self.stdin.take());
        if let Some(mut child) = self.shared.child().take() {
            // Not closed cleanly (an error path): make sure nothing is left behind.
            let _ = child.kill();
            let _ = child.wait();
        }
        self.shared.closed.store(true, Ordering::SeqCst);
        if let Some(handle) = self.watchdog.take() {
            handle.thread().unpark();
            let _ = handle.join();
        }
    }
}

fn watchdog(shared: &Shared) {
    while !shared.closed.load(Ordering::SeqCst) {
        let deadline = shared.deadline_ns.load(Ordering::SeqCst);
        if deadline != 0 && shared.now_ns() > deadline {
            shared.fired.store(true, Ordering::SeqCst);
            if let Some(child) = shared.child().as_mut() {
                let _ = child.kill();
            }
            return;
        }
        std::thread::park_timeout(WATCHDOG_TICK);
    }
}

/// `Ok(result)` for a successful response; `Err(text)` for a JSON-RPC error or a tool result
/// with `isError: true` (the text is the error message / the tool's text content).
pub fn outcome(resp: &Value) -> std::result::Result<&Value, String> {
    if resp.get("error").is_some() {
        return Err(describe_error(resp));
    }
    let Some(result) = resp.get("result") else {
        return Err(format!(
            "response without result or error: {}",
            clip(&resp.to_string())
        ));
    };
    if result.get("isError").and_then(Value::as_bool) == Some(true) {
        let text = result
            .get("content")
            .and_then(Value::as_array)
            .and_then(|items| {
                items
                    .iter()
                    .find_map(|c| c.get("text").and_then(Value::as_str))
            })
            .map_or_else(|| result.to_string(), str::to_owned);
        return Err(format!("tool error: {}", clip(&text)));
    }
    Ok(result)
}

fn describe_error(resp: &Value) -> String {
    match resp.get("error") {
        Some(err) => {
            let code = err
                .get("code")
                .map_or_else(|| "?".to_owned(), Value::to_string);
            let message = err
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("(no message)");
            format!("JSON-RPC error {code}: {}", clip(message))
        }
        None => clip(&resp.to_string()),
    }
}

fn clip(s: &str) -> String {
    const MAX: usize = 300;
    if s.len() <= MAX {
        return s.to_owned();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcome_classifies_responses() {
        let ok = json!({"jsonrpc": "2.0", "id": 1, "result": {"content": []}});
        assert!(outcome(&ok).is_ok());
        let rpc = json!({"jsonrpc": "2.0", "id": 1, "error": {"code": -32602, "message": "unknown tool"}});
        assert_eq!(
            outcome(&rpc).unwrap_err(),
            "JSON-RPC error -32602: unknown tool"
        );
        let tool = json!({"jsonrpc": "2.0", "id": 1, "result": {"isError": true, "content": [{"type": "text", "text": "bad title"}]}});
        assert_eq!(outcome(&tool).unwrap_err(), "tool error: bad title");
    }

    #[test]
    fn times_out_instead_of_hanging_and_kills_the_child() {
        // `sleep` never answers: the watchdog must kill it and the read must fail.
        let mut cmd = Command::new("sleep");
        cmd.arg("30");
        let Ok(mut client) = Client::spawn(cmd, Duration::from_millis(200)) else {
            return; // no `sleep` on this machine
        };
        let start = Instant::now();
        let err = client.initialize().unwrap_err();
        assert!(format!("{err:#}").contains("timed out"), "{err:#}");
        assert!(start.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn talks_to_a_line_echoing_server() {
        // A shell "server" that answers every line with a fixed result for id 1, then exits.
        let mut cmd = Command::new("sh");
        cmd.arg("-c").arg(
            r#"read line; echo '{"jsonrpc":"2.0","method":"notifications/message","params":{}}'; echo '{"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"2025-06-18"}}'; cat >/dev/null"#,
        );
        let Ok(mut client) = Client::spawn(cmd, Duration::from_secs(10)) else {
            return; // no `sh` on this machine
        };
        let result = client.initialize().unwrap();
        assert_eq!(result["protocolVersion"], "2025-06-18");
        client.close().unwrap();
    }
}
