//! The coordinator: a thin async adapter around the synchronous core.
//!
//! It owns the database thread, watches `.enki/events/`, runs timers,
//! spawns workers (an ACP agent in a copy of the project each), runs the
//! merge queue and the planner, and turns all of that into
//! `enki_core::engine::Command`s. The TUI and headless `enki run` are two
//! front ends over [`run`].

mod cleaner;
mod context;
mod continuation;
mod copy_setup;
mod db;
pub mod holds;
mod landing;
mod leftovers;
mod lock;
mod mcp_host;
mod merge;
pub mod ops;
pub mod plan;
mod planner;
mod planner_link;
mod progress;
pub mod prompt;
mod reconcile;
mod record;
mod reply;
mod resolve;
pub mod review;
mod runtime;
mod sandbox;
pub mod session;
mod signs;
mod snapshot;
mod start;
mod stop_signal;
mod transcript;
mod usage;
mod verify;
mod worker;

pub use cleaner::finish_clean_ups;
pub use context::{Context, Shared};
pub use db::Db;
pub use lock::{CoordinatorLock, Holder, LockError};
pub use mcp_host::{Grant, McpHost, McpIdentity};
pub use progress::{Outcome, Progress};
pub use runtime::{Control, RunOptions, RunSummary, run};
pub use sandbox::mcp_over_stdio;
pub use start::{StartError, StartOptions, prepare};
pub use stop_signal::stop_signal;
pub use transcript::{ToolStatus, TranscriptEntry};
