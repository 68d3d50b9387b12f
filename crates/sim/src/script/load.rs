//! Turning a script file or text into a [`Script`]: the format by extension,
//! the syntax by `toml` / `serde_json`, and errors that name file and line.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::Script;
use super::jsonloc;
use super::locations::from_toml;
use super::validate::turns_of;

/// Why a script could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ScriptError {
    #[error("cannot read script {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}", invalid_text(path, *line, at.as_deref(), message))]
    Invalid {
        path: PathBuf,
        /// 1-based line, when known.
        line: Option<usize>,
        /// `turn 1, step 2` (1-based) when the problem is inside a step.
        at: Option<String>,
        message: String,
    },
}

fn invalid_text(path: &Path, line: Option<usize>, at: Option<&str>, message: &str) -> String {
    let mut text = path.display().to_string();
    if let Some(line) = line {
        text.push_str(&format!(":{line}"));
    }
    text.push_str(": ");
    if let Some(at) = at {
        text.push_str(at);
        text.push_str(": ");
    }
    text.push_str(message);
    text
}

/// The file formats a script can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Toml,
    Json,
}

impl Format {
    /// The format named by a path's extension (`.toml`, `.json`).
    pub fn of(path: &Path) -> Option<Format> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "toml" => Some(Format::Toml),
            "json" => Some(Format::Json),
            _ => None,
        }
    }
}

/// Reads and validates the script at `path` (format by extension).
pub fn load(path: &Path) -> Result<Script, ScriptError> {
    let Some(format) = Format::of(path) else {
        return Err(ScriptError::Invalid {
            path: path.to_path_buf(),
            line: None,
            at: None,
            message: "a script file must end in .toml or .json".to_string(),
        });
    };
    let text = std::fs::read_to_string(path).map_err(|source| ScriptError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&text, format, path)
}

/// Parses and validates script text; `path` is only used in messages.
pub fn parse(text: &str, format: Format, path: &Path) -> Result<Script, ScriptError> {
    let invalid =
        |offset: Option<usize>, at: Option<String>, message: String| ScriptError::Invalid {
            path: path.to_path_buf(),
            line: offset.map(|o| line_of(text, o)),
            at,
            message,
        };
    let (value, loc) = match format {
        Format::Toml => from_toml(text).map_err(|(offset, msg)| invalid(offset, None, msg))?,
        Format::Json => match serde_json::from_str::<Value>(text) {
            Ok(value) => {
                let loc = jsonloc::scan(text).unwrap_or_default();
                (value, loc)
            }
            Err(e) => {
                return Err(ScriptError::Invalid {
                    path: path.to_path_buf(),
                    line: Some(e.line()).filter(|l| *l > 0),
                    at: None,
                    message: format!("invalid JSON: {e}"),
                });
            }
        },
    };
    let turns = turns_of(&value, &loc).map_err(|p| invalid(p.offset, p.at, p.message))?;
    Ok(Script {
        source: path.display().to_string(),
        turns,
    })
}

/// 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::script::test_support::{invalid, json_script, toml};
    use crate::script::{Step, StopReason};

    #[test]
    fn syntax_errors_have_lines() {
        let (text, line, _) = invalid(toml("[[turn]]\nsteps = [\n  { say = \"a\" \n"));
        assert!(line.is_some(), "{text}");
        assert!(text.starts_with("s.toml:"), "{text}");
        let (text, line, _) = invalid(json_script("{\n\"turn\": [\n}\n"));
        assert_eq!(line, Some(3), "{text}");
        assert!(text.contains("invalid JSON"), "{text}");
    }

    #[test]
    fn load_reads_files_and_names_missing_ones() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.toml");
        let err = load(&missing).unwrap_err();
        assert!(matches!(err, ScriptError::Read { .. }));
        assert!(err.to_string().contains("missing.toml"), "{err}");

        let bad_ext = dir.path().join("script.yaml");
        std::fs::write(&bad_ext, "").unwrap();
        assert!(
            load(&bad_ext)
                .unwrap_err()
                .to_string()
                .contains(".toml or .json")
        );

        let path = dir.path().join("s.JSON");
        std::fs::write(&path, r#"{"turn": [{"steps": [{"stop": "refusal"}]}]}"#).unwrap();
        let script = load(&path).unwrap();
        assert_eq!(script.turns[0].steps, [Step::Stop(StopReason::Refusal)]);
        assert_eq!(script.source, path.display().to_string());
    }
}
