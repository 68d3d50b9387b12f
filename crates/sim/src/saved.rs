//! Sessions kept on disk, so that a later sim process can take one up with
//! `session/load` (which replays the prompts it was given as
//! `user_message_chunk` updates) or `session/resume` (no replay), as a real
//! agent does after its client restarts. Each session is one JSON file under
//! `$HOME/.local/state/enki-sim/sessions/`, rewritten at every prompt: the
//! prompts so far, which script each prompt ran and how many turns of it,
//! so a continued session runs the script's next turn.
//!
//! `<scripts dir>/capabilities.toml` can withhold the capabilities, to play
//! an agent that cannot continue a session:
//!
//! ```toml
//! load_session = false   # do not declare `loadSession` (default true)
//! resume = false         # do not declare `sessionCapabilities.resume` (default true)
//! ```

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The state folder under the home folder (writable in enki's sandbox).
pub const STATE_DIR: &str = ".local/state/enki-sim";
/// The capabilities file's name in the scripts dir.
pub const CAPABILITIES_FILE: &str = "capabilities.toml";

/// What is kept of a session.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedSession {
    pub cwd: PathBuf,
    /// Prompts run so far, per script.
    pub counters: HashMap<String, usize>,
    /// The script file of the last prompt (none: built in).
    pub last_script: Option<PathBuf>,
    /// The prompts given, oldest first.
    pub prompts: Vec<String>,
}

/// Which session capabilities are declared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Capabilities {
    #[serde(default = "yes")]
    pub load_session: bool,
    #[serde(default = "yes")]
    pub resume: bool,
}

fn yes() -> bool {
    true
}

impl Capabilities {
    /// Reads `capabilities.toml` from `dir`; both declared when absent. No
    /// home folder to keep sessions in: neither.
    pub fn load(dir: Option<&Path>) -> Result<Capabilities, String> {
        if sessions_dir().is_none() {
            return Ok(Capabilities {
                load_session: false,
                resume: false,
            });
        }
        let Some(path) = dir
            .map(|d| d.join(CAPABILITIES_FILE))
            .filter(|p| p.is_file())
        else {
            return Ok(Capabilities {
                load_session: true,
                resume: true,
            });
        };
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    }
}

/// The sim's state folder: `$HOME/.local/state/enki-sim`.
pub fn state_dir() -> Option<PathBuf> {
    let home = std::env::var_os("HOME").filter(|h| !h.is_empty())?;
    Some(PathBuf::from(home).join(STATE_DIR))
}

/// Where sessions are kept: `$HOME/.local/state/enki-sim/sessions`.
pub fn sessions_dir() -> Option<PathBuf> {
    state_dir().map(|d| d.join("sessions"))
}

/// The file of session `id`; an id that is not a plain file name is refused.
fn file_of(id: &str) -> Result<PathBuf, String> {
    let plain = !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !plain {
        return Err(format!("'{id}' is not a session id of this agent"));
    }
    let dir = sessions_dir().ok_or("no HOME to keep sessions in")?;
    Ok(dir.join(format!("{id}.json")))
}

/// Writes session `id`.
pub fn save(id: &str, session: &SavedSession) -> Result<(), String> {
    let path = file_of(id)?;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    }
    let text = serde_json::to_string(session).map_err(|e| e.to_string())?;
    let temporary = path.with_extension("json.tmp");
    std::fs::write(&temporary, text)
        .and_then(|()| std::fs::rename(&temporary, &path))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Reads session `id`, or says why it cannot be taken up.
pub fn load(id: &str) -> Result<SavedSession, String> {
    let path = file_of(id)?;
    let text = std::fs::read_to_string(&path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => format!("no session '{id}' is kept"),
        _ => format!("cannot read {}: {e}", path.display()),
    })?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_ids_name_a_file() {
        assert!(file_of("../etc/passwd").is_err());
        assert!(file_of("a/b").is_err());
        assert!(file_of("").is_err());
    }

    #[test]
    fn capabilities_default_to_both_and_can_be_withheld() {
        let dir = tempfile::tempdir().unwrap();
        if sessions_dir().is_none() {
            return; // no HOME: nothing is declared, checked by the e2e tests
        }
        let both = Capabilities::load(Some(dir.path())).unwrap();
        assert!(both.load_session && both.resume);
        std::fs::write(dir.path().join(CAPABILITIES_FILE), "load_session = false\n").unwrap();
        let some = Capabilities::load(Some(dir.path())).unwrap();
        assert!(!some.load_session && some.resume);
        std::fs::write(dir.path().join(CAPABILITIES_FILE), "loadd = 1\n").unwrap();
        assert!(Capabilities::load(Some(dir.path())).is_err());
    }
}
