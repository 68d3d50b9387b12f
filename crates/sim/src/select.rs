//! Which script runs for a prompt.
//!
//! In order:
//! 0. for the planner and merger roles, `<scripts dir>/<role>.toml` when it
//!    exists (their prompts quote other tasks' descriptions, markers and all);
//! 1. a marker `[[sim:NAME]]` anywhere in the prompt text selects
//!    `<scripts dir>/NAME.toml` (or `NAME.json`; `NAME` may also carry the
//!    extension). A marker naming a missing script is an error for that turn.
//! 2. else the role: `--role <r>` in the args of the `enki` MCP server from
//!    `session/new` selects `<scripts dir>/<r>.toml` (or `.json`) if it exists.
//! 3. else the `--script FILE` given on the command line.
//! 4. else the built-in default script ([`builtin`]).

use std::path::{Path, PathBuf};

use crate::script::{Script, Step, Turn};

/// Where scripts come from (the command line, resolved at start-up).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sources {
    pub script: Option<PathBuf>,
    pub scripts_dir: Option<PathBuf>,
}

/// The script chosen for one prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    /// By a `[[sim:NAME]]` marker.
    Marker { name: String, path: PathBuf },
    /// By the `enki` server's `--role`.
    Role { role: String, path: PathBuf },
    /// The `--script` file.
    File(PathBuf),
    /// The built-in default.
    Builtin,
}

impl Choice {
    /// The script file, unless built in.
    pub fn path(&self) -> Option<&Path> {
        match self {
            Choice::Marker { path, .. } | Choice::Role { path, .. } | Choice::File(path) => {
                Some(path)
            }
            Choice::Builtin => None,
        }
    }
}

const MARKER_OPEN: &str = "[[sim:";
const MARKER_CLOSE: &str = "]]";

/// The `NAME` of the first `[[sim:NAME]]` marker in `prompt`, trimmed.
pub fn marker(prompt: &str) -> Option<&str> {
    let start = prompt.find(MARKER_OPEN)? + MARKER_OPEN.len();
    let rest = &prompt[start..];
    let end = rest.find(MARKER_CLOSE)?;
    Some(rest[..end].trim())
}

/// The value of `--role <r>` or `--role=<r>` in a server's args.
pub fn role_from_args(args: &[String]) -> Option<String> {
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        if arg == "--role" {
            return iter.next().cloned();
        }
        if let Some(role) = arg.strip_prefix("--role=") {
            return Some(role.to_string());
        }
    }
    None
}

/// A name usable as a file name in the scripts dir: letters, digits, `-`,
/// `_`, `.`, not starting with `.`.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// `dir/NAME` if NAME has a script extension, else the first of
/// `dir/NAME.toml`, `dir/NAME.json` that exists.
fn find_in(dir: &Path, name: &str) -> Option<PathBuf> {
    let direct = dir.join(name);
    if crate::script::Format::of(&direct).is_some() {
        return direct.is_file().then_some(direct);
    }
    ["toml", "json"]
        .iter()
        .map(|ext| dir.join(format!("{name}.{ext}")))
        .find(|p| p.is_file())
}

/// Applies the selection rules. `role` is the `enki` server's `--role`.
/// An error is a clear message for a turn that cannot run.
pub fn choose(prompt: &str, role: Option<&str>, sources: &Sources) -> Result<Choice, String> {
    // Planner and merger prompts quote other tasks' descriptions, markers
    // included, so their own role script wins over a quoted marker.
    if let (Some(role @ ("planner" | "merger")), Some(dir)) = (role, &sources.scripts_dir)
        && let Some(path) = find_in(dir, role)
    {
        return Ok(Choice::Role {
            role: role.to_string(),
            path,
        });
    }
    if let Some(name) = marker(prompt) {
        if !valid_name(name) {
            return Err(format!(
                "the prompt asks for script [[sim:{name}]], which is not a valid script name \
                 (letters, digits, '-', '_', '.')"
            ));
        }
        let Some(dir) = &sources.scripts_dir else {
            return Err(format!(
                "the prompt asks for script [[sim:{name}]] but no scripts dir is set \
                 (enki sim-agent --scripts-dir DIR, or ENKI_SIM_SCRIPTS)"
            ));
        };
        return match find_in(dir, name) {
            Some(path) => Ok(Choice::Marker {
                name: name.to_string(),
                path,
            }),
            None => Err(format!(
                "the prompt asks for script [[sim:{name}]] but there is no {name}.toml or \
                 {name}.json in {}",
                dir.display()
            )),
        };
    }
    if let (Some(role), Some(dir)) = (role, &sources.scripts_dir)
        && valid_name(role)
        && let Some(path) = find_in(dir, role)
    {
        return Ok(Choice::Role {
            role: role.to_string(),
            path,
        });
    }
    if let Some(path) = &sources.script {
        return Ok(Choice::File(path.clone()));
    }
    Ok(Choice::Builtin)
}

/// The built-in script: says it is the sim agent, calls `enki_status` when
/// an `enki` server exists, and ends the turn.
pub fn builtin(has_enki_server: bool) -> Script {
    let mut steps = vec![Step::Say(
        "I am enki's simulated agent (enki sim-agent). No script was selected for this \
         prompt, so I only look at the project and end the turn."
            .to_string(),
    )];
    if has_enki_server {
        steps.push(Step::Tool {
            name: "enki_status".to_string(),
            server: "enki".to_string(),
            args: serde_json::Map::new(),
            allow_error: true,
        });
    }
    steps.push(Step::Say("Done.".to_string()));
    Script {
        source: "built-in".to_string(),
        turns: vec![Turn { steps }],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir_with(files: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for f in files {
            std::fs::write(dir.path().join(f), "[[turn]]\nsteps = []\n").unwrap();
        }
        dir
    }

    fn sources(dir: &tempfile::TempDir, script: Option<&str>) -> Sources {
        Sources {
            script: script.map(PathBuf::from),
            scripts_dir: Some(dir.path().to_path_buf()),
        }
    }

    #[test]
    fn markers_are_found_anywhere() {
        assert_eq!(marker("do it [[sim:alpha]] now"), Some("alpha"));
        assert_eq!(marker("[[sim: beta ]]"), Some("beta"));
        assert_eq!(marker("[[sim:a]] and [[sim:b]]"), Some("a"));
        assert_eq!(marker("no marker [[sim:unclosed"), None);
        assert_eq!(marker("[[other:x]]"), None);
        assert_eq!(marker(""), None);
    }

    #[test]
    fn roles_are_read_from_server_args() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            role_from_args(&args(&["mcp", "--role", "worker", "--task-id", "t"])),
            Some("worker".to_string())
        );
        assert_eq!(
            role_from_args(&args(&["mcp", "--role=merger"])),
            Some("merger".to_string())
        );
        assert_eq!(role_from_args(&args(&["mcp", "--role"])), None);
        assert_eq!(role_from_args(&args(&["mcp"])), None);
    }

    #[test]
    fn marker_wins_over_role_and_file() {
        let dir = dir_with(&["alpha.toml", "worker.toml", "beta.json"]);
        let s = sources(&dir, Some("/x/default.toml"));
        assert_eq!(
            choose("go [[sim:alpha]]", Some("worker"), &s).unwrap(),
            Choice::Marker {
                name: "alpha".to_string(),
                path: dir.path().join("alpha.toml")
            }
        );
        assert_eq!(
            choose("go [[sim:beta]]", None, &s).unwrap().path(),
            Some(dir.path().join("beta.json").as_path())
        );
        assert_eq!(
            choose("go [[sim:beta.json]]", None, &s).unwrap().path(),
            Some(dir.path().join("beta.json").as_path())
        );
    }

    #[test]
    fn missing_or_bad_markers_are_clear_errors() {
        let dir = dir_with(&["worker.toml"]);
        let s = sources(&dir, None);
        let err = choose("[[sim:ghost]]", Some("worker"), &s).unwrap_err();
        assert!(err.contains("ghost.toml"), "{err}");
        assert!(err.contains(&dir.path().display().to_string()), "{err}");
        let err = choose("[[sim:../etc/passwd]]", None, &s).unwrap_err();
        assert!(err.contains("not a valid script name"), "{err}");
        let err = choose("[[sim:x]]", None, &Sources::default()).unwrap_err();
        assert!(err.contains("--scripts-dir"), "{err}");
    }

    #[test]
    fn role_then_file_then_builtin() {
        let dir = dir_with(&["worker.toml"]);
        let s = sources(&dir, Some("/x/default.toml"));
        assert_eq!(
            choose("hello", Some("worker"), &s).unwrap(),
            Choice::Role {
                role: "worker".to_string(),
                path: dir.path().join("worker.toml")
            }
        );
        // No planner.toml: fall through to --script.
        assert_eq!(
            choose("hello", Some("planner"), &s).unwrap(),
            Choice::File(PathBuf::from("/x/default.toml"))
        );
        assert_eq!(
            choose("hello", None, &s).unwrap(),
            Choice::File(PathBuf::from("/x/default.toml"))
        );
        assert_eq!(
            choose("hello", Some("worker"), &sources(&dir_with(&[]), None)).unwrap(),
            Choice::Builtin
        );
        assert_eq!(
            choose("hello", Some("worker"), &Sources::default()).unwrap(),
            Choice::Builtin
        );
        // A role that is not a plain name never reaches the file system.
        assert_eq!(
            choose("hello", Some("../worker"), &sources(&dir, None)).unwrap(),
            Choice::Builtin
        );
    }

    #[test]
    fn builtin_calls_status_only_with_an_enki_server() {
        let with = builtin(true);
        assert!(with.turn(0).steps.iter().any(
            |s| matches!(s, Step::Tool { name, allow_error: true, .. } if name == "enki_status")
        ));
        let without = builtin(false);
        assert!(
            !without
                .turn(0)
                .steps
                .iter()
                .any(|s| matches!(s, Step::Tool { .. }))
        );
        assert!(matches!(&without.turn(5).steps[0], Step::Say(t) if t.contains("sim-agent")));
    }
}
