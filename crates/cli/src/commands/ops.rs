//! `enki pause|resume|cancel <execution> [<step>]`, `enki retry <task>` and
//! `enki stop`: thin wrappers over `enki_coordinator::ops`.

use anyhow::Result;
pub use enki_coordinator::ops::Operation;
use enki_coordinator::ops::{self, Done};
use enki_project::Layout;
use enki_store::Store;

use super::{print_text, session};

fn open() -> Result<(Layout, Store)> {
    let layout = Layout::locate_from_env()?;
    let store = Store::open_existing(&layout.db())?;
    Ok((layout, store))
}

fn report(done: Done) -> Result<()> {
    if let Some(warning) = &done.warning {
        eprintln!("enki: warning: {warning}");
    }
    print_text(&done.message)
}

pub fn execution(op: Operation, execution: &str, step: Option<&str>) -> Result<()> {
    let (layout, mut store) = open()?;
    report(ops::steer_execution(
        &layout,
        &mut store,
        session().as_deref(),
        op,
        execution,
        step,
    )?)
}

pub fn retry(task: &str) -> Result<()> {
    let (layout, mut store) = open()?;
    let task_id = store.resolve_task(task)?;
    report(ops::retry(
        &layout,
        &mut store,
        session().as_deref(),
        &task_id,
    )?)
}

pub fn stop() -> Result<()> {
    let (layout, mut store) = open()?;
    let mut done = ops::stop_all(&layout, &mut store, session().as_deref())?;
    done.message
        .push_str(" (resume them with `enki resume <execution>`)");
    report(done)
}
