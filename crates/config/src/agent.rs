//! Agent presets and working out which agent runs a role.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use enki_core::Tier;

use crate::command::split_command_lenient;
use crate::config::{AgentSpec, Config};

/// The built-in agents, selectable by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Preset {
    Claude,
    Codex,
    Gemini,
    OpenCode,
    /// enki's own scripted agent (`enki sim-agent`).
    Sim,
}

impl Preset {
    pub const ALL: &'static [Preset] = &[
        Preset::Claude,
        Preset::Codex,
        Preset::Gemini,
        Preset::OpenCode,
        Preset::Sim,
    ];

    /// The agent used when nothing is configured.
    pub const DEFAULT: Preset = Preset::Claude;

    pub const fn name(self) -> &'static str {
        match self {
            Preset::Claude => "claude",
            Preset::Codex => "codex",
            Preset::Gemini => "gemini",
            Preset::OpenCode => "opencode",
            Preset::Sim => "sim",
        }
    }

    /// The preset with exactly this name (surrounding blanks ignored).
    pub fn from_name(name: &str) -> Option<Preset> {
        let name = name.trim();
        Preset::ALL.iter().copied().find(|p| p.name() == name)
    }

    /// The agent's own state, which it must be able to write inside the
    /// sandbox.
    pub const fn state_paths(self) -> StatePaths {
        let (dirs, files, dir_vars): (&[&str], &[&str], &[&str]) = match self {
            Preset::Claude => (&[".claude"], &[".claude.json"], &["CLAUDE_CONFIG_DIR"]),
            Preset::Codex => (&[".codex"], &[], &["CODEX_HOME"]),
            Preset::Gemini => (&[".gemini"], &[], &[]),
            Preset::OpenCode => (&[".local/share/opencode", ".config/opencode"], &[], &[]),
            // Its kept sessions (enki_sim::saved::STATE_DIR).
            Preset::Sim => (&[".local/state/enki-sim"], &[], &[]),
        };
        StatePaths {
            dirs,
            files,
            dir_vars,
        }
    }

    /// Program and its own arguments. `enki_bin` is this enki binary (for `sim`).
    pub fn command(self, enki_bin: &Path) -> (String, Vec<String>) {
        let (program, args): (String, &[&str]) = match self {
            Preset::Claude => ("claude-agent-acp".into(), &[]),
            Preset::Codex => ("codex-acp".into(), &[]),
            Preset::Gemini => ("gemini".into(), &["--experimental-acp"]),
            Preset::OpenCode => ("opencode".into(), &["acp"]),
            Preset::Sim => (enki_bin.to_string_lossy().into_owned(), &["sim-agent"]),
        };
        (program, args.iter().map(|a| (*a).to_string()).collect())
    }
}

impl fmt::Display for Preset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where an agent keeps its own state: paths under the home folder, and
/// environment variables that move it (read from the agent's environment).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatePaths {
    /// Folders, made before the agent starts when missing: a sandbox can
    /// only allow what exists, and the agent could not make them itself.
    pub dirs: &'static [&'static str],
    /// Files, writable when they exist (enki does not invent their content,
    /// so a sandboxed agent cannot make a missing one).
    pub files: &'static [&'static str],
    /// Variables naming more folders, e.g. `CLAUDE_CONFIG_DIR`.
    pub dir_vars: &'static [&'static str],
}

/// The kind of agent being started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AgentRole {
    /// The planner the user talks to.
    Coordinator,
    Worker,
    /// Resolves merge conflicts.
    Merger,
}

impl AgentRole {
    pub const ALL: &'static [AgentRole] =
        &[AgentRole::Coordinator, AgentRole::Worker, AgentRole::Merger];

    pub const fn as_str(self) -> &'static str {
        match self {
            AgentRole::Coordinator => "coordinator",
            AgentRole::Worker => "worker",
            AgentRole::Merger => "merger",
        }
    }
}

impl fmt::Display for AgentRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A concrete agent process to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedAgent {
    /// The preset name, or the command as written (trimmed).
    pub name: String,
    pub preset: Option<Preset>,
    pub program: String,
    /// The command's own arguments followed by the configured `args`.
    pub args: Vec<String>,
    /// The configured environment (not the whole process environment; see
    /// [`crate::agent_environment`]).
    pub env: BTreeMap<String, String>,
}

impl ResolvedAgent {
    /// Program and arguments as one line, for messages and logs.
    pub fn command_line(&self) -> String {
        let words: Vec<&String> = std::iter::once(&self.program).chain(&self.args).collect();
        crate::command::join_command(&words)
    }
}

fn set_command(spec: &AgentSpec) -> Option<&str> {
    spec.command
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
}

impl Config {
    /// Which agent runs `role` (and, for workers, `tier`).
    ///
    /// Levels, most specific first: `explicit` (`--agent` or a role's `agent`
    /// field), `[agent.<tier>]` (workers only, when `tier` is given),
    /// `[agent.<role>]`, `[agent]`, then the default preset `claude`.
    ///
    /// - `command`: the most specific level that sets one. A preset name
    ///   resolves to its command; anything else is a command line (see
    ///   [`crate::split_command`]; broken quoting, which the loader rejects in
    ///   files, falls back to whitespace splitting here — validate `explicit`
    ///   with `split_command` first to report it). An empty `explicit` counts
    ///   as not given.
    /// - `args`: the most specific level that sets them, among the level that
    ///   chose the command and the levels more specific than it. Arguments
    ///   written for a less specific level's command are not passed to a
    ///   different command (so `--agent sim` never gets the args configured
    ///   for `claude`). With the default preset every level counts. They are
    ///   appended after the command's own arguments.
    /// - `env`: merged over all levels, the more specific level winning per key.
    pub fn agent_for(
        &self,
        role: AgentRole,
        tier: Option<Tier>,
        explicit: Option<&str>,
        enki_bin: &Path,
    ) -> ResolvedAgent {
        let section = &self.agent;
        let tier_spec = match (role, tier) {
            (AgentRole::Worker, Some(tier)) => Some(section.tier_spec(tier)),
            _ => None,
        };
        let levels: Vec<&AgentSpec> = tier_spec
            .into_iter()
            .chain([section.role_spec(role), &section.base])
            .collect();

        // `arg_levels`: how many of `levels` may contribute `args`.
        let explicit = explicit.map(str::trim).filter(|e| !e.is_empty());
        let (command, arg_levels) = match explicit {
            Some(command) => (command, 0),
            None => levels
                .iter()
                .enumerate()
                .find_map(|(i, spec)| set_command(spec).map(|c| (c, i + 1)))
                .unwrap_or((Preset::DEFAULT.name(), levels.len())),
        };
        let extra_args = levels
            .iter()
            .take(arg_levels)
            .find_map(|spec| spec.args.as_ref());
        let mut env = BTreeMap::new();
        for spec in levels.iter().rev() {
            env.extend(spec.env.iter().map(|(k, v)| (k.clone(), v.clone())));
        }

        let (name, preset, program, mut args) = match Preset::from_name(command) {
            Some(preset) => {
                let (program, args) = preset.command(enki_bin);
                (preset.name().to_string(), Some(preset), program, args)
            }
            None => {
                let mut words = split_command_lenient(command).into_iter();
                let program = words.next().unwrap_or_default();
                (command.to_string(), None, program, words.collect())
            }
        };
        args.extend(extra_args.into_iter().flatten().cloned());
        ResolvedAgent {
            name,
            preset,
            program,
            args,
            env,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn bin() -> PathBuf {
        PathBuf::from("/opt/enki/bin/enki")
    }

    fn spec(command: Option<&str>, args: Option<&[&str]>, env: &[(&str, &str)]) -> AgentSpec {
        AgentSpec {
            command: command.map(str::to_string),
            args: args.map(|a| a.iter().map(|s| s.to_string()).collect()),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn presets_resolve_to_their_commands() {
        let expected: &[(&str, &str, &[&str])] = &[
            ("claude", "claude-agent-acp", &[]),
            ("codex", "codex-acp", &[]),
            ("gemini", "gemini", &["--experimental-acp"]),
            ("opencode", "opencode", &["acp"]),
            ("sim", "/opt/enki/bin/enki", &["sim-agent"]),
        ];
        assert_eq!(Preset::ALL.len(), expected.len());
        for (name, program, args) in expected {
            let preset = Preset::from_name(name).unwrap();
            assert_eq!(preset.name(), *name);
            assert_eq!(
                preset.command(&bin()),
                (
                    program.to_string(),
                    args.iter().map(|a| a.to_string()).collect::<Vec<_>>()
                )
            );
            let agent = Config::default().agent_for(AgentRole::Worker, None, Some(name), &bin());
            assert_eq!(agent.name, *name);
            assert_eq!(agent.preset, Some(preset));
            assert_eq!(agent.program, *program);
            assert_eq!(agent.args, *args);
        }
        assert_eq!(Preset::from_name(" sim "), Some(Preset::Sim));
        assert_eq!(Preset::from_name("Claude"), None);
    }

    #[test]
    fn default_is_claude() {
        for role in AgentRole::ALL {
            let agent = Config::default().agent_for(*role, Some(Tier::Heavy), None, &bin());
            assert_eq!(agent.name, "claude");
            assert_eq!(agent.preset, Some(Preset::Claude));
            assert_eq!(agent.program, "claude-agent-acp");
            assert!(agent.args.is_empty() && agent.env.is_empty());
        }
    }

    #[test]
    fn sim_uses_the_given_binary() {
        let agent = Config::default().agent_for(
            AgentRole::Coordinator,
            None,
            Some("sim"),
            Path::new("/tmp/target/debug/enki"),
        );
        assert_eq!(agent.program, "/tmp/target/debug/enki");
        assert_eq!(agent.args, ["sim-agent"]);
    }

    #[test]
    fn custom_commands_are_split_and_args_appended() {
        let mut config = Config::default();
        config.agent.base = spec(
            Some(r#"  node "/opt/my agent/main.js" --mode 'acp v2' "#),
            Some(&["--verbose"]),
            &[],
        );
        let agent = config.agent_for(AgentRole::Worker, None, None, &bin());
        assert_eq!(
            agent.name,
            r#"node "/opt/my agent/main.js" --mode 'acp v2'"#
        );
        assert_eq!(agent.preset, None);
        assert_eq!(agent.program, "node");
        assert_eq!(
            agent.args,
            ["/opt/my agent/main.js", "--mode", "acp v2", "--verbose"]
        );
        assert_eq!(
            agent.command_line(),
            "node '/opt/my agent/main.js' --mode 'acp v2' --verbose"
        );
        // A preset name with configured args keeps its own args first.
        config.agent.base.command = Some("gemini".into());
        let agent = config.agent_for(AgentRole::Worker, None, None, &bin());
        assert_eq!(agent.args, ["--experimental-acp", "--verbose"]);
    }

    #[test]
    fn role_and_tier_precedence() {
        let mut config = Config::default();
        config.agent.base = spec(
            Some("codex"),
            Some(&["--base"]),
            &[("A", "base"), ("B", "base")],
        );
        config.agent.worker = spec(Some("gemini"), None, &[("B", "worker"), ("C", "worker")]);
        config.agent.merger = spec(None, Some(&["--merger"]), &[]);
        config.agent.heavy = spec(Some("opencode"), Some(&["--heavy"]), &[("C", "heavy")]);
        config.agent.light = spec(None, Some(&["--light"]), &[("D", "light")]);

        // Coordinator: only [agent].
        let coord = config.agent_for(AgentRole::Coordinator, Some(Tier::Heavy), None, &bin());
        assert_eq!(
            (coord.name.as_str(), coord.args.clone()),
            ("codex", vec!["--base".to_string()])
        );
        assert_eq!(coord.env.len(), 2);

        // Merger: command from [agent], args from [agent.merger].
        let merger = config.agent_for(AgentRole::Merger, None, None, &bin());
        assert_eq!(merger.name, "codex");
        assert_eq!(merger.args, ["--merger"]);

        // Worker without tier: [agent.worker] command; [agent] args were for codex.
        let worker = config.agent_for(AgentRole::Worker, None, None, &bin());
        assert_eq!(worker.name, "gemini");
        assert_eq!(worker.args, ["--experimental-acp"]);
        assert_eq!(worker.env["A"], "base");
        assert_eq!(worker.env["B"], "worker");
        assert_eq!(worker.env["C"], "worker");

        // Standard tier has no spec: same as no tier.
        assert_eq!(
            config.agent_for(AgentRole::Worker, Some(Tier::Standard), None, &bin()),
            worker
        );

        // Heavy tier sets command, args and env.
        let heavy = config.agent_for(AgentRole::Worker, Some(Tier::Heavy), None, &bin());
        assert_eq!(heavy.name, "opencode");
        assert_eq!(heavy.args, ["acp", "--heavy"]);
        assert_eq!(heavy.env["C"], "heavy");
        assert_eq!(heavy.env["B"], "worker");

        // Light tier sets only args and env: the worker's command, the tier's args.
        let light = config.agent_for(AgentRole::Worker, Some(Tier::Light), None, &bin());
        assert_eq!(light.name, "gemini");
        assert_eq!(light.args, ["--experimental-acp", "--light"]);
        assert_eq!(light.env["D"], "light");
        assert_eq!(light.env["A"], "base");
    }

    #[test]
    fn args_without_any_command_apply_to_the_default() {
        let mut config = Config::default();
        config.agent.base = spec(None, Some(&["--model", "opus"]), &[]);
        let agent = config.agent_for(AgentRole::Worker, Some(Tier::Light), None, &bin());
        assert_eq!(agent.program, "claude-agent-acp");
        assert_eq!(agent.args, ["--model", "opus"]);
    }

    #[test]
    fn explicit_wins_and_keeps_env() {
        let mut config = Config::default();
        config.agent.base = spec(Some("codex"), Some(&["--base"]), &[("A", "1")]);
        config.agent.heavy = spec(Some("gemini"), Some(&["--heavy"]), &[("B", "2")]);
        let agent = config.agent_for(AgentRole::Worker, Some(Tier::Heavy), Some("sim"), &bin());
        assert_eq!(agent.name, "sim");
        assert_eq!(agent.program, "/opt/enki/bin/enki");
        assert_eq!(
            agent.args,
            ["sim-agent"],
            "config args were for other commands"
        );
        assert_eq!(agent.env.len(), 2);

        let agent = config.agent_for(AgentRole::Coordinator, None, Some("my-acp --fast"), &bin());
        assert_eq!(
            (agent.program.as_str(), agent.args.clone()),
            ("my-acp", vec!["--fast".to_string()])
        );
        assert_eq!(agent.name, "my-acp --fast");

        // Blank explicit counts as not given.
        let agent = config.agent_for(AgentRole::Coordinator, None, Some("  "), &bin());
        assert_eq!(agent.name, "codex");
        // Broken quoting does not panic.
        let agent = config.agent_for(AgentRole::Coordinator, None, Some("x 'y"), &bin());
        assert_eq!(agent.args, ["'y"]);
    }
}
