//! What a worker's ACP traffic means for its liveness (`enki_core::liveness`):
//! each agent event typed as a [`Sign`], so that only progress resets the
//! stall clock and waits for a person pause it.

use std::hash::{Hash, Hasher};

use enki_acp::{AgentEvent, PlanEntry, SessionUpdate};
use enki_core::liveness::Sign;

/// The sign an agent event gives; `None` for the end of the agent (the turn
/// ends with it). `titles` names tool calls by id (their updates often carry
/// only the id and a status).
pub fn sign_of(
    event: &AgentEvent,
    titles: &std::collections::HashMap<String, String>,
) -> Option<Sign> {
    Some(match event {
        AgentEvent::Update { update, .. } => match update {
            SessionUpdate::AgentMessageChunk { text } => Sign::Said(text.clone()),
            SessionUpdate::AgentThoughtChunk { .. } | SessionUpdate::ToolCall { .. } => {
                Sign::Progress
            }
            // A call starting, finishing or renamed is progress; streamed
            // content alone is not.
            SessionUpdate::ToolCallUpdate {
                id,
                title,
                status,
                raw,
            } => match status.as_deref() {
                Some("failed") => {
                    let name = title
                        .clone()
                        .or_else(|| titles.get(id).cloned())
                        .unwrap_or_else(|| "a tool call".into());
                    Sign::ToolFailed(match enki_acp::tool_call_text(raw) {
                        Some(why) => format!("{name} failed: {why}"),
                        None => format!("{name} failed"),
                    })
                }
                Some(_) => Sign::Progress,
                None if title.is_some() => Sign::Progress,
                None => Sign::Noise,
            },
            SessionUpdate::Plan { entries } => Sign::Plan(plan_digest(entries)),
            SessionUpdate::Retrying { message, .. } => Sign::Retrying(message.clone()),
            // Replayed user text, usage updates, mode and command lists,
            // session titles: the agent is there, not progressing.
            SessionUpdate::UserMessageChunk { .. }
            | SessionUpdate::Usage { .. }
            | SessionUpdate::Other { .. } => Sign::Noise,
        },
        AgentEvent::PermissionAsked { title, .. } => Sign::PermissionAsked(title.clone()),
        AgentEvent::Permission { title, .. } => Sign::PermissionAnswered(title.clone()),
        AgentEvent::FsRead { .. } | AgentEvent::FsWrite { .. } => Sign::Progress,
        AgentEvent::ProtocolError(_) | AgentEvent::AuthStatus(_) | AgentEvent::TurnUsage { .. } => {
            Sign::Noise
        }
        AgentEvent::Exited { .. } => return None,
    })
}

/// A digest of a plan's entries: the same plan sent again is no change.
fn plan_digest(entries: &[PlanEntry]) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for entry in entries {
        (&entry.content, &entry.status, &entry.priority).hash(&mut hasher);
    }
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn update(update: SessionUpdate) -> AgentEvent {
        AgentEvent::Update {
            session_id: "s".into(),
            update,
        }
    }

    fn typed(raw: Value) -> AgentEvent {
        update(SessionUpdate::from_value(&raw))
    }

    #[test]
    fn only_progress_is_progress() {
        let titles = [("c1".to_string(), "cargo test".to_string())].into();
        let sign = |event: AgentEvent| sign_of(&event, &titles);
        assert_eq!(
            sign(typed(
                json!({"sessionUpdate": "agent_message_chunk", "content": {"type": "text", "text": "hi"}})
            )),
            Some(Sign::Said("hi".into()))
        );
        for progress in [
            json!({"sessionUpdate": "agent_thought_chunk", "content": {"type": "text", "text": "hm"}}),
            json!({"sessionUpdate": "tool_call", "toolCallId": "c1", "title": "cargo test"}),
            json!({"sessionUpdate": "tool_call_update", "toolCallId": "c1", "status": "completed"}),
            json!({"sessionUpdate": "tool_call_update", "toolCallId": "c1", "title": "cargo test --all"}),
        ] {
            assert_eq!(
                sign(typed(progress.clone())),
                Some(Sign::Progress),
                "{progress}"
            );
        }
        assert_eq!(
            sign(typed(
                json!({"sessionUpdate": "tool_call_update", "toolCallId": "c1", "status": "failed"})
            )),
            Some(Sign::ToolFailed("cargo test failed".into()))
        );
        for noise in [
            json!({"sessionUpdate": "tool_call_update", "toolCallId": "c1", "content": [{"type": "content"}]}),
            json!({"sessionUpdate": "usage_update", "used": 10, "size": 200000}),
            json!({"sessionUpdate": "available_commands_update", "availableCommands": []}),
            json!({"sessionUpdate": "session_info_update", "title": "x"}),
            json!({"sessionUpdate": "user_message_chunk", "content": {"type": "text", "text": "again"}}),
        ] {
            assert_eq!(sign(typed(noise.clone())), Some(Sign::Noise), "{noise}");
        }
        assert_eq!(
            sign(typed(json!({"sessionUpdate": "session_info_update",
                "_meta": {"codex": {"error": {"message": "Reconnecting... 1/5", "willRetry": true}}}}))),
            Some(Sign::Retrying("Reconnecting... 1/5".into()))
        );
        assert_eq!(
            sign(AgentEvent::PermissionAsked {
                session_id: "s".into(),
                title: "Edit a".into()
            }),
            Some(Sign::PermissionAsked("Edit a".into()))
        );
        assert_eq!(
            sign(AgentEvent::Exited {
                status: None,
                stderr_tail: vec![]
            }),
            None
        );
    }

    #[test]
    fn a_plan_sent_again_has_the_same_digest() {
        let plan = |status: &str| {
            typed(json!({"sessionUpdate": "plan", "entries": [{"content": "a", "status": status}]}))
        };
        let titles = Default::default();
        assert_eq!(
            sign_of(&plan("pending"), &titles),
            sign_of(&plan("pending"), &titles)
        );
        assert_ne!(
            sign_of(&plan("pending"), &titles),
            sign_of(&plan("completed"), &titles)
        );
    }
}
