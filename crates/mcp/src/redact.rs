//! What the logs may keep of a message: values under keys that name a secret
//! (`token`, `secret`, `password`, `authorization`, … in any case and at any
//! depth) are replaced, and long strings are cut.

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
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
    if !may_name_a_secret(key) {
        return false;
    }
    let words = words(key);
    words.iter().any(|w| SECRET_WORDS.contains(&w.as_str()))
        || words
            .windows(2)
            .any(|pair| SECRET_PAIRS.contains(&(pair[0].as_str(), pair[1].as_str())))
}

/// Whether `key` holds a secret word, or the `key` of a pair, anywhere in
/// it: a key that does not (most keys) cannot be a secret's, and is told
/// without splitting it into words. Keys beyond ASCII take the long way.
fn may_name_a_secret(key: &str) -> bool {
    if !key.is_ascii() {
        return true;
    }
    let key = key.as_bytes();
    let holds = |word: &str| {
        key.windows(word.len())
            .any(|part| part.eq_ignore_ascii_case(word.as_bytes()))
    };
    SECRET_WORDS.iter().any(|word| holds(word)) || holds("key")
}

/// The JSON text of [`scrub`]`(value, cut_at)`, written as it is walked
/// instead of through a scrubbed copy of the whole message (the traffic
/// log does this for every message in and out).
pub fn scrubbed_json(value: &Value, cut_at: Option<usize>) -> String {
    serde_json::to_string(&Scrubbed { value, cut_at }).unwrap_or_else(|e| {
        // A `Value` always serializes; say so rather than lose the entry.
        Value::String(format!("unloggable message: {e}")).to_string()
    })
}

/// A value serialized as [`scrub`] would leave it.
struct Scrubbed<'a> {
    value: &'a Value,
    cut_at: Option<usize>,
}

impl Serialize for Scrubbed<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let inner = |value| Scrubbed {
            value,
            cut_at: self.cut_at,
        };
        match self.value {
            Value::String(text) => match self.cut_at {
                Some(limit) if text.chars().count() > limit => {
                    serializer.serialize_str(&cut_text(text, limit))
                }
                _ => serializer.serialize_str(text),
            },
            Value::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(&inner(item))?;
                }
                seq.end()
            }
            Value::Object(map) => {
                let mut out = serializer.serialize_map(Some(map.len()))?;
                for (key, value) in map {
                    if is_secret_key(key) {
                        out.serialize_entry(key, REDACTED)?;
                    } else {
                        out.serialize_entry(key, &inner(value))?;
                    }
                }
                out.end()
            }
            other => other.serialize(serializer),
        }
    }
}

/// The first `limit` characters of `text`, saying how long it was.
fn cut_text(text: &str, limit: usize) -> String {
    let cut: String = text.chars().take(limit).collect();
    format!("{cut}… ({} chars)", text.chars().count())
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
            Some(limit) if s.chars().count() > limit => Value::String(cut_text(s, limit)),
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

    #[test]
    fn the_scrubbed_text_is_the_text_of_the_scrubbed_copy() {
        let long = "é".repeat(300);
        let value = json!({
            "jsonrpc": "2.0", "id": 7, "method": "tools/call",
            "params": {"name": "x", "arguments": {
                "title": long, "apiToken": "t0p", "ÜberKey": "u", "list": [1, null, true, 2.5, {"Secret": [long]}],
            }},
        });
        for cut_at in [None, Some(10), Some(300)] {
            assert_eq!(
                scrubbed_json(&value, cut_at),
                scrub(&value, cut_at).to_string(),
                "{cut_at:?}"
            );
        }
        assert!(!scrubbed_json(&value, None).contains("t0p"));
    }
}
