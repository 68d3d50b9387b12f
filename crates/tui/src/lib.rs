//! enki's interactive terminal UI: a chat with the planner, live workers
//! and their transcripts, the tasks of each execution, the merge queue and
//! unread mail, over the same coordinator as headless `enki run`.
//!
//! The state machine ([`app`], [`keys`], [`input`]) is pure and tested
//! without a terminal; [`ui`] draws it; [`run`] wires the coordinator, the
//! store thread and the terminal together.

pub mod app;
pub mod backend;
pub mod data;
pub mod files;
pub mod input;
pub mod keys;
pub mod markdown;
pub mod model;
pub mod ops;
pub mod permission;
pub mod progress;
pub mod run;
pub mod terminal;
pub mod text;
pub mod theme;
pub mod ui;

pub use run::{TuiOptions, run_tui};
