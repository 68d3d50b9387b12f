//! `{{...}}` placeholders in script text: `{{prompt}}`, `{{cwd}}`,
//! `{{session}}`, `{{env.NAME}}`. Anything else is left as written.

use serde_json::Value;

/// Longest prompt text `{{prompt}}` expands to, in characters.
pub const PROMPT_MAX_CHARS: usize = 200;

/// The values placeholders expand to.
#[derive(Debug, Clone, Copy)]
pub struct Vars<'a> {
    pub prompt: &'a str,
    pub cwd: &'a str,
    pub session: &'a str,
}

/// Expands every known placeholder in `text`. `env` looks up `{{env.NAME}}`
/// (an unset variable expands to nothing).
pub fn render_with(text: &str, vars: &Vars<'_>, env: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let name = after[..end].trim();
        let expansion = match name {
            "prompt" => Some(truncate(vars.prompt, PROMPT_MAX_CHARS)),
            "cwd" => Some(vars.cwd.to_string()),
            "session" => Some(vars.session.to_string()),
            _ => name
                .strip_prefix("env.")
                .filter(|n| !n.is_empty())
                .map(|n| env(n).unwrap_or_default()),
        };
        match expansion {
            Some(value) => out.push_str(&value),
            None => out.push_str(&rest[start..start + 2 + end + 2]),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

/// [`render_with`] using the process environment.
pub fn render(text: &str, vars: &Vars<'_>) -> String {
    render_with(text, vars, &|name| std::env::var(name).ok())
}

/// Renders every string inside a JSON value (object keys are kept).
pub fn render_value(value: &Value, vars: &Vars<'_>) -> Value {
    match value {
        Value::String(s) => Value::String(render(s, vars)),
        Value::Array(items) => Value::Array(items.iter().map(|v| render_value(v, vars)).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), render_value(v, vars)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// At most `max` characters of `text`, with `…` when cut.
pub fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_string(),
        Some((cut, _)) => format!("{}…", &text[..cut]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const VARS: Vars<'static> = Vars {
        prompt: "fix the bug",
        cwd: "/work/copy",
        session: "sim-1",
    };

    fn env(name: &str) -> Option<String> {
        (name == "WHO").then(|| "world".to_string())
    }

    #[test]
    fn known_placeholders_expand() {
        assert_eq!(
            render_with(
                "{{prompt}} in {{cwd}} ({{session}}), hello {{env.WHO}}",
                &VARS,
                &env
            ),
            "fix the bug in /work/copy (sim-1), hello world"
        );
        assert_eq!(render_with("{{ prompt }}", &VARS, &env), "fix the bug");
    }

    #[test]
    fn unset_env_is_empty_and_unknown_placeholders_stay() {
        assert_eq!(render_with("[{{env.NOPE}}]", &VARS, &env), "[]");
        assert_eq!(
            render_with("{{other}} {{env.}} {{", &VARS, &env),
            "{{other}} {{env.}} {{"
        );
        assert_eq!(render_with("a }} b {{cwd", &VARS, &env), "a }} b {{cwd");
        assert_eq!(render_with("", &VARS, &env), "");
        assert_eq!(render_with("{{}}", &VARS, &env), "{{}}");
    }

    #[test]
    fn prompt_is_truncated() {
        let long = "é".repeat(PROMPT_MAX_CHARS + 50);
        let vars = Vars {
            prompt: &long,
            ..VARS
        };
        let out = render_with("{{prompt}}", &vars, &env);
        assert_eq!(out.chars().count(), PROMPT_MAX_CHARS + 1);
        assert!(out.ends_with('…'));
        assert_eq!(truncate("short", 10), "short");
        assert_eq!(truncate("abcdef", 3), "abc…");
    }

    #[test]
    fn values_render_recursively() {
        let v = json!({"status": "on {{prompt}}", "n": 1, "list": ["{{session}}", true]});
        assert_eq!(
            render_value(&v, &VARS),
            json!({"status": "on fix the bug", "n": 1, "list": ["sim-1", true]})
        );
    }
}
