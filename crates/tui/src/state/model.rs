//! What the chat and the workers pane hold: chat entries with their
//! rendered lines, and each worker with its live transcript. Text is
//! sanitized on the way in and rendered once, not per frame.

use std::collections::VecDeque;

use ratatui::style::Style;
use ratatui::text::{Line, Span};

use enki_coordinator::{ToolStatus, TranscriptEntry};

use crate::markdown;
use crate::text::{first_line, sanitize};
use crate::theme;
use crate::wrap;

/// Transcript lines kept per worker.
pub const MAX_TRANSCRIPT_LINES: usize = 20_000;
/// How far back an update looks for its tool call's line.
const TOOL_LOOKBACK: usize = 500;

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

/// What a transcript line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKind {
    Message,
    Thought,
    Tool,
    Plan,
    Permission,
    Refusal,
    Separator,
    /// Mail the person sent this worker from its transcript.
    FromYou,
}

/// A tool call's line: the call it shows (matched by id, never by title)
/// and what it said when it finished.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolLine {
    pub id: String,
    pub status: Option<ToolStatus>,
    pub exit_code: Option<i64>,
    pub output: Vec<String>,
}

/// One transcript line (a tool call's is its title; an agent message is
/// all of its text, newlines included, shown as markdown).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TranscriptLine {
    pub kind: LineKind,
    pub text: String,
    pub call: Option<ToolLine>,
    /// A message's markdown rendered for a width (see
    /// [`Transcript::layout`]); `None` until then, and after it changed.
    rendered: Option<(usize, Vec<Line<'static>>)>,
}

/// Output lines a collapsed tool call shows (its last ones: the result).
pub const OUTPUT_SHOWN: usize = 3;

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
    fn push(&mut self, kind: LineKind, text: &str, call: Option<ToolLine>) {
        self.lines.push_back(TranscriptLine {
            kind,
            text: text.to_string(),
            call,
            rendered: None,
        });
        if self.lines.len() > MAX_TRANSCRIPT_LINES {
            self.lines.pop_front();
            self.dropped += 1;
        }
    }

    /// Adds an entry: message and thought chunks continue the line being
    /// streamed; a tool call's entry updates the line of that call (by its
    /// id) or starts one; other kinds are whole entries.
    pub fn append(&mut self, entry: &TranscriptEntry) {
        let (kind, text) = match entry {
            TranscriptEntry::MessageEnd => {
                // The next message is a line of its own.
                self.open = false;
                return;
            }
            TranscriptEntry::Tool {
                id,
                title,
                status,
                output,
                exit_code,
            } => {
                self.open = false;
                self.tool(id, title, *status, output.as_deref(), *exit_code);
                return;
            }
            TranscriptEntry::Message { text } => (LineKind::Message, text.clone()),
            TranscriptEntry::Thought { text } => (LineKind::Thought, text.clone()),
            TranscriptEntry::Plan { text } => (LineKind::Plan, text.clone()),
            TranscriptEntry::Permission { title, decision } => {
                (LineKind::Permission, format!("{title}: {decision}"))
            }
            TranscriptEntry::Refusal {
                title,
                decision,
                reason,
            } => (LineKind::Refusal, format!("{title}: {decision}: {reason}")),
        };
        let text = sanitize(&text);
        let streamed = matches!(kind, LineKind::Message | LineKind::Thought);
        let continues = streamed && self.open && self.lines.back().is_some_and(|l| l.kind == kind);
        self.open = streamed;
        if kind == LineKind::Message {
            // One line per message: its markdown is rendered whole.
            match self.lines.back_mut() {
                Some(last) if continues => {
                    last.text.push_str(&text);
                    last.rendered = None;
                }
                _ => self.push(kind, &text, None),
            }
            return;
        }
        let mut pieces = text.split('\n');
        if continues {
            if let (Some(first), Some(last)) = (pieces.next(), self.lines.back_mut()) {
                last.text.push_str(first);
            }
        } else if let Some(first) = pieces.next() {
            self.push(kind, first, None);
        }
        for piece in pieces {
            self.push(kind, piece, None);
        }
    }

    /// Renders the markdown of messages that changed since the last call,
    /// or of all of them when `width` did, as the chat does.
    pub fn layout(&mut self, width: usize) {
        let width = width.max(1);
        for line in &mut self.lines {
            if line.kind == LineKind::Message
                && line.rendered.as_ref().is_none_or(|(w, _)| *w != width)
            {
                line.rendered = Some((width, crate::markdown::render(&line.text, width)));
            }
        }
    }

    /// A call's entry onto its line: what the entry gives replaces what the
    /// line had; a call never seen gets a line of its own.
    fn tool(
        &mut self,
        id: &str,
        title: &str,
        status: Option<ToolStatus>,
        output: Option<&str>,
        exit_code: Option<i64>,
    ) {
        let title = first_line(&sanitize(title)).to_string();
        let output = output.map(|text| sanitize(text).lines().map(str::to_string).collect());
        let len = self.lines.len();
        let at = self
            .lines
            .iter()
            .rev()
            .take(TOOL_LOOKBACK)
            .position(|l| l.call.as_ref().is_some_and(|c| c.id == id))
            .map(|back| len - 1 - back);
        match at.and_then(|at| self.lines.get_mut(at)) {
            Some(line) => {
                line.text = title;
                if let Some(call) = &mut line.call {
                    call.status = status.or(call.status);
                    call.exit_code = exit_code.or(call.exit_code);
                    if let Some(output) = output {
                        call.output = output;
                    }
                }
            }
            None => self.push(
                LineKind::Tool,
                &title,
                Some(ToolLine {
                    id: id.to_string(),
                    status,
                    exit_code,
                    output: output.unwrap_or_default(),
                }),
            ),
        }
    }

    /// Mail the person sent from the transcript, shown where it was typed.
    pub fn from_you(&mut self, text: &str) {
        self.open = false;
        for line in sanitize(text).lines() {
            self.push(LineKind::FromYou, line, None);
        }
    }

    /// Ends any streamed line (a new attempt starts).
    pub fn separator(&mut self, text: &str) {
        self.open = false;
        self.push(LineKind::Separator, text, None);
    }

    /// Styled lines for display; a tool call's output shows its last
    /// [`OUTPUT_SHOWN`] lines unless `expanded`.
    pub fn styled(
        &self,
        expanded: bool,
    ) -> impl DoubleEndedIterator<Item = Line<'static>> + Clone + '_ {
        self.lines
            .iter()
            .flat_map(move |line| styled_line(line, expanded))
    }
}

/// The display lines of one transcript line.
fn styled_line(line: &TranscriptLine, expanded: bool) -> Vec<Line<'static>> {
    let (mark, style) = match line.kind {
        LineKind::Message => ("", Style::new()),
        LineKind::Thought => ("", theme::dim()),
        LineKind::Tool => match line.call.as_ref().and_then(|c| c.status) {
            Some(ToolStatus::Failed) => ("⚙ ", theme::bad()),
            _ => ("⚙ ", theme::info()),
        },
        LineKind::Plan => ("☰ ", theme::warn()),
        LineKind::Permission => ("⚿ ", theme::warn()),
        LineKind::Refusal => ("⚿ ", theme::bad()),
        LineKind::Separator => ("", theme::title()),
        LineKind::FromYou => ("✉ you: ", theme::info()),
    };
    if line.kind == LineKind::Message {
        return match &line.rendered {
            Some((_, rendered)) => rendered.clone(),
            // Not laid out yet: its text as it is.
            None => line
                .text
                .split('\n')
                .map(|l| Line::raw(l.to_string()))
                .collect(),
        };
    }
    let Some(call) = &line.call else {
        return vec![if mark.is_empty() {
            Line::styled(line.text.clone(), style)
        } else {
            Line::from(vec![
                Span::styled(mark, style),
                Span::styled(line.text.clone(), style),
            ])
        }];
    };
    let mut head = vec![
        Span::styled(mark, style),
        Span::styled(line.text.clone(), style),
    ];
    if let Some(status) = call.status {
        head.push(Span::styled(format!(" ({})", status.as_str()), style));
    }
    if let Some(code) = call.exit_code {
        let code_style = if code == 0 {
            theme::dim()
        } else {
            theme::bad()
        };
        head.push(Span::styled(format!(" · exit {code}"), code_style));
    }
    let mut lines = vec![Line::from(head)];
    let hidden = if expanded {
        0
    } else {
        call.output.len().saturating_sub(OUTPUT_SHOWN)
    };
    if hidden > 0 {
        lines.push(Line::styled(
            format!(
                "  │ … {hidden} more line{} (e shows all)",
                if hidden == 1 { "" } else { "s" }
            ),
            theme::dim(),
        ));
    }
    for output in call.output.iter().skip(hidden) {
        lines.push(Line::styled(format!("  │ {output}"), theme::dim()));
    }
    lines
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

    fn message(text: &str) -> TranscriptEntry {
        TranscriptEntry::Message { text: text.into() }
    }

    fn tool(id: &str, title: &str, status: Option<ToolStatus>) -> TranscriptEntry {
        TranscriptEntry::Tool {
            id: id.into(),
            title: title.into(),
            status,
            output: None,
            exit_code: None,
        }
    }

    fn texts(lines: impl Iterator<Item = Line<'static>>) -> Vec<String> {
        lines.map(|l| l.to_string()).collect()
    }

    #[test]
    fn a_message_end_starts_the_next_message_on_a_line_of_its_own() {
        let mut transcript = Transcript::default();
        for entry in [
            message("Still "),
            message("going on."),
            TranscriptEntry::MessageEnd,
            message("I was not allowed."),
        ] {
            transcript.append(&entry);
        }
        let lines: Vec<&str> = transcript.lines.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(lines, ["Still going on.", "I was not allowed."]);
    }

    #[test]
    fn a_message_is_shown_as_markdown_laid_out_for_the_width() {
        let mut transcript = Transcript::default();
        for chunk in [
            "## Plan\n\n- read `a.rs`\n",
            "- fix it\n\n```rust\nfn main() {}\n```",
        ] {
            transcript.append(&message(chunk));
        }
        assert_eq!(transcript.lines.len(), 1, "one line per message");
        transcript.layout(40);
        let shown = texts(transcript.styled(false));
        assert!(
            !shown.iter().any(|l| l.contains("##") || l.contains("```")),
            "{shown:?}"
        );
        assert!(shown.iter().any(|l| l.contains("Plan")), "{shown:?}");
        assert!(
            shown
                .iter()
                .any(|l| l.contains("• read a.rs") || l.contains("- read a.rs")),
            "{shown:?}"
        );
        assert!(
            shown.iter().any(|l| l.contains("fn main() {}")),
            "{shown:?}"
        );
        // A chunk more: that message is rendered again, at the next layout.
        transcript.append(&message(" Done."));
        transcript.layout(40);
        assert!(texts(transcript.styled(false)).concat().contains("Done."));
    }

    #[test]
    fn calls_with_the_same_title_are_told_apart_by_their_id() {
        let mut transcript = Transcript::default();
        transcript.append(&tool("c1", "Read a.rs", Some(ToolStatus::InProgress)));
        transcript.append(&tool("c2", "Read a.rs", Some(ToolStatus::InProgress)));
        transcript.append(&tool("c1", "Read a.rs", Some(ToolStatus::Failed)));
        assert_eq!(
            texts(transcript.styled(false)),
            ["⚙ Read a.rs (failed)", "⚙ Read a.rs (in_progress)"]
        );
        // A rename keeps the call's line, and a status it does not repeat.
        transcript.append(&tool("c2", "Read b.rs", None));
        assert_eq!(
            texts(transcript.styled(false))[1],
            "⚙ Read b.rs (in_progress)"
        );
    }

    #[test]
    fn a_commands_output_is_collapsed_to_its_last_lines_with_its_exit_status() {
        let mut transcript = Transcript::default();
        transcript.append(&tool("c1", "Run cargo test", Some(ToolStatus::InProgress)));
        transcript.append(&TranscriptEntry::Tool {
            id: "c1".into(),
            title: "Run cargo test".into(),
            status: Some(ToolStatus::Failed),
            output: Some("one\ntwo\nthree\nfour\nfive".into()),
            exit_code: Some(101),
        });
        assert_eq!(
            texts(transcript.styled(false)),
            [
                "⚙ Run cargo test (failed) · exit 101",
                "  │ … 2 more lines (e shows all)",
                "  │ three",
                "  │ four",
                "  │ five",
            ]
        );
        assert_eq!(texts(transcript.styled(true)).len(), 6);
    }
}
