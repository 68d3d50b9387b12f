//! The error a `limit` step answers the prompt with: a limit of the agent's
//! account, worded as a real adapter words it, so that enki's reading of
//! those errors is tested against the same shapes.
//!
//! - like claude-agent-acp (the default): code -32603, message `Internal
//!   error: <Claude Code's text>`: `Claude AI usage limit reached|<unix
//!   seconds>` for a quota with a reset time, `Claude usage limit reached.
//!   Your limit will reset at 5pm (Europe/Berlin).` for one without (a local
//!   time nobody can read), `API Error: 429 {…rate_limit_error…}` and `API
//!   Error: 529 {…overloaded_error…}`;
//! - like codex-acp: code -32603, message `Internal error`, and `data` =
//!   `{"message": …, "codex_error_info": …}`, a quota's reset as `try again
//!   in N seconds`.
//!
//! With `times = N` the limit passes, as an account's does: only the first
//! N runs of the step answer it, counted across every sim process of the
//! home (files made with `create_new` under
//! `$HOME/.local/state/enki-sim/limits/`, so two processes never both take
//! the last one); later runs go on with the turn. That lets a merger or a
//! worker started afresh after the reset do its work.
//!
//! `<scripts dir>/session_limit.toml` holds one such step's table
//! (`limit = "quota"`, `resets_in_secs`, `like`, `times`): `session/new`
//! answers it, as an adapter whose account is spent may.

use std::io::ErrorKind;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use enki_jsonrpc::ErrorObject;
use serde_json::json;

/// Which limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitKind {
    Quota,
    RateLimit,
    Overloaded,
}

impl LimitKind {
    pub const NAMES: &str = "\"quota\", \"rate_limit\" or \"overloaded\"";

    pub fn parse(name: &str) -> Option<LimitKind> {
        match name {
            "quota" => Some(LimitKind::Quota),
            "rate_limit" => Some(LimitKind::RateLimit),
            "overloaded" => Some(LimitKind::Overloaded),
            _ => None,
        }
    }
}

/// Whose words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Like {
    Claude,
    Codex,
}

/// One `limit` step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitStep {
    pub kind: LimitKind,
    /// The reset, this many seconds from the step (a quota only).
    pub resets_in_secs: Option<u64>,
    pub like: Like,
    /// Only the first this many runs answer the limit (see the module).
    pub times: Option<u64>,
    /// Which step this is, for counting its runs: the script and the
    /// step's place in it (set when its turn is picked).
    pub site: String,
}

/// The session limit file in the scripts dir.
pub const SESSION_LIMIT_FILE: &str = "session_limit.toml";

/// The limit `session/new` answers, from `<scripts dir>/session_limit.toml`
/// when it exists.
pub fn session_limit(dir: Option<&Path>) -> Result<Option<LimitStep>, String> {
    let Some(path) = dir
        .map(|d| d.join(SESSION_LIMIT_FILE))
        .filter(|p| p.is_file())
    else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut step = crate::script::limit_table(&text)
        .map_err(|message| format!("{}: {message}", path.display()))?;
    step.site = path.display().to_string();
    Ok(Some(step))
}

impl LimitStep {
    /// Whether this run of the step answers its limit: always without
    /// `times`, else while fewer than `times` runs did (see the module).
    /// Without a home to count in, always.
    pub fn applies(&self) -> bool {
        self.applies_counting_in(crate::saved::state_dir().map(|d| d.join("limits")))
    }

    fn applies_counting_in(&self, dir: Option<std::path::PathBuf>) -> bool {
        let Some(times) = self.times else {
            return true;
        };
        let Some(dir) = dir else {
            return true;
        };
        if let Err(e) = std::fs::create_dir_all(&dir) {
            eprintln!(
                "enki sim-agent: cannot count limits in {}: {e}",
                dir.display()
            );
            return true;
        }
        let key = fnv1a(&self.site);
        for run in 0..times {
            let taken = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(dir.join(format!("{key:016x}-{run}")));
            match taken {
                Ok(_) => return true,
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
                Err(e) => {
                    eprintln!(
                        "enki sim-agent: cannot count limits in {}: {e}",
                        dir.display()
                    );
                    return true;
                }
            }
        }
        false
    }

    /// The prompt's error.
    pub fn error(&self) -> ErrorObject {
        match self.like {
            Like::Claude => {
                ErrorObject::internal(format!("Internal error: {}", self.claude_text()))
            }
            Like::Codex => {
                let (message, info) = match self.kind {
                    LimitKind::Quota => (
                        format!(
                            "You've hit your usage limit. To get more access now, send a request to your admin or try again {}.",
                            self.resets_in_secs
                                .map_or("later".to_string(), |s| format!("in {s} seconds"))
                        ),
                        json!("usage_limit_exceeded"),
                    ),
                    LimitKind::RateLimit => (
                        "exceeded retry limit, last status: 429 Too Many Requests".to_string(),
                        json!({"response_too_many_failed_attempts": {"http_status_code": 429}}),
                    ),
                    LimitKind::Overloaded => (
                        "The model is overloaded. Please try again later.".to_string(),
                        json!("server_overloaded"),
                    ),
                };
                ErrorObject::internal("Internal error")
                    .with_data(json!({"message": message, "codex_error_info": info}))
            }
        }
    }

    fn claude_text(&self) -> String {
        match (self.kind, self.resets_in_secs) {
            (LimitKind::Quota, Some(secs)) => {
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                // Rounded up: the reset never comes before the wait asked for.
                format!("Claude AI usage limit reached|{}", now + secs + 1)
            }
            (LimitKind::Quota, None) => {
                "Claude usage limit reached. Your limit will reset at 5pm (Europe/Berlin).".into()
            }
            (LimitKind::RateLimit, _) => r#"API Error: 429 {"type":"error","error":{"type":"rate_limit_error","message":"This request would exceed your account's rate limit. Please try again later."}}"#.into(),
            (LimitKind::Overloaded, _) => r#"API Error: 529 {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#.into(),
        }
    }
}

/// A stable name for a step's site (the same in every process).
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_style_words_the_limit_as_its_adapter_does() {
        let quota = LimitStep {
            kind: LimitKind::Quota,
            resets_in_secs: Some(5),
            like: Like::Claude,
            times: None,
            site: String::new(),
        };
        let error = quota.error();
        assert_eq!(error.code, -32603);
        assert!(
            error
                .message
                .starts_with("Internal error: Claude AI usage limit reached|"),
            "{error:?}"
        );
        assert_eq!(error.data, None);
        let codex = LimitStep {
            like: Like::Codex,
            ..quota
        };
        let data = codex.error().data.unwrap();
        assert_eq!(data["codex_error_info"], "usage_limit_exceeded");
        assert!(
            data["message"]
                .as_str()
                .unwrap()
                .ends_with("try again in 5 seconds."),
            "{data}"
        );
        let rate = LimitStep {
            kind: LimitKind::RateLimit,
            resets_in_secs: None,
            like: Like::Claude,
            times: None,
            site: String::new(),
        };
        assert!(rate.error().message.contains("rate_limit_error"));
    }

    #[test]
    fn a_limit_with_times_passes_after_that_many_runs_counted_by_its_site() {
        let dir = tempfile::tempdir().unwrap();
        let counts = Some(dir.path().join("limits"));
        let step = |site: &str| LimitStep {
            kind: LimitKind::Quota,
            resets_in_secs: Some(1),
            like: Like::Claude,
            times: Some(2),
            site: site.into(),
        };
        let first = step("merger.toml#turn1.step1");
        assert!(first.applies_counting_in(counts.clone()));
        assert!(first.applies_counting_in(counts.clone()));
        assert!(!first.applies_counting_in(counts.clone()), "passed");
        assert!(
            step("other.toml#turn1.step1").applies_counting_in(counts.clone()),
            "counted apart"
        );
        let always = LimitStep {
            times: None,
            ..first
        };
        assert!(always.applies_counting_in(counts));
    }

    #[test]
    fn the_session_limit_file_holds_one_limit_steps_table() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(session_limit(Some(dir.path())).unwrap(), None);
        let path = dir.path().join(SESSION_LIMIT_FILE);
        std::fs::write(
            &path,
            "limit = \"rate_limit\"\ntimes = 1\nlike = \"codex\"\n",
        )
        .unwrap();
        let step = session_limit(Some(dir.path())).unwrap().unwrap();
        assert_eq!(
            (step.kind, step.like, step.times),
            (LimitKind::RateLimit, Like::Codex, Some(1))
        );
        assert_eq!(step.site, path.display().to_string());
        std::fs::write(&path, "limit = \"quota\"\nresets = 3\n").unwrap();
        let error = session_limit(Some(dir.path())).unwrap_err();
        assert!(
            error.starts_with(&path.display().to_string()) && error.contains("resets"),
            "{error}"
        );
        std::fs::write(&path, "say = \"hi\"\n").unwrap();
        let error = session_limit(Some(dir.path())).unwrap_err();
        assert!(error.contains("must hold a `limit` step"), "{error}");
    }
}
