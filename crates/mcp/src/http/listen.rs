//! `subscriptions/listen` over HTTP (MCP 2026-07-28): a stateless POST whose
//! answer is an event stream that stays open, carrying the acknowledgement
//! and then the notifications the client opted in to (`crate::listen`).
//!
//! Each stream has a server of its own (its own database connection and
//! watch), polled every [`TICK`] while the stream is read, with a comment
//! line every [`KEEP_ALIVE`] when nothing else is sent. Closing the stream
//! cancels the subscription (the revision's rule). The server ends it when
//! the caller's token is revoked or changes identity (with the result that
//! says so, then the end), and when a reader falls [`BACKLOG`] events
//! behind (the revision has no resumption: the client listens again). At
//! most [`MAX_STREAMS`] are open in a process.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::StatusCode;
use tokio::sync::mpsc::{self, error::TrySendError};

use super::Identity;
use super::auth::Caller;
use super::service::{
    Framing, Reply, State, event_stream_reply, fresh_server, refuse, stateless_reply,
};
use super::stream::{Events, event};
use crate::server::Server;
use crate::watch::TICK;

/// Listen streams open at once in a process, at most.
pub(crate) const MAX_STREAMS: usize = 64;

/// Events a slow reader may have waiting before its stream is ended.
const BACKLOG: usize = 64;

/// How often an idle stream sends a comment line.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

static OPEN: AtomicUsize = AtomicUsize::new(0);

/// Counts an open stream until dropped.
struct Counted;

impl Counted {
    fn take() -> Option<Counted> {
        OPEN.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
            (n < MAX_STREAMS).then_some(n + 1)
        })
        .ok()
        .map(|_| Counted)
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        OPEN.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Answers a `subscriptions/listen` POST: its stream, or the error that
/// refused it (a bad filter, a missing `_meta` field) as any stateless
/// request's.
pub(crate) async fn open(
    state: &Arc<State>,
    caller: Caller,
    body: Bytes,
    framing: Framing,
) -> Result<Reply, Reply> {
    let Some(counted) = Counted::take() else {
        return Err(refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!(
                "too many subscriptions/listen streams open ({MAX_STREAMS}): close unused ones first"
            ),
        ));
    };
    let (server, reply) = fresh_server(state, &caller, body).await?;
    let (Some(acknowledged), true) = (&reply, server.is_listening()) else {
        return Ok(stateless_reply(reply, framing));
    };
    let (sender, receiver) = mpsc::channel(BACKLOG);
    let _room_for_the_first = sender.try_send(event(acknowledged));
    tokio::spawn(keep_listening(
        Arc::clone(state),
        server,
        sender,
        caller,
        counted,
    ));
    Ok(event_stream_reply(Events::from(receiver)))
}

/// Polls the stream's server while the client reads the stream and its
/// token still carries its identity.
async fn keep_listening(
    state: Arc<State>,
    server: Server,
    sender: mpsc::Sender<Bytes>,
    caller: Caller,
    _counted: Counted,
) {
    let server = Arc::new(Mutex::new(server));
    let mut ticks = tokio::time::interval(TICK);
    let mut last_sent = Instant::now();
    loop {
        ticks.tick().await;
        if sender.is_closed() {
            return;
        }
        if !still_admitted(&state, &caller.token, &caller.identity) {
            let closing = server
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .end_listening();
            for line in closing {
                let _stream_ends_anyway = sender.try_send(event(&line));
            }
            tracing::info!("a subscriptions/listen stream ends: its token was revoked");
            return;
        }
        let polled = Arc::clone(&server);
        let lines = tokio::task::spawn_blocking(move || {
            polled
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .notifications(true)
        })
        .await
        .unwrap_or_default();
        if !lines.is_empty() {
            for line in lines {
                if let Err(TrySendError::Full(_) | TrySendError::Closed(_)) =
                    sender.try_send(event(&line))
                {
                    tracing::debug!("a subscriptions/listen reader is gone or too slow: ended");
                    return;
                }
            }
            last_sent = Instant::now();
        } else if last_sent.elapsed() >= KEEP_ALIVE {
            let _ignored_when_full = sender.try_send(Bytes::from_static(b": keep-alive\n\n"));
            last_sent = Instant::now();
        }
    }
}

fn still_admitted(state: &State, token: &[u8], identity: &Identity) -> bool {
    state.auth.admits(token, identity)
}
