//! Request ids: the exact form a peer sent (so that a response echoes it byte
//! for byte), and allocation for the side that sends requests.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicI64, Ordering};

use serde::de::{Deserialize, Deserializer, Error as _};
use serde::ser::{Serialize, Serializer};
use serde_json::value::RawValue;

/// Request id. JSON-RPC 2.0 allows a string or a number (which SHOULD have no
/// fractional part); the form the peer sent is kept so that a response echoes
/// exactly what it sent. (`null`, which JSON-RPC discourages and MCP forbids
/// on a request, is not an id: a request with it is invalid, and a response's
/// `null` id means "unknown", see [`crate::Response`].)
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Id {
    /// A number written the way an `i64` is printed (`7`, `-3`).
    Number(i64),
    /// A string written the way serde_json writes it (only the escapes it
    /// needs).
    String(String),
    /// Any other number or string, kept as its exact JSON text: `-0`, `1e3`,
    /// `1.0`, `18446744073709551617`, `"\u0041"`.
    Raw(RawId),
}

/// The exact JSON text of an id that [`Id::Number`] and [`Id::String`]
/// would not reproduce byte for byte. Always a valid JSON number or string.
#[derive(Debug, Clone)]
pub struct RawId(Box<RawValue>);

impl RawId {
    /// The id as it was written on the wire.
    pub fn as_json(&self) -> &str {
        self.0.get()
    }
}

impl PartialEq for RawId {
    fn eq(&self, other: &Self) -> bool {
        self.as_json() == other.as_json()
    }
}

impl Eq for RawId {}

impl Hash for RawId {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_json().hash(state);
    }
}

impl Id {
    /// The id written as `json` (a JSON number or string; surrounding
    /// whitespace is ignored), or `None` when `json` is anything else.
    pub fn from_json(json: &str) -> Option<Id> {
        let raw: Box<RawValue> = serde_json::from_str(json.trim()).ok()?;
        Id::from_raw(&raw)
    }

    /// The id of a raw JSON value taken from a message; `None` unless it is a
    /// number or a string.
    pub(crate) fn from_raw(raw: &RawValue) -> Option<Id> {
        let text = raw.get().trim();
        match text.as_bytes().first()? {
            b'"' => {
                let decoded: String = serde_json::from_str(text).ok()?;
                let canonical = serde_json::to_string(&decoded).ok()?;
                Some(if canonical == text {
                    Id::String(decoded)
                } else {
                    Id::Raw(RawId(raw.to_owned()))
                })
            }
            b'-' | b'0'..=b'9' => Some(match text.parse::<i64>() {
                Ok(n) if n.to_string() == text => Id::Number(n),
                _ => Id::Raw(RawId(raw.to_owned())),
            }),
            _ => None,
        }
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Id::Number(n) => write!(f, "{n}"),
            Id::String(s) => write!(f, "{s:?}"),
            Id::Raw(raw) => f.write_str(raw.as_json()),
        }
    }
}

impl From<i64> for Id {
    fn from(n: i64) -> Self {
        Id::Number(n)
    }
}

impl From<String> for Id {
    fn from(s: String) -> Self {
        Id::String(s)
    }
}

impl From<&str> for Id {
    fn from(s: &str) -> Self {
        Id::String(s.to_owned())
    }
}

/// Written back exactly as it was read (a [`RawId`] verbatim, which needs
/// serde_json's serializer, the only one this crate uses).
impl Serialize for Id {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Id::Number(n) => serializer.serialize_i64(*n),
            Id::String(s) => serializer.serialize_str(s),
            Id::Raw(raw) => raw.0.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(deserializer)?;
        Id::from_raw(&raw).ok_or_else(|| {
            D::Error::custom(format!(
                "an id must be a number or a string, got {}",
                raw.get()
            ))
        })
    }
}

/// Hands out unique numeric ids (1, 2, 3, ...) so responses can be matched to
/// the requests that caused them. Shareable across threads by reference.
#[derive(Debug)]
pub struct IdAllocator {
    next: AtomicI64,
}

impl IdAllocator {
    pub fn new() -> Self {
        Self {
            next: AtomicI64::new(1),
        }
    }

    /// The next unused id. Ids only repeat after 2^63 calls (wrap-around).
    pub fn next(&self) -> Id {
        Id::Number(self.next.fetch_add(1, Ordering::Relaxed))
    }
}

impl Default for IdAllocator {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ids_keep_the_exact_text_they_were_written_in() {
        let canonical = [
            ("7", Id::Number(7)),
            ("-3", Id::Number(-3)),
            ("\"7\"", Id::from("7")),
        ];
        for (json, id) in canonical {
            assert_eq!(Id::from_json(json), Some(id.clone()), "{json}");
            assert_eq!(serde_json::to_string(&id).unwrap(), json);
        }
        let i64_max = i64::MAX.to_string();
        assert_eq!(Id::from_json(&i64_max), Some(Id::Number(i64::MAX)));
        for json in [
            "-0",
            "1e3",
            "1E+3",
            "1.0",
            "1.5",
            "-0.0",
            "18446744073709551617",
            "-9223372036854775809",
            "123456789012345678901234567890",
            "\"\\u0041\"",
            "\"a\\/b\"",
        ] {
            let id = Id::from_json(json).unwrap_or_else(|| panic!("{json} is an id"));
            assert!(matches!(id, Id::Raw(_)), "{json}: {id:?}");
            assert_eq!(serde_json::to_string(&id).unwrap(), json, "echoed as sent");
            assert_eq!(id.to_string(), json);
            let back: Id = serde_json::from_str(json).unwrap();
            assert_eq!(back, id);
        }
        for json in ["null", "true", "{}", "[1]", "", "1 2", "01"] {
            assert_eq!(Id::from_json(json), None, "{json}");
        }
        assert!(serde_json::from_str::<Id>("null").is_err());
        assert_ne!(Id::from_json("-0"), Id::from_json("0"));
        assert_ne!(Id::from_json("1e3"), Id::from_json("1000"));
    }

    #[test]
    fn starts_at_one_and_increases() {
        let ids = IdAllocator::new();
        assert_eq!(ids.next(), Id::Number(1));
        assert_eq!(ids.next(), Id::Number(2));
        assert_eq!(ids.next(), Id::Number(3));
    }

    #[test]
    fn unique_across_threads() {
        let ids = IdAllocator::default();
        let all: Vec<Id> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| s.spawn(|| (0..1000).map(|_| ids.next()).collect::<Vec<_>>()))
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap())
                .collect()
        });
        let unique: HashSet<&Id> = all.iter().collect();
        assert_eq!(all.len(), 4000);
        assert_eq!(unique.len(), 4000);
        assert!(
            all.iter()
                .all(|id| matches!(id, Id::Number(n) if (1..=4000).contains(n)))
        );
    }
}
