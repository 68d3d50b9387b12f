//! Our requests to the agent: sending them, waiting for their answers (with
//! a timeout, an early "this is not ACP" failure, and the settling of a
//! turn), and notifications.

use std::path::PathBuf;
use std::time::Duration;

use enki_jsonrpc::Message;
use serde_json::Value;
use tokio::sync::oneshot;

use super::{Connection, Pending, Reply};
use crate::error::AcpError;

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

impl Connection {
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
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{
        AskForever, SAFETY, Setup, next_event, permission_request, setup,
    };
    use super::*;
    use crate::permission::{AllowAll, PermissionDecision, PermissionPolicy};
    use crate::updates::AgentEvent;
    use serde_json::json;
    use std::sync::Arc;
    use tokio::sync::mpsc;

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
            matches!(&err, AcpError::Rpc { method, code: -32000, message, stderr_tail, .. } if method == "authenticate" && message == "auth required" && stderr_tail == &["agent log line"]),
            "{err:?}"
        );
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
            // A person asked is told as a question first.
            let asked = usize::from(round % 2 == 1);
            assert_eq!(seen.len(), 3 + asked, "round {round}: {seen:?}");
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
}
