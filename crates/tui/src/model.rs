//! What the chat and the workers pane hold: chat entries with their
//! rendered lines, and each worker with its live transcript. Text is
//! sanitized on the way in and rendered once, not per frame.

use std::collections::VecDeque;

use ratatui::style::Style;
use ratatui::text::{Line, Span};

use crate::markdown;
use crate::text::{first_line, sanitize};
use crate::theme;
use crate::ui::wrap;

/// Transcript lines kept per worker.
pub const MAX_TRANSCRIPT_LINES: usize = 20_000;
/// How far back an update looks for its tool call's line.
const TOOL_LOOKBACK: usize = 500;
/// The statuses of an ACP tool call.
const TOOL_STATUSES: [&str; 4] = ["pending", "in_progress", "completed", "failed"];

fn with_tool_status(title: &str, status: Option<&str>) -> String {
    match status {
        Some(status) => format!("{title} ({status})"),
        None => title.to_string(),
    }
}

/// A tool call's transcript text split into its title and status:
/// `Edit a.rs (completed)` or `Edit a.rs completed`.
pub fn split_tool_status(text: &str) -> (&str, Option<&str>) {
    let text = text.trim_end();
    if let Some(open) = text
        .strip_suffix(')')
        .and_then(|t| t.rfind(" (").map(|i| (t, i)))
    {
        let (inner, at) = open;
        let status = &inner[at + 2..];
        if TOOL_STATUSES.contains(&status) {
            return (&inner[..at], Some(status));
        }
    }
    if let Some((title, status)) = text.rsplit_once(' ')
        && TOOL_STATUSES.contains(&status)
    {
        return (title, Some(status));
    }
    if TOOL_STATUSES.contains(&text) {
        return ("", Some(text));
    }
    (text, None)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    User,
    Planner,
    Tool,
    Event,
}

/// A source line of a chat entry and what its wrapped rows continue with.
#[derive(Debug, Clone)]
struct Para {
    line: Line<'static>,
    hang: Vec<Span<'static>>,
}

impl Para {
    fn plain(line: Line<'static>) -> Para {
        Para {
            line,
            hang: Vec::new(),
        }
    }

    /// A line whose continuation rows are indented under its text.
    fn hanging(line: Line<'static>, indent: usize) -> Para {
        Para {
            line,
            hang: vec![Span::raw(" ".repeat(indent))],
        }
    }
}

/// One thing said or done in the chat, with its rendered lines.
#[derive(Debug, Clone)]
pub struct ChatEntry {
    pub kind: EntryKind,
    pub text: String,
    /// Planner text still streaming into this entry.
    pub open: bool,
    /// Whether `lines` must be rendered again from `text`.
    pub(crate) dirty: bool,
    /// What is shown before the planner's markdown (a blank line and a
    /// name), or the whole entry for the other kinds.
    paras: Vec<Para>,
    /// The width `lines` were laid out for.
    width: usize,
    /// Rows laid out for `width`.
    pub lines: Vec<Line<'static>>,
}

impl ChatEntry {
    /// An entry laid out when first drawn.
    fn with_paras(kind: EntryKind, text: String, paras: Vec<Para>) -> ChatEntry {
        ChatEntry {
            kind,
            text,
            open: kind == EntryKind::Planner,
            dirty: true,
            paras,
            width: 0,
            lines: Vec::new(),
        }
    }

    pub(crate) fn user(text: &str) -> ChatEntry {
        let mut paras = vec![Para::plain(Line::default())];
        for (i, line) in sanitize(text).lines().enumerate() {
            let mark = if i == 0 { "› " } else { "  " };
            paras.push(Para::hanging(
                Line::from(vec![
                    Span::styled(mark, theme::user()),
                    Span::styled(line.to_string(), theme::user()),
                ]),
                2,
            ));
        }
        ChatEntry::with_paras(EntryKind::User, text.to_string(), paras)
    }

    pub(crate) fn planner(header: bool) -> ChatEntry {
        let paras = if header {
            vec![
                Para::plain(Line::default()),
                Para::plain(Line::styled("planner", theme::planner())),
            ]
        } else {
            Vec::new()
        };
        ChatEntry::with_paras(EntryKind::Planner, String::new(), paras)
    }

    pub(crate) fn tool(title: &str) -> ChatEntry {
        let line = Line::from(vec![
            Span::styled("  ⚙ ", theme::dim()),
            Span::styled(first_line(&sanitize(title)).to_string(), theme::dim()),
        ]);
        ChatEntry::with_paras(
            EntryKind::Tool,
            title.to_string(),
            vec![Para::hanging(line, 4)],
        )
    }

    pub(crate) fn event(mark: &str, text: &str, style: Style) -> ChatEntry {
        let clean = sanitize(text);
        let indent = crate::text::width(mark) + 1;
        let paras = clean
            .lines()
            .enumerate()
            .map(|(i, line)| {
                let mark = if i == 0 {
                    format!("{mark} ")
                } else {
                    " ".repeat(indent)
                };
                Para::hanging(
                    Line::from(vec![
                        Span::styled(mark, style),
                        Span::styled(line.to_string(), style),
                    ]),
                    indent,
                )
            })
            .collect();
        ChatEntry::with_paras(EntryKind::Event, clean, paras)
    }

    /// Lays the entry out for `width` columns when that changed or its
    /// streamed markdown did.
    pub(crate) fn layout(&mut self, width: usize) {
        let width = width.max(1);
        if !self.dirty && self.width == width {
            return;
        }
        self.dirty = false;
        self.width = width;
        self.lines.clear();
        for para in &self.paras {
            self.lines
                .extend(wrap::wrap_hanging(&para.line, width, &para.hang));
        }
        if self.kind == EntryKind::Planner {
            self.lines.extend(markdown::render(&self.text, width));
        }
    }
}

/// How a worker is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkerState {
    Running,
    /// Its task reached this status (done, worker_done, failed, ...).
    Ended(String),
    /// The attempt failed; another may follow.
    Failed {
        error: String,
        will_retry: bool,
    },
}

/// One transcript line, by kind (message, thought, tool, plan, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TranscriptLine {
    pub kind: String,
    pub text: String,
}

/// A worker's live transcript: streamed chunks joined into lines, capped.
#[derive(Debug, Clone, Default)]
pub struct Transcript {
    pub lines: VecDeque<TranscriptLine>,
    /// The last line is still being streamed into.
    open: bool,
    /// Lines dropped from the front to respect the cap.
    pub dropped: usize,
}

impl Transcript {
    fn push_line(&mut self, kind: &str, text: &str) {
        self.lines.push_back(TranscriptLine {
            kind: kind.to_string(),
            text: text.to_string(),
        });
        if self.lines.len() > MAX_TRANSCRIPT_LINES {
            self.lines.pop_front();
            self.dropped += 1;
        }
    }

    /// Adds an entry: message and thought chunks continue the line being
    /// streamed; an update of a tool call changes the status on that
    /// call's line; other kinds are whole entries.
    pub fn append(&mut self, kind: &str, text: &str) {
        if kind == "message_end" {
            // The next message is a line of its own.
            self.open = false;
            return;
        }
        let text = sanitize(text);
        if kind == "tool_update" {
            self.update_tool(&text);
            return;
        }
        let streamed = matches!(kind, "message" | "thought");
        let continues = streamed && self.open && self.lines.back().is_some_and(|l| l.kind == kind);
        let mut pieces = text.split('\n');
        if continues {
            if let (Some(first), Some(last)) = (pieces.next(), self.lines.back_mut()) {
                last.text.push_str(first);
            }
        } else if let Some(first) = pieces.next() {
            self.push_line(kind, first);
        }
        for piece in pieces {
            self.push_line(kind, piece);
        }
        self.open = streamed;
    }

    /// `title (status)` of an update onto the latest line of the call with
    /// that title (`old → new (status)` also renames it); a call never
    /// seen gets a line of its own.
    fn update_tool(&mut self, text: &str) {
        let (title, status) = split_tool_status(first_line(text));
        let (find, shown) = match title.split_once(" → ") {
            Some((old, new)) if self.tool_line(old).is_some() => (old, new),
            _ => (title, title),
        };
        match self.tool_line(find) {
            Some(at) => {
                let line = &mut self.lines[at];
                let text = with_tool_status(shown, status.or(split_tool_status(&line.text).1));
                line.text = text;
            }
            None => {
                self.open = false;
                self.push_line("tool", &with_tool_status(shown, status));
            }
        }
    }

    /// The index of the latest line of the tool call titled `title`.
    fn tool_line(&self, title: &str) -> Option<usize> {
        let len = self.lines.len();
        self.lines
            .iter()
            .rev()
            .take(TOOL_LOOKBACK)
            .position(|l| l.kind == "tool" && split_tool_status(&l.text).0 == title)
            .map(|back| len - 1 - back)
    }

    /// Ends any streamed line (a new attempt starts).
    pub fn separator(&mut self, text: &str) {
        self.open = false;
        self.push_line("separator", text);
    }

    /// Styled lines for display.
    pub fn styled(&self) -> impl DoubleEndedIterator<Item = Line<'static>> + Clone + '_ {
        self.lines.iter().map(|line| {
            let (mark, style) = match line.kind.as_str() {
                "message" => ("", Style::new()),
                "thought" => ("", theme::dim()),
                "tool" if split_tool_status(&line.text).1 == Some("failed") => ("⚙ ", theme::bad()),
                "tool" | "tool_update" => ("⚙ ", theme::info()),
                "plan" => ("☰ ", theme::warn()),
                "permission" => ("⚿ ", theme::warn()),
                "refusal" => ("⚿ ", theme::bad()),
                "separator" => ("", theme::title()),
                _ => ("", theme::dim()),
            };
            if mark.is_empty() {
                Line::styled(line.text.clone(), style)
            } else {
                Line::from(vec![
                    Span::styled(mark, style),
                    Span::styled(line.text.clone(), style),
                ])
            }
        })
    }
}

#[derive(Debug, Clone)]
pub struct Worker {
    pub task: String,
    pub step: String,
    pub title: String,
    pub attempt: i64,
    pub started_ms: u64,
    pub ended_ms: Option<u64>,
    pub state: WorkerState,
    /// What its agent is doing (`enki_core::liveness`), why, and since when.
    pub agent: enki_core::AgentState,
    pub agent_reason: Option<String>,
    pub agent_since_ms: u64,
    pub activity: String,
    pub transcript: Transcript,
    /// Set while the row shows the task's merger (its run number) rather
    /// than its worker: a merger's transcript follows the worker's.
    pub merger_run: Option<i64>,
    /// What the run it shows used so far, once its agent reported usage.
    pub usage: Option<enki_core::usage::Totals>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_end_starts_the_next_message_on_a_line_of_its_own() {
        let mut transcript = Transcript::default();
        for (kind, text) in [
            ("message", "Still "),
            ("message", "going on."),
            ("message_end", ""),
            ("message", "I was not allowed."),
        ] {
            transcript.append(kind, text);
        }
        let lines: Vec<&str> = transcript.lines.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(lines, ["Still going on.", "I was not allowed."]);
    }
}
