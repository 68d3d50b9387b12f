//! Checks the shape of a script (turns of steps) and builds its [`Turn`]s;
//! each step table is read by [`step_of`].

use serde_json::Value;

use super::Turn;
use super::locations::Loc;
use super::step_table::step_of;

/// A validation problem: where (byte offset), in which step, and what.
pub(super) struct Problem {
    pub(super) offset: Option<usize>,
    pub(super) at: Option<String>,
    pub(super) message: String,
}

impl Problem {
    pub(super) fn new(offset: Option<usize>, message: impl Into<String>) -> Problem {
        Problem {
            offset,
            at: None,
            message: message.into(),
        }
    }
}

pub(super) fn type_name(v: &Value) -> &'static str {
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

pub(super) fn turns_of(root: &Value, loc: &Loc) -> Result<Vec<Turn>, Problem> {
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

#[cfg(test)]
mod tests {
    use crate::script::test_support::{invalid, json_script, toml};

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
}
