//! Warnings shown to the person as they happen, besides the log file: one
//! line each, on stderr (`enki run`) or handed to a front end (the TUI).

use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::Arc;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::FilterFn;
use tracing_subscriber::layer::{Context, Layer};

use crate::PROGRESS_TARGET;

/// Where warnings are shown.
#[derive(Clone)]
pub enum WarningSink {
    /// `enki: warning: …` lines on stderr.
    Stderr,
    /// A front end's own display.
    Callback(Arc<dyn Fn(String) + Send + Sync>),
    /// stderr as [`WarningSink::Stderr`], and the level and line handed on
    /// (`enki mcp` sends them to its clients that asked for log messages).
    StderrAnd(HandOn),
}

/// What [`WarningSink::StderrAnd`] hands each warning's level and line to.
pub type HandOn = Arc<dyn Fn(&Level, &str) + Send + Sync>;

/// Warnings and errors, except what the front end already shows as progress.
pub(crate) fn shown_filter() -> FilterFn<fn(&tracing::Metadata<'_>) -> bool> {
    FilterFn::new(|meta| *meta.level() <= Level::WARN && meta.target() != PROGRESS_TARGET)
}

pub(crate) struct WarningLayer {
    sink: WarningSink,
}

impl WarningLayer {
    pub(crate) fn new(sink: WarningSink) -> WarningLayer {
        WarningLayer { sink }
    }
}

impl<S: Subscriber> Layer<S> for WarningLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut text = Text::default();
        event.record(&mut text);
        let line = text.line();
        let to_stderr = |line: &str| {
            let level = if *event.metadata().level() == Level::ERROR {
                "error"
            } else {
                "warning"
            };
            let _ = writeln!(std::io::stderr().lock(), "enki: {level}: {line}");
        };
        match &self.sink {
            WarningSink::Stderr => to_stderr(&line),
            WarningSink::Callback(show) => show(line),
            WarningSink::StderrAnd(hand_on) => {
                to_stderr(&line);
                hand_on(event.metadata().level(), &line);
            }
        }
    }
}

/// The event's message, then its other fields as `name=value`.
#[derive(Default)]
struct Text {
    message: String,
    fields: String,
}

impl Text {
    fn line(self) -> String {
        if self.fields.is_empty() {
            self.message
        } else {
            format!("{} ({})", self.message, self.fields.trim_start())
        }
    }
}

impl Visit for Text {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = value.to_string();
        } else {
            let _ = write!(self.fields, " {}={value}", field.name());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.message = format!("{value:?}");
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    #[test]
    fn warnings_reach_the_sink_with_their_fields_but_progress_and_info_do_not() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = {
            let seen = seen.clone();
            WarningSink::Callback(Arc::new(move |line| seen.lock().unwrap().push(line)))
        };
        let subscriber = tracing_subscriber::registry()
            .with(WarningLayer::new(sink).with_filter(shown_filter()));
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(path = "/x", "could not remove a finished copy");
            tracing::info!("a worker started");
            tracing::warn!(target: PROGRESS_TARGET, "already shown as progress");
            tracing::error!("the store is gone");
        });
        assert_eq!(
            *seen.lock().unwrap(),
            vec![
                "could not remove a finished copy (path=/x)".to_string(),
                "the store is gone".to_string()
            ]
        );
    }

    #[test]
    fn a_sink_that_hands_warnings_on_gets_their_levels() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = {
            let seen = seen.clone();
            crate::stderr_and(move |level, line| {
                seen.lock().unwrap().push((*level, line.to_string()));
            })
        };
        let subscriber = tracing_subscriber::registry()
            .with(WarningLayer::new(sink).with_filter(shown_filter()));
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!("a bad role file");
            tracing::info!("not handed on");
            tracing::error!("the store is gone");
        });
        assert_eq!(
            *seen.lock().unwrap(),
            vec![
                (Level::WARN, "a bad role file".to_string()),
                (Level::ERROR, "the store is gone".to_string())
            ]
        );
    }
}
