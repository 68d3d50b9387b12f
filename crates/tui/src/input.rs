//! The message box: a small multi-line editor with history, `@` file
//! completion and `/` command completion, plus the slash-command parser.
//! Pure state, no terminal, so every key path is unit-tested.

use crate::text::{char_width, sanitize};

/// How many completion candidates are offered at once.
pub const MAX_CANDIDATES: usize = 8;
/// History entries kept.
const MAX_HISTORY: usize = 500;

/// The slash commands: name, arguments, what it does.
pub const COMMANDS: &[(&str, &str, &str)] = &[
    (
        "pause",
        "[<execution> [<step>]]",
        "pause an execution (default: the selected one)",
    ),
    (
        "resume",
        "[<execution> [<step>]]",
        "resume a paused execution or step",
    ),
    (
        "cancel",
        "[<execution> [<step>]]",
        "cancel an execution, or a step and its dependents",
    ),
    (
        "retry",
        "[<task or step>]",
        "send a failed or blocked task back to pending",
    ),
    (
        "followup",
        "[<task or step>] <request>",
        "give a done task a follow-up turn in its session",
    ),
    (
        "review",
        "[<task or step>]",
        "show work that awaits your review: its output and diff",
    ),
    (
        "approve",
        "[<task or step>]",
        "land work that awaits your review",
    ),
    (
        "reject",
        "[<task or step>] [<note>]",
        "do not land it: the task fails, its branch is kept",
    ),
    ("stop", "", "stop every worker and pause every execution"),
    ("dag", "[<execution>]", "show the dependency graph"),
    ("mail", "", "show the mail"),
    ("help", "", "show keys and commands"),
    ("quit", "", "leave enki (asks while workers run)"),
];

/// What a completion inserts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompletionKind {
    File,
    Command,
}

/// The open completion popup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    pub kind: CompletionKind,
    /// Byte offset of the `@` or `/` that starts the completed word.
    pub start: usize,
    pub items: Vec<String>,
    pub selected: usize,
}

#[derive(Debug, Clone, Default)]
pub struct Input {
    text: String,
    /// Byte offset, always on a char boundary.
    cursor: usize,
    history: Vec<String>,
    /// Which history entry is shown, while browsing.
    browsing: Option<usize>,
    /// What was typed before browsing started.
    draft: String,
    pub completion: Option<Completion>,
    /// Set by Esc: no popup until the next edit.
    dismissed: bool,
}

impl Input {
    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn cursor(&self) -> usize {
        self.cursor
    }

    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    pub fn history(&self) -> &[String] {
        &self.history
    }

    /// Replaces the whole text (cursor at the end).
    pub fn set_text(&mut self, text: &str) {
        self.text = sanitize(text);
        self.cursor = self.text.len();
        self.edited();
    }

    fn edited(&mut self) {
        self.browsing = None;
        self.dismissed = false;
    }

    pub fn insert_char(&mut self, c: char) {
        if c == '\n' {
            self.text.insert(self.cursor, '\n');
            self.cursor += 1;
        } else if c == '\t' {
            self.insert_str("    ");
            return;
        } else if c.is_control() {
            return;
        } else {
            self.text.insert(self.cursor, c);
            self.cursor += c.len_utf8();
        }
        self.edited();
    }

    /// Inserts pasted text: line endings normalised, controls dropped.
    pub fn insert_str(&mut self, text: &str) {
        let clean = sanitize(&text.replace("\r\n", "\n").replace('\r', "\n"));
        self.text.insert_str(self.cursor, &clean);
        self.cursor += clean.len();
        self.edited();
    }

    fn prev_boundary(&self, at: usize) -> usize {
        self.text[..at]
            .char_indices()
            .next_back()
            .map_or(0, |(i, _)| i)
    }

    fn next_boundary(&self, at: usize) -> usize {
        self.text[at..]
            .chars()
            .next()
            .map_or(at, |c| at + c.len_utf8())
    }

    pub fn backspace(&mut self) {
        if self.cursor > 0 {
            let start = self.prev_boundary(self.cursor);
            self.text.replace_range(start..self.cursor, "");
            self.cursor = start;
            self.edited();
        }
    }

    pub fn delete(&mut self) {
        if self.cursor < self.text.len() {
            let end = self.next_boundary(self.cursor);
            self.text.replace_range(self.cursor..end, "");
            self.edited();
        }
    }

    pub fn left(&mut self) {
        self.cursor = self.prev_boundary(self.cursor);
    }

    pub fn right(&mut self) {
        self.cursor = self.next_boundary(self.cursor);
    }

    fn word_start_before(&self, at: usize) -> usize {
        let before = &self.text[..at];
        let trimmed = before.trim_end_matches(|c: char| !c.is_alphanumeric());
        trimmed
            .char_indices()
            .rev()
            .find(|(_, c)| !c.is_alphanumeric())
            .map_or(0, |(i, c)| i + c.len_utf8())
    }

    pub fn word_left(&mut self) {
        self.cursor = self.word_start_before(self.cursor);
    }

    pub fn word_right(&mut self) {
        let after = &self.text[self.cursor..];
        let skip = after
            .char_indices()
            .find(|(_, c)| c.is_alphanumeric())
            .map_or(after.len(), |(i, _)| i);
        let rest = &after[skip..];
        let word = rest
            .char_indices()
            .find(|(_, c)| !c.is_alphanumeric())
            .map_or(rest.len(), |(i, _)| i);
        self.cursor += skip + word;
    }

    fn line_start(&self) -> usize {
        self.text[..self.cursor].rfind('\n').map_or(0, |i| i + 1)
    }

    fn line_end(&self) -> usize {
        self.text[self.cursor..]
            .find('\n')
            .map_or(self.text.len(), |i| self.cursor + i)
    }

    pub fn home(&mut self) {
        self.cursor = self.line_start();
    }

    pub fn end(&mut self) {
        self.cursor = self.line_end();
    }

    /// Ctrl-U: deletes from the start of the line to the cursor.
    pub fn kill_to_start(&mut self) {
        let start = self.line_start();
        self.text.replace_range(start..self.cursor, "");
        self.cursor = start;
        self.edited();
    }

    /// Ctrl-K: deletes from the cursor to the end of the line.
    pub fn kill_to_end(&mut self) {
        let end = self.line_end();
        self.text.replace_range(self.cursor..end, "");
        self.edited();
    }

    /// Ctrl-W / Alt-Backspace: deletes the word before the cursor.
    pub fn delete_word(&mut self) {
        let start = self.word_start_before(self.cursor);
        self.text.replace_range(start..self.cursor, "");
        self.cursor = start;
        self.edited();
    }

    /// Column of the cursor in its line, in characters.
    fn column(&self) -> usize {
        self.text[self.line_start()..self.cursor].chars().count()
    }

    fn move_to_column(&mut self, line_start: usize, column: usize) {
        let line = &self.text[line_start..];
        let line_len = line.find('\n').unwrap_or(line.len());
        let offset = line[..line_len]
            .char_indices()
            .nth(column)
            .map_or(line_len, |(i, _)| i);
        self.cursor = line_start + offset;
    }

    /// Up: the line above, or the previous history entry from the first line.
    pub fn up(&mut self) {
        let start = self.line_start();
        if start == 0 {
            self.history_prev();
            return;
        }
        let column = self.column();
        let prev_start = self.text[..start - 1].rfind('\n').map_or(0, |i| i + 1);
        self.move_to_column(prev_start, column);
    }

    /// Down: the line below, or the next history entry from the last line.
    pub fn down(&mut self) {
        let end = self.line_end();
        if end == self.text.len() {
            self.history_next();
            return;
        }
        let column = self.column();
        self.move_to_column(end + 1, column);
    }

    pub fn history_prev(&mut self) {
        if self.history.is_empty() {
            return;
        }
        let index = match self.browsing {
            None => {
                self.draft = self.text.clone();
                self.history.len() - 1
            }
            Some(0) => 0,
            Some(i) => i - 1,
        };
        self.show_history(Some(index));
    }

    pub fn history_next(&mut self) {
        match self.browsing {
            None => {}
            Some(i) if i + 1 < self.history.len() => self.show_history(Some(i + 1)),
            Some(_) => self.show_history(None),
        }
    }

    fn show_history(&mut self, index: Option<usize>) {
        self.text = match index {
            Some(i) => self.history.get(i).cloned().unwrap_or_default(),
            None => std::mem::take(&mut self.draft),
        };
        self.cursor = self.text.len();
        self.browsing = index;
        self.completion = None;
    }

    /// Takes the text to send, remembering it in the history. `None` when
    /// there is nothing but whitespace.
    pub fn submit(&mut self) -> Option<String> {
        let text = self.text.trim_end().to_string();
        if text.trim().is_empty() {
            return None;
        }
        if self.history.last() != Some(&text) {
            self.history.push(text.clone());
            if self.history.len() > MAX_HISTORY {
                self.history.remove(0);
            }
        }
        self.text.clear();
        self.cursor = 0;
        self.browsing = None;
        self.draft.clear();
        self.completion = None;
        Some(text)
    }

    pub fn clear(&mut self) {
        self.text.clear();
        self.cursor = 0;
        self.completion = None;
        self.edited();
    }

    /// Esc: closes the popup until the next edit.
    pub fn dismiss_completion(&mut self) {
        self.completion = None;
        self.dismissed = true;
    }

    /// Opens, narrows or closes the completion popup for the word under the
    /// cursor: `@path` against `files`, `/command` at the very start.
    pub fn update_completion(&mut self, files: &[String]) {
        if self.dismissed {
            self.completion = None;
            return;
        }
        let before = &self.text[..self.cursor];
        let start = before
            .char_indices()
            .rev()
            .find(|(_, c)| c.is_whitespace())
            .map_or(0, |(i, c)| i + c.len_utf8());
        let word = &before[start..];
        let (kind, items) = if let Some(query) = word.strip_prefix('@') {
            (CompletionKind::File, match_files(files, query))
        } else if start == 0 && word.starts_with('/') && !word.starts_with("//") {
            let query = &word[1..];
            let items: Vec<String> = COMMANDS
                .iter()
                .filter(|(name, _, _)| name.starts_with(query) && *name != query)
                .map(|(name, _, _)| name.to_string())
                .collect();
            (CompletionKind::Command, items)
        } else {
            self.completion = None;
            return;
        };
        if items.is_empty() {
            self.completion = None;
            return;
        }
        let selected = match &self.completion {
            Some(c) if c.kind == kind && c.start == start => {
                c.selected.min(items.len().saturating_sub(1))
            }
            _ => 0,
        };
        self.completion = Some(Completion {
            kind,
            start,
            items,
            selected,
        });
    }

    pub fn completion_next(&mut self) {
        if let Some(c) = &mut self.completion
            && !c.items.is_empty()
        {
            c.selected = (c.selected + 1) % c.items.len();
        }
    }

    pub fn completion_prev(&mut self) {
        if let Some(c) = &mut self.completion
            && !c.items.is_empty()
        {
            c.selected = (c.selected + c.items.len() - 1) % c.items.len();
        }
    }

    /// Replaces the word being completed with the chosen item.
    pub fn accept_completion(&mut self) {
        let Some(completion) = self.completion.take() else {
            return;
        };
        let Some(item) = completion.items.get(completion.selected) else {
            return;
        };
        let replacement = match completion.kind {
            CompletionKind::File => format!("@{item} "),
            CompletionKind::Command => format!("/{item} "),
        };
        let start = completion.start.min(self.cursor);
        if !self.text.is_char_boundary(start) {
            return;
        }
        self.text.replace_range(start..self.cursor, &replacement);
        self.cursor = start + replacement.len();
        self.edited();
    }

    /// The text cut into rows of at most `width` cells (lines broken at
    /// `\n`, then by width), and the cursor's (row, column).
    pub fn layout(&self, width: usize) -> (Vec<String>, (usize, usize)) {
        let width = width.max(1);
        let mut rows = vec![String::new()];
        let mut used = 0;
        let mut cursor = (0, 0);
        for (i, c) in self.text.char_indices() {
            if i == self.cursor {
                cursor = (rows.len() - 1, used);
            }
            if c == '\n' {
                rows.push(String::new());
                used = 0;
                continue;
            }
            let w = char_width(c);
            if used + w > width && used > 0 {
                rows.push(String::new());
                used = 0;
                if i == self.cursor {
                    cursor = (rows.len() - 1, 0);
                }
            }
            if let Some(row) = rows.last_mut() {
                row.push(c);
            }
            used += w;
        }
        if self.cursor >= self.text.len() {
            if used >= width {
                rows.push(String::new());
                used = 0;
            }
            cursor = (rows.len() - 1, used);
        }
        (rows, cursor)
    }
}

/// Up to [`MAX_CANDIDATES`] paths for `query`: paths starting with it,
/// then file names starting with it, then paths containing it (all
/// case-insensitive), each group in list order.
pub fn match_files(files: &[String], query: &str) -> Vec<String> {
    let query = query.to_lowercase();
    let mut groups: [Vec<&String>; 3] = [Vec::new(), Vec::new(), Vec::new()];
    for file in files {
        let lower = file.to_lowercase();
        let name = lower.rsplit('/').next().unwrap_or(&lower);
        let group = if lower.starts_with(&query) {
            0
        } else if name.starts_with(&query) {
            1
        } else if lower.contains(&query) {
            2
        } else {
            continue;
        };
        groups[group].push(file);
        if groups[0].len() >= MAX_CANDIDATES {
            break;
        }
    }
    groups
        .iter()
        .flatten()
        .take(MAX_CANDIDATES)
        .map(|s| s.to_string())
        .collect()
}

/// Which execution or step an operation applies to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Target {
    pub execution: Option<String>,
    pub step: Option<String>,
}

/// A slash command, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Pause(Target),
    Resume(Target),
    Cancel(Target),
    Retry(Option<String>),
    /// `/followup`: what follows the command, as typed (`[<task or step>]
    /// <request>`, resolved against the selection).
    FollowUp(String),
    Review(Option<String>),
    Approve(Option<String>),
    /// `/reject`: what follows the command, as typed (`[<task or step>]
    /// [<note>]`, resolved against the tasks).
    Reject(String),
    Stop,
    Dag(Option<String>),
    Mail,
    Help,
    Quit,
}

/// `None` when `text` is a message rather than a command (it does not
/// start with `/`, or starts with `//` to send a literal slash); otherwise
/// the command or what is wrong with it.
pub fn parse_command(text: &str) -> Option<Result<Command, String>> {
    let text = text.trim();
    let rest = text.strip_prefix('/')?;
    if rest.starts_with('/') || rest.is_empty() || rest.starts_with(char::is_whitespace) {
        return None;
    }
    let mut words = rest.split_whitespace();
    let name = words.next().unwrap_or_default();
    let args: Vec<String> = words.map(str::to_string).collect();
    let usage = |max: usize| -> Result<(), String> {
        if args.len() > max {
            let spec = COMMANDS
                .iter()
                .find(|(n, _, _)| *n == name)
                .map_or("", |(_, a, _)| *a);
            Err(format!("usage: /{name} {spec}").trim_end().to_string())
        } else {
            Ok(())
        }
    };
    let target = || Target {
        execution: args.first().cloned(),
        step: args.get(1).cloned(),
    };
    let command = match name {
        "pause" => usage(2).map(|()| Command::Pause(target())),
        "resume" => usage(2).map(|()| Command::Resume(target())),
        "cancel" => usage(2).map(|()| Command::Cancel(target())),
        "retry" => usage(1).map(|()| Command::Retry(args.first().cloned())),
        "followup" => match rest[name.len()..].trim() {
            "" => Err("usage: /followup [<task or step>] <request>".to_string()),
            text => Ok(Command::FollowUp(text.to_string())),
        },
        "review" => usage(1).map(|()| Command::Review(args.first().cloned())),
        "approve" => usage(1).map(|()| Command::Approve(args.first().cloned())),
        "reject" => Ok(Command::Reject(rest[name.len()..].trim().to_string())),
        "stop" => usage(0).map(|()| Command::Stop),
        "dag" => usage(1).map(|()| Command::Dag(args.first().cloned())),
        "mail" => usage(0).map(|()| Command::Mail),
        "help" => usage(0).map(|()| Command::Help),
        "quit" | "exit" | "q" => usage(0).map(|()| Command::Quit),
        other => Err(format!(
            "unknown command /{other}; /help lists the commands (start with // to send a slash)"
        )),
    };
    Some(command)
}

/// The text to send for a message that escaped a leading slash (`//x` → `/x`).
pub fn unescape_message(text: &str) -> String {
    match text.strip_prefix("//") {
        Some(rest) => format!("/{rest}"),
        None => text.to_string(),
    }
}
