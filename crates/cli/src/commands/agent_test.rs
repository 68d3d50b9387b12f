//! `enki agent-test [--agent NAME] [--prompt TEXT] [--timeout SECS]`: one
//! handshake and one prompt against an agent, with the transcript printed,
//! to check a new agent before a run.
//!
//! The agent gets enki's MCP server as a run's worker does (the same rule,
//! `McpHost::servers_for`: HTTP with a token for the presets, else stdio),
//! so the transcript shows that enki's tools reach it. The server serves a
//! scratch project (a `.enki/` with one task, in the agent's scratch
//! folder), not the current one: a test turn that calls enki's tools (a
//! report, mail) must leave the user's project as it was.

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use enki_acp::{AcpClient, AcpError, AgentEvent, InitializeResult, McpServer, SessionUpdate};
use enki_config::{AgentRole, SandboxMode};
use enki_coordinator::session::{SessionError, SessionSpec, Step, start_session};
use enki_coordinator::{McpHost, McpIdentity};
use enki_mcp::McpRole;
use tokio::sync::mpsc::UnboundedReceiver;

use super::agents::{
    Launch, Project, anchor_agent_arg, enki_bin, find_program, program_missing, runtime,
    spawn_agent,
};
use super::print_text;

const DEFAULT_PROMPT: &str = "This is a connection test from enki. Reply with one short sentence \
saying hello, and name the tools you have from the MCP server `enki`.";

/// The scratch project's one task, which the agent's MCP identity names.
const SCRATCH_TASK: &str = "agent-test";

/// How long the test turn may take when `--timeout` is not given.
pub const DEFAULT_TURN_TIMEOUT_SECS: u64 = 120;

fn describe(event: &AgentEvent) -> Option<String> {
    match event {
        AgentEvent::Update { update, .. } => match update {
            SessionUpdate::AgentMessageChunk { text } => Some(format!("  message: {text}")),
            SessionUpdate::AgentThoughtChunk { text } => Some(format!("  thought: {text}")),
            SessionUpdate::ToolCall { title, status, .. } => Some(format!(
                "  tool call: {title} ({})",
                status.as_deref().unwrap_or("?")
            )),
            SessionUpdate::ToolCallUpdate { id, status, .. } => Some(format!(
                "  tool update: {id} {}",
                status.as_deref().unwrap_or("")
            )),
            SessionUpdate::Plan { entries } => Some(format!("  plan: {} entries", entries.len())),
            other => Some(format!("  update: {}", other.kind())),
        },
        // The answer that follows says both.
        AgentEvent::PermissionAsked { .. } => None,
        AgentEvent::Permission {
            title, decision, ..
        } => Some(format!("  permission asked: {title} → {decision}")),
        AgentEvent::FsRead { path, allowed } => Some(format!(
            "  fs read {} ({})",
            path.display(),
            if *allowed { "served" } else { "refused" }
        )),
        AgentEvent::FsWrite { path, allowed } => Some(format!(
            "  fs write {} ({})",
            path.display(),
            if *allowed { "served" } else { "refused" }
        )),
        AgentEvent::ProtocolError(e) => Some(format!("  protocol error: {e}")),
        AgentEvent::AuthStatus(status) => Some(format!("  login: {status}")),
        AgentEvent::TurnUsage { tokens, .. } => Some(format!(
            "  turn usage: {} input, {} output tokens",
            tokens.input.map_or("unknown".into(), |n| n.to_string()),
            tokens.output.map_or("unknown".into(), |n| n.to_string())
        )),
        // A dead agent fails the request under way, which says so with
        // the status and stderr; printing the event too would repeat it.
        AgentEvent::Exited { .. } => None,
    }
}

/// Prints the events that are already waiting.
fn print_waiting(events: &mut UnboundedReceiver<AgentEvent>) -> Result<()> {
    while let Ok(event) = events.try_recv() {
        if let Some(line) = describe(&event) {
            print_text(&line)?;
        }
    }
    Ok(())
}

/// Runs `step`, printing the agent's events as they arrive, then the ones
/// that came with its answer.
async fn printing<T>(
    events: &mut UnboundedReceiver<AgentEvent>,
    step: impl Future<Output = T>,
) -> Result<T> {
    tokio::pin!(step);
    let result = loop {
        tokio::select! {
            result = &mut step => break result,
            Some(event) = events.recv() => {
                if let Some(line) = describe(&event) {
                    print_text(&line)?;
                }
            }
        }
    };
    print_waiting(events)?;
    Ok(result)
}

/// Where the agent's stderr goes: `.enki/logs/agents/` in a project, else a
/// file in the temp folder. Named, so the whole log can be read after.
fn stderr_log(project: &Project) -> Result<PathBuf> {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let name = format!("agent-test-{stamp}-{}", std::process::id());
    match &project.layout {
        Some(layout) => Ok(layout.logs().join("agents").join(format!("{name}.log"))),
        None => {
            let file = tempfile::Builder::new()
                .prefix(&format!("enki-{name}-"))
                .suffix(".log")
                .tempfile()?;
            let (_, path) = file.keep()?;
            Ok(path)
        }
    }
}

fn method_list(init: &InitializeResult) -> String {
    init.auth_methods
        .iter()
        .map(|m| {
            if m.name.is_empty() || m.name == m.id {
                m.id.clone()
            } else {
                format!("{} ({})", m.id, m.name)
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// What to do about a `session/new` the agent refused for want of
/// authentication.
fn auth_hint(init: &InitializeResult, configured: Option<&str>) -> String {
    let advertised = if init.auth_methods.is_empty() {
        "the agent advertised no auth methods; log in with the agent's own tool first".to_string()
    } else {
        format!(
            "set `auth_method` in the [agent] section of enki.toml to one the agent advertised: {}",
            method_list(init)
        )
    };
    match configured {
        None => format!("  the agent needs authentication: {advertised}"),
        Some(method) => format!(
            "  the agent needs authentication, and the configured auth_method `{method}` is not one it advertised: {advertised}"
        ),
    }
}

/// Returns whether the turn ended normally.
pub fn run(agent: Option<String>, prompt: Option<String>, timeout_secs: u64) -> Result<bool> {
    let agent = anchor_agent_arg(agent);
    let project = Project::find();
    let config = project.load_config()?;
    let bin = enki_bin()?;
    let resolved = config.agent_for(AgentRole::Worker, None, agent.as_deref(), &bin);
    print_text(&format!(
        "agent {}: {}",
        resolved.name,
        resolved.command_line()
    ))?;
    if find_program(&resolved.program).is_none() {
        print_text(&format!("✘ {}", program_missing(&resolved.program)))?;
        return Ok(false);
    }
    let prompt = prompt.unwrap_or_else(|| DEFAULT_PROMPT.to_string());
    let scratch = tempfile::tempdir()?;
    let (scratch_dir, task) = scratch_project(scratch.path())?;
    let host = McpHost::new(
        bin.clone(),
        scratch_dir.clone(),
        "sess-agent-test".into(),
        scratch.path().to_path_buf(),
    );
    let log = stderr_log(&project)?;
    print_text(&format!("  the agent's stderr goes to {}", log.display()))?;
    let launch = Launch {
        agent: &resolved,
        cwd: scratch.path(),
        enki_dir: Some(&scratch_dir),
        timeout: Duration::from_secs(config.agent.init_timeout_secs),
        sim_scripts: config.sim.scripts.as_deref(),
        stderr_log: Some(log.clone()),
    };
    let turn_limit = Duration::from_secs(timeout_secs.max(1));
    let auth_method = config.agent.auth_method.as_deref();
    let runtime = runtime()?;
    runtime.block_on(async {
        print_text("→ initialize (protocol 1; client offers fs read/write)")?;
        let (client, mut events) = match spawn_agent(&launch).await {
            Ok(spawned) => spawned,
            Err(e) => {
                print_text(&format!("✘ {e}"))?;
                return Ok(false);
            }
        };
        let spec = SessionSpec {
            role: AgentRole::Worker,
            agent: &resolved,
            cwd: scratch.path(),
            auth_method,
            agent_decides: config.permissions.agent_decides,
        };
        let mcp = Mcp {
            host: &host,
            who: McpIdentity {
                role: "worker",
                task_id: Some(task),
                no_edit: false,
            },
            sandbox: config.sandbox.mode,
        };
        let outcome = session(&client, &mut events, &spec, mcp, &prompt, turn_limit).await;
        client.shutdown().await;
        print_waiting(&mut events)?;
        match outcome? {
            Ok(true) => Ok(true),
            Ok(false) => Ok(false),
            Err(e) => {
                print_text(&format!("✘ {e}"))?;
                if let AcpError::TurnTimeout { .. } = e {
                    print_text("  the agent was stopped (its whole process group)")?;
                }
                print_text(&format!("  the agent's stderr is in {}", log.display()))?;
                Ok(false)
            }
        }
    })
}

/// A scratch `.enki/` in `folder` with one task; returns the folder and
/// the task's id.
fn scratch_project(folder: &std::path::Path) -> Result<(PathBuf, String)> {
    let (layout, _) = enki_project::init::init_dirs(folder)?;
    let mut store = enki_store::Store::open(&layout.db())?;
    let created = store.create_execution(
        None,
        SCRATCH_TASK,
        true,
        &[enki_store::NewStep::new(SCRATCH_TASK, "enki agent-test")],
    )?;
    let task = created
        .steps
        .into_iter()
        .next()
        .map(|(_, task)| task)
        .ok_or_else(|| anyhow::anyhow!("the scratch project's task was not created"))?;
    Ok((layout.dir, task))
}

/// How the agent gets enki's MCP server.
struct Mcp<'a> {
    host: &'a McpHost,
    who: McpIdentity,
    sandbox: SandboxMode,
}

/// The transcript's lines about the MCP servers given in `session/new`:
/// how each is reached, and the tools enki's offers.
fn mcp_lines(servers: &[McpServer], who: &McpIdentity) -> Vec<String> {
    let role = McpRole::Worker;
    let mut lines: Vec<String> = servers
        .iter()
        .map(|server| match server {
            McpServer::Http(http) => format!(
                "  with enki's MCP server over HTTP at {} (a {role}'s token)",
                http.url
            ),
            McpServer::Stdio(stdio) => format!(
                "  with enki's MCP server over stdio (`{} {}`)",
                stdio.command,
                stdio.args.join(" ")
            ),
        })
        .collect();
    let tools = enki_mcp::roles::tools_for(role, who.no_edit);
    lines.push(format!("  enki's tools for a {role}: {}", tools.join(", ")));
    lines
}

/// Prints one step of opening the session.
fn print_step(step: Step<'_>) {
    let line = match step {
        Step::Initialized(init) => format!(
            "← protocol {}; auth methods: {}",
            init.protocol_version,
            if init.auth_methods.is_empty() {
                "none".to_string()
            } else {
                method_list(init)
            }
        ),
        Step::Authenticating(method) => format!("→ authenticate {method}"),
        Step::AuthNotAdvertised(method) => format!(
            "  not authenticating: the configured auth_method `{method}` is not one the agent advertised"
        ),
        Step::NewSession(cwd) => format!("→ session/new in {}", cwd.display()),
        Step::Opened(session) => format!("← session {}", session.session_id),
        Step::SwitchingMode { from, to } => {
            format!("→ session/set_mode {to} (the agent starts in `{from}`, where it does not ask)")
        }
    };
    // A closed stdout ends the command at its next print anyway.
    let _ = print_text(&line);
}

/// The handshake (the one every role uses) and the turn. `Ok(Ok(success))`
/// when the turn ended or the session was refused, `Ok(Err(e))` when the
/// agent failed.
async fn session(
    client: &AcpClient,
    events: &mut UnboundedReceiver<AgentEvent>,
    spec: &SessionSpec<'_>,
    mcp: Mcp<'_>,
    prompt: &str,
    turn_limit: Duration,
) -> Result<Result<bool, AcpError>> {
    let agent = spec.agent;
    // Told with the `session/new` step that hands them over.
    let told = std::sync::Mutex::new(Vec::new());
    let (mcp, told_ref) = (&mcp, &told);
    let servers = |init: InitializeResult| async move {
        let (servers, grant) = mcp
            .host
            .servers_for(agent, &init, mcp.who.clone(), mcp.sandbox)
            .await?;
        *told_ref
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = mcp_lines(&servers, &mcp.who);
        Ok((servers, grant))
    };
    let report = |step: Step<'_>| {
        print_step(step);
        if let Step::NewSession(_) = step {
            let lines = std::mem::take(
                &mut *told
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner),
            );
            for line in lines {
                let _ = print_text(&line);
            }
        }
    };
    let opened = match printing(events, start_session(client, spec, servers, &report)).await? {
        Ok(opened) => opened,
        Err(SessionError::Acp {
            source,
            init: Some(init),
            ..
        }) if source.is_auth_required() => {
            print_text(&format!("✘ {source}"))?;
            print_text(&auth_hint(&init, spec.auth_method))?;
            return Ok(Ok(false));
        }
        Err(SessionError::Acp { source, .. }) => return Ok(Err(source)),
        Err(refused @ (SessionError::AgentDecides { .. } | SessionError::Mcp(_))) => {
            print_text(&format!("✘ {refused}"))?;
            return Ok(Ok(false));
        }
    };
    print_text(&format!("  {} mode: {}", spec.role, opened.mode))?;
    let session = opened.session_id;
    print_text(&format!("→ session/prompt: {prompt}"))?;
    match printing(events, client.prompt_within(&session, prompt, turn_limit)).await? {
        Ok(stop) => {
            print_text(&format!("← stopReason {stop}"))?;
            Ok(Ok(stop.is_success()))
        }
        Err(e) => Ok(Err(e)),
    }
}
