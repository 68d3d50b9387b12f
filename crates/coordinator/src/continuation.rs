//! Continuing instead of starting over: which earlier ACP session a run may
//! take up (the session of an attempt interrupted by a restart, in the copy
//! it kept; or, for a follow-up round, the session the task's earlier round
//! ended in), the prompt that continues it, and, for a fresh session, the
//! history it needs (earlier attempts' outcomes and the agent's last words).

use std::collections::BTreeMap;
use std::fmt::Write;

use enki_acp::Continuation;
use enki_store::{AttemptRow, Store, StoreError, TaskEventRow};

use crate::context::Shared;
use crate::session::Opened;

/// How much of an earlier attempt's last message a fresh session is shown.
const LAST_WORDS: usize = 1500;
/// How many earlier attempts' last messages a fresh session is shown.
const ATTEMPTS_SHOWN: usize = 2;

/// Why the previous attempt ended, when its session may be taken up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// A restart (Ctrl-C, SIGTERM, a crash) interrupted it.
    Restart,
    /// The person paused the step or stopped every worker.
    Paused,
    /// A budget (`[budget]`) was spent; it has been raised since.
    Budget,
    /// The agent's account met a limit (a rate limit or quota); it has
    /// reset since.
    Limited,
}

/// An earlier ACP session a run takes up, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TakeUp {
    /// The previous attempt was stopped from outside (a restart, a pause, a
    /// stop, a spent budget; never a failure of its own) in the copy this
    /// one kept: it goes on where it stopped.
    Interrupted { session: String, stopped: Stopped },
    /// A follow-up round whose runs have opened no session yet: the session
    /// the task's earlier round ended in gets the follow-up request.
    FollowUp(String),
}

impl TakeUp {
    pub fn session(&self) -> &str {
        match self {
            TakeUp::Interrupted { session, .. } | TakeUp::FollowUp(session) => session,
        }
    }

    fn why(&self) -> &'static str {
        match self {
            TakeUp::Interrupted {
                stopped: Stopped::Restart,
                ..
            } => "interrupted",
            TakeUp::Interrupted {
                stopped: Stopped::Paused,
                ..
            } => "paused",
            TakeUp::Interrupted {
                stopped: Stopped::Budget,
                ..
            } => "budget",
            TakeUp::Interrupted {
                stopped: Stopped::Limited,
                ..
            } => "limited",
            TakeUp::FollowUp(_) => "followup",
        }
    }
}

/// The session attempt `attempt` (of the task's round `round`) takes up,
/// given every attempt at the task so far (this one included), whether its
/// copy was kept from the previous attempt, and its agent's configured name
/// (a session is only ever taken up by the agent that opened it).
///
/// - The previous attempt of the same round was stopped from outside (a
///   restart, a pause, a stop, a spent budget, a limit of the agent's account)
///   and its copy kept: its session, whose
///   picture of the files still holds.
/// - Else, in a follow-up round (`round > 1`) none of whose attempts opened
///   a session yet (the first run, or a restart came before one was
///   opened): the latest session of an earlier round, so the follow-up
///   reaches the conversation that did the work. Its copy is made anew from
///   the base branch, which holds that work.
/// - Else none: a fresh session, told the history.
pub fn session_to_take_up(
    attempts: &[AttemptRow],
    attempt: i64,
    round: i64,
    copy_reused: bool,
    agent: &str,
) -> Option<TakeUp> {
    let by_agent = |a: &&AttemptRow| a.agent.as_deref() == Some(agent);
    let previous = attempts
        .iter()
        .find(|a| a.number == attempt - 1 && a.round == round)
        .filter(by_agent);
    let stopped = previous.and_then(|a| match a.outcome.as_deref() {
        Some("interrupted") => Some(Stopped::Restart),
        Some("paused" | "stopped") => Some(Stopped::Paused),
        Some("budget") => Some(Stopped::Budget),
        Some("limited") => Some(Stopped::Limited),
        _ => None,
    });
    if copy_reused
        && let Some(stopped) = stopped
        && let Some(session) = previous.and_then(|a| a.session.clone())
    {
        return Some(TakeUp::Interrupted { session, stopped });
    }
    let round_opened_one = attempts
        .iter()
        .any(|a| a.round == round && a.number < attempt && a.session.is_some());
    if round < 2 || round_opened_one {
        return None;
    }
    attempts
        .iter()
        .filter(|a| a.round < round && a.session.is_some())
        .max_by_key(|a| a.number)
        .filter(by_agent)
        .and_then(|a| a.session.clone())
        .map(TakeUp::FollowUp)
}

/// Records the session a run works in, and in the task's log how it was
/// opened (continued, or why not).
pub async fn record_session<M>(
    ctx: &Shared,
    task_id: &str,
    agent: &str,
    earlier: Option<&TakeUp>,
    opened: &Opened<M>,
) {
    let (id, session, agent) = (
        task_id.to_string(),
        opened.session_id.clone(),
        agent.to_string(),
    );
    let event = serde_json::json!({
        "session": opened.session_id,
        "earlier": earlier.map(TakeUp::session),
        "taken_up_for": earlier.map(TakeUp::why),
        "continued": opened.continued.map(Continuation::method),
        "not_continued": opened.not_continued,
    });
    let recorded = ctx
        .db
        .call(move |s| {
            s.set_attempt_session(&id, &session, &agent)?;
            s.append_task_event(&id, "session", &event)
        })
        .await;
    if let Err(e) = recorded {
        tracing::warn!(task = task_id, "cannot record the agent's session: {e}");
    }
}

/// The turn that continues an interrupted session. It restates the task as
/// first given (`task_prompt`): a coordinator killed between `session/new`
/// and the prompt leaves a session that never received it, and an agent
/// cannot tell us which case it is in.
pub fn continue_prompt(
    task_title: &str,
    copy: &std::path::Path,
    task_prompt: &str,
    stopped: Stopped,
) -> String {
    let what = match stopped {
        Stopped::Restart => "enki was restarted while you worked on the task",
        Stopped::Paused => "The person paused your work on the task",
        Stopped::Budget => {
            "enki's budget for this work ran out (it has been raised since) while you worked on the task"
        }
        Stopped::Limited => {
            "Your account's rate limit or usage limit (it has reset since) ended your turn while you worked on the task"
        }
    };
    format!(
        "{what} \"{task_title}\", which interrupted your turn; it goes on now. \
         Your session and your copy of the project at {} are as you left them. \
         Continue the task where you stopped; the instructions given at the start still hold, \
         including ending your final reply with the [OUTPUT] … [/OUTPUT] summary. \
         If your session does not show them (the restart can come before they reached you), \
         here they are again:\n\n{task_prompt}",
        copy.display()
    )
}

/// The turn that opens follow-up round `round` in the session the task's
/// earlier round ended in: the request, and what changed around it.
pub fn follow_up_prompt(request: &str, round: i64, copy: &std::path::Path) -> String {
    format!(
        "A follow-up request for the task you finished (round {round} of it). What you changed then has \
         landed on the base branch, and your copy of the project at {} was made anew from that branch, \
         so it holds that work. Do what the request asks; the instructions given at the start still \
         hold, including ending your final reply with the [OUTPUT] … [/OUTPUT] summary.\n\n{request}",
        copy.display()
    )
}

/// What a fresh session of attempt `attempt` needs to know about the
/// earlier ones, as a prompt section; `None` for a first attempt.
pub async fn history(ctx: &Shared, task_id: &str, attempt: i64) -> Option<String> {
    if attempt < 2 {
        return None;
    }
    let id = task_id.to_string();
    let read = ctx
        .db
        .call(move |s: &mut Store| -> Result<_, StoreError> {
            Ok((s.attempts_of(&id)?, s.task_events(&id, 0, None)?))
        })
        .await;
    match read {
        Ok((attempts, events)) => history_section(&attempts, &events, attempt),
        Err(e) => {
            tracing::warn!(task = task_id, "cannot read the task's history: {e}");
            None
        }
    }
}

/// The section itself: each earlier attempt's outcome and error, and the
/// last message of the latest [`ATTEMPTS_SHOWN`] that said something.
pub fn history_section(
    attempts: &[AttemptRow],
    events: &[TaskEventRow],
    attempt: i64,
) -> Option<String> {
    let earlier: Vec<&AttemptRow> = attempts.iter().filter(|a| a.number < attempt).collect();
    if earlier.is_empty() {
        return None;
    }
    let last_words = last_messages(events);
    let mut section = String::from("# Earlier attempts at this task\n\n");
    let _ = writeln!(
        section,
        "This is attempt {attempt}. Your copy of the project keeps what earlier attempts changed, unless it was made anew; check its state before you start."
    );
    for row in &earlier {
        let outcome = row.outcome.as_deref().unwrap_or("unfinished");
        let _ = write!(section, "- attempt {}: {outcome}", row.number);
        if let Some(error) = &row.error {
            let _ = write!(section, " ({})", error.trim());
        }
        section.push('\n');
    }
    let spoken: Vec<(&i64, &String)> = last_words.iter().rev().take(ATTEMPTS_SHOWN).collect();
    for (number, text) in spoken.into_iter().rev() {
        let _ = writeln!(
            section,
            "\nThe agent's last message in attempt {number}:\n\n{}",
            tail(text, LAST_WORDS)
        );
    }
    section.push('\n');
    Some(section)
}

/// The last `message` event of each attempt in a task's log.
fn last_messages(events: &[TaskEventRow]) -> BTreeMap<i64, String> {
    let mut current = 0;
    let mut last = BTreeMap::new();
    for event in events {
        match event.kind.as_str() {
            "attempt_started" => {
                current = event.data["attempt"].as_i64().unwrap_or(current);
            }
            "message" => {
                if let Some(text) = event.data["text"].as_str().filter(|t| !t.trim().is_empty()) {
                    last.insert(current, text.trim().to_string());
                }
            }
            _ => {}
        }
    }
    last
}

/// The end of `text`, at most `limit` bytes, marked when cut.
fn tail(text: &str, limit: usize) -> String {
    if text.len() <= limit {
        return text.to_string();
    }
    let start = text.ceil_char_boundary(text.len() - limit);
    format!("[…] {}", &text[start..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn attempt(number: i64, outcome: &str, error: Option<&str>) -> AttemptRow {
        AttemptRow {
            number,
            started_at: String::new(),
            ended_at: None,
            outcome: Some(outcome.into()),
            error: error.map(Into::into),
            last_message: None,
            round: 1,
            session: None,
            agent: None,
        }
    }

    /// An attempt of `round` that ran in `session` (of agent `sim`).
    fn ran(number: i64, round: i64, outcome: Option<&str>, session: Option<&str>) -> AttemptRow {
        AttemptRow {
            outcome: outcome.map(Into::into),
            round,
            session: session.map(Into::into),
            agent: session.map(|_| "sim".into()),
            ..attempt(number, "", None)
        }
    }

    /// Attempts as `(number, round, outcome, session)`; the last one runs now.
    type Runs<'a> = &'a [(i64, i64, Option<&'a str>, Option<&'a str>)];

    fn take(runs: Runs<'_>, copy_reused: bool, agent: &str) -> Option<TakeUp> {
        let rows: Vec<AttemptRow> = runs
            .iter()
            .map(|(number, round, outcome, session)| ran(*number, *round, *outcome, *session))
            .collect();
        let now = rows.last().unwrap();
        session_to_take_up(&rows, now.number, now.round, copy_reused, agent)
    }

    #[test]
    fn the_session_taken_up_is_the_interrupted_ones_or_a_follow_ups_earlier_rounds() {
        let (cut, ok, failed) = (Some("interrupted"), Some("succeeded"), Some("failed"));
        let (s1, s2) = (Some("s1"), Some("s2"));
        let stopped_by = |s: &str, stopped: Stopped| {
            Some(TakeUp::Interrupted {
                session: s.into(),
                stopped,
            })
        };
        let up = |s: &str| stopped_by(s, Stopped::Restart);
        let follow = |s: &str| Some(TakeUp::FollowUp(s.into()));
        // A first attempt, and a retry after a plain failure: fresh.
        assert_eq!(take(&[(1, 1, None, None)], false, "sim"), None);
        assert_eq!(
            take(&[(1, 1, failed, s1), (2, 1, None, None)], true, "sim"),
            None
        );
        // Interrupted in the kept copy: its session, by the same agent only.
        let interrupted = [(1, 1, cut, s1), (2, 1, None, None)];
        assert_eq!(take(&interrupted, true, "sim"), up("s1"));
        assert_eq!(take(&interrupted, false, "sim"), None);
        assert_eq!(take(&interrupted, true, "claude"), None);
        // Paused or stopped by the person: the same, told so.
        let paused = [(1, 1, Some("paused"), s1), (2, 1, None, None)];
        assert_eq!(
            take(&paused, true, "sim"),
            stopped_by("s1", Stopped::Paused)
        );
        let stopped = [(1, 1, Some("stopped"), s1), (2, 1, None, None)];
        assert_eq!(
            take(&stopped, true, "sim"),
            stopped_by("s1", Stopped::Paused)
        );
        // Ended by a limit of the agent's account: it goes on once reset.
        let limited = [(1, 1, Some("limited"), s1), (2, 1, None, None)];
        assert_eq!(
            take(&limited, true, "sim"),
            stopped_by("s1", Stopped::Limited)
        );
        // A follow-up's first run: the earlier round's latest session, by
        // the same agent only.
        let follow_up = [(1, 1, failed, s1), (2, 1, ok, s2), (3, 2, None, None)];
        assert_eq!(take(&follow_up, false, "sim"), follow("s2"));
        assert_eq!(take(&follow_up, false, "claude"), None);
        // Its first run was cut before a session opened: still the earlier round's.
        let cut_early = [(1, 1, ok, s1), (2, 2, cut, None), (3, 2, None, None)];
        assert_eq!(take(&cut_early, true, "sim"), follow("s1"));
        // Cut after it took the session up: that one, told to continue.
        let cut_late = [(1, 1, ok, s1), (2, 2, cut, s1), (3, 2, None, None)];
        assert_eq!(take(&cut_late, true, "sim"), up("s1"));
        // The follow-up's run failed after its session opened: fresh.
        let failed_run = [(1, 1, ok, s1), (2, 2, failed, s1), (3, 2, None, None)];
        assert_eq!(take(&failed_run, true, "sim"), None);
    }

    #[test]
    fn the_follow_up_prompt_carries_the_request_and_says_the_copy_is_new() {
        let text = follow_up_prompt(
            "Also handle negatives",
            2,
            std::path::Path::new("/p/.enki/copies/t"),
        );
        assert!(text.contains("round 2"), "{text}");
        assert!(text.contains("/p/.enki/copies/t was made anew"), "{text}");
        assert!(text.contains("[OUTPUT]"), "{text}");
        assert!(text.ends_with("\n\nAlso handle negatives"), "{text}");
    }

    fn event(seq: i64, kind: &str, data: serde_json::Value) -> TaskEventRow {
        TaskEventRow {
            seq,
            task_id: "t".into(),
            at: String::new(),
            kind: kind.into(),
            data,
        }
    }

    #[test]
    fn a_first_attempt_has_no_history() {
        assert_eq!(history_section(&[], &[], 1), None);
        assert_eq!(history_section(&[attempt(1, "failed", None)], &[], 1), None);
    }

    #[test]
    fn history_names_each_outcome_and_the_agents_last_words() {
        let attempts = [
            attempt(1, "failed", Some("the agent ended its turn with `refusal`")),
            attempt(2, "interrupted", Some("the coordinator stopped")),
        ];
        let long = format!("{}THE END", "x".repeat(3000));
        let events = [
            event(1, "attempt_started", json!({"attempt": 1})),
            event(2, "message", json!({"text": "first try"})),
            event(3, "message", json!({"text": "I refuse"})),
            event(4, "attempt_started", json!({"attempt": 2})),
            event(5, "message", json!({"text": long})),
        ];
        let section = history_section(&attempts, &events, 3).unwrap();
        assert!(section.contains("This is attempt 3."), "{section}");
        assert!(section.contains("- attempt 1: failed (the agent ended its turn with `refusal`)"));
        assert!(section.contains("- attempt 2: interrupted (the coordinator stopped)"));
        assert!(section.contains("last message in attempt 1:\n\nI refuse"));
        assert!(!section.contains("first try"));
        assert!(section.contains("[…] x"));
        assert!(section.contains("THE END"));
        assert!(section.len() < 2500, "{}", section.len());
    }

    #[test]
    fn the_continue_prompt_names_the_copy_the_output_block_and_restates_the_task() {
        let text = continue_prompt(
            "Add a file",
            std::path::Path::new("/p/.enki/copies/t"),
            "Write a.txt [[sim:a]]",
            Stopped::Restart,
        );
        assert!(text.starts_with("enki was restarted"));
        assert!(text.contains("\"Add a file\""));
        assert!(text.ends_with("here they are again:\n\nWrite a.txt [[sim:a]]"));
        let paused = continue_prompt(
            "Add a file",
            std::path::Path::new("/c"),
            "x",
            Stopped::Paused,
        );
        assert!(
            paused.starts_with("The person paused your work"),
            "{paused}"
        );
        assert!(text.contains("/p/.enki/copies/t"));
        assert!(text.contains("[OUTPUT]"));
    }
}
