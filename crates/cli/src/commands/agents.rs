//! Shared by `enki doctor` and `enki agent-test`: which agents the
//! configuration names, and talking to one of them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, Result};
use enki_acp::{AcpClient, AgentCommand, AgentEvent, ClientOptions, DenyAll, InitializeResult};
use enki_config::{AgentRole, Config, ResolvedAgent};
use enki_project::Layout;

/// The project's configuration when there is a project, else the user's.
pub fn load_config() -> Result<(Option<Layout>, Config)> {
    let layout = Layout::locate_from_env().ok();
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let config = Config::load(home.as_deref(), layout.as_ref().map(|l| l.dir.as_path()))?;
    Ok((layout, config))
}

pub fn enki_bin() -> Result<PathBuf> {
    std::env::current_exe().context("cannot find the enki binary")
}

/// The agents each role would run, without duplicates.
pub fn configured_agents(
    config: &Config,
    explicit: Option<&str>,
    enki_bin: &Path,
) -> Vec<(Vec<AgentRole>, ResolvedAgent)> {
    let mut agents: Vec<(Vec<AgentRole>, ResolvedAgent)> = Vec::new();
    for role in AgentRole::ALL {
        let agent = config.agent_for(*role, None, explicit, enki_bin);
        match agents
            .iter_mut()
            .find(|(_, a)| a.program == agent.program && a.args == agent.args)
        {
            Some((roles, _)) => roles.push(*role),
            None => agents.push((vec![*role], agent)),
        }
    }
    agents
}

/// Where a program would be found: itself when it has a slash, else on PATH.
pub fn find_program(program: &str) -> Option<PathBuf> {
    if program.contains('/') {
        let path = PathBuf::from(program);
        return path.is_file().then_some(path);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|candidate| candidate.is_file())
    })
}

/// Why `program` cannot be started when [`find_program`] does not find it.
pub fn program_missing(program: &str) -> String {
    if program.contains('/') {
        format!("`{program}` does not exist or is not a file")
    } else {
        format!("`{program}` is not on PATH")
    }
}

/// Starts the agent in `cwd` with enki's environment and answers `initialize`.
/// `sim_scripts` is the `[sim] scripts` setting, passed as `ENKI_SIM_SCRIPTS`
/// (unless the environment sets it) as the coordinator does, so the agent
/// checked is the agent a run would start.
pub async fn start_agent(
    agent: &ResolvedAgent,
    cwd: &Path,
    timeout: Duration,
    sim_scripts: Option<&Path>,
) -> Result<
    (
        AcpClient,
        tokio::sync::mpsc::UnboundedReceiver<AgentEvent>,
        InitializeResult,
    ),
    enki_acp::AcpError,
> {
    // The same environment the coordinator gives agents: CLAUDECODE
    // removed, configured env added, ENKI_* set (the project's `.enki/`
    // when there is one).
    let enki_dir = Layout::locate_from_env()
        .map(|l| l.dir)
        .unwrap_or_else(|_| cwd.join(".enki"));
    let bin = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("enki"));
    let mut env = enki_config::agent_environment(
        std::env::vars(),
        agent,
        &enki_config::EnkiEnv {
            bin: &bin,
            enki_dir: &enki_dir,
            session_id: "sess-check",
        },
    );
    if let Some(scripts) = sim_scripts
        && !env.iter().any(|(k, _)| k == "ENKI_SIM_SCRIPTS")
    {
        env.push(("ENKI_SIM_SCRIPTS".into(), scripts.display().to_string()));
    }
    let command = AgentCommand {
        program: agent.program.clone(),
        args: agent.args.clone(),
        env,
        clear_env: true,
        cwd: cwd.to_path_buf(),
        stderr_log: None,
    };
    let options = ClientOptions {
        request_timeout: timeout,
        shutdown_grace: Duration::from_secs(1),
        permission: std::sync::Arc::new(DenyAll),
        read_only: false,
    };
    let (client, events) = AcpClient::spawn(command, options).await?;
    match client.initialize().await {
        Ok(init) => Ok((client, events, init)),
        Err(e) => {
            client.shutdown().await;
            Err(e)
        }
    }
}

pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")
}
