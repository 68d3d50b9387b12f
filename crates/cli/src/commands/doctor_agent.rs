//! `enki doctor`'s checks of one configured agent: it starts and opens a
//! session; its login, as far as it reports one; the session mode every role
//! it runs gets; how it reaches enki's tools.
//!
//! The login: an agent that is not logged in either refuses `session/new`
//! with `auth_required` (codex-acp) or opens the session and fails at the
//! first prompt (Claude's adapter). Claude's adapter says which login it has
//! in `_auth/status_update` pushes when it declares
//! `agentCapabilities._meta.authStatus`; doctor waits for that push.

use std::time::{Duration, Instant};

use enki_acp::{AcpError, AgentEvent, AuthStatus, InitializeResult};
use enki_config::{AgentRole, Config, Preset, ResolvedAgent};
use enki_coordinator::session::{ModeOutcome, SessionError, SessionSpec, start_session};
use tokio::sync::mpsc::UnboundedReceiver;

use super::agents::{ConfiguredAgent, Launch, spawn_agent};
use super::doctor::{Check, Level, check};

/// What doctor needs to start an agent.
pub struct Probe<'a> {
    pub config: &'a Config,
    pub launch: Launch<'a>,
    /// `--agent <name>`, to name in fixes.
    pub again: String,
}

/// How to log `agent` in, in the agent's own terms.
fn login_fix(agent: &ResolvedAgent, init: Option<&InitializeResult>) -> String {
    let own = match agent.preset {
        Some(Preset::Claude) => {
            "log Claude Code in: run `claude` in a terminal and type `/login` (or `claude auth login`), or set ANTHROPIC_API_KEY in the [agent] `env`"
        }
        Some(Preset::Codex) => {
            "run `codex login` (or set OPENAI_API_KEY or CODEX_API_KEY in the [agent] `env`)"
        }
        Some(Preset::Gemini) => {
            "run `gemini` once in a terminal to log in, or set GEMINI_API_KEY in the [agent] `env`"
        }
        _ => "log the agent in with its own tool, or give it its API key in the [agent] `env`",
    };
    match init.filter(|i| !i.auth_methods.is_empty()) {
        Some(init) => format!(
            "{own}; or set `auth_method` in the [agent] section of enki.toml to one the agent offers: {}",
            method_ids(init)
        ),
        None => own.to_string(),
    }
}

fn method_ids(init: &InitializeResult) -> String {
    init.auth_methods
        .iter()
        .map(|m| m.id.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The last login status among the events already waiting, or (when the
/// agent declares it pushes one) the first that comes within `wait`.
async fn pushed_status(
    events: &mut UnboundedReceiver<AgentEvent>,
    declared: bool,
    wait: Duration,
) -> Option<AuthStatus> {
    let mut last = None;
    while let Ok(event) = events.try_recv() {
        if let AgentEvent::AuthStatus(status) = event {
            last = Some(status);
        }
    }
    if last.is_some() || !declared {
        return last;
    }
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Some(AgentEvent::AuthStatus(status))) => return Some(status),
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => return None,
        }
    }
}

/// The login check once a session was opened.
fn login_check(
    name: &str,
    agent: &ResolvedAgent,
    init: &InitializeResult,
    status: Option<AuthStatus>,
    wait: Duration,
) -> Check {
    let login = format!("login of {name}");
    match status {
        Some(status) if status.logged_in() => check(
            login,
            Level::Ok,
            format!("the agent reports: {status}"),
            None,
        ),
        Some(status) => check(
            login,
            Level::Error,
            format!("the agent reports: {status}; its turns would fail"),
            Some(&login_fix(agent, Some(init))),
        ),
        None if init.reports_auth_status() => check(
            login,
            Level::Warning,
            format!(
                "the agent declares that it reports its login, but reported none within {} s",
                wait.as_secs()
            ),
            Some(&login_fix(agent, Some(init))),
        ),
        None => {
            let methods = if init.auth_methods.is_empty() {
                String::new()
            } else {
                format!(" (it offers: {})", method_ids(init))
            };
            check(
                login,
                Level::Ok,
                format!(
                    "the agent opened a session without asking for a login{methods}; it reports no login status, so missing credentials would show at the first prompt"
                ),
                None,
            )
        }
    }
}

/// Why no session was opened.
enum Failure {
    Spawn(AcpError),
    Session(SessionError),
}

/// Starts the agent, opens a session and reads what it says about itself.
pub fn check_agent(
    runtime: &tokio::runtime::Runtime,
    configured: &ConfiguredAgent,
    probe: &Probe<'_>,
) -> Vec<Check> {
    let resolved = &configured.agent;
    let uses = configured.uses.join(", ");
    let name = format!("agent {} ({uses})", resolved.name);
    // One session per agent: every role gets the same mode rule
    // (`enki_config::asking_modes`), so one session tells each role's mode.
    let spec = SessionSpec {
        role: AgentRole::Worker,
        agent: resolved,
        cwd: probe.launch.cwd,
        auth_method: probe.config.agent.auth_method.as_deref(),
        agent_decides: probe.config.permissions.agent_decides,
    };
    let wait = probe.launch.timeout;
    let started = Instant::now();
    let outcome = runtime.block_on(async {
        let (client, mut events) = spawn_agent(&probe.launch).await.map_err(Failure::Spawn)?;
        let no_mcp = |_| async { Ok((Vec::new(), ())) };
        let opened = start_session(&client, &spec, no_mcp, &|_| {}).await;
        let status = match &opened {
            Ok(opened) => pushed_status(&mut events, opened.init.reports_auth_status(), wait).await,
            Err(_) => None,
        };
        client.shutdown().await;
        opened
            .map(|opened| (opened, status))
            .map_err(Failure::Session)
    });
    let mut checks = Vec::new();
    match outcome {
        Ok((opened, status)) => {
            let init = &opened.init;
            checks.push(check(
                name.clone(),
                Level::Ok,
                format!(
                    "`{}` opened a session in {} ms (protocol {})",
                    resolved.command_line(),
                    started.elapsed().as_millis(),
                    init.protocol_version,
                ),
                None,
            ));
            checks.push(login_check(&name, resolved, init, status, wait));
            let level = match opened.mode {
                ModeOutcome::AgentDecides { .. } | ModeOutcome::Unclassified { .. } => {
                    Level::Warning
                }
                _ => Level::Ok,
            };
            checks.push(check(
                format!("session mode of {name}"),
                level,
                opened.mode.to_string(),
                None,
            ));
            checks.push(check_mcp(
                &format!("enki's tools for {name}"),
                resolved,
                init,
                probe.config,
            ));
        }
        Err(Failure::Session(SessionError::Acp {
            source,
            init: Some(init),
            ..
        })) if source.is_auth_required() => {
            checks.push(check(
                name.clone(),
                Level::Ok,
                format!(
                    "`{}` started (protocol {})",
                    resolved.command_line(),
                    init.protocol_version
                ),
                None,
            ));
            checks.push(check(
                format!("login of {name}"),
                Level::Error,
                format!("not logged in: the agent refused a session ({source})"),
                Some(&login_fix(resolved, Some(&init))),
            ));
        }
        Err(Failure::Session(refused @ SessionError::AgentDecides { .. })) => checks.push(check(
            format!("session mode of {name}"),
            Level::Error,
            refused.to_string(),
            None,
        )),
        Err(failure) => checks.push(check(
            name,
            Level::Error,
            match failure {
                Failure::Spawn(e) => e.to_string(),
                Failure::Session(e) => e.to_string(),
            },
            Some(&format!(
                "run `enki agent-test {}` for the full transcript; check the agent's own setup (API keys, login)",
                probe.again
            )),
        )),
    }
    checks
}

/// How an agent reaches enki's tools, and how strong that boundary is.
fn check_mcp(name: &str, agent: &ResolvedAgent, init: &InitializeResult, config: &Config) -> Check {
    let sandboxed = config.sandbox.mode == enki_config::SandboxMode::Enforce;
    if enki_coordinator::mcp_over_stdio(agent) {
        return check(
            name,
            Level::Warning,
            "over stdio: the agent starts `enki mcp` itself with the role enki names, and its sandbox lets it write enki's store, events and logs; a weaker boundary than HTTP, where a token fixes the role"
                .to_string(),
            Some("use a preset agent that takes MCP over HTTP (claude, codex, sim)"),
        );
    }
    match (init.takes_http_mcp(), sandboxed) {
        (true, _) => check(
            name,
            Level::Ok,
            "over HTTP from enki's own server, outside the sandbox, with a token that fixes each session's role and task".to_string(),
            None,
        ),
        (false, true) => check(
            name,
            Level::Error,
            "the agent does not declare MCP over HTTP (agentCapabilities.mcpCapabilities.http), and inside its sandbox a stdio `enki mcp` cannot write enki's store: runs fail".to_string(),
            Some("update the agent's ACP adapter, or set `[sandbox] mode = \"off\"`"),
        ),
        (false, false) => check(
            name,
            Level::Warning,
            "over stdio (the agent does not declare MCP over HTTP), with no sandbox: the agent could start `enki mcp` with any role".to_string(),
            Some("update the agent's ACP adapter"),
        ),
    }
}
