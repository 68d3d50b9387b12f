//! The state of the TUI ([`App`]), the read-only queries the panes draw
//! from, and the few changes progress handling makes to it (chat entries,
//! workers).

mod expected;
pub(crate) use self::expected::same_execution;
mod model;
mod review;
mod selection;

use std::collections::{HashMap, VecDeque};

use enki_core::id::short;
use ratatui::layout::Rect;
use ratatui::text::Line;

use crate::wrap;

pub use self::model::{
    ChatEntry, EntryKind, LineKind, MAX_TRANSCRIPT_LINES, Transcript, TranscriptLine, Worker,
    WorkerState,
};
pub use self::review::ReviewPane;
pub use self::selection::{NextNeed, Selections};
use crate::data::{Snapshot, TaskView};
use crate::input::Input;
pub use crate::layout::Focus;
use crate::layout::{Areas, areas};
use crate::msg::{BudgetAsk, PermissionAsk};

/// Chat entries kept; older ones are dropped.
const MAX_CHAT_ENTRIES: usize = 5_000;

/// How long a finished worker stays in the workers pane.
pub const FINISHED_SHOWN_MS: u64 = 10 * 60 * 1000;

/// What the main (left) area shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum View {
    Chat,
    /// The live transcript of a worker (task id).
    Transcript(String),
    /// A task's work under review (task id): [`App::review`].
    Review(String),
}

/// A box drawn over everything else.
#[derive(Debug, Clone, PartialEq)]
pub enum Overlay {
    Help {
        scroll: usize,
    },
    /// Text fetched from the store (`/dag`, `/mail`, a task, a message).
    Text {
        title: String,
        lines: Vec<String>,
        scroll: usize,
    },
    ConfirmQuit,
    /// An operation that stops work (cancel, stop), waiting for yes or no,
    /// with what it will affect.
    Confirm {
        title: String,
        lines: Vec<String>,
        op: crate::msg::Op,
    },
    /// A budget is spent: raise it and go on, or leave the execution paused.
    RaiseBudget(BudgetAsk),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuitState {
    Running,
    /// Shutdown was asked of the coordinator; waiting for it to return.
    Stopping,
}

/// A finished merge, for the merge pane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeEvent {
    pub task: String,
    pub landed: bool,
    pub detail: String,
}

pub struct App {
    /// The terminal's size.
    pub size: (u16, u16),
    pub focus: Focus,
    pub view: View,
    pub overlay: Option<Overlay>,
    pub chat: VecDeque<ChatEntry>,
    /// Rows scrolled up from the bottom of the main view.
    pub scroll: usize,
    pub input: Input,
    pub files: Vec<String>,
    pub workers: Vec<Worker>,
    worker_index: HashMap<String, usize>,
    pub snapshot: Snapshot,
    pub tasks: HashMap<String, TaskView>,
    pub selected: Selections,
    pub recent_merges: VecDeque<MergeEvent>,
    pub permissions: VecDeque<PermissionAsk>,
    /// The permission prompt is open and takes its keys (F2 opened it).
    /// Requests never open it by themselves.
    pub prompt_open: bool,
    /// Operations the user just asked for, so the status they cause is
    /// not announced a second time.
    pub(crate) expected: Vec<expected::Expected>,
    /// Width the chat entries are laid out for.
    pub(crate) chat_width: usize,
    pub session: String,
    /// What this session's agent runs used, as last reported.
    pub session_usage: Option<enki_core::usage::Totals>,
    /// Agents whose tasks wait for a limit of their account, by name.
    pub held_agents: std::collections::BTreeMap<String, enki_core::limits::Hold>,
    pub agent: String,
    pub base_branch: String,
    pub planner_busy: bool,
    pub quit: QuitState,
    /// The coordinator returned: `Some(None)` cleanly, `Some(Some(e))` with an error.
    pub coordinator_done: Option<Option<String>>,
    pub now_ms: u64,
    /// A short message for the status line (an operation's result, ...).
    pub notice: Option<(String, bool)>,
    /// Whether the screen must be drawn again.
    pub dirty: bool,
    /// `[tui] glyphs`.
    pub glyphs: enki_config::Glyphs,
    /// Transcripts show tool calls' whole output (`e` toggles).
    pub expand_outputs: bool,
    /// `r` on a message in the mail pane: the next message sent answers it.
    pub replying: Option<crate::data::MailView>,
    /// The review the main view shows (`View::Review`).
    pub review: Option<ReviewPane>,
}

impl Default for App {
    fn default() -> Self {
        App::new()
    }
}

impl App {
    pub fn new() -> App {
        App {
            size: (80, 24),
            focus: Focus::Input,
            view: View::Chat,
            overlay: None,
            chat: VecDeque::new(),
            scroll: 0,
            input: Input::default(),
            files: Vec::new(),
            workers: Vec::new(),
            worker_index: HashMap::new(),
            snapshot: Snapshot::default(),
            tasks: HashMap::new(),
            selected: Selections::default(),
            recent_merges: VecDeque::new(),
            permissions: VecDeque::new(),
            prompt_open: false,
            expected: Vec::new(),
            chat_width: 80,
            session: String::new(),
            session_usage: None,
            held_agents: std::collections::BTreeMap::new(),
            agent: String::new(),
            base_branch: String::new(),
            planner_busy: false,
            quit: QuitState::Running,
            coordinator_done: None,
            now_ms: 0,
            notice: None,
            dirty: true,
            glyphs: enki_config::Glyphs::Unicode,
            expand_outputs: false,
            replying: None,
            review: None,
        }
    }

    pub fn running_workers(&self) -> usize {
        self.workers
            .iter()
            .filter(|w| w.state == WorkerState::Running)
            .count()
    }

    pub fn worker(&self, task: &str) -> Option<&Worker> {
        self.worker_index
            .get(task)
            .and_then(|i| self.workers.get(*i))
    }

    pub(crate) fn worker_mut(&mut self, task: &str) -> Option<&mut Worker> {
        let index = *self.worker_index.get(task)?;
        self.workers.get_mut(index)
    }

    pub(crate) fn add_worker(&mut self, worker: Worker) {
        self.worker_index
            .insert(worker.task.clone(), self.workers.len());
        self.workers.push(worker);
    }

    /// Workers in display order: running ones by start, then the ones
    /// that ended in the last [`FINISHED_SHOWN_MS`], latest first.
    pub fn worker_order(&self) -> Vec<&Worker> {
        let mut running: Vec<&Worker> = self
            .workers
            .iter()
            .filter(|w| w.state == WorkerState::Running)
            .collect();
        running.sort_by_key(|w| w.started_ms);
        let now = self.now_ms;
        let mut ended: Vec<&Worker> = self
            .workers
            .iter()
            .filter(|w| w.state != WorkerState::Running)
            .filter(|w| {
                let ended = w.ended_ms.unwrap_or(w.started_ms);
                now.saturating_sub(ended) < FINISHED_SHOWN_MS
            })
            .collect();
        ended.sort_by_key(|w| std::cmp::Reverse(w.ended_ms.unwrap_or(w.started_ms)));
        running.extend(ended);
        running
    }

    /// `(step, title)` of a task, from whatever knows it.
    pub fn label(&self, task: &str) -> (String, String) {
        if let Some(t) = self.tasks.get(task) {
            return (t.step.clone(), t.title.clone());
        }
        if let Some(w) = self.worker(task) {
            return (w.step.clone(), w.title.clone());
        }
        (short(task).to_string(), String::new())
    }

    /// `[step] title` of a task, or its short id when nothing knows it.
    pub fn task_name(&self, task: &str) -> String {
        let (step, title) = self.label(task);
        if title.is_empty() {
            format!("[{step}]")
        } else {
            format!("[{step}] {title}")
        }
    }

    /// A mail address as people read it: a worker by its task's step and
    /// title, the coordinator as the planner.
    pub fn address(&self, address: &str) -> String {
        match address {
            "coordinator" => "planner".to_string(),
            "@workers" => "all workers".to_string(),
            other => match other.strip_prefix("worker/") {
                Some(task) => self.task_name(&self.full_task_id(task)),
                None => other.to_string(),
            },
        }
    }

    /// The full id of a task given by id or unique prefix, when known.
    pub(crate) fn full_task_id(&self, task: &str) -> String {
        if self.tasks.contains_key(task) || self.worker(task).is_some() {
            return task.to_string();
        }
        let mut known = self
            .tasks
            .keys()
            .chain(self.workers.iter().map(|w| &w.task))
            .filter(|id| id.starts_with(task));
        match (known.next(), known.next()) {
            (Some(only), None) => only.clone(),
            _ => task.to_string(),
        }
    }

    /// Unread mail for the user (mail to the planner is its own business).
    pub fn unread_for_user(&self) -> usize {
        self.snapshot
            .unread
            .iter()
            .filter(|m| m.to == "user")
            .count()
    }

    /// Who asks for a permission, for the prompt: `[step] title`.
    pub fn asker(&self, ask: &PermissionAsk) -> String {
        match &ask.task {
            Some(task) => self.task_name(task),
            None => "planner".to_string(),
        }
    }

    /// Who asked, for a line in the chat: `[step]`.
    pub(crate) fn asker_short(&self, ask: &PermissionAsk) -> String {
        match &ask.task {
            Some(task) => format!("[{}]", self.label(task).0),
            None => "planner".to_string(),
        }
    }

    /// `text` (an operation's result) with full ids made short: a task
    /// becomes its `[step]`, an execution its title and short id, anything
    /// else its short id.
    pub fn readable_ids(&self, text: &str) -> String {
        let mut steps = Vec::new();
        let text = crate::text::replace_ids(text, |id| {
            if let Some(task) = self.tasks.get(id) {
                steps.push(task.step.clone());
                return format!("[{}]", task.step);
            }
            match self.snapshot.executions.iter().find(|x| x.id == id) {
                Some(execution) => format!("\"{}\" ({})", execution.title, short(id)),
                None => short(id).to_string(),
            }
        });
        // "step 'api' ([api])" says the step twice.
        steps.into_iter().fold(text, |text, step| {
            text.replace(
                &format!("step '{step}' ([{step}])"),
                &format!("step [{step}]"),
            )
        })
    }

    pub(crate) fn push_entry(&mut self, entry: ChatEntry) {
        if let Some(last) = self.chat.back_mut() {
            last.open = false;
        }
        self.chat.push_back(entry);
        if self.chat.len() > MAX_CHAT_ENTRIES {
            self.chat.pop_front();
        }
    }

    pub(crate) fn event(&mut self, mark: &str, text: &str, style: ratatui::style::Style) {
        self.push_entry(ChatEntry::event(mark, text, style));
    }

    /// The rows the main view shows in a pane of `width` x `height`
    /// cells, and how far it is scrolled up (never past the top). Only
    /// the rows that can be seen are wrapped.
    pub fn main_rows(&self, width: usize, height: usize) -> (Vec<Line<'static>>, usize) {
        match &self.view {
            View::Chat => {
                let lines = self.chat.iter().flat_map(|e| e.lines.iter()).cloned();
                wrap::visible(lines, width, height, self.scroll)
            }
            View::Transcript(task) => match self.worker(task) {
                Some(worker) => wrap::visible(
                    worker.transcript.styled(self.expand_outputs),
                    width,
                    height,
                    self.scroll,
                ),
                None => (Vec::new(), 0),
            },
            // Read from the top: the second value is the review's top row.
            View::Review(_) => match &self.review {
                Some(review) => review.rows(width, height),
                None => (Vec::new(), 0),
            },
        }
    }

    /// Lays the main view out for a pane `width` columns wide: the chat,
    /// and the transcript in view.
    pub fn layout_main(&mut self, width: usize) {
        self.layout_chat(width);
        if let View::Transcript(task) = &self.view
            && let Some(&at) = self.worker_index.get(task)
            && let Some(worker) = self.workers.get_mut(at)
        {
            worker.transcript.layout(width);
        }
    }

    /// Lays the chat out for a pane `width` columns wide.
    pub fn layout_chat(&mut self, width: usize) {
        self.chat_width = width.max(1);
        for entry in &mut self.chat {
            entry.layout(self.chat_width);
        }
    }

    pub(crate) fn planner_text(&mut self, text: &str) {
        match self.chat.back_mut() {
            Some(entry) if entry.kind == EntryKind::Planner && entry.open => {
                entry.text.push_str(text);
                entry.dirty = true;
            }
            _ => {
                let header = !self
                    .chat
                    .back()
                    .is_some_and(|e| matches!(e.kind, EntryKind::Planner | EntryKind::Tool));
                let mut entry = ChatEntry::planner(header);
                entry.text.push_str(text);
                self.push_entry(entry);
            }
        }
    }

    /// The conversation of earlier sessions, kept by the store, before this
    /// session's: a marker where each session begins and where this one does.
    pub fn restore_chat(&mut self, rows: &[enki_store::ChatRow]) {
        let mut session: Option<&str> = None;
        for row in rows {
            if session != Some(row.session_id.as_str()) {
                session = Some(row.session_id.as_str());
                let day = row.at.get(..16).unwrap_or(&row.at).replace('T', " ");
                self.event(
                    "─",
                    &format!(
                        "earlier session {} · {day} UTC",
                        enki_core::id::short(&row.session_id)
                    ),
                    crate::theme::dim(),
                );
            }
            match row.speaker {
                enki_store::Speaker::User => self.push_entry(ChatEntry::user(&row.text)),
                enki_store::Speaker::Planner => {
                    self.planner_text(&row.text);
                    if let Some(last) = self.chat.back_mut() {
                        last.open = false;
                    }
                }
            }
        }
        if session.is_some() {
            self.event("─", "this session starts here", crate::theme::title());
        }
    }

    /// Where every pane goes on the whole screen.
    pub fn areas(&self) -> Areas {
        let (w, h) = self.size;
        self.areas_in(Rect::new(0, 0, w, h))
    }

    /// Where every pane goes in `area`.
    pub fn areas_in(&self, area: Rect) -> Areas {
        areas(area, self.focus, !self.permissions.is_empty(), &self.input)
    }
}
