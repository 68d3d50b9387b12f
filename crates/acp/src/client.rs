//! The public client: spawn an agent, run the ACP handshake, sessions and
//! turns, and shut it down.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::connection::{CloseInfo, Connection, RequestOpts};
use crate::error::AcpError;
use crate::mcp::McpServer;
use crate::modes::{ModeControl, SessionModes, from_config_options};
use crate::permission::{PermissionPolicy, WithinCwd};
use crate::process::AgentProcess;
use crate::updates::{AgentEvent, str_field};

/// The ACP protocol version enki speaks.
pub const PROTOCOL_VERSION: u64 = 1;

/// After the agent exits, how long to wait for the rest of its stdout to be
/// read (a grandchild may hold the pipe open).
const STDOUT_DRAIN: Duration = Duration::from_secs(2);
/// Likewise for stderr, so the tail in the `Exited` error is complete.
const STDERR_DRAIN: Duration = Duration::from_secs(1);

/// How to start the agent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentCommand {
    pub program: String,
    pub args: Vec<String>,
    /// Added to the inherited environment (or the whole environment when
    /// `clear_env`).
    pub env: Vec<(String, String)>,
    /// When true the child's environment is exactly `env`.
    pub clear_env: bool,
    /// The working directory; must exist.
    pub cwd: PathBuf,
    /// Where the agent's stderr is appended (parent folders are created).
    pub stderr_log: Option<PathBuf>,
    /// The Landlock policy the agent's whole process tree runs under,
    /// enforced between fork and exec; `None` runs it unconfined.
    pub sandbox: Option<enki_sandbox::Policy>,
}

impl AgentCommand {
    /// `program` in `cwd`, no args, inherited environment, no log.
    pub fn new(program: impl Into<String>, cwd: impl Into<PathBuf>) -> Self {
        AgentCommand {
            program: program.into(),
            cwd: cwd.into(),
            ..AgentCommand::default()
        }
    }
}

/// Client settings.
#[derive(Clone)]
pub struct ClientOptions {
    /// Timeout of `initialize`, `authenticate` and `session/new` (not of
    /// `session/prompt`). Default 30 s.
    pub request_timeout: Duration,
    /// How long `shutdown` waits after closing stdin, and again after
    /// SIGTERM. Default 3 s.
    pub shutdown_grace: Duration,
    /// Answers `session/request_permission`. Default [`WithinCwd`].
    pub permission: Arc<dyn PermissionPolicy>,
    /// Offer no file writing: `writeTextFile` is not advertised and
    /// `fs/write_text_file` is refused (e.g. for the planner). Default false.
    pub read_only: bool,
    /// `initialize` fails with [`AcpError::NotAcp`] once the agent has
    /// written lines that are not JSON-RPC, and nothing valid, for this
    /// long (rather than waiting for `request_timeout`). Default 5 s.
    pub not_acp_grace: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            request_timeout: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(3),
            permission: Arc::new(WithinCwd),
            read_only: false,
            not_acp_grace: Duration::from_secs(5),
        }
    }
}

impl fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientOptions")
            .field("request_timeout", &self.request_timeout)
            .field("shutdown_grace", &self.shutdown_grace)
            .field("read_only", &self.read_only)
            .field("not_acp_grace", &self.not_acp_grace)
            .finish_non_exhaustive()
    }
}

/// What `initialize` returned.
#[derive(Debug, Clone, PartialEq)]
pub struct InitializeResult {
    pub protocol_version: u64,
    pub auth_methods: Vec<AuthMethod>,
    /// The whole result (agentCapabilities, agentInfo, `_meta`, ...).
    pub raw: Value,
}

impl InitializeResult {
    /// How the agent can take up an earlier session, if it declares a way:
    /// `session/resume` (`agentCapabilities.sessionCapabilities.resume`,
    /// no replay) is preferred over `session/load`
    /// (`agentCapabilities.loadSession`, which replays the history).
    pub fn continuation(&self) -> Option<Continuation> {
        let caps = &self.raw["agentCapabilities"];
        if caps["sessionCapabilities"]["resume"].is_object() {
            Some(Continuation::Resume)
        } else if caps["loadSession"].as_bool() == Some(true) {
            Some(Continuation::Load)
        } else {
            None
        }
    }
}

/// A way to take up an existing session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Continuation {
    /// `session/load`: the agent replays the conversation as
    /// `session/update` notifications before it answers.
    Load,
    /// `session/resume` (unstable in ACP v1): no replay.
    Resume,
}

impl Continuation {
    /// The ACP method.
    pub fn method(self) -> &'static str {
        match self {
            Continuation::Load => "session/load",
            Continuation::Resume => "session/resume",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthMethod {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
}

/// What `session/new` returned.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSession {
    pub session_id: String,
    /// The session's modes; `None` when the agent declares none.
    pub modes: Option<SessionModes>,
    /// The whole result.
    pub raw: Value,
}

/// Why a turn ended.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum StopReason {
    EndTurn,
    MaxTokens,
    MaxTurnRequests,
    Refusal,
    Cancelled,
    /// A reason this client does not know.
    Other(String),
}

impl StopReason {
    pub fn parse(reason: &str) -> StopReason {
        match reason {
            "end_turn" => StopReason::EndTurn,
            "max_tokens" => StopReason::MaxTokens,
            "max_turn_requests" => StopReason::MaxTurnRequests,
            "refusal" => StopReason::Refusal,
            "cancelled" => StopReason::Cancelled,
            other => StopReason::Other(other.to_owned()),
        }
    }

    /// The wire form (`end_turn`, ...).
    pub fn as_str(&self) -> &str {
        match self {
            StopReason::EndTurn => "end_turn",
            StopReason::MaxTokens => "max_tokens",
            StopReason::MaxTurnRequests => "max_turn_requests",
            StopReason::Refusal => "refusal",
            StopReason::Cancelled => "cancelled",
            StopReason::Other(other) => other,
        }
    }

    /// Only `end_turn` is a successful turn.
    pub fn is_success(&self) -> bool {
        *self == StopReason::EndTurn
    }
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A running ACP agent. Cheap to clone and share; every method takes
/// `&self`. Dropping the last clone without [`AcpClient::shutdown`] SIGKILLs
/// the agent's process group.
#[derive(Clone)]
pub struct AcpClient {
    inner: Arc<Inner>,
}

struct Inner {
    conn: Arc<Connection>,
    process: AgentProcess,
    options: ClientOptions,
    /// The result of the first completed shutdown.
    shutdown: tokio::sync::Mutex<Option<Option<ExitStatus>>>,
}

impl fmt::Debug for AcpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AcpClient")
            .field("pid", &self.pid())
            .field("options", &self.inner.options)
            .finish_non_exhaustive()
    }
}

impl AcpClient {
    /// Spawns the agent (own process group, cwd, env) and starts the IO
    /// tasks. Events arrive on the returned receiver, in order; the last one
    /// is [`AgentEvent::Exited`]. Must run inside a tokio runtime.
    pub async fn spawn(
        command: AgentCommand,
        options: ClientOptions,
    ) -> Result<(AcpClient, mpsc::UnboundedReceiver<AgentEvent>), AcpError> {
        let spawned = AgentProcess::spawn(&command).await?;
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let watch = spawned.process.exit_watch().clone();
        let (conn, mut reader_task) = Connection::start(
            spawned.stdout,
            spawned.stdin,
            options.permission.clone(),
            watch.tail_handle(),
            events_tx,
        );
        conn.set_read_only(options.read_only);

        // When the agent dies: let the reader deliver what it already wrote,
        // then fail whatever is still pending.
        let monitor_conn = conn.clone();
        tokio::spawn(async move {
            let status = watch.wait_exit().await;
            if tokio::time::timeout(STDOUT_DRAIN, &mut reader_task)
                .await
                .is_err()
            {
                reader_task.abort();
            }
            watch.wait_stderr_drained(STDERR_DRAIN).await;
            monitor_conn.close(CloseInfo {
                status,
                stderr_tail: watch.stderr_tail(),
            });
        });

        let client = AcpClient {
            inner: Arc::new(Inner {
                conn,
                process: spawned.process,
                options,
                shutdown: tokio::sync::Mutex::new(None),
            }),
        };
        Ok((client, events_rx))
    }

    async fn call(&self, method: &str, params: Value) -> Result<Value, AcpError> {
        let timeout = Some(self.inner.options.request_timeout);
        self.inner.conn.request(method, params, timeout, None).await
    }

    fn protocol_error(&self, message: String) -> AcpError {
        AcpError::Protocol {
            message,
            stderr_tail: self.stderr_tail(),
        }
    }

    /// `initialize` with protocol version 1, advertising fs read/write (no
    /// terminal). Fails with [`AcpError::Protocol`] when the agent answers
    /// with another protocol version, and with [`AcpError::NotAcp`] when
    /// the agent writes only non-JSON-RPC lines for
    /// [`ClientOptions::not_acp_grace`].
    pub async fn initialize(&self) -> Result<InitializeResult, AcpError> {
        let params = json!({
            "protocolVersion": PROTOCOL_VERSION,
            "clientCapabilities": {
                "fs": {"readTextFile": true, "writeTextFile": !self.inner.options.read_only},
                "terminal": false,
            },
        });
        let opts = RequestOpts {
            timeout: Some(self.inner.options.request_timeout),
            not_acp_after: Some(self.inner.options.not_acp_grace),
            ..RequestOpts::default()
        };
        let raw = self
            .inner
            .conn
            .request_with("initialize", params, opts)
            .await?;
        let protocol_version = raw
            .get("protocolVersion")
            .and_then(Value::as_u64)
            .ok_or_else(|| {
                self.protocol_error(format!(
                    "initialize result has no integer protocolVersion: {raw}"
                ))
            })?;
        if protocol_version != PROTOCOL_VERSION {
            return Err(self.protocol_error(format!(
                "agent speaks ACP protocol version {protocol_version}; enki speaks {PROTOCOL_VERSION}"
            )));
        }
        let auth_methods = raw
            .get("authMethods")
            .and_then(Value::as_array)
            .map(|methods| {
                methods
                    .iter()
                    .filter_map(|m| {
                        let id = str_field(m, "id")?;
                        Some(AuthMethod {
                            name: str_field(m, "name").unwrap_or_else(|| id.clone()),
                            description: str_field(m, "description"),
                            id,
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(InitializeResult {
            protocol_version,
            auth_methods,
            raw,
        })
    }

    /// `authenticate` with one of the advertised methods.
    pub async fn authenticate(&self, method_id: &str) -> Result<(), AcpError> {
        self.call("authenticate", json!({"methodId": method_id}))
            .await
            .map(drop)
    }

    /// `session/new`; returns the session id. See [`AcpClient::open_session`].
    pub async fn new_session(
        &self,
        cwd: &Path,
        mcp_servers: &[McpServer],
    ) -> Result<String, AcpError> {
        Ok(self.open_session(cwd, mcp_servers).await?.session_id)
    }

    /// `session/new`, with the modes the agent declared. `cwd` must be
    /// absolute; it becomes the root for the session's fs requests and the
    /// permission policy's `session_cwd`.
    pub async fn open_session(
        &self,
        cwd: &Path,
        mcp_servers: &[McpServer],
    ) -> Result<NewSession, AcpError> {
        require_absolute(cwd)?;
        let servers: Vec<Value> = mcp_servers.iter().map(McpServer::to_json).collect();
        let params = json!({"cwd": cwd, "mcpServers": servers});
        let timeout = Some(self.inner.options.request_timeout);
        let raw = self
            .inner
            .conn
            .request("session/new", params, timeout, Some(cwd.to_path_buf()))
            .await?;
        let session_id = str_field(&raw, "sessionId").ok_or_else(|| {
            self.protocol_error(format!("session/new result has no string sessionId: {raw}"))
        })?;
        Ok(NewSession {
            session_id,
            modes: SessionModes::from_result(&raw),
            raw,
        })
    }

    /// Takes up the existing session `session_id` in `cwd` (absolute) with
    /// `mcp_servers`, by `session/load` or `session/resume` as `how` says;
    /// returns it with the modes the agent declared. What a load replays
    /// arrives on the event channel before this returns.
    pub async fn continue_session(
        &self,
        how: Continuation,
        session_id: &str,
        cwd: &Path,
        mcp_servers: &[McpServer],
    ) -> Result<NewSession, AcpError> {
        require_absolute(cwd)?;
        // Registered first: a replay or an fs request may come before the answer.
        self.inner
            .conn
            .register_session(session_id.to_owned(), cwd.to_path_buf());
        let servers: Vec<Value> = mcp_servers.iter().map(McpServer::to_json).collect();
        let params = json!({"sessionId": session_id, "cwd": cwd, "mcpServers": servers});
        let raw = self.call(how.method(), params).await?;
        Ok(NewSession {
            session_id: session_id.to_owned(),
            modes: SessionModes::from_result(&raw),
            raw,
        })
    }

    /// Switches the session to `mode_id` the way `control` says
    /// (`session/set_mode`, or `session/set_config_option` for a mode config
    /// option) and returns the mode the agent says the session is in now:
    /// the config option's value in the answer, else the mode of a
    /// `current_mode_update` that arrived with the answer, else `mode_id`
    /// (a successful `session/set_mode` is the agent's confirmation).
    pub async fn set_mode(
        &self,
        session_id: &str,
        control: &ModeControl,
        mode_id: &str,
    ) -> Result<String, AcpError> {
        // Only what the agent reports in answer to this request counts.
        self.inner.conn.take_reported_mode(session_id);
        let answered = match control {
            ModeControl::SetMode => {
                self.call(
                    "session/set_mode",
                    json!({"sessionId": session_id, "modeId": mode_id}),
                )
                .await?;
                None
            }
            ModeControl::ConfigOption { config_id } => {
                let result = self
                    .call(
                        "session/set_config_option",
                        json!({"sessionId": session_id, "configId": config_id, "value": mode_id}),
                    )
                    .await?;
                from_config_options(&result).map(|m| m.current)
            }
        };
        Ok(answered
            .or_else(|| self.inner.conn.take_reported_mode(session_id))
            .unwrap_or_else(|| mode_id.to_owned()))
    }

    /// One turn: `session/prompt` with a single text block. No timeout (stall
    /// detection is the caller's, see also [`AcpClient::prompt_within`]),
    /// but fails with [`AcpError::Exited`] as soon as the agent dies.
    ///
    /// Returns only after the events of every request the agent made during
    /// the turn (permission, fs) are on the event channel, so draining it
    /// with `try_recv` right after sees the whole turn. Permission
    /// questions of the session still open when the turn ends are answered
    /// `cancelled`.
    pub async fn prompt(&self, session_id: &str, text: &str) -> Result<StopReason, AcpError> {
        let params = json!({
            "sessionId": session_id,
            "prompt": [{"type": "text", "text": text}],
        });
        let opts = RequestOpts {
            settle_session: Some(session_id.to_owned()),
            ..RequestOpts::default()
        };
        let result = self
            .inner
            .conn
            .request_with("session/prompt", params, opts)
            .await?;
        let reason = str_field(&result, "stopReason").ok_or_else(|| {
            self.protocol_error(format!(
                "session/prompt result has no string stopReason: {result}"
            ))
        })?;
        if let Some(tokens) = crate::updates::turn_usage(&result) {
            self.inner.conn.emit(AgentEvent::TurnUsage {
                session_id: session_id.to_owned(),
                tokens,
            });
        }
        Ok(StopReason::parse(&reason))
    }

    /// [`AcpClient::prompt`] with a time limit. When `limit` passes, sends
    /// `session/cancel` and gives the agent the shutdown grace period to end
    /// the turn, then fails with [`AcpError::TurnTimeout`] either way (the
    /// caller decides whether to shut the agent down).
    pub async fn prompt_within(
        &self,
        session_id: &str,
        text: &str,
        limit: Duration,
    ) -> Result<StopReason, AcpError> {
        let turn = self.prompt(session_id, text);
        tokio::pin!(turn);
        if let Ok(result) = tokio::time::timeout(limit, &mut turn).await {
            return result;
        }
        tracing::warn!(session_id, ?limit, "turn timed out; cancelling it");
        let cancelled = self.cancel(session_id).await;
        let stopped = cancelled.is_ok()
            && matches!(
                tokio::time::timeout(self.inner.options.shutdown_grace, &mut turn).await,
                Ok(Ok(_) | Err(AcpError::Rpc { .. }))
            );
        Err(AcpError::TurnTimeout {
            after: limit,
            stopped,
            stderr_tail: self.stderr_tail(),
        })
    }

    /// Sends `session/cancel`; permission questions pending for the session
    /// are answered `cancelled`. The running `prompt` then ends with the
    /// agent's answer (normally [`StopReason::Cancelled`]).
    pub async fn cancel(&self, session_id: &str) -> Result<(), AcpError> {
        self.inner.conn.mark_cancelled(session_id);
        self.inner
            .conn
            .notify("session/cancel", json!({"sessionId": session_id}))
    }

    /// The last lines the agent wrote to stderr (up to 40).
    pub fn stderr_tail(&self) -> Vec<String> {
        self.inner.process.exit_watch().stderr_tail()
    }

    /// The agent's pid (and process group id) while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.inner.process.pid()
    }

    /// Closes stdin, waits up to the grace period for the agent to exit, then
    /// kills its whole process group (SIGTERM, then SIGKILL after another
    /// grace period). Also cleans up a group left behind by an agent that
    /// already exited. Never leaves a zombie. Idempotent: later calls return
    /// the same status.
    pub async fn shutdown(&self) -> Option<ExitStatus> {
        let mut done = self.inner.shutdown.lock().await;
        if let Some(status) = *done {
            return status;
        }
        self.inner.conn.close_stdin();
        let status = self
            .inner
            .process
            .terminate(self.inner.options.shutdown_grace)
            .await;
        *done = Some(status);
        status
    }
}

/// A session's cwd must be absolute: it roots the session's fs requests
/// and the permission policy.
fn require_absolute(cwd: &Path) -> Result<(), AcpError> {
    if cwd.is_absolute() {
        return Ok(());
    }
    Err(AcpError::Io(std::io::Error::new(
        std::io::ErrorKind::InvalidInput,
        format!("session cwd must be absolute, got {}", cwd.display()),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}
    fn assert_send<T: Send>(_: &T) {}

    #[test]
    fn client_and_its_futures_can_cross_threads() {
        assert_send_sync::<AcpClient>();
        assert_send_sync::<ClientOptions>();
        assert_send_sync::<AgentEvent>();
        assert_send_sync::<AcpError>();
        // Build (never poll) each future to check it is Send.
        fn futures(client: &AcpClient) {
            assert_send(&AcpClient::spawn(
                AgentCommand::default(),
                ClientOptions::default(),
            ));
            assert_send(&client.initialize());
            assert_send(&client.authenticate("m"));
            assert_send(&client.new_session(Path::new("/"), &[]));
            assert_send(&client.continue_session(Continuation::Load, "s", Path::new("/"), &[]));
            assert_send(&client.set_mode("s", &ModeControl::SetMode, "default"));
            assert_send(&client.prompt("s", "t"));
            assert_send(&client.prompt_within("s", "t", Duration::ZERO));
            assert_send(&client.cancel("s"));
            assert_send(&client.shutdown());
        }
        let _ = futures;
    }

    #[test]
    fn stop_reasons_round_trip() {
        for (wire, reason) in [
            ("end_turn", StopReason::EndTurn),
            ("max_tokens", StopReason::MaxTokens),
            ("max_turn_requests", StopReason::MaxTurnRequests),
            ("refusal", StopReason::Refusal),
            ("cancelled", StopReason::Cancelled),
            ("paused", StopReason::Other("paused".into())),
        ] {
            assert_eq!(StopReason::parse(wire), reason);
            assert_eq!(reason.as_str(), wire);
            assert_eq!(reason.to_string(), wire);
            assert_eq!(reason.is_success(), wire == "end_turn");
        }
    }

    #[test]
    fn continuation_follows_the_declared_capabilities() {
        let init = |caps: Value| InitializeResult {
            protocol_version: 1,
            auth_methods: Vec::new(),
            raw: json!({"agentCapabilities": caps}),
        };
        assert_eq!(init(json!({})).continuation(), None);
        assert_eq!(init(json!({"loadSession": false})).continuation(), None);
        assert_eq!(
            init(json!({"loadSession": true})).continuation(),
            Some(Continuation::Load)
        );
        assert_eq!(
            init(json!({"loadSession": true, "sessionCapabilities": {"resume": {}}}))
                .continuation(),
            Some(Continuation::Resume)
        );
        assert_eq!(Continuation::Load.method(), "session/load");
        assert_eq!(Continuation::Resume.method(), "session/resume");
    }

    #[test]
    fn default_options() {
        let options = ClientOptions::default();
        assert_eq!(options.request_timeout, Duration::from_secs(30));
        assert_eq!(options.shutdown_grace, Duration::from_secs(3));
        assert_eq!(options.not_acp_grace, Duration::from_secs(5));
        assert!(!options.read_only);
        assert!(format!("{options:?}").contains("30s"));
    }
}
