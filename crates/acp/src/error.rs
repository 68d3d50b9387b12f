//! The one error type of the ACP client, with messages meant for a human.

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
    /// The agent did not answer a request within the request timeout.
    #[error(
        "agent did not answer `{method}` within {after:?}{}",
        tail_suffix(stderr_tail)
    )]
    Timeout {
        method: String,
        after: Duration,
        stderr_tail: Vec<String>,
    },
    /// The agent process exited (or was killed) before answering.
    #[error("agent exited ({}){}", describe_status(*status), tail_suffix(stderr_tail))]
    Exited {
        /// `None` when the exit status could not be collected.
        status: Option<ExitStatus>,
        stderr_tail: Vec<String>,
    },
    /// The agent answered a request with a JSON-RPC error.
    #[error("agent answered `{method}` with error {code}: {message}")]
    Rpc {
        method: String,
        code: i64,
        message: String,
    },
    /// The agent answered with something that does not follow ACP.
    #[error("agent protocol error: {0}")]
    Protocol(String),
    /// Any other I/O failure (including invalid arguments given to the client).
    #[error("agent I/O error: {0}")]
    Io(#[from] io::Error),
}

impl AcpError {
    /// The stderr tail carried by [`AcpError::Timeout`] and [`AcpError::Exited`].
    pub fn stderr_tail(&self) -> &[String] {
        match self {
            AcpError::Timeout { stderr_tail, .. } | AcpError::Exited { stderr_tail, .. } => {
                stderr_tail
            }
            _ => &[],
        }
    }
}

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

/// "; stderr: a | b" with the last few lines, or "; no stderr output".
fn tail_suffix(tail: &[String]) -> String {
    let lines: Vec<&str> = tail
        .iter()
        .map(|l| l.trim_end())
        .filter(|l| !l.is_empty())
        .collect();
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
        };
        assert_eq!(
            e.to_string(),
            "agent did not answer `initialize` within 200ms; stderr: waiting"
        );
    }
}
