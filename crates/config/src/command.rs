//! Splitting a configured command line into program and arguments.

/// Splits a command line into words: whitespace separates words, `'...'`
/// groups text literally, `"..."` groups text with backslash escapes inside,
/// and a backslash outside quotes escapes the next character. Quotes may
/// join parts of one word (`a"b c"` is `ab c`); `''` is an empty word.
///
/// No variables, globs or other shell syntax. Unbalanced quotes and a
/// trailing backslash are errors. An empty or all-blank text gives no words.
pub fn split_command(text: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut in_word = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut current));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => current.push(c),
                        None => return Err(format!("unbalanced ' in command `{text}`")),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c) => current.push(c),
                            None => return Err(format!("unbalanced \" in command `{text}`")),
                        },
                        Some(c) => current.push(c),
                        None => return Err(format!("unbalanced \" in command `{text}`")),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some(c) => current.push(c),
                    None => return Err(format!("trailing backslash in command `{text}`")),
                }
            }
            c => {
                in_word = true;
                current.push(c);
            }
        }
    }
    if in_word {
        words.push(current);
    }
    Ok(words)
}

/// [`split_command`], falling back to plain whitespace splitting when the
/// quoting is broken (used where no error can be returned).
pub(crate) fn split_command_lenient(text: &str) -> Vec<String> {
    split_command(text).unwrap_or_else(|_| text.split_whitespace().map(str::to_string).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(text: &str) -> Vec<String> {
        split_command(text).unwrap()
    }

    #[test]
    fn splits_on_whitespace() {
        assert_eq!(split("my-agent  --acp\t-v "), ["my-agent", "--acp", "-v"]);
        assert!(split("").is_empty());
        assert!(split("   ").is_empty());
    }

    #[test]
    fn quotes_group_and_escapes_escape() {
        assert_eq!(
            split(r#"node "/opt/my agent/main.js" --name 'a "b" c' x\ y"#),
            [
                "node",
                "/opt/my agent/main.js",
                "--name",
                "a \"b\" c",
                "x y"
            ]
        );
        assert_eq!(split(r#""say \"hi\"" 'it\s'"#), ["say \"hi\"", "it\\s"]);
        assert_eq!(split(r#"a"b c"d '' """#), ["ab cd", "", ""]);
    }

    #[test]
    fn broken_quoting_is_an_error() {
        assert!(
            split_command("agent 'open")
                .unwrap_err()
                .contains("unbalanced '")
        );
        assert!(
            split_command("agent \"open")
                .unwrap_err()
                .contains("unbalanced \"")
        );
        assert!(split_command("agent \"open\\").is_err());
        assert!(split_command("agent \\").unwrap_err().contains("backslash"));
        assert_eq!(split_command_lenient("agent 'open"), ["agent", "'open"]);
    }
}
