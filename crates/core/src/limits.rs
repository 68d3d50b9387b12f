//! Rate limits and quotas of an agent's account: which errors say so (with
//! the reset time when the agent gives one), and how long dispatching to
//! that agent then waits. One place for both, so the coordinator, the store
//! and the front ends agree.
//!
//! What real agents send (their `session/prompt` answers a JSON-RPC error;
//! ACP has no code of its own for limits):
//! - claude-agent-acp ends a turn whose Claude Code result is an error with
//!   code -32603 and message `Internal error: <Claude Code's text>`: a
//!   subscription's usage limit is `Claude AI usage limit reached|<unix
//!   seconds of the reset>` (or, in newer versions, `You've hit your limit ·
//!   resets 3pm (Europe/Berlin)`, whose local time we cannot read), an API
//!   rate limit `API Error: 429 {…"rate_limit_error"…}`, an overloaded API
//!   `API Error: 529 {…"overloaded_error"…}`, a spending limit `You have
//!   reached your specified API usage limits. You will regain access on
//!   2026-04-01 at 00:00 UTC.`; any other exception of the adapter comes
//!   as -32603 `Internal error` with `data.details` holding its message.
//! - codex-acp answers -32603 with `data = {"message": …, "codex_error_info":
//!   …}`, where the info is `usage_limit_exceeded` (its message ends `try
//!   again in 3 days 6 hours 57 minutes.` or `try again at 3:28 PM.`),
//!   `server_overloaded`, or `{"response_too_many_failed_attempts":
//!   {"http_status_code": 429}}`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Which limit an agent ran into. Every kind is the account's, not the
/// task's: none ever fails a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitKind {
    /// Too many requests for a while (HTTP 429).
    RateLimit,
    /// The model API is overloaded (HTTP 529, codex's `server_overloaded`).
    Overloaded,
    /// A usage limit or quota of the plan or the account.
    Quota,
}

impl LimitKind {
    pub const ALL: [LimitKind; 3] = [
        LimitKind::RateLimit,
        LimitKind::Overloaded,
        LimitKind::Quota,
    ];

    /// The name the store and `--json` use.
    pub fn as_str(self) -> &'static str {
        match self {
            LimitKind::RateLimit => "rate_limit",
            LimitKind::Overloaded => "overloaded",
            LimitKind::Quota => "quota",
        }
    }

    pub fn parse(name: &str) -> Option<LimitKind> {
        LimitKind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// For people: "rate limit", "overloaded model API", "usage limit".
    pub fn describe(self) -> &'static str {
        match self {
            LimitKind::RateLimit => "rate limit",
            LimitKind::Overloaded => "overloaded model API",
            LimitKind::Quota => "usage limit",
        }
    }
}

/// A limit an agent reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentLimit {
    pub kind: LimitKind,
    /// When it resets (Unix milliseconds), when the agent said so in a form
    /// that names the moment.
    pub resets_at_ms: Option<u64>,
    /// The agent's own words.
    pub message: String,
}

/// The limit an agent's JSON-RPC error reports, if it reports one: its
/// code, message and `data`; `now_ms` (Unix milliseconds) anchors a reset
/// given as "in 3 hours".
pub fn classify(code: i64, message: &str, data: Option<&Value>, now_ms: u64) -> Option<AgentLimit> {
    let _ = code; // No code says "limit": ACP defines none, the adapters use -32603.
    let mut texts = vec![message.to_string()];
    if let Some(data) = data {
        match data {
            Value::String(text) => texts.push(text.clone()),
            Value::Object(fields) => {
                for key in ["message", "details", "error"] {
                    if let Some(Value::String(text)) = fields.get(key) {
                        texts.push(text.clone());
                    }
                }
            }
            _ => {}
        }
    }
    let words = texts.join("\n");
    let info = data.and_then(|d| {
        d.get("codex_error_info")
            .or_else(|| d.get("codexErrorInfo"))
    });
    let kind = info.and_then(codex_kind).or_else(|| text_kind(&words))?;
    Some(AgentLimit {
        kind,
        resets_at_ms: reset_time(&words, now_ms),
        message: shown_message(&texts),
    })
}

/// The words worth showing: the most telling text, without the adapter's
/// "Internal error: " prefix.
fn shown_message(texts: &[String]) -> String {
    let best = texts
        .iter()
        .find(|t| text_kind(t).is_some())
        .or_else(|| texts.iter().rev().find(|t| !t.trim().is_empty()))
        .map(String::as_str)
        .unwrap_or("");
    best.trim()
        .trim_start_matches("Internal error:")
        .trim()
        .chars()
        .take(500)
        .collect()
}

/// codex's `codex_error_info` (snake_case in its core protocol, camelCase
/// in its app-server protocol).
fn codex_kind(info: &Value) -> Option<LimitKind> {
    let normal = |name: &str| name.replace('_', "").to_ascii_lowercase();
    match info {
        Value::String(name) => match normal(name).as_str() {
            "usagelimitexceeded" => Some(LimitKind::Quota),
            "serveroverloaded" => Some(LimitKind::Overloaded),
            _ => None,
        },
        Value::Object(fields) => {
            let (name, detail) = fields.iter().next()?;
            let status = detail
                .get("http_status_code")
                .or_else(|| detail.get("httpStatusCode"))
                .and_then(Value::as_u64);
            match (normal(name).as_str(), status) {
                ("modelcap", _) | (_, Some(429)) => Some(LimitKind::RateLimit),
                (_, Some(529)) => Some(LimitKind::Overloaded),
                _ => None,
            }
        }
        _ => None,
    }
}

/// A limit named in the words of Claude Code, the Anthropic API or Codex.
fn text_kind(words: &str) -> Option<LimitKind> {
    let lower = words.to_lowercase();
    let any = |needles: &[&str]| needles.iter().any(|n| lower.contains(n));
    if any(&[
        "usage limit",
        "you've hit your limit",
        "you have hit your limit",
        "limit reached ∙ resets",
        "limit reached · resets",
        "5-hour limit reached",
        "weekly limit reached",
        "out of extra usage",
        "quota exceeded",
        "insufficient_quota",
        "exceeded your current quota",
    ]) {
        Some(LimitKind::Quota)
    } else if any(&[
        "rate_limit_error",
        "rate limit",
        "rate-limit",
        "too many requests",
    ]) || (lower.contains("api error") && lower.contains("429"))
    {
        Some(LimitKind::RateLimit)
    } else if any(&["overloaded_error", "overloaded"])
        || (lower.contains("api error") && lower.contains("529"))
    {
        Some(LimitKind::Overloaded)
    } else {
        None
    }
}

/// The reset moment the words name (Unix milliseconds): Claude's
/// `…limit reached|<unix seconds>`, an Anthropic spending limit's
/// `regain access on YYYY-MM-DD at HH:MM UTC`, or codex's `try again in
/// 2 days 3 hours 5 minutes`. A local clock time ("resets 3pm", "try again
/// at 3:28 PM") names no moment we can read: `None`.
fn reset_time(words: &str, now_ms: u64) -> Option<u64> {
    let lower = words.to_lowercase();
    if let Some(at) = lower.find("limit reached|") {
        let digits: String = lower[at + "limit reached|".len()..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        if let Ok(n) = digits.parse::<u64>() {
            // Seconds, as Claude Code writes it; a 13-digit number is milliseconds.
            return Some(if n > 100_000_000_000 {
                n
            } else {
                n.saturating_mul(1000)
            });
        }
    }
    if let Some(at) = lower.find("regain access on ") {
        return utc_date_time(&lower[at + "regain access on ".len()..]);
    }
    if let Some(at) = lower.find("try again in ") {
        return relative(&lower[at + "try again in ".len()..]).map(|ms| now_ms.saturating_add(ms));
    }
    None
}

/// `YYYY-MM-DD at HH:MM UTC` (or `YYYY-MM-DD HH:MM`, `…THH:MM…Z`).
fn utc_date_time(text: &str) -> Option<u64> {
    let date = text.get(..10)?;
    let mut parts = date.split('-').map(str::parse::<i64>);
    let (year, month, day) = (
        parts.next()?.ok()?,
        parts.next()?.ok()?,
        parts.next()?.ok()?,
    );
    let rest = text[10..]
        .trim_start_matches(['t', ' '])
        .trim_start_matches("at ");
    let clock: String = rest
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == ':')
        .collect();
    let mut hm = clock.split(':').map(str::parse::<i64>);
    let hour = hm.next().and_then(Result::ok).unwrap_or(0);
    let minute = hm.next().and_then(Result::ok).unwrap_or(0);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3_600 + minute * 60;
    u64::try_from(secs).ok().map(|s| s * 1000)
}

/// `2 days 3 hours 5 minutes`, `45 minutes`, `30s`: milliseconds.
fn relative(text: &str) -> Option<u64> {
    let mut total: u64 = 0;
    let mut found = false;
    let mut words = text
        .split(|c: char| c.is_whitespace() || c == ',' || c == '.')
        .filter(|w| !w.is_empty() && *w != "and")
        .peekable();
    while let Some(word) = words.next() {
        let digits: String = word.chars().take_while(char::is_ascii_digit).collect();
        let Ok(n) = digits.parse::<u64>() else { break };
        let unit = match &word[digits.len()..] {
            "" => words.next().unwrap_or(""),
            attached => attached,
        };
        let ms = match unit.trim_end_matches('s') {
            "day" | "d" => 86_400_000,
            "hour" | "hr" | "h" => 3_600_000,
            "minute" | "min" | "m" => 60_000,
            "second" | "sec" | "" => 1_000,
            _ => break,
        };
        total = total.saturating_add(n.saturating_mul(ms));
        found = true;
    }
    found.then_some(total)
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day count since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

/// `2026-04-01 00:00:00 UTC` for Unix milliseconds.
pub fn utc(ms: u64) -> String {
    let secs = i64::try_from(ms / 1000).unwrap_or(i64::MAX / 2);
    let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
    let of_day = secs.rem_euclid(86_400);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60
    )
}

/// `4m 10s`, `2h 5m`, `3d 4h`: a wait for people.
pub fn wait(ms: u64) -> String {
    let secs = ms.div_ceil(1000);
    let (d, h, m, s) = (
        secs / 86_400,
        secs % 86_400 / 3600,
        secs % 3600 / 60,
        secs % 60,
    );
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m {s}s"),
        (0, _, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h"),
    }
}

/// How long dispatching waits after a limit that names no reset time:
/// `first_ms`, doubled for each further limit in a row, at most `max_ms`
/// (`[workers] limit_backoff_secs`, `limit_backoff_max_secs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub first_ms: u64,
    pub max_ms: u64,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            first_ms: 60_000,
            max_ms: 30 * 60_000,
        }
    }
}

impl Backoff {
    /// The wait for the `streak`-th limit in a row (from 1).
    pub fn wait_ms(&self, streak: u32) -> u64 {
        let doublings = streak.saturating_sub(1).min(40);
        self.first_ms
            .saturating_mul(1u64 << doublings)
            .min(self.max_ms.max(self.first_ms))
    }
}

/// Who met an agent's limit, and so what waits for its reset. None of them
/// fails: a worker's task goes back to ready without spending its attempt,
/// a merge waits queued, a planner's turn is tried again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "snake_case")]
pub enum MetBy {
    /// The worker of `task`.
    Worker { task: String },
    /// The merger resolving `task`'s conflict.
    Merger { task: String },
    /// The planner (a turn, or opening its session).
    Planner,
    /// An earlier coordinator: the hold was restored from the store.
    Earlier,
}

/// An agent whose dispatching waits (or waited: `until_ms` passed) for a
/// limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    pub agent: String,
    pub kind: LimitKind,
    /// Until when (Unix milliseconds).
    pub until_ms: u64,
    /// Whether `until_ms` is the agent's own reset time (else a backoff).
    pub reset_given: bool,
    /// Limits in a row without a turn of the agent ending well.
    pub streak: u32,
    /// The agent's words.
    pub message: String,
}

impl Hold {
    /// The hold after `limit` at `now_ms`, given the agent's `previous` one
    /// (kept until a turn of it ends well). A limit met while a hold still
    /// runs (another worker's turn of the same agent, started before) keeps
    /// its streak and extends it at most; after a hold ran out the streak
    /// grows, doubling the backoff. A reset time the agent gives wins,
    /// unless it has passed already (the limit outlived it): then the
    /// backoff.
    pub fn after(
        previous: Option<&Hold>,
        agent: &str,
        limit: &AgentLimit,
        now_ms: u64,
        backoff: Backoff,
    ) -> Hold {
        let running = previous.filter(|p| p.until_ms > now_ms);
        let streak = match (running, previous) {
            (Some(p), _) => p.streak.max(1),
            (None, Some(p)) => p.streak.saturating_add(1),
            (None, None) => 1,
        };
        let (until_ms, reset_given) = match limit.resets_at_ms {
            Some(at) if at > now_ms => (at, true),
            _ => (now_ms.saturating_add(backoff.wait_ms(streak)), false),
        };
        let (until_ms, reset_given) = match running {
            Some(p) if p.until_ms > until_ms => (p.until_ms, p.reset_given),
            _ => (until_ms, reset_given),
        };
        Hold {
            agent: agent.to_string(),
            kind: limit.kind,
            until_ms,
            reset_given,
            streak,
            message: limit.message.clone(),
        }
    }

    /// Whether dispatching to the agent still waits at `now_ms`.
    pub fn holds_at(&self, now_ms: u64) -> bool {
        self.until_ms > now_ms
    }

    /// For people, both front ends and `enki status`: `agent claude waits
    /// for its usage limit until 2026-04-01 00:00:00 UTC (the agent's reset
    /// time): Claude AI usage limit reached`.
    pub fn describe(&self) -> String {
        format!("agent {} waits for its {}", self.agent, self.until_text())
    }

    /// What a front end says when `met_by` met this hold: both front ends
    /// (`enki run`'s lines, the TUI's chat) use these words.
    pub fn announce(&self, met_by: &MetBy) -> String {
        match met_by {
            MetBy::Worker { .. } | MetBy::Earlier => self.describe(),
            MetBy::Planner => format!(
                "the planner's agent {} hit its {}; its turn is tried again then",
                self.agent,
                self.until_text()
            ),
            MetBy::Merger { .. } => format!(
                "the merger's agent {} hit its {}; the merge waits and is tried again then, without spending the task's attempt",
                self.agent,
                self.until_text()
            ),
        }
    }

    /// `usage limit until <UTC> (<where the time came from>): <words>`.
    fn until_text(&self) -> String {
        let source = if self.reset_given {
            "the agent's reset time".to_string()
        } else {
            format!(
                "no reset time given: backoff, limit {} in a row",
                self.streak
            )
        };
        format!(
            "{} until {} ({source}): {}",
            self.kind.describe(),
            utc(self.until_ms),
            self.message
        )
    }

    /// For a status line: `claude: usage limit until 08:04:10 UTC`.
    pub fn brief(&self) -> String {
        let time = utc(self.until_ms);
        let clock = time.get(11..).unwrap_or(&time);
        format!("{}: {} until {clock}", self.agent, self.kind.describe())
    }
}

#[cfg(test)]
#[path = "limits_tests.rs"]
mod tests;
