//! Splitting a configured command line into program and arguments.

use std::path::{Component, Path, PathBuf};

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

/// Quotes one word so that [`split_command`] gives it back unchanged (plain
/// words are left as they are).
pub fn quote_word(word: &str) -> String {
    if !word.is_empty()
        && !word
            .chars()
            .any(|c| c.is_whitespace() || "'\"\\".contains(c))
    {
        return word.to_string();
    }
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// Words joined into one command line that [`split_command`] splits back
/// into the same words.
pub fn join_command<S: AsRef<str>>(words: &[S]) -> String {
    words
        .iter()
        .map(|w| quote_word(w.as_ref()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Makes a command line mean the same wherever the agent is started (its
/// cwd is a worker's copy or a scratch folder): a program given as a
/// relative path (it has a `/`) is resolved against `base`, and so is an
/// argument that starts with `./` or `../` and names something that exists
/// there (`node ./agent.js`). A bare program name (looked up on `PATH`, or a
/// preset such as `claude`), absolute paths, other arguments and a command
/// with broken quoting (reported elsewhere) are left as they are. `./`
/// parts are dropped; `..` is kept.
pub fn anchor_command(command: &str, base: &Path) -> String {
    let Ok(mut words) = split_command(command) else {
        return command.to_string();
    };
    let base = std::path::absolute(base).unwrap_or_else(|_| base.to_path_buf());
    let mut changed = false;
    for (i, word) in words.iter_mut().enumerate() {
        let relative = !Path::new(word.as_str()).is_absolute();
        let anchor = if i == 0 {
            relative && word.contains('/')
        } else {
            (word.starts_with("./") || word.starts_with("../")) && base.join(&*word).exists()
        };
        if anchor {
            *word = join_path(&base, word);
            changed = true;
        }
    }
    if changed {
        join_command(&words)
    } else {
        command.to_string()
    }
}

fn join_path(base: &Path, relative: &str) -> String {
    let mut joined = PathBuf::new();
    for part in base.join(relative).components() {
        if part != Component::CurDir {
            joined.push(part);
        }
    }
    joined.to_string_lossy().into_owned()
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
    fn joined_words_split_back() {
        for words in [
            vec!["a"],
            vec![
                "/opt/my agent/run",
                "--x",
                "it's",
                "",
                "say \"hi\"",
                "back\\slash",
            ],
        ] {
            let line = join_command(&words);
            assert_eq!(split(&line), words, "{line}");
        }
        assert_eq!(join_command(&["node", "a b"]), "node 'a b'");
    }

    #[test]
    fn relative_programs_are_anchored() {
        let base = Path::new("/work/project");
        assert_eq!(
            anchor_command("./myagent.sh --acp", base),
            "/work/project/myagent.sh --acp"
        );
        // Only the first word is the program.
        assert_eq!(
            anchor_command("tools/my agent.sh 'a b'", Path::new("/p/.enki")),
            "/p/.enki/tools/my agent.sh 'a b'"
        );
        assert_eq!(
            anchor_command("'tools/my agent.sh' 'a b'", Path::new("/p/.enki")),
            "'/p/.enki/tools/my agent.sh' 'a b'"
        );
        assert_eq!(
            anchor_command("../bin/agent", Path::new("/p/.enki")),
            "/p/.enki/../bin/agent"
        );
        // Unchanged: presets, names on PATH, absolute paths, broken quoting,
        // relative arguments that name nothing there.
        for command in [
            "claude",
            "sim",
            "my-agent --x",
            "/opt/agent --y",
            "node ./agent.js",
            "./x 'open",
            "",
        ] {
            assert_eq!(anchor_command(command, base), command);
        }
    }

    #[test]
    fn relative_arguments_that_exist_are_anchored() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("project");
        std::fs::create_dir_all(base.join("lib")).unwrap();
        std::fs::write(base.join("agent.js"), "").unwrap();
        std::fs::write(dir.path().join("up.py"), "").unwrap();
        assert_eq!(
            anchor_command("node ./agent.js --flag ./missing.js lib agent.js", &base),
            format!(
                "node {} --flag ./missing.js lib agent.js",
                base.join("agent.js").display()
            )
        );
        assert_eq!(
            anchor_command("python3 ../up.py ./lib", &base),
            format!(
                "python3 {} {}",
                base.join("../up.py").display(),
                base.join("lib").display()
            )
        );
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
