//! Shared by `enki doctor` and `enki agent-test`: the project and its
//! configuration, which agents the configuration names, and talking to one
//! of them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, Result};
use enki_acp::{AcpClient, AgentCommand, AgentEvent, ClientOptions, DenyAll};
use enki_config::{AgentRole, Config, ConfigError, ResolvedAgent};
use enki_core::Tier;
use enki_project::{Layout, LocateError};
use tokio::sync::mpsc::UnboundedReceiver;

/// The project around the current directory, as far as there is one.
#[derive(Debug, Clone, Default)]
pub struct Project {
    /// The initialised project (`enki init` has run).
    pub layout: Option<Layout>,
    /// Its `.enki/`, also when it has no database yet.
    pub enki_dir: Option<PathBuf>,
}

impl Project {
    /// Finds the project through `ENKI_DIR` or the current directory.
    pub fn find() -> Project {
        match Layout::locate_from_env() {
            Ok(layout) => Project {
                enki_dir: Some(layout.dir.clone()),
                layout: Some(layout),
            },
            Err(LocateError::NotInitialised(dir)) => Project {
                layout: None,
                enki_dir: Some(dir),
            },
            Err(_) => Project::default(),
        }
    }

    /// A `.enki/` found without a database (before `enki init`).
    pub fn uninitialised(&self) -> Option<&Path> {
        match self.layout {
            Some(_) => None,
            None => self.enki_dir.as_deref(),
        }
    }

    /// The folder holding `.enki/`.
    pub fn root(&self) -> Option<&Path> {
        self.enki_dir.as_deref().and_then(Path::parent)
    }

    /// The configuration cascade: the user's file, then the project's
    /// `.enki/enki.toml` (read even before `enki init`, so what is checked
    /// is what the first run will use).
    pub fn load_config(&self) -> Result<Config, ConfigError> {
        let home = std::env::var_os("HOME").map(PathBuf::from);
        Config::load(home.as_deref(), self.enki_dir.as_deref())
    }

    /// The project's roles that name their own agent, and the role files
    /// that could not be read. A relative program path in a role's `agent`
    /// is made absolute against the project root: workers start it in their
    /// copy of the project, where it names the same file.
    pub fn role_agents(&self) -> (Vec<RoleAgent>, Vec<String>) {
        let Some(dir) = &self.enki_dir else {
            return (Vec::new(), Vec::new());
        };
        let (roles, errors) = enki_project::roles::load_roles(&Layout::new(dir.clone()));
        let root = self.root().unwrap_or(dir);
        let agents = roles
            .iter()
            .filter_map(|role| {
                let agent = role.agent.as_deref()?.trim();
                (!agent.is_empty()).then(|| RoleAgent {
                    role: role.name.clone(),
                    tier: role.tier,
                    agent: enki_config::anchor_command(agent, root),
                })
            })
            .collect();
        (agents, errors.iter().map(ToString::to_string).collect())
    }
}

/// A custom role with its own `agent`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleAgent {
    pub role: String,
    pub tier: Option<Tier>,
    /// The command, as a run would start it.
    pub agent: String,
}

pub fn enki_bin() -> Result<PathBuf> {
    std::env::current_exe().context("cannot find the enki binary")
}

/// `--agent` as given, with a relative program path made absolute against
/// the directory enki was started in (agents start in other folders).
pub fn anchor_agent_arg(agent: Option<String>) -> Option<String> {
    let agent = agent?;
    match std::env::current_dir() {
        Ok(cwd) => Some(enki_config::anchor_command(&agent, &cwd)),
        Err(_) => Some(agent),
    }
}

/// One distinct agent the configuration would start, and where.
#[derive(Debug, Clone)]
pub struct ConfiguredAgent {
    /// `coordinator`, `worker`, `merger`, `worker (heavy)`, `role auditor`, ...
    pub uses: Vec<String>,
    pub agent: ResolvedAgent,
}

/// Every agent a run would start, without duplicates (same program,
/// arguments and environment): one per role; workers of a tier whose
/// `[agent.<tier>]` section sets anything; and custom roles with their own
/// `agent` (see [`Project::role_agents`]). `explicit` (`--agent`) wins over
/// all of them, as it does in a run.
pub fn configured_agents(
    config: &Config,
    explicit: Option<&str>,
    enki_bin: &Path,
    role_agents: &[RoleAgent],
) -> Vec<ConfiguredAgent> {
    let mut wanted: Vec<(String, ResolvedAgent)> = Vec::new();
    for role in AgentRole::ALL {
        wanted.push((
            role.as_str().to_string(),
            config.agent_for(*role, None, explicit, enki_bin),
        ));
    }
    for tier in [Tier::Light, Tier::Standard, Tier::Heavy] {
        if *config.agent.tier_spec(tier) != enki_config::AgentSpec::default() {
            wanted.push((
                format!("worker ({})", tier.as_str()),
                config.agent_for(AgentRole::Worker, Some(tier), explicit, enki_bin),
            ));
        }
    }
    for role in role_agents {
        wanted.push((
            format!("role {}", role.role),
            config.agent_for(
                AgentRole::Worker,
                role.tier,
                Some(explicit.unwrap_or(&role.agent)),
                enki_bin,
            ),
        ));
    }
    let mut agents: Vec<ConfiguredAgent> = Vec::new();
    for (use_, agent) in wanted {
        match agents.iter_mut().find(|a| {
            a.agent.program == agent.program
                && a.agent.args == agent.args
                && a.agent.env == agent.env
        }) {
            Some(found) => found.uses.push(use_),
            None => agents.push(ConfiguredAgent {
                uses: vec![use_],
                agent,
            }),
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

/// How to start an agent for a check.
pub struct Launch<'a> {
    pub agent: &'a ResolvedAgent,
    /// The agent's working directory.
    pub cwd: &'a Path,
    /// The project's `.enki/` (given to the agent as `ENKI_DIR`); without a
    /// project, `<cwd>/.enki`.
    pub enki_dir: Option<&'a Path>,
    /// Time allowed for each handshake request.
    pub timeout: Duration,
    /// The `[sim] scripts` setting, passed as `ENKI_SIM_SCRIPTS` (unless the
    /// environment sets it) as the coordinator does, so the agent checked
    /// is the agent a run would start.
    pub sim_scripts: Option<&'a Path>,
    /// Where the agent's stderr is appended.
    pub stderr_log: Option<PathBuf>,
}

/// Starts the agent with enki's environment (not yet initialised).
pub async fn spawn_agent(
    launch: &Launch<'_>,
) -> Result<(AcpClient, UnboundedReceiver<AgentEvent>), enki_acp::AcpError> {
    // The same environment the coordinator gives agents: CLAUDECODE
    // removed, configured env added, ENKI_* set.
    let enki_dir = launch
        .enki_dir
        .map(Path::to_path_buf)
        .unwrap_or_else(|| launch.cwd.join(".enki"));
    let bin = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("enki"));
    let mut env = enki_config::agent_environment(
        std::env::vars(),
        launch.agent,
        &enki_config::EnkiEnv {
            bin: &bin,
            enki_dir: &enki_dir,
            session_id: "sess-check",
        },
    );
    if let Some(scripts) = launch.sim_scripts
        && !env.iter().any(|(k, _)| k == "ENKI_SIM_SCRIPTS")
    {
        env.push(("ENKI_SIM_SCRIPTS".into(), scripts.display().to_string()));
    }
    let command = AgentCommand {
        program: launch.agent.program.clone(),
        args: launch.agent.args.clone(),
        env,
        clear_env: true,
        cwd: launch.cwd.to_path_buf(),
        stderr_log: launch.stderr_log.clone(),
        sandbox: None,
    };
    let options = ClientOptions {
        request_timeout: launch.timeout,
        shutdown_grace: Duration::from_secs(1),
        permission: std::sync::Arc::new(DenyAll),
        ..ClientOptions::default()
    };
    AcpClient::spawn(command, options).await
}

pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> Config {
        let mut config = Config::default();
        config
            .apply_str(Path::new("/p/.enki/enki.toml"), text)
            .expect("valid config");
        config
    }

    fn uses(agents: &[ConfiguredAgent]) -> Vec<(String, Vec<String>)> {
        agents
            .iter()
            .map(|a| (a.agent.name.clone(), a.uses.clone()))
            .collect()
    }

    fn owned(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn every_role_tier_and_custom_role_is_listed_once() {
        let bin = Path::new("/bin/enki");
        let config = config(
            "[agent]\ncommand = \"sim\"\n[agent.heavy]\ncommand = \"codex\"\n[agent.light]\ncommand = \"sim\"\n[agent.merger]\ncommand = \"./merge.sh\"\n",
        );
        let role = |role: &str, tier: Option<Tier>, agent: &str| RoleAgent {
            role: role.to_string(),
            tier,
            agent: agent.to_string(),
        };
        let roles = vec![
            role("auditor", None, "gemini"),
            role("fixer", Some(Tier::Heavy), "codex"),
            role("writer", None, "sim"),
        ];
        let agents = configured_agents(&config, None, bin, &roles);
        assert_eq!(
            uses(&agents),
            [
                (
                    "sim".to_string(),
                    owned(&["coordinator", "worker", "worker (light)", "role writer"])
                ),
                ("/p/.enki/merge.sh".to_string(), owned(&["merger"])),
                (
                    "codex".to_string(),
                    owned(&["worker (heavy)", "role fixer"])
                ),
                ("gemini".to_string(), owned(&["role auditor"])),
            ]
        );
        // `--agent` wins everywhere.
        let agents = configured_agents(&config, Some("claude"), bin, &roles);
        assert_eq!(agents.len(), 1, "{:?}", uses(&agents));
        assert_eq!(agents[0].uses.len(), 3 + 2 + 3);
    }

    #[test]
    fn a_tier_section_with_only_env_is_its_own_agent() {
        let config = config("[agent]\ncommand = \"sim\"\n[agent.standard]\nenv = { K = \"v\" }\n");
        let agents = configured_agents(&config, None, Path::new("/bin/enki"), &[]);
        assert_eq!(
            uses(&agents),
            [
                (
                    "sim".to_string(),
                    owned(&["coordinator", "worker", "merger"])
                ),
                ("sim".to_string(), owned(&["worker (standard)"])),
            ]
        );
    }

    #[test]
    fn relative_agent_arguments_are_anchored_in_the_current_directory() {
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(
            anchor_agent_arg(Some("./a.sh --x".into())),
            Some(format!("{} --x", cwd.join("a.sh").display()))
        );
        assert_eq!(anchor_agent_arg(Some("sim".into())), Some("sim".into()));
        assert_eq!(anchor_agent_arg(None), None);
    }
}
