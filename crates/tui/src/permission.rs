//! The `ask` permission policy: a request becomes a prompt in the UI and
//! the agent's future waits for the user's answer. Only the asking
//! worker waits; everything else carries on. A request whose future is
//! dropped (the worker was cancelled or stopped) disappears from the UI.

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex, MutexGuard};

use enki_acp::{PermissionDecision, PermissionPolicy, PermissionRequest, PermissionVerdict};
use tokio::sync::oneshot;

use crate::msg::{Msg, PermissionAsk};

type Pending = HashMap<u64, oneshot::Sender<PermissionDecision>>;

pub struct AskUser {
    ui: Sender<Msg>,
    /// `.enki/copies/`: a session cwd inside it names the worker's task.
    copies: PathBuf,
    next: AtomicU64,
    pending: Arc<Mutex<Pending>>,
}

fn lock(pending: &Mutex<Pending>) -> MutexGuard<'_, Pending> {
    pending
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Withdraws the prompt when the waiting future goes away unanswered.
struct Withdraw {
    id: u64,
    pending: Arc<Mutex<Pending>>,
    ui: Sender<Msg>,
}

impl Drop for Withdraw {
    fn drop(&mut self) {
        if lock(&self.pending).remove(&self.id).is_some() {
            let _ = self.ui.send(Msg::PermissionGone(self.id));
        }
    }
}

impl AskUser {
    pub fn new(ui: Sender<Msg>, copies: PathBuf) -> AskUser {
        AskUser {
            ui,
            copies,
            next: AtomicU64::new(1),
            pending: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Delivers the user's answer to the waiting agent.
    pub fn answer(&self, id: u64, decision: PermissionDecision) {
        if let Some(reply) = lock(&self.pending).remove(&id) {
            let _ = reply.send(decision);
        }
    }

    /// The task whose copy `cwd` is, if it is one.
    fn task_of(&self, cwd: &std::path::Path) -> Option<String> {
        let relative = cwd.strip_prefix(&self.copies).ok()?;
        let first = relative.components().next()?;
        first.as_os_str().to_str().map(str::to_string)
    }
}

impl PermissionPolicy for AskUser {
    fn decide(
        &self,
        request: PermissionRequest,
    ) -> Pin<Box<dyn Future<Output = PermissionVerdict> + Send>> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (reply, answer) = oneshot::channel();
        lock(&self.pending).insert(id, reply);
        let ask = PermissionAsk {
            id,
            task: self.task_of(&request.session_cwd),
            title: request.title,
            kind: request.kind,
            locations: request
                .locations
                .iter()
                .map(|p| p.display().to_string())
                .collect(),
        };
        if self.ui.send(Msg::Permission(ask)).is_err() {
            // No UI any more: nobody can answer.
            lock(&self.pending).remove(&id);
            return PermissionVerdict::reject_once("no person to ask: the screen has closed")
                .ready();
        }
        let withdraw = Withdraw {
            id,
            pending: self.pending.clone(),
            ui: self.ui.clone(),
        };
        Box::pin(async move {
            let _withdraw = withdraw;
            match answer.await {
                Ok(decision) => PermissionVerdict::new(decision, answered_by_the_person(decision)),
                Err(_) => PermissionVerdict::new(
                    PermissionDecision::Cancelled,
                    "the question was withdrawn unanswered",
                ),
            }
        })
    }
}

/// Why the answer is what it is, when the person gave it.
fn answered_by_the_person(decision: PermissionDecision) -> &'static str {
    match decision {
        PermissionDecision::AllowOnce => "the person allowed it once",
        PermissionDecision::AllowAlways => "the person allowed it always",
        PermissionDecision::RejectOnce | PermissionDecision::RejectAlways => "the person refused",
        PermissionDecision::Cancelled => "the person dismissed the question",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(cwd: &str) -> PermissionRequest {
        PermissionRequest {
            session_id: "s".into(),
            session_cwd: PathBuf::from(cwd),
            title: "Edit a.txt".into(),
            kind: Some("edit".into()),
            locations: vec![PathBuf::from("/p/.enki/copies/task-1/a.txt")],
            raw: serde_json::Value::Null,
        }
    }

    #[tokio::test]
    async fn an_answer_reaches_the_agent() {
        let (tx, rx) = std::sync::mpsc::channel();
        let policy = AskUser::new(tx, PathBuf::from("/p/.enki/copies"));
        let decision = policy.decide(request("/p/.enki/copies/task-1"));
        let Ok(Msg::Permission(ask)) = rx.recv() else {
            panic!("no prompt")
        };
        assert_eq!(ask.task.as_deref(), Some("task-1"));
        assert_eq!(ask.locations, ["/p/.enki/copies/task-1/a.txt"]);
        policy.answer(ask.id, PermissionDecision::AllowAlways);
        assert_eq!(
            decision.await,
            PermissionVerdict::new(
                PermissionDecision::AllowAlways,
                "the person allowed it always"
            )
        );
        // Answered: nothing is withdrawn.
        assert!(rx.try_recv().is_err());
    }

    #[tokio::test]
    async fn a_dropped_request_is_withdrawn_and_the_planner_has_no_task() {
        let (tx, rx) = std::sync::mpsc::channel();
        let policy = AskUser::new(tx, PathBuf::from("/p/.enki/copies"));
        let decision = policy.decide(request("/p"));
        let Ok(Msg::Permission(ask)) = rx.recv() else {
            panic!("no prompt")
        };
        assert_eq!(ask.task, None);
        drop(decision);
        assert!(matches!(rx.recv(), Ok(Msg::PermissionGone(id)) if id == ask.id));
        // A late answer goes nowhere and does not panic.
        policy.answer(ask.id, PermissionDecision::AllowOnce);
    }
}
