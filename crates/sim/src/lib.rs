//! `enki sim-agent`: a real ACP agent (JSON-RPC 2.0 over stdio, protocol
//! version 1) that follows a script instead of a language model, so enki can
//! be demonstrated and tested end to end with no network and no API key.
//!
//! It starts the MCP servers it is given in `session/new`, and for each
//! `session/prompt` runs the next turn of the script selected for that
//! prompt ([`select`]): say text, call MCP tools (reported as `tool_call`
//! updates), read / write / delete files (through ACP `fs/*` when the client
//! offers it), run commands, ask permission, sleep, fail, hang, crash, print
//! garbage, exit, or end the turn with a given stop reason. The format is
//! documented in [`script`].
//!
//! stdout carries ACP only; diagnostics go to stderr.

mod agent;
mod cancel;
mod limit;
mod mcp_client;
mod mcp_http;
pub mod modes;
mod peer;
pub mod saved;
pub mod script;
pub mod select;
mod servers;
mod steps;
pub mod template;
pub mod usage;

use std::io::BufReader;
use std::path::{Path, PathBuf};

pub use select::Sources;

/// Environment variable naming the scripts dir when neither option is given.
pub const SCRIPTS_ENV: &str = "ENKI_SIM_SCRIPTS";

/// Command-line options of `enki sim-agent`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SimOptions {
    /// `--script FILE`: the script for prompts that no marker or role selects.
    pub script: Option<PathBuf>,
    /// `--scripts-dir DIR`: where `[[sim:NAME]]` markers and roles find
    /// `NAME.toml` / `NAME.json`.
    pub scripts_dir: Option<PathBuf>,
}

/// Runs the agent on stdin/stdout until stdin closes. Returns the process
/// exit code: 0 at EOF, 2 when the options are unusable (a missing or
/// invalid `--script`, a scripts dir that is not a directory).
pub fn run(options: SimOptions) -> i32 {
    let env = std::env::var_os(SCRIPTS_ENV).map(PathBuf::from);
    let sources = match resolve(options, env) {
        Ok(sources) => sources,
        Err(message) => {
            eprintln!("enki sim-agent: {message}");
            return 2;
        }
    };
    agent::serve(
        BufReader::new(std::io::stdin()),
        Box::new(std::io::stdout()),
        sources,
    )
}

/// Checks the options; `env` is `ENKI_SIM_SCRIPTS`, used only when neither
/// option is given.
pub fn resolve(options: SimOptions, env: Option<PathBuf>) -> Result<Sources, String> {
    let SimOptions {
        script,
        mut scripts_dir,
    } = options;
    let from_env = script.is_none() && scripts_dir.is_none();
    if from_env {
        scripts_dir = env.filter(|p| !p.as_os_str().is_empty());
    }
    let absolute = |p: PathBuf| std::path::absolute(&p).unwrap_or(p);
    let script = script.map(absolute);
    let scripts_dir = scripts_dir.map(absolute);
    if let Some(path) = &script {
        script::load(path).map_err(|e| e.to_string())?;
    }
    if let Some(dir) = &scripts_dir
        && !dir.is_dir()
    {
        let origin = if from_env {
            SCRIPTS_ENV
        } else {
            "--scripts-dir"
        };
        return Err(format!(
            "scripts dir {} ({origin}) is not a directory",
            display(dir)
        ));
    }
    Ok(Sources {
        script,
        scripts_dir,
    })
}

fn display(path: &Path) -> String {
    path.display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_env_dir_is_used_only_without_options() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("s.toml");
        std::fs::write(&script, "[[turn]]\nsteps = [{ say = \"hi\" }]\n").unwrap();

        let sources = resolve(SimOptions::default(), Some(dir.path().to_path_buf())).unwrap();
        assert_eq!(sources.scripts_dir.as_deref(), Some(dir.path()));
        assert_eq!(sources.script, None);

        let sources = resolve(
            SimOptions {
                script: Some(script.clone()),
                scripts_dir: None,
            },
            Some(PathBuf::from("/nonexistent")),
        )
        .unwrap();
        assert_eq!(sources.script.as_deref(), Some(script.as_path()));
        assert_eq!(sources.scripts_dir, None);

        assert_eq!(
            resolve(SimOptions::default(), Some(PathBuf::new())).unwrap(),
            Sources::default()
        );
    }

    #[test]
    fn unusable_options_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.toml");
        let err = resolve(
            SimOptions {
                script: Some(missing.clone()),
                scripts_dir: None,
            },
            None,
        )
        .unwrap_err();
        assert!(err.contains(&missing.display().to_string()), "{err}");

        let err = resolve(SimOptions::default(), Some(dir.path().join("nope"))).unwrap_err();
        assert!(err.contains(SCRIPTS_ENV), "{err}");
        let err = resolve(
            SimOptions {
                script: None,
                scripts_dir: Some(dir.path().join("nope")),
            },
            None,
        )
        .unwrap_err();
        assert!(err.contains("--scripts-dir"), "{err}");
    }
}
