//! The one way an agent session is opened, for every role (planner, worker,
//! merger, `enki agent-test`, `enki doctor`): `initialize`, `authenticate`
//! when configured and advertised, `session/new` with the MCP servers (or,
//! to continue an earlier session the agent can take up, `session/resume`
//! or `session/load` with fresh MCP servers), then the session's mode.
//!
//! Mode: enki's permission policy only sees what an agent asks. An agent in
//! a mode where it approves its own actions (Claude's `auto`, Codex's
//! `agent`, ...) is switched to a mode that asks (`enki_config::asking_modes`)
//! and the answer checked; one that stays in such a mode is refused unless
//! `[permissions] agent_decides = true`, which enki warns about. Agents that
//! declare no modes are used as they are.

use std::collections::HashSet;
use std::fmt;
use std::future::Future;
use std::path::Path;
use std::sync::{Mutex, PoisonError};

use enki_acp::{AcpClient, AcpError, Continuation, InitializeResult, McpServer, NewSession};
use enki_config::{AgentRole, ModeKind, ResolvedAgent, asking_modes, mode_kind};

use crate::context::Context;

/// What a session is opened for.
#[derive(Debug, Clone, Copy)]
pub struct SessionSpec<'a> {
    pub role: AgentRole,
    pub agent: &'a ResolvedAgent,
    /// The session's cwd (absolute).
    pub cwd: &'a Path,
    /// `[agent] auth_method`: used when the agent advertises it.
    pub auth_method: Option<&'a str>,
    /// `[permissions] agent_decides`.
    pub agent_decides: bool,
}

/// A step of the opening, for a transcript (`enki agent-test`).
#[derive(Debug, Clone, Copy)]
pub enum Step<'a> {
    Initialized(&'a InitializeResult),
    Authenticating(&'a str),
    /// The configured method is not one the agent advertised.
    AuthNotAdvertised(&'a str),
    NewSession(&'a Path),
    Opened(&'a NewSession),
    SwitchingMode {
        from: &'a str,
        to: &'a str,
    },
}

/// The session's mode once opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModeOutcome {
    /// The agent declares no modes: used as it is.
    NoModes,
    /// It started in a mode that asks.
    Asks { mode: String },
    /// It was switched to a mode that asks.
    Switched { from: String, to: String },
    /// It stays in a mode where it decides itself (`agent_decides = true`).
    AgentDecides { mode: String },
    /// A mode enki does not know, and no known asking mode to switch to.
    Unclassified { mode: String },
}

impl fmt::Display for ModeOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModeOutcome::NoModes => f.write_str("none declared (used as it is)"),
            ModeOutcome::Asks { mode } => write!(f, "`{mode}` (asks before acting)"),
            ModeOutcome::Switched { from, to } => {
                write!(f, "`{to}` (asks before acting; switched from `{from}`)")
            }
            ModeOutcome::AgentDecides { mode } => write!(
                f,
                "`{mode}` (the agent approves its own actions: [permissions] agent_decides = true)"
            ),
            ModeOutcome::Unclassified { mode } => {
                write!(f, "`{mode}` (unknown to enki; used as it is)")
            }
        }
    }
}

/// An opened session; `mcp` is what the MCP callback returned beside the
/// servers (e.g. a token grant to hold for the session's life).
#[derive(Debug)]
pub struct Opened<M> {
    pub session_id: String,
    pub init: InitializeResult,
    /// How the earlier session was taken up; `None` for a new session.
    pub continued: Option<Continuation>,
    /// Why an earlier session asked for was not taken up (the agent
    /// declares no way, or its answer was an error): a new one was opened.
    pub not_continued: Option<String>,
    pub mode: ModeOutcome,
    pub mcp: M,
    /// The model the agent named for the session, if it did.
    pub model: Option<String>,
}

/// Why a session could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("{stage} failed: {source}")]
    Acp {
        stage: &'static str,
        source: AcpError,
        /// The handshake's result, when it got that far.
        init: Option<Box<InitializeResult>>,
    },
    /// enki's MCP server for the session could not be set up.
    #[error("enki's MCP server for the agent: {0}")]
    Mcp(String),
    #[error(
        "the {role} agent ({agent}) stays in mode `{mode}`, where it approves its own actions and enki's permission policy is not asked: {why}. Fix: use an agent (or version) that offers a mode that asks first, or set `agent_decides = true` in the [permissions] section of enki.toml to let it decide"
    )]
    AgentDecides {
        role: AgentRole,
        agent: String,
        mode: String,
        why: String,
    },
}

impl SessionError {
    /// The limit of the agent's account it reported while the session
    /// opened (a quota met at `session/new`), if that is why.
    pub fn limit(&self, now_ms: u64) -> Option<enki_core::limits::AgentLimit> {
        match self {
            SessionError::Acp { source, .. } => source.limit(now_ms),
            _ => None,
        }
    }

    fn acp(stage: &'static str, init: Option<&InitializeResult>) -> impl FnOnce(AcpError) -> Self {
        let init = init.map(|i| Box::new(i.clone()));
        move |source| SessionError::Acp {
            stage,
            source,
            init,
        }
    }
}

impl Context {
    /// The spec of a session of `role` run by `agent` in `cwd`, with the
    /// configured authentication and mode rule.
    pub fn session_spec<'a>(
        &'a self,
        role: AgentRole,
        agent: &'a ResolvedAgent,
        cwd: &'a Path,
    ) -> SessionSpec<'a> {
        SessionSpec {
            role,
            agent,
            cwd,
            auth_method: self.config.agent.auth_method.as_deref(),
            agent_decides: self.config.permissions.agent_decides,
        }
    }
}

/// Opens a session on a spawned (not yet initialised) agent. `mcp_servers`
/// gives the MCP servers for `session/new` once the agent's capabilities are
/// known, or why there are none it can use. The caller shuts the agent down
/// when this fails.
pub async fn start_session<M, F, Fut>(
    client: &AcpClient,
    spec: &SessionSpec<'_>,
    mcp_servers: F,
    report: &(dyn Fn(Step<'_>) + Sync),
) -> Result<Opened<M>, SessionError>
where
    F: FnOnce(InitializeResult) -> Fut,
    Fut: Future<Output = Result<(Vec<McpServer>, M), String>>,
{
    continue_or_start_session(client, spec, None, mcp_servers, report).await
}

/// [`start_session`], taking up the agent's earlier session `earlier`
/// instead of opening a new one when the agent declares it can
/// (`session/resume`, else `session/load`); a new session otherwise, or
/// when the agent refuses, with the reason in [`Opened::not_continued`].
pub async fn continue_or_start_session<M, F, Fut>(
    client: &AcpClient,
    spec: &SessionSpec<'_>,
    earlier: Option<&str>,
    mcp_servers: F,
    report: &(dyn Fn(Step<'_>) + Sync),
) -> Result<Opened<M>, SessionError>
where
    F: FnOnce(InitializeResult) -> Fut,
    Fut: Future<Output = Result<(Vec<McpServer>, M), String>>,
{
    let init = client
        .initialize()
        .await
        .map_err(SessionError::acp("initialize", None))?;
    report(Step::Initialized(&init));
    if let Some(method) = spec.auth_method {
        if init.auth_methods.iter().any(|m| m.id == method) {
            report(Step::Authenticating(method));
            client
                .authenticate(method)
                .await
                .map_err(SessionError::acp("authenticate", Some(&init)))?;
        } else {
            report(Step::AuthNotAdvertised(method));
        }
    }
    let (servers, mcp) = mcp_servers(init.clone()).await.map_err(SessionError::Mcp)?;
    let mut continued = None;
    let mut not_continued = None;
    let mut taken_up = None;
    if let Some(earlier) = earlier {
        match init.continuation() {
            None => {
                not_continued = Some(
                    "the agent declares neither `loadSession` nor `sessionCapabilities.resume`"
                        .to_string(),
                );
            }
            Some(how) => match client
                .continue_session(how, earlier, spec.cwd, &servers)
                .await
            {
                Ok(session) => {
                    continued = Some(how);
                    taken_up = Some(session);
                }
                // A limit of the account would stop a new session as well.
                Err(e)
                    if matches!(e, AcpError::Exited { .. })
                        || e.limit(crate::holds::unix_now_ms()).is_some() =>
                {
                    return Err(SessionError::acp(how.method(), Some(&init))(e));
                }
                Err(e) => not_continued = Some(format!("{} failed: {e}", how.method())),
            },
        }
        if let Some(why) = &not_continued {
            tracing::info!(
                agent = %spec.agent.name,
                session = earlier,
                "the earlier session is not continued ({why}); a new one is opened"
            );
        }
    }
    let session = match taken_up {
        Some(session) => session,
        None => {
            report(Step::NewSession(spec.cwd));
            client
                .open_session(spec.cwd, &servers)
                .await
                .map_err(SessionError::acp("session/new", Some(&init)))?
        }
    };
    report(Step::Opened(&session));
    let mode = choose_mode(client, spec, &session, &init, report).await?;
    // Every role's mode in enki's log: what `enki doctor` and `enki
    // agent-test` print, for the sessions of a run.
    tracing::info!(
        role = %spec.role,
        agent = %spec.agent.name,
        session = %session.session_id,
        mode = %mode,
        "session opened"
    );
    Ok(Opened {
        model: enki_acp::session_model(&session.raw),
        session_id: session.session_id,
        init,
        continued,
        not_continued,
        mode,
        mcp,
    })
}

/// Puts the session in a mode that asks, or says why it cannot.
async fn choose_mode(
    client: &AcpClient,
    spec: &SessionSpec<'_>,
    session: &NewSession,
    init: &InitializeResult,
    report: &(dyn Fn(Step<'_>) + Sync),
) -> Result<ModeOutcome, SessionError> {
    let preset = spec.agent.preset;
    let Some(modes) = &session.modes else {
        note_once(&spec.agent.name, || {
            tracing::info!(
                agent = %spec.agent.name,
                "the agent declares no session modes; it is used as it is"
            );
        });
        return Ok(ModeOutcome::NoModes);
    };
    let current = modes.current.clone();
    let kind = mode_kind(preset, &current);
    if kind == ModeKind::Asks {
        return Ok(ModeOutcome::Asks { mode: current });
    }
    let target = asking_modes(preset, spec.role)
        .iter()
        .find(|m| modes.offers(m));
    let why = match target {
        Some(target) => {
            report(Step::SwitchingMode {
                from: &current,
                to: target,
            });
            match client
                .set_mode(&session.session_id, &modes.control, target)
                .await
            {
                Ok(now) if mode_kind(preset, &now) == ModeKind::Asks => {
                    return Ok(ModeOutcome::Switched {
                        from: current,
                        to: now,
                    });
                }
                Ok(now) => format!("asked to switch to `{target}`, it reports mode `{now}`"),
                Err(e @ AcpError::Exited { .. }) => {
                    return Err(SessionError::acp("session/set_mode", Some(init))(e));
                }
                Err(e) => format!("it refused to switch to `{target}`: {e}"),
            }
        }
        None if kind == ModeKind::Unknown => {
            tracing::warn!(
                agent = %spec.agent.name,
                mode = %current,
                "the agent's session mode is unknown to enki and it offers no known mode that asks first; it is used as it is"
            );
            return Ok(ModeOutcome::Unclassified { mode: current });
        }
        None => format!(
            "it offers no mode that asks first (its modes: {})",
            modes.ids().join(", ")
        ),
    };
    if !spec.agent_decides {
        return Err(SessionError::AgentDecides {
            role: spec.role,
            agent: spec.agent.name.clone(),
            mode: current,
            why,
        });
    }
    tracing::warn!(
        role = %spec.role,
        agent = %spec.agent.name,
        mode = %current,
        "the agent approves its own actions ({why}); started anyway because [permissions] agent_decides = true"
    );
    Ok(ModeOutcome::AgentDecides { mode: current })
}

/// Runs `say` the first time `key` is seen in this process.
fn note_once(key: &str, say: impl FnOnce()) {
    static SEEN: Mutex<Option<HashSet<String>>> = Mutex::new(None);
    let first = SEEN
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get_or_insert_with(HashSet::new)
        .insert(key.to_owned());
    if first {
        say();
    }
}
