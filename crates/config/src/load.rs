//! Reading the configuration cascade from disk.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::error::ConfigError;
use crate::schema::parse_file;

/// The file name of a configuration file in each cascade directory.
pub const CONFIG_FILE_NAME: &str = "enki.toml";

impl Config {
    /// Built-in defaults, then each existing file in order (later wins, field
    /// by field; `env` maps merge key by key; `args` replaces). Missing files
    /// are skipped; any other read failure is an error naming the file.
    pub fn load_files(files: &[PathBuf]) -> Result<Config, ConfigError> {
        let mut config = Config::default();
        for file in files {
            let text = match std::fs::read_to_string(file) {
                Ok(text) => text,
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(e) => {
                    return Err(ConfigError {
                        file: file.clone(),
                        line: None,
                        key: None,
                        message: format!("cannot read: {e}"),
                    });
                }
            };
            config.apply_str(file, &text)?;
        }
        Ok(config)
    }

    /// The standard cascade ([`Config::cascade_files`]) loaded with
    /// [`Config::load_files`].
    pub fn load(home: Option<&Path>, enki_dir: Option<&Path>) -> Result<Config, ConfigError> {
        Config::load_files(&Config::cascade_files(home, enki_dir))
    }

    /// The user file — `$XDG_CONFIG_HOME/enki/enki.toml` when that variable
    /// is an absolute path, else `<home>/.config/enki/enki.toml` — then
    /// `<enki_dir>/enki.toml`. Files are listed whether or not they exist.
    pub fn cascade_files(home: Option<&Path>, enki_dir: Option<&Path>) -> Vec<PathBuf> {
        let xdg = std::env::var_os("XDG_CONFIG_HOME").map(PathBuf::from);
        cascade_files_with(xdg.as_deref(), home, enki_dir)
    }

    /// Applies the text of one file on top of this configuration. `file` is
    /// used in errors and to resolve relative paths; it is not read.
    /// On error `self` is unchanged.
    pub fn apply_str(&mut self, file: &Path, text: &str) -> Result<(), ConfigError> {
        let parsed = parse_file(file, text)?;
        self.apply(parsed, file.parent().unwrap_or(Path::new("")));
        Ok(())
    }
}

fn cascade_files_with(
    xdg_config_home: Option<&Path>,
    home: Option<&Path>,
    enki_dir: Option<&Path>,
) -> Vec<PathBuf> {
    let user_dir = match xdg_config_home.filter(|p| p.is_absolute()) {
        Some(xdg) => Some(xdg.to_path_buf()),
        None => home.map(|home| home.join(".config")),
    };
    user_dir
        .map(|dir| dir.join("enki").join(CONFIG_FILE_NAME))
        .into_iter()
        .chain(enki_dir.map(|dir| dir.join(CONFIG_FILE_NAME)))
        .collect()
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;
    use crate::agent::AgentRole;
    use crate::config::PermissionPolicyName;

    #[test]
    fn the_documented_example_is_a_valid_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("enki.toml");
        fs::write(&file, include_str!("../../../.enki-example/enki.toml")).unwrap();
        let config = Config::load_files(&[file]);
        assert!(config.is_ok(), "{config:?}");
    }

    #[test]
    fn cascade_order_and_xdg() {
        let home = Path::new("/home/u");
        let enki = Path::new("/p/.enki");
        assert_eq!(
            cascade_files_with(None, Some(home), Some(enki)),
            [
                PathBuf::from("/home/u/.config/enki/enki.toml"),
                PathBuf::from("/p/.enki/enki.toml")
            ]
        );
        assert_eq!(
            cascade_files_with(Some(Path::new("/xdg")), Some(home), Some(enki)),
            [
                PathBuf::from("/xdg/enki/enki.toml"),
                PathBuf::from("/p/.enki/enki.toml")
            ]
        );
        assert_eq!(
            cascade_files_with(Some(Path::new("relative")), Some(home), None),
            [PathBuf::from("/home/u/.config/enki/enki.toml")]
        );
        assert!(cascade_files_with(None, None, None).is_empty());
    }

    #[test]
    fn missing_files_give_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config::load(Some(dir.path()), Some(&dir.path().join(".enki"))).unwrap();
        assert_eq!(config, Config::default());
        assert_eq!(Config::load_files(&[]).unwrap(), Config::default());
    }

    #[test]
    fn cascade_merges_field_by_field() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        let project = dir.path().join("project/.enki");
        fs::create_dir_all(home.join(".config/enki")).unwrap();
        fs::create_dir_all(&project).unwrap();
        fs::write(
            home.join(".config/enki/enki.toml"),
            r#"
[workers]
max_workers = 8
retries = 5

[agent]
command = "codex"
env = { A = "home", SHARED = "home" }

[agent.worker]
command = "gemini"

[git]
commit_suffix = "(via enki)"

[merge]
verify = "make check"
"#,
        )
        .unwrap();
        fs::write(
            project.join("enki.toml"),
            r#"
[workers]
max_workers = 2
max_heavy = 1

[agent]
args = ["--project"]
env = { B = "project", SHARED = "project" }

[agent.worker]
command = "my-agent --x"

[merge]
verify = ""
review = "ask"

[permissions]
policy = "ask"
agent_decides = true
"#,
        )
        .unwrap();
        let config = Config::load(Some(&home), Some(&project)).unwrap();
        assert_eq!(config.workers.max_workers, 2);
        assert_eq!(config.workers.max_heavy, Some(1));
        assert_eq!(config.workers.retries, 5);
        assert_eq!(config.workers.stall_timeout_secs, 600);
        assert_eq!(config.agent.base.command.as_deref(), Some("codex"));
        assert_eq!(config.agent.base.args, Some(vec!["--project".to_string()]));
        let env: Vec<_> = config
            .agent
            .base
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            env,
            [("A", "home"), ("B", "project"), ("SHARED", "project")]
        );
        assert_eq!(config.agent.worker.command.as_deref(), Some("my-agent --x"));
        assert_eq!(config.git.commit_suffix.as_deref(), Some("(via enki)"));
        assert_eq!(config.merge.verify, None, "empty string clears");
        assert_eq!(config.merge.review, enki_core::ReviewMode::Ask);
        assert_eq!(Config::default().merge.review, enki_core::ReviewMode::Auto);
        assert_eq!(config.permissions.policy, PermissionPolicyName::Ask);
        assert!(config.permissions.agent_decides);

        let bin = Path::new("/bin/enki");
        let coordinator = config.agent_for(AgentRole::Coordinator, None, None, bin);
        assert_eq!(coordinator.program, "codex-acp");
        assert_eq!(coordinator.args, ["--project"]);
        assert_eq!(coordinator.env.len(), 3);
        let worker = config.agent_for(AgentRole::Worker, None, None, bin);
        assert_eq!(worker.program, "my-agent");
        assert_eq!(worker.args, ["--x"]);
    }

    #[test]
    fn mcp_limits_merge_key_by_key() {
        let mut config = Config::default();
        config
            .apply_str(
                Path::new("home.toml"),
                "[mcp]\nrate_limit = { per_second = 5, burst = 7 }\nbusy_timeout_ms = 900\n",
            )
            .unwrap();
        config
            .apply_str(Path::new("project.toml"), "[mcp.rate_limit]\nburst = 9\n")
            .unwrap();
        assert_eq!(config.mcp.rate_limit.per_second, 5);
        assert_eq!(config.mcp.rate_limit.burst, 9);
        assert_eq!(config.mcp.busy_timeout_ms, 900);
        assert_eq!(config.mcp.traffic_log_max_bytes, 8 * 1024 * 1024);
    }

    #[test]
    fn args_replace_rather_than_append() {
        let mut config = Config::default();
        config
            .apply_str(Path::new("a.toml"), "[agent]\nargs = [\"a\", \"b\"]\n")
            .unwrap();
        config
            .apply_str(Path::new("b.toml"), "[agent]\nargs = [\"c\"]\n")
            .unwrap();
        assert_eq!(config.agent.base.args, Some(vec!["c".to_string()]));
        config
            .apply_str(Path::new("c.toml"), "[agent]\nargs = []\n")
            .unwrap();
        assert_eq!(config.agent.base.args, Some(vec![]));
    }

    #[test]
    fn relative_sim_scripts_resolve_against_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        let project = dir.path().join("p/.enki");
        fs::create_dir_all(home.join(".config/enki")).unwrap();
        fs::create_dir_all(&project).unwrap();
        fs::write(
            home.join(".config/enki/enki.toml"),
            "[sim]\nscripts = \"sims\"\n",
        )
        .unwrap();
        let config = Config::load(Some(&home), Some(&project)).unwrap();
        assert_eq!(config.sim.scripts, Some(home.join(".config/enki/sims")));

        fs::write(
            project.join("enki.toml"),
            "[sim]\nscripts = \"../scripts\"\n",
        )
        .unwrap();
        let config = Config::load(Some(&home), Some(&project)).unwrap();
        assert_eq!(config.sim.scripts, Some(project.join("../scripts")));

        fs::write(project.join("enki.toml"), "[sim]\nscripts = \"/abs/s\"\n").unwrap();
        let config = Config::load(Some(&home), Some(&project)).unwrap();
        assert_eq!(config.sim.scripts, Some(PathBuf::from("/abs/s")));
    }

    #[test]
    fn relative_agent_programs_resolve_against_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        let project = dir.path().join("p/.enki");
        fs::create_dir_all(home.join(".config/enki")).unwrap();
        fs::create_dir_all(&project).unwrap();
        fs::write(
            home.join(".config/enki/enki.toml"),
            "[agent.merger]\ncommand = \"bin/merge-agent --x\"\n",
        )
        .unwrap();
        fs::write(
            project.join("enki.toml"),
            "[agent]\ncommand = \"'./my agent.sh' -v\"\n[agent.heavy]\ncommand = \"../tools/big --acp\"\n[agent.worker]\ncommand = \"node ./w.js\"\n",
        )
        .unwrap();
        let config = Config::load(Some(&home), Some(&project)).unwrap();
        let bin = Path::new("/bin/enki");
        let coordinator = config.agent_for(AgentRole::Coordinator, None, None, bin);
        assert_eq!(
            coordinator.program,
            project.join("my agent.sh").display().to_string()
        );
        assert_eq!(coordinator.args, ["-v"]);
        let merger = config.agent_for(AgentRole::Merger, None, None, bin);
        assert_eq!(
            merger.program,
            home.join(".config/enki/bin/merge-agent")
                .display()
                .to_string()
        );
        assert_eq!(merger.args, ["--x"]);
        let heavy = config.agent_for(AgentRole::Worker, Some(enki_core::Tier::Heavy), None, bin);
        assert_eq!(
            heavy.program,
            project.join("../tools/big").display().to_string()
        );
        assert_eq!(heavy.args, ["--acp"]);
        // A bare program name stays a PATH lookup; its arguments are untouched.
        let worker = config.agent_for(AgentRole::Worker, None, None, bin);
        assert_eq!(
            (worker.program.as_str(), worker.args.clone()),
            ("node", vec!["./w.js".to_string()])
        );
        // `--agent` is not resolved here (the CLI resolves it against the
        // invoking directory).
        let explicit = config.agent_for(AgentRole::Worker, None, Some("./x"), bin);
        assert_eq!(explicit.program, "./x");
    }

    #[test]
    fn errors_name_the_real_file() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.toml");
        let bad = dir.path().join("bad.toml");
        fs::write(&good, "[workers]\nmax_workers = 2\n").unwrap();
        fs::write(&bad, "# comment\n[agent.worker]\ncomand = \"codex\"\n").unwrap();
        let err = Config::load_files(&[good, bad.clone()]).unwrap_err();
        assert_eq!(err.file, bad);
        assert_eq!(err.line, Some(3));
        assert_eq!(err.key.as_deref(), Some("agent.worker.comand"));
        assert!(err.to_string().starts_with(&format!(
            "{}:3: `agent.worker.comand`: unknown field `comand`",
            bad.display()
        )));
    }

    #[test]
    fn unreadable_files_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        // A directory cannot be read as a file, even as root.
        let err = Config::load_files(&[dir.path().to_path_buf()]).unwrap_err();
        assert_eq!(err.file, dir.path());
        assert_eq!((err.line, err.key.as_deref()), (None, None));
        assert!(err.message.starts_with("cannot read"), "{err}");

        let binary = dir.path().join("enki.toml");
        fs::write(&binary, [0xff, 0xfe, b'\n']).unwrap();
        let err = Config::load_files(std::slice::from_ref(&binary)).unwrap_err();
        assert_eq!(err.file, binary);
        assert!(err.message.starts_with("cannot read"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn permission_denied_is_an_error() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("enki.toml");
        fs::write(&file, "[workers]\n").unwrap();
        fs::set_permissions(&file, fs::Permissions::from_mode(0o000)).unwrap();
        if fs::read_to_string(&file).is_ok() {
            return; // running as root: permissions are not enforced
        }
        let err = Config::load_files(std::slice::from_ref(&file)).unwrap_err();
        assert_eq!(err.file, file);
        assert!(err.to_string().contains("cannot read"), "{err}");
    }
}
