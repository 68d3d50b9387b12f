//! The script format of `enki sim-agent`: what the simulated agent does for
//! each prompt, instead of asking a model.
//!
//! A script is a TOML (`.toml`) or JSON (`.json`) file holding a list of
//! turns. Each `session/prompt` runs the next turn of the selected script;
//! when the turns run out, the last one repeats. A turn is a list of steps
//! run in order; it ends with stop reason `end_turn` unless a step ends it
//! otherwise. Every step is a table with exactly one *kind* key (plus that
//! kind's options):
//!
//! ```toml
//! description = "a worker that edits, tests and reports"   # optional, ignored
//!
//! [[turn]]
//! steps = [
//!   { say = "Looking at {{prompt}} in {{cwd}}" },    # agent_message_chunk(s), split into a few chunks
//!   { think = "The user wants a greeting" },          # agent_thought_chunk
//!   { plan = ["read", "edit", "test"] },              # plan update (every entry pending)
//!   # MCP tools/call on the session/new server "enki" (or `server = "name"`),
//!   # reported as tool_call + tool_call_update; a result with isError fails the
//!   # turn unless `allow_error = true`.
//!   { tool = "enki_worker_report", args = { status = "editing" } },
//!   { tool = "enki_status", server = "enki", allow_error = true },
//!   # Files, relative to the session cwd (paths leaving it are refused):
//!   { write = "src/lib.rs", content = "pub fn hi() {}\n" },  # ACP fs/write_text_file when offered, else directly
//!   # (`allow_error = true`: a refused write fails only the step, not the turn)
//!   { append = "NOTES.md", content = "- edited lib.rs\n" },  # read (via ACP when offered) + write
//!   { read = "src/lib.rs" },                                  # ACP fs/read_text_file when offered; echoed briefly
//!   { delete = "old.txt" },                                   # directly (ACP has no delete); absent is fine
//!   { run = "cargo test", expect_status = 0 },   # sh -c in the cwd; another exit status fails the turn
//!   # session/request_permission with allow/reject once/always options; when
//!   # denied, on_deny = "fail" (default) ends the turn with stopReason
//!   # "refusal", on_deny = "continue" goes on.
//!   { permission = "Edit src/lib.rs", on_deny = "fail" },
//!   # optional `kind` (tool kind, default "other") and `path` (the location
//!   # asked about; may lie outside the cwd). In a mode the agent approves
//!   # itself (see `modes.toml` in the `modes` module) nothing is asked.
//!   { permission = "Write ../x", kind = "edit", path = "../x", on_deny = "continue" },
//!   { sleep_ms = 50 },                   # interruptible by session/cancel
//!   # Agent faults: codex-acp's notice that it retries its model API (a
//!   # session_info_update whose _meta.codex.error has willRetry = true),
//!   # `times` times (default 1) `every_ms` apart (default 0); and
//!   # keep-alives (usage_update, as claude-agent-acp sends), likewise.
//!   # Neither is progress: see enki_core::liveness.
//!   { retry = "Reconnecting... 1/5", times = 100, every_ms = 50 },
//!   { keepalive = 20, every_ms = 50 },
//!   # Usage, as claude-agent-acp reports it: the tokens go into the turn's
//!   # session/prompt response (`usage`), the cost (default currency USD) is
//!   # added to the session's and sent at once in a usage_update. Every kind
//!   # is optional; one left out is not reported.
//!   { usage = { input = 1200, output = 300, cache_read = 5000, cache_write = 100, cost = 0.02 } },
//!   { garbage = "this is not json" },    # a non-JSON line on stdout, then continue
//!   { stderr = "Error: model unavailable" },  # written to stderr as is (newlines and \r too)
//!   { stop = "end_turn" },               # end now: end_turn|max_tokens|max_turn_requests|refusal|cancelled
//! ]
//!
//! [[turn]]   # the second prompt (and every later one: the last turn repeats)
//! steps = [
//!   { fail = "something broke" },        # the prompt gets JSON-RPC error -32603 with this message
//!   # A limit of the agent's account: the prompt gets the error claude-agent-acp
//!   # sends (like = "codex": codex-acp's, with `data`). "quota" with
//!   # resets_in_secs names the reset (`Claude AI usage limit reached|<unix s>`),
//!   # without it a local time nobody can read; or "rate_limit", "overloaded".
//!   # { limit = "quota", resets_in_secs = 2, like = "claude" },
//!   # `times = N`: only the first N runs of this step in the home answer it
//!   # (counted across sim processes); later runs go on with the turn.
//!   # { hang = true },                   # never finish (until session/cancel: stopReason "cancelled")
//!   # { crash = true },                  # exit(3) at once, no reply
//!   # { exit = 0 },                      # exit with that code at once, no reply
//! ]
//! ```
//!
//! The same script in JSON is `{"turn": [{"steps": [{"say": "..."}, ...]}, ...]}`
//! (`"turns"` is accepted as well). A turn may also be written as TOML
//! `[[turn.steps]]` tables.
//!
//! Templating: in `say`, `think`, `plan` entries, `fail` messages, `write` /
//! `append` contents and the string values of tool `args`, `{{prompt}}` is the
//! prompt text (truncated), `{{cwd}}` the session's cwd, `{{session}}` the
//! session id and `{{env.NAME}}` an environment variable (empty if unset).
//! Paths and commands are not templated.
//!
//! Errors: an unreadable file names it; a syntax error, an unknown key, a
//! step with zero or two kinds or a value of the wrong type names the file,
//! the line and the (1-based) turn and step.
//!
//! This file holds the format and its data model; `load.rs` parses a file,
//! `validate.rs` and `step_table.rs` check it against that model.

mod jsonloc;
mod load;
mod locations;
mod step_table;
#[cfg(test)]
mod test_support;
mod validate;

use std::fmt;

use serde_json::{Map, Value};

pub use load::{Format, ScriptError, load, parse};

/// A `limit` step's table alone, as `session_limit.toml` holds it
/// (`crate::limit`); the error names the key at fault.
pub fn limit_table(text: &str) -> Result<crate::limit::LimitStep, String> {
    let (value, loc) = locations::from_toml(text).map_err(|(_, message)| message)?;
    match step_table::step_of(&value, &loc) {
        Ok(Step::Limit(step)) => Ok(step),
        Ok(other) => Err(format!(
            "it must hold a `limit` step's table such as `limit = \"quota\"`, not a `{other}` step"
        )),
        Err(problem) => Err(problem.message),
    }
}

/// Every step kind, in documentation order.
pub const STEP_KINDS: &[&str] = &[
    "say",
    "think",
    "plan",
    "tool",
    "write",
    "append",
    "read",
    "delete",
    "run",
    "permission",
    "sleep_ms",
    "retry",
    "keepalive",
    "usage",
    "fail",
    "limit",
    "hang",
    "crash",
    "garbage",
    "stderr",
    "exit",
    "stop",
];

/// A parsed, validated script.
#[derive(Debug, Clone, PartialEq)]
pub struct Script {
    /// Where it came from (a path, or `built-in`), for messages.
    pub source: String,
    /// At least one turn.
    pub turns: Vec<Turn>,
}

impl Script {
    /// The turn to run for the `index`-th prompt (0-based) that selected this
    /// script: the last turn repeats once they run out.
    pub fn turn(&self, index: usize) -> &Turn {
        // `turns` is never empty for a parsed script; the fallback keeps a
        // hand-built empty script from panicking.
        static EMPTY: Turn = Turn { steps: Vec::new() };
        self.turns
            .get(index)
            .or(self.turns.last())
            .unwrap_or(&EMPTY)
    }
}

/// One turn: the steps run for one prompt.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Turn {
    pub steps: Vec<Step>,
}

/// One step of a turn. See the module documentation for what each does.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Say(String),
    Think(String),
    Plan(Vec<String>),
    Tool {
        name: String,
        server: String,
        args: Map<String, Value>,
        allow_error: bool,
    },
    Write {
        path: String,
        content: String,
        /// A refused write is reported failed and the turn goes on.
        allow_error: bool,
    },
    Append {
        path: String,
        content: String,
    },
    Read(String),
    Delete(String),
    Run {
        command: String,
        expect_status: i32,
    },
    Permission {
        title: String,
        /// The tool kind (`edit`, `execute`, ...); `other` when not given.
        kind: Option<String>,
        /// A path the action touches, relative to the cwd or absolute
        /// (sent as the tool call's location; not confined: a test may ask
        /// about a path outside).
        path: Option<String>,
        on_deny: OnDeny,
    },
    Sleep(u64),
    /// A retry notice of the model API, `times` times, `every_ms` apart.
    Retry {
        message: String,
        times: u64,
        every_ms: u64,
    },
    /// Keep-alives (`usage_update`), `times` times, `every_ms` apart.
    KeepAlive {
        times: u64,
        every_ms: u64,
    },
    /// Tokens for the turn and cost for the session (`crate::usage`).
    Usage(crate::usage::UsageStep),
    Fail(String),
    /// A limit of the agent's account ends the turn with the error its
    /// adapter sends (`crate::limit`).
    Limit(crate::limit::LimitStep),
    Hang,
    Crash,
    Garbage(String),
    /// Text written to stderr as is.
    Stderr(String),
    Exit(i32),
    Stop(StopReason),
}

/// What a denied `permission` step does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnDeny {
    /// End the turn with stop reason `refusal`.
    Fail,
    /// Say so and go on with the next step.
    Continue,
}

/// ACP stop reasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    EndTurn,
    MaxTokens,
    MaxTurnRequests,
    Refusal,
    Cancelled,
}

impl StopReason {
    pub const ALL: [StopReason; 5] = [
        StopReason::EndTurn,
        StopReason::MaxTokens,
        StopReason::MaxTurnRequests,
        StopReason::Refusal,
        StopReason::Cancelled,
    ];

    /// The wire form (`end_turn`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            StopReason::EndTurn => "end_turn",
            StopReason::MaxTokens => "max_tokens",
            StopReason::MaxTurnRequests => "max_turn_requests",
            StopReason::Refusal => "refusal",
            StopReason::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<StopReason> {
        StopReason::ALL.into_iter().find(|r| r.as_str() == text)
    }
}

impl fmt::Display for Step {
    /// A short description for diagnostics.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Say(_) => write!(f, "say"),
            Step::Think(_) => write!(f, "think"),
            Step::Plan(_) => write!(f, "plan"),
            Step::Tool { name, server, .. } => write!(f, "tool {server}/{name}"),
            Step::Write { path, .. } => write!(f, "write {path}"),
            Step::Append { path, .. } => write!(f, "append {path}"),
            Step::Read(path) => write!(f, "read {path}"),
            Step::Delete(path) => write!(f, "delete {path}"),
            Step::Run { command, .. } => write!(f, "run {command}"),
            Step::Permission { title, .. } => write!(f, "permission {title}"),
            Step::Sleep(ms) => write!(f, "sleep {ms} ms"),
            Step::Retry { times, .. } => write!(f, "retry ×{times}"),
            Step::KeepAlive { times, .. } => write!(f, "keepalive ×{times}"),
            Step::Usage(_) => write!(f, "usage"),
            Step::Fail(_) => write!(f, "fail"),
            Step::Limit(_) => write!(f, "limit"),
            Step::Hang => write!(f, "hang"),
            Step::Crash => write!(f, "crash"),
            Step::Garbage(_) => write!(f, "garbage"),
            Step::Stderr(_) => write!(f, "stderr"),
            Step::Exit(code) => write!(f, "exit {code}"),
            Step::Stop(reason) => write!(f, "stop {}", reason.as_str()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::script::test_support::toml;

    #[test]
    fn the_last_turn_repeats() {
        let script =
            toml("[[turn]]\nsteps = [{ say = \"one\" }]\n[[turn]]\nsteps = [{ say = \"two\" }]\n")
                .unwrap();
        assert_eq!(script.turn(0).steps, [Step::Say("one".into())]);
        assert_eq!(script.turn(1).steps, [Step::Say("two".into())]);
        assert_eq!(script.turn(9).steps, [Step::Say("two".into())]);
    }

    #[test]
    fn the_module_example_parses() {
        let doc = include_str!("mod.rs");
        let start = doc.find("//! ```toml\n").unwrap() + "//! ```toml\n".len();
        let end = start + doc[start..].find("//! ```\n").unwrap();
        let example: String = doc[start..end]
            .lines()
            .map(|l| {
                l.strip_prefix("//! ")
                    .or(l.strip_prefix("//!"))
                    .unwrap_or(l)
            })
            .collect::<Vec<_>>()
            .join("\n");
        let script = toml(&example).unwrap_or_else(|e| panic!("{e}\n{example}"));
        assert_eq!(script.turns.len(), 2);
        assert_eq!(
            script.turns[1].steps,
            [Step::Fail("something broke".into())]
        );
    }

    #[test]
    fn stop_reasons_round_trip() {
        for reason in StopReason::ALL {
            assert_eq!(StopReason::parse(reason.as_str()), Some(reason));
        }
        assert_eq!(StopReason::parse("stop"), None);
    }
}
