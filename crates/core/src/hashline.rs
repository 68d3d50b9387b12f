//! The hashline view of a text file and hash-anchored edits.
//!
//! [`render`] shows each line as `<number>:<hash>|<text>`, where the hash is a
//! short fingerprint of the line's text ([`line_hash`]). [`apply`] takes
//! [`Edit`]s whose [`Anchor`]s name lines by number and hash, and applies them
//! only if every anchor still matches the text, so an agent cannot overwrite
//! lines it has not seen. Line endings (LF or CRLF) and the presence of a final
//! newline are kept as they were.
//!
//! Everything here is pure: the caller reads and writes the file.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use thiserror::Error;

/// Number of lowercase hex characters in a line hash.
pub const HASH_LEN: usize = 4;

/// Longest piece of a line's current text quoted in a stale-anchor error.
const QUOTE_MAX_CHARS: usize = 200;

/// A short fingerprint (4 lowercase hex characters) of a line's text.
///
/// A trailing line ending (`\n`, `\r\n` or a lone `\r`) is ignored, so the same
/// text hashes equally in LF and CRLF files. The hash is FNV-1a 32-bit over the
/// UTF-8 bytes, xor-folded to 16 bits: deterministic on every platform.
pub fn line_hash(line: &str) -> String {
    let text = strip_line_ending(line);
    let mut h: u32 = 0x811c_9dc5;
    for byte in text.bytes() {
        h ^= u32::from(byte);
        h = h.wrapping_mul(0x0100_0193);
    }
    let folded = (h >> 16) ^ (h & 0xffff);
    format!("{folded:04x}")
}

fn strip_line_ending(line: &str) -> &str {
    let line = line.strip_suffix('\n').unwrap_or(line);
    line.strip_suffix('\r').unwrap_or(line)
}

/// Number of lines in `text`. An empty text has 0 lines and a final newline
/// does not start an extra line (`"a\n\nb"` and `"a\n\nb\n"` both have 3).
pub fn count_lines(text: &str) -> usize {
    text.split_inclusive('\n').count()
}

/// One line of the original text: its text and its ending (`""` for a last
/// line without final newline).
#[derive(Debug, Clone, Copy)]
struct Line<'a> {
    text: &'a str,
    ending: &'a str,
}

fn split_lines(text: &str) -> Vec<Line<'_>> {
    text.split_inclusive('\n')
        .map(|raw| {
            if let Some(body) = raw.strip_suffix("\r\n") {
                Line {
                    text: body,
                    ending: "\r\n",
                }
            } else if let Some(body) = raw.strip_suffix('\n') {
                Line {
                    text: body,
                    ending: "\n",
                }
            } else {
                Line {
                    text: raw,
                    ending: "",
                }
            }
        })
        .collect()
}

/// A window of a file in the hashline view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rendered {
    /// The shown lines, each `"{number}:{hash}|{text}"`, joined with `'\n'`
    /// (no trailing newline).
    pub text: String,
    /// Number of the first shown line (1-based); 0 when no line is shown.
    pub first_line: usize,
    /// Number of the last shown line (1-based); 0 when no line is shown.
    pub last_line: usize,
    /// Number of lines in the whole text.
    pub total_lines: usize,
}

/// Renders `text` in the hashline view, starting at line `offset` (1-based;
/// 0 also means the start) and showing at most `limit` lines.
pub fn render(text: &str, offset: usize, limit: Option<usize>) -> Rendered {
    let lines = split_lines(text);
    let start = offset.max(1);
    let mut out = String::new();
    let mut first_line = 0;
    let mut last_line = 0;
    for (index, line) in lines
        .iter()
        .enumerate()
        .skip(start - 1)
        .take(limit.unwrap_or(usize::MAX))
    {
        let number = index + 1;
        if first_line == 0 {
            first_line = number;
        } else {
            out.push('\n');
        }
        last_line = number;
        out.push_str(&format!("{number}:{}|{}", line_hash(line.text), line.text));
    }
    Rendered {
        text: out,
        first_line,
        last_line,
        total_lines: lines.len(),
    }
}

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

/// One anchored edit. All anchors refer to the text as it was before any of
/// the edits of the same [`apply`] call.
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
    fn anchors(&self) -> Vec<&Anchor> {
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

    fn verb(&self) -> &'static str {
        match self {
            Edit::Replace { .. } => "replaces",
            Edit::Delete { .. } => "deletes",
            _ => "inserts",
        }
    }
}

/// Why an anchor did not parse or a set of edits was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HashlineError {
    #[error(
        "invalid anchor '{input}': {reason} (expected <line>:<hash> as shown by the read, e.g. 12:ab3f)"
    )]
    InvalidAnchor { input: String, reason: String },
    #[error("edits[{edit}]: anchor {anchor} names line 0, but lines are numbered from 1")]
    LineZero { edit: usize, anchor: String },
    #[error("edits[{edit}]: anchor {anchor} is past the end of the file: {}", describe_size(*.total_lines))]
    PastEnd {
        edit: usize,
        anchor: String,
        total_lines: usize,
    },
    #[error(
        "line {line} changed: anchor {line}:{expected} expects hash {expected} but the line is now {line}:{actual}|{text} (edits[{edit}]; nothing was written, re-read the file for current anchors)"
    )]
    Stale {
        edit: usize,
        line: usize,
        expected: String,
        actual: String,
        /// The line's current text (shortened if very long).
        text: String,
    },
    #[error("edits[{edit}]: range end line {end} is before its start line {start}")]
    InvalidRange {
        edit: usize,
        start: usize,
        end: usize,
    },
    #[error(
        "edits[{first}] ({first_what}) and edits[{second}] ({second_what}) overlap; merge them into one edit"
    )]
    Overlap {
        first: usize,
        first_what: String,
        second: usize,
        second_what: String,
    },
}

fn describe_size(total_lines: usize) -> String {
    match total_lines {
        0 => "the file is empty (0 lines)".to_string(),
        1 => "the file has 1 line".to_string(),
        n => format!("the file has {n} lines"),
    }
}

fn truncate_chars(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

/// Splits elements that contain `'\n'` into several lines (see [`Edit`]).
fn normalize_lines(lines: &[String]) -> Vec<String> {
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

/// An edit resolved to positions in the original text.
enum Op {
    /// Lines `start..=end` (1-based) are replaced by `lines`.
    Range {
        start: usize,
        end: usize,
        lines: Vec<String>,
    },
    /// `lines` go into gap `gap`: after line `gap`, 0 being the start.
    Insert { gap: usize, lines: Vec<String> },
}

fn describe_op(edit: &Edit, op: &Op, total_lines: usize) -> String {
    match op {
        Op::Range { start, end, .. } if start == end => format!("{} line {start}", edit.verb()),
        Op::Range { start, end, .. } => format!("{} lines {start}-{end}", edit.verb()),
        Op::Insert { gap: 0, .. } => "inserts at the start of the file".to_string(),
        Op::Insert { gap, .. } if *gap == total_lines => {
            "inserts at the end of the file".to_string()
        }
        Op::Insert { gap, .. } => format!("inserts between lines {gap} and {}", gap + 1),
    }
}

/// Applies `edits` to `original` and returns the new text, or refuses all of
/// them (nothing is applied) if any anchor is stale or out of range, a range
/// is reversed, or two edits overlap.
///
/// Every anchor refers to `original`. Several insertions at the same point
/// are applied in the given order; an insertion right before or after a
/// replaced range is fine, one strictly inside it is an overlap.
///
/// New lines use the original's line ending (CRLF if its first line ends with
/// CRLF, else LF); untouched lines keep theirs. The final newline is kept as
/// it was; an empty original gets one as soon as any line is written.
/// Deleting every line yields an empty string.
pub fn apply(original: &str, edits: &[Edit]) -> Result<String, HashlineError> {
    let lines = split_lines(original);
    let total = lines.len();

    // 1. Every anchor exists and matches.
    for (index, edit) in edits.iter().enumerate() {
        for anchor in edit.anchors() {
            check_anchor(&lines, index, anchor)?;
        }
    }

    // 2. Resolve each edit to an operation on the original lines.
    let mut ops = Vec::with_capacity(edits.len());
    for (index, edit) in edits.iter().enumerate() {
        let op = match edit {
            Edit::Replace { start, end, lines } => {
                range_op(index, start, end.as_ref(), normalize_lines(lines))?
            }
            Edit::Delete { start, end } => range_op(index, start, end.as_ref(), Vec::new())?,
            Edit::InsertBefore { anchor, lines } => Op::Insert {
                gap: anchor.line - 1,
                lines: normalize_lines(lines),
            },
            Edit::InsertAfter { anchor, lines } => Op::Insert {
                gap: anchor.line,
                lines: normalize_lines(lines),
            },
            Edit::Prepend { lines } => Op::Insert {
                gap: 0,
                lines: normalize_lines(lines),
            },
            Edit::Append { lines } => Op::Insert {
                gap: total,
                lines: normalize_lines(lines),
            },
        };
        ops.push(op);
    }

    // 3. No two edits touch the same lines.
    check_overlaps(edits, &ops, total)?;

    // 4. Build the new text.
    let mut ranges: BTreeMap<usize, (usize, usize)> = BTreeMap::new(); // start -> (end, op index)
    let mut inserts: BTreeMap<usize, Vec<usize>> = BTreeMap::new(); // gap -> op indices
    for (index, op) in ops.iter().enumerate() {
        match op {
            Op::Range { start, end, .. } => {
                ranges.insert(*start, (*end, index));
            }
            Op::Insert { gap, .. } => inserts.entry(*gap).or_default().push(index),
        }
    }
    let op_lines = |index: usize| -> &[String] {
        match ops.get(index) {
            Some(Op::Range { lines, .. } | Op::Insert { lines, .. }) => lines,
            None => &[],
        }
    };

    // (text, original ending or "" for new lines)
    let mut out: Vec<(&str, &str)> = Vec::with_capacity(total);
    let mut gap = 0;
    loop {
        if let Some(indices) = inserts.get(&gap) {
            for &index in indices {
                out.extend(op_lines(index).iter().map(|line| (line.as_str(), "")));
            }
        }
        if gap >= total {
            break;
        }
        let number = gap + 1;
        match ranges.get(&number) {
            Some(&(end, index)) => {
                out.extend(op_lines(index).iter().map(|line| (line.as_str(), "")));
                gap = end;
            }
            None => {
                if let Some(line) = lines.get(gap) {
                    out.push((line.text, line.ending));
                }
                gap = number;
            }
        }
    }

    let default_ending = match lines.first() {
        Some(line) if line.ending == "\r\n" => "\r\n",
        _ => "\n",
    };
    let final_newline = original.is_empty() || original.ends_with('\n');
    let mut result = String::with_capacity(original.len());
    let count = out.len();
    for (position, (text, ending)) in out.into_iter().enumerate() {
        result.push_str(text);
        if position + 1 < count || final_newline {
            result.push_str(if ending.is_empty() {
                default_ending
            } else {
                ending
            });
        }
    }
    Ok(result)
}

fn check_anchor(lines: &[Line<'_>], edit: usize, anchor: &Anchor) -> Result<(), HashlineError> {
    if anchor.line == 0 {
        return Err(HashlineError::LineZero {
            edit,
            anchor: anchor.to_string(),
        });
    }
    let Some(line) = lines.get(anchor.line - 1) else {
        return Err(HashlineError::PastEnd {
            edit,
            anchor: anchor.to_string(),
            total_lines: lines.len(),
        });
    };
    let actual = line_hash(line.text);
    if !actual.eq_ignore_ascii_case(anchor.hash.trim()) {
        return Err(HashlineError::Stale {
            edit,
            line: anchor.line,
            expected: anchor.hash.clone(),
            actual,
            text: truncate_chars(line.text, QUOTE_MAX_CHARS),
        });
    }
    Ok(())
}

fn range_op(
    edit: usize,
    start: &Anchor,
    end: Option<&Anchor>,
    lines: Vec<String>,
) -> Result<Op, HashlineError> {
    let end = end.map_or(start.line, |end| end.line);
    if end < start.line {
        return Err(HashlineError::InvalidRange {
            edit,
            start: start.line,
            end,
        });
    }
    Ok(Op::Range {
        start: start.line,
        end,
        lines,
    })
}

fn check_overlaps(edits: &[Edit], ops: &[Op], total: usize) -> Result<(), HashlineError> {
    let overlap = |a: usize, b: usize| {
        let (first, second) = if a <= b { (a, b) } else { (b, a) };
        let what = |index: usize| match (edits.get(index), ops.get(index)) {
            (Some(edit), Some(op)) => describe_op(edit, op, total),
            _ => String::new(),
        };
        HashlineError::Overlap {
            first,
            first_what: what(first),
            second,
            second_what: what(second),
        }
    };

    // (start, end, op index), sorted by start.
    let mut ranges: Vec<(usize, usize, usize)> = ops
        .iter()
        .enumerate()
        .filter_map(|(index, op)| match op {
            Op::Range { start, end, .. } => Some((*start, *end, index)),
            Op::Insert { .. } => None,
        })
        .collect();
    ranges.sort_unstable();
    let mut widest: Option<(usize, usize)> = None; // (end, op index) reaching furthest so far
    for &(start, end, index) in &ranges {
        if let Some((far_end, far_index)) = widest
            && start <= far_end
        {
            return Err(overlap(far_index, index));
        }
        if widest.is_none_or(|(far_end, _)| end > far_end) {
            widest = Some((end, index));
        }
    }

    // An insertion point strictly inside a range (between two of its lines).
    for (index, op) in ops.iter().enumerate() {
        if let Op::Insert { gap, .. } = op {
            let before = ranges.partition_point(|&(start, _, _)| start <= *gap);
            if let Some(&(_, end, range_index)) = before.checked_sub(1).and_then(|i| ranges.get(i))
                && end > *gap
            {
                return Err(overlap(range_index, index));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn anchor(text: &str, line: usize) -> Anchor {
        Anchor::of(text, line).expect("line exists")
    }

    fn s(lines: &[&str]) -> Vec<String> {
        lines.iter().map(|l| l.to_string()).collect()
    }

    fn replace(text: &str, line: usize, lines: &[&str]) -> Edit {
        Edit::Replace {
            start: anchor(text, line),
            end: None,
            lines: s(lines),
        }
    }

    #[test]
    fn hash_is_stable_short_and_ignores_line_endings() {
        let h = line_hash("let x = 1;");
        assert_eq!(h.len(), HASH_LEN);
        assert!(
            h.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        assert_eq!(h, line_hash("let x = 1;"));
        assert_eq!(h, line_hash("let x = 1;\n"));
        assert_eq!(h, line_hash("let x = 1;\r\n"));
        assert_ne!(h, line_hash("let x = 2;"));
        // Pinned values: FNV-1a 32 folded to 16 bits. Must never change, or
        // anchors read by a previous build would all look stale.
        assert_eq!(line_hash(""), "1cd9");
        assert_eq!(line_hash("a"), "cd20"); // FNV-1a("a") = 0xe40c292c
    }

    #[test]
    fn count_lines_rules() {
        assert_eq!(count_lines(""), 0);
        assert_eq!(count_lines("\n"), 1);
        assert_eq!(count_lines("a"), 1);
        assert_eq!(count_lines("a\n"), 1);
        assert_eq!(count_lines("a\n\nb"), 3);
        assert_eq!(count_lines("a\n\nb\n"), 3);
        assert_eq!(count_lines("a\r\nb\r\n"), 2);
    }

    #[test]
    fn render_whole_file() {
        let r = render("fn main() {\r\n}\r\n", 0, None);
        assert_eq!(
            r.text,
            format!(
                "1:{}|fn main() {{\n2:{}|}}",
                line_hash("fn main() {"),
                line_hash("}")
            )
        );
        assert_eq!((r.first_line, r.last_line, r.total_lines), (1, 2, 2));
        assert_eq!(render("fn main() {\r\n}\r\n", 1, None), r);
    }

    #[test]
    fn render_offset_and_limit() {
        let text = "a\nb\nc\nd\ne";
        let r = render(text, 2, Some(2));
        assert_eq!(
            r.text,
            format!("2:{}|b\n3:{}|c", line_hash("b"), line_hash("c"))
        );
        assert_eq!((r.first_line, r.last_line, r.total_lines), (2, 3, 5));

        let r = render(text, 4, Some(10));
        assert_eq!((r.first_line, r.last_line), (4, 5));

        let r = render(text, 9, None);
        assert_eq!(r.text, "");
        assert_eq!((r.first_line, r.last_line, r.total_lines), (0, 0, 5));

        let r = render(text, 1, Some(0));
        assert_eq!((r.text.as_str(), r.first_line, r.total_lines), ("", 0, 5));
    }

    #[test]
    fn render_empty_and_blank_lines() {
        let r = render("", 0, None);
        assert_eq!(
            r,
            Rendered {
                text: String::new(),
                first_line: 0,
                last_line: 0,
                total_lines: 0
            }
        );
        let r = render("a\n\nb", 0, None);
        assert_eq!(r.total_lines, 3);
        assert_eq!(
            r.text.lines().nth(1),
            Some(format!("2:{}|", line_hash("")).as_str())
        );
    }

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

    #[test]
    fn replace_first_and_last_line() {
        let text = "one\ntwo\nthree\n";
        assert_eq!(
            apply(text, &[replace(text, 1, &["ONE"])]).as_deref(),
            Ok("ONE\ntwo\nthree\n")
        );
        assert_eq!(
            apply(text, &[replace(text, 3, &["THREE", "four"])]).as_deref(),
            Ok("one\ntwo\nTHREE\nfour\n")
        );
    }

    #[test]
    fn final_newline_is_kept_or_not() {
        let without = "one\ntwo";
        assert_eq!(
            apply(without, &[replace(without, 2, &["TWO"])]).as_deref(),
            Ok("one\nTWO")
        );
        assert_eq!(
            apply(
                without,
                &[Edit::Append {
                    lines: s(&["three"])
                }]
            )
            .as_deref(),
            Ok("one\ntwo\nthree")
        );
        let with = "one\ntwo\n";
        assert_eq!(
            apply(with, &[replace(with, 2, &["TWO"])]).as_deref(),
            Ok("one\nTWO\n")
        );
        assert_eq!(
            apply(
                with,
                &[Edit::Append {
                    lines: s(&["three"])
                }]
            )
            .as_deref(),
            Ok("one\ntwo\nthree\n")
        );
        // Deleting the last line of a file without final newline.
        assert_eq!(
            apply(
                without,
                &[Edit::Delete {
                    start: anchor(without, 2),
                    end: None
                }]
            )
            .as_deref(),
            Ok("one")
        );
    }

    #[test]
    fn crlf_is_preserved() {
        let text = "a\r\nb\r\nc\r\n";
        let edits = [
            replace(text, 2, &["B1", "B2"]),
            Edit::Append { lines: s(&["d"]) },
            Edit::InsertBefore {
                anchor: anchor(text, 1),
                lines: s(&["zero"]),
            },
        ];
        assert_eq!(
            apply(text, &edits).as_deref(),
            Ok("zero\r\na\r\nB1\r\nB2\r\nc\r\nd\r\n")
        );
        // No final newline, CRLF elsewhere.
        let text = "a\r\nb";
        assert_eq!(
            apply(text, &[Edit::Append { lines: s(&["c"]) }]).as_deref(),
            Ok("a\r\nb\r\nc")
        );
        // An LF file stays LF even if the model sends CRLF pieces.
        let text = "a\n";
        assert_eq!(
            apply(
                text,
                &[Edit::Append {
                    lines: s(&["b\r\nc\r\n"])
                }]
            )
            .as_deref(),
            Ok("a\nb\nc\n")
        );
    }

    #[test]
    fn stale_anchor_is_refused_with_details() {
        let seen = "fn f() {\n    let x = 1;\n}\n";
        let stale = anchor(seen, 2);
        let now = "fn f() {\n    let x = 2;\n}\n";
        let err = apply(
            now,
            &[Edit::Replace {
                start: stale.clone(),
                end: None,
                lines: s(&["    let x = 3;"]),
            }],
        )
        .expect_err("stale");
        let current = line_hash("    let x = 2;");
        let message = err.to_string();
        assert!(
            message.starts_with(&format!(
                "line 2 changed: anchor 2:{} expects hash {} but the line is now 2:{current}|    let x = 2;",
                stale.hash, stale.hash
            )),
            "{message}"
        );
        assert!(matches!(
            err,
            HashlineError::Stale {
                edit: 0,
                line: 2,
                ..
            }
        ));
    }

    #[test]
    fn stale_anchor_anywhere_refuses_everything() {
        let text = "a\nb\nc\n";
        let edits = [
            replace(text, 1, &["A"]),
            Edit::Delete {
                start: anchor(text, 2),
                end: Some(Anchor::new(3, line_hash("not c"))),
            },
        ];
        let err = apply(text, &edits).expect_err("stale end anchor");
        assert!(
            matches!(
                err,
                HashlineError::Stale {
                    edit: 1,
                    line: 3,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn anchor_beyond_end_says_how_many_lines() {
        let text = "a\nb\n";
        let err = apply(
            text,
            &[Edit::InsertAfter {
                anchor: Anchor::new(5, "0000"),
                lines: s(&["x"]),
            }],
        )
        .expect_err("past end");
        assert_eq!(
            err.to_string(),
            "edits[0]: anchor 5:0000 is past the end of the file: the file has 2 lines"
        );
        let err = apply(
            "",
            &[Edit::Delete {
                start: Anchor::new(1, line_hash("")),
                end: None,
            }],
        )
        .expect_err("empty");
        assert!(
            err.to_string().contains("the file is empty (0 lines)"),
            "{err}"
        );
        let err = apply(
            text,
            &[Edit::Delete {
                start: Anchor::new(0, "0000"),
                end: None,
            }],
        )
        .expect_err("line zero");
        assert!(matches!(err, HashlineError::LineZero { edit: 0, .. }));
    }

    #[test]
    fn reversed_range_is_refused() {
        let text = "a\nb\nc\n";
        let err = apply(
            text,
            &[Edit::Delete {
                start: anchor(text, 3),
                end: Some(anchor(text, 1)),
            }],
        )
        .expect_err("reversed");
        assert_eq!(
            err,
            HashlineError::InvalidRange {
                edit: 0,
                start: 3,
                end: 1
            }
        );
    }

    #[test]
    fn overlapping_edits_are_refused() {
        let text = "1\n2\n3\n4\n5\n";
        let err = apply(
            text,
            &[
                Edit::Replace {
                    start: anchor(text, 2),
                    end: Some(anchor(text, 4)),
                    lines: s(&["x"]),
                },
                Edit::Delete {
                    start: anchor(text, 4),
                    end: Some(anchor(text, 5)),
                },
            ],
        )
        .expect_err("overlap");
        assert_eq!(
            err.to_string(),
            "edits[0] (replaces lines 2-4) and edits[1] (deletes lines 4-5) overlap; merge them into one edit"
        );
        // Same single line twice.
        let err = apply(text, &[replace(text, 3, &["a"]), replace(text, 3, &["b"])])
            .expect_err("same line");
        assert!(matches!(
            err,
            HashlineError::Overlap {
                first: 0,
                second: 1,
                ..
            }
        ));
        // A range nested in an earlier, wider one (checked out of order).
        let err = apply(
            text,
            &[
                replace(text, 3, &["a"]),
                Edit::Delete {
                    start: anchor(text, 1),
                    end: Some(anchor(text, 5)),
                },
                replace(text, 5, &["b"]),
            ],
        )
        .expect_err("nested");
        assert!(matches!(err, HashlineError::Overlap { .. }));
        // An insertion strictly inside a replaced range.
        let err = apply(
            text,
            &[
                Edit::InsertAfter {
                    anchor: anchor(text, 2),
                    lines: s(&["x"]),
                },
                Edit::Delete {
                    start: anchor(text, 2),
                    end: Some(anchor(text, 3)),
                },
            ],
        )
        .expect_err("insert inside range");
        assert_eq!(
            err.to_string(),
            "edits[0] (inserts between lines 2 and 3) and edits[1] (deletes lines 2-3) overlap; merge them into one edit"
        );
    }

    #[test]
    fn insertions_at_range_boundaries_and_same_point_are_fine() {
        let text = "1\n2\n3\n";
        let edits = [
            Edit::InsertAfter {
                anchor: anchor(text, 2),
                lines: s(&["after-2"]),
            },
            replace(text, 2, &["TWO"]),
            Edit::InsertBefore {
                anchor: anchor(text, 2),
                lines: s(&["before-2"]),
            },
            Edit::InsertBefore {
                anchor: anchor(text, 3),
                lines: s(&["before-3"]),
            },
            Edit::Prepend { lines: s(&["p1"]) },
            Edit::InsertBefore {
                anchor: anchor(text, 1),
                lines: s(&["p2"]),
            },
        ];
        assert_eq!(
            apply(text, &edits).as_deref(),
            Ok("p1\np2\n1\nbefore-2\nTWO\nafter-2\nbefore-3\n3\n")
        );
    }

    #[test]
    fn several_edits_use_original_numbering() {
        let text = "a\nb\nc\nd\ne\nf\n";
        let edits = [
            Edit::Delete {
                start: anchor(text, 5),
                end: Some(anchor(text, 6)),
            },
            replace(text, 1, &["A1", "A2", "A3"]),
            Edit::InsertAfter {
                anchor: anchor(text, 3),
                lines: s(&["c+"]),
            },
            Edit::Delete {
                start: anchor(text, 2),
                end: None,
            },
        ];
        assert_eq!(apply(text, &edits).as_deref(), Ok("A1\nA2\nA3\nc\nc+\nd\n"));
    }

    #[test]
    fn insert_before_first_and_after_last() {
        let text = "x\ny";
        assert_eq!(
            apply(
                text,
                &[Edit::InsertBefore {
                    anchor: anchor(text, 1),
                    lines: s(&["first"]),
                }]
            )
            .as_deref(),
            Ok("first\nx\ny")
        );
        assert_eq!(
            apply(
                text,
                &[Edit::InsertAfter {
                    anchor: anchor(text, 2),
                    lines: s(&["last"]),
                }]
            )
            .as_deref(),
            Ok("x\ny\nlast")
        );
        let text = "x\ny\n";
        assert_eq!(
            apply(
                text,
                &[Edit::InsertAfter {
                    anchor: anchor(text, 2),
                    lines: s(&["last"]),
                }]
            )
            .as_deref(),
            Ok("x\ny\nlast\n")
        );
    }

    #[test]
    fn delete_first_last_and_all() {
        let text = "a\nb\nc\n";
        let del = |start: usize, end: usize| Edit::Delete {
            start: anchor(text, start),
            end: Some(anchor(text, end)),
        };
        assert_eq!(apply(text, &[del(1, 1)]).as_deref(), Ok("b\nc\n"));
        assert_eq!(apply(text, &[del(3, 3)]).as_deref(), Ok("a\nb\n"));
        assert_eq!(apply(text, &[del(1, 3)]).as_deref(), Ok(""));
        assert_eq!(apply(text, &[del(1, 1), del(2, 3)]).as_deref(), Ok(""));
        let crlf = "a\r\nb";
        assert_eq!(
            apply(
                crlf,
                &[Edit::Delete {
                    start: anchor(crlf, 1),
                    end: Some(anchor(crlf, 2)),
                }]
            )
            .as_deref(),
            Ok("")
        );
        // Replacing everything with nothing is deleting.
        assert_eq!(
            apply(
                text,
                &[Edit::Replace {
                    start: anchor(text, 1),
                    end: Some(anchor(text, 3)),
                    lines: Vec::new(),
                }]
            )
            .as_deref(),
            Ok("")
        );
    }

    #[test]
    fn empty_file_append_prepend() {
        assert_eq!(
            apply(
                "",
                &[Edit::Append {
                    lines: s(&["a", "b"])
                }]
            )
            .as_deref(),
            Ok("a\nb\n")
        );
        assert_eq!(
            apply("", &[Edit::Prepend { lines: s(&["a"]) }]).as_deref(),
            Ok("a\n")
        );
        assert_eq!(
            apply(
                "",
                &[
                    Edit::Append { lines: s(&["2"]) },
                    Edit::Prepend { lines: s(&["1"]) }
                ]
            )
            .as_deref(),
            Ok("2\n1\n")
        );
        assert_eq!(apply("", &[]).as_deref(), Ok(""));
        assert_eq!(
            apply("", &[Edit::Append { lines: Vec::new() }]).as_deref(),
            Ok("")
        );
        assert_eq!(apply("x", &[]).as_deref(), Ok("x"));
        // Prepend to a non-empty file.
        assert_eq!(
            apply("b\n", &[Edit::Prepend { lines: s(&["a"]) }]).as_deref(),
            Ok("a\nb\n")
        );
    }

    #[test]
    fn multi_line_elements_are_split() {
        let text = "a\nz\n";
        assert_eq!(
            apply(text, &[replace(text, 1, &["x\ny", "w"])]).as_deref(),
            Ok("x\ny\nw\nz\n")
        );
        assert_eq!(
            apply(text, &[replace(text, 1, &["x\r\ny\r\n"])]).as_deref(),
            Ok("x\ny\nz\n")
        );
        assert_eq!(
            apply(text, &[replace(text, 1, &["x\n\n"])]).as_deref(),
            Ok("x\n\nz\n")
        );
        assert_eq!(
            apply(text, &[replace(text, 1, &["\n"])]).as_deref(),
            Ok("\nz\n")
        );
        assert_eq!(
            apply(text, &[replace(text, 1, &[""])]).as_deref(),
            Ok("\nz\n")
        );
    }

    #[test]
    fn long_stale_text_is_shortened() {
        let long = "x".repeat(1000);
        let err = apply(
            &long,
            &[Edit::Delete {
                start: Anchor::new(1, "0000"),
                end: None,
            }],
        );
        // The hash of 1000 x's is not 0000 (pinned by line_hash).
        let Err(HashlineError::Stale { text, .. }) = err else {
            panic!("expected stale, got {err:?}");
        };
        assert_eq!(text.chars().count(), QUOTE_MAX_CHARS + 1);
    }

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

    fn file_strategy() -> impl Strategy<Value = String> {
        (
            proptest::collection::vec("[^\r\n]{0,12}", 0..12),
            any::<bool>(),
            any::<bool>(),
        )
            .prop_map(|(lines, crlf, final_newline)| {
                let ending = if crlf { "\r\n" } else { "\n" };
                let mut text = lines.join(ending);
                if final_newline && !lines.is_empty() {
                    text.push_str(ending);
                }
                text
            })
    }

    proptest! {
        #[test]
        fn replacing_each_line_with_itself_is_identity(text in file_strategy()) {
            let rendered = render(&text, 0, None);
            prop_assert_eq!(rendered.total_lines, count_lines(&text));
            let edits: Vec<Edit> = if rendered.total_lines == 0 {
                Vec::new()
            } else {
                rendered
                    .text
                    .split('\n')
                    .map(|line| {
                        let (_, body) = line.split_once('|').expect("rendered prefix");
                        Edit::Replace {
                            start: Anchor::parse(line).expect("rendered anchor"),
                            end: None,
                            lines: vec![body.to_string()],
                        }
                    })
                    .collect()
            };
            prop_assert_eq!(edits.len(), rendered.total_lines);
            prop_assert_eq!(apply(&text, &edits), Ok(text.clone()));
        }

        #[test]
        fn apply_never_panics(
            text in "[ab\r\n]{0,16}",
            raw in proptest::collection::vec((0usize..6, 0usize..6, 0usize..6, any::<bool>()), 0..5),
        ) {
            let edits: Vec<Edit> = raw
                .into_iter()
                .map(|(kind, a, b, good)| {
                    let at = |line: usize| {
                        if good {
                            Anchor::of(&text, line).unwrap_or(Anchor::new(line, "0000"))
                        } else {
                            Anchor::new(line, "0000")
                        }
                    };
                    match kind {
                        0 => Edit::Replace { start: at(a), end: Some(at(b)), lines: vec!["r".into()] },
                        1 => Edit::Delete { start: at(a), end: None },
                        2 => Edit::InsertBefore { anchor: at(a), lines: vec!["i\nj".into()] },
                        3 => Edit::InsertAfter { anchor: at(a), lines: vec!["k".into()] },
                        4 => Edit::Prepend { lines: vec!["p".into()] },
                        _ => Edit::Append { lines: vec!["q".into()] },
                    }
                })
                .collect();
            if let Ok(out) = apply(&text, &edits) {
                // The result is a well-formed text we can render again.
                let _ = render(&out, 0, None);
            }
        }
    }
}
