//! Session modes of the sim agent, so tests can play an agent that starts
//! in a mode where it approves its own actions (as Claude's `auto`).
//!
//! `<scripts dir>/modes.toml`, read at each `session/new` (absent: the
//! agent declares no modes):
//!
//! ```toml
//! available = ["auto", "default"]   # the modes offered, in order
//! current = "auto"                  # the mode a session starts in
//! decides = ["auto"]                # modes in which `permission` steps are
//!                                   # approved by the agent itself (default: ["auto"])
//! set_mode = "accept"               # accept | refuse (an error) | ignore
//!                                   # (answers, but reports it stays)
//! ```

use std::path::Path;

use serde::Deserialize;

/// How `session/set_mode` is answered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SetMode {
    #[default]
    Accept,
    Refuse,
    Ignore,
}

fn default_decides() -> Vec<String> {
    vec!["auto".to_string()]
}

/// The `modes.toml` of a scripts dir.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModesConfig {
    pub available: Vec<String>,
    pub current: String,
    #[serde(default = "default_decides")]
    pub decides: Vec<String>,
    #[serde(default)]
    pub set_mode: SetMode,
}

/// The file's name in the scripts dir.
pub const MODES_FILE: &str = "modes.toml";

impl ModesConfig {
    /// Reads `modes.toml` from `dir`: `Ok(None)` when there is none.
    pub fn load(dir: Option<&Path>) -> Result<Option<ModesConfig>, String> {
        let Some(path) = dir.map(|d| d.join(MODES_FILE)).filter(|p| p.is_file()) else {
            return Ok(None);
        };
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let config: ModesConfig =
            toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        if !config.available.contains(&config.current) {
            return Err(format!(
                "{}: `current` = \"{}\" is not one of `available`",
                path.display(),
                config.current
            ));
        }
        Ok(Some(config))
    }

    /// The `modes` field of a `session/new` result, in mode `current`.
    pub fn to_json(&self, current: &str) -> serde_json::Value {
        let available: Vec<serde_json::Value> = self
            .available
            .iter()
            .map(|id| serde_json::json!({"id": id, "name": id}))
            .collect();
        serde_json::json!({"currentModeId": current, "availableModes": available})
    }

    /// Whether the agent approves its own actions in `mode`.
    pub fn decides(&self, mode: &str) -> bool {
        self.decides.iter().any(|m| m == mode)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_modes_file_is_read_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(ModesConfig::load(Some(dir.path())).unwrap(), None);
        assert_eq!(ModesConfig::load(None).unwrap(), None);
        std::fs::write(
            dir.path().join(MODES_FILE),
            "available = [\"auto\", \"default\"]\ncurrent = \"auto\"\nset_mode = \"refuse\"\n",
        )
        .unwrap();
        let config = ModesConfig::load(Some(dir.path())).unwrap().unwrap();
        assert_eq!(config.set_mode, SetMode::Refuse);
        assert!(config.decides("auto") && !config.decides("default"));
        assert_eq!(
            config.to_json("default")["availableModes"][1]["id"],
            "default"
        );
        std::fs::write(
            dir.path().join(MODES_FILE),
            "available = [\"default\"]\ncurrent = \"auto\"\n",
        )
        .unwrap();
        let err = ModesConfig::load(Some(dir.path())).unwrap_err();
        assert!(err.contains("not one of `available`"), "{err}");
    }
}
