//! What a person reads of an agent run, live: each ACP event as a typed
//! transcript entry for the front ends (the TUI's transcripts, `enki run`'s
//! printer and `--json`). Tool calls carry their call id, so an update
//! finds its call even when two calls share a title, and a finished call
//! carries its output and exit status.

use enki_acp::{AgentEvent, SessionUpdate};
use serde::Serialize;

use crate::record::{ToolTitles, failure};

/// A tool call's status (ACP `ToolCallStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolStatus {
    Pending,
    InProgress,
    Completed,
    Failed,
}

impl ToolStatus {
    fn parse(status: Option<&str>) -> Option<ToolStatus> {
        match status? {
            "pending" => Some(ToolStatus::Pending),
            "in_progress" => Some(ToolStatus::InProgress),
            "completed" => Some(ToolStatus::Completed),
            "failed" => Some(ToolStatus::Failed),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ToolStatus::Pending => "pending",
            ToolStatus::InProgress => "in_progress",
            ToolStatus::Completed => "completed",
            ToolStatus::Failed => "failed",
        }
    }
}

/// One entry of a live transcript.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TranscriptEntry {
    /// A chunk of the agent's message (chunks stream into one message).
    Message {
        text: String,
    },
    Thought {
        text: String,
    },
    /// The message ended: the next chunk starts a message of its own.
    MessageEnd,
    /// A tool call, new (`id` not seen before) or changed: each field that
    /// is `None` keeps what the call had.
    Tool {
        id: String,
        title: String,
        status: Option<ToolStatus>,
        /// What a finished call said (a command's output, an error).
        output: Option<String>,
        /// A command's exit status, when the agent reports one.
        exit_code: Option<i64>,
    },
    Plan {
        text: String,
    },
    /// A permission request and how it was answered.
    Permission {
        title: String,
        decision: String,
    },
    /// A permission request that was refused, and why.
    Refusal {
        title: String,
        decision: String,
        reason: String,
    },
}

/// Longest output an entry carries (the tail is kept: it has the result).
const OUTPUT_MAX: usize = 4000;

/// The entry of an agent event, if a person reads it; `titles` keeps each
/// call's title by id (updates often carry only the id and a status).
pub fn transcript_entry(event: &AgentEvent, titles: &mut ToolTitles) -> Option<TranscriptEntry> {
    match event {
        AgentEvent::Update { update, .. } => match update {
            SessionUpdate::AgentMessageChunk { text } => {
                Some(TranscriptEntry::Message { text: text.clone() })
            }
            SessionUpdate::AgentThoughtChunk { text } => {
                Some(TranscriptEntry::Thought { text: text.clone() })
            }
            SessionUpdate::ToolCall {
                id,
                title,
                status,
                raw,
                ..
            } => {
                titles.insert(id.clone(), title.clone());
                Some(tool(id, title.clone(), status.as_deref(), raw))
            }
            SessionUpdate::ToolCallUpdate {
                id,
                title,
                status,
                raw,
            } => {
                let known = titles.get(id).cloned();
                if let Some(title) = title {
                    titles.insert(id.clone(), title.clone());
                }
                // Content-only updates of a running call say nothing new.
                let renamed = title.is_some() && title != &known;
                if status.is_none() && !renamed {
                    return None;
                }
                let title = title
                    .clone()
                    .or(known)
                    .unwrap_or_else(|| "tool call".to_string());
                Some(tool(id, title, status.as_deref(), raw))
            }
            SessionUpdate::Plan { entries } => Some(TranscriptEntry::Plan {
                text: entries
                    .iter()
                    .map(|e| format!("[{}] {}", e.status.as_deref().unwrap_or(" "), e.content))
                    .collect::<Vec<_>>()
                    .join("\n"),
            }),
            _ => None,
        },
        AgentEvent::Permission {
            title,
            decision,
            reason,
            ..
        } => Some(if decision.is_allowed() {
            TranscriptEntry::Permission {
                title: title.clone(),
                decision: decision.to_string(),
            }
        } else {
            TranscriptEntry::Refusal {
                title: title.clone(),
                decision: decision.to_string(),
                reason: reason.to_string(),
            }
        }),
        _ => None,
    }
}

/// A call's entry: a finished call carries what it said (a failed one at
/// least why it failed) and its exit status.
fn tool(id: &str, title: String, status: Option<&str>, raw: &serde_json::Value) -> TranscriptEntry {
    let status_word = status.map(str::to_string);
    let finished = matches!(status, Some("completed" | "failed"));
    let output = if finished {
        enki_acp::tool_call_text(raw)
            .or_else(|| failure(&status_word, raw))
            .map(|text| tail(&text))
    } else {
        None
    };
    TranscriptEntry::Tool {
        id: id.to_string(),
        title,
        status: ToolStatus::parse(status),
        output,
        exit_code: finished.then(|| exit_code(raw)).flatten(),
    }
}

/// The exit status in a call's `rawOutput`, under the names agents use.
fn exit_code(raw: &serde_json::Value) -> Option<i64> {
    let output = raw.get("rawOutput")?;
    ["exit_code", "exitCode", "exit_status", "returncode"]
        .iter()
        .find_map(|name| output.get(name).and_then(serde_json::Value::as_i64))
}

fn tail(text: &str) -> String {
    let count = text.chars().count();
    if count <= OUTPUT_MAX {
        return text.to_string();
    }
    let kept: String = text.chars().skip(count - OUTPUT_MAX).collect();
    format!("…{kept}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update(update: SessionUpdate) -> AgentEvent {
        AgentEvent::Update {
            session_id: "s".into(),
            update,
        }
    }

    fn call(id: &str, title: &str) -> AgentEvent {
        update(SessionUpdate::ToolCall {
            id: id.into(),
            title: title.into(),
            kind: None,
            status: Some("in_progress".into()),
            raw: serde_json::Value::Null,
        })
    }

    fn tool_update(id: &str, title: Option<&str>, status: Option<&str>) -> AgentEvent {
        update(SessionUpdate::ToolCallUpdate {
            id: id.into(),
            title: title.map(str::to_string),
            status: status.map(str::to_string),
            raw: serde_json::Value::Null,
        })
    }

    fn entry(id: &str, title: &str, status: Option<ToolStatus>) -> TranscriptEntry {
        TranscriptEntry::Tool {
            id: id.into(),
            title: title.into(),
            status,
            output: None,
            exit_code: None,
        }
    }

    #[test]
    fn tool_calls_and_updates_carry_the_call_id_and_its_title() {
        let mut titles = ToolTitles::new();
        let mut of = |event: &AgentEvent| transcript_entry(event, &mut titles);
        assert_eq!(
            of(&call("c1", "Read a.rs")),
            Some(entry("c1", "Read a.rs", Some(ToolStatus::InProgress)))
        );
        // Two calls with one title stay two calls.
        assert_eq!(
            of(&call("c2", "Read a.rs")),
            Some(entry("c2", "Read a.rs", Some(ToolStatus::InProgress)))
        );
        assert_eq!(
            of(&tool_update("c1", None, Some("completed"))),
            Some(entry("c1", "Read a.rs", Some(ToolStatus::Completed)))
        );
        assert_eq!(
            of(&tool_update("c2", Some("Read b.rs"), None)),
            Some(entry("c2", "Read b.rs", None))
        );
        // Content-only updates add nothing; an unknown call gets a neutral title.
        assert_eq!(of(&tool_update("c2", None, None)), None);
        assert_eq!(
            of(&tool_update("c9", None, Some("failed"))),
            Some(entry("c9", "tool call", Some(ToolStatus::Failed)))
        );
    }

    #[test]
    fn a_finished_command_carries_its_output_and_exit_status() {
        let mut titles = ToolTitles::new();
        transcript_entry(&call("c1", "Run cargo test"), &mut titles);
        let raw = serde_json::json!({
            "toolCallId": "c1", "status": "failed",
            "content": [{"type": "content", "content": {"type": "text", "text": "2 tests failed"}}],
            "rawOutput": {"exit_code": 101, "stdout": "x"},
        });
        let done = update(SessionUpdate::ToolCallUpdate {
            id: "c1".into(),
            title: None,
            status: Some("failed".into()),
            raw,
        });
        assert_eq!(
            transcript_entry(&done, &mut titles),
            Some(TranscriptEntry::Tool {
                id: "c1".into(),
                title: "Run cargo test".into(),
                status: Some(ToolStatus::Failed),
                output: Some("2 tests failed".into()),
                exit_code: Some(101),
            })
        );
        let long = "x".repeat(OUTPUT_MAX + 10);
        assert!(tail(&long).starts_with('…'));
        assert_eq!(tail(&long).chars().count(), OUTPUT_MAX + 1);
    }

    #[test]
    fn entries_serialize_with_their_kind() {
        let json = serde_json::to_value(entry("c1", "Read", Some(ToolStatus::InProgress))).unwrap();
        assert_eq!(json["kind"], "tool");
        assert_eq!(json["status"], "in_progress");
        assert_eq!(
            serde_json::to_value(TranscriptEntry::MessageEnd).unwrap()["kind"],
            "message_end"
        );
    }
}
