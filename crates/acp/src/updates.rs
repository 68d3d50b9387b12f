//! What the client reports to its owner: typed `session/update` payloads and
//! the other [`AgentEvent`]s.

use std::path::PathBuf;
use std::process::ExitStatus;

use enki_core::usage::{Cost, Tokens};
use serde_json::Value;

use crate::permission::PermissionDecision;

/// Something that happened on the connection, in the order it happened.
#[derive(Debug, Clone, PartialEq)]
pub enum AgentEvent {
    /// A `session/update` notification.
    Update {
        session_id: String,
        update: SessionUpdate,
    },
    /// A `session/request_permission` request whose answer is awaited (the
    /// policy did not decide at once: a person is asked). A
    /// [`AgentEvent::Permission`] with the same title follows.
    PermissionAsked { session_id: String, title: String },
    /// A `session/request_permission` request and how it was answered (the
    /// decision actually sent, after falling back to the offered options)
    /// and why, as the policy said.
    Permission {
        session_id: String,
        title: String,
        decision: PermissionDecision,
        reason: String,
    },
    /// An `fs/read_text_file` request; `path` is the resolved path when
    /// allowed, else the path as requested.
    FsRead { path: PathBuf, allowed: bool },
    /// An `fs/write_text_file` request; `path` as for [`AgentEvent::FsRead`].
    FsWrite { path: PathBuf, allowed: bool },
    /// The agent sent something that is not valid ACP (a garbage line, a line
    /// over the size cap, a response to no pending request, a malformed
    /// `session/update`). The connection keeps working.
    ProtocolError(String),
    /// The agent reported which login it uses (`_auth/status_update`).
    AuthStatus(crate::auth::AuthStatus),
    /// A `session/prompt` response carried the turn's token usage (ACP's
    /// `usage`, draft: claude-agent-acp sends that turn's own tokens). On
    /// the channel before the prompt returns.
    TurnUsage { session_id: String, tokens: Tokens },
    /// The agent process ended. The last event, except that an fs request
    /// whose file operation was already under way may still report after it.
    Exited {
        status: Option<ExitStatus>,
        stderr_tail: Vec<String>,
    },
}

/// The `update` of a `session/update` notification.
#[derive(Debug, Clone, PartialEq)]
pub enum SessionUpdate {
    AgentMessageChunk {
        text: String,
    },
    AgentThoughtChunk {
        text: String,
    },
    UserMessageChunk {
        text: String,
    },
    /// A new tool call. `raw` is the whole update object (content,
    /// locations, rawInput, `_meta`, ...).
    ToolCall {
        id: String,
        title: String,
        kind: Option<String>,
        status: Option<String>,
        raw: Value,
    },
    /// A change to a tool call; only the fields that changed are present.
    ToolCallUpdate {
        id: String,
        title: Option<String>,
        status: Option<String>,
        raw: Value,
    },
    /// The agent's current plan (always the complete list).
    Plan {
        entries: Vec<PlanEntry>,
    },
    /// The agent reports that it is retrying its model API, in its own
    /// words. codex-acp sends this as a `session_info_update` whose
    /// `_meta.codex.error` has `willRetry: true` (e.g. `Reconnecting... 2/5`);
    /// claude-agent-acp (0.25) reports nothing while Claude Code retries,
    /// and fails the turn with the API error when it gives up. `raw` is the
    /// whole update object.
    Retrying {
        message: String,
        raw: Value,
    },
    /// A `usage_update`: the session's context (`used` of `size` tokens)
    /// and, when the agent reports one, the session's cumulative cost.
    /// Context size is not consumption: what a run used comes from the
    /// turns' usage ([`AgentEvent::TurnUsage`]) and this cost.
    Usage {
        used: Option<u64>,
        size: Option<u64>,
        cost: Option<Cost>,
    },
    /// Any other update kind (`available_commands_update`,
    /// `current_mode_update`, future kinds), a message chunk whose content is
    /// not text, or a tool call without an id. `kind` is the
    /// `sessionUpdate` value; `raw` is the whole update object.
    Other {
        kind: String,
        raw: Value,
    },
}

/// One entry of a [`SessionUpdate::Plan`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanEntry {
    pub content: String,
    /// `pending`, `in_progress`, `completed`, ...
    pub status: Option<String>,
    /// `high`, `medium`, `low`, ...
    pub priority: Option<String>,
}

impl SessionUpdate {
    /// Types one `update` object. Never fails: anything unexpected becomes
    /// [`SessionUpdate::Other`].
    pub fn from_value(update: &Value) -> SessionUpdate {
        let kind = str_field(update, "sessionUpdate").unwrap_or_default();
        let other = || SessionUpdate::Other {
            kind: kind.clone(),
            raw: update.clone(),
        };
        let chunk_text = || {
            let content = update.get("content")?;
            if content.get("type").and_then(Value::as_str) != Some("text") {
                return None;
            }
            str_field(content, "text")
        };
        match kind.as_str() {
            "agent_message_chunk" => chunk_text()
                .map(|text| SessionUpdate::AgentMessageChunk { text })
                .unwrap_or_else(other),
            "agent_thought_chunk" => chunk_text()
                .map(|text| SessionUpdate::AgentThoughtChunk { text })
                .unwrap_or_else(other),
            "user_message_chunk" => chunk_text()
                .map(|text| SessionUpdate::UserMessageChunk { text })
                .unwrap_or_else(other),
            "tool_call" => match str_field(update, "toolCallId") {
                Some(id) => SessionUpdate::ToolCall {
                    id,
                    title: str_field(update, "title").unwrap_or_default(),
                    kind: str_field(update, "kind"),
                    status: str_field(update, "status"),
                    raw: update.clone(),
                },
                None => other(),
            },
            "tool_call_update" => match str_field(update, "toolCallId") {
                Some(id) => SessionUpdate::ToolCallUpdate {
                    id,
                    title: str_field(update, "title"),
                    status: str_field(update, "status"),
                    raw: update.clone(),
                },
                None => other(),
            },
            "plan" => SessionUpdate::Plan {
                entries: update
                    .get("entries")
                    .and_then(Value::as_array)
                    .map(|entries| entries.iter().filter_map(plan_entry).collect())
                    .unwrap_or_default(),
            },
            "usage_update" => SessionUpdate::Usage {
                used: update.get("used").and_then(Value::as_u64),
                size: update.get("size").and_then(Value::as_u64),
                cost: cost_of(update.get("cost")),
            },
            "session_info_update" => match retry_notice(update) {
                Some(message) => SessionUpdate::Retrying {
                    message,
                    raw: update.clone(),
                },
                None => other(),
            },
            _ => other(),
        }
    }

    /// The `sessionUpdate` tag this value came from (for `Other`, its kind).
    pub fn kind(&self) -> &str {
        match self {
            SessionUpdate::AgentMessageChunk { .. } => "agent_message_chunk",
            SessionUpdate::AgentThoughtChunk { .. } => "agent_thought_chunk",
            SessionUpdate::UserMessageChunk { .. } => "user_message_chunk",
            SessionUpdate::ToolCall { .. } => "tool_call",
            SessionUpdate::ToolCallUpdate { .. } => "tool_call_update",
            SessionUpdate::Plan { .. } => "plan",
            SessionUpdate::Retrying { .. } => "session_info_update",
            SessionUpdate::Usage { .. } => "usage_update",
            SessionUpdate::Other { kind, .. } => kind,
        }
    }
}

/// Splits the params of a `session/update` notification into the session id
/// and the typed update. Fails (with a message for a `ProtocolError` event)
/// when `sessionId` or the `update` object is missing.
pub fn parse_session_update(params: Option<&Value>) -> Result<(String, SessionUpdate), String> {
    let params = params.ok_or("session/update without params")?;
    let session_id =
        str_field(params, "sessionId").ok_or("session/update without a string sessionId")?;
    let update = params
        .get("update")
        .filter(|u| u.is_object())
        .ok_or("session/update without an update object")?;
    Ok((session_id, SessionUpdate::from_value(update)))
}

/// What a `tool_call` or `tool_call_update` object says in words: the text
/// of its `content` blocks, joined by lines, else its `rawOutput` when that
/// is a string or holds an `error` string. This is where an agent puts a
/// failed call's error (a tool's message, a refusal).
pub fn tool_call_text(update: &Value) -> Option<String> {
    let texts: Vec<&str> = update
        .get("content")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|item| item.get("type").and_then(Value::as_str) == Some("content"))
        .filter_map(|item| item.get("content"))
        .filter(|block| block.get("type").and_then(Value::as_str) == Some("text"))
        .filter_map(|block| block.get("text").and_then(Value::as_str))
        .map(str::trim)
        .filter(|text| !text.is_empty())
        .collect();
    if !texts.is_empty() {
        return Some(texts.join("\n"));
    }
    let output = update.get("rawOutput")?;
    output
        .as_str()
        .or_else(|| output.get("error").and_then(Value::as_str))
        .map(str::trim)
        .filter(|text| !text.is_empty())
        .map(str::to_owned)
}

/// An ACP `cost` object (`{"amount": 0.045, "currency": "USD"}`); `None`
/// when absent or malformed (a negative or non-finite amount, no currency).
fn cost_of(cost: Option<&Value>) -> Option<Cost> {
    let cost = cost?;
    let amount = cost
        .get("amount")?
        .as_f64()
        .filter(|a| a.is_finite() && *a >= 0.0)?;
    let currency = str_field(cost, "currency").filter(|c| !c.trim().is_empty())?;
    Some(Cost { amount, currency })
}

/// The token usage of a `session/prompt` result (`usage`: `inputTokens`,
/// `outputTokens`, `cachedReadTokens`, `cachedWriteTokens`); `None` when
/// it carries none. A kind missing or not a count stays unknown.
pub fn turn_usage(result: &Value) -> Option<Tokens> {
    let usage = result.get("usage").filter(|u| u.is_object())?;
    let kind = |key: &str| usage.get(key).and_then(Value::as_u64);
    let tokens = Tokens {
        input: kind("inputTokens"),
        output: kind("outputTokens"),
        cache_read: kind("cachedReadTokens"),
        cache_write: kind("cachedWriteTokens"),
    };
    (!tokens.is_unknown()).then_some(tokens)
}

/// The model a `session/new` (or load, resume) result names: the
/// `models.currentModelId`, else the current value of a config option of
/// category `model`.
pub fn session_model(result: &Value) -> Option<String> {
    if let Some(id) = result["models"]["currentModelId"].as_str() {
        return Some(id.to_string());
    }
    result["configOptions"]
        .as_array()?
        .iter()
        .find(|option| option["category"].as_str() == Some("model"))
        .and_then(|option| option["currentValue"].as_str())
        .map(str::to_string)
}

/// The words of a retry notice: codex-acp's `_meta.codex.error` with
/// `willRetry: true` (its message, else its `codexErrorInfo` kind).
fn retry_notice(update: &Value) -> Option<String> {
    let error = update.get("_meta")?.get("codex")?.get("error")?;
    if error.get("willRetry").and_then(Value::as_bool) != Some(true) {
        return None;
    }
    let message = str_field(error, "message")
        .filter(|m| !m.trim().is_empty())
        .or_else(|| {
            error
                .get("codexErrorInfo")
                .map(|info| format!("retrying after {info}"))
        })
        .unwrap_or_else(|| "retrying its model API".to_string());
    Some(message)
}

fn plan_entry(entry: &Value) -> Option<PlanEntry> {
    Some(PlanEntry {
        content: str_field(entry, "content")?,
        status: str_field(entry, "status"),
        priority: str_field(entry, "priority"),
    })
}

pub(crate) fn str_field(value: &Value, key: &str) -> Option<String> {
    value.get(key).and_then(Value::as_str).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(update: Value) -> SessionUpdate {
        let params = json!({"sessionId": "s1", "update": update, "_meta": {"x": 1}});
        let (session, update) = parse_session_update(Some(&params)).unwrap();
        assert_eq!(session, "s1");
        update
    }

    #[test]
    fn chunks() {
        for (kind, make) in [
            (
                "agent_message_chunk",
                (|text| SessionUpdate::AgentMessageChunk { text }) as fn(String) -> SessionUpdate,
            ),
            ("agent_thought_chunk", |text| {
                SessionUpdate::AgentThoughtChunk { text }
            }),
            ("user_message_chunk", |text| {
                SessionUpdate::UserMessageChunk { text }
            }),
        ] {
            let got = parse(json!({
                "sessionUpdate": kind,
                "content": {"type": "text", "text": "hé\nllo", "_meta": {"a": 1}, "annotations": null},
                "_meta": {"b": 2}
            }));
            assert_eq!(got, make("hé\nllo".into()));
            assert_eq!(got.kind(), kind);
        }
    }

    #[test]
    fn usage_updates_carry_the_context_and_the_cost_when_there_is_one() {
        // claude-agent-acp's form, with the cost; codex-acp's, without.
        assert_eq!(
            parse(
                json!({"sessionUpdate": "usage_update", "used": 53000, "size": 200000,
                         "cost": {"amount": 0.045, "currency": "USD"}})
            ),
            SessionUpdate::Usage {
                used: Some(53_000),
                size: Some(200_000),
                cost: Some(Cost {
                    amount: 0.045,
                    currency: "USD".into()
                }),
            }
        );
        for bad_cost in [
            json!(null),
            json!({"amount": -1, "currency": "USD"}),
            json!({"amount": 1}),
        ] {
            let update = parse(
                json!({"sessionUpdate": "usage_update", "used": 1, "size": 2, "cost": bad_cost}),
            );
            assert!(
                matches!(update, SessionUpdate::Usage { cost: None, .. }),
                "{update:?}"
            );
            assert_eq!(update.kind(), "usage_update");
        }
    }

    #[test]
    fn a_prompt_result_gives_its_turns_tokens_and_a_session_its_model() {
        let result = json!({"stopReason": "end_turn", "usage": {"totalTokens": 1700, "inputTokens": 1000,
            "outputTokens": 200, "cachedReadTokens": 500, "cachedWriteTokens": null}});
        assert_eq!(
            turn_usage(&result),
            Some(Tokens {
                input: Some(1_000),
                output: Some(200),
                cache_read: Some(500),
                cache_write: None,
            })
        );
        assert_eq!(turn_usage(&json!({"stopReason": "end_turn"})), None);
        assert_eq!(turn_usage(&json!({"usage": {"inputTokens": "many"}})), None);
        assert_eq!(
            session_model(&json!({"sessionId": "s", "models": {"currentModelId": "opus"}}))
                .as_deref(),
            Some("opus")
        );
        let options = json!({"configOptions": [{"id": "mode", "category": "mode", "currentValue": "ask"},
                                               {"id": "model", "category": "model", "currentValue": "gpt-5"}]});
        assert_eq!(session_model(&options).as_deref(), Some("gpt-5"));
        assert_eq!(session_model(&json!({"sessionId": "s"})), None);
    }

    #[test]
    fn non_text_chunk_is_other() {
        let raw = json!({"sessionUpdate": "agent_message_chunk", "content": {"type": "image", "data": "..", "mimeType": "image/png"}});
        assert_eq!(
            parse(raw.clone()),
            SessionUpdate::Other {
                kind: "agent_message_chunk".into(),
                raw
            }
        );
        let raw = json!({"sessionUpdate": "agent_message_chunk"});
        assert!(matches!(parse(raw), SessionUpdate::Other { .. }));
    }

    #[test]
    fn a_tool_calls_words_come_from_its_content_else_its_raw_output() {
        let update = json!({
            "sessionUpdate": "tool_call_update", "toolCallId": "c", "status": "failed",
            "content": [
                {"type": "content", "content": {"type": "text", "text": "invalid steps[0]: no title "}},
                {"type": "diff", "path": "/a", "newText": "x"},
                {"type": "content", "content": {"type": "text", "text": "try again"}}
            ],
            "rawOutput": {"error": "ignored"}
        });
        assert_eq!(
            tool_call_text(&update).as_deref(),
            Some("invalid steps[0]: no title\ntry again")
        );
        let update = json!({"toolCallId": "c", "rawOutput": {"error": "denied"}});
        assert_eq!(tool_call_text(&update).as_deref(), Some("denied"));
        assert_eq!(
            tool_call_text(&json!({"rawOutput": "exit 1"})).as_deref(),
            Some("exit 1")
        );
        assert_eq!(
            tool_call_text(&json!({"content": [], "rawOutput": {}})),
            None
        );
    }

    #[test]
    fn tool_call_and_update() {
        let raw = json!({
            "sessionUpdate": "tool_call", "toolCallId": "call_1", "title": "Reading file",
            "kind": "read", "status": "pending", "content": [], "locations": [{"path": "/a"}],
            "rawInput": {"path": "/a"}, "_meta": {"claudeCode": {}}
        });
        assert_eq!(
            parse(raw.clone()),
            SessionUpdate::ToolCall {
                id: "call_1".into(),
                title: "Reading file".into(),
                kind: Some("read".into()),
                status: Some("pending".into()),
                raw
            }
        );
        let raw = json!({"sessionUpdate": "tool_call", "toolCallId": "c2"});
        assert_eq!(
            parse(raw.clone()),
            SessionUpdate::ToolCall {
                id: "c2".into(),
                title: String::new(),
                kind: None,
                status: None,
                raw
            }
        );
        let raw = json!({"sessionUpdate": "tool_call_update", "toolCallId": "call_1", "status": "completed", "rawOutput": {"ok": true}});
        assert_eq!(
            parse(raw.clone()),
            SessionUpdate::ToolCallUpdate {
                id: "call_1".into(),
                title: None,
                status: Some("completed".into()),
                raw
            }
        );
        let raw = json!({"sessionUpdate": "tool_call_update", "toolCallId": 5});
        assert!(
            matches!(parse(raw), SessionUpdate::Other { kind, .. } if kind == "tool_call_update")
        );
    }

    #[test]
    fn plan() {
        let got = parse(json!({
            "sessionUpdate": "plan",
            "entries": [
                {"content": "first", "priority": "high", "status": "pending", "_meta": {}},
                {"content": "second"},
                {"priority": "low"},
                "junk"
            ]
        }));
        assert_eq!(
            got,
            SessionUpdate::Plan {
                entries: vec![
                    PlanEntry {
                        content: "first".into(),
                        status: Some("pending".into()),
                        priority: Some("high".into())
                    },
                    PlanEntry {
                        content: "second".into(),
                        status: None,
                        priority: None
                    },
                ]
            }
        );
        assert_eq!(
            parse(json!({"sessionUpdate": "plan"})),
            SessionUpdate::Plan { entries: vec![] }
        );
    }

    #[test]
    fn unknown_kinds_are_other() {
        for raw in [
            json!({"sessionUpdate": "available_commands_update", "availableCommands": []}),
            json!({"sessionUpdate": "current_mode_update", "currentModeId": "ask"}),
            json!({"sessionUpdate": "_vendor_thing", "_meta": {"x": [1]}}),
        ] {
            let kind = raw["sessionUpdate"].as_str().unwrap().to_owned();
            assert_eq!(parse(raw.clone()), SessionUpdate::Other { kind, raw });
        }
        let raw = json!({"noTag": true});
        assert_eq!(
            parse(raw.clone()),
            SessionUpdate::Other {
                kind: String::new(),
                raw
            }
        );
    }

    #[test]
    fn codex_retry_notices_are_retrying_and_other_session_info_is_not() {
        let raw = json!({
            "sessionUpdate": "session_info_update",
            "_meta": {"codex": {"error": {
                "message": "Reconnecting... 2/5",
                "codexErrorInfo": {"responseStreamDisconnected": {"httpStatusCode": null}},
                "turnId": "t1", "willRetry": true
            }}}
        });
        assert_eq!(
            parse(raw.clone()),
            SessionUpdate::Retrying {
                message: "Reconnecting... 2/5".into(),
                raw
            }
        );
        let raw = json!({"sessionUpdate": "session_info_update",
            "_meta": {"codex": {"error": {"codexErrorInfo": "serverOverloaded", "willRetry": true}}}});
        assert!(matches!(parse(raw), SessionUpdate::Retrying { message, .. }
            if message == "retrying after \"serverOverloaded\""));
        for raw in [
            json!({"sessionUpdate": "session_info_update", "title": "Fix the parser"}),
            json!({"sessionUpdate": "session_info_update",
                "_meta": {"codex": {"error": {"message": "quota", "willRetry": false}}}}),
            json!({"sessionUpdate": "session_info_update", "_meta": {"codex": {"threadStatus": "idle"}}}),
        ] {
            assert!(matches!(parse(raw), SessionUpdate::Other { .. }));
        }
    }

    #[test]
    fn malformed_params_are_errors() {
        assert!(parse_session_update(None).is_err());
        assert!(parse_session_update(Some(&json!({"update": {}}))).is_err());
        assert!(parse_session_update(Some(&json!({"sessionId": 1, "update": {}}))).is_err());
        assert!(parse_session_update(Some(&json!({"sessionId": "s"}))).is_err());
        assert!(parse_session_update(Some(&json!({"sessionId": "s", "update": "x"}))).is_err());
        assert!(parse_session_update(Some(&json!([1, 2]))).is_err());
    }
}
