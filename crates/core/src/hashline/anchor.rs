//! [`Anchor`]: how an edit names a line (`12:ab3f`), parsed leniently from
//! what the agent copied out of a rendered view.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::error::truncate_chars;
use super::{HASH_LEN, HashlineError, line_hash};

/// A reference to one line: its 1-based number and the hash of its text as
/// the agent saw it. Written `12:ab3f`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Anchor {
    pub line: usize,
    pub hash: String,
}

impl Anchor {
    pub fn new(line: usize, hash: impl Into<String>) -> Self {
        Anchor {
            line,
            hash: hash.into(),
        }
    }

    /// Parses `12:ab3f`. The whole rendered prefix `12:ab3f|text` is accepted
    /// too (everything from the first `'|'` on is ignored), as is surrounding
    /// whitespace and upper-case hex.
    pub fn parse(input: &str) -> Result<Anchor, HashlineError> {
        let invalid = |reason: &str| HashlineError::InvalidAnchor {
            input: truncate_chars(input, 60),
            reason: reason.to_string(),
        };
        let head = input.split_once('|').map_or(input, |(head, _)| head).trim();
        let Some((number, hash)) = head.split_once(':') else {
            return Err(invalid("missing ':' between line number and hash"));
        };
        let number = number.trim();
        let hash = hash.trim();
        if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid("the line number is not a positive integer"));
        }
        let line: usize = number
            .parse()
            .map_err(|_| invalid("the line number is too large"))?;
        if line == 0 {
            return Err(invalid("lines are numbered from 1"));
        }
        if hash.len() != HASH_LEN || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(invalid("the hash must be 4 hex characters"));
        }
        Ok(Anchor {
            line,
            hash: hash.to_ascii_lowercase(),
        })
    }

    /// The current anchor of line `line` (1-based) of `text`, if it exists.
    pub fn of(text: &str, line: usize) -> Option<Anchor> {
        let raw = text.split_inclusive('\n').nth(line.checked_sub(1)?)?;
        Some(Anchor::new(line, line_hash(raw)))
    }
}

impl fmt::Display for Anchor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.hash)
    }
}

impl FromStr for Anchor {
    type Err = HashlineError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Anchor::parse(s)
    }
}

impl Serialize for Anchor {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Anchor {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Anchor::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchor_parsing() {
        assert_eq!(Anchor::parse("12:ab3f"), Ok(Anchor::new(12, "ab3f")));
        assert_eq!(Anchor::parse(" 12:AB3F "), Ok(Anchor::new(12, "ab3f")));
        assert_eq!(
            Anchor::parse("12:ab3f|let x = 1; // a|b"),
            Ok(Anchor::new(12, "ab3f"))
        );
        assert_eq!("3:0000".parse::<Anchor>(), Ok(Anchor::new(3, "0000")));
        for bad in [
            "", "12", "12:", ":ab3f", "0:ab3f", "-1:ab3f", "x:ab3f", "1:ab3", "1:zzzz",
        ] {
            let err = Anchor::parse(bad).expect_err(bad);
            assert!(err.to_string().contains("invalid anchor"), "{err}");
        }
        assert_eq!(Anchor::new(7, "00ff").to_string(), "7:00ff");
        assert_eq!(Anchor::of("a\nb", 3), None);
        assert_eq!(Anchor::of("a\nb", 0), None);
    }
}
