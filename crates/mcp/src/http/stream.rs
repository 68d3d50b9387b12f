//! The server's event stream of a session (GET `/mcp`): the notifications a
//! session asked for (resource updates, prompt list changes, log messages)
//! as server-sent events, since over HTTP they cannot ride on the answers.
//!
//! One stream per session; a new GET replaces the old one, which ends. While
//! a stream is open, its session looks for due notifications every
//! [`TICK`] and after each of its requests (the stdio loop's two moments),
//! counts as in use (it does not expire), and a comment line every
//! [`KEEP_ALIVE`] lets a vanished client be noticed. Without a stream
//! nothing is polled, so nothing is lost: the first poll of the next stream
//! reports what changed. No event ids, no resumption (`Last-Event-ID`).

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::{Arc, MutexGuard, PoisonError, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::body::{Body, Frame};
use tokio::sync::mpsc;

use super::sessions::{Session, Sessions};
use crate::watch::TICK;

/// Events a slow reader may have waiting before more are dropped.
const BACKLOG: usize = 64;

/// How often an idle stream sends a comment line.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// A session's current stream, if any.
#[derive(Default)]
pub(crate) struct Slot {
    sender: Option<mpsc::Sender<Bytes>>,
    /// Counts streams, so that the ticker of a replaced one stops.
    generation: u64,
}

/// The body of a GET response: events as they come, until the session or
/// the stream ends.
pub(crate) struct Events {
    receiver: mpsc::Receiver<Bytes>,
}

impl Body for Events {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.get_mut()
            .receiver
            .poll_recv(cx)
            .map(|event| event.map(|bytes| Ok(Frame::data(bytes))))
    }
}

/// One JSON-RPC message as a server-sent event.
pub(crate) fn event(json: &str) -> Bytes {
    Bytes::from(format!(
        "event: message\ndata: {}\n\n",
        json.trim_end_matches('\n')
    ))
}

impl Session {
    fn slot(&self) -> MutexGuard<'_, Slot> {
        self.stream.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether a client reads this session's stream.
    pub fn has_stream(&self) -> bool {
        self.slot().sender.as_ref().is_some_and(|s| !s.is_closed())
    }

    /// Sends notifications on the stream; dropped when there is none or its
    /// reader is [`BACKLOG`] events behind.
    pub fn push(&self, lines: &[String]) {
        let slot = self.slot();
        let Some(sender) = &slot.sender else {
            return;
        };
        for line in lines {
            if sender.try_send(event(line)).is_err() {
                tracing::debug!("a notification was dropped: its event stream is full or gone");
            }
        }
    }

    /// Ends the stream (the session ends).
    pub fn end_stream(&self) {
        self.slot().sender = None;
    }

    fn generation(&self) -> u64 {
        self.slot().generation
    }
}

/// Opens the session's stream, ending the one before, and starts its
/// ticker.
pub(crate) fn open(session: &Arc<Session>, sessions: &Arc<Sessions>) -> Events {
    let (sender, receiver) = mpsc::channel(BACKLOG);
    let generation = {
        let mut slot = session.slot();
        slot.sender = Some(sender);
        slot.generation += 1;
        slot.generation
    };
    tokio::spawn(tick(
        Arc::downgrade(session),
        Arc::clone(sessions),
        generation,
    ));
    Events { receiver }
}

/// Every [`TICK`] while the stream is this one and its session is open:
/// the notifications due, or now and then a comment.
async fn tick(session: Weak<Session>, sessions: Arc<Sessions>, generation: u64) {
    let mut ticks = tokio::time::interval(TICK);
    let mut last_sent = Instant::now();
    loop {
        ticks.tick().await;
        let Some(session) = session.upgrade() else {
            return;
        };
        if session.generation() != generation || !session.has_stream() {
            return;
        }
        if !sessions.is_open(&session.id) {
            session.end_stream();
            return;
        }
        session.touch();
        let polled = Arc::clone(&session);
        let lines = tokio::task::spawn_blocking(move || polled.server().notifications(true))
            .await
            .unwrap_or_default();
        if !lines.is_empty() {
            session.push(&lines);
            last_sent = Instant::now();
        } else if last_sent.elapsed() >= KEEP_ALIVE {
            let slot = session.slot();
            if let Some(sender) = &slot.sender {
                let _ignored_when_full = sender.try_send(Bytes::from_static(b": keep-alive\n\n"));
            }
            last_sent = Instant::now();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_is_one_event_whatever_its_line_ending() {
        assert_eq!(
            event("{\"a\":1}\n"),
            Bytes::from_static(b"event: message\ndata: {\"a\":1}\n\n")
        );
        assert_eq!(
            event("{}"),
            Bytes::from_static(b"event: message\ndata: {}\n\n")
        );
    }
}
