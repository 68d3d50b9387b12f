//! Small text helpers shared by the renderers.

/// A stored RFC 3339 time (`2025-01-02T10:03:04.123456Z`) as
/// `2025-01-02 10:03:04 UTC`. Anything else is returned unchanged.
pub fn timestamp(rfc3339: &str) -> String {
    let bytes = rfc3339.as_bytes();
    let well_formed = bytes.len() >= 20
        && bytes.get(10) == Some(&b'T')
        && rfc3339.is_char_boundary(19)
        && rfc3339[..10]
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'-')
        && rfc3339[11..19]
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b':');
    if !well_formed {
        return rfc3339.to_string();
    }
    let zone = if rfc3339.ends_with('Z') {
        " UTC".to_string()
    } else {
        // An explicit offset: keep it (`+02:00`).
        match rfc3339.rfind(['+', '-']) {
            Some(at) if at >= 19 => format!(" {}", &rfc3339[at..]),
            _ => String::new(),
        }
    };
    format!("{} {}{zone}", &rfc3339[..10], &rfc3339[11..19])
}

/// Collapses all whitespace (newlines included) into single spaces, so a
/// value fits on one line of a listing.
pub(crate) fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// [`one_line`], cut to at most `max` characters with an ellipsis.
pub(crate) fn clip(text: &str, max: usize) -> String {
    let line = one_line(text);
    if line.chars().count() <= max {
        return line;
    }
    let mut cut: String = line.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// `1 task`, `3 tasks`.
pub(crate) fn count(n: i64, singular: &str, plural: &str) -> String {
    if n == 1 {
        format!("{n} {singular}")
    } else {
        format!("{n} {plural}")
    }
}

pub(crate) fn check(ok: bool) -> &'static str {
    if ok { "✓" } else { "✗" }
}

/// Lays out rows as columns separated by two spaces, every column padded to
/// its widest cell except the last. Trailing spaces are removed.
pub(crate) fn columns(rows: &[Vec<String>]) -> Vec<String> {
    let width_count = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0usize; width_count];
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    rows.iter()
        .map(|row| {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                if i > 0 {
                    line.push_str("  ");
                }
                line.push_str(cell);
                if i + 1 < row.len() {
                    let pad = widths[i].saturating_sub(cell.chars().count());
                    line.extend(std::iter::repeat_n(' ', pad));
                }
            }
            line.trim_end().to_string()
        })
        .collect()
}

/// Every line of `text` prefixed with `prefix`.
pub(crate) fn indent(text: &str, prefix: &str) -> String {
    text.lines()
        .map(|line| {
            if line.is_empty() {
                String::new()
            } else {
                format!("{prefix}{line}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A mailbox with its task id shortened (`worker/task-01JAB…` keeps the
/// short form lists print).
pub(crate) fn short_address(address: &str) -> String {
    match address.strip_prefix("worker/") {
        Some(task) => format!("worker/{}", enki_core::id::short(task)),
        None => address.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_shortened_to_seconds() {
        assert_eq!(
            timestamp("2025-01-02T10:03:04.123456789Z"),
            "2025-01-02 10:03:04 UTC"
        );
        assert_eq!(timestamp("2025-01-02T10:03:04Z"), "2025-01-02 10:03:04 UTC");
        assert_eq!(
            timestamp("2025-01-02T10:03:04+02:00"),
            "2025-01-02 10:03:04 +02:00"
        );
        assert_eq!(timestamp("yesterday"), "yesterday");
        assert_eq!(timestamp(""), "");
    }

    #[test]
    fn columns_align_all_but_the_last_column() {
        let rows = vec![
            vec!["a".to_string(), "long cell".to_string(), "x".to_string()],
            vec!["bbb".to_string(), "é".to_string(), "".to_string()],
        ];
        assert_eq!(columns(&rows), vec!["a    long cell  x", "bbb  é"]);
        assert!(columns(&[]).is_empty());
    }

    #[test]
    fn clip_collapses_and_cuts() {
        assert_eq!(clip("a\n  b", 10), "a b");
        assert_eq!(clip("abcdefghij", 5), "abcd…");
        assert_eq!(count(1, "task", "tasks"), "1 task");
        assert_eq!(count(0, "task", "tasks"), "0 tasks");
        assert_eq!(
            short_address("worker/task-01JAAAAAAAAAAAAAAAAAAAAAAA"),
            "worker/task-01JAAAAAAAAAAA"
        );
        assert_eq!(short_address("coordinator"), "coordinator");
        assert_eq!(indent("a\n\nb", "  "), "  a\n\n  b");
    }
}
