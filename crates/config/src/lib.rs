//! `enki.toml`: the configuration cascade, agent presets and agent
//! environments (WORKERS.md "Configuration", "The ACP client").
//!
//! The cascade is built-in defaults, then `~/.config/enki/enki.toml`, then
//! `.enki/enki.toml`, applied field by field. Every table rejects unknown
//! keys; every problem is a [`ConfigError`] naming the file, line and key.
//!
//! ```toml
//! [workers]
//! max_workers = 4          # at least 1
//! max_heavy = 1            # also max_light, max_standard
//! retries = 2
//! stall_timeout_secs = 600  # no progress this long stops a worker (waits for a person do not count)
//! api_retry_limit_secs = 120 # an agent retrying its model API this long is given up on
//! limit_backoff_secs = 60   # an agent's rate limit or quota with no reset time: its tasks wait
//! limit_backoff_max_secs = 1800 # this long, doubled per limit in a row up to this
//! copy_ignored = "auto"    # ignored files in a new copy: auto (all where the file system
//!                          # clones files, else the listed ones) | all | listed
//! include = [".env", "config/local.toml"] # listed besides .worktreeinclude (.gitignore syntax)
//! setup = "npm ci"         # run in each new copy before its agent starts (sh -c)
//! setup_timeout_secs = 600
//!
//! [agent]
//! command = "claude"       # claude | codex | gemini | opencode | sim | a command line
//!                          # (a relative program path is relative to this file's directory)
//! args = ["--flag"]
//! env = { API_KEY = "..." }
//! auth_method = "..."
//! init_timeout_secs = 30
//!
//! [agent.worker]           # also coordinator, merger; and light, standard, heavy (workers)
//! command = "codex"
//!
//! [agent.coordinator]
//! turn_timeout_secs = 600  # a planner turn running longer is cancelled (and reported)
//!
//! [git]
//! commit_suffix = "(enki)"
//! base_branch = "main"
//!
//! [merge]
//! verify = "cargo test"
//! verify_timeout_secs = 600
//! resolve_timeout_secs = 900   # how long a merger agent may take
//! review = "auto"          # ask: finished work (and a merger's resolution) waits for
//!                          # `enki approve`; a role file's `review` wins
//!
//! [permissions]
//! policy = "within_copy"   # allow_all | deny_all | ask
//! agent_decides = false    # true: start agents that stay in a self-approving mode
//!
//! [sandbox]                # Landlock around every agent's process tree
//! mode = "enforce"         # off: no sandbox (then `execute` requests are asked)
//! network = "any"          # loopback: only the agent's own loopback (a network
//!                          # namespace) + enki's MCP server; none: no TCP bind/connect
//! loopback_ports = [11434] # host 127.0.0.1 ports forwarded into loopback mode
//! writable = ["~/.m2"]     # more folders agents may write
//!
//! [sim]
//! scripts = "sim-scripts"  # relative to this file's directory
//!
//! [mcp]                    # limits of every `enki mcp` server
//! rate_limit = { per_second = 20, burst = 100 }   # tool calls per session
//! busy_timeout_ms = 3000   # a tool call waits this long for the write lock
//! traffic_log_max_bytes = 8388608   # .enki/logs/mcp/*.jsonl rotate at this size
//!
//! [notify]                 # when a run finishes, fails or needs the person
//! bell = true
//! desktop = "auto"         # osc (terminal escape) | notify-send | off
//! webhook = "http://127.0.0.1:9000/enki"   # a JSON POST each time (http only)
//! webhook_timeout_secs = 5
//!
//! [tui]
//! glyphs = "unicode"       # ascii: stand-ins for symbols a font may lack
//!
//! [budget]                 # caps, enforced (see `spend`): work tokens and/or money
//! per_task = { tokens = 2000000, cost = 5.0 }   # also per_execution, per_session
//! floor = { cost = 0.5 }   # a task starts only with more than this left
//!
//! [prices.claude-sonnet-4-5]   # per million tokens, for estimates
//! input = 3.0
//! output = 15.0
//! ```

mod agent;
mod command;
mod config;
mod env;
mod error;
mod load;
mod locate;
mod merge;
mod modes;
mod notify;
mod schema;
mod spend;

pub use agent::{AgentRole, Preset, ResolvedAgent, StatePaths};
pub use command::{anchor_command, join_command, quote_word, split_command};
pub use config::{
    AgentSection, AgentSpec, Config, CopyIgnored, GitConfig, McpConfig, MergeConfig,
    PermissionPolicyName, PermissionsConfig, RateLimitConfig, SandboxConfig, SandboxMode,
    SimConfig, WorkersConfig,
};
pub use env::{
    ENKI_VARS, ENV_ENKI_BIN, ENV_ENKI_DIR, ENV_ENKI_SESSION_ID, EnkiEnv, REMOVED_VARS,
    agent_environment,
};
pub use error::ConfigError;
pub use load::CONFIG_FILE_NAME;
pub use modes::{ModeKind, asking_modes, mode_kind};
pub use notify::{DesktopNotify, Glyphs, NotifyConfig, TuiConfig};
pub use spend::DEFAULT_CURRENCY;
