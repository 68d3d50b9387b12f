//! The one error type of this crate: a configuration file that cannot be used.

use std::fmt;
use std::path::PathBuf;

use thiserror::Error;

/// A configuration file that could not be read, parsed or validated.
///
/// Displayed as ``<file>:<line>: `<key>`: <message>``, leaving out the
/// parts that are `None`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub struct ConfigError {
    /// The file, as it was given to the loader.
    pub file: PathBuf,
    /// 1-based line of the offending text, when known.
    pub line: Option<usize>,
    /// Dotted key path, e.g. `agent.worker.comand`, when known.
    pub key: Option<String>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(key) = &self.key {
            write!(f, ": `{key}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_leaves_out_missing_parts() {
        let mut err = ConfigError {
            file: PathBuf::from("/p/.enki/enki.toml"),
            line: Some(3),
            key: Some("agent.worker.comand".into()),
            message: "unknown field".into(),
        };
        assert_eq!(
            err.to_string(),
            "/p/.enki/enki.toml:3: `agent.worker.comand`: unknown field"
        );
        err.key = None;
        assert_eq!(err.to_string(), "/p/.enki/enki.toml:3: unknown field");
        err.line = None;
        err.key = Some("git".into());
        assert_eq!(err.to_string(), "/p/.enki/enki.toml: `git`: unknown field");
        err.key = None;
        assert_eq!(err.to_string(), "/p/.enki/enki.toml: unknown field");
    }
}
