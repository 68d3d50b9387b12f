//! A blocking MCP client for one server named in `session/new`: a stdio
//! child it spawns (given command, args and env; cwd = the session's cwd)
//! or an HTTP server it reaches (`mcp_http.rs`). It does the `initialize`
//! handshake (protocol `2025-06-18`) and calls tools. Every wait has a
//! timeout and gives way to the turn's cancellation.

use std::collections::HashMap;
use std::io::BufReader;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use enki_jsonrpc::{
    ErrorObject, Frame, Id, IdAllocator, LineReader, LineWriter, Message, parse_line,
};
use serde_json::{Value, json};

use crate::cancel::{Cancel, Wait};
use crate::mcp_http::{HttpConn, HttpSpec};

/// The MCP protocol version the client asks for.
pub const PROTOCOL_VERSION: &str = "2025-06-18";
/// Longest wait for `initialize`.
pub const INIT_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest wait for one `tools/call`.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(300);

/// One MCP server from `session/new`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerSpec {
    Stdio(StdioSpec),
    Http(HttpSpec),
}

/// A stdio server: a program to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StdioSpec {
    pub name: String,
    pub command: String,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
}

/// `[{name, value}]` (or, as some clients send, a plain map) of strings.
fn name_values(value: Option<&Value>) -> Option<Vec<(String, String)>> {
    match value {
        None | Some(Value::Null) => Some(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| {
                let n = item.get("name").and_then(Value::as_str)?;
                let v = item.get("value").and_then(Value::as_str)?;
                Some((n.to_string(), v.to_string()))
            })
            .collect(),
        Some(Value::Object(vars)) => vars
            .iter()
            .map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
            .collect(),
        Some(_) => None,
    }
}

impl ServerSpec {
    pub fn name(&self) -> &str {
        match self {
            ServerSpec::Stdio(spec) => &spec.name,
            ServerSpec::Http(spec) => &spec.name,
        }
    }

    /// The `args` of a stdio server (none for HTTP).
    pub fn args(&self) -> &[String] {
        match self {
            ServerSpec::Stdio(spec) => &spec.args,
            ServerSpec::Http(_) => &[],
        }
    }

    /// Reads one `mcpServers` entry. `Ok(None)` for SSE servers, which this
    /// agent does not support (it says so in its capabilities).
    pub fn from_acp(value: &Value) -> Result<Option<ServerSpec>, String> {
        let Value::Object(map) = value else {
            return Err("an MCP server must be an object".to_string());
        };
        let string = |key: &str| match map.get(key) {
            Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
            _ => Err(format!("an MCP server needs a non-empty string `{key}`")),
        };
        match map.get("type").and_then(Value::as_str) {
            None | Some("stdio") => {}
            Some("http") => {
                let name = string("name")?;
                let url = string("url")?;
                let headers = name_values(map.get("headers")).ok_or_else(|| {
                    format!(
                        "MCP server '{name}': `headers` must be an array of {{name, value}} strings"
                    )
                })?;
                return Ok(Some(ServerSpec::Http(HttpSpec { name, url, headers })));
            }
            Some(_) => return Ok(None),
        }
        let name = string("name")?;
        let command = string("command")?;
        let args = match map.get("args") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|a| a.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| format!("MCP server '{name}': `args` must be strings"))?,
            Some(_) => return Err(format!("MCP server '{name}': `args` must be an array")),
        };
        let env = name_values(map.get("env")).ok_or_else(|| {
            format!("MCP server '{name}': `env` must be an array of {{name, value}} strings")
        })?;
        Ok(Some(ServerSpec::Stdio(StdioSpec {
            name,
            command,
            args,
            env,
        })))
    }
}

/// Why an MCP exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum McpError {
    #[error("cannot start MCP server '{name}' ({command}): {source}")]
    Spawn {
        name: String,
        command: String,
        #[source]
        source: std::io::Error,
    },
    #[error("MCP server '{name}' did not answer {method} within {} s", after.as_secs())]
    Timeout {
        name: String,
        method: String,
        after: Duration,
    },
    #[error("MCP server '{name}' stopped ({status}) before answering {method}")]
    Exited {
        name: String,
        method: String,
        status: String,
    },
    #[error("MCP server '{name}' answered {method} with an error: {error}")]
    Rpc {
        name: String,
        method: String,
        error: ErrorObject,
    },
    #[error("MCP server '{name}' could not be reached for {method}: {reason}")]
    Unreachable {
        name: String,
        method: String,
        reason: String,
    },
    #[error("cancelled")]
    Cancelled,
}

type Reply = Result<Value, ErrorObject>;
type Pending = Arc<Mutex<Option<HashMap<Id, Sender<Reply>>>>>;
type Writer = Arc<Mutex<Option<LineWriter<ChildStdin>>>>;

/// A connected MCP server.
pub struct McpClient {
    name: String,
    conn: Conn,
    ids: IdAllocator,
    /// The server's `initialize` result.
    server: Mutex<Option<Value>>,
}

enum Conn {
    Stdio(StdioConn),
    Http(HttpConn),
}

/// A stdio server child and its pipes.
struct StdioConn {
    child: Mutex<Child>,
    stdin: Writer,
    pending: Pending,
}

impl McpClient {
    /// Starts the server process, or prepares the HTTP connection (not yet
    /// initialized).
    pub fn spawn(spec: &ServerSpec, cwd: &Path) -> Result<McpClient, McpError> {
        let conn = match spec {
            ServerSpec::Stdio(spec) => Conn::Stdio(StdioConn::spawn(spec, cwd)?),
            ServerSpec::Http(spec) => {
                Conn::Http(HttpConn::new(spec).map_err(|reason| McpError::Unreachable {
                    name: spec.name.clone(),
                    method: "initialize".to_string(),
                    reason,
                })?)
            }
        };
        Ok(McpClient {
            name: spec.name().to_string(),
            conn,
            ids: IdAllocator::new(),
            server: Mutex::new(None),
        })
    }

    /// `initialize` + `notifications/initialized`; returns the server's
    /// initialize result.
    pub fn initialize(&self, cancel: &Cancel) -> Result<Value, McpError> {
        let result = self.request(
            "initialize",
            json!({
                "protocolVersion": PROTOCOL_VERSION,
                "capabilities": {},
                "clientInfo": {"name": "enki-sim", "version": env!("CARGO_PKG_VERSION")},
            }),
            INIT_TIMEOUT,
            cancel,
        )?;
        *self.server.lock().unwrap_or_else(PoisonError::into_inner) = Some(result.clone());
        self.notify("notifications/initialized", None);
        Ok(result)
    }

    /// The role the server says it serves (`_meta["enki/role"]` of its
    /// `initialize` result): over HTTP, the role of the token.
    pub fn server_role(&self) -> Option<String> {
        let server = self.server.lock().unwrap_or_else(PoisonError::into_inner);
        server.as_ref()?["_meta"]["enki/role"]
            .as_str()
            .map(str::to_string)
    }

    /// `tools/call`; returns the call result (`content`, `isError`, ...).
    pub fn call_tool(
        &self,
        tool: &str,
        arguments: Value,
        cancel: &Cancel,
    ) -> Result<Value, McpError> {
        self.request(
            "tools/call",
            json!({"name": tool, "arguments": arguments}),
            CALL_TIMEOUT,
            cancel,
        )
    }

    fn request(
        &self,
        method: &str,
        params: Value,
        timeout: Duration,
        cancel: &Cancel,
    ) -> Result<Value, McpError> {
        let id = self.ids.next();
        let message = Message::request(id.clone(), method, Some(params));
        let outcome = match &self.conn {
            Conn::Stdio(conn) => conn.exchange(&id, &message, timeout, cancel),
            Conn::Http(conn) => http_exchange(conn, &message, timeout, cancel),
        };
        let give_up = |reason: &str| {
            self.notify(
                "notifications/cancelled",
                Some(json!({"requestId": id, "reason": reason})),
            );
        };
        match outcome {
            Wait::Got(Ok(Ok(value))) => Ok(value),
            Wait::Got(Ok(Err(error))) => Err(McpError::Rpc {
                name: self.name.clone(),
                method: method.to_string(),
                error,
            }),
            Wait::Got(Err(reason)) => Err(McpError::Unreachable {
                name: self.name.clone(),
                method: method.to_string(),
                reason,
            }),
            Wait::Cancelled => {
                give_up("the turn was cancelled");
                Err(McpError::Cancelled)
            }
            Wait::TimedOut => {
                give_up("timed out");
                Err(McpError::Timeout {
                    name: self.name.clone(),
                    method: method.to_string(),
                    after: timeout,
                })
            }
            Wait::Closed => Err(McpError::Exited {
                name: self.name.clone(),
                method: method.to_string(),
                status: match &self.conn {
                    Conn::Stdio(conn) => conn.status(),
                    Conn::Http(_) => "its connection closed".to_string(),
                },
            }),
        }
    }

    fn notify(&self, method: &str, params: Option<Value>) {
        let message = Message::notification(method, params);
        match &self.conn {
            Conn::Stdio(conn) => write_to(&conn.stdin, &message),
            // Answered 202 with no body; nothing to wait for.
            Conn::Http(conn) => drop(conn.post(&message)),
        }
    }

    /// Stdio: closes its stdin, kills it and reaps it. HTTP: ends the
    /// session.
    pub fn kill(&self) {
        match &self.conn {
            Conn::Stdio(conn) => conn.kill(),
            Conn::Http(conn) => conn.close(),
        }
    }
}

impl Drop for McpClient {
    fn drop(&mut self) {
        self.kill();
    }
}

/// What an HTTP answer says: the response, or why there is none (an
/// HTTP error status, or a body that is not a JSON-RPC response).
fn http_exchange(
    conn: &HttpConn,
    message: &Message,
    timeout: Duration,
    cancel: &Cancel,
) -> Wait<Result<Reply, String>> {
    match cancel.recv(&conn.post(message), Some(timeout)) {
        Wait::Got(Ok(answer)) => Wait::Got(match answer.message {
            Some(Message::Response(response)) if answer.status < 300 => Ok(response.outcome),
            _ => Err(format!("HTTP {}: {}", answer.status, answer.text.trim())),
        }),
        Wait::Got(Err(reason)) => Wait::Got(Err(reason)),
        Wait::Cancelled => Wait::Cancelled,
        Wait::TimedOut => Wait::TimedOut,
        Wait::Closed => Wait::Closed,
    }
}

impl StdioConn {
    fn spawn(spec: &StdioSpec, cwd: &Path) -> Result<StdioConn, McpError> {
        let mut child = Command::new(&spec.command)
            .args(&spec.args)
            .envs(spec.env.iter().map(|(k, v)| (k, v)))
            .current_dir(cwd)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|source| McpError::Spawn {
                name: spec.name.clone(),
                command: spec.command.clone(),
                source,
            })?;
        let stdin: Writer = Arc::new(Mutex::new(child.stdin.take().map(LineWriter::new)));
        let pending: Pending = Arc::new(Mutex::new(Some(HashMap::new())));
        if let Some(stdout) = child.stdout.take() {
            let (stdin, pending, name) =
                (Arc::clone(&stdin), Arc::clone(&pending), spec.name.clone());
            let spawned = std::thread::Builder::new()
                .name(format!("mcp-{}", spec.name))
                .spawn(move || read_loop(BufReader::new(stdout), &stdin, &pending, &name));
            if let Err(e) = spawned {
                eprintln!("enki sim-agent: cannot start a reader thread: {e}");
            }
        }
        Ok(StdioConn {
            child: Mutex::new(child),
            stdin,
            pending,
        })
    }

    /// Sends a request and waits for its response.
    fn exchange(
        &self,
        id: &Id,
        message: &Message,
        timeout: Duration,
        cancel: &Cancel,
    ) -> Wait<Result<Reply, String>> {
        let (tx, rx) = channel();
        let registered = match self
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_mut()
        {
            Some(pending) => {
                pending.insert(id.clone(), tx);
                true
            }
            None => false,
        };
        if registered {
            write_to(&self.stdin, message);
        }
        let outcome = if registered {
            cancel.recv(&rx, Some(timeout))
        } else {
            Wait::Closed
        };
        if let Some(pending) = self
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_mut()
        {
            pending.remove(id);
        }
        match outcome {
            Wait::Got(reply) => Wait::Got(Ok(reply)),
            Wait::Cancelled => Wait::Cancelled,
            Wait::TimedOut => Wait::TimedOut,
            Wait::Closed => Wait::Closed,
        }
    }

    /// How the child ended, or that it still runs.
    fn status(&self) -> String {
        let mut child = self.child.lock().unwrap_or_else(PoisonError::into_inner);
        match child.try_wait() {
            Ok(Some(status)) => status.to_string(),
            Ok(None) => "its output closed".to_string(),
            Err(e) => format!("unknown status: {e}"),
        }
    }

    fn kill(&self) {
        self.stdin
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let mut child = self.child.lock().unwrap_or_else(PoisonError::into_inner);
        if let Ok(None) = child.try_wait() {
            let _ = child.kill();
        }
        let _ = child.wait();
    }
}

fn write_to(stdin: &Writer, message: &Message) {
    if let Some(writer) = stdin
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .as_mut()
    {
        // A dead server shows up as a closed stdout; nothing to do here.
        let _ = writer.send(message);
    }
}

/// Reads the server's stdout: responses go to their waiting request, the
/// server's own requests get a minimal answer. At EOF every waiting request
/// fails.
fn read_loop(
    stdout: BufReader<std::process::ChildStdout>,
    stdin: &Writer,
    pending: &Pending,
    name: &str,
) {
    let mut reader = LineReader::new(stdout);
    while let Ok(Some(frame)) = reader.next_frame() {
        let Frame::Line(line) = frame else {
            eprintln!("enki sim-agent: MCP server '{name}' wrote an over-long line; skipped");
            continue;
        };
        match parse_line(&line) {
            Ok(None) => {}
            Ok(Some(Message::Response(response))) => {
                let waiter = response.id.as_ref().and_then(|id| {
                    pending
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .as_mut()
                        .and_then(|p| p.remove(id))
                });
                if let Some(tx) = waiter {
                    let _ = tx.send(response.outcome);
                }
            }
            Ok(Some(Message::Request(request))) => {
                let reply = if request.method == "ping" {
                    Message::response(request.id, json!({}))
                } else {
                    Message::error(
                        Some(request.id),
                        ErrorObject::method_not_found(&request.method),
                    )
                };
                write_to(stdin, &reply);
            }
            Ok(Some(Message::Notification(_))) => {}
            Err(e) => eprintln!("enki sim-agent: MCP server '{name}' wrote an invalid line: {e}"),
        }
    }
    pending
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acp_server_entries() {
        let spec = ServerSpec::from_acp(&json!({
            "name": "enki", "command": "/bin/enki", "args": ["mcp", "--role", "worker"],
            "env": [{"name": "ENKI_DIR", "value": "/p/.enki"}]
        }))
        .unwrap()
        .unwrap();
        let ServerSpec::Stdio(spec) = spec else {
            panic!("stdio")
        };
        assert_eq!(spec.name, "enki");
        assert_eq!(spec.args, ["mcp", "--role", "worker"]);
        assert_eq!(spec.env, [("ENKI_DIR".to_string(), "/p/.enki".to_string())]);
        let spec = ServerSpec::from_acp(&json!({"name": "x", "command": "c", "env": {"A": "1"}}))
            .unwrap()
            .unwrap();
        let ServerSpec::Stdio(spec) = spec else {
            panic!("stdio")
        };
        assert_eq!(spec.env, [("A".to_string(), "1".to_string())]);
        assert!(spec.args.is_empty());
        assert_eq!(
            ServerSpec::from_acp(&json!({"type": "http", "name": "h", "url": "http://x/mcp",
                "headers": [{"name": "Authorization", "value": "Bearer t"}]}))
            .unwrap(),
            Some(ServerSpec::Http(HttpSpec {
                name: "h".into(),
                url: "http://x/mcp".into(),
                headers: vec![("Authorization".into(), "Bearer t".into())],
            }))
        );
        assert_eq!(
            ServerSpec::from_acp(&json!({"type": "sse", "name": "h", "url": "http://x"})).unwrap(),
            None
        );
        for bad in [
            json!("enki"),
            json!({"name": "x"}),
            json!({"name": "", "command": "c"}),
            json!({"name": "x", "command": "c", "args": [1]}),
            json!({"name": "x", "command": "c", "env": [{"name": "A"}]}),
            json!({"type": "http", "name": "h"}),
            json!({"type": "http", "name": "h", "url": "http://x", "headers": [1]}),
        ] {
            assert!(ServerSpec::from_acp(&bad).is_err(), "{bad}");
        }
    }

    fn sh(script: &str) -> StdioSpec {
        StdioSpec {
            name: "fake".to_string(),
            command: "sh".to_string(),
            args: vec!["-c".to_string(), script.to_string()],
            env: vec![("FAKE_REPLY".to_string(), "ok".to_string())],
        }
    }

    #[test]
    fn a_server_that_exits_fails_the_request_clearly() {
        let dir = tempfile::tempdir().unwrap();
        let client =
            McpClient::spawn(&ServerSpec::Stdio(sh("read line; exit 4")), dir.path()).unwrap();
        let err = client.initialize(&Cancel::new()).unwrap_err();
        assert!(matches!(err, McpError::Exited { .. }), "{err}");
        assert!(err.to_string().contains("'fake'"), "{err}");
    }

    #[test]
    fn responses_are_routed_and_env_and_cwd_apply() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("marker"), "").unwrap();
        // Answers every request line with id 1 then 2, echoing $FAKE_REPLY
        // and whether it runs in the session cwd.
        let script = r#"n=1; while read line; do case "$line" in *'"id"'*)
            here=no; [ -f marker ] && here=yes
            printf '{"jsonrpc":"2.0","id":%s,"result":{"reply":"%s","here":"%s"}}\n' $n "$FAKE_REPLY" $here
            n=$((n+1));; esac; done"#;
        let client = McpClient::spawn(&ServerSpec::Stdio(sh(script)), dir.path()).unwrap();
        let init = client.initialize(&Cancel::new()).unwrap();
        assert_eq!(init, json!({"reply": "ok", "here": "yes"}));
        let result = client.call_tool("t", json!({}), &Cancel::new()).unwrap();
        assert_eq!(result["reply"], "ok");
        client.kill();
    }

    #[test]
    fn a_missing_command_is_a_spawn_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut spec = sh("");
        spec.command = "/nonexistent/enki-sim-test".to_string();
        let err = McpClient::spawn(&ServerSpec::Stdio(spec), dir.path())
            .err()
            .unwrap();
        assert!(
            err.to_string().contains("/nonexistent/enki-sim-test"),
            "{err}"
        );
    }

    #[test]
    fn cancel_stops_waiting() {
        let dir = tempfile::tempdir().unwrap();
        let client = McpClient::spawn(
            &ServerSpec::Stdio(sh("while read line; do :; done")),
            dir.path(),
        )
        .unwrap();
        let cancel = Cancel::new();
        cancel.cancel();
        assert!(matches!(
            client.call_tool("t", json!({}), &cancel),
            Err(McpError::Cancelled)
        ));
    }
}
