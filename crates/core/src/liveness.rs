//! What an agent is doing, judged from what it sends (issue 14): the
//! agent states, the state a task shows, and the stall rules.
//!
//! A worker's [`Liveness`] is fed [`Sign`]s (typed from its ACP traffic and
//! its mail) and judged on the coordinator's awake clock. Only progress
//! (message text, a tool call starting or finishing, a changed plan) resets
//! the stall clock; usage updates, keep-alives and retry notices do not. The
//! clock pauses while the agent waits for a permission answer or for an
//! answer to a question it mailed, so a worker waiting for a person is never
//! stopped as stalled. An agent that keeps reporting retries of its model
//! API past a bound is given up on, with its own words as the reason.

use crate::TaskStatus;
use crate::status::string_enum;

string_enum!(
    /// What an agent is doing, as `enki status`, the TUI and the planner
    /// show it.
    AgentState, "agent state", {
        Working => "working",
        WaitingPermission => "waiting_permission",
        WaitingUser => "waiting_user",
        Retrying => "retrying",
        Stalled => "stalled",
        Idle => "idle",
        Done => "done",
        Failed => "failed",
    }
);

impl AgentState {
    /// A person has to act before the agent can go on.
    pub const fn waits_for_a_person(self) -> bool {
        matches!(
            self,
            AgentState::WaitingPermission | AgentState::WaitingUser
        )
    }
}

/// The state a task shows, with its reason: its running worker's live state
/// as the coordinator last judged it (`live`), else what its status says.
/// The store applies it to every task row it reads, the engine to what it
/// reports, so both always agree.
pub fn shown_state(
    status: TaskStatus,
    live: Option<(AgentState, Option<&str>)>,
    last_error: Option<&str>,
) -> (AgentState, Option<String>) {
    let idle = |why: &str| (AgentState::Idle, Some(why.to_string()));
    match status {
        TaskStatus::Running => match live {
            Some((state, reason)) => (state, reason.map(str::to_string)),
            None => idle("starting"),
        },
        TaskStatus::WorkerDone => (AgentState::Done, Some("its work waits to land".into())),
        // A person decides: `enki review`, then approve, reject or follow up.
        TaskStatus::AwaitingReview => (
            AgentState::WaitingUser,
            Some("its work awaits your review".into()),
        ),
        TaskStatus::Done => (AgentState::Done, None),
        TaskStatus::Failed => (AgentState::Failed, last_error.map(str::to_string)),
        TaskStatus::Pending => idle("waiting for what it needs"),
        TaskStatus::Ready => idle("waiting for a worker slot"),
        TaskStatus::Paused => idle("paused"),
        TaskStatus::Blocked => idle("blocked: something it needs failed or was cancelled"),
        TaskStatus::Cancelled => idle("cancelled"),
    }
}

/// One thing an agent did, as far as liveness is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sign {
    /// Its prompt was sent: the turn runs.
    TurnStarted,
    /// A piece of its message text (progress; kept as its last words).
    Said(String),
    /// Thought text, a tool call starting or finishing, a file read or
    /// written, a report: progress.
    Progress,
    /// A tool call failed, with what it said (progress; kept as its last
    /// error).
    ToolFailed(String),
    /// Its plan, by a digest of its entries: progress only when it changed.
    Plan(u64),
    /// Usage updates, keep-alives, mode or command lists: not progress.
    Noise,
    /// It reports retrying its model API, in its own words. Not progress.
    Retrying(String),
    /// It asked for a permission (the request's title); the answer is awaited.
    PermissionAsked(String),
    /// A permission request (by title) was answered.
    PermissionAnswered(String),
    /// The questions it mailed the user or the planner that still await an
    /// answer, by subject (the whole set, as the store has it now).
    Questions(Vec<String>),
}

/// The bounds a worker is judged by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// No progress for this long (with the clock running) stops the worker.
    pub stall_ms: u64,
    /// Reporting retries for this long without progress stops it.
    pub retry_ms: u64,
}

/// Why a worker is given up on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GiveUp {
    /// No progress for the stall timeout.
    Stalled(String),
    /// Retrying its model API past the bound.
    Unreachable(String),
}

/// How a worker looks now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judgement {
    pub state: AgentState,
    pub reason: Option<String>,
    /// Set when the worker must be stopped.
    pub give_up: Option<GiveUp>,
}

/// Longest last words kept (characters).
const WORDS_KEPT: usize = 300;

#[derive(Debug, Clone, PartialEq, Eq)]
struct RetryStreak {
    since_ms: u64,
    words: String,
}

/// One attempt's liveness: its progress clock, what it waits for, its
/// retry streak and its last words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Liveness {
    turn_started: bool,
    /// When it last made progress, moved on by the time spent waiting.
    progress_ms: u64,
    /// When it started waiting for a person (the clock is paused).
    paused_at: Option<u64>,
    permissions: Vec<String>,
    questions: Vec<String>,
    retry: Option<RetryStreak>,
    /// The tail of its latest message.
    words: String,
    /// Whether the next message text starts a new message.
    new_message: bool,
    last_error: Option<String>,
    plan: Option<u64>,
}

impl Liveness {
    pub fn new(now_ms: u64) -> Liveness {
        Liveness {
            turn_started: false,
            progress_ms: now_ms,
            paused_at: None,
            permissions: Vec::new(),
            questions: Vec::new(),
            retry: None,
            words: String::new(),
            new_message: true,
            last_error: None,
            plan: None,
        }
    }

    fn waiting(&self) -> bool {
        !self.permissions.is_empty() || !self.questions.is_empty()
    }

    /// Applies `sign`, seen at `now_ms`.
    pub fn observe(&mut self, sign: Sign, now_ms: u64) {
        let was_waiting = self.waiting();
        let mut progress = true;
        let mut said = false;
        match sign {
            Sign::TurnStarted => self.turn_started = true,
            Sign::Said(text) => {
                if self.new_message {
                    self.words.clear();
                }
                self.words.push_str(&text);
                keep_tail(&mut self.words, WORDS_KEPT * 4);
                said = true;
            }
            Sign::Progress => {}
            Sign::ToolFailed(what) => self.last_error = Some(what),
            Sign::Plan(digest) => {
                progress = self.plan != Some(digest);
                self.plan = Some(digest);
            }
            Sign::Noise => progress = false,
            Sign::Retrying(words) => {
                progress = false;
                match &mut self.retry {
                    Some(streak) => streak.words = words,
                    None => {
                        self.retry = Some(RetryStreak {
                            since_ms: now_ms,
                            words,
                        })
                    }
                }
            }
            Sign::PermissionAsked(title) => {
                progress = false;
                self.permissions.push(title);
            }
            Sign::PermissionAnswered(title) => {
                progress = false;
                match self.permissions.iter().position(|t| *t == title) {
                    Some(at) => {
                        self.permissions.remove(at);
                    }
                    None => {
                        self.permissions.pop();
                    }
                }
            }
            Sign::Questions(open) => {
                progress = false;
                self.questions = open;
            }
        }
        if progress {
            self.turn_started = true;
            self.progress_ms = self.progress_ms.max(now_ms);
            self.retry = None;
            self.new_message = !said;
        }
        match (was_waiting, self.waiting()) {
            (false, true) => self.paused_at = Some(now_ms),
            (true, false) => {
                // The time spent waiting for a person does not count.
                if let Some(paused) = self.paused_at.take() {
                    self.progress_ms += now_ms.saturating_sub(paused);
                }
            }
            (true, true) if progress => self.paused_at = Some(now_ms),
            _ => {}
        }
    }

    /// How long it has gone without progress, not counting waits for a person.
    pub fn quiet_ms(&self, now_ms: u64) -> u64 {
        self.paused_at
            .unwrap_or(now_ms)
            .saturating_sub(self.progress_ms)
    }

    /// Its latest message, shortened for a reason (its end, where an agent
    /// says what went wrong), or `None` when it said nothing.
    pub fn last_words(&self) -> Option<String> {
        let words = self.words.split_whitespace().collect::<Vec<_>>().join(" ");
        if words.is_empty() {
            return None;
        }
        let mut words = words;
        if words.chars().count() > WORDS_KEPT {
            keep_tail(&mut words, WORDS_KEPT);
            words.insert(0, '…');
        }
        Some(words)
    }

    /// What it said and its last error, as a reason's ending.
    fn in_its_words(&self) -> String {
        let mut out = String::new();
        if let Some(words) = self.last_words() {
            out.push_str(&format!("; it last said: «{words}»"));
        }
        if let Some(error) = &self.last_error {
            out.push_str(&format!("; its last error: {error}"));
        }
        out
    }

    /// Its state and whether to give up on it, at `now_ms`.
    pub fn judge(&self, now_ms: u64, bounds: Bounds) -> Judgement {
        let quiet = self.quiet_ms(now_ms);
        let secs = |ms: u64| ms / 1000;
        let give_up = if let Some(streak) = self
            .retry
            .as_ref()
            .filter(|s| now_ms.saturating_sub(s.since_ms) >= bounds.retry_ms)
        {
            Some(GiveUp::Unreachable(format!(
                "the agent kept retrying its model API for {} s without progress (the limit is [workers] api_retry_limit_secs); it said: «{}»",
                secs(now_ms.saturating_sub(streak.since_ms)),
                streak.words
            )))
        } else if quiet >= bounds.stall_ms {
            Some(GiveUp::Stalled(format!(
                "stalled: no progress for {} s{}",
                secs(quiet),
                self.in_its_words()
            )))
        } else {
            None
        };
        let (state, reason) = if let Some(title) = self.permissions.first() {
            (AgentState::WaitingPermission, Some(title.clone()))
        } else if let Some(subject) = self.questions.first() {
            (AgentState::WaitingUser, Some(subject.clone()))
        } else if let Some(streak) = &self.retry {
            (AgentState::Retrying, Some(streak.words.clone()))
        } else if quiet.saturating_mul(2) >= bounds.stall_ms {
            // Half the timeout without progress: shown before it is stopped.
            let mut reason = String::from("no progress");
            if let Some(words) = self.last_words() {
                reason.push_str(&format!(" since it said «{words}»"));
            }
            if let Some(error) = &self.last_error {
                reason.push_str(&format!("; its last error: {error}"));
            }
            (AgentState::Stalled, Some(reason))
        } else if !self.turn_started {
            (AgentState::Idle, Some("starting".to_string()))
        } else {
            (AgentState::Working, None)
        };
        Judgement {
            state,
            reason,
            give_up,
        }
    }

    /// What a stopped attempt leaves in its history: its last words and error.
    pub fn epitaph(&self) -> Option<String> {
        let words = self.in_its_words();
        (!words.is_empty()).then(|| words.trim_start_matches("; ").to_string())
    }
}

/// Keeps at most the last `max` characters of `text`.
fn keep_tail(text: &mut String, max: usize) {
    let count = text.chars().count();
    if count > max
        && let Some((cut, _)) = text.char_indices().nth(count - max)
    {
        text.drain(..cut);
    }
}

#[cfg(test)]
#[path = "liveness_tests.rs"]
mod tests;
