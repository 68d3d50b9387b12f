//! Traffic and audit logs. Logging never writes to stdout and never fails a
//! request: a log that cannot be written is reported once on stderr.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;

use serde_json::{Value, json};

use crate::roles::McpRole;

/// Longest string value kept in an audit line.
const AUDIT_VALUE_LIMIT: usize = 200;

fn now() -> String {
    enki_store::now_rfc3339()
}

fn open_append(path: &Path) -> std::io::Result<File> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    OpenOptions::new().create(true).append(true).open(path)
}

/// A file name part made of safe characters only.
fn sanitize(part: &str) -> String {
    part.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The per-process JSON-lines log of every message in and out.
pub struct TrafficLog {
    file: Option<File>,
}

impl TrafficLog {
    pub fn disabled() -> TrafficLog {
        TrafficLog { file: None }
    }

    /// Opens `<logs>/mcp/<session>-<role>[-<task>].jsonl` for appending.
    pub fn open(
        mcp_logs: &Path,
        session: Option<&str>,
        role: McpRole,
        task: Option<&str>,
    ) -> TrafficLog {
        let mut name = format!("{}-{}", sanitize(session.unwrap_or("nosession")), role);
        if let Some(task) = task {
            name.push('-');
            name.push_str(&sanitize(task));
        }
        name.push_str(".jsonl");
        let path = mcp_logs.join(name);
        match open_append(&path) {
            Ok(file) => TrafficLog { file: Some(file) },
            Err(e) => {
                tracing::warn!("traffic log {} unavailable: {e}", path.display());
                TrafficLog::disabled()
            }
        }
    }

    /// Records one line. A line that is valid JSON is embedded as is;
    /// anything else is logged as a (shortened) string.
    pub fn record(&mut self, direction: &str, line: &[u8]) {
        if self.file.is_none() {
            return;
        }
        let trimmed = line.strip_suffix(b"\n").unwrap_or(line);
        let trimmed = trimmed.strip_suffix(b"\r").unwrap_or(trimmed);
        let is_json = serde_json::from_slice::<serde::de::IgnoredAny>(trimmed).is_ok();
        let message = match std::str::from_utf8(trimmed) {
            Ok(text) if is_json => text.to_string(),
            _ => Value::String(
                String::from_utf8_lossy(trimmed)
                    .chars()
                    .take(4096)
                    .collect(),
            )
            .to_string(),
        };
        self.write_entry(direction, &message);
    }

    fn write_entry(&mut self, direction: &str, message_json: &str) {
        let Some(file) = &mut self.file else {
            return;
        };
        // One write per entry keeps lines whole when several processes append.
        let entry = format!(
            "{{\"at\":\"{}\",\"dir\":{},\"msg\":{message_json}}}\n",
            now(),
            Value::String(direction.to_string())
        );
        if file.write_all(entry.as_bytes()).is_err() {
            self.file = None;
        }
    }
}

/// Outcome of one tool call for the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    ToolError,
    /// Not run: a tool this role may not use, an unknown tool, or a call
    /// without a usable `name`.
    Refused,
    /// The handler failed inside enki (answered with -32603).
    InternalError,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::ToolError => "tool error",
            Outcome::Refused => "refused",
            Outcome::InternalError => "internal error",
        }
    }
}

/// Copies a value with long strings cut, so audit lines stay small.
pub fn truncate_values(value: &Value) -> Value {
    match value {
        Value::String(s) if s.chars().count() > AUDIT_VALUE_LIMIT => {
            let cut: String = s.chars().take(AUDIT_VALUE_LIMIT).collect();
            Value::String(format!("{cut}… ({} chars)", s.chars().count()))
        }
        Value::Array(items) => Value::Array(items.iter().map(truncate_values).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), truncate_values(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Appends one line to `.enki/logs/audit.jsonl`.
pub struct AuditEntry<'a> {
    pub session: Option<&'a str>,
    pub role: McpRole,
    pub task: Option<&'a str>,
    /// `None` when the call named no tool (or not as a string).
    pub tool: Option<&'a str>,
    pub arguments: &'a Value,
    pub outcome: Outcome,
    pub detail: Option<&'a str>,
}

pub fn audit(path: &Path, entry: &AuditEntry<'_>) {
    let line = json!({
        "at": now(),
        "session": entry.session,
        "role": entry.role.as_str(),
        "task": entry.task,
        "tool": entry.tool,
        "arguments": truncate_values(entry.arguments),
        "outcome": entry.outcome.as_str(),
        "detail": entry.detail.map(|d| d.chars().take(AUDIT_VALUE_LIMIT).collect::<String>()),
    });
    let result = open_append(path).and_then(|mut f| f.write_all(format!("{line}\n").as_bytes()));
    if let Err(e) = result {
        tracing::warn!("audit log {} unavailable: {e}", path.display());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_values_are_truncated_everywhere() {
        let long = "x".repeat(1000);
        let value = json!({"a": long, "b": [long], "c": 1});
        let cut = truncate_values(&value);
        let a = cut["a"].as_str().unwrap();
        assert!(a.len() < 300 && a.ends_with("(1000 chars)"), "{a}");
        assert_eq!(cut["b"][0], cut["a"]);
        assert_eq!(cut["c"], 1);
    }

    #[test]
    fn log_names_are_sanitized() {
        assert_eq!(sanitize("sess-01/../x"), "sess-01____x");
    }
}
