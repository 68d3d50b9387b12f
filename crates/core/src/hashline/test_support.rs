//! Builders shared by the hashline unit tests, so each test states only the
//! edit it is about.

use super::{Anchor, Edit};

pub(super) fn anchor(text: &str, line: usize) -> Anchor {
    Anchor::of(text, line).expect("line exists")
}

pub(super) fn s(lines: &[&str]) -> Vec<String> {
    lines.iter().map(|l| l.to_string()).collect()
}

pub(super) fn replace(text: &str, line: usize, lines: &[&str]) -> Edit {
    Edit::Replace {
        start: anchor(text, line),
        end: None,
        lines: s(lines),
    }
}
