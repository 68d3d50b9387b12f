//! The environment of an agent process (WORKERS.md "The ACP client").

use std::collections::BTreeMap;
use std::path::Path;

use crate::agent::ResolvedAgent;

/// Absolute path of the enki binary, for agents and their `enki mcp` child.
pub const ENV_ENKI_BIN: &str = "ENKI_BIN";
/// The project's `.enki/` directory.
pub const ENV_ENKI_DIR: &str = "ENKI_DIR";
/// The coordinator session the agent belongs to.
pub const ENV_ENKI_SESSION_ID: &str = "ENKI_SESSION_ID";
/// Variables enki sets last in every agent environment.
pub const ENKI_VARS: &[&str] = &[ENV_ENKI_BIN, ENV_ENKI_DIR, ENV_ENKI_SESSION_ID];
/// Variables never passed to an agent. `CLAUDECODE` (set when enki itself
/// runs inside Claude Code) makes Claude refuse to start as a nested session.
pub const REMOVED_VARS: &[&str] = &["CLAUDECODE"];

/// What enki tells every agent about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnkiEnv<'a> {
    pub bin: &'a Path,
    pub enki_dir: &'a Path,
    pub session_id: &'a str,
}

/// The full environment for an agent process, sorted by key, no duplicates:
/// `base` (the coordinator's own environment; a later duplicate wins), then
/// the agent's configured `env` on top, without [`REMOVED_VARS`] (config
/// cannot re-add them either; the loader rejects them in files), then
/// [`ENKI_VARS`] set last so nothing can override them.
pub fn agent_environment(
    base: impl IntoIterator<Item = (String, String)>,
    agent: &ResolvedAgent,
    enki: &EnkiEnv<'_>,
) -> Vec<(String, String)> {
    let mut env: BTreeMap<String, String> = base.into_iter().collect();
    env.extend(agent.env.iter().map(|(k, v)| (k.clone(), v.clone())));
    for name in REMOVED_VARS {
        env.remove(*name);
    }
    env.insert(
        ENV_ENKI_BIN.to_string(),
        enki.bin.to_string_lossy().into_owned(),
    );
    env.insert(
        ENV_ENKI_DIR.to_string(),
        enki.enki_dir.to_string_lossy().into_owned(),
    );
    env.insert(ENV_ENKI_SESSION_ID.to_string(), enki.session_id.to_string());
    env.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn builds_the_agent_environment() {
        let agent = ResolvedAgent {
            name: "claude".into(),
            preset: None,
            program: "claude-agent-acp".into(),
            args: vec![],
            env: pairs(&[
                ("API_KEY", "from-config"),
                ("PATH", "/custom/bin"),
                ("CLAUDECODE", "1"),
                ("ENKI_DIR", "/elsewhere"),
            ])
            .into_iter()
            .collect(),
        };
        let base = pairs(&[
            ("PATH", "/usr/bin"),
            ("HOME", "/home/u"),
            ("CLAUDECODE", "1"),
            ("ENKI_SESSION_ID", "stale"),
            ("HOME", "/home/later"),
        ]);
        let enki = EnkiEnv {
            bin: Path::new("/opt/enki"),
            enki_dir: Path::new("/p/.enki"),
            session_id: "01SESSION",
        };
        let env = agent_environment(base, &agent, &enki);
        assert_eq!(
            env,
            pairs(&[
                ("API_KEY", "from-config"),
                ("ENKI_BIN", "/opt/enki"),
                ("ENKI_DIR", "/p/.enki"),
                ("ENKI_SESSION_ID", "01SESSION"),
                ("HOME", "/home/later"),
                ("PATH", "/custom/bin"),
            ])
        );
    }
}
