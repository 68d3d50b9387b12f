//! Parsing shortcuts shared by the script unit tests.

use std::path::Path;

use super::{Format, Script, ScriptError, parse};

pub(super) fn toml(text: &str) -> Result<Script, ScriptError> {
    parse(text, Format::Toml, Path::new("s.toml"))
}

pub(super) fn json_script(text: &str) -> Result<Script, ScriptError> {
    parse(text, Format::Json, Path::new("s.json"))
}

/// The error's message, line and step.
pub(super) fn invalid(
    result: Result<Script, ScriptError>,
) -> (String, Option<usize>, Option<String>) {
    match result {
        Err(e @ ScriptError::Invalid { .. }) => {
            let text = e.to_string();
            let ScriptError::Invalid { line, at, .. } = e else {
                unreachable!()
            };
            (text, line, at)
        }
        other => panic!("expected an invalid script, got {other:?}"),
    }
}
