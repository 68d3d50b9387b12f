//! enki's MCP server for agents that take one over HTTP: one
//! `enki mcp --transport http --token-table -` per coordinator, started
//! outside every sandbox at the first grant. Each agent session gets a
//! token of its own whose table entry fixes its role, task and no-edit
//! flag, so an agent cannot choose who it is; the token is revoked when the
//! session's [`Grant`] is dropped.
//!
//! The table lives only in this process and the server's memory: it is fed
//! whole on the server's stdin at each change and acknowledged on its
//! stdout, so a token is handed out only once the server knows it, and no
//! agent can read the table from disk. The server ends when its stdin does:
//! when the coordinator ends, however it ends.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use enki_acp::{HttpMcpServerSpec, InitializeResult, McpServer, McpServerSpec};
use enki_config::{ResolvedAgent, SandboxMode};
use serde_json::json;
use tokio::sync::watch;

/// How long the server may take to listen, and to acknowledge a table.
const START_TIMEOUT: Duration = Duration::from_secs(15);

/// Who an agent session is to enki's tools.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct McpIdentity {
    /// `planner`, `worker` or `merger`.
    pub role: &'static str,
    pub task_id: Option<String>,
    pub no_edit: bool,
}

/// Starts and feeds the server; shared by every agent of a coordinator.
pub struct McpHost {
    enki_bin: PathBuf,
    enki_dir: PathBuf,
    session_id: String,
    cwd: PathBuf,
    shared: Arc<Mutex<Shared>>,
}

/// What grants and their drops change.
#[derive(Default)]
struct Shared {
    entries: BTreeMap<u64, Entry>,
    next_key: u64,
    server: Option<Server>,
}

struct Entry {
    token: String,
    identity: McpIdentity,
}

/// A running server.
struct Server {
    child: Child,
    stdin: ChildStdin,
    url: String,
    /// Table lines written so far.
    sent: u64,
    /// The last table line the server answered, and whether it took it.
    acknowledged: watch::Receiver<(u64, bool)>,
}

/// An agent session's token; revoked when dropped.
pub struct Grant {
    shared: Arc<Mutex<Shared>>,
    key: u64,
    /// The server to hand the agent, with its token.
    pub server: HttpMcpServerSpec,
}

impl std::fmt::Debug for Grant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Grant")
            .field("server", &self.server)
            .finish()
    }
}

impl Drop for Grant {
    fn drop(&mut self) {
        let mut shared = self.shared.lock().unwrap_or_else(PoisonError::into_inner);
        shared.entries.remove(&self.key);
        // A revocation needs no acknowledgement: the next request with the
        // token finds a table without it.
        if let Err(e) = shared.send_table() {
            tracing::warn!("cannot revoke an agent's MCP token: {e}");
        }
    }
}

impl McpHost {
    pub fn new(enki_bin: PathBuf, enki_dir: PathBuf, session_id: String, cwd: PathBuf) -> McpHost {
        McpHost {
            enki_bin,
            enki_dir,
            session_id,
            cwd,
            shared: Arc::new(Mutex::new(Shared::default())),
        }
    }

    /// The `enki` MCP server handed to an agent in `session/new`, and the
    /// grant of its token (held for the session's life) when it is over
    /// HTTP: the one rule for every session, a run's and `enki
    /// agent-test`'s. Agents whose sandbox keeps them off the store (see
    /// `sandbox::mcp_over_stdio`) get this HTTP server with a token fixing
    /// `who`; the others start `enki mcp` over stdio with `who` as
    /// arguments (a weaker boundary, which doctor reports).
    pub async fn servers_for(
        &self,
        agent: &ResolvedAgent,
        init: &InitializeResult,
        who: McpIdentity,
        sandbox: SandboxMode,
    ) -> Result<(Vec<McpServer>, Option<Grant>), String> {
        if crate::sandbox::mcp_over_stdio(agent) {
            return Ok((vec![self.stdio_server(&who).into()], None));
        }
        if !init.takes_http_mcp() {
            if sandbox == SandboxMode::Off {
                return Ok((vec![self.stdio_server(&who).into()], None));
            }
            return Err(format!(
                "the agent {} does not declare MCP over HTTP (agentCapabilities.mcpCapabilities.http), and inside its sandbox a stdio `enki mcp` cannot write enki's store: update the agent's ACP adapter, or set `[sandbox] mode = \"off\"`",
                agent.name
            ));
        }
        let grant = self.grant(who).await?;
        Ok((vec![grant.server.clone().into()], Some(grant)))
    }

    /// `enki mcp` over stdio, started by the agent itself.
    fn stdio_server(&self, who: &McpIdentity) -> McpServerSpec {
        let mut args = vec!["mcp".to_string(), "--role".into(), who.role.into()];
        if let Some(task) = &who.task_id {
            args.extend(["--task-id".into(), task.clone()]);
        }
        if who.no_edit {
            args.push("--no-edit".into());
        }
        McpServerSpec {
            name: "enki".into(),
            command: self.enki_bin.display().to_string(),
            args,
            env: vec![
                ("ENKI_DIR".into(), self.enki_dir.display().to_string()),
                ("ENKI_SESSION_ID".into(), self.session_id.clone()),
                ("ENKI_BIN".into(), self.enki_bin.display().to_string()),
            ],
        }
    }

    /// A token for one agent session, known to the server when this returns.
    pub async fn grant(&self, identity: McpIdentity) -> Result<Grant, String> {
        let url = self.ensure_server()?;
        let token = new_token()?;
        let (key, line, mut acknowledged) = {
            let mut shared = self.shared.lock().unwrap_or_else(PoisonError::into_inner);
            let key = shared.next_key;
            shared.next_key += 1;
            shared.entries.insert(
                key,
                Entry {
                    token: token.clone(),
                    identity,
                },
            );
            let line = shared.send_table()?;
            let acknowledged = shared.server.as_ref().map(|s| s.acknowledged.clone());
            (key, line, acknowledged)
        };
        let grant = Grant {
            shared: Arc::clone(&self.shared),
            key,
            server: HttpMcpServerSpec {
                name: "enki".into(),
                url,
                headers: vec![("Authorization".into(), format!("Bearer {token}"))],
            },
        };
        let Some(acknowledged) = acknowledged.as_mut() else {
            return Err("enki's MCP server is not running".into());
        };
        let known = tokio::time::timeout(START_TIMEOUT, acknowledged.wait_for(|(n, _)| *n >= line));
        match known.await {
            Ok(Ok(answer)) if answer.1 => Ok(grant),
            Ok(Ok(_)) => Err("enki's MCP server refused its token table (its log says why)".into()),
            Ok(Err(_)) => Err("enki's MCP server ended before it took the agent's token".into()),
            Err(_) => Err(format!(
                "enki's MCP server did not take the agent's token within {} s",
                START_TIMEOUT.as_secs()
            )),
        }
    }

    /// The server's port, starting it when needed: an agent's sandbox
    /// without network must still let it connect there.
    pub fn port(&self) -> Result<u16, String> {
        let url = self.ensure_server()?;
        url.strip_prefix("http://")
            .and_then(|rest| rest.split('/').next())
            .and_then(|authority| authority.rsplit(':').next())
            .and_then(|port| port.parse().ok())
            .ok_or_else(|| format!("enki's MCP server said it listens on {url}, which has no port"))
    }

    /// The server's URL, starting it (again, if it ended) when needed. The
    /// lock is held across a start, so concurrent first grants start one
    /// server; starting takes the server's start-up time (milliseconds).
    fn ensure_server(&self) -> Result<String, String> {
        let mut shared = self.shared.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(server) = shared.server.as_mut() {
            match server.child.try_wait() {
                Ok(None) => return Ok(server.url.clone()),
                Ok(Some(status)) => tracing::warn!(
                    "enki's MCP server for agents ended ({status}); starting it again (agents still using the old one lose enki's tools)"
                ),
                Err(e) => tracing::warn!("cannot check enki's MCP server for agents: {e}"),
            }
            shared.server = None;
        }
        let server = self.spawn()?;
        let url = server.url.clone();
        shared.server = Some(server);
        Ok(url)
    }

    fn spawn(&self) -> Result<Server, String> {
        let mut child = Command::new(&self.enki_bin)
            .args([
                "mcp",
                "--transport",
                "http",
                "--addr",
                "127.0.0.1:0",
                "--token-table",
                "-",
            ])
            .current_dir(&self.cwd)
            .env("ENKI_DIR", &self.enki_dir)
            .env("ENKI_SESSION_ID", &self.session_id)
            .env("ENKI_BIN", &self.enki_bin)
            .env_remove("ENKI_MCP_TOKEN")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                format!(
                    "cannot start enki's MCP server for agents ({} mcp --transport http): {e}",
                    self.enki_bin.display()
                )
            })?;
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            let _ = child.kill();
            return Err("enki's MCP server for agents has no pipes".into());
        };
        let (listening, on_listening) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("mcp-host-stderr".into())
            .spawn(move || read_stderr(stderr, listening))
            .map_err(|e| format!("cannot read enki's MCP server's output: {e}"))?;
        let (acknowledge, acknowledged) = watch::channel((0, true));
        std::thread::Builder::new()
            .name("mcp-host-acks".into())
            .spawn(move || read_acks(stdout, acknowledge))
            .map_err(|e| format!("cannot read enki's MCP server's output: {e}"))?;
        let url = match on_listening.recv_timeout(START_TIMEOUT) {
            Ok(Ok(url)) => url,
            outcome => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(match outcome {
                    Ok(Err(said)) => format!("enki's MCP server for agents did not start: {said}"),
                    _ => format!(
                        "enki's MCP server for agents did not listen within {} s",
                        START_TIMEOUT.as_secs()
                    ),
                });
            }
        };
        tracing::info!(%url, pid = child.id(), "enki's MCP server for agents listens");
        Ok(Server {
            child,
            stdin,
            url,
            sent: 0,
            acknowledged,
        })
    }
}

impl Shared {
    /// Writes the whole table to the server; returns the line's number.
    fn send_table(&mut self) -> Result<u64, String> {
        let tokens: Vec<_> = self
            .entries
            .values()
            .map(|e| {
                json!({"token": e.token, "role": e.identity.role,
                       "task_id": e.identity.task_id, "no_edit": e.identity.no_edit})
            })
            .collect();
        let mut line = json!({ "tokens": tokens }).to_string();
        line.push('\n');
        let Some(server) = self.server.as_mut() else {
            return Ok(0);
        };
        server
            .stdin
            .write_all(line.as_bytes())
            .and_then(|()| server.stdin.flush())
            .map_err(|e| format!("cannot write to enki's MCP server: {e}"))?;
        server.sent += 1;
        Ok(server.sent)
    }
}

impl Drop for McpHost {
    fn drop(&mut self) {
        let mut shared = self.shared.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(mut server) = shared.server.take() {
            // Closing stdin ends it; kill in case it is stuck.
            drop(server.stdin);
            let _ = server.child.kill();
            let _ = server.child.wait();
        }
    }
}

/// Finds the "listening on URL" line, then forwards the server's warnings
/// to the coordinator's log.
fn read_stderr(
    stderr: std::process::ChildStderr,
    listening: std::sync::mpsc::Sender<Result<String, String>>,
) {
    let mut said = Vec::new();
    let mut waiting = Some(listening);
    for line in BufReader::new(stderr).lines() {
        let Ok(line) = line else { break };
        if let Some(tx) = waiting.take() {
            match line.strip_prefix("enki mcp: listening on ") {
                Some(url) => {
                    let _ = tx.send(Ok(url.trim().to_string()));
                }
                None => {
                    said.push(line);
                    waiting = Some(tx);
                }
            }
            continue;
        }
        tracing::warn!(target: "enki_mcp_server", "{line}");
    }
    if let Some(tx) = waiting {
        let said = if said.is_empty() {
            "it ended without a word".to_string()
        } else {
            said.join("; ")
        };
        let _ = tx.send(Err(said));
    }
}

/// Counts the server's answers to table lines.
fn read_acks(stdout: std::process::ChildStdout, acknowledge: watch::Sender<(u64, bool)>) {
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        let (word, rest) = line.split_once(' ').unwrap_or((line.as_str(), ""));
        let number = rest.split(':').next().and_then(|n| n.trim().parse().ok());
        match (word, number) {
            ("applied", Some(n)) => acknowledge.send_replace((n, true)),
            ("refused", Some(n)) => {
                // enki wrote the table: a refusal is a bug, and every token
                // now fails; the server's log says why.
                tracing::warn!("enki's MCP server refused its token table: {line}");
                acknowledge.send_replace((n, false))
            }
            _ => {
                tracing::warn!("enki's MCP server wrote an unexpected line: {line}");
                continue;
            }
        };
    }
}

/// 256 random bits, hex.
fn new_token() -> Result<String, String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| format!("no randomness for an MCP token: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}
