//! `/pause`, `/resume`, `/cancel`, `/retry`, `/followup`, `/stop` and the
//! review's approve and reject: the
//! same store changes and signal files as `enki pause` etc.
//! (crates/cli/src/commands/ops.rs), so the coordinator reacts at once and
//! another terminal sees the same state. Runs on the store thread, never on
//! the render path.

use enki_coordinator::ops::{self, Done, Operation};
use enki_project::Layout;
use enki_store::Store;

use crate::input::Target;
use crate::msg::Op;

fn said(done: Done) -> String {
    match done.warning {
        Some(warning) => format!("{} ({warning})", done.message),
        None => done.message,
    }
}

/// Carries out `op`; returns what happened, in the CLI's words.
pub fn run(layout: &Layout, store: &mut Store, session: &str, op: &Op) -> Result<String, String> {
    let text = |e: enki_store::StoreError| e.to_string();
    match op {
        Op::Pause(target) | Op::Resume(target) | Op::Cancel(target) => {
            let Target { execution, step } = target;
            let execution = execution.as_deref().ok_or("which execution?")?;
            let operation = match op {
                Op::Pause(_) => Operation::Pause,
                Op::Resume(_) => Operation::Resume,
                _ => Operation::Cancel,
            };
            ops::steer_execution(
                layout,
                store,
                Some(session),
                operation,
                execution,
                step.as_deref(),
            )
            .map(said)
            .map_err(text)
        }
        Op::Retry { task, execution } => {
            let task_id = resolve_task(store, task, execution.as_deref())?;
            ops::retry(layout, store, Some(session), &task_id)
                .map(said)
                .map_err(text)
        }
        Op::Mail { to, reply_to, text } => {
            ops::mail_from_user(layout, store, Some(session), to, reply_to.as_deref(), text)
                .map(said)
                .map_err(|e| e.to_string())
        }
        Op::FollowUp {
            task,
            execution,
            request,
        } => {
            let task_id = resolve_task(store, task, execution.as_deref())?;
            ops::follow_up(layout, store, Some(session), &task_id, request)
                .map(said)
                .map_err(text)
        }
        Op::Approve(task) => ops::approve(layout, store, Some(session), task)
            .map(said)
            .map_err(text),
        Op::Reject { task, note } => {
            ops::reject(layout, store, Some(session), task, note.as_deref())
                .map(said)
                .map_err(text)
        }
        Op::Stop => {
            let mut done = ops::stop_all(layout, store, None).map_err(text)?;
            done.message
                .push_str(" (resume them with /resume <execution>)");
            Ok(said(done))
        }
    }
}

/// A task id or prefix, or a step id of the execution in view.
fn resolve_task(store: &Store, task: &str, execution: Option<&str>) -> Result<String, String> {
    match store.resolve_task(task) {
        Ok(id) => Ok(id),
        Err(e) => execution
            .and_then(|x| store.step_map(x).ok())
            .and_then(|steps| steps.get(task).cloned())
            .ok_or_else(|| e.to_string()),
    }
}
