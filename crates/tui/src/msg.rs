//! What goes into [`update`](crate::update::update) (messages: keys, progress,
//! store data) and what comes out of it (effects for the outside world).

use enki_acp::PermissionDecision;
pub use enki_coordinator::{Progress, ToolStatus, TranscriptEntry};
use ratatui::crossterm::event::{KeyEvent, MouseEvent};

use crate::data::Snapshot;
use crate::input::Target;

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
    /// SIGINT, SIGTERM or SIGHUP (its name): stop cleanly, without asking.
    StopSignal(&'static str),
    /// Something to tell the user at start-up.
    Notice(String),
    /// A task's review, read for the review view (`Fetch::Review`).
    ReviewLoaded {
        task: String,
        review: Result<Box<enki_coordinator::review::Review>, String>,
    },
    /// A warning from enki's log (the coordinator, the agents' connections,
    /// the signal watcher): shown in the status line and kept in the events.
    Warning(String),
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
    /// A follow-up turn for a done task (id, prefix, or a step id of
    /// `execution`) with `request`.
    FollowUp {
        task: String,
        execution: Option<String>,
        request: String,
    },
    Stop,
    /// Work awaiting review lands (a full task id).
    Approve(String),
    /// Work awaiting review does not land; the task fails with the note.
    Reject {
        task: String,
        note: Option<String>,
    },
    /// Mail from the person to a mailbox, maybe answering a message.
    Mail {
        to: String,
        reply_to: Option<String>,
        text: String,
    },
}

/// Text to show in an overlay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetch {
    Dag(Option<String>),
    Mail,
    Message(String),
    Task(String),
    /// A task's review for the review view (a full task id).
    Review(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreRequest {
    Refresh,
    Op(Op),
    Fetch(Fetch),
    /// Marks a message to the user read once they opened it.
    MarkRead(String),
}

/// What [`update`](crate::update::update) asks the outside world to do.
#[derive(Debug, Clone, PartialEq)]
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
    /// Ask the coordinator to raise a spent budget and resume its execution.
    RaiseBudget(BudgetAsk),
    /// Ask the coordinator to stop its workers and return.
    Shutdown,
    /// Leave now.
    Exit,
}

/// A spent budget the person is asked to raise (`Progress::BudgetSpent`).
#[derive(Debug, Clone, PartialEq)]
pub struct BudgetAsk {
    pub execution: String,
    pub title: String,
    /// Which budget and how much of it was used, in words.
    pub reason: String,
    pub scope: enki_core::budget::Scope,
    pub measure: enki_core::budget::Measure,
    /// The limit it would be raised to (for this session).
    pub raise_to: f64,
    /// `raise_to` for people (`4.00 USD`, `2.0M work tokens`).
    pub raise_to_text: String,
}
