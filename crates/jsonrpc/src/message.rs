//! The three kinds of JSON-RPC 2.0 message and their wire form.

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Value;

use crate::error::ErrorObject;
use crate::ids::Id;

/// A call that expects a response carrying the same id.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub id: Id,
    pub method: String,
    /// An object or array when present.
    pub params: Option<Value>,
}

/// A call that must not be answered.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    pub method: String,
    /// An object or array when present.
    pub params: Option<Value>,
}

/// The answer to a request.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    /// `None` is JSON `null`: the request's id could not be determined.
    pub id: Option<Id>,
    pub outcome: Result<Value, ErrorObject>,
}

/// Any single JSON-RPC 2.0 message (a batch of them is read as
/// [`crate::Incoming::Batch`] and written with [`crate::encode_batch`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    Request(Request),
    Notification(Notification),
    Response(Response),
}

impl Message {
    pub fn request(id: Id, method: impl Into<String>, params: Option<Value>) -> Self {
        Message::Request(Request {
            id,
            method: method.into(),
            params,
        })
    }

    pub fn notification(method: impl Into<String>, params: Option<Value>) -> Self {
        Message::Notification(Notification {
            method: method.into(),
            params,
        })
    }

    /// A successful response.
    pub fn response(id: Id, result: Value) -> Self {
        Message::Response(Response {
            id: Some(id),
            outcome: Ok(result),
        })
    }

    /// A failed response; `id` is `None` when the request's id is unknown.
    pub fn error(id: Option<Id>, error: ErrorObject) -> Self {
        Message::Response(Response {
            id,
            outcome: Err(error),
        })
    }
}

/// Wire form: always `"jsonrpc":"2.0"`; `params` omitted when absent;
/// responses always carry `id` (null when unknown) and exactly one of
/// `result`/`error`.
impl Serialize for Message {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("jsonrpc", "2.0")?;
        match self {
            Message::Request(r) => {
                map.serialize_entry("id", &r.id)?;
                map.serialize_entry("method", &r.method)?;
                if let Some(params) = &r.params {
                    map.serialize_entry("params", params)?;
                }
            }
            Message::Notification(n) => {
                map.serialize_entry("method", &n.method)?;
                if let Some(params) = &n.params {
                    map.serialize_entry("params", params)?;
                }
            }
            Message::Response(r) => {
                map.serialize_entry("id", &r.id)?;
                match &r.outcome {
                    Ok(result) => map.serialize_entry("result", result)?,
                    Err(error) => map.serialize_entry("error", error)?,
                }
            }
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn wire(m: &Message) -> Value {
        serde_json::to_value(m).unwrap()
    }

    #[test]
    fn request_and_notification_wire_form() {
        let m = Message::request(Id::from("a"), "tools/list", Some(json!({})));
        assert_eq!(
            wire(&m),
            json!({"jsonrpc": "2.0", "id": "a", "method": "tools/list", "params": {}})
        );
        let m = Message::notification("initialized", None);
        assert_eq!(wire(&m), json!({"jsonrpc": "2.0", "method": "initialized"}));
    }

    #[test]
    fn response_wire_form() {
        let ok = Message::response(Id::Number(3), Value::Null);
        assert_eq!(
            wire(&ok),
            json!({"jsonrpc": "2.0", "id": 3, "result": null})
        );
        let err = Message::error(None, ErrorObject::parse_error("bad"));
        assert_eq!(
            wire(&err),
            json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32700, "message": "bad"}})
        );
    }

    #[test]
    fn id_serde_keeps_form() {
        assert_eq!(serde_json::to_string(&Id::Number(7)).unwrap(), "7");
        assert_eq!(serde_json::to_string(&Id::from("7")).unwrap(), "\"7\"");
        assert_eq!(serde_json::from_str::<Id>("7").unwrap(), Id::Number(7));
        assert_eq!(serde_json::from_str::<Id>("\"7\"").unwrap(), Id::from("7"));
        assert_eq!(Id::Number(7).to_string(), "7");
        assert_eq!(Id::from("x").to_string(), "\"x\"");
    }
}
