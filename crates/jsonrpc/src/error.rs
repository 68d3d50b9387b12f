//! Error objects carried in responses, and the error returned when a line is
//! not a valid message.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ids::Id;
use crate::message::Message;

/// Error codes reserved by the JSON-RPC 2.0 specification.
pub mod codes {
    /// The line is not valid JSON (or not valid UTF-8).
    pub const PARSE_ERROR: i64 = -32700;
    /// Valid JSON, but not a valid JSON-RPC 2.0 message.
    pub const INVALID_REQUEST: i64 = -32600;
    /// The method does not exist or is not available.
    pub const METHOD_NOT_FOUND: i64 = -32601;
    /// The params are not what the method expects.
    pub const INVALID_PARAMS: i64 = -32602;
    /// The handler failed for a reason that is not the caller's fault.
    pub const INTERNAL_ERROR: i64 = -32603;
}

/// The `error` member of a failed response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[error("{message} (code {code})")]
pub struct ErrorObject {
    pub code: i64,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

impl ErrorObject {
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            data: None,
        }
    }

    /// Attach structured detail (e.g. which field was wrong).
    pub fn with_data(mut self, data: Value) -> Self {
        self.data = Some(data);
        self
    }

    pub fn parse_error(message: impl Into<String>) -> Self {
        Self::new(codes::PARSE_ERROR, message)
    }

    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(codes::INVALID_REQUEST, message)
    }

    pub fn method_not_found(method: &str) -> Self {
        Self::new(
            codes::METHOD_NOT_FOUND,
            format!("method not found: {method}"),
        )
    }

    pub fn invalid_params(message: impl Into<String>) -> Self {
        Self::new(codes::INVALID_PARAMS, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(codes::INTERNAL_ERROR, message)
    }
}

/// Why a line could not be turned into a [`Message`].
///
/// `id` is the message's id when it could be recovered, so an invalid request
/// with a valid id is answered with that id; otherwise `None`, answered with
/// `"id": null`. (A peer should not answer an invalid *response*; that choice
/// is left to the caller.)
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{error}")]
pub struct MessageError {
    pub error: ErrorObject,
    pub id: Option<Id>,
}

impl MessageError {
    pub fn new(error: ErrorObject, id: Option<Id>) -> Self {
        Self { error, id }
    }

    /// The error response to send back for this bad line.
    pub fn into_message(self) -> Message {
        Message::error(self.id, self.error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn constructors_use_reserved_codes() {
        assert_eq!(ErrorObject::parse_error("x").code, -32700);
        assert_eq!(ErrorObject::invalid_request("x").code, -32600);
        assert_eq!(ErrorObject::method_not_found("foo").code, -32601);
        assert!(ErrorObject::method_not_found("foo").message.contains("foo"));
        assert_eq!(ErrorObject::invalid_params("x").code, -32602);
        assert_eq!(ErrorObject::internal("x").code, -32603);
        assert_eq!(ErrorObject::new(7, "m").message, "m");
    }

    #[test]
    fn data_is_omitted_when_absent() {
        let plain = serde_json::to_value(ErrorObject::internal("boom")).unwrap();
        assert_eq!(plain, json!({"code": -32603, "message": "boom"}));
        let with = serde_json::to_value(ErrorObject::internal("boom").with_data(json!([1])));
        assert_eq!(
            with.unwrap(),
            json!({"code": -32603, "message": "boom", "data": [1]})
        );
    }
}
