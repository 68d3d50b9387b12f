//! enki's own log. Each process that does enki's work installs one
//! subscriber: everything at the chosen level goes to a size-rotated file
//! through a non-blocking writer thread, and warnings also reach the person
//! (on stderr for `enki run`, in the status line for the TUI).
//!
//! The level comes from `ENKI_LOG`, else `RUST_LOG`, in the
//! `tracing_subscriber::filter::Targets` syntax (`debug`,
//! `info,enki_acp=trace`); the default is `info`.

mod rotating;
mod warnings;

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::{Layer, Registry};

pub use rotating::RotatingFile;
pub use warnings::{HandOn, WarningSink};

/// The target of what a front end already shows the person (the
/// coordinator's `Progress`): logged to the file, never echoed as a warning.
pub const PROGRESS_TARGET: &str = "enki::progress";

/// A file is rotated when it reaches this size …
pub const MAX_BYTES: u64 = 8 * 1024 * 1024;
/// … and this many older files are kept.
pub const KEEP: usize = 3;

/// How many lines the writer thread may fall behind by before new ones are
/// dropped, for a process that runs long and may log in bursts (the
/// coordinator at `debug`): tracing-appender's own default.
pub const LONG_RUN_BUFFERED_LINES: usize =
    tracing_appender::non_blocking::DEFAULT_BUFFERED_LINES_LIMIT;
/// The same for a process that logs a few lines (`enki mcp`). The buffer is
/// allocated and written in full when the log starts: 128,000 lines are
/// 5 MB of page faults, the larger part of a server's start-up.
pub const SHORT_RUN_BUFFERED_LINES: usize = 1024;

/// Where the log goes and who else sees warnings.
pub struct LogOptions {
    /// The log file (`.enki/logs/enki.log`, `.enki/logs/mcp.log`).
    pub file: PathBuf,
    /// Who is shown warnings besides the file (none for `enki mcp`, whose
    /// stdout is protocol and whose stderr the agent may show as its own).
    pub warnings: Option<WarningSink>,
    /// [`LONG_RUN_BUFFERED_LINES`] or [`SHORT_RUN_BUFFERED_LINES`].
    pub buffered_lines: usize,
}

/// Keeps the writer thread alive; dropping it flushes what is buffered.
pub struct LogGuard {
    _writer: Option<tracing_appender::non_blocking::WorkerGuard>,
}

/// Installs the process's subscriber. A log file that cannot be opened is
/// itself a warning (shown through the sink) and the process goes on
/// without it; a second call in one process changes nothing.
pub fn init(options: LogOptions) -> LogGuard {
    let (filter, bad_level) = level_from_env();
    let opened = RotatingFile::open(&options.file, MAX_BYTES, KEEP);
    let (file_layer, guard, no_file) = match opened {
        Ok(file) => {
            let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
                .buffered_lines_limit(options.buffered_lines)
                .finish(file);
            let layer = tracing_subscriber::fmt::layer()
                .with_writer(writer)
                .with_ansi(false)
                .with_filter(filter);
            (Some(layer), Some(guard), None)
        }
        Err(e) => (
            None,
            None,
            Some(format!(
                "cannot open the log file {}: {e}; going on without it",
                options.file.display()
            )),
        ),
    };
    let warnings = options
        .warnings
        .map(|sink| warnings::WarningLayer::new(sink).with_filter(warnings::shown_filter()));
    let subscriber = Registry::default().with(file_layer).with(warnings);
    if tracing::subscriber::set_global_default(subscriber).is_ok() {
        for problem in [bad_level, no_file].into_iter().flatten() {
            tracing::warn!("{problem}");
        }
    }
    LogGuard { _writer: guard }
}

/// The level filter from `ENKI_LOG` or `RUST_LOG`, and what was wrong with
/// it when it could not be read (then the default is used).
fn level_from_env() -> (Targets, Option<String>) {
    let default = Targets::new().with_default(LevelFilter::INFO);
    for name in ["ENKI_LOG", "RUST_LOG"] {
        if let Ok(value) = std::env::var(name)
            && !value.trim().is_empty()
        {
            return match parse_level(&value) {
                Ok(filter) => (filter, None),
                Err(e) => (
                    default,
                    Some(format!(
                        "{name}={value:?} is not a log level ({e}); logging at info. Write e.g. `debug` or `info,enki_acp=trace`"
                    )),
                ),
            };
        }
    }
    (default, None)
}

fn parse_level(value: &str) -> Result<Targets, String> {
    Targets::from_str(value).map_err(|e| e.to_string())
}

/// A sink that calls `show` with each warning's text (the TUI's status line).
pub fn callback_sink(show: impl Fn(String) + Send + Sync + 'static) -> WarningSink {
    WarningSink::Callback(Arc::new(show))
}

/// Warnings on stderr, and each one's level and line handed to `hand_on`
/// as well (`enki mcp`: to its clients' `notifications/message`).
pub fn stderr_and(hand_on: impl Fn(&tracing::Level, &str) + Send + Sync + 'static) -> WarningSink {
    WarningSink::StderrAnd(Arc::new(hand_on))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_read_in_the_targets_syntax() {
        assert!(parse_level("debug").is_ok());
        assert!(parse_level("info,enki_acp=trace").is_ok());
        assert!(parse_level("enki_acp=loud").is_err());
    }
}
