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

use std::collections::{BTreeSet, HashMap, VecDeque};
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
use crate::permission::{
    self, IncomingPermission, PermissionDecision, PermissionPolicy, PermissionRequest,
};
use crate::process::StderrTail;
use crate::updates::{AgentEvent, parse_session_update, str_field};

/// Longest excerpt of a bad line quoted in a `ProtocolError` event.
const PREVIEW_CHARS: usize = 200;
/// Longest excerpt of a non-protocol line quoted in an error message.
const SHORT_PREVIEW_CHARS: usize = 80;
/// How many recent protocol problems a timeout error quotes.
const RECENT_PROBLEMS: usize = 3;

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
}

#[derive(Default)]
struct State {
    pending: HashMap<Id, Pending>,
    sessions: HashMap<String, SessionEntry>,
    closed: Option<CloseInfo>,
}

/// What the agent's stdout has looked like so far.
#[derive(Debug, Clone, Default)]
struct StdoutHealth {
    /// A line that is JSON-RPC has been read.
    valid: bool,
    /// The last line that was not JSON-RPC (shortened), if any.
    last_garbage: Option<String>,
    /// The last few protocol problems, oldest first, and how many there
    /// have been in all.
    recent: VecDeque<String>,
    problems: u64,
}

impl StdoutHealth {
    fn record(&mut self, problem: String) {
        self.problems += 1;
        if self.recent.back() == Some(&problem) {
            return;
        }
        if self.recent.len() == RECENT_PROBLEMS {
            self.recent.pop_front();
        }
        self.recent.push_back(problem);
    }

    /// The problems recorded after `since` problems had been (at most the
    /// last few).
    fn since(&self, since: u64) -> Vec<String> {
        let new = usize::try_from(self.problems.saturating_sub(since)).unwrap_or(usize::MAX);
        let skip = self.recent.len().saturating_sub(new);
        self.recent.iter().skip(skip).cloned().collect()
    }
}

/// The agent's own requests, numbered in arrival order.
#[derive(Debug, Default)]
struct AgentRequests {
    arrived: u64,
    /// The numbers of those not answered yet.
    open: BTreeSet<u64>,
}

/// How to make one request.
#[derive(Debug, Default)]
pub(crate) struct RequestOpts {
    /// Give up after this long (none: until the agent answers or exits).
    pub timeout: Option<Duration>,
    /// See [`Pending::new_session_cwd`].
    pub new_session_cwd: Option<PathBuf>,
    /// Fail with [`AcpError::NotAcp`] when the agent has written lines that
    /// are not JSON-RPC, and nothing valid, for this long.
    pub not_acp_after: Option<Duration>,
    /// A turn of this session: when its answer arrives, end the session's
    /// open permission questions (`cancelled`) and wait until the agent
    /// requests that arrived before the answer have been served.
    pub settle_session: Option<String>,
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

/// A permission request checked against the known sessions, waiting for the
/// policy.
struct PreparedPermission {
    incoming: IncomingPermission,
    cwd: PathBuf,
    cancelled: watch::Receiver<u64>,
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

    fn emit(&self, event: AgentEvent) {
        // The owner may have stopped listening; that is fine.
        let _ = self.events.send(event);
    }

    /// Reports a problem with what the agent sent; `summary` is the short
    /// form quoted in a later timeout error.
    fn protocol_problem(&self, message: String, summary: String) {
        tracing::warn!("agent protocol error: {message}");
        self.health.send_modify(|h| h.record(summary));
        self.emit(AgentEvent::ProtocolError(message));
    }

    fn protocol_error(&self, message: String) {
        self.protocol_problem(message.clone(), message);
    }

    /// A line that is not JSON-RPC at all.
    fn garbage_line(&self, message: String, line: &[u8]) {
        let short = short_preview(line);
        self.health
            .send_modify(|h| h.last_garbage = Some(short.clone()));
        self.protocol_problem(message, format!("stdout was not ACP: `{short}`"));
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
        let opts = RequestOpts {
            timeout,
            new_session_cwd,
            ..RequestOpts::default()
        };
        self.request_with(method, params, opts).await
    }

    /// [`Connection::request`] with every option.
    pub(crate) async fn request_with(
        &self,
        method: &str,
        params: Value,
        opts: RequestOpts,
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
                    new_session_cwd: opts.new_session_cwd,
                },
            );
        }
        let problems_before = self.health.borrow().problems;
        tracing::debug!(%id, method, "request to agent");
        if !self.send(&Message::request(id.clone(), method, Some(params))) {
            self.lock().pending.remove(&id);
            return Err(self.gone_error());
        }
        let deadline = opts.timeout.map(|t| tokio::time::Instant::now() + t);
        let expired = async {
            match deadline {
                Some(deadline) => tokio::time::sleep_until(deadline).await,
                None => std::future::pending().await,
            }
        };
        let not_acp = async {
            match opts.not_acp_after {
                Some(grace) => self.not_acp(grace).await,
                None => std::future::pending().await,
            }
        };
        let reply = tokio::select! {
            received = rx => received,
            () = expired => {
                let mut state = self.lock();
                state.pending.remove(&id);
                if let Some(info) = &state.closed {
                    return Err(info.to_error());
                }
                return Err(AcpError::Timeout {
                    method: method.to_owned(),
                    after: opts.timeout.unwrap_or_default(),
                    stderr_tail: self.tail.snapshot(),
                    protocol_errors: self.health.borrow().since(problems_before),
                });
            }
            line = not_acp => {
                let mut state = self.lock();
                state.pending.remove(&id);
                if let Some(info) = &state.closed {
                    return Err(info.to_error());
                }
                return Err(AcpError::NotAcp {
                    method: method.to_owned(),
                    line,
                    after: opts.not_acp_after.unwrap_or_default(),
                    stderr_tail: self.tail.snapshot(),
                });
            }
        };
        let Ok(Reply { result, barrier }) = reply else {
            return Err(self.gone_error());
        };
        if let Some(session_id) = &opts.settle_session
            && !matches!(result, Err(AcpError::Exited { .. }))
        {
            self.mark_cancelled(session_id);
            self.settle(barrier).await;
        }
        result
    }

    /// Resolves once the agent has written a line that is not JSON-RPC and
    /// then, for `grace`, nothing valid; returns that line. Never resolves
    /// once a valid message has been read.
    async fn not_acp(&self, grace: Duration) -> String {
        let mut health = self.health.subscribe();
        if health
            .wait_for(|h| h.valid || h.last_garbage.is_some())
            .await
            .is_err()
        {
            return std::future::pending().await;
        }
        tokio::time::sleep(grace).await;
        let now = health.borrow_and_update().clone();
        match now.last_garbage {
            Some(line) if !now.valid => line,
            _ => std::future::pending().await,
        }
    }

    /// Waits until every agent request numbered below `barrier` has been
    /// answered (or the connection closed).
    async fn settle(&self, barrier: u64) {
        let mut requests = self.agent_requests.subscribe();
        let mut closed = self.closed.subscribe();
        tokio::select! {
            _ = requests.wait_for(|r| r.open.range(..barrier).next().is_none()) => {}
            _ = closed.wait_for(|closed| *closed) => {}
        }
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

    async fn read_loop<R: AsyncRead + Unpin>(self: Arc<Self>, reader: R) {
        let mut lines = AsyncLineReader::new(BufReader::new(reader));
        loop {
            match lines.next_frame().await {
                Ok(None) => break,
                Ok(Some(Frame::Line(line))) => self.handle_line(&line),
                Ok(Some(Frame::TooLong { len_seen })) => self.garbage_line(
                    format!("discarded a line of {len_seen} bytes (longer than {MAX_LINE_BYTES})"),
                    format!("<a line of {len_seen} bytes>").as_bytes(),
                ),
                Err(e) => {
                    tracing::warn!("cannot read the agent's stdout: {e}");
                    break;
                }
            }
        }
        tracing::debug!("agent stdout closed");
    }

    fn handle_line(self: &Arc<Self>, line: &[u8]) {
        let parsed = parse_line(line);
        if matches!(parsed, Ok(Some(_))) && !self.health.borrow().valid {
            self.health.send_modify(|h| h.valid = true);
        }
        match parsed {
            Ok(None) => {}
            Ok(Some(Message::Response(response))) => self.handle_response(response),
            Ok(Some(Message::Notification(notification))) => self.handle_notification(notification),
            Ok(Some(Message::Request(request))) => self.handle_request(request),
            Err(err) => {
                self.garbage_line(
                    format!("invalid message from agent ({err}): {}", preview(line)),
                    line,
                );
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
            stderr_tail: self.tail.snapshot(),
        });
        let barrier = self.agent_requests.borrow().arrived;
        let _ = pending.tx.send(Reply { result, barrier });
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

    /// Numbers an agent request in arrival order and marks it open.
    fn open_agent_request(&self) -> u64 {
        let mut seq = 0;
        self.agent_requests.send_modify(|r| {
            seq = r.arrived;
            r.arrived += 1;
            r.open.insert(seq);
        });
        seq
    }

    /// Answers an agent request and marks it done (after its event, if
    /// any, has been emitted).
    fn finish_agent_request(&self, seq: u64, id: Id, result: Result<Value, ErrorObject>) {
        let message = match result {
            Ok(value) => Message::response(id, value),
            Err(error) => Message::error(Some(id), error),
        };
        self.send(&message);
        self.agent_requests.send_modify(|r| {
            r.open.remove(&seq);
        });
    }

    fn handle_request(self: &Arc<Self>, request: Request) {
        let Request { id, method, params } = request;
        tracing::debug!(%id, method, "request from agent");
        let seq = self.open_agent_request();
        match method.as_str() {
            "session/request_permission" => {
                // Checked and subscribed to the session's cancellation here,
                // in arrival order, so a cancel or the end of the turn that
                // follows reaches it.
                let prepared = self.prepare_permission(params.as_ref());
                let conn = self.clone();
                tokio::spawn(async move {
                    let result = match prepared {
                        Ok(prepared) => conn.answer_permission(prepared).await,
                        Err(e) => Err(e),
                    };
                    conn.finish_agent_request(seq, id, result);
                });
            }
            "fs/read_text_file" | "fs/write_text_file" => {
                let fs_method = if method == "fs/read_text_file" {
                    FsMethod::Read
                } else {
                    FsMethod::Write
                };
                let conn = self.clone();
                tokio::spawn(async move {
                    let result = conn.serve_fs(fs_method, params).await;
                    conn.finish_agent_request(seq, id, result);
                });
            }
            other => {
                let error = ErrorObject::method_not_found(other);
                self.finish_agent_request(seq, id, Err(error));
            }
        }
    }

    fn session_cwd(&self, session_id: &str) -> Option<PathBuf> {
        self.lock().sessions.get(session_id).map(|s| s.cwd.clone())
    }

    fn prepare_permission(
        &self,
        params: Option<&Value>,
    ) -> Result<PreparedPermission, ErrorObject> {
        let incoming = permission::parse_request(params)?;
        let state = self.lock();
        let session = state.sessions.get(&incoming.session_id).ok_or_else(|| {
            ErrorObject::invalid_params(format!("unknown sessionId `{}`", incoming.session_id))
        })?;
        Ok(PreparedPermission {
            cwd: session.cwd.clone(),
            cancelled: session.cancelled.subscribe(),
            incoming,
        })
    }

    async fn answer_permission(&self, prepared: PreparedPermission) -> Result<Value, ErrorObject> {
        let PreparedPermission {
            incoming,
            cwd,
            mut cancelled,
        } = prepared;
        let mut closed = self.closed.subscribe();
        let decide = self.permission.decide(PermissionRequest {
            session_id: incoming.session_id.clone(),
            session_cwd: cwd,
            title: incoming.title.clone(),
            kind: incoming.kind.clone(),
            locations: incoming.locations.clone(),
            raw: incoming.raw.clone(),
        });
        // A decision that is already made wins over a cancel that came
        // after the question (e.g. the end of the turn).
        let decision = tokio::select! {
            biased;
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
    shorten(line, PREVIEW_CHARS)
}

fn short_preview(line: &[u8]) -> String {
    shorten(line, SHORT_PREVIEW_CHARS)
}

fn shorten(line: &[u8], limit: usize) -> String {
    let text = String::from_utf8_lossy(line);
    let text = text.trim();
    if text.chars().count() > limit {
        let cut: String = text.chars().take(limit).collect();
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
            matches!(&err, AcpError::Rpc { method, code: -32000, message, stderr_tail } if method == "authenticate" && message == "auth required" && stderr_tail == &["agent log line"]),
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
            protocol_errors,
            ..
        } = &err
        else {
            panic!("{err:?}");
        };
        assert_eq!(method, "initialize");
        assert_eq!(stderr_tail, &["agent log line"]);
        assert!(protocol_errors.is_empty(), "{protocol_errors:?}");
        let req = peer.recv().await;
        peer.send(json!({"jsonrpc": "2.0", "id": req["id"], "result": {}}))
            .await;
        assert!(matches!(
            next_event(&mut events).await,
            AgentEvent::ProtocolError(_)
        ));
    }

    /// Time is paused: it only moves when every task waits, so the garbage
    /// below is always read before the limits expire.
    #[tokio::test(start_paused = true)]
    async fn a_timeout_quotes_what_stdout_carried_instead() {
        let Setup {
            conn,
            mut peer,
            mut events,
            _dir: _guard,
            ..
        } = setup(Arc::new(AllowAll));
        let c = conn.clone();
        let call = tokio::spawn(async move {
            c.request("initialize", json!({}), Some(Duration::from_secs(30)), None)
                .await
        });
        peer.recv().await;
        peer.send_raw("this is not json").await;
        peer.send(json!({"jsonrpc": "2.0", "id": 77, "result": {}}))
            .await;
        assert!(
            matches!(next_event(&mut events).await, AgentEvent::ProtocolError(m) if m.contains("this is not json"))
        );
        assert!(
            matches!(next_event(&mut events).await, AgentEvent::ProtocolError(m) if m.contains("77"))
        );
        let err = call.await.unwrap().unwrap_err();
        let AcpError::Timeout {
            protocol_errors, ..
        } = &err
        else {
            panic!("{err:?}");
        };
        assert_eq!(protocol_errors.len(), 2, "{protocol_errors:?}");
        assert_eq!(protocol_errors[0], "stdout was not ACP: `this is not json`");
        assert!(protocol_errors[1].contains("77"), "{protocol_errors:?}");
        assert!(
            err.to_string().starts_with(
                "agent did not answer `initialize` within 30s; stdout was not ACP: `this is not json`; agent answered request id 77"
            ),
            "{err}"
        );
        assert!(
            err.to_string().ends_with("; stderr: agent log line"),
            "{err}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn only_garbage_on_stdout_fails_early_as_not_acp() {
        let Setup {
            conn,
            mut peer,
            mut events,
            _dir: _guard,
            ..
        } = setup(Arc::new(AllowAll));
        let opts = || RequestOpts {
            timeout: Some(Duration::from_secs(30)),
            not_acp_after: Some(Duration::from_secs(5)),
            ..RequestOpts::default()
        };
        let c = conn.clone();
        let started = tokio::time::Instant::now();
        let call =
            tokio::spawn(async move { c.request_with("initialize", json!({}), opts()).await });
        peer.recv().await;
        peer.send_raw("Welcome to my agent!").await;
        peer.send_raw("this is not json").await;
        let err = call.await.unwrap().unwrap_err();
        let AcpError::NotAcp {
            method,
            line,
            after,
            stderr_tail,
        } = &err
        else {
            panic!("{err:?}");
        };
        assert_eq!(
            (method.as_str(), line.as_str(), *after),
            ("initialize", "this is not json", Duration::from_secs(5))
        );
        assert_eq!(stderr_tail, &["agent log line"]);
        assert!(started.elapsed() < Duration::from_secs(30));
        assert_eq!(drain_protocol_errors(&mut events), 2);

        // A banner followed by real protocol is tolerated.
        let Setup {
            conn,
            mut peer,
            mut events,
            _dir: _guard,
            ..
        } = setup(Arc::new(AllowAll));
        let c = conn.clone();
        let call =
            tokio::spawn(async move { c.request_with("initialize", json!({}), opts()).await });
        let req = peer.recv().await;
        peer.send_raw("Loading model...").await;
        peer.send(json!({"jsonrpc": "2.0", "method": "_vendor/hello"}))
            .await;
        assert!(matches!(
            next_event(&mut events).await,
            AgentEvent::ProtocolError(_)
        ));
        // Long after the grace period, the answer still counts.
        tokio::time::sleep(Duration::from_secs(20)).await;
        peer.send(json!({"jsonrpc": "2.0", "id": req["id"], "result": {"ok": 1}}))
            .await;
        assert_eq!(call.await.unwrap().unwrap(), json!({"ok": 1}));
    }

    fn drain_protocol_errors(events: &mut mpsc::UnboundedReceiver<AgentEvent>) -> usize {
        std::iter::from_fn(|| events.try_recv().ok())
            .inspect(|e| assert!(matches!(e, AgentEvent::ProtocolError(_)), "{e:?}"))
            .count()
    }

    /// The agent's requests and the end of the turn written back to back:
    /// the turn returns only once every event is on the channel, and a
    /// question nobody answered is ended `cancelled`.
    #[tokio::test]
    async fn a_turn_returns_after_the_events_of_the_agents_requests() {
        for round in 0..20 {
            let Setup {
                conn,
                mut peer,
                mut events,
                cwd,
                _dir: _guard,
            } = setup(if round % 2 == 0 {
                Arc::new(AllowAll) as Arc<dyn PermissionPolicy>
            } else {
                Arc::new(AskForever)
            });
            std::fs::write(cwd.join("a.txt"), "A").unwrap();
            let c = conn.clone();
            let call = tokio::spawn(async move {
                let opts = RequestOpts {
                    settle_session: Some("s1".into()),
                    ..RequestOpts::default()
                };
                c.request_with("session/prompt", json!({}), opts).await
            });
            let req = peer.recv().await;
            peer.send(permission_request(1, &cwd.join("a.txt"))).await;
            peer.send(json!({"jsonrpc": "2.0", "id": 2, "method": "fs/read_text_file", "params": {"sessionId": "s1", "path": cwd.join("a.txt")}}))
                .await;
            peer.send(json!({"jsonrpc": "2.0", "id": 3, "method": "fs/write_text_file", "params": {"sessionId": "s1", "path": cwd.join("b.txt"), "content": "B"}}))
                .await;
            peer.send(
                json!({"jsonrpc": "2.0", "id": req["id"], "result": {"stopReason": "end_turn"}}),
            )
            .await;
            let result = tokio::time::timeout(SAFETY, call)
                .await
                .expect("the turn settles")
                .unwrap()
                .unwrap();
            assert_eq!(result, json!({"stopReason": "end_turn"}));
            let seen: Vec<AgentEvent> = std::iter::from_fn(|| events.try_recv().ok()).collect();
            assert_eq!(seen.len(), 3, "round {round}: {seen:?}");
            let decision = seen.iter().find_map(|e| match e {
                AgentEvent::Permission { decision, .. } => Some(*decision),
                _ => None,
            });
            let expected = if round % 2 == 0 {
                PermissionDecision::AllowOnce
            } else {
                PermissionDecision::Cancelled
            };
            assert_eq!(decision, Some(expected), "round {round}: {seen:?}");
            assert!(
                seen.iter()
                    .any(|e| matches!(e, AgentEvent::FsRead { allowed: true, .. }))
            );
            assert!(
                seen.iter()
                    .any(|e| matches!(e, AgentEvent::FsWrite { allowed: true, .. }))
            );
            let mut ids: Vec<Value> = Vec::new();
            for _ in 0..3 {
                ids.push(peer.recv().await["id"].clone());
            }
            ids.sort_by_key(|id| id.as_i64());
            assert_eq!(ids, [json!(1), json!(2), json!(3)]);
        }
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
