//! Identifiers: ULIDs with a readable kind prefix (`task-01J…`).
//!
//! ULIDs sort by creation time, so ids double as a stable creation order.
//! Users and agents may type any unique prefix of an id; [`normalize_prefix`]
//! turns what they typed into a canonical prefix and [`pick_unique`] turns the
//! matching candidates into one id or a clear error.

use std::fmt;

use thiserror::Error;
use ulid::Ulid;

/// Number of ULID characters kept in the short form that lists print.
/// 10 characters are the millisecond timestamp, the rest is randomness.
pub const SHORT_ULID_LEN: usize = 14;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdKind {
    Task,
    Execution,
    Message,
    MergeRequest,
    Session,
}

impl IdKind {
    pub const fn prefix(self) -> &'static str {
        match self {
            IdKind::Task => "task-",
            IdKind::Execution => "exec-",
            IdKind::Message => "msg-",
            IdKind::MergeRequest => "mr-",
            IdKind::Session => "sess-",
        }
    }

    pub const fn noun(self) -> &'static str {
        match self {
            IdKind::Task => "task",
            IdKind::Execution => "execution",
            IdKind::Message => "message",
            IdKind::MergeRequest => "merge request",
            IdKind::Session => "session",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum IdError {
    #[error("'{input}' is not a valid {noun} id (expected '{prefix}' followed by up to 26 ULID characters)", noun = kind.noun(), prefix = kind.prefix())]
    Malformed { kind: IdKind, input: String },
    #[error("no {noun} matches '{input}'", noun = kind.noun())]
    NotFound { kind: IdKind, input: String },
    #[error("'{input}' is ambiguous: it matches {noun}s {list}", noun = kind.noun(), list = candidates.join(", "))]
    Ambiguous {
        kind: IdKind,
        input: String,
        candidates: Vec<String>,
    },
}

fn is_crockford(c: char) -> bool {
    c.is_ascii_digit() || (c.is_ascii_uppercase() && !matches!(c, 'I' | 'L' | 'O' | 'U'))
}

/// Turns user input (`task-01jx`, `01JX`, a full id) into an upper-case
/// canonical prefix `task-01JX`. The kind prefix is optional in the input.
pub fn normalize_prefix(kind: IdKind, input: &str) -> Result<String, IdError> {
    let trimmed = input.trim();
    let body = trimmed.strip_prefix(kind.prefix()).unwrap_or(trimmed);
    let body = body.to_ascii_uppercase();
    if body.is_empty() || body.len() > 26 || !body.chars().all(is_crockford) {
        return Err(IdError::Malformed {
            kind,
            input: input.to_string(),
        });
    }
    Ok(format!("{}{}", kind.prefix(), body))
}

/// Chooses the single id among `candidates` (all ids that start with the
/// normalized prefix). An exact match wins even if it is also a prefix of
/// others (ids have fixed length, so that cannot happen, but be explicit).
pub fn pick_unique(kind: IdKind, input: &str, candidates: Vec<String>) -> Result<String, IdError> {
    let normalized = normalize_prefix(kind, input)?;
    if candidates.contains(&normalized) {
        return Ok(normalized);
    }
    match candidates.len() {
        0 => Err(IdError::NotFound {
            kind,
            input: input.to_string(),
        }),
        1 => Ok(candidates.into_iter().next().unwrap_or_default()),
        _ => Err(IdError::Ambiguous {
            kind,
            input: input.to_string(),
            candidates,
        }),
    }
}

/// The short form lists print: the kind prefix and the first
/// [`SHORT_ULID_LEN`] ULID characters.
pub fn short(id: &str) -> &str {
    let prefix_len = id.find('-').map(|i| i + 1).unwrap_or(0);
    let end = (prefix_len + SHORT_ULID_LEN).min(id.len());
    id.get(..end).unwrap_or(id)
}

macro_rules! id_type {
    ($name:ident, $kind:expr) => {
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub const KIND: IdKind = $kind;

            /// A fresh id for a new entity.
            pub fn generate() -> Self {
                Self(format!("{}{}", $kind.prefix(), Ulid::new()))
            }

            /// Parses a complete id (prefix and all 26 ULID characters).
            pub fn parse(input: &str) -> Result<Self, IdError> {
                let normalized = normalize_prefix($kind, input)?;
                let ulid_part = &normalized[$kind.prefix().len()..];
                if Ulid::from_string(ulid_part).is_err() {
                    return Err(IdError::Malformed {
                        kind: $kind,
                        input: input.to_string(),
                    });
                }
                Ok(Self(normalized))
            }

            /// Wraps a string already known to be a valid id (read back from the store).
            pub fn from_trusted(id: String) -> Self {
                Self(id)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn short(&self) -> &str {
                short(&self.0)
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(TaskId, IdKind::Task);
id_type!(ExecutionId, IdKind::Execution);
id_type!(MessageId, IdKind::Message);
id_type!(MergeRequestId, IdKind::MergeRequest);
id_type!(SessionId, IdKind::Session);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_carry_their_prefix_and_parse_back() {
        let id = TaskId::generate();
        assert!(id.as_str().starts_with("task-"));
        assert_eq!(id.as_str().len(), 5 + 26);
        assert_eq!(TaskId::parse(id.as_str()), Ok(id.clone()));
        assert_eq!(TaskId::parse(&id.as_str().to_lowercase()), Ok(id));
        assert!(ExecutionId::generate().as_str().starts_with("exec-"));
        assert!(MessageId::generate().as_str().starts_with("msg-"));
        assert!(MergeRequestId::generate().as_str().starts_with("mr-"));
        assert!(SessionId::generate().as_str().starts_with("sess-"));
    }

    #[test]
    fn parse_rejects_wrong_kind_and_garbage() {
        let exec = ExecutionId::generate();
        assert!(TaskId::parse(exec.as_str()).is_err());
        assert!(TaskId::parse("task-").is_err());
        assert!(
            TaskId::parse("task-01J").is_err(),
            "a prefix is not a full id"
        );
        assert!(TaskId::parse("task-01JXXXXXXXXXXXXXXXXXXXXXXXXXXXXX").is_err());
        assert!(TaskId::parse("task-ILOU0000000000000000000000").is_err());
    }

    #[test]
    fn normalize_accepts_bare_and_lowercase_prefixes() {
        assert_eq!(normalize_prefix(IdKind::Task, "01jx").unwrap(), "task-01JX");
        assert_eq!(
            normalize_prefix(IdKind::Task, " task-01JX ").unwrap(),
            "task-01JX"
        );
        assert!(normalize_prefix(IdKind::Task, "").is_err());
        assert!(normalize_prefix(IdKind::Task, "task-01J%").is_err());
        assert!(normalize_prefix(IdKind::Task, "task-0'; DROP").is_err());
    }

    #[test]
    fn pick_unique_reports_missing_and_ambiguous_prefixes() {
        let a = "task-01JAAAAAAAAAAAAAAAAAAAAAAA".to_string();
        let b = "task-01JAAAAAAAAAAAAAAAAAAAAAAB".to_string();
        assert_eq!(
            pick_unique(IdKind::Task, "01JA", vec![a.clone()]).unwrap(),
            a
        );
        assert!(matches!(
            pick_unique(IdKind::Task, "01JZ", vec![]),
            Err(IdError::NotFound { .. })
        ));
        let err = pick_unique(IdKind::Task, "01JA", vec![a.clone(), b.clone()]).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("ambiguous") && text.contains(&a) && text.contains(&b),
            "{text}"
        );
        assert_eq!(
            pick_unique(IdKind::Task, &a, vec![a.clone(), b]).unwrap(),
            a
        );
    }

    #[test]
    fn short_form_keeps_prefix_and_fourteen_characters() {
        assert_eq!(
            short("task-01JAAAAAAAAAAAAAAAAAAAAAAA"),
            "task-01JAAAAAAAAAAA"
        );
        assert_eq!(short("mr-01JAAAAAAAAAAAAAAAAAAAAAAA"), "mr-01JAAAAAAAAAAA");
        assert_eq!(short("x"), "x");
    }
}
