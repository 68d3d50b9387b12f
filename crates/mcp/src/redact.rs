//! What the logs may keep of a message: values under keys that name a secret
//! (`token`, `secret`, `password`, `authorization`, … in any case and at any
//! depth) are replaced, and long strings are cut.

use serde_json::Value;

/// What a secret's value becomes.
pub const REDACTED: &str = "[redacted]";

/// Words that make a key a secret's, wherever they stand in it (`apiToken`,
/// `X-Auth-Token`, `db.password`, `client_secret`).
const SECRET_WORDS: &[&str] = &[
    "token",
    "secret",
    "password",
    "passwd",
    "passphrase",
    "authorization",
    "cookie",
    "credential",
    "credentials",
    "apikey",
    "bearer",
];

/// Two words that together name a secret (`api_key`, `X-API-Key`, `privateKey`).
const SECRET_PAIRS: &[(&str, &str)] = &[("api", "key"), ("private", "key"), ("access", "key")];

/// A key split into lower-case words at punctuation and at camel-case humps.
fn words(key: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut previous_lower = false;
    for c in key.chars() {
        if !c.is_alphanumeric() {
            words.push(std::mem::take(&mut current));
            previous_lower = false;
            continue;
        }
        if c.is_uppercase() && previous_lower {
            words.push(std::mem::take(&mut current));
        }
        previous_lower = c.is_lowercase() || c.is_ascii_digit();
        current.extend(c.to_lowercase());
    }
    words.push(current);
    words.retain(|w| !w.is_empty());
    words
}

/// Whether a value under `key` is a secret.
pub fn is_secret_key(key: &str) -> bool {
    let words = words(key);
    words.iter().any(|w| SECRET_WORDS.contains(&w.as_str()))
        || words
            .windows(2)
            .any(|pair| SECRET_PAIRS.contains(&(pair[0].as_str(), pair[1].as_str())))
}

/// `value` with every secret replaced by [`REDACTED`] and, when `cut_at` is
/// given, every string longer than that many characters cut, saying how
/// long it was.
pub fn scrub(value: &Value, cut_at: Option<usize>) -> Value {
    walk(value, cut_at, true)
}

/// `value` with every string longer than `limit` characters cut, saying how
/// long it was (for the rows of a listing; nothing is redacted).
pub fn cut_long_strings(value: &Value, limit: usize) -> Value {
    walk(value, Some(limit), false)
}

fn walk(value: &Value, cut_at: Option<usize>, redact: bool) -> Value {
    match value {
        Value::String(s) => match cut_at {
            Some(limit) if s.chars().count() > limit => {
                let cut: String = s.chars().take(limit).collect();
                Value::String(format!("{cut}… ({} chars)", s.chars().count()))
            }
            _ => value.clone(),
        },
        Value::Array(items) => {
            Value::Array(items.iter().map(|v| walk(v, cut_at, redact)).collect())
        }
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let kept = if redact && is_secret_key(k) {
                        Value::String(REDACTED.to_string())
                    } else {
                        walk(v, cut_at, redact)
                    };
                    (k.clone(), kept)
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn secret_keys_are_found_in_any_case_and_spelling() {
        for key in [
            "token",
            "TOKEN",
            "Authorization",
            "authorization",
            "access_token",
            "apiToken",
            "X-Auth-Token",
            "client_secret",
            "clientSecret",
            "PASSWORD",
            "db.password",
            "passwd",
            "api_key",
            "X-API-Key",
            "apiKey",
            "apikey",
            "privateKey",
            "Cookie",
            "aws_credentials",
        ] {
            assert!(is_secret_key(key), "{key}");
        }
        for key in [
            "task_id",
            "title",
            "max_tokens",
            "tokenizer",
            "auth_method",
            "key",
            "monkey",
            "description",
        ] {
            assert!(!is_secret_key(key), "{key}");
        }
    }

    #[test]
    fn secrets_are_replaced_at_any_depth_whatever_their_type() {
        let value = json!({
            "title": "keep",
            "token": "t0p",
            "nested": {"Password": 1234, "list": [{"authorization": {"scheme": "Bearer x"}}]},
            "headers": [{"X-Api-Key": ["a", "b"]}],
        });
        let clean = scrub(&value, None);
        assert_eq!(
            clean,
            json!({
                "title": "keep",
                "token": REDACTED,
                "nested": {"Password": REDACTED, "list": [{"authorization": REDACTED}]},
                "headers": [{"X-Api-Key": REDACTED}],
            })
        );
        assert!(!clean.to_string().contains("t0p"));
    }

    #[test]
    fn long_strings_are_cut_everywhere_and_say_how_long_they_were() {
        let long = "x".repeat(1000);
        let cut = scrub(
            &json!({"a": long, "b": [long], "c": 1, "secret": long}),
            Some(200),
        );
        let a = cut["a"].as_str().unwrap_or_default();
        assert!(
            a.chars().count() < 300 && a.ends_with("(1000 chars)"),
            "{a}"
        );
        assert_eq!(cut["b"][0], cut["a"]);
        assert_eq!(cut["c"], 1);
        assert_eq!(cut["secret"], REDACTED);
        assert_eq!(scrub(&json!("short"), Some(200)), json!("short"));
        let kept = cut_long_strings(&json!({"token": long}), 10);
        assert_eq!(kept["token"], format!("{}… (1000 chars)", "x".repeat(10)));
    }
}
