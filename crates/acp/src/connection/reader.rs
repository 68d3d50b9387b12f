//! The reader task: reads the agent's stdout line by line, routes answers to
//! our pending requests, session updates to the events, and keeps track of
//! how healthy that stdout looks.

use std::collections::VecDeque;
use std::sync::Arc;

use enki_jsonrpc::{Frame, MAX_LINE_BYTES, Message, Notification, Response, parse_line};
use serde_json::Value;
use tokio::io::{AsyncRead, BufReader};

use super::{Connection, Pending, Reply, register};
use crate::error::AcpError;
use crate::framing::AsyncLineReader;
use crate::modes::reported_mode;
use crate::updates::{AgentEvent, SessionUpdate, parse_session_update, str_field};

/// Longest excerpt of a bad line quoted in a `ProtocolError` event.
const PREVIEW_CHARS: usize = 200;
/// Longest excerpt of a non-protocol line quoted in an error message.
const SHORT_PREVIEW_CHARS: usize = 80;
/// How many recent protocol problems a timeout error quotes.
const RECENT_PROBLEMS: usize = 3;

/// What the agent's stdout has looked like so far.
#[derive(Debug, Clone, Default)]
pub(super) struct StdoutHealth {
    /// A line that is JSON-RPC has been read.
    pub(super) valid: bool,
    /// The last line that was not JSON-RPC (shortened), if any.
    pub(super) last_garbage: Option<String>,
    /// The last few protocol problems, oldest first, and how many there
    /// have been in all.
    recent: VecDeque<String>,
    pub(super) problems: u64,
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
    pub(super) fn since(&self, since: u64) -> Vec<String> {
        let new = usize::try_from(self.problems.saturating_sub(since)).unwrap_or(usize::MAX);
        let skip = self.recent.len().saturating_sub(new);
        self.recent.iter().skip(skip).cloned().collect()
    }
}

impl Connection {
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

    pub(super) async fn read_loop<R: AsyncRead + Unpin>(self: Arc<Self>, reader: R) {
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
            data: e.data,
            stderr_tail: self.tail.snapshot(),
        });
        let barrier = self.agent_requests.borrow().arrived;
        let _ = pending.tx.send(Reply { result, barrier });
    }

    fn handle_notification(&self, notification: Notification) {
        match notification.method.as_str() {
            "session/update" => match parse_session_update(notification.params.as_ref()) {
                Ok((session_id, update)) => {
                    if let SessionUpdate::Other { raw, .. } = &update
                        && let Some(mode) = reported_mode(raw)
                        && let Some(session) = self.lock().sessions.get_mut(&session_id)
                    {
                        session.reported_mode = Some(mode);
                    }
                    self.emit(AgentEvent::Update { session_id, update })
                }
                Err(message) => self.protocol_error(message.to_owned()),
            },
            crate::auth::AUTH_STATUS_UPDATE => {
                match crate::auth::AuthStatus::from_params(notification.params.as_ref()) {
                    Some(status) => self.emit(AgentEvent::AuthStatus(status)),
                    None => {
                        tracing::debug!("ignoring a malformed {}", crate::auth::AUTH_STATUS_UPDATE)
                    }
                }
            }
            method if method.starts_with('_') => {
                tracing::debug!(method, "ignoring extension notification");
            }
            method => tracing::debug!(method, "ignoring unknown notification"),
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
    use super::super::test_support::{SAFETY, Setup, next_event, setup};
    use crate::permission::AllowAll;
    use crate::updates::{AgentEvent, SessionUpdate};
    use enki_jsonrpc::MAX_LINE_BYTES;
    use serde_json::{Value, json};
    use std::sync::Arc;
    use tokio::io::AsyncWriteExt;

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

        // A login status is reported; a malformed one is ignored.
        peer.send(json!({"jsonrpc": "2.0", "method": "_auth/status_update", "params": {"authStatus": {}}}))
            .await;
        peer.send(json!({"jsonrpc": "2.0", "method": "_auth/status_update", "params": {"authStatus": {"kind": "none", "label": "Not logged in"}}}))
            .await;
        let AgentEvent::AuthStatus(status) = next_event(&mut events).await else {
            panic!("expected the login status");
        };
        assert!(!status.logged_in());
        assert_eq!(status.label, "Not logged in");

        // Still working.
        let c = conn.clone();
        let call = tokio::spawn(async move { c.request("m", json!({}), Some(SAFETY), None).await });
        let req = peer.recv().await;
        peer.send(json!({"jsonrpc": "2.0", "id": req["id"], "result": null}))
            .await;
        assert_eq!(call.await.unwrap().unwrap(), Value::Null);
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
