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
