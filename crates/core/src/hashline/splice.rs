//! [`apply`]: rebuilds the text from the checked edits, keeping each
//! untouched line's ending and the original's final newline.

use std::collections::BTreeMap;

use super::plan::{Op, plan};
use super::{Edit, HashlineError, split_lines};

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
    let ops = plan(&lines, edits)?;

    // Build the new text.
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hashline::test_support::{anchor, replace, s};
    use crate::hashline::{Anchor, count_lines, render};
    use proptest::prelude::*;

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
