//! `enki pause|resume|cancel <execution> [<step>]`, `enki retry <task>`,
//! `enki followup <task> <request>` and `enki stop`: thin wrappers over
//! `enki_coordinator::ops`.

use anyhow::Result;
pub use enki_coordinator::ops::Operation;
use enki_coordinator::ops::{self, Done};
use enki_coordinator::{CoordinatorLock, Holder};
use enki_project::Layout;
use enki_store::Store;

use super::{print_text, session};

pub(super) fn open() -> Result<(Layout, Store)> {
    let layout = Layout::locate_from_env()?;
    let store = Store::open_existing(&layout.db())?;
    Ok((layout, store))
}

pub(super) fn report(done: Done) -> Result<()> {
    if let Some(warning) = &done.warning {
        eprintln!("enki: warning: {warning}");
    }
    print_text(&done.message)
}

/// Says how the change takes effect when no coordinator runs to apply it.
pub(super) fn unless_idle(layout: &Layout, mut done: Done) -> Done {
    if matches!(CoordinatorLock::holder(&layout.dir), Ok(Holder::Nobody)) {
        done.message.push_str(
            "\nno coordinator runs in this project: `enki run` (headless) or `enki` (TUI) carries on from here",
        );
    }
    done
}

pub fn execution(op: Operation, execution: &str, step: Option<&str>) -> Result<()> {
    let (layout, mut store) = open()?;
    let done = ops::steer_execution(
        &layout,
        &mut store,
        session().as_deref(),
        op,
        execution,
        step,
    )?;
    report(match op {
        Operation::Resume => unless_idle(&layout, done),
        _ => done,
    })
}

pub fn retry(task: &str) -> Result<()> {
    let (layout, mut store) = open()?;
    let task_id = store.resolve_task(task)?;
    let done = ops::retry(&layout, &mut store, session().as_deref(), &task_id)?;
    report(unless_idle(&layout, done))
}

pub fn follow_up(task: &str, request: &str) -> Result<()> {
    let (layout, mut store) = open()?;
    let task_id = store.resolve_task(task)?;
    let done = ops::follow_up(&layout, &mut store, session().as_deref(), &task_id, request)?;
    report(unless_idle(&layout, done))
}

pub fn stop() -> Result<()> {
    let (layout, mut store) = open()?;
    let mut done = ops::stop_all(&layout, &mut store, session().as_deref())?;
    done.message
        .push_str(" (resume them with `enki resume <execution>`)");
    report(done)
}
