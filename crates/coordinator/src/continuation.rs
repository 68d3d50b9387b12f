//! Continuing instead of starting over: which earlier ACP session a run may
//! take up (the session of an attempt interrupted by a restart, in the copy
//! it kept), the prompt that continues it, and, for a fresh session, the
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
}

/// The ACP session of the previous attempt at `task_id`, when attempt
/// `attempt` may take it up: the previous one was stopped from outside (a
/// restart, a pause, a stop, a spent budget; never a failure of its own), it ran the same
/// agent, and its copy was kept (`copy_reused`), so the session's picture
/// of the files is still true.
pub async fn interrupted_session(
    ctx: &Shared,
    task_id: &str,
    attempt: i64,
    copy_reused: bool,
    agent: &str,
) -> Option<(String, Stopped)> {
    if attempt < 2 || !copy_reused {
        return None;
    }
    let id = task_id.to_string();
    let earlier = ctx
        .db
        .call(move |s| s.attempt_session(&id, attempt - 1))
        .await
        .inspect_err(|e| tracing::warn!(task = task_id, "cannot read the earlier session: {e}"))
        .ok()
        .flatten()?;
    let stopped = match earlier.outcome.as_deref() {
        Some("interrupted") => Stopped::Restart,
        Some("paused" | "stopped") => Stopped::Paused,
        Some("budget") => Stopped::Budget,
        _ => return None,
    };
    (earlier.agent == agent).then_some((earlier.session, stopped))
}

/// Records the session a run works in, and in the task's log how it was
/// opened (continued, or why not).
pub async fn record_session<M>(
    ctx: &Shared,
    task_id: &str,
    agent: &str,
    earlier: Option<&str>,
    opened: &Opened<M>,
) {
    let (id, session, agent) = (
        task_id.to_string(),
        opened.session_id.clone(),
        agent.to_string(),
    );
    let event = serde_json::json!({
        "session": opened.session_id,
        "earlier": earlier,
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
        }
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
