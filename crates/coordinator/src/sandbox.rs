//! Every agent command carries a Landlock policy that the ACP client
//! enforces in the agent's process between fork and exec, so its whole
//! process tree is confined before it starts: it may write its own copy (a
//! worker), its merge worktree (a merger) or nothing of the project (the
//! planner), its temporary folder and its own state folders. Under
//! `network = "loopback"` it also gets a network namespace of its own into
//! which enki's MCP server and `[sandbox] loopback_ports` are relayed.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;

use enki_acp::{AgentCommand, PermissionPolicy, PermissionRequest, PermissionVerdict};
use enki_config::{Preset, ResolvedAgent, SandboxConfig, SandboxMode};
use enki_sandbox::{Network, Policy};

use crate::context::Context;

/// Agents' temporary folders, under `.enki/`.
const TMP_DIR: &str = "tmp";
/// Folders under the home folder that every agent's tool chains write
/// (package and build caches).
const SHARED_STATE: &[&str] = &[".cache", ".npm"];
/// Devices a program may open for writing.
const DEVICES: &[&str] = &[
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/tty",
    "/dev/ptmx",
    "/dev/pts",
];

/// Whether agents may start: `Err` says why not and what to do.
pub fn check_support(sandbox: &SandboxConfig) -> Result<(), String> {
    if sandbox.mode == SandboxMode::Off {
        return Ok(());
    }
    if let Err(why) = enki_sandbox::landlock_abi() {
        return Err(format!(
            "enki runs every agent inside a Landlock sandbox, but {why}. Set \
             `[sandbox] mode = \"off\"` in .enki/enki.toml to run agents without one \
             (their shell commands are then not confined)."
        ));
    }
    if sandbox.network == Network::Loopback
        && let Err(why) = enki_sandbox::loopback_support()
    {
        return Err(format!(
            "`[sandbox] network = \"loopback\"` runs every agent in a network namespace of \
             its own, but {why}. Allow them, or set `network = \"none\"` (no TCP) or \
             \"any\" in .enki/enki.toml."
        ));
    }
    Ok(())
}

/// The agent's own temporary folder (`TMPDIR`), emptied at each start.
pub fn agent_tmp(ctx: &Context, log_name: &str) -> PathBuf {
    ctx.layout.dir.join(TMP_DIR).join(log_name)
}

/// Removes an agent's temporary folder once it has ended.
pub fn remove_agent_tmp(ctx: &Context, log_name: &str) {
    let dir = agent_tmp(ctx, log_name);
    if let Err(e) = std::fs::remove_dir_all(&dir)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(dir = %dir.display(), "cannot remove an agent's temporary folder: {e}");
    }
}

/// Whether the agent will start its own stdio `enki mcp` (inside its
/// sandbox), which then needs the store, the events folder and the logs.
/// Claude's and Codex's adapters and the sim take enki's HTTP server
/// instead, with a token that fixes their role; the sandbox is set before
/// the agent says what it takes, so this goes by preset.
pub fn mcp_over_stdio(agent: &ResolvedAgent) -> bool {
    !matches!(
        agent.preset,
        Some(Preset::Claude | Preset::Codex | Preset::Sim)
    )
}

/// A variable of the agent's environment: its configured `env`, else
/// enki's own; empty counts as unset.
fn agent_env(agent: &ResolvedAgent, name: &str) -> Option<String> {
    agent
        .env
        .get(name)
        .cloned()
        .or_else(|| std::env::var(name).ok())
        .filter(|v| !v.is_empty())
}

/// The folders an agent keeps its state in: the shared tool caches and its
/// preset's (`~/.claude`, `$CLAUDE_CONFIG_DIR`, …).
fn state_dirs(agent: &ResolvedAgent) -> Vec<PathBuf> {
    let own = agent.preset.map(Preset::state_paths).unwrap_or_default();
    let mut dirs = Vec::new();
    if let Some(home) = agent_env(agent, "HOME").map(PathBuf::from) {
        dirs.extend(SHARED_STATE.iter().chain(own.dirs).map(|d| home.join(d)));
    }
    dirs.extend(
        own.dir_vars
            .iter()
            .filter_map(|v| agent_env(agent, v))
            .map(PathBuf::from),
    );
    dirs
}

/// Makes the agent's missing state folders: the sandbox can only allow a
/// folder that exists, and inside it the agent could not make them (Claude
/// Code on a fresh home kept no settings, sessions or project memory).
fn create_state_dirs(agent: &ResolvedAgent) {
    for dir in state_dirs(agent) {
        if let Err(e) = std::fs::create_dir_all(&dir) {
            tracing::warn!(dir = %dir.display(), "cannot create an agent's state folder: {e}");
        }
    }
}

/// The policy of an agent started in `cwd`.
pub fn policy(ctx: &Context, agent: &ResolvedAgent, cwd: &Path, tmp: &Path) -> Policy {
    let mut writable = Vec::new();
    // The planner starts in the project itself, which it never changes.
    if cwd != ctx.project_root {
        writable.push(cwd.to_path_buf());
    }
    writable.push(tmp.to_path_buf());
    let home = agent_env(agent, "HOME").map(PathBuf::from);
    writable.extend(state_dirs(agent));
    if let (Some(home), Some(preset)) = (&home, agent.preset) {
        writable.extend(preset.state_paths().files.iter().map(|f| home.join(f)));
    }
    for path in &ctx.config.sandbox.writable {
        match (path.strip_prefix("~"), &home) {
            (Ok(rest), Some(home)) => writable.push(home.join(rest)),
            (Ok(_), None) => {}
            (Err(_), _) => writable.push(path.clone()),
        }
    }
    writable.extend(DEVICES.iter().map(PathBuf::from));
    if mcp_over_stdio(agent) {
        let db = ctx.layout.db();
        for suffix in ["-wal", "-shm"] {
            let mut name = db.clone().into_os_string();
            name.push(suffix);
            writable.push(name.into());
        }
        writable.extend([db, ctx.layout.events(), ctx.layout.logs()]);
    }
    let network = ctx.config.sandbox.network;
    // enki's MCP server: a port Landlock lets through (`none`) or one
    // relayed into the agent's namespace (`loopback`).
    let mut mcp_port = Vec::new();
    if network != Network::Any && !mcp_over_stdio(agent) {
        match ctx.mcp_host.port() {
            Ok(port) => mcp_port.push(port),
            Err(e) => tracing::warn!(
                agent = %agent.name,
                "the agent's sandbox has no network and cannot reach enki's MCP server: {e}"
            ),
        }
    }
    let (connect_ports, loopback_ports) = match network {
        Network::Any => (Vec::new(), Vec::new()),
        Network::None => (mcp_port, Vec::new()),
        Network::Loopback => {
            let mut ports = mcp_port;
            ports.extend(&ctx.config.sandbox.loopback_ports);
            (Vec::new(), ports)
        }
    };
    Policy {
        writable,
        network,
        connect_ports,
        loopback_ports,
    }
}

/// Gives `command` the agent's sandbox policy and a fresh `TMPDIR`; with
/// `[sandbox] mode = "off"` only the latter.
pub fn wrap(
    ctx: &Context,
    agent: &ResolvedAgent,
    mut command: AgentCommand,
    log_name: &str,
) -> AgentCommand {
    let tmp = agent_tmp(ctx, log_name);
    remove_agent_tmp(ctx, log_name);
    if let Err(e) = std::fs::create_dir_all(&tmp) {
        tracing::warn!(dir = %tmp.display(), "cannot create an agent's temporary folder: {e}");
    }
    if ctx.config.sandbox.mode == SandboxMode::Enforce {
        create_state_dirs(agent);
    }
    command.env.retain(|(k, _)| k != "TMPDIR");
    command
        .env
        .push(("TMPDIR".into(), tmp.display().to_string()));
    command.sandbox = (ctx.config.sandbox.mode == SandboxMode::Enforce)
        .then(|| policy(ctx, agent, &command.cwd, &tmp));
    command
}

/// Without the sandbox nothing confines a shell command, so `execute`
/// requests go to the person (or are denied headless) whatever the policy;
/// with it, the policy decides (the OS confines what runs).
pub fn confine_execute(
    ctx: &Context,
    policy: Arc<dyn PermissionPolicy>,
) -> Arc<dyn PermissionPolicy> {
    if ctx.config.sandbox.mode == SandboxMode::Enforce {
        return policy;
    }
    let ask = ctx
        .ask_policy
        .clone()
        .unwrap_or_else(|| Arc::new(crate::context::NobodyToAsk));
    Arc::new(AskExecute { policy, ask })
}

struct AskExecute {
    policy: Arc<dyn PermissionPolicy>,
    ask: Arc<dyn PermissionPolicy>,
}

impl PermissionPolicy for AskExecute {
    fn decide(
        &self,
        request: PermissionRequest,
    ) -> Pin<Box<dyn Future<Output = PermissionVerdict> + Send>> {
        if request.kind.as_deref() == Some("execute") {
            // Said with the answer: why a person (or nobody) was asked.
            let asked = self.ask.decide(request);
            Box::pin(async move {
                let verdict = asked.await;
                let reason = format!(
                    "{} (commands run unconfined without [sandbox] mode = \"enforce\", so a person decides)",
                    verdict.reason
                );
                PermissionVerdict::new(verdict.decision, reason)
            })
        } else {
            self.policy.decide(request)
        }
    }
}

/// Empties `.enki/tmp/` (with the coordinator lock held, no agent runs).
pub fn remove_all_tmp(enki_dir: &Path) {
    let dir = enki_dir.join(TMP_DIR);
    if let Err(e) = std::fs::remove_dir_all(&dir)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(dir = %dir.display(), "cannot remove agents' temporary folders: {e}");
    }
}
