//! [`Edit`]: the anchored operations an agent asks for, their serde form and
//! how their `lines` are normalised.

use serde::{Deserialize, Deserializer, Serialize};

use super::Anchor;

/// One anchored edit. All anchors refer to the text as it was before any of
/// the edits of the same [`apply`](super::apply) call.
///
/// Each element of `lines` that contains `'\n'` is split into several lines
/// (a `'\r'` before each `'\n'` is dropped, and one trailing `'\n'` ends the
/// last line rather than starting an empty one: `"a\nb\n"` is the two lines
/// `a` and `b`, `"\n"` is one empty line).
///
/// Serde form (`op` tag, anchors as strings, `lines` an array of strings or a
/// single string): `{"op": "replace", "start": "3:ab12", "end": "5:0f3c",
/// "lines": ["x"]}`, `{"op": "insert_after", "anchor": "7:1234", "lines": "y"}`,
/// `{"op": "delete", "start": "2:aaaa"}`, `{"op": "append", "lines": []}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Edit {
    /// Replaces lines `start..=end` (`end` defaults to `start`) with `lines`.
    Replace {
        start: Anchor,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        end: Option<Anchor>,
        #[serde(deserialize_with = "lines_from_one_or_many")]
        lines: Vec<String>,
    },
    /// Inserts `lines` before the anchored line.
    InsertBefore {
        anchor: Anchor,
        #[serde(deserialize_with = "lines_from_one_or_many")]
        lines: Vec<String>,
    },
    /// Inserts `lines` after the anchored line.
    InsertAfter {
        anchor: Anchor,
        #[serde(deserialize_with = "lines_from_one_or_many")]
        lines: Vec<String>,
    },
    /// Deletes lines `start..=end` (`end` defaults to `start`).
    Delete {
        start: Anchor,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        end: Option<Anchor>,
    },
    /// Inserts `lines` at the start of the file (works on an empty file).
    Prepend {
        #[serde(deserialize_with = "lines_from_one_or_many")]
        lines: Vec<String>,
    },
    /// Inserts `lines` at the end of the file (works on an empty file).
    Append {
        #[serde(deserialize_with = "lines_from_one_or_many")]
        lines: Vec<String>,
    },
}

fn lines_from_one_or_many<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(deserializer)? {
        OneOrMany::One(line) => vec![line],
        OneOrMany::Many(lines) => lines,
    })
}

impl Edit {
    pub(super) fn anchors(&self) -> Vec<&Anchor> {
        match self {
            Edit::Replace { start, end, .. } | Edit::Delete { start, end } => {
                let mut anchors = vec![start];
                anchors.extend(end.as_ref());
                anchors
            }
            Edit::InsertBefore { anchor, .. } | Edit::InsertAfter { anchor, .. } => vec![anchor],
            Edit::Prepend { .. } | Edit::Append { .. } => Vec::new(),
        }
    }

    pub(super) fn verb(&self) -> &'static str {
        match self {
            Edit::Replace { .. } => "replaces",
            Edit::Delete { .. } => "deletes",
            _ => "inserts",
        }
    }
}
/// Splits elements that contain `'\n'` into several lines (see [`Edit`]).
pub(super) fn normalize_lines(lines: &[String]) -> Vec<String> {
    let mut out = Vec::with_capacity(lines.len());
    for line in lines {
        if line.contains('\n') {
            let body = line.strip_suffix('\n').unwrap_or(line);
            out.extend(
                body.split('\n')
                    .map(|piece| piece.strip_suffix('\r').unwrap_or(piece).to_string()),
            );
        } else {
            out.push(line.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hashline::test_support::s;

    #[test]
    fn edits_deserialize_from_json() {
        let json = serde_json::json!([
            {"op": "replace", "start": "1:aaaa", "end": "2:bbbb|text", "lines": ["x"]},
            {"op": "insert_after", "anchor": "3:cccc", "lines": "y\nz"},
            {"op": "delete", "start": "4:dddd"},
            {"op": "append", "lines": []},
        ]);
        let edits: Vec<Edit> = serde_json::from_value(json).expect("valid edits");
        assert_eq!(
            edits[0],
            Edit::Replace {
                start: Anchor::new(1, "aaaa"),
                end: Some(Anchor::new(2, "bbbb")),
                lines: s(&["x"]),
            }
        );
        assert_eq!(
            edits[1],
            Edit::InsertAfter {
                anchor: Anchor::new(3, "cccc"),
                lines: s(&["y\nz"]),
            }
        );
        let bad = serde_json::json!({"op": "delete", "start": "4:dddd", "bogus": 1});
        assert!(serde_json::from_value::<Edit>(bad).is_err());
        let bad = serde_json::json!({"op": "delete", "start": "0:dddd"});
        assert!(serde_json::from_value::<Edit>(bad).is_err());
        let round = serde_json::to_value(&edits[2]).expect("serialize");
        assert_eq!(
            round,
            serde_json::json!({"op": "delete", "start": "4:dddd"})
        );
    }
}
