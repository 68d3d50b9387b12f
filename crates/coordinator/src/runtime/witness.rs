//! A signal file is a wake-up, never a command (SIGNALS.md: the store is
//! the truth). Before the coordinator reacts to one, the store must show
//! the change it announces, and it must come from this coordinator's
//! session or from no session (a person's CLI); otherwise it changes
//! nothing and is set aside. The reaction itself reads the store, never
//! the file: anyone who can write into `.enki/events/` (an agent, say) can
//! only make the coordinator look again.

use enki_core::{ExecutionStatus, TaskStatus};
use enki_signals::{Signal, SignalKind};
use enki_store::{Store, StoreError};

/// What the store shows for an accepted signal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Witnessed {
    /// A change of tasks or executions: compare the store with the graph.
    StoreChanged,
    /// Every execution is paused by a stop: stop the running workers too.
    StopAll,
    /// A worker's status, as the store recorded it.
    Report { task: String, status: String },
    /// A message, as the store holds it.
    Mail {
        id: String,
        from: String,
        to: String,
        subject: String,
        priority: String,
    },
}

/// Why a signal changes nothing, or what the store shows for it.
pub(super) fn witness(
    store: &Store,
    session: &str,
    signal: &Signal,
) -> Result<Result<Witnessed, String>, StoreError> {
    if let Some(theirs) = signal.session.as_deref()
        && theirs != session
    {
        return Ok(Err(format!(
            "it was written for session {theirs}, not this coordinator's ({session})"
        )));
    }
    let not_shown = |what: String| Ok(Err(format!("the store does not show {what}")));
    let task_status = |task: &str| -> Result<Option<TaskStatus>, StoreError> {
        Ok(store.task(task)?.map(|t| t.status))
    };
    let step_status = |execution: &str, step: &str| -> Result<Option<TaskStatus>, StoreError> {
        Ok(store
            .tasks(&enki_store::TaskFilter {
                execution_id: Some(execution.to_string()),
                ..Default::default()
            })?
            .into_iter()
            .find(|t| t.step_id == step)
            .map(|t| t.status))
    };
    let execution_status = |execution: &str| -> Result<Option<ExecutionStatus>, StoreError> {
        Ok(store.execution(execution)?.map(|e| e.status))
    };
    match &signal.kind {
        SignalKind::TaskCreated { task_id } => match task_status(task_id)? {
            Some(_) => Ok(Ok(Witnessed::StoreChanged)),
            None => not_shown(format!("task {task_id}")),
        },
        SignalKind::ExecutionCreated { execution_id } => match execution_status(execution_id)? {
            Some(_) => Ok(Ok(Witnessed::StoreChanged)),
            None => not_shown(format!("execution {execution_id}")),
        },
        // Every step it names is in the execution (an execution that merely
        // exists proves nothing was added).
        SignalKind::StepsAdded {
            execution_id,
            step_ids,
        } => {
            let steps = store.step_map(execution_id)?;
            if !step_ids.is_empty() && step_ids.iter().all(|s| steps.contains_key(s)) {
                Ok(Ok(Witnessed::StoreChanged))
            } else {
                not_shown(format!(
                    "steps [{}] added to execution {execution_id}",
                    step_ids.join(", ")
                ))
            }
        }
        SignalKind::RetryTask { task_id } => match task_status(task_id)? {
            Some(TaskStatus::Pending | TaskStatus::Ready) => Ok(Ok(Witnessed::StoreChanged)),
            _ => not_shown(format!("task {task_id} sent back to pending")),
        },
        // Applied late (written while no coordinator ran), the round may
        // already be running: a round past the first is what it announces.
        SignalKind::FollowupTask { task_id } => match store.task(task_id)? {
            Some(task) if task.round > 1 => Ok(Ok(Witnessed::StoreChanged)),
            _ => not_shown(format!("a follow-up of task {task_id}")),
        },
        // The decision of the task's current round is in its log.
        SignalKind::ApproveTask { task_id } | SignalKind::RejectTask { task_id } => {
            let wanted = match &signal.kind {
                SignalKind::ApproveTask { .. } => enki_store::Decision::Approved,
                _ => enki_store::Decision::Rejected,
            };
            let round = store.task(task_id)?.map(|t| t.round);
            match store.last_review(task_id)? {
                Some(record) if record.decision == wanted && Some(record.round) == round => {
                    Ok(Ok(Witnessed::StoreChanged))
                }
                _ => not_shown(format!("task {task_id} {}", wanted.as_str())),
            }
        }
        SignalKind::Pause {
            execution_id,
            step_id,
        } => {
            let paused = match step_id {
                Some(step) => step_status(execution_id, step)? == Some(TaskStatus::Paused),
                None => execution_status(execution_id)? == Some(ExecutionStatus::Paused),
            };
            if paused {
                Ok(Ok(Witnessed::StoreChanged))
            } else {
                not_shown(format!(
                    "{} paused",
                    target(execution_id, step_id.as_deref())
                ))
            }
        }
        SignalKind::Resume {
            execution_id,
            step_id,
        } => {
            let running = match step_id {
                Some(step) => matches!(
                    step_status(execution_id, step)?,
                    Some(TaskStatus::Pending | TaskStatus::Ready | TaskStatus::Running)
                ),
                None => execution_status(execution_id)? == Some(ExecutionStatus::Running),
            };
            if running {
                Ok(Ok(Witnessed::StoreChanged))
            } else {
                not_shown(format!(
                    "{} resumed",
                    target(execution_id, step_id.as_deref())
                ))
            }
        }
        SignalKind::Cancel {
            execution_id,
            step_id,
        } => {
            let cancelled = match step_id {
                Some(step) => step_status(execution_id, step)? == Some(TaskStatus::Cancelled),
                None => execution_status(execution_id)? == Some(ExecutionStatus::Cancelled),
            };
            if cancelled {
                Ok(Ok(Witnessed::StoreChanged))
            } else {
                not_shown(format!(
                    "{} cancelled",
                    target(execution_id, step_id.as_deref())
                ))
            }
        }
        // enki_stop_all pauses every running execution in its transaction:
        // after it, none runs. (With every execution paused by hand a forged
        // stop can only stop workers early; their tasks run again later.)
        SignalKind::StopAll => {
            let executions = store.executions(None)?;
            let running = executions
                .iter()
                .any(|e| e.status == ExecutionStatus::Running);
            let paused = executions
                .iter()
                .any(|e| e.status == ExecutionStatus::Paused);
            if paused && !running {
                Ok(Ok(Witnessed::StopAll))
            } else {
                not_shown("every execution paused by a stop".to_string())
            }
        }
        // What is shown is the store's latest report, never the file's
        // text (a later report may have replaced the one announced).
        SignalKind::WorkerReport { task_id, .. } => {
            match store.task(task_id)?.and_then(|t| t.activity) {
                Some(recorded) => Ok(Ok(Witnessed::Report {
                    task: task_id.clone(),
                    status: recorded,
                })),
                None => not_shown(format!("a report of task {task_id}")),
            }
        }
        SignalKind::Mail {
            message_id,
            from,
            to,
            ..
        } => match store.message(message_id)? {
            Some(message) if &message.from == from && &message.to == to => {
                Ok(Ok(Witnessed::Mail {
                    id: message.id,
                    from: message.from,
                    to: message.to,
                    subject: message.subject,
                    priority: message.priority,
                }))
            }
            _ => not_shown(format!("message {message_id} from {from} to {to}")),
        },
    }
}

fn target(execution: &str, step: Option<&str>) -> String {
    match step {
        Some(step) => format!("step {step} of execution {execution}"),
        None => format!("execution {execution}"),
    }
}

#[cfg(test)]
#[path = "witness_tests.rs"]
mod tests;
