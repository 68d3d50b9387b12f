//! The one error type of the ACP client, with messages meant for a human.
//!
//! A message shows the agent's last stderr lines only when the failure is
//! the process's own (it exited or crashed, did not answer while starting,
//! wrote something that is not ACP): then they usually say why. Errors that
//! are enki's decision (a turn's time limit) or a protocol answer (an RPC
//! error, which brings its own message) leave them out; every error value
//! still keeps the whole tail. Lines that say nothing (blank, progress bars
//! and spinners) are never shown.

use std::io;
use std::process::ExitStatus;
use std::time::Duration;

/// How many stderr lines an error message shows (the error value keeps the
/// whole tail).
const SHOWN_TAIL_LINES: usize = 5;
/// Longest stderr line shown in an error message, in characters.
const SHOWN_LINE_CHARS: usize = 300;

/// Everything that can go wrong while driving an agent.
#[derive(Debug, thiserror::Error)]
pub enum AcpError {
    /// The agent program could not be started.
    #[error("{}", spawn_message(program, source))]
    Spawn {
        program: String,
        #[source]
        source: io::Error,
    },
    /// The agent's sandbox could not be built (before anything started).
    #[error("cannot sandbox agent `{program}`: {reason}")]
    Sandbox { program: String, reason: String },
    /// The agent did not answer a request within the request timeout.
    #[error(
        "agent did not answer `{method}` within {after:?}{}{}",
        problems_suffix(protocol_errors),
        tail_suffix(stderr_tail)
    )]
    Timeout {
        method: String,
        after: Duration,
        stderr_tail: Vec<String>,
        /// The last protocol problems seen on the agent's stdout (e.g.
        /// "stdout was not ACP: `Loading…`"), oldest first.
        protocol_errors: Vec<String>,
    },
    /// The agent wrote lines that are not JSON-RPC and nothing valid, for a
    /// while, in answer to the first request: whatever it is, it is not
    /// speaking ACP on its stdout.
    #[error(
        "agent did not answer `{method}`: its stdout is not ACP (it wrote `{line}` and no JSON-RPC message within {after:?}; an ACP agent's stdout carries only protocol){}",
        tail_suffix(stderr_tail)
    )]
    NotAcp {
        method: String,
        /// The last non-protocol line (shortened).
        line: String,
        after: Duration,
        stderr_tail: Vec<String>,
    },
    /// A turn given a time limit ([`crate::AcpClient::prompt_within`]) did
    /// not end in time; `session/cancel` was sent. enki's decision: the
    /// message has no stderr.
    #[error(
        "agent did not finish the turn within {after:?}; enki sent session/cancel and {}",
        if *stopped { "the agent stopped" } else { "the agent did not end the turn within the grace period" },
    )]
    TurnTimeout {
        after: Duration,
        /// Whether the agent ended the turn after the cancel.
        stopped: bool,
        stderr_tail: Vec<String>,
    },
    /// The agent process exited (or was killed) before answering.
    #[error("agent exited ({}){}", describe_status(*status), tail_suffix(stderr_tail))]
    Exited {
        /// `None` when the exit status could not be collected.
        status: Option<ExitStatus>,
        stderr_tail: Vec<String>,
    },
    /// The agent answered a request with a JSON-RPC error: its message
    /// says what went wrong, so the message has no stderr.
    #[error("agent answered `{method}` with error {code}: {message}")]
    Rpc {
        method: String,
        code: i64,
        message: String,
        /// The error's `data`, when it had one (adapters put the real
        /// reason there: codex-acp's `codex_error_info`, the TypeScript
        /// SDK's `details`).
        data: Option<serde_json::Value>,
        /// The agent's stderr when the error arrived.
        stderr_tail: Vec<String>,
    },
    /// The agent answered with something that does not follow ACP.
    #[error("agent protocol error: {message}{}", optional_tail_suffix(stderr_tail))]
    Protocol {
        message: String,
        stderr_tail: Vec<String>,
    },
    /// Any other I/O failure (including invalid arguments given to the client).
    #[error("agent I/O error: {0}")]
    Io(#[from] io::Error),
}

impl AcpError {
    /// The agent's stderr tail carried by the error (empty for `Spawn`,
    /// `Sandbox` and `Io`).
    pub fn stderr_tail(&self) -> &[String] {
        match self {
            AcpError::Timeout { stderr_tail, .. }
            | AcpError::NotAcp { stderr_tail, .. }
            | AcpError::TurnTimeout { stderr_tail, .. }
            | AcpError::Exited { stderr_tail, .. }
            | AcpError::Rpc { stderr_tail, .. }
            | AcpError::Protocol { stderr_tail, .. } => stderr_tail,
            AcpError::Spawn { .. } | AcpError::Sandbox { .. } | AcpError::Io(_) => &[],
        }
    }

    /// The limit of the agent's account this error reports (a rate limit,
    /// an overloaded API, a usage quota; [`enki_core::limits::classify`]),
    /// at `now_ms` (Unix milliseconds). Only an agent's answer can.
    pub fn limit(&self, now_ms: u64) -> Option<enki_core::limits::AgentLimit> {
        match self {
            AcpError::Rpc {
                code,
                message,
                data,
                ..
            } => enki_core::limits::classify(*code, message, data.as_ref(), now_ms),
            _ => None,
        }
    }

    /// An error code the agent gave for "authenticate first": `-32000`
    /// (ACP's `auth_required`), or a message that says so.
    pub fn is_auth_required(&self) -> bool {
        match self {
            AcpError::Rpc { code, message, .. } => {
                *code == AUTH_REQUIRED || {
                    let message = message.to_ascii_lowercase();
                    message.contains("auth") && message.contains("required")
                }
            }
            _ => false,
        }
    }
}

/// ACP's error code for "authentication required".
pub const AUTH_REQUIRED: i64 = -32000;

fn spawn_message(program: &str, source: &io::Error) -> String {
    match source.kind() {
        io::ErrorKind::NotFound if program.contains('/') => {
            format!("cannot start agent `{program}`: no such file")
        }
        io::ErrorKind::NotFound => format!("cannot start agent `{program}`: not found on PATH"),
        io::ErrorKind::PermissionDenied => {
            format!("cannot start agent `{program}`: permission denied (is it executable?)")
        }
        _ => format!("cannot start agent `{program}`: {source}"),
    }
}

/// "status 3", "killed by signal 9 (SIGKILL)", "status unknown".
pub fn describe_status(status: Option<ExitStatus>) -> String {
    use std::os::unix::process::ExitStatusExt;
    let Some(status) = status else {
        return "status unknown".to_owned();
    };
    if let Some(code) = status.code() {
        return format!("status {code}");
    }
    match status.signal() {
        Some(signal) => match signal_name(signal) {
            Some(name) => format!("killed by signal {signal} ({name})"),
            None => format!("killed by signal {signal}"),
        },
        None => format!("{status}"),
    }
}

fn signal_name(signal: i32) -> Option<&'static str> {
    Some(match signal {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGTERM => "SIGTERM",
        _ => return None,
    })
}

/// "; a; b" with the protocol problems, or nothing.
fn problems_suffix(problems: &[String]) -> String {
    problems.iter().map(|p| format!("; {p}")).collect()
}

/// Like [`tail_suffix`], but nothing at all when the agent wrote nothing
/// telling.
fn optional_tail_suffix(tail: &[String]) -> String {
    if telling_stderr(tail).is_empty() {
        String::new()
    } else {
        tail_suffix(tail)
    }
}

/// The lines of a stderr tail that can explain something: each as it
/// was last drawn (after its last carriage return, without terminal
/// escapes), leaving out blank lines, progress bars and spinners.
pub fn telling_stderr(tail: &[String]) -> Vec<String> {
    tail.iter()
        .map(|line| {
            let drawn = line.rsplit('\r').find(|part| !part.trim().is_empty());
            without_escapes(drawn.unwrap_or("")).trim().to_owned()
        })
        .filter(|line| !line.is_empty() && !is_progress(line))
        .collect()
}

/// `line` without ANSI escape sequences (colours, cursor moves).
fn without_escapes(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            out.push(c);
            continue;
        }
        // CSI (`ESC [ ... final`) up to its final byte; other escapes are
        // two characters.
        if chars.next_if_eq(&'[').is_some() {
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) {
                    break;
                }
            }
        } else {
            chars.next();
        }
    }
    out
}

/// A progress bar or spinner: mostly bar, block or braille-spinner
/// characters, or a bare percentage.
fn is_progress(line: &str) -> bool {
    let is_bar = |c: char| {
        matches!(
            c,
            '█' | '▉'
                | '▊'
                | '▋'
                | '▌'
                | '▍'
                | '▎'
                | '▏'
                | '▓'
                | '▒'
                | '░'
                | '━'
                | '─'
                | '═'
                | '■'
                | '□'
                | '#'
                | '='
                | '>'
                | '|'
                | '['
                | ']'
                | '-'
                | '.'
                | '%'
                | '/'
                | '\\'
        ) || ('\u{2800}'..='\u{28ff}').contains(&c)
            || c.is_ascii_digit()
    };
    let visible: Vec<char> = line.chars().filter(|c| !c.is_whitespace()).collect();
    let bars = visible.iter().filter(|c| is_bar(**c)).count();
    // Words alongside ("Downloading 45%") are allowed as long as the bar
    // characters dominate; a line of words is never progress.
    bars * 4 >= visible.len() * 3
}

/// "; stderr: a | b" with the last few telling lines, or "; no stderr
/// output".
fn tail_suffix(tail: &[String]) -> String {
    let lines = telling_stderr(tail);
    if lines.is_empty() {
        return "; no stderr output".to_owned();
    }
    let shown = &lines[lines.len().saturating_sub(SHOWN_TAIL_LINES)..];
    let shown: Vec<String> = shown
        .iter()
        .map(|l| {
            if l.chars().count() > SHOWN_LINE_CHARS {
                let cut: String = l.chars().take(SHOWN_LINE_CHARS).collect();
                format!("{cut}…")
            } else {
                (*l).to_owned()
            }
        })
        .collect();
    format!("; stderr: {}", shown.join(" | "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    #[test]
    fn spawn_not_found_says_path() {
        let e = AcpError::Spawn {
            program: "claude-agent-acp".into(),
            source: io::ErrorKind::NotFound.into(),
        };
        assert_eq!(
            e.to_string(),
            "cannot start agent `claude-agent-acp`: not found on PATH"
        );
        let e = AcpError::Spawn {
            program: "/opt/x/agent".into(),
            source: io::ErrorKind::NotFound.into(),
        };
        assert_eq!(
            e.to_string(),
            "cannot start agent `/opt/x/agent`: no such file"
        );
    }

    #[test]
    fn exited_shows_status_and_last_lines() {
        let tail: Vec<String> = (1..=8).map(|i| format!("line {i}")).collect();
        let e = AcpError::Exited {
            status: Some(ExitStatus::from_raw(3 << 8)),
            stderr_tail: tail,
        };
        assert_eq!(
            e.to_string(),
            "agent exited (status 3); stderr: line 4 | line 5 | line 6 | line 7 | line 8"
        );
        assert_eq!(e.stderr_tail().len(), 8);
        let e = AcpError::Exited {
            status: Some(ExitStatus::from_raw(9)),
            stderr_tail: vec![],
        };
        assert_eq!(
            e.to_string(),
            "agent exited (killed by signal 9 (SIGKILL)); no stderr output"
        );
        let e = AcpError::Exited {
            status: None,
            stderr_tail: vec![String::new(), "x".repeat(400)],
        };
        let text = e.to_string();
        assert!(text.starts_with("agent exited (status unknown); stderr: xxx"));
        assert!(text.ends_with("x…"), "{text}");
    }

    #[test]
    fn timeout_names_method_and_duration() {
        let e = AcpError::Timeout {
            method: "initialize".into(),
            after: Duration::from_millis(200),
            stderr_tail: vec!["waiting".into()],
            protocol_errors: vec![],
        };
        assert_eq!(
            e.to_string(),
            "agent did not answer `initialize` within 200ms; stderr: waiting"
        );
        let e = AcpError::Timeout {
            method: "initialize".into(),
            after: Duration::from_secs(30),
            stderr_tail: vec![],
            protocol_errors: vec!["stdout was not ACP: `this is not json`".into()],
        };
        assert_eq!(
            e.to_string(),
            "agent did not answer `initialize` within 30s; stdout was not ACP: `this is not json`; no stderr output"
        );
    }

    #[test]
    fn rpc_and_protocol_errors_carry_the_stderr_tail() {
        let e = AcpError::Rpc {
            method: "session/new".into(),
            code: -32000,
            message: "Authentication required".into(),
            data: None,
            stderr_tail: vec!["token expired".into()],
        };
        // The agent's answer says what is wrong; its stderr stays in the value.
        assert_eq!(
            e.to_string(),
            "agent answered `session/new` with error -32000: Authentication required"
        );
        assert_eq!(e.stderr_tail(), ["token expired"]);
        assert!(e.is_auth_required());
        // No stderr: nothing is added.
        let e = AcpError::Rpc {
            method: "session/prompt".into(),
            code: -32603,
            message: "boom".into(),
            data: None,
            stderr_tail: vec![],
        };
        assert_eq!(
            e.to_string(),
            "agent answered `session/prompt` with error -32603: boom"
        );
        assert!(!e.is_auth_required());
        assert_eq!(e.limit(0), None);
        // A limit is read from the message and from `data` alike.
        let e = AcpError::Rpc {
            method: "session/prompt".into(),
            code: -32603,
            message: "Internal error".into(),
            data: Some(
                serde_json::json!({"message": "You've hit your usage limit.", "codex_error_info": "usage_limit_exceeded"}),
            ),
            stderr_tail: vec![],
        };
        let limit = e.limit(0).unwrap();
        assert_eq!(limit.kind, enki_core::limits::LimitKind::Quota);
        assert_eq!(limit.message, "You've hit your usage limit.");
        let e = AcpError::Protocol {
            message: "agent speaks ACP protocol version 2; enki speaks 1".into(),
            stderr_tail: vec!["v2 agent".into()],
        };
        assert_eq!(
            e.to_string(),
            "agent protocol error: agent speaks ACP protocol version 2; enki speaks 1; stderr: v2 agent"
        );
        let e = AcpError::NotAcp {
            method: "initialize".into(),
            line: "this is not json".into(),
            after: Duration::from_secs(5),
            stderr_tail: vec!["starting up".into()],
        };
        assert_eq!(
            e.to_string(),
            "agent did not answer `initialize`: its stdout is not ACP (it wrote `this is not json` and no JSON-RPC message within 5s; an ACP agent's stdout carries only protocol); stderr: starting up"
        );
        assert_eq!(e.stderr_tail(), ["starting up"]);
        let e = AcpError::TurnTimeout {
            after: Duration::from_secs(2),
            stopped: false,
            stderr_tail: vec!["prompt received".into()],
        };
        assert_eq!(
            e.to_string(),
            "agent did not finish the turn within 2s; enki sent session/cancel and the agent did not end the turn within the grace period"
        );
        assert_eq!(e.stderr_tail(), ["prompt received"]);
    }

    #[test]
    fn blank_lines_progress_bars_and_escapes_are_never_shown() {
        let tail: Vec<String> = [
            "Error: cannot reach api.example.com",
            "",
            "   ",
            "\u{1b}[31mfatal:\u{1b}[0m model unavailable",
            "Downloading  12%\rDownloading  57%\r",
            "[=====>      ] 45%",
            "██████████░░░░░░ 63%",
            "⠋⠙⠹",
            "45%",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            telling_stderr(&tail),
            [
                "Error: cannot reach api.example.com",
                "fatal: model unavailable",
                "Downloading  57%",
            ]
        );
        let e = AcpError::Exited {
            status: Some(ExitStatus::from_raw(1 << 8)),
            stderr_tail: tail,
        };
        assert_eq!(
            e.to_string(),
            "agent exited (status 1); stderr: Error: cannot reach api.example.com | fatal: model unavailable | Downloading  57%"
        );
        // Nothing telling at all: said so for a dead agent, silent otherwise.
        let noise = vec!["".to_string(), "[####      ] 40%".to_string()];
        let e = AcpError::Exited {
            status: Some(ExitStatus::from_raw(1 << 8)),
            stderr_tail: noise.clone(),
        };
        assert_eq!(e.to_string(), "agent exited (status 1); no stderr output");
        let e = AcpError::Protocol {
            message: "bad".into(),
            stderr_tail: noise,
        };
        assert_eq!(e.to_string(), "agent protocol error: bad");
    }
}
