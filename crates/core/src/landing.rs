//! The landing protocol: how a merge request's work reaches the base branch
//! exactly once, whenever the coordinator dies.
//!
//! Each irreversible git step is preceded by a durable record of what is
//! about to happen, so a restart finds out where it stopped from the store
//! (and git), never by recomputing the squash:
//!
//! ```text
//!  (none) ──record intent──▶ intent ──ref moved, recorded──▶ merged ──copy, branch,
//!    ▲      commit + parent   │                                        scratch gone──▶ cleaned
//!    └──── base moved on ─────┘
//! ```
//!
//! - *none*: the squash may be (re)computed, verified, resolved by a merger;
//!   nothing of it is durable except the commit under `refs/enki/landing/`.
//! - *intent*: the commit about to land and the base tip it lands on are
//!   recorded; the checkout update and the compare-and-swap of the base ref
//!   follow. A restart decides with [`recover`].
//! - *merged*: the request is `merged` with its commit (one transaction); the
//!   task's `done` follows from it (a restart that finds the task not done
//!   yet completes it, never queues a new merge); clean-up may still be due.
//! - *cleaned*: the task's copy, branch, scratch worktrees and enki refs are gone.
//!
//! Every landed commit carries an `Enki-Task: <task id>` trailer (and, for a
//! follow-up round of a done task, `Enki-Round: <n>`), so landed work is
//! also recognised from the base branch's history, round by round.

use crate::status::string_enum;

string_enum!(
    /// How far a merge request's landing got (see the module docs).
    LandingPhase, "landing phase", {
        Intent => "intent",
        Merged => "merged",
        Cleaned => "cleaned",
    }
);

/// The trailer that names the task a landed commit belongs to.
pub const TASK_TRAILER: &str = "Enki-Task";

/// The trailer that names the follow-up round (`enki followup`) a landed
/// commit belongs to; a commit without it is the task's first round.
pub const ROUND_TRAILER: &str = "Enki-Round";

/// The trailer line for a task (`Enki-Task: task-…`).
pub fn task_trailer(task_id: &str) -> String {
    format!("{TASK_TRAILER}: {task_id}")
}

/// The trailer lines of a task's round: `Enki-Task: <id>`, followed from the
/// second round on by `Enki-Round: <round>`. Every round's commit names its
/// task, so landed work is recognised per round: a follow-up's landing is
/// never mistaken for the first round's, which carries the same task trailer.
fn round_trailers(task_id: &str, round: i64) -> Vec<String> {
    let mut lines = vec![task_trailer(task_id)];
    if round > 1 {
        lines.push(format!("{ROUND_TRAILER}: {round}"));
    }
    lines
}

/// Appends the trailers of the task's round to a commit message (once),
/// joining the message's own trailer block when it ends with one
/// (`Co-authored-by: …`).
pub fn with_task_trailer(message: &str, task_id: &str, round: i64) -> String {
    if landed_round(message, task_id) == Some(round) {
        return message.to_string();
    }
    let message = message.trim_end();
    let ends_with_trailers = message.rsplit_once("\n\n").is_some_and(|(_, last)| {
        last.lines().all(|line| {
            line.split_once(": ").is_some_and(|(key, _)| {
                !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            })
        })
    });
    let gap = if ends_with_trailers { "\n" } else { "\n\n" };
    format!(
        "{message}{gap}{}",
        round_trailers(task_id, round).join("\n")
    )
}

/// The round of the task's work a commit message says it lands: `None`
/// when it carries no `Enki-Task` trailer for the task, else its
/// `Enki-Round` (1 when there is none).
pub fn landed_round(message: &str, task_id: &str) -> Option<i64> {
    let trailer = task_trailer(task_id);
    if !message.lines().any(|line| line.trim() == trailer) {
        return None;
    }
    let round = message.lines().find_map(|line| {
        let (key, value) = line.trim().split_once(':')?;
        (key == ROUND_TRAILER).then(|| value.trim().parse::<i64>().ok())?
    });
    Some(round.unwrap_or(1))
}

/// What git says about a recorded intent, read by the coordinator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntentFacts {
    /// The base branch's tip now.
    pub tip: String,
    /// The recorded commit is the tip or one of its ancestors.
    pub commit_reachable: bool,
    /// A commit with the trailers of the request's task and round is on the
    /// base branch (a user may have rebased the landed commit); its id. An
    /// earlier round's commit of the same task does not count.
    pub trailer_commit: Option<String>,
}

/// What a restart does with a request found in the *intent* phase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recovery {
    /// The work is on the base branch (as this commit): record it merged.
    Landed { commit: String },
    /// The base branch has not moved: finish the step with the recorded
    /// commit (verified before the intent was written), checkout included.
    FinishAdvance { commit: String, parent: String },
    /// The base branch moved on without the work: forget the intent and
    /// land afresh on the new tip.
    Recompute,
}

/// Decides how to finish a landing interrupted after its intent was recorded.
pub fn recover(commit: &str, parent: &str, facts: &IntentFacts) -> Recovery {
    if facts.commit_reachable {
        return Recovery::Landed {
            commit: commit.to_string(),
        };
    }
    if let Some(found) = &facts.trailer_commit {
        return Recovery::Landed {
            commit: found.clone(),
        };
    }
    if facts.tip == parent {
        return Recovery::FinishAdvance {
            commit: commit.to_string(),
            parent: parent.to_string(),
        };
    }
    Recovery::Recompute
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(tip: &str, reachable: bool, trailer: Option<&str>) -> IntentFacts {
        IntentFacts {
            tip: tip.into(),
            commit_reachable: reachable,
            trailer_commit: trailer.map(str::to_string),
        }
    }

    #[test]
    fn an_interrupted_landing_is_finished_or_recognised_never_redone() {
        let landed = |c: &str| Recovery::Landed { commit: c.into() };
        let rows = [
            // Died after the ref moved: the tip is the commit.
            (facts("C", true, Some("C")), landed("C")),
            // Work landed, then more work on top.
            (facts("D", true, Some("C")), landed("C")),
            // Landed, then the user rebased the branch: found by its trailer.
            (facts("X", false, Some("C2")), landed("C2")),
            // Died before the ref moved (maybe after the checkout moved).
            (
                facts("P", false, None),
                Recovery::FinishAdvance {
                    commit: "C".into(),
                    parent: "P".into(),
                },
            ),
            // The base moved on without the work: land again on the new tip.
            (facts("Q", false, None), Recovery::Recompute),
        ];
        for (facts, expected) in rows {
            assert_eq!(recover("C", "P", &facts), expected, "{facts:?}");
        }
    }

    #[test]
    fn the_trailer_is_added_once_after_a_blank_line() {
        let message = with_task_trailer("Add mul (task-1)\n", "task-1", 1);
        assert_eq!(message, "Add mul (task-1)\n\nEnki-Task: task-1");
        assert_eq!(with_task_trailer(&message, "task-1", 1), message);
        let with_suffix = with_task_trailer("Add mul\n\nCo-authored-by: x", "task-1", 1);
        assert_eq!(
            with_suffix,
            "Add mul\n\nCo-authored-by: x\nEnki-Task: task-1"
        );
    }

    #[test]
    fn a_follow_up_round_is_named_beside_the_task_and_told_apart() {
        let second = with_task_trailer("Add mul (task-1, round 2)", "task-1", 2);
        assert_eq!(
            second,
            "Add mul (task-1, round 2)\n\nEnki-Task: task-1\nEnki-Round: 2"
        );
        assert_eq!(with_task_trailer(&second, "task-1", 2), second);
        assert_eq!(landed_round(&second, "task-1"), Some(2));
        let first = with_task_trailer("Add mul (task-1)", "task-1", 1);
        assert_eq!(landed_round(&first, "task-1"), Some(1));
        // Another task's commit, or a prefix of the id, is not this task's.
        assert_eq!(landed_round(&first, "task-2"), None);
        assert_eq!(landed_round(&first, "task-"), None);
        assert_eq!(
            landed_round("Enki-Task: task-10\nEnki-Round: 3", "task-1"),
            None
        );
        assert_eq!(landed_round("no trailer", "task-1"), None);
    }
}
