//! One line <-> one message (or one batch). This is the transport-independent
//! core: blocking and async framers both feed lines to [`parse_line`] (or
//! [`parse_incoming`], where batches are allowed) and write [`encode`].

use std::collections::HashMap;

use serde_json::Value;
use serde_json::value::RawValue;

use crate::error::{ErrorObject, MessageError};
use crate::ids::Id;
use crate::message::{Message, Notification, Request, Response};

/// What one line carries.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    /// One JSON object.
    Single(Message),
    /// A JSON array (JSON-RPC 2.0 batch), each element classified on its own
    /// as [`parse_line`] would classify it alone. May be empty: whether a
    /// batch is acceptable at all, and what an empty one means, is the
    /// caller's protocol's decision.
    Batch(Vec<Result<Message, MessageError>>),
}

/// Classify one line (without its newline) that must hold a single message.
///
/// - Empty or whitespace-only: `Ok(None)`, skip it.
/// - Not UTF-8 or not JSON: `PARSE_ERROR`, id `None`.
/// - JSON but not a valid message (batch array, non-object, `jsonrpc` not
///   `"2.0"`, missing or non-string `method` on a non-response, id that is not
///   a number or a string, `params` that is not an object or array, response
///   with both or neither of `result`/`error`, malformed `error`):
///   `INVALID_REQUEST`, with the id when it is a valid id.
/// - `method` + `id`: [`Message::Request`]; `method` alone:
///   [`Message::Notification`]; `id` (may be null) + exactly one of
///   `result`/`error`: [`Message::Response`].
///
/// Unknown extra fields are ignored; surrounding whitespace (including a
/// trailing `'\r'`) is trimmed. Ids keep the exact text they were sent in
/// ([`Id`]), so `-0`, `1e3` or `18446744073709551617` are echoed as written.
pub fn parse_line(line: &[u8]) -> Result<Option<Message>, MessageError> {
    match parse_incoming(line)? {
        None => Ok(None),
        Some(Incoming::Single(message)) => Ok(Some(message)),
        Some(Incoming::Batch(_)) => Err(invalid("batch requests are not supported", None)),
    }
}

/// Like [`parse_line`], but a JSON array is returned as
/// [`Incoming::Batch`] instead of refused.
pub fn parse_incoming(line: &[u8]) -> Result<Option<Incoming>, MessageError> {
    let line = line.trim_ascii();
    if line.is_empty() {
        return Ok(None);
    }
    let text = std::str::from_utf8(line).map_err(|e| parse_error(format!("invalid UTF-8: {e}")))?;
    let raw: &RawValue =
        serde_json::from_str(text).map_err(|e| parse_error(format!("invalid JSON: {e}")))?;
    if !raw.get().starts_with('[') {
        return classify(raw).map(|message| Some(Incoming::Single(message)));
    }
    let items: Vec<&RawValue> =
        serde_json::from_str(raw.get()).map_err(|e| parse_error(format!("invalid JSON: {e}")))?;
    Ok(Some(Incoming::Batch(
        items.into_iter().map(classify).collect(),
    )))
}

/// Serialize one message as a single line of JSON ending in `'\n'`. The
/// compact form escapes control characters inside strings, so the output
/// never contains another newline.
pub fn encode(message: &Message) -> String {
    encode_line(message)
}

/// Serialize the responses to a batch as one line: a JSON array ending in
/// `'\n'`. (A batch that needs no response gets no line at all; that is the
/// caller's choice.)
pub fn encode_batch(messages: &[Message]) -> String {
    encode_line(messages)
}

fn encode_line<T: serde::Serialize + ?Sized>(value: &T) -> String {
    match serde_json::to_string(value) {
        Ok(mut line) => {
            line.push('\n');
            line
        }
        // Unreachable in practice (every field is plain JSON); still answer
        // something well-formed rather than panic.
        Err(_) => concat!(
            r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32603,"#,
            r#""message":"failed to encode message"}}"#,
            "\n"
        )
        .to_owned(),
    }
}

fn classify(raw: &RawValue) -> Result<Message, MessageError> {
    // Keys are owned (they may hold escapes); values stay raw until needed.
    let Ok(mut obj) = serde_json::from_str::<HashMap<String, &RawValue>>(raw.get()) else {
        return Err(invalid("message must be a JSON object", None));
    };
    let id_field = obj.remove("id");
    let id = id_field.and_then(Id::from_raw);
    let fail = |msg: &str| Err(invalid(msg, id.clone()));

    let version = obj
        .get("jsonrpc")
        .map(|v| serde_json::from_str::<String>(v.get()));
    if !matches!(version, Some(Ok(v)) if v == "2.0") {
        return fail(r#"jsonrpc must be "2.0""#);
    }

    if let Some(method) = obj.remove("method") {
        let Ok(method) = serde_json::from_str::<String>(method.get()) else {
            return fail("method must be a string");
        };
        // Some real clients send `"params": null`; treat it as absent.
        let params = match obj.remove("params").map(RawValue::get) {
            None | Some("null") => None,
            Some(text) if text.starts_with(['{', '[']) => Some(value(text, &id)?),
            Some(_) => return fail("params must be an object or an array"),
        };
        return match (id_field, id.clone()) {
            (None, _) => Ok(Message::Notification(Notification { method, params })),
            (Some(_), Some(id)) => Ok(Message::Request(Request { id, method, params })),
            (Some(_), None) => fail("id must be a number or a string"),
        };
    }

    classify_response(&mut obj, id_field, id)
}

/// A message without `method` must be a response.
fn classify_response(
    obj: &mut HashMap<String, &RawValue>,
    id_field: Option<&RawValue>,
    id: Option<Id>,
) -> Result<Message, MessageError> {
    let fail = |msg: &str| invalid(msg, id.clone());
    let outcome = match (obj.remove("result"), obj.remove("error")) {
        (Some(result), None) => Ok(value(result.get(), &id)?),
        (None, Some(error)) => Err(serde_json::from_str::<ErrorObject>(error.get()).map_err(
            |_| fail("error must be an object with an integer code and a string message"),
        )?),
        (Some(_), Some(_)) => return Err(fail("response must not have both result and error")),
        (None, None) => return Err(fail("missing method")),
    };
    let id = match (id_field.map(RawValue::get), id.clone()) {
        (None, _) => return Err(fail("response is missing id")),
        (Some("null"), _) => None,
        (Some(_), Some(id)) => Some(id),
        (Some(_), None) => return Err(fail("id must be a number, a string or null")),
    };
    Ok(Message::Response(Response { id, outcome }))
}

/// A member already known to be valid JSON, as a [`Value`]. This only fails
/// past serde_json's nesting limit, which the raw scan does not apply.
fn value(text: &str, id: &Option<Id>) -> Result<Value, MessageError> {
    serde_json::from_str(text).map_err(|e| {
        MessageError::new(
            ErrorObject::parse_error(format!("invalid JSON: {e}")),
            id.clone(),
        )
    })
}

fn parse_error(msg: String) -> MessageError {
    MessageError::new(ErrorObject::parse_error(msg), None)
}

fn invalid(msg: &str, id: Option<Id>) -> MessageError {
    MessageError::new(ErrorObject::invalid_request(msg), id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::codes;
    use serde_json::json;

    fn ok(line: &str) -> Message {
        match parse_line(line.as_bytes()) {
            Ok(Some(m)) => m,
            other => panic!("expected a message for {line:?}, got {other:?}"),
        }
    }

    fn err(line: &[u8]) -> MessageError {
        match parse_line(line) {
            Err(e) => e,
            other => panic!("expected an error for {line:?}, got {other:?}"),
        }
    }

    fn assert_invalid(line: &str, id: Option<Id>) {
        let e = err(line.as_bytes());
        assert_eq!(e.error.code, codes::INVALID_REQUEST, "{line}: {e:?}");
        assert_eq!(e.id, id, "{line}");
    }

    #[test]
    fn not_json_is_parse_error() {
        for line in [&b"{"[..], b"hello", b"{\"jsonrpc\":\"2.0\",}", b"\x00"] {
            let e = err(line);
            assert_eq!(e.error.code, codes::PARSE_ERROR);
            assert_eq!(e.id, None);
        }
    }

    #[test]
    fn non_utf8_is_parse_error() {
        let e = err(b"{\"a\":\"\xff\"}");
        assert_eq!(e.error.code, codes::PARSE_ERROR);
        assert_eq!(e.id, None);
        assert!(e.error.message.contains("UTF-8"));
    }

    #[test]
    fn batch_and_non_objects_are_invalid() {
        assert_invalid(r#"[{"jsonrpc":"2.0","id":1,"method":"a"}]"#, None);
        assert_invalid("[]", None);
        assert_invalid("42", None);
        assert_invalid(r#""text""#, None);
        assert_invalid("null", None);
        let e = err(b"[1]");
        assert!(e.error.message.contains("batch"));
    }

    #[test]
    fn jsonrpc_version_is_required() {
        assert_invalid(r#"{"id":1,"method":"a"}"#, Some(Id::Number(1)));
        assert_invalid(
            r#"{"jsonrpc":"1.0","id":1,"method":"a"}"#,
            Some(Id::Number(1)),
        );
        assert_invalid(
            r#"{"jsonrpc":2.0,"id":"x","method":"a"}"#,
            Some(Id::from("x")),
        );
    }

    #[test]
    fn method_must_be_string() {
        assert_invalid(
            r#"{"jsonrpc":"2.0","id":5,"method":5}"#,
            Some(Id::Number(5)),
        );
        assert_invalid(r#"{"jsonrpc":"2.0","method":null}"#, None);
    }

    #[test]
    fn bad_ids_on_requests_are_invalid() {
        assert_invalid(r#"{"jsonrpc":"2.0","id":null,"method":"a"}"#, None);
        assert_invalid(r#"{"jsonrpc":"2.0","id":true,"method":"a"}"#, None);
        assert_invalid(r#"{"jsonrpc":"2.0","id":{},"method":"a"}"#, None);
        assert_invalid(r#"{"jsonrpc":"2.0","id":[1],"method":"a"}"#, None);
    }

    #[test]
    fn every_number_and_string_id_is_echoed_byte_for_byte() {
        let i64_min = i64::MIN.to_string();
        for id in [
            "0",
            "-0",
            "1e3",
            "1E3",
            "-1.5e-7",
            "1.0",
            "1.5",
            i64_min.as_str(),
            "18446744073709551615",
            "18446744073709551617",
            "-18446744073709551617",
            "123456789012345678901234567890123456789",
            r#""""#,
            r#""\u00e9t\u00e9""#,
            r#""a\/b""#,
            r#""tab\there""#,
        ] {
            let line = format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"ping"}}"#);
            let Message::Request(request) = ok(&line) else {
                panic!("{line} is a request");
            };
            let echoed = encode(&Message::response(request.id.clone(), json!({})));
            assert_eq!(
                echoed,
                format!("{{\"jsonrpc\":\"2.0\",\"id\":{id},\"result\":{{}}}}\n")
            );
            let failed = encode(&Message::error(
                Some(request.id),
                ErrorObject::internal("x"),
            ));
            assert!(failed.contains(&format!(r#""id":{id},"#)), "{failed}");
            // An invalid message with such an id is answered with it too.
            let line = format!(r#"{{"jsonrpc":"1.0","id":{id},"method":"ping"}}"#);
            let e = err(line.as_bytes());
            assert_eq!(e.id.as_ref().map(Id::to_string).as_deref(), Some(id));
            let reply = encode(&e.into_message());
            assert!(reply.contains(&format!(r#""id":{id},"#)), "{reply}");
        }
        // Whitespace around the id is not part of it.
        let m = ok(r#"{"jsonrpc":"2.0","id":  -0 ,"method":"ping"}"#);
        let Message::Request(request) = m else {
            unreachable!()
        };
        assert_eq!(request.id.to_string(), "-0");
    }

    #[test]
    fn responses_carry_exact_ids_too() {
        let m = ok(r#"{"jsonrpc":"2.0","id":1e3,"result":{}}"#);
        let Message::Response(response) = m else {
            panic!("a response");
        };
        assert_eq!(response.id, Id::from_json("1e3"));
        assert_ne!(response.id, Some(Id::Number(1000)));
    }

    #[test]
    fn batches_are_classified_element_by_element() {
        let line = br#" [{"jsonrpc":"2.0","id":-0,"method":"a"}, {"jsonrpc":"2.0","method":"n"}, 1, {"jsonrpc":"2.0","id":"x"}, [], {"jsonrpc":"2.0","id":2,"result":null}] "#;
        let Ok(Some(Incoming::Batch(items))) = parse_incoming(line) else {
            panic!("a batch");
        };
        assert_eq!(items.len(), 6);
        assert_eq!(
            items[0],
            Ok(Message::request(Id::from_json("-0").unwrap(), "a", None))
        );
        assert_eq!(items[1], Ok(Message::notification("n", None)));
        let codes: Vec<Option<(i64, Option<Id>)>> = items
            .iter()
            .map(|i| i.as_ref().err().map(|e| (e.error.code, e.id.clone())))
            .collect();
        assert_eq!(codes[2], Some((codes::INVALID_REQUEST, None)));
        assert_eq!(
            codes[3],
            Some((codes::INVALID_REQUEST, Some(Id::from("x"))))
        );
        assert_eq!(
            codes[4],
            Some((codes::INVALID_REQUEST, None)),
            "a nested array"
        );
        assert_eq!(items[5], Ok(Message::response(Id::Number(2), Value::Null)));

        assert_eq!(parse_incoming(b"[]"), Ok(Some(Incoming::Batch(Vec::new()))));
        assert_eq!(parse_incoming(b"  "), Ok(None));
        let e = parse_incoming(br#"[{"jsonrpc":"2.0","method":"a"},"#).unwrap_err();
        assert_eq!(
            e.error.code,
            codes::PARSE_ERROR,
            "a broken batch is one parse error"
        );
        assert_eq!(
            parse_incoming(br#"{"jsonrpc":"2.0","method":"a"}"#),
            Ok(Some(Incoming::Single(Message::notification("a", None))))
        );
        // parse_line never accepts one.
        assert_eq!(
            err(b"[{\"jsonrpc\":\"2.0\",\"method\":\"a\"}]").error.code,
            codes::INVALID_REQUEST
        );
    }

    #[test]
    fn batch_responses_are_one_line() {
        let replies = [
            Message::response(
                Id::from_json("18446744073709551617").unwrap(),
                json!({"a": "x\ny"}),
            ),
            Message::error(None, ErrorObject::invalid_request("bad")),
        ];
        let line = encode_batch(&replies);
        assert!(
            line.starts_with(r#"[{"jsonrpc":"2.0","id":18446744073709551617,"#),
            "{line}"
        );
        assert_eq!(line.matches('\n').count(), 1);
        assert!(line.ends_with("]\n"));
        let Ok(Some(Incoming::Batch(back))) = parse_incoming(line.as_bytes()) else {
            panic!("reads back as a batch");
        };
        assert_eq!(back, replies.map(Ok));
    }

    #[test]
    fn deep_params_past_the_nesting_limit_are_a_parse_error_with_the_id() {
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        let line = format!(r#"{{"jsonrpc":"2.0","id":7,"method":"a","params":{deep}}}"#);
        let e = err(line.as_bytes());
        assert_eq!(e.error.code, codes::PARSE_ERROR);
        assert_eq!(e.id, Some(Id::Number(7)), "{e:?}");
    }

    #[test]
    fn invalid_request_keeps_valid_id() {
        assert_invalid(
            r#"{"jsonrpc":"2.0","id":"req-9","params":{}}"#,
            Some(Id::from("req-9")),
        );
        assert_invalid(r#"{"jsonrpc":"2.0","id":9}"#, Some(Id::Number(9)));
    }

    #[test]
    fn params_must_be_object_or_array() {
        for params in ["1", r#""s""#, "true"] {
            let line = format!(r#"{{"jsonrpc":"2.0","id":2,"method":"a","params":{params}}}"#);
            assert_invalid(&line, Some(Id::Number(2)));
            let line = format!(r#"{{"jsonrpc":"2.0","method":"a","params":{params}}}"#);
            assert_invalid(&line, None);
        }
        let m = ok(r#"{"jsonrpc":"2.0","id":2,"method":"a","params":[1,2]}"#);
        assert_eq!(m, Message::request(Id::Number(2), "a", Some(json!([1, 2]))));
        let m = ok(r#"{"jsonrpc":"2.0","id":2,"method":"a","params":null}"#);
        assert_eq!(m, Message::request(Id::Number(2), "a", None));
    }

    #[test]
    fn requests_keep_id_form() {
        let m = ok(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#);
        assert_eq!(m, Message::request(Id::Number(1), "tools/list", None));
        let m = ok(r#"{"jsonrpc":"2.0","id":"1","method":"tools/list","params":{"a":1}}"#);
        assert_eq!(
            m,
            Message::request(Id::from("1"), "tools/list", Some(json!({"a": 1})))
        );
        let Message::Request(r) = m else {
            unreachable!()
        };
        let echoed = encode(&Message::response(r.id, json!({})));
        assert!(echoed.contains(r#""id":"1""#), "{echoed}");
        let echoed = encode(&Message::response(Id::Number(1), json!({})));
        assert!(echoed.contains(r#""id":1,"#), "{echoed}");
    }

    #[test]
    fn notification_has_no_id() {
        let m = ok(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
        assert_eq!(m, Message::notification("notifications/initialized", None));
    }

    #[test]
    fn responses() {
        let m = ok(r#"{"jsonrpc":"2.0","id":4,"result":{"x":1}}"#);
        assert_eq!(m, Message::response(Id::Number(4), json!({"x": 1})));
        let m = ok(r#"{"jsonrpc":"2.0","id":"4","result":null}"#);
        assert_eq!(m, Message::response(Id::from("4"), Value::Null));
        let m =
            ok(r#"{"jsonrpc":"2.0","id":4,"error":{"code":-32601,"message":"nope","data":[1]}}"#);
        assert_eq!(
            m,
            Message::error(
                Some(Id::Number(4)),
                ErrorObject::new(-32601, "nope").with_data(json!([1]))
            )
        );
        let m = ok(r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"bad"}}"#);
        assert_eq!(m, Message::error(None, ErrorObject::parse_error("bad")));
    }

    #[test]
    fn malformed_responses_are_invalid() {
        let id = Some(Id::Number(4));
        assert_invalid(
            r#"{"jsonrpc":"2.0","id":4,"result":1,"error":{"code":1,"message":"m"}}"#,
            id.clone(),
        );
        assert_invalid(r#"{"jsonrpc":"2.0","id":4,"error":"boom"}"#, id.clone());
        assert_invalid(
            r#"{"jsonrpc":"2.0","id":4,"error":{"code":1.5,"message":"m"}}"#,
            id.clone(),
        );
        assert_invalid(r#"{"jsonrpc":"2.0","id":4,"error":{"message":"m"}}"#, id);
        assert_invalid(r#"{"jsonrpc":"2.0","result":1}"#, None);
        assert_invalid(r#"{"jsonrpc":"2.0","id":[4],"result":1}"#, None);
        assert_invalid(
            r#"{"jsonrpc":"2.0","id":true,"error":{"code":1,"message":"m"}}"#,
            None,
        );
    }

    #[test]
    fn unknown_fields_are_tolerated() {
        let m = ok(r#"{"jsonrpc":"2.0","id":1,"method":"a","extra":{"x":[]}}"#);
        assert_eq!(m, Message::request(Id::Number(1), "a", None));
        let m = ok(r#"{"jsonrpc":"2.0","id":1,"result":2,"meta":3}"#);
        assert_eq!(m, Message::response(Id::Number(1), json!(2)));
    }

    #[test]
    fn whitespace_crlf_and_blank_lines() {
        let m = ok("  {\"jsonrpc\":\"2.0\",\"method\":\"a\"}\r");
        assert_eq!(m, Message::notification("a", None));
        assert_eq!(parse_line(b""), Ok(None));
        assert_eq!(parse_line(b"   \t\r"), Ok(None));
        assert_eq!(parse_line(b"\r"), Ok(None));
    }

    #[test]
    fn encode_is_one_line_and_round_trips() {
        let messages = [
            Message::request(
                Id::Number(-3),
                "a/b",
                Some(json!({"text": "x\ny\r\n\u{2028}"})),
            ),
            Message::request(Id::from("s\n"), "m", Some(json!([null, 1.5]))),
            Message::notification("n", None),
            Message::notification("n", Some(json!({}))),
            Message::response(Id::Number(i64::MAX), json!("multi\nline")),
            Message::response(Id::from(""), Value::Null),
            Message::error(None, ErrorObject::internal("oops")),
            Message::error(
                Some(Id::Number(0)),
                ErrorObject::invalid_params("p").with_data(json!({"field": "x"})),
            ),
        ];
        for m in messages {
            let line = encode(&m);
            assert!(line.ends_with('\n'));
            assert_eq!(line.matches('\n').count(), 1, "{line}");
            let v: Value = serde_json::from_str(&line).unwrap();
            assert_eq!(v["jsonrpc"], "2.0");
            assert_eq!(parse_line(line.as_bytes()), Ok(Some(m)));
        }
    }

    #[test]
    fn error_response_always_has_id_and_one_outcome() {
        let v: Value = serde_json::from_str(&encode(&err(b"{").into_message())).unwrap();
        let obj = v.as_object().unwrap();
        assert_eq!(obj.get("id"), Some(&Value::Null));
        assert!(obj.contains_key("error"));
        assert!(!obj.contains_key("result"));
    }
}
