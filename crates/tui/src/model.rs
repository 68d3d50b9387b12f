//! What the chat and the workers pane hold: chat entries with their
//! rendered lines, and each worker with its live transcript. Text is
//! sanitized on the way in and rendered once, not per frame.

use std::collections::VecDeque;

use ratatui::style::Style;
use ratatui::text::{Line, Span};

use crate::markdown;
use crate::text::{first_line, sanitize};
use crate::theme;

/// Transcript lines kept per worker.
pub const MAX_TRANSCRIPT_LINES: usize = 20_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    User,
    Planner,
    Tool,
    Event,
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
    /// Lines in front of the rendered text (a blank line and a name).
    header: usize,
    pub lines: Vec<Line<'static>>,
}

impl ChatEntry {
    pub(crate) fn user(text: &str) -> ChatEntry {
        let mut lines = vec![Line::default()];
        for (i, line) in sanitize(text).lines().enumerate() {
            let mark = if i == 0 { "› " } else { "  " };
            lines.push(Line::from(vec![
                Span::styled(mark, theme::user()),
                Span::styled(line.to_string(), theme::user()),
            ]));
        }
        ChatEntry {
            kind: EntryKind::User,
            text: text.to_string(),
            open: false,
            dirty: false,
            header: 0,
            lines,
        }
    }

    pub(crate) fn planner(header: bool) -> ChatEntry {
        ChatEntry {
            kind: EntryKind::Planner,
            text: String::new(),
            open: true,
            dirty: true,
            header: if header { 2 } else { 0 },
            lines: if header {
                vec![Line::default(), Line::styled("planner", theme::planner())]
            } else {
                Vec::new()
            },
        }
    }

    pub(crate) fn tool(title: &str) -> ChatEntry {
        ChatEntry {
            kind: EntryKind::Tool,
            text: title.to_string(),
            open: false,
            dirty: false,
            header: 0,
            lines: vec![Line::from(vec![
                Span::styled("  ⚙ ", theme::dim()),
                Span::styled(first_line(&sanitize(title)).to_string(), theme::dim()),
            ])],
        }
    }

    pub(crate) fn event(mark: &str, text: &str, style: Style) -> ChatEntry {
        let clean = sanitize(text);
        let lines = clean
            .lines()
            .enumerate()
            .map(|(i, line)| {
                let mark = if i == 0 {
                    format!("{mark} ")
                } else {
                    "  ".to_string()
                };
                Line::from(vec![
                    Span::styled(mark, style),
                    Span::styled(line.to_string(), style),
                ])
            })
            .collect();
        ChatEntry {
            kind: EntryKind::Event,
            text: clean,
            open: false,
            dirty: false,
            header: 0,
            lines,
        }
    }

    /// Renders streamed planner markdown again after it changed.
    pub(crate) fn refresh(&mut self) {
        if !self.dirty {
            return;
        }
        self.dirty = false;
        self.lines.truncate(self.header);
        self.lines.extend(markdown::render(&self.text));
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
    /// streamed; other kinds are whole entries.
    pub fn append(&mut self, kind: &str, text: &str) {
        let text = sanitize(text);
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
                "tool" | "tool_update" => ("⚙ ", theme::info()),
                "plan" => ("☰ ", theme::warn()),
                "permission" => ("⚿ ", theme::warn()),
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
    pub activity: String,
    pub transcript: Transcript,
}
