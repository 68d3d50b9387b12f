//! Signal files: how short-lived `enki mcp` processes wake the coordinator (see
//! `SIGNALS.md`).
//!
//! The database is the truth; a signal is only a wake-up with a hint of what changed. Writers
//! drop one small JSON file per change ([`write_signal`]); the coordinator lists them in
//! creation (ULID) order ([`scan`]), applies each and then deletes it ([`acknowledge`]), so
//! delivery is at-least-once. [`SignalWatcher`] tells the coordinator when to scan: file events,
//! a periodic rescan and an initial wake, so a lost event only delays a reaction.

mod name;
mod scan;
mod signal;
mod watch;
mod write;

pub use name::{REJECTED_DIR, is_signal_file_name};
pub use scan::{PendingSignal, Rejected, Scan, acknowledge, scan, set_aside};
pub use signal::{FORMAT_VERSION, Origin, ParseError, Signal, SignalKind};
pub use watch::{DEFAULT_RESCAN_EVERY, SignalWatcher, Wake};
pub use write::write_signal;
