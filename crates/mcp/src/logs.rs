//! Traffic and audit logs. Logging never writes to stdout and never fails a
//! request: a log that cannot be written is reported once and left alone.
//! Both keep no secret ([`crate::redact`]); traffic logs are rotated by size.

use std::cell::RefCell;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;

use enki_log::RotatingFile;
use serde_json::{Value, json};

use crate::redact::{scrub, scrubbed_json};
use crate::roles::McpRole;

/// Longest string value kept in an audit line.
const AUDIT_VALUE_LIMIT: usize = 200;
/// A traffic log entry bigger than this keeps its strings cut to
/// [`LONG_ENTRY_VALUE_LIMIT`] characters …
pub(crate) const ENTRY_LIMIT: usize = 64 * 1024;
const LONG_ENTRY_VALUE_LIMIT: usize = 4096;
/// … and how many older traffic log files are kept.
const TRAFFIC_KEEP: usize = 3;

fn now() -> String {
    enki_store::now_rfc3339()
}

fn open_append(path: &Path) -> std::io::Result<std::fs::File> {
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

/// The per-process JSON-lines log of every message in and out, rotated when
/// it reaches its size cap (`<name>.jsonl.1` … `.3` are the older files).
pub struct TrafficLog {
    file: Option<RotatingFile>,
}

impl TrafficLog {
    pub fn disabled() -> TrafficLog {
        TrafficLog { file: None }
    }

    /// Opens `<logs>/mcp/<session>-<role>[-<task>].jsonl` for appending,
    /// rotated at `max_bytes`.
    pub fn open(
        mcp_logs: &Path,
        session: Option<&str>,
        role: McpRole,
        task: Option<&str>,
        max_bytes: u64,
    ) -> TrafficLog {
        let mut name = format!("{}-{}", sanitize(session.unwrap_or("nosession")), role);
        if let Some(task) = task {
            name.push('-');
            name.push_str(&sanitize(task));
        }
        name.push_str(".jsonl");
        let path = mcp_logs.join(name);
        match RotatingFile::open(&path, max_bytes, TRAFFIC_KEEP) {
            Ok(file) => TrafficLog { file: Some(file) },
            Err(e) => {
                tracing::warn!("traffic log {} unavailable: {e}", path.display());
                TrafficLog::disabled()
            }
        }
    }

    /// Records one line. A line that is JSON is embedded without its
    /// secrets (and with its strings cut when it is big); anything else is
    /// logged as a (shortened) string.
    pub fn record(&mut self, direction: &str, line: &[u8]) {
        if self.file.is_none() {
            return;
        }
        let trimmed = line.strip_suffix(b"\n").unwrap_or(line);
        let trimmed = trimmed.strip_suffix(b"\r").unwrap_or(trimmed);
        let message = match serde_json::from_slice::<Value>(trimmed) {
            Ok(value) => loggable(&value, trimmed.len()),
            Err(_) => Value::String(
                String::from_utf8_lossy(trimmed)
                    .chars()
                    .take(LONG_ENTRY_VALUE_LIMIT)
                    .collect(),
            )
            .to_string(),
        };
        self.write_entry(direction, &message);
    }

    /// Records a line of JSON known to hold no secret and to be shorter than
    /// a long entry (the encoded tool list: `tools::tests` checks both), as
    /// it is: without the parse and scrub of [`TrafficLog::record`].
    pub fn record_clean(&mut self, direction: &str, line: &str) {
        self.write_entry(direction, line.trim_end());
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
        if let Err(e) = file.write_all(entry.as_bytes()) {
            tracing::warn!("the traffic log stops here: {e}");
            self.file = None;
        }
    }
}

/// The JSON text a traffic log keeps of a message of `len` bytes.
fn loggable(message: &Value, len: usize) -> String {
    if len <= ENTRY_LIMIT {
        return scrubbed_json(message, None);
    }
    let cut = scrubbed_json(message, Some(LONG_ENTRY_VALUE_LIMIT));
    if cut.len() <= ENTRY_LIMIT {
        cut
    } else {
        json!({"omitted": format!("a message of {len} bytes with too many parts to log")})
            .to_string()
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

/// One line of `.enki/logs/audit.jsonl`.
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

/// `.enki/logs/audit.jsonl`, opened at the first entry and kept open (a
/// session audits every tool call), appended to one line per write so that
/// lines stay whole when several processes append.
#[derive(Default)]
pub struct AuditLog {
    file: RefCell<Option<File>>,
}

impl AuditLog {
    /// Appends one entry to the file at `path` (the project's audit log). A
    /// file that cannot be opened or written is reported and tried again at
    /// the next entry.
    pub fn append(&self, path: &Path, entry: &AuditEntry<'_>) {
        let line = json!({
            "at": now(),
            "session": entry.session,
            "role": entry.role.as_str(),
            "task": entry.task,
            "tool": entry.tool,
            "arguments": scrub(entry.arguments, Some(AUDIT_VALUE_LIMIT)),
            "outcome": entry.outcome.as_str(),
            "detail": entry.detail.map(|d| d.chars().take(AUDIT_VALUE_LIMIT).collect::<String>()),
        });
        let mut file = self.file.borrow_mut();
        let opened = match file.take() {
            Some(open) => Ok(open),
            None => open_append(path),
        };
        let written = opened.and_then(|mut f| {
            f.write_all(format!("{line}\n").as_bytes())?;
            Ok(f)
        });
        match written {
            Ok(open) => *file = Some(open),
            Err(e) => tracing::warn!("audit log {} unavailable: {e}", path.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(path: &Path) -> Vec<Value> {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("one JSON entry per line"))
            .collect()
    }

    #[test]
    fn the_traffic_log_rotates_at_its_cap_and_keeps_three_older_files() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = TrafficLog::open(dir.path(), Some("s"), McpRole::Planner, None, 1024);
        let line = format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"ping","params":{{"pad":"{}"}}}}"#,
            "p".repeat(300)
        );
        for _ in 0..40 {
            log.record("in", line.as_bytes());
        }
        let path = dir.path().join("s-planner.jsonl");
        let mut total = 0;
        for name in [
            "s-planner.jsonl",
            "s-planner.jsonl.1",
            "s-planner.jsonl.2",
            "s-planner.jsonl.3",
        ] {
            let file = dir.path().join(name);
            let len = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
            assert!(len < 1024 + 500, "{name}: {len} bytes");
            total += len;
        }
        assert!(!dir.path().join("s-planner.jsonl.4").exists());
        assert!(total < 4 * 1500, "{total}");
        assert!(entries(&path).iter().all(|e| e["msg"]["method"] == "ping"));
    }

    #[test]
    fn the_traffic_log_keeps_no_secret_and_cuts_huge_messages() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = TrafficLog::open(dir.path(), None, McpRole::Worker, Some("task-1"), 1 << 20);
        log.record(
            "in",
            br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","arguments":{"Api_Token":"s3cr3t","title":"t"}}}"#,
        );
        let huge = format!(
            r#"{{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{{"arguments":{{"body":"{}","password":"pw"}}}}}}"#,
            "b".repeat(200_000)
        );
        log.record("in", huge.as_bytes());
        log.record("in", b"not json at all");
        let lines = entries(&dir.path().join("nosession-worker-task-1.jsonl"));
        assert_eq!(lines.len(), 3);
        let text =
            std::fs::read_to_string(dir.path().join("nosession-worker-task-1.jsonl")).unwrap();
        assert!(
            !text.contains("s3cr3t") && !text.contains("\"pw\""),
            "{text}"
        );
        assert_eq!(lines[0]["msg"]["params"]["arguments"]["title"], "t");
        let body = lines[1]["msg"]["params"]["arguments"]["body"]
            .as_str()
            .unwrap();
        assert!(
            body.ends_with("(200000 chars)") && body.len() < 5000,
            "{}",
            body.len()
        );
        assert_eq!(lines[2]["msg"], "not json at all");
    }

    #[test]
    fn log_names_are_sanitized() {
        assert_eq!(sanitize("sess-01/../x"), "sess-01____x");
    }
}
