//! What every part of the coordinator shares.

use std::path::PathBuf;
use std::sync::Arc;

use enki_acp::{
    AgentCommand, AllowAll, ClientOptions, DenyAll, InitializeResult, McpServer, PermissionPolicy,
    PermissionVerdict, WithinCwd,
};
use enki_config::{
    AgentRole, Config, EnkiEnv, PermissionPolicyName, ResolvedAgent, agent_environment,
};
use enki_core::Tier;
use enki_core::role::RoleSet;
use enki_project::Layout;

use crate::db::Db;
use crate::mcp_host::{Grant, McpHost, McpIdentity};

pub struct Context {
    pub db: Db,
    pub layout: Layout,
    pub project_root: PathBuf,
    /// The project's repository (the user's, or enki's hidden one for a
    /// folder that is not a git repository).
    pub git: enki_workspace::Git,
    pub config: Config,
    pub roles: RoleSet,
    pub session_id: String,
    pub enki_bin: PathBuf,
    /// `--agent` from the command line: wins over configuration.
    pub agent_override: Option<String>,
    /// The branch finished work lands on.
    pub base_branch: String,
    /// A policy for permission requests that need a person (the TUI sets
    /// one; headless runs deny them).
    pub ask_policy: Option<Arc<dyn PermissionPolicy>>,
    /// enki's MCP server over HTTP, for agents that take it.
    pub mcp_host: McpHost,
}

pub type Shared = Arc<Context>;

type Verdict = std::pin::Pin<Box<dyn std::future::Future<Output = PermissionVerdict> + Send>>;

/// Rejects tool calls that change files; defers everything else.
struct NoEdits(Arc<dyn PermissionPolicy>);

impl PermissionPolicy for NoEdits {
    fn decide(&self, request: enki_acp::PermissionRequest) -> Verdict {
        if matches!(request.kind.as_deref(), Some("edit" | "delete" | "move")) {
            return PermissionVerdict::reject_once("the planner never edits the project").ready();
        }
        self.0.decide(request)
    }
}

/// What `policy = "ask"` answers when no person is there to ask (a
/// headless run): a refusal that says so.
pub(crate) struct NobodyToAsk;

impl PermissionPolicy for NobodyToAsk {
    fn decide(&self, _request: enki_acp::PermissionRequest) -> Verdict {
        PermissionVerdict::reject_once("no person to ask in a headless run").ready()
    }
}

impl Context {
    /// Which agent runs a role (and tier), honouring `--agent` and a role's own `agent`.
    pub fn agent(
        &self,
        role: AgentRole,
        tier: Option<Tier>,
        role_agent: Option<&str>,
    ) -> ResolvedAgent {
        // A role's own agent may name a program relative to the project
        // (e.g. `./agents/reviewer.sh`); agents start in a copy, so anchor it.
        let role_agent =
            role_agent.map(|a| enki_config::anchor_command(a, self.layout.project_root()));
        let explicit = self.agent_override.as_deref().or(role_agent.as_deref());
        self.config.agent_for(role, tier, explicit, &self.enki_bin)
    }

    /// The command line and environment for an agent process.
    pub fn agent_command(
        &self,
        agent: &ResolvedAgent,
        cwd: PathBuf,
        log_name: &str,
    ) -> AgentCommand {
        let enki_dir = self.layout.dir.clone();
        let mut env = agent_environment(
            std::env::vars(),
            agent,
            &EnkiEnv {
                bin: &self.enki_bin,
                enki_dir: &enki_dir,
                session_id: &self.session_id,
            },
        );
        if let Some(scripts) = &self.config.sim.scripts
            && !env.iter().any(|(k, _)| k == "ENKI_SIM_SCRIPTS")
        {
            env.push(("ENKI_SIM_SCRIPTS".into(), scripts.display().to_string()));
        }
        let command = AgentCommand {
            program: agent.program.clone(),
            args: agent.args.clone(),
            env,
            clear_env: true,
            cwd,
            stderr_log: Some(
                self.layout
                    .logs()
                    .join("agents")
                    .join(format!("{log_name}.log")),
            ),
            sandbox: None,
        };
        crate::sandbox::wrap(self, agent, command, log_name)
    }

    pub fn client_options(&self) -> ClientOptions {
        let permission: Arc<dyn PermissionPolicy> = match self.config.permissions.policy {
            PermissionPolicyName::WithinCopy => Arc::new(WithinCwd),
            PermissionPolicyName::AllowAll => Arc::new(AllowAll),
            PermissionPolicyName::DenyAll => Arc::new(DenyAll),
            PermissionPolicyName::Ask => self
                .ask_policy
                .clone()
                .unwrap_or_else(|| Arc::new(NobodyToAsk)),
        };
        let permission = crate::sandbox::confine_execute(self, permission);
        ClientOptions {
            request_timeout: std::time::Duration::from_secs(self.config.agent.init_timeout_secs),
            permission,
            ..ClientOptions::default()
        }
    }

    /// The message of a task's commit (on its branch and when it lands):
    /// title, id, and the configured suffix.
    pub fn commit_message(&self, title: &str, task_id: &str) -> String {
        match &self.config.git.commit_suffix {
            Some(suffix) => format!("{title} ({task_id})\n\n{suffix}"),
            None => format!("{title} ({task_id})"),
        }
    }

    /// Options for the planner: it plans, it does not edit the project, so
    /// file writes and edit/delete/move permission requests are refused.
    pub fn planner_client_options(&self) -> ClientOptions {
        let base = self.client_options();
        ClientOptions {
            permission: Arc::new(NoEdits(base.permission.clone())),
            read_only: true,
            ..base
        }
    }

    /// The `enki` MCP server handed to an agent in `session/new` (see
    /// [`McpHost::servers_for`], the one rule for every session).
    pub async fn agent_mcp(
        &self,
        agent: &ResolvedAgent,
        init: &InitializeResult,
        who: McpIdentity,
    ) -> Result<(Vec<McpServer>, Option<Grant>), String> {
        self.mcp_host
            .servers_for(agent, init, who, self.config.sandbox.mode)
            .await
    }
}
