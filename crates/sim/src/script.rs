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
//!   { append = "NOTES.md", content = "- edited lib.rs\n" },  # read (via ACP when offered) + write
//!   { read = "src/lib.rs" },                                  # ACP fs/read_text_file when offered; echoed briefly
//!   { delete = "old.txt" },                                   # directly (ACP has no delete); absent is fine
//!   { run = "cargo test", expect_status = 0 },   # sh -c in the cwd; another exit status fails the turn
//!   # session/request_permission with allow/reject once/always options; when
//!   # denied, on_deny = "fail" (default) ends the turn with stopReason
//!   # "refusal", on_deny = "continue" goes on.
//!   { permission = "Edit src/lib.rs", on_deny = "fail" },
//!   { sleep_ms = 50 },                   # interruptible by session/cancel
//!   { garbage = "this is not json" },    # a non-JSON line on stdout, then continue
//!   { stop = "end_turn" },               # end now: end_turn|max_tokens|max_turn_requests|refusal|cancelled
//! ]
//!
//! [[turn]]   # the second prompt (and every later one: the last turn repeats)
//! steps = [
//!   { fail = "something broke" },        # the prompt gets JSON-RPC error -32603 with this message
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

use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

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
    "fail",
    "hang",
    "crash",
    "garbage",
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
        on_deny: OnDeny,
    },
    Sleep(u64),
    Fail(String),
    Hang,
    Crash,
    Garbage(String),
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

/// Why a script could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ScriptError {
    #[error("cannot read script {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}", invalid_text(path, *line, at.as_deref(), message))]
    Invalid {
        path: PathBuf,
        /// 1-based line, when known.
        line: Option<usize>,
        /// `turn 1, step 2` (1-based) when the problem is inside a step.
        at: Option<String>,
        message: String,
    },
}

fn invalid_text(path: &Path, line: Option<usize>, at: Option<&str>, message: &str) -> String {
    let mut text = path.display().to_string();
    if let Some(line) = line {
        text.push_str(&format!(":{line}"));
    }
    text.push_str(": ");
    if let Some(at) = at {
        text.push_str(at);
        text.push_str(": ");
    }
    text.push_str(message);
    text
}

/// The file formats a script can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Toml,
    Json,
}

impl Format {
    /// The format named by a path's extension (`.toml`, `.json`).
    pub fn of(path: &Path) -> Option<Format> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "toml" => Some(Format::Toml),
            "json" => Some(Format::Json),
            _ => None,
        }
    }
}

/// Reads and validates the script at `path` (format by extension).
pub fn load(path: &Path) -> Result<Script, ScriptError> {
    let Some(format) = Format::of(path) else {
        return Err(ScriptError::Invalid {
            path: path.to_path_buf(),
            line: None,
            at: None,
            message: "a script file must end in .toml or .json".to_string(),
        });
    };
    let text = std::fs::read_to_string(path).map_err(|source| ScriptError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&text, format, path)
}

/// Parses and validates script text; `path` is only used in messages.
pub fn parse(text: &str, format: Format, path: &Path) -> Result<Script, ScriptError> {
    let invalid =
        |offset: Option<usize>, at: Option<String>, message: String| ScriptError::Invalid {
            path: path.to_path_buf(),
            line: offset.map(|o| line_of(text, o)),
            at,
            message,
        };
    let (value, loc) = match format {
        Format::Toml => from_toml(text).map_err(|(offset, msg)| invalid(offset, None, msg))?,
        Format::Json => match serde_json::from_str::<Value>(text) {
            Ok(value) => {
                let loc = jsonloc::scan(text).unwrap_or_default();
                (value, loc)
            }
            Err(e) => {
                return Err(ScriptError::Invalid {
                    path: path.to_path_buf(),
                    line: Some(e.line()).filter(|l| *l > 0),
                    at: None,
                    message: format!("invalid JSON: {e}"),
                });
            }
        },
    };
    let turns = turns_of(&value, &loc).map_err(|p| invalid(p.offset, p.at, p.message))?;
    Ok(Script {
        source: path.display().to_string(),
        turns,
    })
}

/// 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

// ----- locations -------------------------------------------------------------

/// Where a value starts in the source, and where its children do.
#[derive(Debug, Clone, Default)]
pub(crate) struct Loc {
    at: Option<usize>,
    kids: Kids,
}

#[derive(Debug, Clone, Default)]
enum Kids {
    #[default]
    Leaf,
    Array(Vec<Loc>),
    /// key, where the key starts, the value's location
    Object(Vec<(String, usize, Loc)>),
}

impl Loc {
    fn item(&self, index: usize) -> Option<&Loc> {
        match &self.kids {
            Kids::Array(items) => items.get(index),
            _ => None,
        }
    }

    fn key_at(&self, key: &str) -> Option<usize> {
        match &self.kids {
            Kids::Object(members) => members.iter().find(|m| m.0 == key).map(|m| m.1),
            _ => None,
        }
    }

    fn member(&self, key: &str) -> Option<&Loc> {
        match &self.kids {
            Kids::Object(members) => members.iter().find(|m| m.0 == key).map(|m| &m.2),
            _ => None,
        }
    }
}

/// A TOML document as JSON values plus locations, or (offset, message).
fn from_toml(text: &str) -> Result<(Value, Loc), (Option<usize>, String)> {
    let doc = toml::de::DeTable::parse(text)
        .map_err(|e| (e.span().map(|s| s.start), e.message().trim().to_string()))?;
    let span = doc.span();
    convert_toml_table(doc.get_ref(), span.start)
}

fn convert_toml(
    value: &toml::de::DeValue<'_>,
    at: usize,
) -> Result<(Value, Loc), (Option<usize>, String)> {
    use toml::de::DeValue;
    let leaf = |v: Value| {
        Ok((
            v,
            Loc {
                at: Some(at),
                kids: Kids::Leaf,
            },
        ))
    };
    match value {
        DeValue::String(s) => leaf(Value::String(s.to_string())),
        DeValue::Boolean(b) => leaf(Value::Bool(*b)),
        DeValue::Integer(i) => match i64::from_str_radix(i.as_str(), i.radix()) {
            Ok(n) => leaf(Value::from(n)),
            Err(_) => Err((Some(at), format!("integer {i} is out of range"))),
        },
        DeValue::Float(f) => match f
            .as_str()
            .parse::<f64>()
            .ok()
            .and_then(|x| serde_json::Number::from_f64(x).map(Value::Number))
        {
            Some(v) => leaf(v),
            None => Err((Some(at), format!("float {f} is not supported here"))),
        },
        DeValue::Datetime(d) => leaf(Value::String(d.to_string())),
        DeValue::Array(items) => {
            let mut values = Vec::new();
            let mut locs = Vec::new();
            for item in items.iter() {
                let (v, l) = convert_toml(item.get_ref(), item.span().start)?;
                values.push(v);
                locs.push(l);
            }
            Ok((
                Value::Array(values),
                Loc {
                    at: Some(at),
                    kids: Kids::Array(locs),
                },
            ))
        }
        DeValue::Table(table) => convert_toml_table(table, at),
    }
}

fn convert_toml_table(
    table: &toml::de::DeTable<'_>,
    at: usize,
) -> Result<(Value, Loc), (Option<usize>, String)> {
    let mut map = Map::new();
    let mut members = Vec::new();
    for (key, value) in table.iter() {
        let (v, l) = convert_toml(value.get_ref(), value.span().start)?;
        map.insert(key.get_ref().to_string(), v);
        members.push((key.get_ref().to_string(), key.span().start, l));
    }
    Ok((
        Value::Object(map),
        Loc {
            at: Some(at),
            kids: Kids::Object(members),
        },
    ))
}

/// Locations of the values in a JSON text that `serde_json` already accepted.
mod jsonloc {
    use super::{Kids, Loc};

    pub(crate) fn scan(text: &str) -> Option<Loc> {
        Scanner { text, i: 0 }.value()
    }

    struct Scanner<'a> {
        text: &'a str,
        i: usize,
    }

    impl Scanner<'_> {
        fn peek(&self) -> Option<u8> {
            self.text.as_bytes().get(self.i).copied()
        }

        fn ws(&mut self) {
            while matches!(self.peek(), Some(b' ' | b'\t' | b'\r' | b'\n')) {
                self.i += 1;
            }
        }

        fn value(&mut self) -> Option<Loc> {
            self.ws();
            let at = Some(self.i);
            let kids = match self.peek()? {
                b'{' => {
                    self.i += 1;
                    let mut members = Vec::new();
                    self.ws();
                    if self.peek()? == b'}' {
                        self.i += 1;
                    } else {
                        loop {
                            self.ws();
                            let key_at = self.i;
                            let key = self.string()?;
                            self.ws();
                            if self.peek()? != b':' {
                                return None;
                            }
                            self.i += 1;
                            let value = self.value()?;
                            members.push((key, key_at, value));
                            if !self.separator(b'}')? {
                                break;
                            }
                        }
                    }
                    Kids::Object(members)
                }
                b'[' => {
                    self.i += 1;
                    let mut items = Vec::new();
                    self.ws();
                    if self.peek()? == b']' {
                        self.i += 1;
                    } else {
                        loop {
                            items.push(self.value()?);
                            if !self.separator(b']')? {
                                break;
                            }
                        }
                    }
                    Kids::Array(items)
                }
                b'"' => {
                    self.string()?;
                    Kids::Leaf
                }
                _ => {
                    while !matches!(
                        self.peek(),
                        None | Some(b',' | b']' | b'}' | b' ' | b'\t' | b'\r' | b'\n')
                    ) {
                        self.i += 1;
                    }
                    Kids::Leaf
                }
            };
            Some(Loc { at, kids })
        }

        /// After a member or item: `,` → true (more follow), `close` → false.
        fn separator(&mut self, close: u8) -> Option<bool> {
            self.ws();
            let b = self.peek()?;
            self.i += 1;
            if b == b',' {
                Some(true)
            } else if b == close {
                Some(false)
            } else {
                None
            }
        }

        fn string(&mut self) -> Option<String> {
            let start = self.i;
            if self.peek()? != b'"' {
                return None;
            }
            self.i += 1;
            loop {
                match self.peek()? {
                    b'\\' => self.i += 2,
                    b'"' => {
                        self.i += 1;
                        return serde_json::from_str(self.text.get(start..self.i)?).ok();
                    }
                    _ => self.i += 1,
                }
            }
        }
    }
}

// ----- validation --------------------------------------------------------------

/// A validation problem: where (byte offset), in which step, and what.
struct Problem {
    offset: Option<usize>,
    at: Option<String>,
    message: String,
}

impl Problem {
    fn new(offset: Option<usize>, message: impl Into<String>) -> Problem {
        Problem {
            offset,
            at: None,
            message: message.into(),
        }
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "an integer",
        Value::Number(_) => "a float",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "a table",
    }
}

fn turns_of(root: &Value, loc: &Loc) -> Result<Vec<Turn>, Problem> {
    let Value::Object(map) = root else {
        return Err(Problem::new(
            loc.at,
            format!(
                "a script must be a table with a `turn` list, not {}",
                type_name(root)
            ),
        ));
    };
    for key in map.keys() {
        if !["turn", "turns", "description"].contains(&key.as_str()) {
            return Err(Problem::new(
                loc.key_at(key),
                format!("unknown key `{key}` (a script has `turn` and an optional `description`)"),
            ));
        }
    }
    if let Some(d) = map.get("description").filter(|d| !d.is_string()) {
        return Err(Problem::new(
            loc.key_at("description"),
            format!("`description` must be a string, not {}", type_name(d)),
        ));
    }
    let key = match (map.contains_key("turn"), map.contains_key("turns")) {
        (true, true) => {
            return Err(Problem::new(
                loc.key_at("turns"),
                "use either `turn` or `turns`, not both",
            ));
        }
        (false, true) => "turns",
        _ => "turn",
    };
    let none = Loc::default();
    let turns_loc = loc.member(key).unwrap_or(&none);
    let items = match map.get(key) {
        None => {
            return Err(Problem::new(
                None,
                "a script needs at least one turn: [[turn]] with steps = [...]",
            ));
        }
        Some(Value::Array(items)) => items,
        Some(other) => {
            return Err(Problem::new(
                loc.key_at(key),
                format!(
                    "`{key}` must be a list of turns ([[turn]]), not {}",
                    type_name(other)
                ),
            ));
        }
    };
    if items.is_empty() {
        return Err(Problem::new(
            loc.key_at(key),
            "a script needs at least one turn",
        ));
    }
    let mut turns = Vec::new();
    for (t, item) in items.iter().enumerate() {
        let turn_loc = turns_loc.item(t).unwrap_or(&none);
        turns.push(turn_of(t, item, turn_loc)?);
    }
    Ok(turns)
}

fn turn_of(t: usize, value: &Value, loc: &Loc) -> Result<Turn, Problem> {
    let at = format!("turn {}", t + 1);
    let fail = |offset: Option<usize>, message: String| Problem {
        offset,
        at: Some(at.clone()),
        message,
    };
    let Value::Object(map) = value else {
        return Err(fail(
            loc.at,
            format!(
                "a turn must be a table with `steps`, not {}",
                type_name(value)
            ),
        ));
    };
    if let Some(key) = map.keys().find(|k| k.as_str() != "steps") {
        return Err(fail(
            loc.key_at(key).or(loc.at),
            format!("unknown key `{key}` in a turn (a turn has only `steps`)"),
        ));
    }
    let steps = match map.get("steps") {
        Some(Value::Array(steps)) => steps,
        Some(other) => {
            return Err(fail(
                loc.key_at("steps"),
                format!("`steps` must be a list of steps, not {}", type_name(other)),
            ));
        }
        None => return Err(fail(loc.at, "a turn needs `steps = [...]`".to_string())),
    };
    let none = Loc::default();
    let steps_loc = loc.member("steps").unwrap_or(&none);
    let mut parsed = Vec::new();
    for (s, step) in steps.iter().enumerate() {
        let step_loc = steps_loc.item(s).unwrap_or(&none);
        let step = step_of(step, step_loc).map_err(|p| Problem {
            offset: p.offset.or(step_loc.at).or(loc.at),
            at: Some(format!("turn {}, step {}", t + 1, s + 1)),
            message: p.message,
        })?;
        parsed.push(step);
    }
    Ok(Turn { steps: parsed })
}

/// Reads the fields of one step table.
struct Fields<'a> {
    map: &'a Map<String, Value>,
    loc: &'a Loc,
    kind: &'a str,
}

impl Fields<'_> {
    fn problem(&self, key: &str, message: String) -> Problem {
        Problem::new(self.loc.key_at(key).or(self.loc.at), message)
    }

    fn wrong(&self, key: &str, expected: &str, got: &Value) -> Problem {
        self.problem(
            key,
            format!("`{key}` must be {expected}, not {}", type_name(got)),
        )
    }

    fn string(&self, key: &str) -> Result<Option<String>, Problem> {
        match self.map.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(self.wrong(key, "a string", other)),
        }
    }

    fn required_string(&self, key: &str) -> Result<String, Problem> {
        self.string(key)?.ok_or_else(|| {
            self.problem(
                self.kind,
                format!("a `{}` step needs `{key} = \"...\"`", self.kind),
            )
        })
    }

    /// A string that names something (a path, a command...): not blank.
    fn name(&self, key: &str) -> Result<String, Problem> {
        let s = self.required_string(key)?;
        if s.trim().is_empty() {
            return Err(self.problem(key, format!("`{key}` must not be empty")));
        }
        Ok(s)
    }

    fn integer(&self, key: &str) -> Result<Option<i64>, Problem> {
        match self.map.get(key) {
            None => Ok(None),
            Some(v @ Value::Number(n)) => n
                .as_i64()
                .map(Some)
                .ok_or_else(|| self.wrong(key, "an integer", v)),
            Some(other) => Err(self.wrong(key, "an integer", other)),
        }
    }

    fn integer_in(&self, key: &str, min: i64, max: i64) -> Result<Option<i64>, Problem> {
        match self.integer(key)? {
            Some(n) if n < min || n > max => Err(self.problem(
                key,
                format!("`{key}` must be between {min} and {max}, not {n}"),
            )),
            other => Ok(other),
        }
    }

    fn boolean(&self, key: &str) -> Result<Option<bool>, Problem> {
        match self.map.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(self.wrong(key, "a boolean", other)),
        }
    }

    fn must_be_true(&self, key: &str) -> Result<(), Problem> {
        match self.boolean(key)? {
            Some(true) => Ok(()),
            _ => Err(self.problem(
                key,
                format!("`{key}` must be `true` (omit the step instead)"),
            )),
        }
    }
}

/// Options each kind accepts besides its own key.
fn options_of(kind: &str) -> &'static [&'static str] {
    match kind {
        "tool" => &["args", "server", "allow_error"],
        "write" | "append" => &["content"],
        "run" => &["expect_status"],
        "permission" => &["on_deny"],
        _ => &[],
    }
}

fn step_of(value: &Value, loc: &Loc) -> Result<Step, Problem> {
    let Value::Object(map) = value else {
        return Err(Problem::new(
            loc.at,
            format!(
                "a step must be a table such as {{ say = \"hello\" }}, not {}",
                type_name(value)
            ),
        ));
    };
    // Keys in source order when known, so messages point at the first one.
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort_by_key(|k| loc.key_at(k).unwrap_or(usize::MAX));
    let kinds: Vec<&String> = keys
        .iter()
        .copied()
        .filter(|k| STEP_KINDS.contains(&k.as_str()))
        .collect();
    let kind = match kinds.as_slice() {
        [kind] => kind.as_str(),
        [] => {
            let message = match keys.first() {
                Some(key) => format!(
                    "unknown key `{key}`: a step needs exactly one of {}",
                    STEP_KINDS.join(", ")
                ),
                None => format!(
                    "empty step: a step needs exactly one of {}",
                    STEP_KINDS.join(", ")
                ),
            };
            return Err(Problem::new(
                keys.first().and_then(|k| loc.key_at(k)).or(loc.at),
                message,
            ));
        }
        [first, second, ..] => {
            return Err(Problem::new(
                loc.key_at(second).or(loc.at),
                format!(
                    "a step has exactly one kind, this one has {}: `{first}` and `{second}` \
                     (split it into two steps)",
                    kinds.len()
                ),
            ));
        }
    };
    let options = options_of(kind);
    if let Some(key) = keys
        .iter()
        .find(|k| k.as_str() != kind && !options.contains(&k.as_str()))
    {
        let allowed = if options.is_empty() {
            "it takes no options".to_string()
        } else {
            format!("its options are {}", options.join(", "))
        };
        return Err(Problem::new(
            loc.key_at(key).or(loc.at),
            format!("unknown key `{key}` in a `{kind}` step ({allowed})"),
        ));
    }
    let f = Fields { map, loc, kind };
    Ok(match kind {
        "say" => Step::Say(f.required_string("say")?),
        "think" => Step::Think(f.required_string("think")?),
        "plan" => {
            let v = &map["plan"];
            let Value::Array(items) = v else {
                return Err(f.wrong("plan", "a list of strings", v));
            };
            let mut entries = Vec::new();
            for item in items {
                match item {
                    Value::String(s) => entries.push(s.clone()),
                    other => return Err(f.wrong("plan", "a list of strings", other)),
                }
            }
            Step::Plan(entries)
        }
        "tool" => {
            let args = match map.get("args") {
                None => Map::new(),
                Some(Value::Object(args)) => args.clone(),
                Some(other) => return Err(f.wrong("args", "a table", other)),
            };
            let server = match f.string("server")? {
                Some(s) if s.trim().is_empty() => {
                    return Err(f.problem("server", "`server` must not be empty".to_string()));
                }
                Some(s) => s,
                None => "enki".to_string(),
            };
            Step::Tool {
                name: f.name("tool")?,
                server,
                args,
                allow_error: f.boolean("allow_error")?.unwrap_or(false),
            }
        }
        "write" => Step::Write {
            path: f.name("write")?,
            content: f.required_string("content")?,
        },
        "append" => Step::Append {
            path: f.name("append")?,
            content: f.required_string("content")?,
        },
        "read" => Step::Read(f.name("read")?),
        "delete" => Step::Delete(f.name("delete")?),
        "run" => Step::Run {
            command: f.name("run")?,
            expect_status: f
                .integer_in("expect_status", 0, 255)?
                .map_or(0, |n| n as i32),
        },
        "permission" => Step::Permission {
            title: f.name("permission")?,
            on_deny: match f.string("on_deny")?.as_deref() {
                None | Some("fail") => OnDeny::Fail,
                Some("continue") => OnDeny::Continue,
                Some(other) => {
                    return Err(f.problem(
                        "on_deny",
                        format!("`on_deny` must be \"fail\" or \"continue\", not \"{other}\""),
                    ));
                }
            },
        },
        "sleep_ms" => Step::Sleep(
            f.integer_in("sleep_ms", 0, i64::MAX)?
                .map_or(0, |n| n as u64),
        ),
        "fail" => Step::Fail(f.required_string("fail")?),
        "hang" => {
            f.must_be_true("hang")?;
            Step::Hang
        }
        "crash" => {
            f.must_be_true("crash")?;
            Step::Crash
        }
        "garbage" => {
            let text = f.required_string("garbage")?;
            if text.trim().is_empty() || text.contains(['\n', '\r']) {
                return Err(f.problem(
                    "garbage",
                    "`garbage` must be one non-blank line".to_string(),
                ));
            }
            Step::Garbage(text)
        }
        "exit" => Step::Exit(f.integer_in("exit", 0, 255)?.map_or(0, |n| n as i32)),
        "stop" => {
            let text = f.required_string("stop")?;
            let Some(reason) = StopReason::parse(&text) else {
                let names: Vec<&str> = StopReason::ALL.iter().map(|r| r.as_str()).collect();
                return Err(f.problem(
                    "stop",
                    format!("`stop` must be one of {}, not \"{text}\"", names.join(", ")),
                ));
            };
            Step::Stop(reason)
        }
        other => {
            // STEP_KINDS and this match are kept in step; stay graceful anyway.
            return Err(Problem::new(
                loc.at,
                format!("unsupported step kind `{other}`"),
            ));
        }
    })
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
            Step::Fail(_) => write!(f, "fail"),
            Step::Hang => write!(f, "hang"),
            Step::Crash => write!(f, "crash"),
            Step::Garbage(_) => write!(f, "garbage"),
            Step::Exit(code) => write!(f, "exit {code}"),
            Step::Stop(reason) => write!(f, "stop {}", reason.as_str()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn toml(text: &str) -> Result<Script, ScriptError> {
        parse(text, Format::Toml, Path::new("s.toml"))
    }

    fn json_script(text: &str) -> Result<Script, ScriptError> {
        parse(text, Format::Json, Path::new("s.json"))
    }

    /// The error's message, line and step.
    fn invalid(result: Result<Script, ScriptError>) -> (String, Option<usize>, Option<String>) {
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

    const EVERY_KIND: &str = r#"
description = "every step kind"

[[turn]]
steps = [
  { say = "Looking at {{prompt}}" },
  { think = "hmm" },
  { plan = ["read", "edit"] },
  { tool = "enki_worker_report", args = { status = "editing", n = 3, nested = { ok = true } } },
  { tool = "other_tool", server = "files", allow_error = true },
  { write = "src/lib.rs", content = "fn main() {}\n" },
  { append = "NOTES.md", content = "more" },
  { read = "src/lib.rs" },
  { delete = "old.txt" },
  { run = "cargo test", expect_status = 1 },
  { run = "true" },
  { permission = "Edit src/lib.rs", on_deny = "continue" },
  { permission = "Run rm" },
  { sleep_ms = 50 },
  { fail = "something broke" },
  { hang = true },
  { crash = true },
  { garbage = "this is not json" },
  { exit = 7 },
  { stop = "max_tokens" },
]

[[turn]]
steps = []
"#;

    fn expected_steps() -> Vec<Step> {
        let mut args = Map::new();
        args.insert("status".into(), json!("editing"));
        args.insert("n".into(), json!(3));
        args.insert("nested".into(), json!({"ok": true}));
        vec![
            Step::Say("Looking at {{prompt}}".into()),
            Step::Think("hmm".into()),
            Step::Plan(vec!["read".into(), "edit".into()]),
            Step::Tool {
                name: "enki_worker_report".into(),
                server: "enki".into(),
                args,
                allow_error: false,
            },
            Step::Tool {
                name: "other_tool".into(),
                server: "files".into(),
                args: Map::new(),
                allow_error: true,
            },
            Step::Write {
                path: "src/lib.rs".into(),
                content: "fn main() {}\n".into(),
            },
            Step::Append {
                path: "NOTES.md".into(),
                content: "more".into(),
            },
            Step::Read("src/lib.rs".into()),
            Step::Delete("old.txt".into()),
            Step::Run {
                command: "cargo test".into(),
                expect_status: 1,
            },
            Step::Run {
                command: "true".into(),
                expect_status: 0,
            },
            Step::Permission {
                title: "Edit src/lib.rs".into(),
                on_deny: OnDeny::Continue,
            },
            Step::Permission {
                title: "Run rm".into(),
                on_deny: OnDeny::Fail,
            },
            Step::Sleep(50),
            Step::Fail("something broke".into()),
            Step::Hang,
            Step::Crash,
            Step::Garbage("this is not json".into()),
            Step::Exit(7),
            Step::Stop(StopReason::MaxTokens),
        ]
    }

    #[test]
    fn toml_with_every_step_kind() {
        let script = toml(EVERY_KIND).unwrap();
        assert_eq!(script.source, "s.toml");
        assert_eq!(script.turns.len(), 2);
        assert_eq!(script.turns[0].steps, expected_steps());
        assert!(script.turns[1].steps.is_empty());
        // Every kind is covered by the example.
        let covered: Vec<String> = script.turns[0]
            .steps
            .iter()
            .map(|s| s.to_string().split(' ').next().unwrap().to_string())
            .collect();
        for kind in STEP_KINDS {
            let shown = match *kind {
                "sleep_ms" => "sleep",
                other => other,
            };
            assert!(covered.iter().any(|c| c == shown), "{kind} not covered");
        }
    }

    #[test]
    fn json_with_every_step_kind() {
        let text = json!({
            "turn": [
                {"steps": [
                    {"say": "Looking at {{prompt}}"},
                    {"think": "hmm"},
                    {"plan": ["read", "edit"]},
                    {"tool": "enki_worker_report",
                     "args": {"status": "editing", "n": 3, "nested": {"ok": true}}},
                    {"tool": "other_tool", "server": "files", "allow_error": true},
                    {"write": "src/lib.rs", "content": "fn main() {}\n"},
                    {"append": "NOTES.md", "content": "more"},
                    {"read": "src/lib.rs"},
                    {"delete": "old.txt"},
                    {"run": "cargo test", "expect_status": 1},
                    {"run": "true"},
                    {"permission": "Edit src/lib.rs", "on_deny": "continue"},
                    {"permission": "Run rm"},
                    {"sleep_ms": 50},
                    {"fail": "something broke"},
                    {"hang": true},
                    {"crash": true},
                    {"garbage": "this is not json"},
                    {"exit": 7},
                    {"stop": "max_tokens"}
                ]},
                {"steps": []}
            ]
        });
        let script = json_script(&serde_json::to_string_pretty(&text).unwrap()).unwrap();
        assert_eq!(script.turns[0].steps, expected_steps());
        let turns_alias = json_script(r#"{"turns": [{"steps": [{"say": "x"}]}]}"#).unwrap();
        assert_eq!(turns_alias.turns[0].steps, [Step::Say("x".into())]);
    }

    #[test]
    fn array_of_tables_steps() {
        let script = toml(
            "[[turn]]\n[[turn.steps]]\nsay = \"\"\"multi\nline\"\"\"\n[[turn.steps]]\nstop = \"refusal\"\n",
        )
        .unwrap();
        assert_eq!(
            script.turns[0].steps,
            [
                Step::Say("multi\nline".into()),
                Step::Stop(StopReason::Refusal)
            ]
        );
    }

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
    fn unknown_keys_name_file_line_and_step() {
        let (text, line, at) = invalid(toml(
            "[[turn]]\nsteps = [\n  { say = \"hi\" },\n  { say = \"x\", loud = true },\n]\n",
        ));
        assert_eq!(line, Some(4), "{text}");
        assert_eq!(at.as_deref(), Some("turn 1, step 2"));
        assert!(text.starts_with("s.toml:4: turn 1, step 2: "), "{text}");
        assert!(text.contains("unknown key `loud`"), "{text}");

        let (text, line, _) = invalid(toml("[[turn]]\nsteps = [{ sya = \"typo\" }]\n"));
        assert_eq!(line, Some(2));
        assert!(text.contains("unknown key `sya`"), "{text}");
        assert!(text.contains("say, think"), "lists the kinds: {text}");

        let (text, line, _) = invalid(toml("title = 1\n[[turn]]\nsteps = []\n"));
        assert_eq!(line, Some(1));
        assert!(text.contains("unknown key `title`"), "{text}");

        let (text, line, at) = invalid(toml("[[turn]]\nstep = []\n"));
        assert_eq!(line, Some(2));
        assert_eq!(at.as_deref(), Some("turn 1"));
        assert!(text.contains("unknown key `step`"), "{text}");
    }

    #[test]
    fn a_step_needs_exactly_one_kind() {
        let (text, line, at) = invalid(toml(
            "[[turn]]\nsteps = [\n  { say = \"a\" },\n  { say = \"b\",\n    write = \"f\" },\n]\n",
        ));
        assert_eq!(line, Some(5), "points at the second kind: {text}");
        assert_eq!(at.as_deref(), Some("turn 1, step 2"));
        assert!(text.contains("`say` and `write`"), "{text}");

        let (text, line, _) = invalid(toml("[[turn]]\nsteps = [{}]\n"));
        assert_eq!(line, Some(2));
        assert!(text.contains("empty step"), "{text}");

        let (text, _, _) = invalid(toml("[[turn]]\nsteps = [\"say\"]\n"));
        assert!(text.contains("must be a table"), "{text}");
    }

    #[test]
    fn wrong_types_are_named() {
        let cases = [
            ("{ say = 3 }", "`say` must be a string, not an integer"),
            ("{ plan = \"x\" }", "`plan` must be a list of strings"),
            ("{ plan = [1] }", "`plan` must be a list of strings"),
            ("{ tool = \"t\", args = 1 }", "`args` must be a table"),
            (
                "{ tool = \"t\", allow_error = \"yes\" }",
                "`allow_error` must be a boolean",
            ),
            ("{ tool = \"\" }", "`tool` must not be empty"),
            ("{ write = \"f\" }", "needs `content"),
            (
                "{ write = \"f\", content = 1 }",
                "`content` must be a string",
            ),
            (
                "{ run = \"x\", expect_status = \"0\" }",
                "`expect_status` must be an integer",
            ),
            ("{ run = \"x\", expect_status = 300 }", "between 0 and 255"),
            (
                "{ permission = \"p\", on_deny = \"ignore\" }",
                "\"fail\" or \"continue\"",
            ),
            ("{ sleep_ms = -1 }", "between 0"),
            (
                "{ sleep_ms = 1.5 }",
                "`sleep_ms` must be an integer, not a float",
            ),
            ("{ hang = false }", "`hang` must be `true`"),
            ("{ crash = 1 }", "`crash` must be a boolean"),
            ("{ garbage = \"a\\nb\" }", "one non-blank line"),
            ("{ exit = 256 }", "between 0 and 255"),
            ("{ stop = \"done\" }", "end_turn, max_tokens"),
            ("{ read = \"\" }", "`read` must not be empty"),
        ];
        for (step, expected) in cases {
            let text = format!("[[turn]]\nsteps = [\n  {step},\n]\n");
            let (message, line, at) = invalid(toml(&text));
            assert!(message.contains(expected), "{step}: {message}");
            assert_eq!(line, Some(3), "{step}: {message}");
            assert_eq!(at.as_deref(), Some("turn 1, step 1"), "{step}");
        }
    }

    #[test]
    fn script_shape_errors() {
        let (text, _, _) = invalid(toml(""));
        assert!(text.contains("at least one turn"), "{text}");
        let (text, _, _) = invalid(toml("turn = []\n"));
        assert!(text.contains("at least one turn"), "{text}");
        let (text, line, _) = invalid(toml("turn = 3\n"));
        assert_eq!(line, Some(1));
        assert!(text.contains("list of turns"), "{text}");
        let (text, _, _) = invalid(toml("[[turn]]\n"));
        assert!(text.contains("needs `steps"), "{text}");
        let (text, _, _) = invalid(toml("[[turn]]\nsteps = 1\n"));
        assert!(text.contains("`steps` must be a list"), "{text}");
        let (text, _, _) = invalid(json_script("[1]"));
        assert!(text.contains("must be a table"), "{text}");
        let (text, _, _) = invalid(json_script(r#"{"turn": [], "turns": []}"#));
        assert!(text.contains("not both"), "{text}");
    }

    #[test]
    fn syntax_errors_have_lines() {
        let (text, line, _) = invalid(toml("[[turn]]\nsteps = [\n  { say = \"a\" \n"));
        assert!(line.is_some(), "{text}");
        assert!(text.starts_with("s.toml:"), "{text}");
        let (text, line, _) = invalid(json_script("{\n\"turn\": [\n}\n"));
        assert_eq!(line, Some(3), "{text}");
        assert!(text.contains("invalid JSON"), "{text}");
    }

    #[test]
    fn json_errors_have_lines_too() {
        let text = "{\n  \"turn\": [\n    {\"steps\": [\n      {\"say\": \"a\"},\n      {\"say\": \"b\", \"x\\u0041\": 1}\n    ]}\n  ]\n}\n";
        let (message, line, at) = invalid(json_script(text));
        assert_eq!(line, Some(5), "{message}");
        assert_eq!(at.as_deref(), Some("turn 1, step 2"));
        assert!(message.contains("unknown key `xA`"), "{message}");
        assert!(message.starts_with("s.json:5: "), "{message}");
    }

    #[test]
    fn load_reads_files_and_names_missing_ones() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.toml");
        let err = load(&missing).unwrap_err();
        assert!(matches!(err, ScriptError::Read { .. }));
        assert!(err.to_string().contains("missing.toml"), "{err}");

        let bad_ext = dir.path().join("script.yaml");
        std::fs::write(&bad_ext, "").unwrap();
        assert!(
            load(&bad_ext)
                .unwrap_err()
                .to_string()
                .contains(".toml or .json")
        );

        let path = dir.path().join("s.JSON");
        std::fs::write(&path, r#"{"turn": [{"steps": [{"stop": "refusal"}]}]}"#).unwrap();
        let script = load(&path).unwrap();
        assert_eq!(script.turns[0].steps, [Step::Stop(StopReason::Refusal)]);
        assert_eq!(script.source, path.display().to_string());
    }

    #[test]
    fn the_module_example_parses() {
        let doc = include_str!("script.rs");
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
