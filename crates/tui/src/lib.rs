//! enki's interactive terminal UI: a chat with the planner, live workers
//! and their transcripts, the tasks of each execution, the merge queue and
//! unread mail, over the same coordinator as headless `enki run`.
//!
//! Imports point one way. [`state`] holds the [`state::App`] and its
//! read-only queries; [`msg`] what goes in (messages) and out (effects);
//! [`update`] is the one function that changes the state; [`ui`] draws
//! from `&App` only. Below them all: [`layout`], [`wrap`], [`markdown`],
//! [`text`], [`theme`], the message editor ([`input`]) and the store's
//! rows ([`data`]). Above them: [`run`] wires the coordinator, the store
//! thread ([`backend`]) and the terminal together. Nothing but `run` does
//! IO, so the behaviour is tested without a terminal.

pub mod backend;
pub mod data;
pub mod files;
pub mod help;
pub mod input;
pub mod layout;
pub mod markdown;
pub mod msg;
pub mod ops;
pub mod permission;
pub mod run;
pub mod state;
pub mod terminal;
pub mod text;
pub mod theme;
pub mod ui;
pub mod update;
pub mod wrap;

pub use run::{TuiOptions, run_tui};
