//! The server-sent event streams of a session: the standalone stream (GET
//! `/mcp`) with the notifications the session asked for, and the streams
//! that answer a POST (one event, or a request of the server to the client
//! followed by the answer: `link.rs`).
//!
//! Every stream has a number within its session, and every event an id
//! `STREAM-N` (its stream, then its place in it), so ids are unique within
//! the session and name their stream. The session keeps its newest events
//! ([`MAX_KEPT_EVENTS`], [`MAX_KEPT_BYTES`]); a client whose connection broke
//! sends GET with `Last-Event-ID` and gets what came after that event on
//! that stream, and no other's, then the rest of the stream as it comes
//! ([`resume`]). An id whose successors are no longer kept is refused with
//! what to do. A reader that falls [`BACKLOG`] events behind loses its
//! connection, not its events: it resumes from the last id it read.
//!
//! One standalone stream per session; a new GET replaces the old one, which
//! ends. While it is read, its session looks for due notifications every
//! [`TICK`] and after each of its requests (the stdio loop's two moments),
//! counts as in use (it does not expire), and a comment line every
//! [`KEEP_ALIVE`] lets a vanished client be noticed. Without a reader
//! nothing is polled, so nothing is lost: the next poll reports what
//! changed. Sessions of 2025-11-25 get the priming event that revision asks
//! for (an id and empty data) first on every stream.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::{Arc, MutexGuard, PoisonError, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::body::{Body, Frame};
use tokio::sync::mpsc;

use super::link::Pending;
use super::sessions::{Session, Sessions};
use crate::watch::TICK;

/// Events a slow reader may have waiting before its connection is ended.
const BACKLOG: usize = 64;

/// How often an idle stream sends a comment line.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The newest events a session keeps for clients that resume.
pub(crate) const MAX_KEPT_EVENTS: usize = 256;

/// At most this many bytes of them (the newest event is kept whatever its
/// size).
const MAX_KEPT_BYTES: usize = 1024 * 1024;

/// Streams a session remembers, so that an id of an older one is answered
/// as too old.
const MAX_STREAMS: usize = 64;

/// The revision that asks for a priming event on each stream.
const PRIMING_VERSION: &str = "2025-11-25";

/// The event streams of one session, and a request of its server waiting
/// for the client's response.
#[derive(Default)]
pub(crate) struct Slot {
    /// Streams opened so far; the next one is `opened + 1`.
    opened: u64,
    /// The stream GET opened last, if any.
    standalone: Option<u64>,
    /// Counts readers of the standalone stream, so that the ticker of a
    /// replaced one stops.
    generation: u64,
    /// The streams remembered, oldest first.
    streams: VecDeque<StreamState>,
    /// The events kept for replay, oldest first.
    kept: VecDeque<KeptEvent>,
    kept_bytes: usize,
    /// A request of the server waiting for the client's response
    /// (`link.rs`).
    pub(super) pending: Option<Pending>,
}

struct StreamState {
    number: u64,
    /// The place of its last event (0 before the first).
    last: u64,
    /// Its events up to this place are no longer kept.
    forgotten: u64,
    /// No more events will come: the answer was written, or a newer GET
    /// replaced it.
    finished: bool,
    /// Where its events go while a client reads it.
    reader: Option<mpsc::Sender<Bytes>>,
}

struct KeptEvent {
    stream: u64,
    place: u64,
    frame: Bytes,
}

/// The body of an event-stream response: events as they come, until the
/// stream ends.
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

impl From<mpsc::Receiver<Bytes>> for Events {
    fn from(receiver: mpsc::Receiver<Bytes>) -> Events {
        Events { receiver }
    }
}

/// One JSON-RPC message as a server-sent event without an id (answers
/// outside a session).
pub(crate) fn event(json: &str) -> Bytes {
    Bytes::from(format!(
        "event: message\ndata: {}\n\n",
        json.trim_end_matches('\n')
    ))
}

fn event_with_id(stream: u64, place: u64, json: &str) -> Bytes {
    Bytes::from(format!(
        "id: {stream}-{place}\nevent: message\ndata: {}\n\n",
        json.trim_end_matches('\n')
    ))
}

/// `STREAM-N` as sent in an `id:` line.
fn parse_event_id(id: &str) -> Option<(u64, u64)> {
    let (stream, place) = id.trim().split_once('-')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(stream) || !digits(place) {
        return None;
    }
    Some((stream.parse().ok()?, place.parse().ok()?))
}

impl Slot {
    fn state(&mut self, number: u64) -> Option<&mut StreamState> {
        self.streams.iter_mut().find(|s| s.number == number)
    }

    /// A new stream, read by `reader`; the oldest remembered one is
    /// forgotten past [`MAX_STREAMS`] (a finished one first).
    fn new_stream(&mut self, reader: mpsc::Sender<Bytes>) -> u64 {
        self.opened += 1;
        if self.streams.len() >= MAX_STREAMS {
            let oldest = self.streams.iter().position(|s| s.finished).unwrap_or(0);
            self.streams.remove(oldest);
        }
        self.streams.push_back(StreamState {
            number: self.opened,
            last: 0,
            forgotten: 0,
            finished: false,
            reader: Some(reader),
        });
        self.opened
    }

    /// Writes a message as the next event of `stream`, keeps it for replay,
    /// and ends the reader's connection when it is [`BACKLOG`] behind (it
    /// resumes from the last id it read).
    fn write(&mut self, stream: u64, json: &str) {
        let Some(state) = self.state(stream) else {
            return;
        };
        state.last += 1;
        let place = state.last;
        let frame = event_with_id(stream, place, json);
        if let Some(reader) = &state.reader
            && reader.try_send(frame.clone()).is_err()
        {
            tracing::debug!("an event stream's reader is gone or too slow: its connection ends");
            state.reader = None;
        }
        self.kept_bytes += frame.len();
        self.kept.push_back(KeptEvent {
            stream,
            place,
            frame,
        });
        while self.kept.len() > 1
            && (self.kept.len() > MAX_KEPT_EVENTS || self.kept_bytes > MAX_KEPT_BYTES)
        {
            let Some(dropped) = self.kept.pop_front() else {
                break;
            };
            self.kept_bytes -= dropped.frame.len();
            if let Some(state) = self.state(dropped.stream) {
                state.forgotten = state.forgotten.max(dropped.place);
            }
        }
    }

    fn standalone_is_read(&self) -> bool {
        self.standalone
            .and_then(|n| self.streams.iter().find(|s| s.number == n))
            .and_then(|s| s.reader.as_ref())
            .is_some_and(|r| !r.is_closed())
    }
}

/// A channel for a stream's reader, with room for `replay` events besides
/// the [`BACKLOG`].
fn channel(replay: usize) -> (mpsc::Sender<Bytes>, Events) {
    let (sender, receiver) = mpsc::channel(BACKLOG + replay);
    (sender, Events { receiver })
}

impl Session {
    pub(super) fn slot(&self) -> MutexGuard<'_, Slot> {
        self.stream.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The priming event of a new stream, for the revision that asks for it.
    fn prime(&self, reader: &mpsc::Sender<Bytes>, stream: u64) {
        if self.version == PRIMING_VERSION {
            let _fits = reader.try_send(Bytes::from(format!("id: {stream}-0\ndata: \n\n")));
        }
    }

    /// Whether a client reads this session's standalone stream.
    pub fn has_stream(&self) -> bool {
        self.slot().standalone_is_read()
    }

    /// Sends notifications (or a request of the server) on the standalone
    /// stream; nothing when it has no reader.
    pub fn push(&self, lines: &[String]) {
        if lines.is_empty() {
            return;
        }
        let mut slot = self.slot();
        let Some(standalone) = slot.standalone else {
            return;
        };
        for line in lines {
            slot.write(standalone, line);
        }
    }

    /// A new stream answering a POST, and its body.
    pub fn open_answer_stream(&self) -> (u64, Events) {
        let (reader, events) = channel(0);
        let stream = self.slot().new_stream(reader.clone());
        self.prime(&reader, stream);
        (stream, events)
    }

    /// The next event of `stream`.
    pub fn write(&self, stream: u64, json: &str) {
        self.slot().write(stream, json);
    }

    /// Ends `stream`: its reader gets what was written, then the end.
    pub fn finish(&self, stream: u64) {
        if let Some(state) = self.slot().state(stream) {
            state.finished = true;
            state.reader = None;
        }
    }

    /// Ends every stream and any wait for the client (the session ends).
    pub fn end_stream(&self) {
        let mut slot = self.slot();
        for state in &mut slot.streams {
            state.finished = true;
            state.reader = None;
        }
        slot.pending = None;
    }

    fn generation(&self) -> u64 {
        self.slot().generation
    }
}

/// GET without `Last-Event-ID`: a new standalone stream, ending the one
/// before, and its ticker.
pub(crate) fn open(session: &Arc<Session>, sessions: &Arc<Sessions>) -> Events {
    let (reader, events) = channel(0);
    let (stream, generation) = {
        let mut slot = session.slot();
        if let Some(old) = slot.standalone.and_then(|n| slot.state(n)) {
            old.finished = true;
            old.reader = None;
        }
        let stream = slot.new_stream(reader.clone());
        slot.standalone = Some(stream);
        slot.generation += 1;
        (stream, slot.generation)
    };
    session.prime(&reader, stream);
    tokio::spawn(tick(
        Arc::downgrade(session),
        Arc::clone(sessions),
        generation,
    ));
    events
}

/// GET with `Last-Event-ID`: the events of that id's stream after it, then
/// the rest of the stream if it goes on (the standalone stream it still is,
/// or an answer not yet written), else the end. `Err`: why it cannot be
/// resumed, with what to do.
pub(crate) fn resume(
    session: &Arc<Session>,
    sessions: &Arc<Sessions>,
    last_event_id: &str,
) -> Result<Events, String> {
    let Some((stream, place)) = parse_event_id(last_event_id) else {
        return Err(format!(
            "Last-Event-ID {last_event_id:?} is not an event id of this server (they look like 3-17: a stream, then an event): send the id of the last event you read, or GET without Last-Event-ID for a new stream"
        ));
    };
    let mut slot = session.slot();
    let too_old = || {
        format!(
            "cannot resume after event {stream}-{place}: the events that followed it are no longer kept (a session keeps its newest {MAX_KEPT_EVENTS}). GET without Last-Event-ID for a new stream; resources may have changed meanwhile: read again what matters"
        )
    };
    let Some(state) = slot.state(stream) else {
        return Err(if stream >= 1 && stream <= slot.opened {
            too_old()
        } else {
            format!(
                "Last-Event-ID {last_event_id:?} names stream {stream}, which this session never had: send an id this session sent, or GET without Last-Event-ID for a new stream"
            )
        });
    };
    if place > state.last {
        return Err(format!(
            "Last-Event-ID {last_event_id:?}: stream {stream} has sent {} events so far, not {place}",
            state.last
        ));
    }
    if place < state.forgotten {
        return Err(too_old());
    }
    let goes_on = !state.finished;
    let replay: Vec<Bytes> = slot
        .kept
        .iter()
        .filter(|e| e.stream == stream && e.place > place)
        .map(|e| e.frame.clone())
        .collect();
    let (reader, events) = channel(replay.len());
    for frame in replay {
        let _room_was_made = reader.try_send(frame);
    }
    if !goes_on {
        return Ok(events);
    }
    if let Some(state) = slot.state(stream) {
        // A reader still attached loses its connection to the new one.
        state.reader = Some(reader);
    }
    if slot.standalone == Some(stream) {
        slot.generation += 1;
        let generation = slot.generation;
        drop(slot);
        tokio::spawn(tick(
            Arc::downgrade(session),
            Arc::clone(sessions),
            generation,
        ));
    }
    Ok(events)
}

/// Every [`TICK`] while the standalone stream has this reader and its
/// session is open: the notifications due, or now and then a comment.
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
            let reader = slot
                .standalone
                .and_then(|n| slot.streams.iter().find(|s| s.number == n))
                .and_then(|s| s.reader.as_ref());
            if let Some(reader) = reader {
                let _ignored_when_full = reader.try_send(Bytes::from_static(b": keep-alive\n\n"));
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
            event_with_id(3, 17, "{}"),
            Bytes::from_static(b"id: 3-17\nevent: message\ndata: {}\n\n")
        );
    }

    #[test]
    fn event_ids_name_a_stream_and_a_place() {
        assert_eq!(parse_event_id("3-17"), Some((3, 17)));
        assert_eq!(parse_event_id(" 1-0 "), Some((1, 0)));
        for bad in ["", "3", "3-", "-1", "a-1", "1-2-3", "1--2", "+1-2"] {
            assert_eq!(parse_event_id(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_oldest_events_are_forgotten_past_the_bounds() {
        let mut slot = Slot::default();
        let (reader, _events) = channel(0);
        let stream = slot.new_stream(reader);
        for _ in 0..MAX_KEPT_EVENTS + 10 {
            slot.write(stream, "{}");
        }
        assert_eq!(slot.kept.len(), MAX_KEPT_EVENTS);
        let state = slot.state(stream).expect("remembered");
        assert_eq!((state.last, state.forgotten), (266, 10));
        assert!(
            state.reader.is_none(),
            "a reader that read nothing loses its connection after the backlog"
        );
        let big = "x".repeat(MAX_KEPT_BYTES);
        slot.write(stream, &big);
        assert_eq!(slot.kept.len(), 1, "the newest is kept whatever its size");
    }
}
