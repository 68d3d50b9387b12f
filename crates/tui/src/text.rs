//! Text from agents is untrusted: it may hold tabs, escape sequences or
//! other control characters that would corrupt the screen. Everything that
//! reaches the UI goes through [`sanitize`] first; widths go through
//! [`width`] so that wrapping agrees with what ratatui draws.

use ratatui::text::Span;

/// Spaces a tab becomes.
const TAB: &str = "    ";

/// Replaces tabs with spaces, drops `\r` and every other control character
/// except `\n`, and removes ANSI escape sequences (CSI/OSC) whole.
pub fn sanitize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\n' => out.push('\n'),
            '\t' => out.push_str(TAB),
            '\u{1b}' => skip_escape(&mut chars),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Skips the rest of an escape sequence whose ESC was just read.
fn skip_escape(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    match chars.peek() {
        // CSI: parameters and intermediates, then one final byte @..~.
        Some('[') => {
            chars.next();
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) {
                    break;
                }
            }
        }
        // OSC: up to BEL or ESC \.
        Some(']') => {
            chars.next();
            while let Some(c) = chars.next() {
                if c == '\u{7}' {
                    break;
                }
                if c == '\u{1b}' {
                    if chars.peek() == Some(&'\\') {
                        chars.next();
                    }
                    break;
                }
            }
        }
        // A two-character sequence (ESC c, ESC =, ...).
        Some(_) => {
            chars.next();
        }
        None => {}
    }
}

/// Display width of a string in terminal cells.
pub fn width(text: &str) -> usize {
    Span::raw(text).width()
}

/// Display width of one character.
pub fn char_width(c: char) -> usize {
    let mut buf = [0u8; 4];
    width(c.encode_utf8(&mut buf))
}

/// `text` cut to at most `max` cells, with `…` when something was cut.
pub fn truncate(text: &str, max: usize) -> String {
    if width(text) <= max {
        return text.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in text.chars() {
        let w = char_width(c);
        if used + w + 1 > max {
            break;
        }
        used += w;
        out.push(c);
    }
    out.push('…');
    out
}

/// The first line of `text`, for one-line summaries.
pub fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("")
}

/// Characters of a ULID (Crockford base 32, taken loosely).
fn is_ulid_char(c: u8) -> bool {
    c.is_ascii_digit() || c.is_ascii_uppercase()
}

/// The kinds of enki ids.
const ID_PREFIXES: [&str; 5] = ["task", "exec", "msg", "mr", "sess"];

/// Replaces every full enki id in `text` (`task-01J…`, `exec-01J…`: a
/// kind, a dash and a 26-character ULID) with `with(id)`.
pub fn replace_ids(text: &str, mut with: impl FnMut(&str) -> String) -> String {
    const ULID: usize = 26;
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        let starts_word = i == 0 || !bytes[i - 1].is_ascii_alphanumeric();
        if !starts_word || !bytes[i].is_ascii_lowercase() {
            i += 1;
            continue;
        }
        let prefix_end = i + bytes[i..]
            .iter()
            .take_while(|b| b.is_ascii_lowercase())
            .count();
        let ulid_start = prefix_end + 1;
        let end = ulid_start + ULID;
        let is_id = ID_PREFIXES.contains(&&text[i..prefix_end])
            && bytes.get(prefix_end) == Some(&b'-')
            && end <= bytes.len()
            && bytes[ulid_start..end].iter().all(|b| is_ulid_char(*b))
            && bytes.get(end).is_none_or(|b| !b.is_ascii_alphanumeric());
        if is_id {
            out.push_str(&text[copied..i]);
            out.push_str(&with(&text[i..end]));
            copied = end;
            i = end;
        } else {
            i = prefix_end;
        }
    }
    out.push_str(&text[copied..]);
    out
}

/// `mm:ss`, or `h:mm:ss` past an hour.
pub fn elapsed(ms: u64) -> String {
    let secs = ms / 1000;
    let (h, m, s) = (secs / 3600, (secs / 60) % 60, secs % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m:02}:{s:02}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_drops_controls_and_escapes() {
        assert_eq!(sanitize("a\tb"), "a    b");
        assert_eq!(sanitize("x\r\ny"), "x\ny");
        assert_eq!(sanitize("\u{1b}[31mred\u{1b}[0m"), "red");
        assert_eq!(sanitize("\u{1b}]0;title\u{7}after"), "after");
        assert_eq!(sanitize("\u{1b}]8;;http://x\u{1b}\\link"), "link");
        assert_eq!(sanitize("bell\u{7}"), "bell");
        assert_eq!(sanitize("trailing\u{1b}"), "trailing");
        assert_eq!(sanitize("ünïcødé ✔"), "ünïcødé ✔");
    }

    #[test]
    fn ids_are_found_whole_and_only_whole() {
        let task = format!("task-01JAPI{}", "0".repeat(20));
        let exec = format!("exec-01JX{}", "0".repeat(22));
        let text = format!("step 'api' ({task}) of {exec}, task-01SHORT, x{task}, {task}0");
        let found = std::cell::RefCell::new(Vec::new());
        let out = replace_ids(&text, |id| {
            found.borrow_mut().push(id.to_string());
            "<id>".into()
        });
        assert_eq!(found.into_inner(), [task.clone(), exec]);
        assert_eq!(
            out,
            format!("step 'api' (<id>) of <id>, task-01SHORT, x{task}, {task}0")
        );
        assert_eq!(replace_ids("ünï task-", |_| String::new()), "ünï task-");
    }

    #[test]
    fn truncate_and_widths() {
        assert_eq!(truncate("hello", 5), "hello");
        assert_eq!(truncate("hello world", 6), "hello…");
        assert_eq!(truncate("hello", 0), "");
        assert_eq!(truncate("日本語", 4), "日…");
        assert_eq!(width("日本"), 4);
        assert_eq!(elapsed(61_000), "01:01");
        assert_eq!(elapsed(3_725_000), "1:02:05");
    }
}
