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
}

impl LimitStep {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_style_words_the_limit_as_its_adapter_does() {
        let quota = LimitStep {
            kind: LimitKind::Quota,
            resets_in_secs: Some(5),
            like: Like::Claude,
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
        };
        assert!(rate.error().message.contains("rate_limit_error"));
    }
}
