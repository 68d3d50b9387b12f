//! The checks behind [`apply`](super::apply): every anchor still matches,
//! every range is forward and no two edits touch the same lines. Edits that
//! pass come out as [`Op`]s on the original line numbers.

use super::edit::normalize_lines;
use super::error::truncate_chars;
use super::{Anchor, Edit, HashlineError, Line, line_hash};

/// Longest piece of a line's current text quoted in a stale-anchor error.
const QUOTE_MAX_CHARS: usize = 200;

/// An edit resolved to positions in the original text.
pub(super) enum Op {
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

/// Checks `edits` against the original `lines` and resolves them, one [`Op`]
/// per edit in the same order; the first problem found refuses them all.
pub(super) fn plan(lines: &[Line<'_>], edits: &[Edit]) -> Result<Vec<Op>, HashlineError> {
    let total = lines.len();

    // 1. Every anchor exists and matches.
    for (index, edit) in edits.iter().enumerate() {
        for anchor in edit.anchors() {
            check_anchor(lines, index, anchor)?;
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
    Ok(ops)
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
    use crate::hashline::apply;
    use crate::hashline::test_support::{anchor, replace, s};

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
}
