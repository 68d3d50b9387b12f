//! One line <-> one message. This is the transport-independent core: blocking
//! and async framers both feed lines to [`parse_line`] and write [`encode`].

use serde_json::{Map, Value};

use crate::error::{ErrorObject, MessageError};
use crate::message::{Id, Message, Notification, Request, Response};

/// Classify one line (without its newline).
///
/// - Empty or whitespace-only: `Ok(None)`, skip it.
/// - Not UTF-8 or not JSON: `PARSE_ERROR`, id `None`.
/// - JSON but not a valid message (batch array, non-object, `jsonrpc` not
///   `"2.0"`, missing or non-string `method` on a non-response, id that is not
///   an integer or string, `params` that is not an object or array, response
///   with both or neither of `result`/`error`, malformed `error`):
///   `INVALID_REQUEST`, with the id when it is a valid id.
/// - `method` + `id`: [`Message::Request`]; `method` alone:
///   [`Message::Notification`]; `id` (may be null) + exactly one of
///   `result`/`error`: [`Message::Response`].
///
/// Unknown extra fields are ignored; surrounding whitespace (including a
/// trailing `'\r'`) is trimmed. Ids must fit in `i64`; fractional numbers are
/// rejected.
pub fn parse_line(line: &[u8]) -> Result<Option<Message>, MessageError> {
    let line = line.trim_ascii();
    if line.is_empty() {
        return Ok(None);
    }
    let parse_error = |msg: String| MessageError::new(ErrorObject::parse_error(msg), None);
    let text = std::str::from_utf8(line).map_err(|e| parse_error(format!("invalid UTF-8: {e}")))?;
    let value: Value =
        serde_json::from_str(text).map_err(|e| parse_error(format!("invalid JSON: {e}")))?;
    classify(value).map(Some)
}

/// Serialize one message as a single line of JSON ending in `'\n'`. The
/// compact form escapes control characters inside strings, so the output
/// never contains another newline.
pub fn encode(message: &Message) -> String {
    match serde_json::to_string(message) {
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

fn classify(value: Value) -> Result<Message, MessageError> {
    let mut obj = match value {
        Value::Object(obj) => obj,
        Value::Array(_) => return Err(invalid("batch requests are not supported", None)),
        _ => return Err(invalid("message must be a JSON object", None)),
    };
    let id_field = obj.remove("id");
    let id = id_field.as_ref().and_then(id_from_value);
    let fail = |msg: &str| Err(invalid(msg, id.clone()));

    if obj.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return fail(r#"jsonrpc must be "2.0""#);
    }

    if let Some(method) = obj.remove("method") {
        let Value::String(method) = method else {
            return fail("method must be a string");
        };
        // Some real clients send `"params": null`; treat it as absent.
        let params = obj.remove("params").filter(|p| !p.is_null());
        if params
            .as_ref()
            .is_some_and(|p| !p.is_object() && !p.is_array())
        {
            return fail("params must be an object or an array");
        }
        return match (id_field, id.clone()) {
            (None, _) => Ok(Message::Notification(Notification { method, params })),
            (Some(_), Some(id)) => Ok(Message::Request(Request { id, method, params })),
            (Some(_), None) => fail("id must be an integer or a string"),
        };
    }

    classify_response(&mut obj, id_field, id.clone()).map_err(|msg| invalid(msg, id))
}

/// A message without `method` must be a response.
fn classify_response(
    obj: &mut Map<String, Value>,
    id_field: Option<Value>,
    id: Option<Id>,
) -> Result<Message, &'static str> {
    let outcome = match (obj.remove("result"), obj.remove("error")) {
        (Some(result), None) => Ok(result),
        (None, Some(error)) => Err(serde_json::from_value::<ErrorObject>(error)
            .map_err(|_| "error must be an object with an integer code and a string message")?),
        (Some(_), Some(_)) => return Err("response must not have both result and error"),
        (None, None) => return Err("missing method"),
    };
    let id = match (id_field, id) {
        (None, _) => return Err("response is missing id"),
        (Some(Value::Null), _) => None,
        (Some(_), Some(id)) => Some(id),
        (Some(_), None) => return Err("id must be an integer, a string or null"),
    };
    Ok(Message::Response(Response { id, outcome }))
}

fn id_from_value(value: &Value) -> Option<Id> {
    match value {
        Value::Number(n) => n.as_i64().map(Id::Number),
        Value::String(s) => Some(Id::String(s.clone())),
        _ => None,
    }
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
        assert_invalid(r#"{"jsonrpc":"2.0","id":1.5,"method":"a"}"#, None);
        assert_invalid(
            r#"{"jsonrpc":"2.0","id":18446744073709551615,"method":"a"}"#,
            None,
        );
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
