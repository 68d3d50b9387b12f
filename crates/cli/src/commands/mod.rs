//! One file per command, plus what they share: finding and opening the
//! project's database, the session scope, and printing.

pub mod agent_test;
pub mod agents;
pub mod dag;
pub mod demo;
pub mod doctor;
mod doctor_agent;
pub mod init;
pub mod logs;
pub mod mail;
pub mod mcp;
pub mod ops;
pub mod review;
pub mod run;
pub mod sim_agent;
pub mod status;
pub mod task;
pub mod tasks;
pub mod usage;

use std::io::Write;

use anyhow::Result;
use enki_project::Layout;
use enki_store::Store;
use serde::Serialize;

/// Opens the database of the project found through `ENKI_DIR` or the
/// current directory. A missing `.enki/` names the path and suggests
/// `enki init`; a database from a newer enki is refused by the store.
pub fn open_store() -> Result<Store> {
    let layout = Layout::locate_from_env()?;
    Ok(Store::open_existing(&layout.db())?)
}

/// Whether a coordinator holds this project's lock (agents run only under one).
pub fn coordinator_runs() -> Result<bool> {
    let layout = enki_project::Layout::locate_from_env()?;
    Ok(!matches!(
        enki_coordinator::CoordinatorLock::holder(&layout.dir)?,
        enki_coordinator::Holder::Nobody
    ))
}

/// The coordinator session listings are limited to (`ENKI_SESSION_ID`).
pub fn session() -> Option<String> {
    std::env::var("ENKI_SESSION_ID")
        .ok()
        .filter(|s| !s.trim().is_empty())
}

/// `[prices]` of the configuration cascade, for cost estimates. A
/// configuration that cannot be read is reported on stderr and no cost is
/// estimated (the inspection goes on).
pub fn prices() -> enki_core::usage::Prices {
    let home = std::env::var_os("HOME").map(std::path::PathBuf::from);
    let dir = Layout::locate_from_env().ok().map(|layout| layout.dir);
    match enki_config::Config::load(home.as_deref(), dir.as_deref()) {
        Ok(config) => config.prices,
        Err(e) => {
            eprintln!("enki: warning: {e}; costs are not estimated from [prices]");
            enki_core::usage::Prices::default()
        }
    }
}

/// Writes `text` and a newline to stdout. A closed pipe (`enki tasks | head`)
/// is not an error.
pub fn print_text(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}").and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

/// Prints one pretty JSON document on stdout.
pub fn print_json(value: &impl Serialize) -> Result<()> {
    print_text(&serde_json::to_string_pretty(value)?)
}
