//! Reads one step table into a [`Step`]: exactly one kind key, only that
//! kind's options, each value of the right type and range.

use serde_json::{Map, Value};

use super::locations::Loc;
use super::validate::{Problem, type_name};
use super::{OnDeny, STEP_KINDS, Step, StopReason};

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

/// The keys of a `usage` table.
const USAGE_KEYS: &[&str] = &[
    "input",
    "output",
    "cache_read",
    "cache_write",
    "cost",
    "currency",
];

/// A `usage = { input = 1200, ..., cost = 0.02, currency = "USD" }` table.
fn usage_of(f: &Fields<'_>, value: &Value) -> Result<crate::usage::UsageStep, Problem> {
    let Value::Object(table) = value else {
        return Err(f.wrong(
            "usage",
            "a table such as { input = 1200, output = 300 }",
            value,
        ));
    };
    if let Some(key) = table.keys().find(|k| !USAGE_KEYS.contains(&k.as_str())) {
        return Err(f.problem(
            "usage",
            format!(
                "unknown key `{key}` in `usage` (its keys are {})",
                USAGE_KEYS.join(", ")
            ),
        ));
    }
    let tokens = |key: &str| match table.get(key) {
        None => Ok(None),
        Some(Value::Number(n)) if n.as_u64().is_some() => Ok(n.as_u64()),
        Some(other) => Err(f.problem(
            "usage",
            format!(
                "`usage.{key}` must be a token count (an integer, 0 or more), not {}",
                type_name(other)
            ),
        )),
    };
    let cost = match table.get("cost") {
        None => None,
        Some(Value::Number(n)) if n.as_f64().is_some_and(|c| c >= 0.0) => n.as_f64(),
        Some(other) => {
            return Err(f.problem(
                "usage",
                format!("`usage.cost` must be an amount (0 or more), not {other}"),
            ));
        }
    };
    let currency = match table.get("currency") {
        None => "USD".to_string(),
        Some(Value::String(c)) if !c.trim().is_empty() => c.clone(),
        Some(other) => {
            return Err(f.problem(
                "usage",
                format!("`usage.currency` must be a currency code such as \"USD\", not {other}"),
            ));
        }
    };
    Ok(crate::usage::UsageStep {
        input: tokens("input")?,
        output: tokens("output")?,
        cache_read: tokens("cache_read")?,
        cache_write: tokens("cache_write")?,
        cost,
        currency,
    })
}

/// Options each kind accepts besides its own key.
fn options_of(kind: &str) -> &'static [&'static str] {
    match kind {
        "tool" => &["args", "server", "allow_error"],
        "write" => &["content", "allow_error"],
        "append" => &["content"],
        "run" => &["expect_status"],
        "permission" => &["on_deny", "kind", "path"],
        "retry" => &["times", "every_ms"],
        "keepalive" => &["every_ms"],
        "limit" => &["resets_in_secs", "like", "times"],
        _ => &[],
    }
}

pub(super) fn step_of(value: &Value, loc: &Loc) -> Result<Step, Problem> {
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
            allow_error: f.boolean("allow_error")?.unwrap_or(false),
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
            kind: f.string("kind")?,
            path: f.string("path")?,
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
        "retry" => Step::Retry {
            message: f.name("retry")?,
            times: f.integer_in("times", 1, 1_000_000)?.map_or(1, |n| n as u64),
            every_ms: f
                .integer_in("every_ms", 0, 3_600_000)?
                .map_or(0, |n| n as u64),
        },
        "keepalive" => Step::KeepAlive {
            times: f
                .integer_in("keepalive", 1, 1_000_000)?
                .map_or(1, |n| n as u64),
            every_ms: f
                .integer_in("every_ms", 0, 3_600_000)?
                .map_or(0, |n| n as u64),
        },
        "usage" => Step::Usage(usage_of(&f, &map["usage"])?),
        "fail" => Step::Fail(f.required_string("fail")?),
        "limit" => {
            let name = f.required_string("limit")?;
            let kind = crate::limit::LimitKind::parse(&name).ok_or_else(|| {
                f.problem(
                    "limit",
                    format!(
                        "`limit` must be {}, not \"{name}\"",
                        crate::limit::LimitKind::NAMES
                    ),
                )
            })?;
            let like = match f.string("like")?.as_deref() {
                None | Some("claude") => crate::limit::Like::Claude,
                Some("codex") => crate::limit::Like::Codex,
                Some(other) => {
                    return Err(f.problem(
                        "like",
                        format!("`like` must be \"claude\" or \"codex\", not \"{other}\""),
                    ));
                }
            };
            Step::Limit(crate::limit::LimitStep {
                kind,
                resets_in_secs: f
                    .integer_in("resets_in_secs", 0, 100_000_000)?
                    .map(|n| n as u64),
                like,
                times: f.integer_in("times", 1, 1_000_000)?.map(|n| n as u64),
                site: String::new(),
            })
        }
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
        "stderr" => Step::Stderr(f.required_string("stderr")?),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::script::test_support::{invalid, json_script, toml};
    use serde_json::json;

    const EVERY_KIND: &str = r#"
description = "every step kind"

[[turn]]
steps = [
  { say = "Looking at {{prompt}}" },
  { think = "hmm" },
  { plan = ["read", "edit"] },
  { tool = "enki_worker_report", args = { status = "editing", n = 3, nested = { ok = true } } },
  { tool = "other_tool", server = "files", allow_error = true },
  { write = "src/lib.rs", content = "fn main() {}\n", allow_error = true },
  { append = "NOTES.md", content = "more" },
  { read = "src/lib.rs" },
  { delete = "old.txt" },
  { run = "cargo test", expect_status = 1 },
  { run = "true" },
  { permission = "Edit src/lib.rs", on_deny = "continue" },
  { permission = "Run rm" },
  { sleep_ms = 50 },
  { retry = "Reconnecting... 1/5", times = 3, every_ms = 10 },
  { keepalive = 2 },
  { usage = { input = 10, output = 2, cost = 0.5, currency = "EUR" } },
  { fail = "something broke" },
  { limit = "quota", resets_in_secs = 3, like = "codex" },
  { hang = true },
  { crash = true },
  { garbage = "this is not json" },
  { stderr = "Error: model unavailable" },
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
                allow_error: true,
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
                kind: None,
                path: None,
                on_deny: OnDeny::Continue,
            },
            Step::Permission {
                title: "Run rm".into(),
                kind: None,
                path: None,
                on_deny: OnDeny::Fail,
            },
            Step::Sleep(50),
            Step::Retry {
                message: "Reconnecting... 1/5".into(),
                times: 3,
                every_ms: 10,
            },
            Step::KeepAlive {
                times: 2,
                every_ms: 0,
            },
            Step::Usage(crate::usage::UsageStep {
                input: Some(10),
                output: Some(2),
                cache_read: None,
                cache_write: None,
                cost: Some(0.5),
                currency: "EUR".into(),
            }),
            Step::Fail("something broke".into()),
            Step::Limit(crate::limit::LimitStep {
                kind: crate::limit::LimitKind::Quota,
                resets_in_secs: Some(3),
                like: crate::limit::Like::Codex,
                times: None,
                site: String::new(),
            }),
            Step::Hang,
            Step::Crash,
            Step::Garbage("this is not json".into()),
            Step::Stderr("Error: model unavailable".into()),
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
                    {"write": "src/lib.rs", "content": "fn main() {}\n", "allow_error": true},
                    {"append": "NOTES.md", "content": "more"},
                    {"read": "src/lib.rs"},
                    {"delete": "old.txt"},
                    {"run": "cargo test", "expect_status": 1},
                    {"run": "true"},
                    {"permission": "Edit src/lib.rs", "on_deny": "continue"},
                    {"permission": "Run rm"},
                    {"sleep_ms": 50},
                    {"retry": "Reconnecting... 1/5", "times": 3, "every_ms": 10},
                    {"keepalive": 2},
                    {"usage": {"input": 10, "output": 2, "cost": 0.5, "currency": "EUR"}},
                    {"fail": "something broke"},
                    {"limit": "quota", "resets_in_secs": 3, "like": "codex"},
                    {"hang": true},
                    {"crash": true},
                    {"garbage": "this is not json"},
                    {"stderr": "Error: model unavailable"},
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
            (
                "{ limit = \"daily\" }",
                "`limit` must be \"quota\", \"rate_limit\" or \"overloaded\", not \"daily\"",
            ),
            (
                "{ limit = \"quota\", like = \"gemini\" }",
                "`like` must be \"claude\" or \"codex\"",
            ),
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
            ("{ usage = 5 }", "`usage` must be a table"),
            (
                "{ usage = { input = -1 } }",
                "`usage.input` must be a token count",
            ),
            (
                "{ usage = { cost = \"1\" } }",
                "`usage.cost` must be an amount",
            ),
            (
                "{ usage = { tokens = 1 } }",
                "unknown key `tokens` in `usage`",
            ),
        ];
        for (step, expected) in cases {
            let text = format!("[[turn]]\nsteps = [\n  {step},\n]\n");
            let (message, line, at) = invalid(toml(&text));
            assert!(message.contains(expected), "{step}: {message}");
            assert_eq!(line, Some(3), "{step}: {message}");
            assert_eq!(at.as_deref(), Some("turn 1, step 1"), "{step}");
        }
    }
}
