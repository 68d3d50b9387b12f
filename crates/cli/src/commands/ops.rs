//! `enki pause|resume|cancel <execution> [<step>]`, `enki retry <task>` and
//! `enki stop`: the same store changes and signal files as the planner's
//! MCP tools, so a running coordinator reacts at once (and one started later
//! finds the store already changed).

use anyhow::Result;
use enki_project::Layout;
use enki_signals::{Origin, Signal, SignalKind, write_signal};
use enki_store::Store;

use super::{print_text, session};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Pause,
    Resume,
    Cancel,
}

fn open() -> Result<(Layout, Store)> {
    let layout = Layout::locate_from_env()?;
    let store = Store::open_existing(&layout.db())?;
    Ok((layout, store))
}

/// Drops the signal; the store already holds the change, so a failure only
/// delays the coordinator until its next rescan.
fn signal(layout: &Layout, kind: SignalKind) {
    let signal = Signal::new(
        kind,
        session(),
        Origin {
            role: "user".into(),
            task_id: None,
        },
    );
    if let Err(e) = write_signal(&layout.events(), &signal) {
        eprintln!(
            "enki: warning: could not write a signal file ({e}); a running coordinator will notice within a second"
        );
    }
}

pub fn execution(op: Operation, execution: &str, step: Option<&str>) -> Result<()> {
    let (layout, mut store) = open()?;
    let execution_id = store.resolve_execution(execution)?;
    let message = match op {
        Operation::Pause => store.pause(&execution_id, step)?,
        Operation::Resume => store.resume(&execution_id, step)?,
        Operation::Cancel => {
            let cancelled = store.cancel(&execution_id, step)?;
            format!(
                "cancelled {} tasks of execution {execution_id}",
                cancelled.len()
            )
        }
    };
    let (execution_id, step_id) = (execution_id.clone(), step.map(str::to_string));
    let kind = match op {
        Operation::Pause => SignalKind::Pause {
            execution_id,
            step_id,
        },
        Operation::Resume => SignalKind::Resume {
            execution_id,
            step_id,
        },
        Operation::Cancel => SignalKind::Cancel {
            execution_id,
            step_id,
        },
    };
    signal(&layout, kind);
    print_text(&message)
}

pub fn retry(task: &str) -> Result<()> {
    let (layout, mut store) = open()?;
    let task_id = store.resolve_task(task)?;
    let changed = store.retry_task(&task_id)?;
    signal(
        &layout,
        SignalKind::RetryTask {
            task_id: task_id.clone(),
        },
    );
    print_text(&format!(
        "task {task_id} is pending again ({} blocked dependents unblocked)",
        changed.len().saturating_sub(1)
    ))
}

pub fn stop() -> Result<()> {
    let (layout, mut store) = open()?;
    let paused = store.pause_all(session().as_deref())?;
    signal(&layout, SignalKind::StopAll);
    print_text(&format!(
        "stopping every worker; {} executions paused (resume them with `enki resume <execution>`)",
        paused.len()
    ))
}
