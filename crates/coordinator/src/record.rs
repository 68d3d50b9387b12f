//! An agent run's record, the same for a worker and a merger: each ACP
//! event becomes a live transcript entry for the front ends, an event in
//! the task's log, and (message text) part of the reply whose `[OUTPUT]` is
//! the run's result. Each agent message (a run of message chunks that
//! anything but usage-like updates ends) is its own `message` event and
//! transcript entry. A merger's log events are the worker's kinds with a
//! `merger_` prefix, so a task's log tells the two apart.

use std::borrow::Cow;
use std::path::PathBuf;
use std::time::Instant;

use enki_acp::{AgentEvent, SessionUpdate};
use enki_core::liveness::Sign;
use serde_json::json;

use crate::context::Shared;
use crate::reply::Reply;
use crate::transcript::{TranscriptEntry, transcript_entry};
use crate::usage::{Meter, Run};
use enki_core::usage::RunUsage;

/// Which agent of a task a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunKind {
    Worker,
    Merger,
}

impl RunKind {
    /// The kind of a task log event of this run.
    fn log_kind(self, kind: &str) -> Cow<'_, str> {
        match self {
            RunKind::Worker => Cow::Borrowed(kind),
            RunKind::Merger => Cow::Owned(format!("merger_{kind}")),
        }
    }
}

/// What a run tells its live views as it goes.
#[derive(Debug, Clone, PartialEq)]
pub enum Live {
    /// A sign of life, with a short description when there is one.
    Activity(Option<String>),
    /// What the agent did, for its liveness (`enki_core::liveness`).
    Sign(Sign),
    /// A transcript entry.
    Transcript(TranscriptEntry),
    /// What the run has used so far changed (see `usage`).
    Usage(RunUsage),
}

/// The record of one run, fed every event of its agent. Its usage is
/// counted here, beside the reply.
pub struct RunRecord<'a> {
    ctx: &'a Shared,
    task_id: String,
    kind: RunKind,
    reply: Reply,
    meter: Meter,
    last_logged: Instant,
    titles: ToolTitles,
    /// The agent's last retry notice: the same one again is not logged.
    retry: Option<String>,
    live: &'a (dyn Fn(Live) + Sync),
}

impl<'a> RunRecord<'a> {
    /// Run `number` of `kind` for `task_id` (an attempt, a merger run); a
    /// reply too long for its log row spills to `reply_file`.
    pub fn new(
        ctx: &'a Shared,
        task_id: &str,
        (kind, number): (RunKind, i64),
        reply_file: PathBuf,
        live: &'a (dyn Fn(Live) + Sync),
    ) -> RunRecord<'a> {
        let task = task_id.to_string();
        let run = match kind {
            RunKind::Worker => Run::Worker {
                task,
                attempt: number,
            },
            RunKind::Merger => Run::Merger { task, run: number },
        };
        RunRecord {
            ctx,
            task_id: task_id.to_string(),
            kind,
            reply: Reply::new(reply_file),
            meter: Meter::new(run),
            last_logged: Instant::now(),
            titles: ToolTitles::new(),
            retry: None,
            live,
        }
    }

    /// Tells the live views something outside the agent's events.
    pub fn tell(&self, live: Live) {
        (self.live)(live);
    }

    /// The agent's session opened: its usage is recorded from now on.
    pub async fn opened(&mut self, agent: &str, model: Option<String>) {
        self.meter.opened(self.ctx, agent, model).await;
    }

    /// Records one event of the agent.
    pub async fn event(&mut self, event: &AgentEvent) {
        if self.meter.observe(self.ctx, event).await {
            (self.live)(Live::Usage(self.meter.usage().clone()));
        }
        if ends_a_message(event) {
            self.end_message().await;
        }
        if let Some(entry) = transcript_entry(event, &mut self.titles) {
            (self.live)(Live::Transcript(entry));
        }
        if let Some(sign) = crate::signs::sign_of(event, &self.titles) {
            (self.live)(Live::Sign(sign));
        }
        let logged = match event {
            AgentEvent::Update { update, .. } => {
                if let SessionUpdate::AgentMessageChunk { text } = update {
                    self.reply.push(text);
                }
                (self.live)(Live::Activity(short_activity(update)));
                match update {
                    SessionUpdate::Retrying { message, .. } => {
                        (self.retry.as_ref() != Some(message)).then(|| {
                            self.retry = Some(message.clone());
                            ("agent_retrying", json!({"message": message}))
                        })
                    }
                    _ => logged_update(update, &self.titles),
                }
            }
            AgentEvent::PermissionAsked { title, .. } => {
                Some(("permission_asked", json!({"title": title})))
            }
            AgentEvent::Permission {
                title,
                decision,
                reason,
                ..
            } => Some((
                "permission",
                json!({"title": title, "decision": decision.as_str(), "reason": reason}),
            )),
            AgentEvent::FsWrite { path, allowed } => {
                Some(("fs_write", json!({"path": path, "allowed": allowed})))
            }
            AgentEvent::FsRead { path, allowed } if !allowed => {
                Some(("fs_read", json!({"path": path, "allowed": allowed})))
            }
            AgentEvent::ProtocolError(message) => {
                Some(("protocol_error", json!({"message": message})))
            }
            AgentEvent::Exited {
                status,
                stderr_tail,
            } => Some((
                "agent_exited",
                json!({"status": status.map(|s| s.to_string()), "stderr": enki_acp::telling_stderr(stderr_tail)}),
            )),
            AgentEvent::AuthStatus(status) => Some((
                "auth_status",
                json!({"kind": status.kind, "label": status.label}),
            )),
            AgentEvent::FsRead { .. } => None,
            // In the run's usage row, not the task's log.
            AgentEvent::TurnUsage { .. } => None,
        };
        if let Some((kind, data)) = logged {
            self.log(kind, data).await;
        }
        // Keep the visible activity fresh without a write per streamed chunk.
        if self.last_logged.elapsed().as_millis() > 500
            && let AgentEvent::Update { update, .. } = event
            && let Some(text) = short_activity(update)
        {
            self.last_logged = Instant::now();
            let text = match self.kind {
                RunKind::Worker => text,
                RunKind::Merger => format!("merger: {text}"),
            };
            let id = self.task_id.clone();
            let _ = self.ctx.db.call(move |s| s.set_activity(&id, &text)).await;
        }
    }

    /// The turn is over: its last message is logged.
    pub async fn finish(&mut self) {
        self.reply.finish();
        self.end_message().await;
    }

    /// Logs the message being streamed, if any, and tells the live views
    /// it ended.
    async fn end_message(&mut self) {
        if let Some(data) = self.reply.end_message() {
            (self.live)(Live::Transcript(TranscriptEntry::MessageEnd));
            self.log("message", data).await;
        }
    }

    pub fn reply(&self) -> &Reply {
        &self.reply
    }

    pub fn into_reply(self) -> Reply {
        self.reply
    }

    async fn log(&self, kind: &str, data: serde_json::Value) {
        let (id, kind) = (self.task_id.clone(), self.kind.log_kind(kind).into_owned());
        if let Err(e) = self
            .ctx
            .db
            .call(move |s| s.append_task_event(&id, &kind, &data))
            .await
        {
            tracing::warn!(task = %self.task_id, "cannot record an agent event: {e}");
        }
    }
}

/// Whether `event` ends the agent message being streamed: anything but
/// another piece of it and updates that are not part of the conversation
/// (usage, mode and command lists).
pub(crate) fn ends_a_message(event: &AgentEvent) -> bool {
    !matches!(
        event,
        AgentEvent::Update {
            update: SessionUpdate::AgentMessageChunk { .. }
                | SessionUpdate::Usage { .. }
                | SessionUpdate::Other { .. },
            ..
        } | AgentEvent::AuthStatus(_)
            | AgentEvent::ProtocolError(_)
            | AgentEvent::TurnUsage { .. }
    )
}

/// Why a tool call failed, as the agent reported it (its first lines, cut
/// short): `None` unless `status` is `failed`.
pub(crate) fn failure(status: &Option<String>, raw: &serde_json::Value) -> Option<String> {
    const LIMIT: usize = 400;
    if status.as_deref() != Some("failed") {
        return None;
    }
    let text = enki_acp::tool_call_text(raw)?;
    let mut cut: String = text.chars().take(LIMIT).collect();
    if text.chars().count() > LIMIT {
        cut.push('…');
    }
    Some(cut)
}

/// The log event of a session update, if it is one worth keeping. An
/// update names its call's tool (remembered in `titles`), and a failed one
/// says why.
fn logged_update(
    update: &SessionUpdate,
    titles: &ToolTitles,
) -> Option<(&'static str, serde_json::Value)> {
    match update {
        SessionUpdate::ToolCall {
            id: call,
            title,
            kind,
            status,
            raw,
        } => Some((
            "tool_call",
            json!({"id": call, "title": title, "kind": kind, "status": status, "error": failure(status, raw)}),
        )),
        SessionUpdate::ToolCallUpdate {
            id: call,
            status,
            title,
            raw,
        } => Some((
            "tool_call_update",
            json!({
                "id": call,
                "status": status,
                "title": title.as_ref().or_else(|| titles.get(call)),
                "error": failure(status, raw),
            }),
        )),
        SessionUpdate::Plan { entries } => Some((
            "plan",
            json!(
                entries
                    .iter()
                    .map(|e| json!({"content": e.content, "status": e.status}))
                    .collect::<Vec<_>>()
            ),
        )),
        _ => None,
    }
}

pub(crate) fn short_activity(update: &SessionUpdate) -> Option<String> {
    match update {
        SessionUpdate::ToolCall { title, .. } => Some(title.chars().take(120).collect()),
        SessionUpdate::AgentThoughtChunk { .. } => Some("thinking".into()),
        SessionUpdate::AgentMessageChunk { .. } => Some("writing".into()),
        SessionUpdate::Plan { entries } => entries
            .iter()
            .find(|e| e.status.as_deref() == Some("in_progress"))
            .map(|e| e.content.chars().take(120).collect()),
        _ => None,
    }
}

/// Titles of a session's tool calls by call id: updates often carry only
/// the id and a status.
pub(crate) type ToolTitles = std::collections::HashMap<String, String>;

#[cfg(test)]
mod transcript_tests {
    use super::*;

    fn update(update: SessionUpdate) -> AgentEvent {
        AgentEvent::Update {
            session_id: "s".into(),
            update,
        }
    }

    #[test]
    fn a_failed_call_is_named_by_its_tool_and_says_why_in_the_log() {
        let mut titles = ToolTitles::new();
        let call = update(SessionUpdate::ToolCall {
            id: "c1".into(),
            title: "enki_edit_file".into(),
            kind: Some("edit".into()),
            status: Some("in_progress".into()),
            raw: serde_json::Value::Null,
        });
        transcript_entry(&call, &mut titles);
        let raw = serde_json::json!({
            "toolCallId": "c1", "status": "failed",
            "content": [{"type": "content", "content": {"type": "text", "text": "src/x.rs: no such file"}}],
        });
        let failed = SessionUpdate::ToolCallUpdate {
            id: "c1".into(),
            title: None,
            status: Some("failed".into()),
            raw,
        };
        let (kind, data) = logged_update(&failed, &titles).unwrap();
        assert_eq!(kind, "tool_call_update");
        assert_eq!(data["title"], "enki_edit_file");
        assert_eq!(data["error"], "src/x.rs: no such file");
    }

    #[test]
    fn a_mergers_log_kinds_are_prefixed_and_a_workers_are_not() {
        assert_eq!(RunKind::Worker.log_kind("tool_call"), "tool_call");
        assert_eq!(RunKind::Merger.log_kind("tool_call"), "merger_tool_call");
        assert_eq!(RunKind::Merger.log_kind("message"), "merger_message");
    }
}
