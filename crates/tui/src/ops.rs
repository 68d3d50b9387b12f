//! `/pause`, `/resume`, `/cancel`, `/retry` and `/stop`: the same store
//! changes and signal files as `enki pause` etc. (crates/cli/src/commands/
//! ops.rs), so the coordinator reacts at once and another terminal sees the
//! same state. Runs on the store thread, never on the render path.

use enki_project::Layout;
use enki_signals::{Origin, Signal, SignalKind, write_signal};
use enki_store::Store;

use crate::app::Op;
use crate::input::Target;

/// Drops the signal; the store already holds the change, so a failure only
/// delays the coordinator until its next rescan.
fn signal(layout: &Layout, session: &str, kind: SignalKind) -> Option<String> {
    let signal = Signal::new(
        kind,
        Some(session.to_string()),
        Origin {
            role: "user".into(),
            task_id: None,
        },
    );
    write_signal(&layout.events(), &signal).err().map(|e| {
        format!(
            " (could not write a signal file: {e}; the coordinator will notice within a second)"
        )
    })
}

/// Carries out `op`; returns what happened, in the CLI's words.
pub fn run(layout: &Layout, store: &mut Store, session: &str, op: &Op) -> Result<String, String> {
    let text = |e: enki_store::StoreError| e.to_string();
    match op {
        Op::Pause(target) | Op::Resume(target) | Op::Cancel(target) => {
            let Target { execution, step } = target;
            let execution = execution.as_deref().ok_or("which execution?")?;
            let execution_id = store.resolve_execution(execution).map_err(text)?;
            let step = step.as_deref();
            let message = match op {
                Op::Pause(_) => store.pause(&execution_id, step).map_err(text)?,
                Op::Resume(_) => store.resume(&execution_id, step).map_err(text)?,
                _ => {
                    let cancelled = store.cancel(&execution_id, step).map_err(text)?;
                    format!(
                        "cancelled {} tasks of execution {execution_id}",
                        cancelled.len()
                    )
                }
            };
            let (execution_id, step_id) = (execution_id, step.map(str::to_string));
            let kind = match op {
                Op::Pause(_) => SignalKind::Pause {
                    execution_id,
                    step_id,
                },
                Op::Resume(_) => SignalKind::Resume {
                    execution_id,
                    step_id,
                },
                _ => SignalKind::Cancel {
                    execution_id,
                    step_id,
                },
            };
            let warning = signal(layout, session, kind).unwrap_or_default();
            Ok(format!("{message}{warning}"))
        }
        Op::Retry { task, execution } => {
            let task_id = match store.resolve_task(task) {
                Ok(id) => id,
                // A step id of the execution in view works too.
                Err(e) => execution
                    .as_deref()
                    .and_then(|x| store.step_map(x).ok())
                    .and_then(|steps| steps.get(task).cloned())
                    .ok_or_else(|| e.to_string())?,
            };
            let changed = store.retry_task(&task_id).map_err(text)?;
            let warning = signal(
                layout,
                session,
                SignalKind::RetryTask {
                    task_id: task_id.clone(),
                },
            )
            .unwrap_or_default();
            Ok(format!(
                "task {task_id} is pending again ({} blocked dependents unblocked){warning}",
                changed.len().saturating_sub(1)
            ))
        }
        Op::Stop => {
            let paused = store.pause_all(None).map_err(text)?;
            let warning = signal(layout, session, SignalKind::StopAll).unwrap_or_default();
            Ok(format!(
                "stopping every worker; {} executions paused (resume them with /resume <execution>){warning}",
                paused.len()
            ))
        }
    }
}
