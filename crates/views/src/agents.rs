//! Agent states as lists show them: a glyph and a word with how long, and
//! the workers section of `enki status` / `enki_status`.

use enki_core::AgentState;
use enki_core::id::short;
use enki_store::{TaskRow, seconds_between};
use serde_json::{Value, json};

use crate::format::{clip, one_line};

/// Longest reason a one-line listing prints.
const REASON_MAX: usize = 100;

/// One character for a state, so a column of them reads at a glance.
pub fn agent_state_glyph(state: AgentState) -> &'static str {
    match state {
        AgentState::Working => "●",
        AgentState::WaitingPermission => "?",
        AgentState::WaitingUser => "✉",
        AgentState::Retrying => "↻",
        AgentState::Stalled => "⚠",
        AgentState::Idle => "○",
        AgentState::Done => "✓",
        AgentState::Failed => "✗",
    }
}

/// A state in words a person reads at a glance (the TUI's rows; lists and
/// `--json` keep the stored name).
pub fn agent_state_words(state: AgentState) -> &'static str {
    match state {
        AgentState::Working => "working",
        AgentState::WaitingPermission => "waiting for permission",
        AgentState::WaitingUser => "waiting for you",
        AgentState::Retrying => "retrying",
        AgentState::Stalled => "stalled",
        AgentState::Idle => "idle",
        AgentState::Done => "done",
        AgentState::Failed => "failed",
    }
}

/// A duration in the largest units that matter: `45s`, `3m`, `1h05m`, `2d03h`.
pub fn duration_words(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m", secs / 60),
        3600..86_400 => format!("{}h{:02}m", secs / 3600, secs % 3600 / 60),
        _ => format!("{}d{:02}h", secs / 86_400, secs % 86_400 / 3600),
    }
}

/// `✉ waiting_user 3m`: the task's agent state, and for how long at `now`
/// (an RFC 3339 time as the store writes them).
pub fn agent_state_label(task: &TaskRow, now: &str) -> String {
    let state = task.agent_state;
    let mut label = format!("{} {state}", agent_state_glyph(state));
    if let Some(secs) = task
        .agent_state_since
        .as_deref()
        .and_then(|since| seconds_between(since, now))
    {
        label.push(' ');
        label.push_str(&duration_words(secs));
    }
    label
}

/// The label with its reason: `✉ waiting_user 3m — Which database?`.
pub fn agent_state_text(task: &TaskRow, now: &str) -> String {
    let label = agent_state_label(task, now);
    match &task.agent_state_reason {
        Some(reason) => format!("{label} — {}", clip(&one_line(reason), REASON_MAX)),
        None => label,
    }
}

/// One line per running task: short id, step, title, agent state with how
/// long and why. Empty when no task runs.
pub fn workers_text(tasks: &[TaskRow], now: &str) -> String {
    tasks
        .iter()
        .filter(|t| t.status == enki_core::TaskStatus::Running)
        .map(|t| {
            format!(
                "  {}  [{}] {}  {}",
                short(&t.id),
                t.step_id,
                clip(&one_line(&t.title), 60),
                agent_state_text(t, now)
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// One line per task a coordinator that is gone left `running`: no agent
/// works on it any more; its last state is kept until `enki run` resumes
/// it. Empty when there is none.
pub fn interrupted_text(tasks: &[TaskRow], now: &str) -> String {
    tasks
        .iter()
        .filter(|t| t.status == enki_core::TaskStatus::Running)
        .map(|t| {
            format!(
                "  {}  [{}] {}  interrupted (its agent's last state: {})",
                short(&t.id),
                t.step_id,
                clip(&one_line(&t.title), 60),
                agent_state_label(t, now)
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The running tasks as data: id, step, title, agent state, reason, since.
pub fn workers_json(tasks: &[TaskRow]) -> Value {
    Value::Array(
        tasks
            .iter()
            .filter(|t| t.status == enki_core::TaskStatus::Running)
            .map(|t| {
                json!({
                    "task_id": t.id,
                    "step_id": t.step_id,
                    "title": t.title,
                    "agent_state": t.agent_state,
                    "agent_state_reason": t.agent_state_reason,
                    "agent_state_since": t.agent_state_since,
                    "activity": t.activity,
                })
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use enki_core::TaskStatus;

    use super::*;
    use crate::fixtures::{T, task};

    #[test]
    fn durations_use_the_largest_units_that_matter() {
        let cases = [
            (0, "0s"),
            (59, "59s"),
            (60, "1m"),
            (3599, "59m"),
            (3600, "1h00m"),
            (3900, "1h05m"),
            (90_000, "1d01h"),
        ];
        for (secs, words) in cases {
            assert_eq!(duration_words(secs), words);
        }
    }

    #[test]
    fn a_worker_line_has_a_glyph_a_word_how_long_and_why() {
        let mut a = task('A', "a", 0, TaskStatus::Running);
        a.agent_state = AgentState::WaitingUser;
        a.agent_state_reason = Some("Which\ndatabase?".into());
        let mut b = task('B', "b", 1, TaskStatus::Running);
        b.agent_state = AgentState::Working;
        let done = task('C', "c", 2, TaskStatus::Done);
        let now = "2025-01-02T10:06:04.000000Z";
        assert_eq!(T, "2025-01-02T10:03:04.123456Z");
        assert_eq!(
            workers_text(&[a.clone(), b, done], now),
            "  task-01JAAAAAAAAAAA  [a] step a title  ✉ waiting_user 2m — Which database?\n  task-01JAAAAAAAAAAB  [b] step b title  ● working 2m"
        );
        let data = workers_json(&[a]);
        assert_eq!(data[0]["agent_state"], "waiting_user");
        assert_eq!(data[0]["agent_state_since"], T);
        // A time that does not parse shows no duration.
        assert_eq!(
            agent_state_label(&task('D', "d", 3, TaskStatus::Ready), "later"),
            "○ idle"
        );
    }
}
