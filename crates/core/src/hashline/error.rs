//! [`HashlineError`]: every way an anchor or a set of edits is refused, worded
//! so the agent can tell what to re-read or merge.

use thiserror::Error;

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

pub(super) fn truncate_chars(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}
