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
//!
//! This file holds the line hash and the line splitting every part shares;
//! `view.rs` renders, `plan.rs` checks edits and `splice.rs` applies them.

mod anchor;
mod edit;
mod error;
mod plan;
mod splice;
#[cfg(test)]
mod test_support;
mod view;

pub use anchor::Anchor;
pub use edit::Edit;
pub use error::HashlineError;
pub use splice::apply;
pub use view::{Rendered, render};

/// Number of lowercase hex characters in a line hash.
pub const HASH_LEN: usize = 4;

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
