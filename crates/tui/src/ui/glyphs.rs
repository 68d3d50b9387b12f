//! `[tui] glyphs = "ascii"`: after a frame is drawn, every symbol of enki's
//! own that a font may lack (⚿, ⛙, box lines, arrows, …) is replaced by an
//! ASCII stand-in, in one place, so no pane needs two spellings. Other
//! characters (what agents and people wrote) are left as they are.

use ratatui::buffer::Buffer;

/// The stand-in for one of enki's symbols, if it is one.
pub fn ascii_for(symbol: &str) -> Option<&'static str> {
    Some(match symbol {
        "⚿" | "⚑" => "!",
        "⛙" => "M",
        "✔" | "✓" => "v",
        "✘" | "✗" => "x",
        "▶" => ">",
        "✉" => "@",
        "⚠" => "!",
        "⚙" => "*",
        "⏸" => "=",
        "◆" | "●" | "•" => "*",
        "○" | "⏻" => "o",
        "■" => "#",
        "☰" => "=",
        "⇡" | "↑" => "^",
        "↓" => "v",
        "→" | "›" | "»" => ">",
        "←" | "«" => "<",
        "⎇" => "Y",
        "⊘" => "/",
        "⇄" => "~",
        "↻" => "R",
        "…" | "·" => ".",
        "—" | "─" | "═" => "-",
        "│" | "║" => "|",
        "┌" | "┐" | "└" | "┘" | "├" | "┤" | "┬" | "┴" | "┼" | "╭" | "╮" | "╰" | "╯" => {
            "+"
        }
        _ => return None,
    })
}

/// Replaces enki's symbols in `buffer` by their stand-ins.
pub fn to_ascii(buffer: &mut Buffer) {
    for cell in &mut buffer.content {
        if let Some(ascii) = ascii_for(cell.symbol()) {
            cell.set_symbol(ascii);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stand_ins_are_one_ascii_column() {
        for symbol in ["⚿", "⛙", "✔", "✘", "▶", "✉", "─", "╭", "…"] {
            let ascii = ascii_for(symbol).unwrap();
            assert!(ascii.len() == 1 && ascii.is_ascii(), "{symbol}");
        }
        assert_eq!(ascii_for("日"), None, "text is left alone");
        assert_eq!(ascii_for("a"), None);
    }
}
