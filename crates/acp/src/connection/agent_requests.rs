//! The agent's own requests to us: permission questions (through the
//! policy, ended `cancelled` by a cancel) and fs reads and writes confined to
//! the session's cwd; anything else is "method not found".

use std::path::PathBuf;
use std::sync::Arc;

use enki_jsonrpc::{ErrorObject, Id, Message, Request};
use serde_json::Value;
use tokio::sync::watch;

use super::Connection;
use crate::permission::{
    self, IncomingPermission, PermissionDecision, PermissionRequest, PermissionVerdict,
};
use crate::updates::{AgentEvent, str_field};

/// A permission request checked against the known sessions, waiting for the
/// policy.
struct PreparedPermission {
    incoming: IncomingPermission,
    cwd: PathBuf,
    cancelled: watch::Receiver<u64>,
}

impl Connection {
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

    pub(super) fn handle_request(self: &Arc<Self>, request: Request) {
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
        // A policy that decides at once answers at once; one that asks a
        // person is told as a question awaiting its answer (the agent waits
        // for a person meanwhile, see `AgentEvent::PermissionAsked`).
        let mut decide = decide;
        let decided_at_once = {
            let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
            match decide.as_mut().poll(&mut cx) {
                std::task::Poll::Ready(verdict) => Some(verdict),
                std::task::Poll::Pending => None,
            }
        };
        if decided_at_once.is_none() {
            self.emit(AgentEvent::PermissionAsked {
                session_id: incoming.session_id.clone(),
                title: incoming.title.clone(),
            });
        }
        // A decision that is already made wins over a cancel that came
        // after the question (e.g. the end of the turn).
        let verdict = match decided_at_once {
            Some(verdict) => verdict,
            None => tokio::select! {
                biased;
                verdict = decide => verdict,
                Ok(()) = cancelled.changed() => PermissionVerdict::new(
                    PermissionDecision::Cancelled,
                    "the turn was cancelled before it was answered",
                ),
                _ = closed.wait_for(|closed| *closed) => {
                    return Err(ErrorObject::internal("the client is shutting down"));
                }
            },
        };
        let decision = verdict.decision;
        let (answered, result) = permission::choose_option(decision, &incoming.options);
        // Cancelled for want of an option of the decision's kind: say so.
        let reason = if answered == PermissionDecision::Cancelled && decision != answered {
            format!(
                "{}; the agent offered no `{decision}` option",
                verdict.reason
            )
        } else {
            verdict.reason
        };
        tracing::debug!(session = %incoming.session_id, title = %incoming.title, %decision, %answered, %reason, "permission answered");
        self.emit(AgentEvent::Permission {
            session_id: incoming.session_id,
            title: incoming.title,
            decision: answered,
            reason,
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

#[cfg(test)]
mod tests {
    use super::super::test_support::{AskForever, Setup, next_event, permission_request, setup};
    use super::*;
    use crate::permission::{AllowAll, DenyAll, PermissionPolicy};
    use serde_json::json;

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
                reason,
            } = next_event(&mut events).await
            else {
                panic!("expected a permission event");
            };
            assert_eq!((session_id.as_str(), title.as_str()), ("s1", "Edit file"));
            assert_eq!(decision.is_allowed(), expected == "yes");
            assert!(!reason.is_empty(), "a permission answer says why");
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
        // A policy that asks a person is told as a question awaiting its
        // answer first (one that decides at once is not: see above).
        assert_eq!(
            next_event(&mut events).await,
            AgentEvent::PermissionAsked {
                session_id: "s1".into(),
                title: "Edit file".into()
            }
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
}
