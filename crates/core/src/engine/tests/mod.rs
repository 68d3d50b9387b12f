//! Unit tests of the engine: the builders and the event notation they
//! share, and one submodule per concern.

use super::*;
use crate::{Condition, ExecutionStatus, TaskStatus, Tier};
use Condition::{Completed, Merged, Started};

mod budgets;
mod failures;
mod holds;
mod properties;
mod scheduling;
mod steering;
mod transitions;

fn node(id: &str, index: i64, needs: &[(&str, Condition)]) -> NodeSnapshot {
    NodeSnapshot {
        id: id.into(),
        step_id: id.into(),
        step_index: index,
        tier: Tier::Standard,
        checkpoint: false,
        status: TaskStatus::Pending,
        failures: 0,
        needs: needs
            .iter()
            .map(|(t, c)| Edge {
                target: (*t).into(),
                condition: *c,
            })
            .collect(),
        agent: "agent".into(),
    }
}

fn execution(id: &str, order: u64, nodes: Vec<NodeSnapshot>) -> ExecutionSnapshot {
    ExecutionSnapshot {
        id: id.into(),
        order,
        status: ExecutionStatus::Running,
        nodes,
    }
}

fn settings(max_workers: usize) -> Settings {
    Settings {
        limits: Limits {
            max_workers,
            ..Limits::default()
        },
        retries: 2,
        stall_timeout_ms: 1000,
        api_retry_limit_ms: 5000,
    }
}

fn started(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::StartWorker { task, .. } => Some(task.clone()),
            _ => None,
        })
        .collect()
}

fn status(o: &Orchestrator, task: &str) -> TaskStatus {
    o.graph().status(task).unwrap()
}

/// a -> b (merged), a -> c (completed), a -> d (started)
fn fan_out() -> Orchestrator {
    let mut o = Orchestrator::new(settings(8));
    let events = o.handle(Command::Load(execution(
        "e1",
        1,
        vec![
            node("a", 0, &[]),
            node("b", 1, &[("a", Merged)]),
            node("c", 2, &[("a", Completed)]),
            node("d", 3, &[("a", Started)]),
        ],
    )));
    // Starting a satisfies `started` at once, so d starts in the same step.
    assert_eq!(started(&events), ["a", "d"]);
    o
}

/// Renders events compactly, in the notation of the transition table
/// (see `transitions`).
fn render(events: &[Event]) -> String {
    let cause = |c: &StopCause| match c {
        StopCause::Cancelled => "cancelled",
        StopCause::Paused => "paused",
        StopCause::StopAll => "stop_all",
        StopCause::Stalled => "stalled",
        StopCause::Unreachable => "unreachable",
        StopCause::Budget => "budget",
    };
    events
        .iter()
        .filter(|e| !matches!(e, Event::AgentState { .. }))
        .map(|e| match e {
            Event::TaskStatus { task, status, .. } => format!("{task}={status}"),
            Event::ExecutionStatus { execution, status } => format!("{execution}={status}"),
            Event::StartWorker { task, attempt } => format!("start:{task}#{attempt}"),
            Event::StopWorker { task, cause: c, .. } => format!("stop:{task}({})", cause(c)),
            // Agent states are judged by `liveness` and told in its tests
            // and in `failures`.
            Event::AgentState { .. } => unreachable!("filtered out"),
            Event::QueueMerge { task } => format!("merge:{task}"),
            Event::AwaitingReview { task, resolution } => {
                format!(
                    "review:{task}{}",
                    if *resolution { "(resolution)" } else { "" }
                )
            }
            Event::Approved { task } => format!("approved:{task}"),
            Event::CheckpointReached { execution, task } => {
                format!("checkpoint:{execution}/{task}")
            }
            Event::TaskFinished { task } => format!("finished:{task}"),
            Event::TaskFailed {
                task, will_retry, ..
            } => format!(
                "failed:{task}({})",
                if *will_retry { "retry" } else { "final" }
            ),
            Event::Interrupted { task } => format!("interrupted:{task}"),
            Event::BudgetSpent {
                execution,
                standing,
                ..
            } => format!("budget:{execution}({})", standing.scope.as_str()),
            Event::BudgetWarning { execution, .. } => {
                format!("warn:{}", execution.as_deref().unwrap_or("session"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}
