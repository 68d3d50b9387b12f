//! The resolved configuration: built-in defaults with every file applied.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use enki_core::Tier;
use serde::{Deserialize, Serialize};

use crate::agent::AgentRole;
use crate::notify::{NotifyConfig, TuiConfig};

/// Everything `enki.toml` can set. `Default` is the built-in defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub workers: WorkersConfig,
    pub agent: AgentSection,
    pub git: GitConfig,
    pub merge: MergeConfig,
    pub permissions: PermissionsConfig,
    pub sim: SimConfig,
    pub mcp: McpConfig,
    pub sandbox: SandboxConfig,
    pub notify: NotifyConfig,
    pub tui: TuiConfig,
    /// `[budget]` (see `spend`).
    pub budget: enki_core::budget::Budget,
    /// `[prices]`: estimates only.
    pub prices: enki_core::usage::Prices,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            workers: WorkersConfig::default(),
            agent: AgentSection::default(),
            git: GitConfig::default(),
            merge: MergeConfig::default(),
            permissions: PermissionsConfig::default(),
            sim: SimConfig::default(),
            mcp: McpConfig::default(),
            sandbox: SandboxConfig::default(),
            notify: NotifyConfig::default(),
            tui: TuiConfig::default(),
            budget: crate::spend::default_budget(),
            prices: enki_core::usage::Prices::default(),
        }
    }
}

/// `[workers]`: scheduling limits (STATE.md "Scheduling").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkersConfig {
    /// Workers running at once, all tiers together. At least 1.
    pub max_workers: usize,
    /// Per-tier limits; `None` means only `max_workers` applies.
    pub max_light: Option<usize>,
    pub max_standard: Option<usize>,
    pub max_heavy: Option<usize>,
    /// Automatic retries of a failed worker.
    pub retries: u32,
    /// A worker with no progress for this long is cancelled (a failure);
    /// time spent waiting for a permission answer or for the user does not
    /// count.
    pub stall_timeout_secs: u64,
    /// A worker whose agent keeps reporting retries of its model API for
    /// this long without progress is cancelled (a failure, with the
    /// agent's words).
    pub api_retry_limit_secs: u64,
    /// After an agent reports a limit of its account (a rate limit, an
    /// overloaded API, a quota) with no reset time, its tasks wait this
    /// long, doubled for each further limit in a row, up to
    /// `limit_backoff_max_secs`.
    pub limit_backoff_secs: u64,
    pub limit_backoff_max_secs: u64,
    /// Which of the project's ignored files go into a new copy.
    pub copy_ignored: CopyIgnored,
    /// Ignored files to copy when not all are (`.gitignore` syntax), besides
    /// the project's `.worktreeinclude`.
    pub include: Vec<String>,
    /// A command run (`sh -c`) in each new copy before its agent starts.
    pub setup: Option<String>,
    pub setup_timeout_secs: u64,
}

/// `[workers] copy_ignored`: which ignored files (build outputs, `.env`) a
/// new copy gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CopyIgnored {
    /// All of them where the file system clones files (reflinks: no
    /// space used), else only the listed ones.
    #[default]
    Auto,
    /// All of them, whatever they cost.
    All,
    /// Only those `.worktreeinclude` and `[workers] include` list.
    Listed,
}

impl WorkersConfig {
    /// The per-tier limit, if one is configured.
    pub fn max_for_tier(&self, tier: Tier) -> Option<usize> {
        match tier {
            Tier::Light => self.max_light,
            Tier::Standard => self.max_standard,
            Tier::Heavy => self.max_heavy,
        }
    }
}

impl Default for WorkersConfig {
    fn default() -> Self {
        WorkersConfig {
            max_workers: 4,
            max_light: None,
            max_standard: None,
            max_heavy: None,
            retries: 2,
            stall_timeout_secs: 600,
            api_retry_limit_secs: 120,
            limit_backoff_secs: 60,
            limit_backoff_max_secs: 1800,
            copy_ignored: CopyIgnored::Auto,
            include: Vec::new(),
            setup: None,
            setup_timeout_secs: 600,
        }
    }
}

/// `[agent]` and its sub-tables. See [`Config::agent_for`] for how they combine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentSection {
    /// `[agent]` itself: applies to every role.
    pub base: AgentSpec,
    /// `[agent.coordinator]`, `[agent.worker]`, `[agent.merger]`.
    pub coordinator: AgentSpec,
    pub worker: AgentSpec,
    pub merger: AgentSpec,
    /// `[agent.light]`, `[agent.standard]`, `[agent.heavy]`: workers of that tier.
    pub light: AgentSpec,
    pub standard: AgentSpec,
    pub heavy: AgentSpec,
    /// ACP `authenticate` method id to use, if the agent asks for one.
    pub auth_method: Option<String>,
    /// Time allowed for the ACP handshake.
    pub init_timeout_secs: u64,
    /// `[agent.coordinator] turn_timeout_secs`: how long one planner turn
    /// may take before it is cancelled (and reported).
    pub planner_turn_timeout_secs: u64,
}

impl AgentSection {
    /// The `[agent.<role>]` spec.
    pub fn role_spec(&self, role: AgentRole) -> &AgentSpec {
        match role {
            AgentRole::Coordinator => &self.coordinator,
            AgentRole::Worker => &self.worker,
            AgentRole::Merger => &self.merger,
        }
    }

    /// The `[agent.<tier>]` spec.
    pub fn tier_spec(&self, tier: Tier) -> &AgentSpec {
        match tier {
            Tier::Light => &self.light,
            Tier::Standard => &self.standard,
            Tier::Heavy => &self.heavy,
        }
    }
}

impl Default for AgentSection {
    fn default() -> Self {
        AgentSection {
            base: AgentSpec::default(),
            coordinator: AgentSpec::default(),
            worker: AgentSpec::default(),
            merger: AgentSpec::default(),
            light: AgentSpec::default(),
            standard: AgentSpec::default(),
            heavy: AgentSpec::default(),
            auth_method: None,
            init_timeout_secs: 30,
            planner_turn_timeout_secs: 600,
        }
    }
}

/// One level of agent settings; every field is optional so levels can stack.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AgentSpec {
    /// A preset name (`claude`, `codex`, `gemini`, `opencode`, `sim`) or a
    /// command line.
    pub command: Option<String>,
    /// Extra arguments, appended after the command's own.
    pub args: Option<Vec<String>>,
    /// Extra environment variables for the agent process.
    pub env: BTreeMap<String, String>,
}

/// `[git]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GitConfig {
    /// Appended to worker commit messages. An empty string in a file clears
    /// a value set by an earlier file.
    pub commit_suffix: Option<String>,
    /// The branch merges land on; `None` means the branch checked out.
    pub base_branch: Option<String>,
}

/// `[merge]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeConfig {
    /// The verify command run before a merge lands; a non-zero exit fails
    /// the merge. An empty string in a file clears a value set by an earlier
    /// file.
    pub verify: Option<String>,
    pub verify_timeout_secs: u64,
    /// How long a merger agent may take to resolve a conflict.
    pub resolve_timeout_secs: u64,
    /// Whether finished work (and a merger's resolution of it) waits for a
    /// person's review before it lands; a role file's `review` wins.
    pub review: enki_core::ReviewMode,
}

impl Default for MergeConfig {
    fn default() -> Self {
        MergeConfig {
            verify: None,
            verify_timeout_secs: 600,
            resolve_timeout_secs: 900,
            review: enki_core::ReviewMode::Auto,
        }
    }
}

/// `[permissions]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PermissionsConfig {
    pub policy: PermissionPolicyName,
    /// Start agents whose session stays in a mode where they approve their
    /// own actions (enki's policy then only sees what they choose to ask).
    /// Off by default: such an agent is refused.
    pub agent_decides: bool,
}

/// How `session/request_permission` is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PermissionPolicyName {
    /// Allow what stays inside the worker's copy, deny anything outside it.
    #[default]
    WithinCopy,
    AllowAll,
    DenyAll,
    /// Ask the user in the TUI.
    Ask,
}

impl PermissionPolicyName {
    pub const ALL: &'static [PermissionPolicyName] = &[
        PermissionPolicyName::WithinCopy,
        PermissionPolicyName::AllowAll,
        PermissionPolicyName::DenyAll,
        PermissionPolicyName::Ask,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            PermissionPolicyName::WithinCopy => "within_copy",
            PermissionPolicyName::AllowAll => "allow_all",
            PermissionPolicyName::DenyAll => "deny_all",
            PermissionPolicyName::Ask => "ask",
        }
    }
}

impl fmt::Display for PermissionPolicyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PermissionPolicyName {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        PermissionPolicyName::ALL
            .iter()
            .copied()
            .find(|p| p.as_str() == value)
            .ok_or_else(|| {
                let expected: Vec<_> = PermissionPolicyName::ALL
                    .iter()
                    .map(|p| p.as_str())
                    .collect();
                format!(
                    "unknown permission policy '{value}' (expected one of: {})",
                    expected.join(", ")
                )
            })
    }
}

/// `[sandbox]`: the OS sandbox around every agent (docs/ARCHITECTURE.md).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SandboxConfig {
    pub mode: SandboxMode,
    pub network: enki_sandbox::Network,
    /// Ports of the host's 127.0.0.1 that agents reach at the same port of
    /// their own loopback under `network = "loopback"` (a local model
    /// server); enki's MCP server is always forwarded.
    pub loopback_ports: Vec<u16>,
    /// More folders or files every agent may write (`~/` is the home
    /// folder; a relative path is resolved against its file's directory).
    pub writable: Vec<PathBuf>,
}

/// Whether agents run inside the sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SandboxMode {
    /// Agents run sandboxed; a kernel without Landlock refuses to start them.
    #[default]
    Enforce,
    /// No sandbox: a shell command an agent runs is not confined, so
    /// `execute` permission requests are asked.
    Off,
}

/// `[sim]`: the built-in simulated agent.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SimConfig {
    /// Directory (or file) of sim-agent scripts. A relative path in a file is
    /// resolved against the directory of that file.
    pub scripts: Option<PathBuf>,
}

/// `[mcp]`: the limits every `enki mcp` server keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct McpConfig {
    /// Tool calls one MCP session may make.
    pub rate_limit: RateLimitConfig,
    /// How long a tool call waits for the database's write lock before it
    /// answers that the database is busy (the coordinator keeps waiting
    /// longer). At least 1.
    pub busy_timeout_ms: u64,
    /// A traffic log file (`.enki/logs/mcp/*.jsonl`) is rotated when it
    /// reaches this size; three older files are kept. At least 1.
    pub traffic_log_max_bytes: u64,
}

impl Default for McpConfig {
    fn default() -> Self {
        McpConfig {
            rate_limit: RateLimitConfig::default(),
            busy_timeout_ms: 3000,
            traffic_log_max_bytes: 8 * 1024 * 1024,
        }
    }
}

/// `[mcp] rate_limit`: a token bucket per MCP session. It holds `burst`
/// calls and refills at `per_second` calls a second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitConfig {
    /// Sustained tool calls per second. At least 1.
    pub per_second: u32,
    /// Tool calls allowed at once after a quiet spell. At least 1.
    pub burst: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        // A model makes a few calls a second at most, a handful at once;
        // only a runaway loop or script reaches this.
        RateLimitConfig {
            per_second: 20,
            burst: 100,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_documented_ones() {
        let c = Config::default();
        assert_eq!(c.workers.max_workers, 4);
        assert_eq!(c.workers.max_light, None);
        assert_eq!(c.workers.max_standard, None);
        assert_eq!(c.workers.max_heavy, None);
        assert_eq!(c.workers.retries, 2);
        assert_eq!(c.workers.stall_timeout_secs, 600);
        assert_eq!(c.workers.api_retry_limit_secs, 120);
        assert_eq!(c.workers.limit_backoff_secs, 60);
        assert_eq!(c.workers.limit_backoff_max_secs, 1800);
        assert_eq!(c.agent.base, AgentSpec::default());
        assert_eq!(c.agent.worker.command, None);
        assert_eq!(c.agent.auth_method, None);
        assert_eq!(c.agent.init_timeout_secs, 30);
        assert_eq!(c.agent.planner_turn_timeout_secs, 600);
        assert_eq!(c.git, GitConfig::default());
        assert_eq!(c.merge.verify, None);
        assert_eq!(c.merge.verify_timeout_secs, 600);
        assert_eq!(c.permissions.policy, PermissionPolicyName::WithinCopy);
        assert!(!c.permissions.agent_decides);
        assert_eq!(c.sim.scripts, None);
        assert_eq!(c.mcp.rate_limit.per_second, 20);
        assert_eq!(c.mcp.rate_limit.burst, 100);
        assert_eq!(c.mcp.busy_timeout_ms, 3000);
        assert_eq!(c.mcp.traffic_log_max_bytes, 8 * 1024 * 1024);
        assert_eq!(c.sandbox.mode, SandboxMode::Enforce);
        assert_eq!(c.sandbox.network, enki_sandbox::Network::Any);
        assert!(c.sandbox.writable.is_empty());
        assert!(c.sandbox.loopback_ports.is_empty());
    }

    #[test]
    fn policy_names_round_trip() {
        for p in PermissionPolicyName::ALL {
            assert_eq!(p.as_str().parse::<PermissionPolicyName>(), Ok(*p));
        }
        let err = "maybe".parse::<PermissionPolicyName>().unwrap_err();
        assert!(
            err.contains("within_copy, allow_all, deny_all, ask"),
            "{err}"
        );
    }

    #[test]
    fn tier_limits_by_tier() {
        let w = WorkersConfig {
            max_heavy: Some(1),
            ..WorkersConfig::default()
        };
        assert_eq!(w.max_for_tier(Tier::Heavy), Some(1));
        assert_eq!(w.max_for_tier(Tier::Light), None);
    }
}
