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
    /// The tasks whose landed work waits to be cleaned up (see `cleaner`).
    pub cleanups: crate::cleaner::Pending,
    /// Agents whose account met a limit, whichever role met it (`holds`).
    pub holds: std::sync::Mutex<crate::holds::Holds>,
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

/// A person's refusal holds for the rest of the attempt: the same request
/// again (same kind, title and paths) is refused without asking, so a
/// denied agent cannot bring the question back. One per agent process.
struct RefusedStays {
    ask: Arc<dyn PermissionPolicy>,
    refused: Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
}

impl RefusedStays {
    fn new(ask: Arc<dyn PermissionPolicy>) -> RefusedStays {
        RefusedStays {
            ask,
            refused: Arc::default(),
        }
    }

    fn key(request: &enki_acp::PermissionRequest) -> String {
        format!(
            "{}\u{0}{}\u{0}{:?}",
            request.kind.as_deref().unwrap_or_default(),
            request.title,
            request.locations
        )
    }
}

impl PermissionPolicy for RefusedStays {
    fn decide(&self, request: enki_acp::PermissionRequest) -> Verdict {
        let key = RefusedStays::key(&request);
        let refused = Arc::clone(&self.refused);
        if refused
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains(&key)
        {
            return PermissionVerdict::reject_once(
                "the person refused the same request earlier in this attempt",
            )
            .ready();
        }
        let asked = self.ask.decide(request);
        Box::pin(async move {
            let verdict = asked.await;
            if !verdict.decision.is_allowed() {
                refused
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .insert(key);
            }
            verdict
        })
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

    /// The agent a task's worker runs: its tier's, or its role's own.
    pub fn worker_agent(&self, tier: Tier, role: Option<&str>) -> ResolvedAgent {
        let role_agent = role
            .and_then(|r| self.roles.get(r))
            .and_then(|r| r.agent.as_deref());
        self.agent(AgentRole::Worker, Some(tier), role_agent)
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
            PermissionPolicyName::Ask => match self.ask_policy.clone() {
                Some(ask) => Arc::new(RefusedStays::new(ask)),
                None => Arc::new(NobodyToAsk),
            },
        };
        let permission = crate::sandbox::confine_execute(self, permission);
        ClientOptions {
            request_timeout: std::time::Duration::from_secs(self.config.agent.init_timeout_secs),
            permission,
            ..ClientOptions::default()
        }
    }

    /// The message of a task's commit (on its branch and when it lands):
    /// title, id (and round, for a follow-up), and the configured suffix.
    pub fn commit_message(&self, title: &str, task_id: &str, round: i64) -> String {
        let subject = if round > 1 {
            format!("{title} ({task_id}, round {round})")
        } else {
            format!("{title} ({task_id})")
        };
        match &self.config.git.commit_suffix {
            Some(suffix) => format!("{subject}\n\n{suffix}"),
            None => subject,
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use enki_acp::{PermissionDecision, PermissionRequest};

    use super::*;

    /// A person who refuses edits and allows the rest, counting questions.
    struct Person(Arc<AtomicUsize>);

    impl PermissionPolicy for Person {
        fn decide(&self, request: PermissionRequest) -> Verdict {
            self.0.fetch_add(1, Ordering::SeqCst);
            if request.kind.as_deref() == Some("edit") {
                PermissionVerdict::reject_once("no")
            } else {
                PermissionVerdict::allow_once("yes")
            }
            .ready()
        }
    }

    fn request(kind: &str, path: &str) -> PermissionRequest {
        PermissionRequest {
            session_id: "s".into(),
            session_cwd: PathBuf::from("/c"),
            title: format!("{kind} {path}"),
            kind: Some(kind.into()),
            locations: vec![PathBuf::from(path)],
            raw: serde_json::Value::Null,
        }
    }

    fn decide(policy: &RefusedStays, request: PermissionRequest) -> PermissionVerdict {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(policy.decide(request))
    }

    #[test]
    fn a_refused_request_is_not_asked_again_in_the_attempt() {
        let asked = Arc::new(AtomicUsize::new(0));
        let policy = RefusedStays::new(Arc::new(Person(Arc::clone(&asked))));
        let first = decide(&policy, request("edit", "/c/a.rs"));
        assert_eq!(first.decision, PermissionDecision::RejectOnce);
        let again = decide(&policy, request("edit", "/c/a.rs"));
        assert_eq!(again.decision, PermissionDecision::RejectOnce);
        assert!(
            again.reason.contains("earlier in this attempt"),
            "{}",
            again.reason
        );
        assert_eq!(asked.load(Ordering::SeqCst), 1, "asked once");
        // Another request is asked; an allowed one is asked each time.
        decide(&policy, request("edit", "/c/b.rs"));
        decide(&policy, request("read", "/c/a.rs"));
        decide(&policy, request("read", "/c/a.rs"));
        assert_eq!(asked.load(Ordering::SeqCst), 4);
        // A new attempt (a new policy) asks again.
        let next = RefusedStays::new(Arc::new(Person(Arc::clone(&asked))));
        decide(&next, request("edit", "/c/a.rs"));
        assert_eq!(asked.load(Ordering::SeqCst), 5);
    }
}
