//! One JSON-RPC connection to an agent: a writer task, a reader task that
//! dispatches what the agent sends, the map of our pending requests, and the
//! sessions the agent may use for fs requests.
//!
//! Two id spaces: our requests get fresh numeric ids from an
//! [`IdAllocator`]; the agent's requests are answered with their id echoed
//! as-is. A response whose id matches none of our pending requests is
//! reported and dropped.
//!
//! The agent's own requests (permission, fs) are served by spawned tasks,
//! which report their event when they finish. So that a caller who drains
//! the events right after a turn sees them all, a request made with
//! [`RequestOpts::settle_session`] returns only once every agent request
//! that arrived before its response has been answered (and its event
//! emitted); permission questions still open when the turn ends are
//! answered `cancelled`, so that wait is short.
//!
//! This file holds the shared state and the connection's start and close;
//! [`reader`], [`writer`], [`requests`] and [`agent_requests`] hold the rest.

mod agent_requests;
mod reader;
mod requests;
#[cfg(test)]
mod test_support;
mod writer;

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::process::ExitStatus;
use std::sync::{Arc, Mutex, MutexGuard};

use enki_jsonrpc::{Id, IdAllocator, Message, encode};
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::error::AcpError;
use crate::permission::PermissionPolicy;
use crate::process::StderrTail;
use crate::updates::AgentEvent;
use reader::StdoutHealth;
pub(crate) use requests::RequestOpts;
use writer::{WriterCmd, write_loop};

/// How the connection ended; every pending and later request fails with it.
#[derive(Debug, Clone)]
pub(crate) struct CloseInfo {
    pub status: Option<ExitStatus>,
    pub stderr_tail: Vec<String>,
}

impl CloseInfo {
    fn to_error(&self) -> AcpError {
        AcpError::Exited {
            status: self.status,
            stderr_tail: self.stderr_tail.clone(),
        }
    }
}

/// The answer to one of our requests.
struct Reply {
    result: Result<Value, AcpError>,
    /// How many agent requests had arrived when the answer did.
    barrier: u64,
}

struct Pending {
    method: String,
    tx: oneshot::Sender<Reply>,
    /// For `session/new`: the cwd to register with the returned session id,
    /// before anyone can see the response (fs requests may follow at once).
    new_session_cwd: Option<PathBuf>,
}

struct SessionEntry {
    cwd: PathBuf,
    /// Bumped by `session/cancel` so pending permission questions end.
    cancelled: watch::Sender<u64>,
    /// The mode the agent last reported in a `session/update`.
    reported_mode: Option<String>,
}

#[derive(Default)]
struct State {
    pending: HashMap<Id, Pending>,
    sessions: HashMap<String, SessionEntry>,
    closed: Option<CloseInfo>,
}

/// The agent's own requests, numbered in arrival order.
#[derive(Debug, Default)]
struct AgentRequests {
    arrived: u64,
    /// The numbers of those not answered yet.
    open: BTreeSet<u64>,
}

pub(crate) struct Connection {
    writer: mpsc::UnboundedSender<WriterCmd>,
    ids: IdAllocator,
    state: Mutex<State>,
    closed: watch::Sender<bool>,
    events: mpsc::UnboundedSender<AgentEvent>,
    permission: Arc<dyn PermissionPolicy>,
    tail: Arc<StderrTail>,
    health: watch::Sender<StdoutHealth>,
    agent_requests: watch::Sender<AgentRequests>,
    /// Refuse `fs/write_text_file` (sessions that must not edit).
    read_only: std::sync::atomic::AtomicBool,
}

impl Connection {
    pub(crate) fn set_read_only(&self, read_only: bool) {
        self.read_only
            .store(read_only, std::sync::atomic::Ordering::Relaxed);
    }

    /// Starts the writer and reader tasks. The returned handle is the reader
    /// task, which ends at EOF of `reader`.
    pub(crate) fn start<R, W>(
        reader: R,
        writer: W,
        permission: Arc<dyn PermissionPolicy>,
        tail: Arc<StderrTail>,
        events: mpsc::UnboundedSender<AgentEvent>,
    ) -> (Arc<Connection>, JoinHandle<()>)
    where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        let (writer_tx, writer_rx) = mpsc::unbounded_channel();
        tokio::spawn(write_loop(writer, writer_rx));
        let conn = Arc::new(Connection {
            writer: writer_tx,
            ids: IdAllocator::new(),
            state: Mutex::new(State::default()),
            closed: watch::channel(false).0,
            events,
            permission,
            tail,
            health: watch::channel(StdoutHealth::default()).0,
            agent_requests: watch::channel(AgentRequests::default()).0,
            read_only: std::sync::atomic::AtomicBool::new(false),
        });
        let reader_task = tokio::spawn(conn.clone().read_loop(reader));
        (conn, reader_task)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn emit(&self, event: AgentEvent) {
        // The owner may have stopped listening; that is fine.
        let _ = self.events.send(event);
    }

    fn send(&self, message: &Message) -> bool {
        self.writer.send(WriterCmd::Line(encode(message))).is_ok()
    }

    fn gone_error(&self) -> AcpError {
        match &self.lock().closed {
            Some(info) => info.to_error(),
            None => AcpError::Io(std::io::Error::new(
                std::io::ErrorKind::BrokenPipe,
                "the connection to the agent is gone",
            )),
        }
    }

    /// Lets fs requests of `session_id` use `cwd` as their root (a session
    /// taken up by `session/load` or `session/resume`).
    pub(crate) fn register_session(&self, session_id: String, cwd: PathBuf) {
        register(&mut self.lock(), session_id, cwd);
    }

    /// Takes the mode the agent last reported for `session_id` (a
    /// `current_mode_update` or a mode `config_option_update`), if any.
    pub(crate) fn take_reported_mode(&self, session_id: &str) -> Option<String> {
        self.lock()
            .sessions
            .get_mut(session_id)
            .and_then(|s| s.reported_mode.take())
    }

    /// Closes the agent's stdin once the queued messages are written.
    pub(crate) fn close_stdin(&self) {
        let _ = self.writer.send(WriterCmd::Close);
    }

    /// Marks the connection closed (the agent exited): fails every pending
    /// request with [`AcpError::Exited`] and emits [`AgentEvent::Exited`].
    /// Only the first call has an effect.
    pub(crate) fn close(&self, info: CloseInfo) {
        let pending = {
            let mut state = self.lock();
            if state.closed.is_some() {
                return;
            }
            state.closed = Some(info.clone());
            std::mem::take(&mut state.pending)
        };
        let barrier = self.agent_requests.borrow().arrived;
        for (_, p) in pending {
            let _ = p.tx.send(Reply {
                result: Err(info.to_error()),
                barrier,
            });
        }
        self.closed.send_replace(true);
        self.emit(AgentEvent::Exited {
            status: info.status,
            stderr_tail: info.stderr_tail,
        });
    }
}

fn register(state: &mut State, session_id: String, cwd: PathBuf) {
    state.sessions.insert(
        session_id,
        SessionEntry {
            cwd,
            cancelled: watch::channel(0).0,
            reported_mode: None,
        },
    );
}

#[cfg(test)]
mod tests {
    use super::test_support::{Setup, next_event, setup};
    use super::*;
    use crate::permission::AllowAll;
    use serde_json::json;

    #[tokio::test]
    async fn close_fails_pending_and_later_requests() {
        let Setup {
            conn,
            mut peer,
            mut events,
            _dir: _guard,
            ..
        } = setup(Arc::new(AllowAll));
        let c = conn.clone();
        let call =
            tokio::spawn(async move { c.request("session/prompt", json!({}), None, None).await });
        peer.recv().await;
        let info = CloseInfo {
            status: None,
            stderr_tail: vec!["bye".into()],
        };
        conn.close(info.clone());
        conn.close(info);
        let err = call.await.unwrap().unwrap_err();
        assert!(matches!(&err, AcpError::Exited { stderr_tail, .. } if stderr_tail == &["bye"]));
        assert!(matches!(
            conn.request("x", json!({}), None, None).await,
            Err(AcpError::Exited { .. })
        ));
        assert!(matches!(
            conn.notify("session/cancel", json!({})),
            Err(AcpError::Exited { .. })
        ));
        assert!(matches!(
            next_event(&mut events).await,
            AgentEvent::Exited { .. }
        ));
        assert!(events.try_recv().is_err());
    }
}
