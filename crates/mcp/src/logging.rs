//! `logging/setLevel` and the server's own warnings as
//! `notifications/message`.
//!
//! `enki mcp` logs through `tracing` (`crates/log`). The process's warning
//! sink calls [`forward`] with every warning and error; they wait in a small
//! process-wide ring (the newest [`RING_CAPACITY`]) and each session takes
//! those it has not seen yet and that are at or above the level it set. A
//! session that never called `logging/setLevel` gets none, so a client that
//! did not ask is never sent a line it does not expect.

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};

use enki_jsonrpc::{ErrorObject, Message};
use serde_json::{Value, json};

/// MCP's log levels (RFC 5424 severities), least severe first.
pub const LEVELS: [&str; 8] = [
    "debug",
    "info",
    "notice",
    "warning",
    "error",
    "critical",
    "alert",
    "emergency",
];

/// How many forwarded records the ring keeps for sessions to take.
pub const RING_CAPACITY: usize = 256;

/// The `logger` name of every `notifications/message` this server sends.
const LOGGER: &str = "enki";

struct Record {
    seq: u64,
    /// Index into [`LEVELS`].
    level: usize,
    text: String,
}

struct Ring {
    next: u64,
    records: VecDeque<Record>,
}

static RING: Mutex<Ring> = Mutex::new(Ring {
    next: 0,
    records: VecDeque::new(),
});

fn ring() -> std::sync::MutexGuard<'static, Ring> {
    RING.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The MCP level of a `tracing` level.
pub fn level_of(level: &tracing::Level) -> usize {
    match *level {
        tracing::Level::ERROR => 4,
        tracing::Level::WARN => 3,
        tracing::Level::INFO => 1,
        _ => 0,
    }
}

/// Hands one logged event to the sessions (the hook of the process's
/// warning sink). Never logs itself, so it cannot loop.
pub fn forward(level: &tracing::Level, text: &str) {
    let mut ring = ring();
    let seq = ring.next;
    ring.next += 1;
    if ring.records.len() == RING_CAPACITY {
        ring.records.pop_front();
    }
    ring.records.push_back(Record {
        seq,
        level: level_of(level),
        text: text.to_string(),
    });
}

/// What one session asked for: nothing until `logging/setLevel`.
#[derive(Debug, Default)]
pub struct LogState {
    /// Index into [`LEVELS`] of the lowest level sent, once set.
    level: Option<usize>,
    /// The sequence number of the next record this session has not seen.
    cursor: u64,
}

impl LogState {
    /// The level the client set, if it did.
    pub fn level(&self) -> Option<&'static str> {
        self.level.map(|i| LEVELS[i])
    }

    /// Answers `logging/setLevel`. Records logged before the first call are
    /// not sent; later calls only change the level.
    pub fn set_level(&mut self, params: Option<&Value>) -> Result<Value, ErrorObject> {
        let level = params
            .and_then(|p| p.get("level"))
            .ok_or_else(|| ErrorObject::invalid_params(expected_level("missing `level`")))?;
        let index = level
            .as_str()
            .and_then(|l| LEVELS.iter().position(|known| *known == l))
            .ok_or_else(|| {
                ErrorObject::invalid_params(expected_level(&format!("unknown `level` {level}")))
            })?;
        if self.level.is_none() {
            self.cursor = ring().next;
        }
        self.level = Some(index);
        Ok(json!({}))
    }

    /// `notifications/message` for the records logged since the last call
    /// at or above the level; a note says how many were lost when the ring
    /// moved on faster than this session took them.
    pub fn take(&mut self) -> Vec<Message> {
        let Some(min) = self.level else {
            return Vec::new();
        };
        let (picked, lost) = {
            let ring = ring();
            if ring.next == self.cursor {
                return Vec::new();
            }
            let oldest = ring.records.front().map_or(ring.next, |r| r.seq);
            let lost = oldest.saturating_sub(self.cursor);
            let picked: Vec<(usize, String)> = ring
                .records
                .iter()
                .filter(|r| r.seq >= self.cursor && r.level >= min)
                .map(|r| (r.level, r.text.clone()))
                .collect();
            self.cursor = ring.next;
            (picked, lost)
        };
        let mut messages = Vec::new();
        if lost > 0 && min <= 3 {
            messages.push(notification(
                3,
                &format!("{lost} log messages were dropped before they could be sent"),
            ));
        }
        messages.extend(
            picked
                .iter()
                .map(|(level, text)| notification(*level, text)),
        );
        messages
    }
}

fn expected_level(what: &str) -> String {
    format!("{what}; expected one of {}", LEVELS.join(", "))
}

fn notification(level: usize, text: &str) -> Message {
    Message::notification(
        "notifications/message",
        Some(json!({"level": LEVELS[level], "logger": LOGGER, "data": text})),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(messages: &[Message]) -> Vec<(String, String)> {
        messages
            .iter()
            .map(|m| {
                let v = serde_json::to_value(m).expect("encodes");
                (
                    v["params"]["level"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    v["params"]["data"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect()
    }

    /// One test owns the process-wide ring (tests run in parallel threads).
    #[test]
    fn records_reach_a_session_at_or_above_its_level_and_only_after_it_set_one() {
        let mut session = LogState::default();
        forward(&tracing::Level::WARN, "before anyone asked");
        assert!(session.take().is_empty(), "no level set, nothing sent");

        let bad = session.set_level(Some(&json!({"level": "loud"})));
        let message = bad.expect_err("unknown level").message;
        assert!(message.contains("debug, info, notice"), "{message}");
        assert!(session.set_level(None).is_err());

        session
            .set_level(Some(&json!({"level": "warning"})))
            .expect("a known level");
        assert_eq!(session.level(), Some("warning"));
        assert!(session.take().is_empty(), "what came before is not sent");
        forward(&tracing::Level::INFO, "an info line");
        forward(&tracing::Level::WARN, "a warning");
        forward(&tracing::Level::ERROR, "an error");
        assert_eq!(
            texts(&session.take()),
            [
                ("warning".to_string(), "a warning".to_string()),
                ("error".to_string(), "an error".to_string())
            ]
        );
        assert!(session.take().is_empty(), "each record is sent once");

        session
            .set_level(Some(&json!({"level": "error"})))
            .expect("a known level");
        forward(&tracing::Level::WARN, "a warning below the level");
        assert!(session.take().is_empty());

        for i in 0..RING_CAPACITY + 5 {
            forward(&tracing::Level::ERROR, &format!("error {i}"));
        }
        let sent = session.take();
        assert_eq!(sent.len(), RING_CAPACITY, "the note needs warning");
        session
            .set_level(Some(&json!({"level": "debug"})))
            .expect("a known level");
        for i in 0..RING_CAPACITY + 1 {
            forward(&tracing::Level::INFO, &format!("info {i}"));
        }
        let sent = texts(&session.take());
        assert_eq!(sent.len(), RING_CAPACITY + 1);
        assert!(
            sent[0].1.contains("1 log messages were dropped"),
            "{sent:?}"
        );
    }
}
