//! JSON-RPC batches. Of the revisions enki speaks only 2025-03-26 has them
//! (2025-06-18 removed them; 2026-07-28 has none either), so a batch is
//! answered only on a connection that negotiated 2025-03-26 and refused
//! everywhere else, including before `initialize` (that revision forbids
//! `initialize` inside a batch, so nothing can have settled on it yet).

use enki_jsonrpc::{ErrorObject, Message, MessageError, encode, encode_batch};

use crate::protocol;

/// The line that answers a batch, or `None` when nothing needs an answer
/// (every element was a notification or a response). `negotiated` is the
/// version `initialize` settled on (`None` before it); `reply_to` answers
/// one element exactly as it would be answered on its own line.
///
/// - Not 2025-03-26: one Invalid Request with `id: null` that names the
///   version, whatever the batch holds.
/// - An empty batch: one Invalid Request.
/// - Otherwise an array with one entry per element that needs one, in
///   order: an element that is not a valid message gets its Invalid Request,
///   an `initialize` is refused, notifications and responses get none.
pub fn answer(
    negotiated: Option<&str>,
    items: Vec<Result<Message, MessageError>>,
    mut reply_to: impl FnMut(Message) -> Option<Message>,
) -> Option<String> {
    if !protocol::has_batches(negotiated) {
        return Some(refuse(refusal(negotiated)));
    }
    if items.is_empty() {
        return Some(refuse(
            "an empty batch: a JSON-RPC batch holds at least one request or notification"
                .to_string(),
        ));
    }
    let replies: Vec<Message> = items
        .into_iter()
        .filter_map(|item| match item {
            Err(error) => Some(error.into_message()),
            Ok(Message::Request(request)) if request.method == "initialize" => Some(Message::error(
                Some(request.id),
                ErrorObject::invalid_request(
                    "initialize must not be part of a batch (MCP 2025-03-26): send it on its own",
                ),
            )),
            Ok(message) => reply_to(message),
        })
        .collect();
    (!replies.is_empty()).then(|| encode_batch(&replies))
}

fn refusal(negotiated: Option<&str>) -> String {
    let only = protocol::BATCH_VERSION;
    match negotiated {
        None => format!(
            "JSON-RPC batches are part of MCP {only} only, and no version has been negotiated yet (initialize must come first, on its own; 2026-07-28 has no batches): send each message on its own line, or initialize with protocolVersion {only} first"
        ),
        Some(version) => format!(
            "JSON-RPC batches are not part of MCP {version}, the version this connection negotiated (only {only} has them): send each message on its own line"
        ),
    }
}

fn refuse(message: String) -> String {
    encode(&Message::error(None, ErrorObject::invalid_request(message)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use enki_jsonrpc::{Id, Incoming, codes, parse_incoming};
    use serde_json::{Value, json};

    fn items(line: &str) -> Vec<Result<Message, MessageError>> {
        match parse_incoming(line.as_bytes()) {
            Ok(Some(Incoming::Batch(items))) => items,
            other => panic!("{line} is a batch: {other:?}"),
        }
    }

    /// Answers every request with its method name.
    fn echo(message: Message) -> Option<Message> {
        match message {
            Message::Request(r) => Some(Message::response(r.id, json!(r.method))),
            _ => None,
        }
    }

    fn parsed(line: Option<String>) -> Value {
        serde_json::from_str(&line.expect("a reply")).expect("JSON")
    }

    #[test]
    fn a_batch_is_refused_unless_2025_03_26_was_negotiated() {
        let batch = r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#;
        for (negotiated, named) in [
            (None, "no version has been negotiated"),
            (Some("2024-11-05"), "2024-11-05"),
            (Some("2025-06-18"), "2025-06-18"),
            (Some("2025-11-25"), "2025-11-25"),
        ] {
            for line in [batch, "[]"] {
                let reply = parsed(answer(negotiated, items(line), echo));
                assert_eq!(reply["id"], Value::Null);
                assert_eq!(reply["error"]["code"], codes::INVALID_REQUEST);
                let message = reply["error"]["message"].as_str().unwrap();
                assert!(message.contains(named), "{message}");
                assert!(message.contains("2025-03-26"), "{message}");
            }
        }
    }

    #[test]
    fn in_2025_03_26_each_element_is_answered_in_order() {
        let line = r#"[{"jsonrpc":"2.0","id":"a","method":"ping"},{"jsonrpc":"2.0","method":"notifications/x"},7,{"jsonrpc":"2.0","id":-0,"method":"tools/list"},{"jsonrpc":"2.0","id":3,"method":"initialize","params":{}},{"jsonrpc":"2.0","id":9,"result":{}}]"#;
        let reply = parsed(answer(Some("2025-03-26"), items(line), echo));
        let replies = reply.as_array().expect("an array");
        assert_eq!(replies.len(), 4, "{reply}");
        assert_eq!(
            replies[0],
            json!({"jsonrpc": "2.0", "id": "a", "result": "ping"})
        );
        assert_eq!(replies[1]["error"]["code"], codes::INVALID_REQUEST);
        assert_eq!(replies[1]["id"], Value::Null);
        assert_eq!(replies[2]["result"], "tools/list");
        assert_eq!(replies[3]["id"], 3);
        assert!(
            replies[3]["error"]["message"]
                .as_str()
                .unwrap()
                .contains("initialize must not be part of a batch")
        );
        // -0 kept its form inside the array.
        let text = answer(Some("2025-03-26"), items(line), echo).unwrap();
        assert!(text.contains(r#""id":-0,"#), "{text}");
        assert!(text.ends_with("]\n"));
    }

    #[test]
    fn an_empty_batch_and_one_of_notifications_only() {
        let reply = parsed(answer(Some("2025-03-26"), items("[]"), echo));
        assert_eq!(reply["error"]["code"], codes::INVALID_REQUEST);
        assert_eq!(reply["id"], Value::Null);
        let only = r#"[{"jsonrpc":"2.0","method":"a"},{"jsonrpc":"2.0","method":"b"}]"#;
        assert_eq!(answer(Some("2025-03-26"), items(only), echo), None);
        let mut calls = Vec::new();
        let one = r#"[{"jsonrpc":"2.0","id":5,"method":"m"}]"#;
        answer(Some("2025-03-26"), items(one), |m| {
            calls.push(m.clone());
            echo(m)
        });
        assert_eq!(calls, [Message::request(Id::Number(5), "m", None)]);
    }
}
