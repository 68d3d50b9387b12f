//! A connection wired to a fake agent over an in-memory pipe, shared by the
//! connection's unit tests.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use enki_jsonrpc::Frame;
use serde_json::{Value, json};
use tokio::io::{AsyncWriteExt, BufReader, DuplexStream, ReadHalf, WriteHalf};
use tokio::sync::mpsc;

use super::Connection;
use crate::framing::AsyncLineReader;
use crate::permission::{PermissionPolicy, PermissionRequest, PermissionVerdict};
use crate::process::StderrTail;
use crate::updates::AgentEvent;

pub(super) const SAFETY: Duration = Duration::from_secs(10);

/// The fake agent's end of the pipe.
pub(super) struct Peer {
    pub(super) lines: AsyncLineReader<BufReader<ReadHalf<DuplexStream>>>,
    pub(super) write: WriteHalf<DuplexStream>,
}

impl Peer {
    pub(super) async fn send_raw(&mut self, line: &str) {
        self.write.write_all(line.as_bytes()).await.unwrap();
        self.write.write_all(b"\n").await.unwrap();
        self.write.flush().await.unwrap();
    }

    pub(super) async fn send(&mut self, value: Value) {
        self.send_raw(&value.to_string()).await;
    }

    pub(super) async fn recv(&mut self) -> Value {
        let frame = tokio::time::timeout(SAFETY, self.lines.next_frame())
            .await
            .expect("peer waited too long")
            .unwrap();
        let Some(Frame::Line(line)) = frame else {
            panic!("expected a line, got {frame:?}");
        };
        serde_json::from_slice(&line).unwrap()
    }
}

pub(super) struct Setup {
    pub(super) conn: Arc<Connection>,
    pub(super) peer: Peer,
    pub(super) events: mpsc::UnboundedReceiver<AgentEvent>,
    pub(super) _dir: tempfile::TempDir,
    pub(super) cwd: PathBuf,
}

pub(super) fn setup(policy: Arc<dyn PermissionPolicy>) -> Setup {
    let (ours, theirs) = tokio::io::duplex(1 << 16);
    let (our_read, our_write) = tokio::io::split(ours);
    let (their_read, their_write) = tokio::io::split(theirs);
    let (events_tx, events) = mpsc::unbounded_channel();
    let tail = Arc::new(StderrTail::default());
    tail.push(b"agent log line\n");
    let (conn, _reader) = Connection::start(our_read, our_write, policy, tail, events_tx);
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path().join("copy");
    std::fs::create_dir(&cwd).unwrap();
    conn.register_session("s1".into(), cwd.clone());
    Setup {
        conn,
        peer: Peer {
            lines: AsyncLineReader::new(BufReader::new(their_read)),
            write: their_write,
        },
        events,
        _dir: dir,
        cwd,
    }
}

pub(super) async fn next_event(events: &mut mpsc::UnboundedReceiver<AgentEvent>) -> AgentEvent {
    tokio::time::timeout(SAFETY, events.recv())
        .await
        .expect("no event in time")
        .expect("event channel closed")
}

pub(super) fn permission_request(id: i64, path: &std::path::Path) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "session/request_permission", "params": {
        "sessionId": "s1",
        "toolCall": {"toolCallId": "t1", "title": "Edit file", "kind": "edit", "locations": [{"path": path}]},
        "options": [
            {"optionId": "yes", "name": "Allow", "kind": "allow_once"},
            {"optionId": "always", "name": "Always", "kind": "allow_always"},
            {"optionId": "no", "name": "Reject", "kind": "reject_once"}
        ],
        "_meta": {"vendor": true}
    }})
}

/// Never decides.
pub(super) struct AskForever;
impl PermissionPolicy for AskForever {
    fn decide(
        &self,
        _request: PermissionRequest,
    ) -> Pin<Box<dyn Future<Output = PermissionVerdict> + Send>> {
        Box::pin(std::future::pending())
    }
}
