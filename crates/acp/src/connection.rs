//! One JSON-RPC connection to an agent: a writer task, a reader task that
//! dispatches what the agent sends, the map of our pending requests, and the
//! sessions the agent may use for fs requests.
//!
//! Two id spaces: our requests get fresh numeric ids from an
//! [`IdAllocator`]; the agent's requests are answered with their id echoed
//! as-is. A response whose id matches none of our pending requests is
//! reported and dropped.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use enki_jsonrpc::{
    ErrorObject, Frame, Id, IdAllocator, MAX_LINE_BYTES, Message, Notification, Request, Response,
    encode, parse_line,
};
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::error::AcpError;
use crate::framing::AsyncLineReader;
use crate::permission::{self, PermissionDecision, PermissionPolicy, PermissionRequest};
use crate::process::StderrTail;
use crate::updates::{AgentEvent, parse_session_update, str_field};

/// Longest excerpt of a bad line quoted in a `ProtocolError` event.
const PREVIEW_CHARS: usize = 200;

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

enum WriterCmd {
    Line(String),
    /// Close the agent's stdin (after the lines queued before).
    Close,
}

struct Pending {
    method: String,
    tx: oneshot::Sender<Result<Value, AcpError>>,
    /// For `session/new`: the cwd to register with the returned session id,
    /// before anyone can see the response (fs requests may follow at once).
    new_session_cwd: Option<PathBuf>,
}

struct SessionEntry {
    cwd: PathBuf,
    /// Bumped by `session/cancel` so pending permission questions end.
    cancelled: watch::Sender<u64>,
}

#[derive(Default)]
struct State {
    pending: HashMap<Id, Pending>,
    sessions: HashMap<String, SessionEntry>,
    closed: Option<CloseInfo>,
}

pub(crate) struct Connection {
    writer: mpsc::UnboundedSender<WriterCmd>,
    ids: IdAllocator,
    state: Mutex<State>,
    closed: watch::Sender<bool>,
    events: mpsc::UnboundedSender<AgentEvent>,
    permission: Arc<dyn PermissionPolicy>,
    tail: Arc<StderrTail>,
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
            read_only: std::sync::atomic::AtomicBool::new(false),
        });
        let reader_task = tokio::spawn(conn.clone().read_loop(reader));
        (conn, reader_task)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn emit(&self, event: AgentEvent) {
        // The owner may have stopped listening; that is fine.
        let _ = self.events.send(event);
    }

    fn protocol_error(&self, message: String) {
        tracing::warn!("agent protocol error: {message}");
        self.emit(AgentEvent::ProtocolError(message));
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

    /// Sends a request and waits for its response, at most `timeout` (none:
    /// until the agent answers or the connection closes). `new_session_cwd`
    /// registers the returned `sessionId` (see [`Pending`]).
    pub(crate) async fn request(
        &self,
        method: &str,
        params: Value,
        timeout: Option<Duration>,
        new_session_cwd: Option<PathBuf>,
    ) -> Result<Value, AcpError> {
        let id = self.ids.next();
        let (tx, rx) = oneshot::channel();
        {
            let mut state = self.lock();
            if let Some(info) = &state.closed {
                return Err(info.to_error());
            }
            state.pending.insert(
                id.clone(),
                Pending {
                    method: method.to_owned(),
                    tx,
                    new_session_cwd,
                },
            );
        }
        tracing::debug!(%id, method, "request to agent");
        if !self.send(&Message::request(id.clone(), method, Some(params))) {
            self.lock().pending.remove(&id);
            return Err(self.gone_error());
        }
        let received = match timeout {
            None => rx.await,
            Some(limit) => match tokio::time::timeout(limit, rx).await {
                Ok(received) => received,
                Err(_) => {
                    let mut state = self.lock();
                    state.pending.remove(&id);
                    if let Some(info) = &state.closed {
                        return Err(info.to_error());
                    }
                    return Err(AcpError::Timeout {
                        method: method.to_owned(),
                        after: limit,
                        stderr_tail: self.tail.snapshot(),
                    });
                }
            },
        };
        received.unwrap_or_else(|_| Err(self.gone_error()))
    }

    /// Sends a notification.
    pub(crate) fn notify(&self, method: &str, params: Value) -> Result<(), AcpError> {
        if let Some(info) = &self.lock().closed {
            return Err(info.to_error());
        }
        if self.send(&Message::notification(method, Some(params))) {
            Ok(())
        } else {
            Err(self.gone_error())
        }
    }

    /// Ends pending permission questions of the session with `cancelled`.
    pub(crate) fn mark_cancelled(&self, session_id: &str) {
        if let Some(session) = self.lock().sessions.get(session_id) {
            session.cancelled.send_modify(|n| *n = n.wrapping_add(1));
        }
    }

    /// Lets fs requests of `session_id` use `cwd` as their root.
    #[cfg(test)]
    pub(crate) fn register_session(&self, session_id: String, cwd: PathBuf) {
        register(&mut self.lock(), session_id, cwd);
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
        for (_, p) in pending {
            let _ = p.tx.send(Err(info.to_error()));
        }
        self.closed.send_replace(true);
        self.emit(AgentEvent::Exited {
            status: info.status,
            stderr_tail: info.stderr_tail,
        });
    }

    async fn read_loop<R: AsyncRead + Unpin>(self: Arc<Self>, reader: R) {
        let mut lines = AsyncLineReader::new(BufReader::new(reader));
        loop {
            match lines.next_frame().await {
                Ok(None) => break,
                Ok(Some(Frame::Line(line))) => self.handle_line(&line),
                Ok(Some(Frame::TooLong { len_seen })) => self.protocol_error(format!(
                    "discarded a line of {len_seen} bytes (longer than {MAX_LINE_BYTES})"
                )),
                Err(e) => {
                    tracing::warn!("cannot read the agent's stdout: {e}");
                    break;
                }
            }
        }
        tracing::debug!("agent stdout closed");
    }

    fn handle_line(self: &Arc<Self>, line: &[u8]) {
        match parse_line(line) {
            Ok(None) => {}
            Ok(Some(Message::Response(response))) => self.handle_response(response),
            Ok(Some(Message::Notification(notification))) => self.handle_notification(notification),
            Ok(Some(Message::Request(request))) => self.handle_request(request),
            Err(err) => {
                self.protocol_error(format!(
                    "invalid message from agent ({err}): {}",
                    preview(line)
                ));
                // An invalid request that still has an id gets its error, so
                // the agent does not wait forever.
                if err.id.is_some() && looks_like_request(line) {
                    self.send(&err.into_message());
                }
            }
        }
    }

    fn handle_response(&self, response: Response) {
        let Some(id) = response.id else {
            let detail = match &response.outcome {
                Err(e) => e.to_string(),
                Ok(v) => preview(v.to_string().as_bytes()),
            };
            self.protocol_error(format!("agent sent a response with a null id: {detail}"));
            return;
        };
        let pending = {
            let mut state = self.lock();
            let pending = state.pending.remove(&id);
            // Register a new session before its creator (or any fs request
            // that follows) can observe it.
            if let Some(Pending {
                new_session_cwd: Some(cwd),
                ..
            }) = &pending
                && let Ok(result) = &response.outcome
                && let Some(session_id) = str_field(result, "sessionId")
            {
                register(&mut state, session_id, cwd.clone());
            }
            pending
        };
        let Some(pending) = pending else {
            self.protocol_error(format!(
                "agent answered request id {id}, which is not pending (unknown or timed out)"
            ));
            return;
        };
        let result = response.outcome.map_err(|e| AcpError::Rpc {
            method: pending.method,
            code: e.code,
            message: e.message,
        });
        let _ = pending.tx.send(result);
    }

    fn handle_notification(&self, notification: Notification) {
        match notification.method.as_str() {
            "session/update" => match parse_session_update(notification.params.as_ref()) {
                Ok((session_id, update)) => self.emit(AgentEvent::Update { session_id, update }),
                Err(message) => self.protocol_error(message.to_owned()),
            },
            method if method.starts_with('_') => {
                tracing::debug!(method, "ignoring extension notification");
            }
            method => tracing::debug!(method, "ignoring unknown notification"),
        }
    }

    fn handle_request(self: &Arc<Self>, request: Request) {
        let Request { id, method, params } = request;
        tracing::debug!(%id, method, "request from agent");
        let conn = self.clone();
        tokio::spawn(async move {
            let result = match method.as_str() {
                "session/request_permission" => conn.answer_permission(params).await,
                "fs/read_text_file" => conn.serve_fs(FsMethod::Read, params).await,
                "fs/write_text_file" => conn.serve_fs(FsMethod::Write, params).await,
                other => Err(ErrorObject::method_not_found(other)),
            };
            let message = match result {
                Ok(value) => Message::response(id, value),
                Err(error) => Message::error(Some(id), error),
            };
            conn.send(&message);
        });
    }

    fn session_cwd(&self, session_id: &str) -> Option<PathBuf> {
        self.lock().sessions.get(session_id).map(|s| s.cwd.clone())
    }

    async fn answer_permission(&self, params: Option<Value>) -> Result<Value, ErrorObject> {
        let incoming = permission::parse_request(params.as_ref())?;
        let (cwd, mut cancelled) = {
            let state = self.lock();
            let session = state.sessions.get(&incoming.session_id).ok_or_else(|| {
                ErrorObject::invalid_params(format!("unknown sessionId `{}`", incoming.session_id))
            })?;
            (session.cwd.clone(), session.cancelled.subscribe())
        };
        let mut closed = self.closed.subscribe();
        let decide = self.permission.decide(PermissionRequest {
            session_id: incoming.session_id.clone(),
            session_cwd: cwd,
            title: incoming.title.clone(),
            kind: incoming.kind.clone(),
            locations: incoming.locations.clone(),
            raw: incoming.raw.clone(),
        });
        let decision = tokio::select! {
            decision = decide => decision,
            Ok(()) = cancelled.changed() => PermissionDecision::Cancelled,
            _ = closed.wait_for(|closed| *closed) => {
                return Err(ErrorObject::internal("the client is shutting down"));
            }
        };
        let (answered, result) = permission::choose_option(decision, &incoming.options);
        tracing::debug!(session = %incoming.session_id, title = %incoming.title, %decision, %answered, "permission answered");
        self.emit(AgentEvent::Permission {
            session_id: incoming.session_id,
            title: incoming.title,
            decision: answered,
        });
        Ok(result)
    }

    async fn serve_fs(
        &self,
        method: FsMethod,
        params: Option<Value>,
    ) -> Result<Value, ErrorObject> {
        let params = params.unwrap_or(Value::Null);
        let session_id = str_field(&params, "sessionId")
            .ok_or_else(|| ErrorObject::invalid_params("missing string sessionId"))?;
        let Some(cwd) = self.session_cwd(&session_id) else {
            if let Some(path) = str_field(&params, "path") {
                self.emit(method.event(PathBuf::from(path), false));
            }
            return Err(ErrorObject::invalid_params(format!(
                "unknown sessionId `{session_id}`"
            )));
        };
        if matches!(method, FsMethod::Write)
            && self.read_only.load(std::sync::atomic::Ordering::Relaxed)
        {
            if let Some(path) = str_field(&params, "path") {
                self.emit(method.event(PathBuf::from(path), false));
            }
            return Err(ErrorObject::invalid_params(
                "refused: this session is read-only and may not write files",
            ));
        }
        let outcome = tokio::task::spawn_blocking(move || match method {
            FsMethod::Read => crate::fs::read_text_file(&cwd, &params),
            FsMethod::Write => crate::fs::write_text_file(&cwd, &params),
        })
        .await
        .map_err(|e| ErrorObject::internal(format!("file operation failed: {e}")))?;
        if let Some((path, allowed)) = outcome.event {
            if !allowed {
                tracing::info!(path = %path.display(), ?method, "refused fs request outside the session cwd");
            }
            self.emit(method.event(path, allowed));
        }
        outcome.response
    }
}

#[derive(Debug, Clone, Copy)]
enum FsMethod {
    Read,
    Write,
}

impl FsMethod {
    fn event(self, path: PathBuf, allowed: bool) -> AgentEvent {
        match self {
            FsMethod::Read => AgentEvent::FsRead { path, allowed },
            FsMethod::Write => AgentEvent::FsWrite { path, allowed },
        }
    }
}

fn register(state: &mut State, session_id: String, cwd: PathBuf) {
    state.sessions.insert(
        session_id,
        SessionEntry {
            cwd,
            cancelled: watch::channel(0).0,
        },
    );
}

async fn write_loop<W: AsyncWrite + Unpin>(writer: W, mut rx: mpsc::UnboundedReceiver<WriterCmd>) {
    let mut sink = Some(writer);
    while let Some(cmd) = rx.recv().await {
        match cmd {
            WriterCmd::Line(line) => {
                let Some(w) = sink.as_mut() else {
                    tracing::debug!("agent stdin closed; dropping a message");
                    continue;
                };
                let written = async {
                    w.write_all(line.as_bytes()).await?;
                    w.flush().await
                };
                if let Err(e) = written.await {
                    tracing::warn!("cannot write to the agent's stdin: {e}");
                    sink = None;
                }
            }
            WriterCmd::Close => {
                if let Some(mut w) = sink.take() {
                    let _ = w.shutdown().await;
                }
            }
        }
    }
}

fn preview(line: &[u8]) -> String {
    let text = String::from_utf8_lossy(line);
    let text = text.trim();
    if text.chars().count() > PREVIEW_CHARS {
        let cut: String = text.chars().take(PREVIEW_CHARS).collect();
        format!("{cut}…")
    } else {
        text.to_owned()
    }
}

fn looks_like_request(line: &[u8]) -> bool {
    serde_json::from_slice::<Value>(line)
        .ok()
        .is_some_and(|v| v.get("method").is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::permission::{AllowAll, DenyAll};
    use crate::updates::SessionUpdate;
    use serde_json::json;
    use std::future::Future;
    use std::pin::Pin;
    use tokio::io::{DuplexStream, ReadHalf, WriteHalf};

    const SAFETY: Duration = Duration::from_secs(10);

    /// The fake agent's end of the pipe.
    struct Peer {
        lines: AsyncLineReader<BufReader<ReadHalf<DuplexStream>>>,
        write: WriteHalf<DuplexStream>,
    }

    impl Peer {
        async fn send_raw(&mut self, line: &str) {
            self.write.write_all(line.as_bytes()).await.unwrap();
            self.write.write_all(b"\n").await.unwrap();
            self.write.flush().await.unwrap();
        }

        async fn send(&mut self, value: Value) {
            self.send_raw(&value.to_string()).await;
        }

        async fn recv(&mut self) -> Value {
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

    struct Setup {
        conn: Arc<Connection>,
        peer: Peer,
        events: mpsc::UnboundedReceiver<AgentEvent>,
        _dir: tempfile::TempDir,
        cwd: PathBuf,
    }

    fn setup(policy: Arc<dyn PermissionPolicy>) -> Setup {
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

    async fn next_event(events: &mut mpsc::UnboundedReceiver<AgentEvent>) -> AgentEvent {
        tokio::time::timeout(SAFETY, events.recv())
            .await
            .expect("no event in time")
            .expect("event channel closed")
    }

    #[tokio::test]
    async fn request_response_and_rpc_error() {
        let Setup {
            conn,
            mut peer,
            _dir: _guard,
            ..
        } = setup(Arc::new(AllowAll));
        let c = conn.clone();
        let call = tokio::spawn(async move {
            c.request("initialize", json!({"a": 1}), Some(SAFETY), None)
                .await
        });
        let req = peer.recv().await;
        assert_eq!(req["method"], "initialize");
        assert_eq!(req["params"], json!({"a": 1}));
        peer.send(json!({"jsonrpc": "2.0", "id": req["id"], "result": {"ok": true}, "_meta": {}}))
            .await;
        assert_eq!(call.await.unwrap().unwrap(), json!({"ok": true}));

        let c = conn.clone();
        let call =
            tokio::spawn(async move { c.request("authenticate", json!({}), None, None).await });
        let req = peer.recv().await;
        peer.send(json!({"jsonrpc": "2.0", "id": req["id"], "error": {"code": -32000, "message": "auth required"}}))
            .await;
        let err = call.await.unwrap().unwrap_err();
        assert!(
            matches!(&err, AcpError::Rpc { method, code: -32000, message } if method == "authenticate" && message == "auth required"),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn garbage_unknown_ids_and_extensions_are_tolerated() {
        let Setup {
            conn,
            mut peer,
            mut events,
            _dir: _guard,
            ..
        } = setup(Arc::new(AllowAll));
        peer.send_raw("this is not json").await;
        let AgentEvent::ProtocolError(msg) = next_event(&mut events).await else {
            panic!("expected a protocol error");
        };
        assert!(msg.contains("this is not json"), "{msg}");

        peer.send(json!({"jsonrpc": "2.0", "id": 999, "result": {}}))
            .await;
        let AgentEvent::ProtocolError(msg) = next_event(&mut events).await else {
            panic!("expected a protocol error");
        };
        assert!(msg.contains("999"), "{msg}");
        peer.send(json!({"jsonrpc": "2.0", "id": null, "error": {"code": 1, "message": "x"}}))
            .await;
        assert!(matches!(
            next_event(&mut events).await,
            AgentEvent::ProtocolError(_)
        ));

        // Extension and unknown notifications: ignored. Unknown requests
        // (extension or not): method not found, id echoed as-is.
        peer.send(json!({"jsonrpc": "2.0", "method": "_vendor/ping", "params": {}}))
            .await;
        peer.send(json!({"jsonrpc": "2.0", "method": "something/new"}))
            .await;
        peer.send(json!({"jsonrpc": "2.0", "id": "x-1", "method": "_vendor/ask", "params": {}}))
            .await;
        let reply = peer.recv().await;
        assert_eq!(reply["id"], "x-1");
        assert_eq!(reply["error"]["code"], -32601);
        peer.send(json!({"jsonrpc": "2.0", "id": 7, "method": "terminal/create", "params": {}}))
            .await;
        let reply = peer.recv().await;
        assert_eq!(reply["id"], 7);
        assert_eq!(reply["error"]["code"], -32601);
        // An invalid request with an id is answered.
        peer.send_raw(r#"{"jsonrpc":"1.0","id":8,"method":"x"}"#)
            .await;
        assert!(matches!(
            next_event(&mut events).await,
            AgentEvent::ProtocolError(_)
        ));
        let reply = peer.recv().await;
        assert_eq!(reply["id"], 8);
        assert_eq!(reply["error"]["code"], -32600);

        // A malformed session/update is reported; a good one still arrives.
        peer.send(json!({"jsonrpc": "2.0", "method": "session/update", "params": {"update": {}}}))
            .await;
        assert!(matches!(
            next_event(&mut events).await,
            AgentEvent::ProtocolError(_)
        ));
        peer.send(json!({"jsonrpc": "2.0", "method": "session/update", "params": {"sessionId": "s1", "update": {"sessionUpdate": "agent_message_chunk", "content": {"type": "text", "text": "hi"}}}}))
            .await;
        assert_eq!(
            next_event(&mut events).await,
            AgentEvent::Update {
                session_id: "s1".into(),
                update: SessionUpdate::AgentMessageChunk { text: "hi".into() }
            }
        );

        // Still working.
        let c = conn.clone();
        let call = tokio::spawn(async move { c.request("m", json!({}), Some(SAFETY), None).await });
        let req = peer.recv().await;
        peer.send(json!({"jsonrpc": "2.0", "id": req["id"], "result": null}))
            .await;
        assert_eq!(call.await.unwrap().unwrap(), Value::Null);
    }

    #[tokio::test]
    async fn timeout_then_late_response() {
        let Setup {
            conn,
            mut peer,
            mut events,
            _dir: _guard,
            ..
        } = setup(Arc::new(AllowAll));
        let err = conn
            .request(
                "initialize",
                json!({}),
                Some(Duration::from_millis(50)),
                None,
            )
            .await
            .unwrap_err();
        let AcpError::Timeout {
            method,
            stderr_tail,
            ..
        } = &err
        else {
            panic!("{err:?}");
        };
        assert_eq!(method, "initialize");
        assert_eq!(stderr_tail, &["agent log line"]);
        let req = peer.recv().await;
        peer.send(json!({"jsonrpc": "2.0", "id": req["id"], "result": {}}))
            .await;
        assert!(matches!(
            next_event(&mut events).await,
            AgentEvent::ProtocolError(_)
        ));
    }

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

    fn permission_request(id: i64, path: &std::path::Path) -> Value {
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

    #[tokio::test]
    async fn permission_follows_policy() {
        for (policy, inside, expected) in [
            (
                Arc::new(AllowAll) as Arc<dyn PermissionPolicy>,
                false,
                "yes",
            ),
            (Arc::new(DenyAll), true, "no"),
            (Arc::new(crate::permission::WithinCwd), true, "yes"),
            (Arc::new(crate::permission::WithinCwd), false, "no"),
        ] {
            let Setup {
                mut peer,
                mut events,
                cwd,
                _dir: _guard,
                ..
            } = setup(policy);
            let path = if inside {
                cwd.join("src/lib.rs")
            } else {
                cwd.parent().unwrap().join("elsewhere.rs")
            };
            peer.send(permission_request(3, &path)).await;
            let reply = peer.recv().await;
            assert_eq!(reply["id"], 3);
            assert_eq!(
                reply["result"],
                json!({"outcome": {"outcome": "selected", "optionId": expected}})
            );
            let AgentEvent::Permission {
                session_id,
                title,
                decision,
            } = next_event(&mut events).await
            else {
                panic!("expected a permission event");
            };
            assert_eq!((session_id.as_str(), title.as_str()), ("s1", "Edit file"));
            assert_eq!(decision.is_allowed(), expected == "yes");
        }
    }

    /// Never decides.
    struct AskForever;
    impl PermissionPolicy for AskForever {
        fn decide(
            &self,
            _request: PermissionRequest,
        ) -> Pin<Box<dyn Future<Output = PermissionDecision> + Send>> {
            Box::pin(std::future::pending())
        }
    }

    #[tokio::test]
    async fn cancel_answers_pending_permission_cancelled() {
        let Setup {
            conn,
            mut peer,
            mut events,
            cwd,
            _dir: _guard,
            ..
        } = setup(Arc::new(AskForever));
        peer.send(permission_request(4, &cwd.join("a"))).await;
        // Unknown session: refused at once.
        peer.send(json!({"jsonrpc": "2.0", "id": 5, "method": "session/request_permission", "params": {"sessionId": "nope", "options": []}}))
            .await;
        let reply = peer.recv().await;
        assert_eq!(reply["id"], 5);
        assert_eq!(reply["error"]["code"], -32602);
        // The permission task has subscribed by now: requests are handled
        // in arrival order up to the policy call.
        conn.mark_cancelled("s1");
        let reply = peer.recv().await;
        assert_eq!(reply["id"], 4);
        assert_eq!(
            reply["result"],
            json!({"outcome": {"outcome": "cancelled"}})
        );
        assert!(matches!(
            next_event(&mut events).await,
            AgentEvent::Permission {
                decision: PermissionDecision::Cancelled,
                ..
            }
        ));
    }

    #[tokio::test]
    async fn fs_requests_are_confined_to_the_session_cwd() {
        let Setup {
            mut peer,
            mut events,
            cwd,
            _dir: _guard,
            ..
        } = setup(Arc::new(AllowAll));
        std::fs::write(cwd.join("in.txt"), "l1\nl2\nl3\n").unwrap();
        let outside = cwd.parent().unwrap().join("outside.txt");
        std::fs::write(&outside, "secret").unwrap();

        peer.send(json!({"jsonrpc": "2.0", "id": 1, "method": "fs/read_text_file", "params": {"sessionId": "s1", "path": cwd.join("in.txt"), "line": 2, "limit": 1}}))
            .await;
        let reply = peer.recv().await;
        assert_eq!(reply["result"], json!({"content": "l2\n"}));
        assert!(matches!(
            next_event(&mut events).await,
            AgentEvent::FsRead { allowed: true, .. }
        ));

        peer.send(json!({"jsonrpc": "2.0", "id": 2, "method": "fs/read_text_file", "params": {"sessionId": "s1", "path": outside}}))
            .await;
        let reply = peer.recv().await;
        assert_eq!(reply["error"]["code"], -32602);
        assert_eq!(
            next_event(&mut events).await,
            AgentEvent::FsRead {
                path: outside.clone(),
                allowed: false
            }
        );

        peer.send(json!({"jsonrpc": "2.0", "id": 3, "method": "fs/write_text_file", "params": {"sessionId": "s1", "path": cwd.join("new/dir/f.txt"), "content": "x"}}))
            .await;
        let reply = peer.recv().await;
        assert_eq!(reply["id"], 3);
        assert_eq!(reply["result"], json!({}));
        assert_eq!(
            std::fs::read_to_string(cwd.join("new/dir/f.txt")).unwrap(),
            "x"
        );
        assert!(matches!(
            next_event(&mut events).await,
            AgentEvent::FsWrite { allowed: true, .. }
        ));

        peer.send(json!({"jsonrpc": "2.0", "id": 4, "method": "fs/write_text_file", "params": {"sessionId": "other", "path": cwd.join("g.txt"), "content": "x"}}))
            .await;
        let reply = peer.recv().await;
        assert_eq!(reply["error"]["code"], -32602);
        assert!(
            reply["error"]["message"]
                .as_str()
                .unwrap()
                .contains("unknown sessionId")
        );
        assert!(!cwd.join("g.txt").exists());
        assert!(matches!(
            next_event(&mut events).await,
            AgentEvent::FsWrite { allowed: false, .. }
        ));
    }

    #[tokio::test]
    async fn new_session_response_registers_before_delivery() {
        let Setup {
            conn,
            mut peer,
            mut events,
            cwd,
            _dir: _guard,
            ..
        } = setup(Arc::new(AllowAll));
        std::fs::write(cwd.join("a.txt"), "A").unwrap();
        let c = conn.clone();
        let session_cwd = cwd.clone();
        let call = tokio::spawn(async move {
            c.request("session/new", json!({}), Some(SAFETY), Some(session_cwd))
                .await
        });
        let req = peer.recv().await;
        // Response and an fs request for the new session back to back.
        peer.send(json!({"jsonrpc": "2.0", "id": req["id"], "result": {"sessionId": "fresh"}}))
            .await;
        peer.send(json!({"jsonrpc": "2.0", "id": 1, "method": "fs/read_text_file", "params": {"sessionId": "fresh", "path": "a.txt"}}))
            .await;
        let reply = peer.recv().await;
        assert_eq!(reply["result"], json!({"content": "A"}));
        assert_eq!(call.await.unwrap().unwrap(), json!({"sessionId": "fresh"}));
        assert!(matches!(
            next_event(&mut events).await,
            AgentEvent::FsRead { allowed: true, .. }
        ));
    }

    #[tokio::test]
    async fn oversized_line_is_reported_and_skipped() {
        let Setup {
            mut peer,
            mut events,
            _dir: _guard,
            ..
        } = setup(Arc::new(AllowAll));
        let writer = tokio::spawn(async move {
            let big = vec![b'x'; MAX_LINE_BYTES + 1];
            peer.write.write_all(&big).await.unwrap();
            peer.write.write_all(b"\n").await.unwrap();
            peer.send(json!({"jsonrpc": "2.0", "method": "session/update", "params": {"sessionId": "s1", "update": {"sessionUpdate": "plan", "entries": []}}}))
                .await;
            peer
        });
        let AgentEvent::ProtocolError(msg) = next_event(&mut events).await else {
            panic!("expected a protocol error");
        };
        assert!(msg.contains(&(MAX_LINE_BYTES + 1).to_string()), "{msg}");
        assert!(matches!(
            next_event(&mut events).await,
            AgentEvent::Update {
                update: SessionUpdate::Plan { .. },
                ..
            }
        ));
        writer.await.unwrap();
    }
}
