//! The TUI's state and its one entry point, [`update`]: every key, mouse
//! event, coordinator progress report and store snapshot goes through it,
//! and what must happen outside (prompt the planner, run an operation,
//! answer a permission request, notify) comes back as [`Effect`]s. No IO
//! here, so the whole behaviour is testable without a terminal.

use std::collections::{HashMap, VecDeque};

use enki_acp::PermissionDecision;
pub use enki_coordinator::Progress;
use enki_core::id::short;
use ratatui::crossterm::event::{KeyEvent, MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::{Position, Rect};

use crate::data::{ExecView, Snapshot, TaskView};
use crate::input::{Command, Input, Target, parse_command, unescape_message};
use crate::keys::{Action, map_key};
pub use crate::model::{
    ChatEntry, EntryKind, MAX_TRANSCRIPT_LINES, Transcript, TranscriptLine, Worker, WorkerState,
};
use crate::progress::on_progress;
use crate::text::sanitize;
use crate::theme;
use crate::ui::layout::{Areas, Pane, areas};

/// Chat entries kept; older ones are dropped.
const MAX_CHAT_ENTRIES: usize = 5_000;
/// Rows the mouse wheel scrolls.
const WHEEL_ROWS: usize = 3;
/// How long a finished worker stays in the workers pane.
pub const FINISHED_SHOWN_MS: u64 = 10 * 60 * 1000;

/// Where keys go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Focus {
    Input,
    Main,
    Workers,
    Tasks,
    Merges,
    Mail,
}

impl Focus {
    const ORDER: [Focus; 6] = [
        Focus::Input,
        Focus::Main,
        Focus::Workers,
        Focus::Tasks,
        Focus::Merges,
        Focus::Mail,
    ];

    fn index(self) -> usize {
        Focus::ORDER.iter().position(|f| *f == self).unwrap_or(0)
    }

    pub fn next(self) -> Focus {
        Focus::ORDER[(self.index() + 1) % Focus::ORDER.len()]
    }

    pub fn prev(self) -> Focus {
        Focus::ORDER[(self.index() + Focus::ORDER.len() - 1) % Focus::ORDER.len()]
    }
}

/// What the main (left) area shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum View {
    Chat,
    /// The live transcript of a worker (task id).
    Transcript(String),
}

/// A box drawn over everything else.
#[derive(Debug, Clone, PartialEq, Eq)]
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
}

/// A status change the user asked for with an operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Expected {
    /// An execution id or prefix.
    execution: String,
    /// The step, when the operation was on one.
    step: Option<String>,
    status: String,
}

/// Whether `id` is the execution `given` (an id or a prefix, with or
/// without `exec-`) names.
fn same_execution(id: &str, given: &str) -> bool {
    id.starts_with(given) || id.get(5..).is_some_and(|u| u.starts_with(given))
}

/// A permission request waiting for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PermissionAsk {
    pub id: u64,
    /// The worker's task, when the request came from a worker's copy.
    pub task: Option<String>,
    pub title: String,
    pub kind: Option<String>,
    pub locations: Vec<String>,
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

/// Everything the UI reacts to.
#[derive(Debug)]
pub enum Msg {
    Key(KeyEvent),
    Mouse(MouseEvent),
    Paste(String),
    Resize(u16, u16),
    Progress(Progress),
    Snapshot(Snapshot),
    Files(Vec<String>),
    Permission(PermissionAsk),
    /// The request was withdrawn (the worker stopped) or answered elsewhere.
    PermissionGone(u64),
    /// Text for an overlay, or an error.
    Fetched {
        title: String,
        text: Result<String, String>,
    },
    /// An operation's outcome message.
    OpDone(Result<String, String>),
    /// The clock (milliseconds since the TUI started).
    Tick(u64),
    /// The coordinator returned (its error, if any).
    CoordinatorDone(Result<(), String>),
    /// Something to tell the user at start-up.
    Notice(String),
}

/// An operation on executions and tasks, as `enki pause` etc. do it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Pause(Target),
    Resume(Target),
    Cancel(Target),
    /// A task id (or prefix), or a step id of `execution`.
    Retry {
        task: String,
        execution: Option<String>,
    },
    Stop,
}

/// Text to show in an overlay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetch {
    Dag(Option<String>),
    Mail,
    Message(String),
    Task(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreRequest {
    Refresh,
    Op(Op),
    Fetch(Fetch),
    /// Marks a message to the user read once they opened it.
    MarkRead(String),
}

/// What [`update`] asks the outside world to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    Planner(String),
    Store(StoreRequest),
    Answer(u64, PermissionDecision),
    Notify {
        title: String,
        body: String,
        /// Needs an answer (a permission request): never held back.
        urgent: bool,
    },
    /// The project's files may have changed (for `@` completion).
    RefreshFiles,
    /// Ask the coordinator to stop its workers and return.
    Shutdown,
    /// Leave now.
    Exit,
}

/// Where each list pane's selection is, by row key.
#[derive(Debug, Clone, Default)]
pub struct Selections {
    pub worker: Option<String>,
    pub task: Option<String>,
    pub merge: Option<String>,
    pub mail: Option<String>,
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
    pub(crate) expected: Vec<Expected>,
    /// Width the chat entries are laid out for.
    pub(crate) chat_width: usize,
    pub session: String,
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
            agent: String::new(),
            base_branch: String::new(),
            planner_busy: false,
            quit: QuitState::Running,
            coordinator_done: None,
            now_ms: 0,
            notice: None,
            dirty: true,
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
    fn full_task_id(&self, task: &str) -> String {
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
    fn asker_short(&self, ask: &PermissionAsk) -> String {
        match &ask.task {
            Some(task) => format!("[{}]", self.label(task).0),
            None => "planner".to_string(),
        }
    }

    /// Row keys of the tasks pane: `x:<execution>` and `t:<task>`.
    pub fn task_rows(&self) -> Vec<String> {
        let mut rows = Vec::new();
        for execution in &self.snapshot.executions {
            rows.push(format!("x:{}", execution.id));
            rows.extend(execution.tasks.iter().map(|t| format!("t:{}", t.id)));
        }
        rows
    }

    fn merge_rows(&self) -> Vec<String> {
        let mut rows: Vec<String> = self
            .snapshot
            .merges
            .iter()
            .map(|m| format!("q:{}", m.task))
            .collect();
        rows.extend(self.recent_merges.iter().map(|m| format!("r:{}", m.task)));
        rows
    }

    fn rows_of(&self, pane: Focus) -> Vec<String> {
        match pane {
            Focus::Workers => self.worker_order().iter().map(|w| w.task.clone()).collect(),
            Focus::Tasks => self.task_rows(),
            Focus::Merges => self.merge_rows(),
            Focus::Mail => self.snapshot.unread.iter().map(|m| m.id.clone()).collect(),
            Focus::Input | Focus::Main => Vec::new(),
        }
    }

    fn selection_mut(&mut self, pane: Focus) -> Option<&mut Option<String>> {
        match pane {
            Focus::Workers => Some(&mut self.selected.worker),
            Focus::Tasks => Some(&mut self.selected.task),
            Focus::Merges => Some(&mut self.selected.merge),
            Focus::Mail => Some(&mut self.selected.mail),
            Focus::Input | Focus::Main => None,
        }
    }

    /// The selected row's index in `pane` (the first row when the
    /// selection is gone).
    pub fn selected_index(&self, pane: Focus) -> Option<usize> {
        let rows = self.rows_of(pane);
        if rows.is_empty() {
            return None;
        }
        let key = match pane {
            Focus::Workers => &self.selected.worker,
            Focus::Tasks => &self.selected.task,
            Focus::Merges => &self.selected.merge,
            Focus::Mail => &self.selected.mail,
            Focus::Input | Focus::Main => return None,
        };
        Some(
            key.as_ref()
                .and_then(|k| rows.iter().position(|r| r == k))
                .unwrap_or(0),
        )
    }

    fn move_selection(&mut self, pane: Focus, delta: isize) {
        let rows = self.rows_of(pane);
        if rows.is_empty() {
            return;
        }
        let current = self.selected_index(pane).unwrap_or(0) as isize;
        let last = rows.len() as isize - 1;
        let next = (current + delta).clamp(0, last) as usize;
        let key = rows.get(next).cloned();
        if let Some(selection) = self.selection_mut(pane) {
            *selection = key;
        }
    }

    fn select_edge(&mut self, pane: Focus, last: bool) {
        let rows = self.rows_of(pane);
        let key = if last { rows.last() } else { rows.first() }.cloned();
        if let Some(selection) = self.selection_mut(pane) {
            *selection = key;
        }
    }

    /// The row the user selected in the tasks pane, if it still exists.
    pub fn chosen_task_row(&self) -> Option<String> {
        self.selected
            .task
            .clone()
            .filter(|key| self.task_rows().contains(key))
    }

    /// The execution a command without an id means: the selected one in
    /// the tasks pane, else the only unfinished one, else the newest.
    pub fn default_execution(&self) -> Option<String> {
        if let Some(key) = self.chosen_task_row() {
            if let Some(id) = key.strip_prefix("x:") {
                return Some(id.to_string());
            }
            if let Some(task) = key.strip_prefix("t:").and_then(|t| self.tasks.get(t)) {
                return Some(task.execution.clone());
            }
        }
        let unfinished: Vec<&ExecView> = self
            .snapshot
            .executions
            .iter()
            .filter(|e| !matches!(e.status.as_str(), "done" | "failed" | "cancelled"))
            .collect();
        if unfinished.len() == 1 {
            return unfinished.first().map(|e| e.id.clone());
        }
        self.snapshot.executions.last().map(|e| e.id.clone())
    }

    /// The task `/retry` without an id means: the selected task, else the
    /// only failed or blocked one.
    fn default_retry_task(&self) -> Option<String> {
        if let Some(task) = self
            .chosen_task_row()
            .as_deref()
            .and_then(|k| k.strip_prefix("t:"))
        {
            return Some(task.to_string());
        }
        let stuck: Vec<&TaskView> = self
            .tasks
            .values()
            .filter(|t| matches!(t.status.as_str(), "failed" | "blocked"))
            .collect();
        match stuck.as_slice() {
            [only] => Some(only.id.clone()),
            _ => None,
        }
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

    /// Lays out chat entries that changed since the last frame (or all
    /// of them when the width changed).
    pub fn prepare(&mut self) {
        let width = self.chat_width;
        for entry in &mut self.chat {
            entry.layout(width);
        }
    }

    /// Lays the chat out for a pane `width` columns wide.
    pub fn layout_chat(&mut self, width: usize) {
        self.chat_width = width.max(1);
        self.prepare();
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

    fn areas(&self) -> Areas {
        let (w, h) = self.size;
        areas(Rect::new(0, 0, w, h), self)
    }
}

/// Applies one message; returns what must happen outside.
pub fn update(app: &mut App, msg: Msg) -> Vec<Effect> {
    let mut effects = Vec::new();
    app.dirty = true;
    match msg {
        Msg::Key(key) => {
            if let Some(action) = map_key(app, key) {
                apply(app, action, &mut effects);
            } else {
                app.dirty = false;
            }
        }
        Msg::Mouse(mouse) => on_mouse(app, mouse),
        Msg::Paste(text) => {
            app.focus = Focus::Input;
            app.input.insert_str(&text);
            app.input.update_completion(&app.files);
        }
        Msg::Resize(w, h) => app.size = (w, h),
        Msg::Progress(progress) => on_progress(app, progress, &mut effects),
        Msg::Snapshot(snapshot) => {
            app.tasks = snapshot.task_index();
            app.snapshot = snapshot;
        }
        Msg::Files(files) => {
            app.files = files;
            app.dirty = app.input.completion.is_some();
            app.input.update_completion(&app.files);
        }
        Msg::Permission(ask) => {
            effects.push(Effect::Notify {
                title: "enki needs your permission".into(),
                body: format!("{}: {}", app.asker(&ask), ask.title),
                urgent: true,
            });
            app.permissions.push_back(ask);
        }
        Msg::PermissionGone(id) => {
            if let Some(at) = app.permissions.iter().position(|p| p.id == id)
                && let Some(ask) = app.permissions.remove(at)
            {
                let text = format!(
                    "{} permission request withdrawn (the agent stopped waiting): {}",
                    app.asker_short(&ask),
                    ask.title
                );
                app.event("⚿", &text, theme::dim());
            }
            if app.permissions.is_empty() {
                app.prompt_open = false;
            }
        }
        Msg::Fetched { title, text } => match text {
            Ok(text) => {
                app.overlay = Some(Overlay::Text {
                    title,
                    lines: sanitize(&text).lines().map(str::to_string).collect(),
                    scroll: 0,
                });
            }
            Err(e) => app.notice = Some((e, true)),
        },
        Msg::OpDone(result) => match result {
            Ok(text) => {
                let text = app.readable_ids(&text);
                app.event("✓", &text, theme::good());
                app.notice = None;
            }
            Err(e) => {
                // The status it would have led to will not come.
                app.expected.clear();
                let e = app.readable_ids(&e);
                app.event("✘", &e, theme::bad());
                app.notice = Some((e, true));
            }
        },
        Msg::Tick(now) => {
            app.now_ms = now;
            app.dirty = app.running_workers() > 0 || app.quit == QuitState::Stopping;
        }
        Msg::CoordinatorDone(result) => {
            let error = result.err();
            if let Some(e) = &error {
                app.event("✘", &format!("the coordinator stopped: {e}"), theme::bad());
            }
            app.coordinator_done = Some(error);
            app.planner_busy = false;
            for worker in &mut app.workers {
                if worker.state == WorkerState::Running {
                    worker.state = WorkerState::Ended("stopped".into());
                    worker.ended_ms = Some(app.now_ms);
                }
            }
            if app.quit == QuitState::Stopping {
                effects.push(Effect::Exit);
            }
        }
        Msg::Notice(text) => app.event("·", &text, theme::dim()),
    }
    effects
}

/// Ctrl-C and `/quit`: ask while workers run, then stop cleanly; a second
/// interrupt while stopping leaves at once.
fn interrupt(app: &mut App, effects: &mut Vec<Effect>) {
    if app.coordinator_done.is_some() {
        effects.push(Effect::Exit);
        return;
    }
    match app.quit {
        QuitState::Stopping => effects.push(Effect::Exit),
        QuitState::Running if app.overlay == Some(Overlay::ConfirmQuit) => shutdown(app, effects),
        QuitState::Running if app.running_workers() > 0 => app.overlay = Some(Overlay::ConfirmQuit),
        QuitState::Running => shutdown(app, effects),
    }
}

fn shutdown(app: &mut App, effects: &mut Vec<Effect>) {
    app.overlay = None;
    app.quit = QuitState::Stopping;
    app.notice = Some(("stopping the workers…".into(), false));
    effects.push(Effect::Shutdown);
}

fn page(app: &App) -> usize {
    let areas = app.areas();
    let height = match app.focus {
        Focus::Input | Focus::Main => areas.main.height,
        Focus::Workers => areas.workers.height,
        Focus::Tasks => areas.tasks.height,
        Focus::Merges => areas.merges.height,
        Focus::Mail => areas.mail.height,
    };
    usize::from(height.saturating_sub(3)).max(1)
}

fn scroll_overlay(app: &mut App, delta: isize) {
    let (scroll, rows) = match &mut app.overlay {
        Some(Overlay::Help { scroll }) => (scroll, crate::ui::help::lines().len()),
        Some(Overlay::Text { scroll, lines, .. }) => (scroll, lines.len()),
        _ => return,
    };
    // Bounded by the text; drawing trims it further to the last screenful.
    *scroll = scroll.saturating_add_signed(delta).min(rows);
}

fn scroll_pane(app: &mut App, pane: Focus, delta: isize) {
    match pane {
        Focus::Input | Focus::Main => app.scroll = app.scroll.saturating_add_signed(delta),
        list => app.move_selection(list, -delta),
    }
}

/// Applies a key's action.
pub fn apply(app: &mut App, action: Action, effects: &mut Vec<Effect>) {
    let files_before = app.input.text().len();
    match action {
        Action::Interrupt => interrupt(app, effects),
        Action::ConfirmYes => shutdown(app, effects),
        Action::ConfirmNo | Action::CloseOverlay => app.overlay = None,
        Action::Answer(decision) => {
            if let Some(ask) = app.permissions.pop_front() {
                let said = match decision {
                    PermissionDecision::AllowOnce => "allowed once",
                    PermissionDecision::AllowAlways => "allowed always",
                    _ => "denied",
                };
                let style = match decision {
                    PermissionDecision::AllowOnce | PermissionDecision::AllowAlways => {
                        theme::warn()
                    }
                    _ => theme::dim(),
                };
                let text = format!("{} {said}: {}", app.asker_short(&ask), ask.title);
                app.event("⚿", &text, style);
                effects.push(Effect::Answer(ask.id, decision));
            }
            // The next request, if any, is answered in the same prompt.
            app.prompt_open = !app.permissions.is_empty();
        }
        Action::OpenPrompt => app.prompt_open = !app.permissions.is_empty(),
        Action::DeferPrompt => app.prompt_open = false,
        Action::Help => app.overlay = Some(Overlay::Help { scroll: 0 }),
        Action::OverlayScroll(delta) => scroll_overlay(app, delta),
        Action::Insert(c) => {
            app.focus = Focus::Input;
            app.input.insert_char(c);
        }
        Action::NewLine => app.input.insert_char('\n'),
        Action::Backspace => app.input.backspace(),
        Action::Delete => app.input.delete(),
        Action::Left => app.input.left(),
        Action::Right => app.input.right(),
        Action::WordLeft => app.input.word_left(),
        Action::WordRight => app.input.word_right(),
        Action::Home => app.input.home(),
        Action::End => app.input.end(),
        Action::KillToStart => app.input.kill_to_start(),
        Action::KillToEnd => app.input.kill_to_end(),
        Action::DeleteWord => app.input.delete_word(),
        Action::HistoryUp => app.input.up(),
        Action::HistoryDown => app.input.down(),
        Action::CompletionNext => app.input.completion_next(),
        Action::CompletionPrev => app.input.completion_prev(),
        Action::CompletionAccept => app.input.accept_completion(),
        Action::CompletionDismiss => app.input.dismiss_completion(),
        Action::Submit => submit(app, effects),
        Action::FocusNext => app.focus = app.focus.next(),
        Action::FocusPrev => app.focus = app.focus.prev(),
        Action::FocusInput => app.focus = Focus::Input,
        Action::Up => scroll_pane(app, app.focus, 1),
        Action::Down => scroll_pane(app, app.focus, -1),
        Action::PageUp => {
            let rows = page(app) as isize;
            scroll_pane(app, app.focus, rows);
        }
        Action::PageDown => {
            let rows = page(app) as isize;
            scroll_pane(app, app.focus, -rows);
        }
        Action::Top => match app.focus {
            Focus::Input | Focus::Main => app.scroll = usize::MAX / 2,
            pane => app.select_edge(pane, false),
        },
        Action::Bottom => match app.focus {
            Focus::Input | Focus::Main => app.scroll = 0,
            pane => app.select_edge(pane, true),
        },
        Action::Open => open(app, effects),
        Action::Back => {
            if app.view != View::Chat {
                app.view = View::Chat;
                app.scroll = 0;
            } else {
                app.focus = Focus::Input;
            }
        }
        Action::Redraw => {}
    }
    // Completion follows every edit of the text (and cursor moves).
    if action.edits_input() || app.input.text().len() != files_before {
        app.input.update_completion(&app.files);
    }
}

/// Enter on a pane: a worker's transcript, a task's details, an
/// execution's graph, a message.
fn open(app: &mut App, effects: &mut Vec<Effect>) {
    let pane = app.focus;
    let Some(index) = app.selected_index(pane) else {
        return;
    };
    let Some(key) = app.rows_of(pane).get(index).cloned() else {
        return;
    };
    match pane {
        Focus::Workers => {
            app.selected.worker = Some(key.clone());
            app.view = View::Transcript(key);
            app.scroll = 0;
            app.focus = Focus::Main;
        }
        Focus::Tasks => {
            if let Some(execution) = key.strip_prefix("x:") {
                effects.push(Effect::Store(StoreRequest::Fetch(Fetch::Dag(Some(
                    execution.to_string(),
                )))));
            } else if let Some(task) = key.strip_prefix("t:") {
                effects.push(Effect::Store(StoreRequest::Fetch(Fetch::Task(
                    task.to_string(),
                ))));
            }
        }
        Focus::Merges => {
            if let Some(task) = key.get(2..) {
                effects.push(Effect::Store(StoreRequest::Fetch(Fetch::Task(
                    task.to_string(),
                ))));
            }
        }
        Focus::Mail => {
            effects.push(Effect::Store(StoreRequest::Fetch(Fetch::Message(
                key.clone(),
            ))));
            if app
                .snapshot
                .unread
                .iter()
                .any(|m| m.id == key && m.to == "user")
            {
                effects.push(Effect::Store(StoreRequest::MarkRead(key)));
            }
        }
        Focus::Input | Focus::Main => {}
    }
}

fn submit(app: &mut App, effects: &mut Vec<Effect>) {
    let Some(text) = app.input.submit() else {
        return;
    };
    app.scroll = 0;
    match parse_command(&text) {
        None => {
            let message = unescape_message(&text);
            if app.coordinator_done.is_some() {
                app.notice = Some(("the coordinator has stopped".into(), true));
                return;
            }
            app.push_entry(ChatEntry::user(&message));
            app.planner_busy = true;
            app.view = View::Chat;
            effects.push(Effect::Planner(message));
        }
        Some(Err(e)) => app.notice = Some((e, true)),
        Some(Ok(command)) => run_command(app, command, effects),
    }
}

/// What `/pause`, `/resume` and `/cancel` act on: with no id, the task
/// selected in the tasks pane (its execution and step) or else the default
/// execution; a lone word that names no execution but a step (or a task)
/// means that step of the selected or default execution.
fn resolve_target(app: &App, mut target: Target) -> Target {
    match (&target.execution, &target.step) {
        (None, _) => {
            if let Some(task) = app
                .chosen_task_row()
                .as_deref()
                .and_then(|k| k.strip_prefix("t:"))
                .and_then(|t| app.tasks.get(t))
            {
                return Target {
                    execution: Some(task.execution.clone()),
                    step: Some(task.step.clone()),
                };
            }
            target.execution = app.default_execution();
        }
        (Some(word), None) if !app.names_execution(word) => {
            if let Some(task) = app.tasks.get(&app.full_task_id(word)) {
                return Target {
                    execution: Some(task.execution.clone()),
                    step: Some(task.step.clone()),
                };
            }
            let execution = app.default_execution();
            let has_step = app
                .snapshot
                .executions
                .iter()
                .filter(|x| Some(&x.id) == execution.as_ref())
                .any(|x| x.tasks.iter().any(|t| &t.step == word));
            if has_step {
                return Target {
                    execution,
                    step: Some(word.clone()),
                };
            }
        }
        _ => {}
    }
    target
}

impl App {
    /// Whether `word` is (a prefix of) an execution id.
    fn names_execution(&self, word: &str) -> bool {
        word.starts_with("exec-")
            || self
                .snapshot
                .executions
                .iter()
                .any(|x| same_execution(&x.id, word))
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

    /// Remembers the execution status an operation will cause.
    fn expect(&mut self, op: &Op) {
        let (target, status) = match op {
            Op::Pause(target) => (target, "paused"),
            Op::Resume(target) => (target, "running"),
            Op::Cancel(target) => (target, "cancelled"),
            _ => return,
        };
        // A step that is resumed becomes pending (or ready), not running.
        if target.step.is_some() && status == "running" {
            return;
        }
        if let Some(execution) = &target.execution {
            self.expected.push(Expected {
                execution: execution.clone(),
                step: target.step.clone(),
                status: status.to_string(),
            });
            let excess = self.expected.len().saturating_sub(8);
            self.expected.drain(..excess);
        }
    }

    /// Whether a status of an execution (`step` `None`) or of one of its
    /// steps is the echo of the user's own operation, already reported by
    /// its result; forgets the expectation if so.
    pub(crate) fn expected_status(
        &mut self,
        execution: &str,
        step: Option<&str>,
        status: &str,
    ) -> bool {
        let found = self.expected.iter().position(|e| {
            e.status == status
                && e.step.as_deref() == step
                && same_execution(execution, &e.execution)
        });
        found.map(|i| self.expected.remove(i)).is_some()
    }
}

fn run_command(app: &mut App, command: Command, effects: &mut Vec<Effect>) {
    let with_execution = |app: &mut App, target: Target, name: &str| -> Option<Target> {
        let target = resolve_target(app, target);
        if target.execution.is_none() {
            app.notice = Some((format!("no execution to {name}; give its id"), true));
            return None;
        }
        Some(target)
    };
    let op = match command {
        Command::Pause(target) => with_execution(app, target, "pause").map(Op::Pause),
        Command::Resume(target) => with_execution(app, target, "resume").map(Op::Resume),
        Command::Cancel(target) => with_execution(app, target, "cancel").map(Op::Cancel),
        Command::Retry(task) => match task.or_else(|| app.default_retry_task()) {
            Some(task) => Some(Op::Retry {
                task,
                execution: app.default_execution(),
            }),
            None => {
                app.notice = Some((
                    "no failed task selected; give a task id or step".into(),
                    true,
                ));
                None
            }
        },
        Command::Stop => Some(Op::Stop),
        Command::Dag(execution) => {
            effects.push(Effect::Store(StoreRequest::Fetch(Fetch::Dag(execution))));
            None
        }
        Command::Mail => {
            effects.push(Effect::Store(StoreRequest::Fetch(Fetch::Mail)));
            None
        }
        Command::Help => {
            app.overlay = Some(Overlay::Help { scroll: 0 });
            None
        }
        Command::Quit => {
            interrupt(app, effects);
            None
        }
    };
    if let Some(op) = op {
        app.expect(&op);
        effects.push(Effect::Store(StoreRequest::Op(op)));
    }
}

fn on_mouse(app: &mut App, mouse: MouseEvent) {
    let at = Position::new(mouse.column, mouse.row);
    let areas = app.areas();
    // The open prompt waits for its keys; the mouse does nothing under it.
    if app.prompt_open && !app.permissions.is_empty() {
        app.dirty = false;
        return;
    }
    // A click on the permission bar opens the prompt.
    if mouse.kind == MouseEventKind::Down(MouseButton::Left)
        && app.overlay.is_none()
        && areas.permission.contains(at)
    {
        app.prompt_open = !app.permissions.is_empty();
        return;
    }
    let Some(pane) = areas.pane_at(at) else {
        app.dirty = false;
        return;
    };
    let focus = match pane {
        Pane::Main => Focus::Main,
        Pane::Workers => Focus::Workers,
        Pane::Tasks => Focus::Tasks,
        Pane::Merges => Focus::Merges,
        Pane::Mail => Focus::Mail,
        Pane::Input => Focus::Input,
    };
    match mouse.kind {
        MouseEventKind::ScrollUp if app.overlay.is_some() => scroll_overlay(app, -3),
        MouseEventKind::ScrollDown if app.overlay.is_some() => scroll_overlay(app, 3),
        MouseEventKind::ScrollUp => match focus {
            Focus::Main | Focus::Input => app.scroll = app.scroll.saturating_add(WHEEL_ROWS),
            list => app.move_selection(list, -1),
        },
        MouseEventKind::ScrollDown => match focus {
            Focus::Main | Focus::Input => app.scroll = app.scroll.saturating_sub(WHEEL_ROWS),
            list => app.move_selection(list, 1),
        },
        MouseEventKind::Down(MouseButton::Left) if app.overlay.is_none() => {
            app.focus = focus;
            click_row(app, focus, &areas, at);
        }
        _ => app.dirty = false,
    }
}

/// A click on a list pane selects the row under it.
fn click_row(app: &mut App, pane: Focus, areas: &Areas, at: Position) {
    let rect = match pane {
        Focus::Workers => areas.workers,
        Focus::Tasks => areas.tasks,
        Focus::Merges => areas.merges,
        Focus::Mail => areas.mail,
        Focus::Input | Focus::Main => return,
    };
    let selected = app.selected_index(pane).unwrap_or(0);
    let Some(index) = crate::ui::layout::item_at(rect, pane, selected, at.y) else {
        return;
    };
    if let Some(key) = app.rows_of(pane).get(index).cloned()
        && let Some(selection) = app.selection_mut(pane)
    {
        *selection = Some(key);
    }
}
