//! What the stateless 2026-07-28 revision asks of the HTTP transport
//! beyond what `stateless.rs` does for every transport: no session, the
//! headers that mirror the body (`MCP-Protocol-Version`, `Mcp-Method`,
//! `Mcp-Name`, SEP-2243) checked against it (`HeaderMismatch`, -32020, 400),
//! and HTTP statuses that say what the JSON-RPC error says (an unsupported
//! version or a malformed request 400, an unknown method 404).

use hyper::StatusCode;
use hyper::header::{HeaderMap, HeaderName};
use serde::Deserialize;
use serde_json::Value;

use enki_jsonrpc::codes;

use crate::stateless::{PROTOCOL_VERSION_KEY, UNSUPPORTED_PROTOCOL_VERSION};

/// `HeaderMismatch`: a mirrored header is missing or says something else
/// than the body.
pub(crate) const HEADER_MISMATCH: i64 = -32020;

const METHOD_HEADER: HeaderName = HeaderName::from_static("mcp-method");
const NAME_HEADER: HeaderName = HeaderName::from_static("mcp-name");

/// The body field `Mcp-Name` mirrors, for the methods that have one.
fn named_field(method: &str) -> Option<&'static str> {
    match method {
        "tools/call" | "prompts/get" => Some("name"),
        "resources/read" => Some("uri"),
        _ => None,
    }
}

/// Compares the mirrored headers of a request sent as `version` with its
/// body. A body that is not a JSON object is left to the server (it answers
/// the parse error or Invalid Request itself).
pub(crate) fn check_mirrored_headers(
    headers: &HeaderMap,
    version: &str,
    body: &[u8],
) -> Result<(), String> {
    let Ok(Value::Object(message)) = serde_json::from_slice::<Value>(body) else {
        return Ok(());
    };
    let Some(method) = message.get("method").and_then(Value::as_str) else {
        return Ok(());
    };
    let header = |name: &HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    match header(&METHOD_HEADER) {
        None => {
            return Err(format!(
                "missing Mcp-Method header: a {version} request repeats its method there ('{method}')"
            ));
        }
        Some(named) if named != method => {
            return Err(format!(
                "Mcp-Method says '{named}' but the body's method is '{method}'"
            ));
        }
        Some(_) => {}
    }
    let params = message.get("params");
    if let Some(field) = named_field(method) {
        let in_body = params.and_then(|p| p.get(field)).and_then(Value::as_str);
        match (header(&NAME_HEADER), in_body) {
            (None, Some(name)) => {
                return Err(format!(
                    "missing Mcp-Name header: a {version} {method} repeats its `{field}` there ('{name}')"
                ));
            }
            (Some(named), Some(name)) if named != name => {
                return Err(format!(
                    "Mcp-Name says '{named}' but the body's `{field}` is '{name}'"
                ));
            }
            _ => {}
        }
    }
    let in_meta = params
        .and_then(|p| p.get("_meta"))
        .and_then(|m| m.get(PROTOCOL_VERSION_KEY))
        .and_then(Value::as_str);
    if in_meta != Some(version) {
        return Err(format!(
            "MCP-Protocol-Version says {version} but the body's params._meta \"{PROTOCOL_VERSION_KEY}\" says {}",
            in_meta.map_or("nothing".to_string(), |v| format!("'{v}'"))
        ));
    }
    Ok(())
}

/// The HTTP status of a 2026-07-28 answer: what its error says, 200 for a
/// result.
pub(crate) fn status_of(reply: &str) -> StatusCode {
    #[derive(Deserialize)]
    struct Probe {
        #[serde(default)]
        error: Option<ErrorProbe>,
    }
    #[derive(Deserialize)]
    struct ErrorProbe {
        code: i64,
    }
    let code = serde_json::from_str::<Probe>(reply)
        .ok()
        .and_then(|p| p.error)
        .map(|e| e.code);
    match code {
        Some(codes::METHOD_NOT_FOUND) => StatusCode::NOT_FOUND,
        Some(
            codes::PARSE_ERROR
            | codes::INVALID_REQUEST
            | codes::INVALID_PARAMS
            | UNSUPPORTED_PROTOCOL_VERSION
            | HEADER_MISMATCH,
        ) => StatusCode::BAD_REQUEST,
        _ => StatusCode::OK,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;
    use serde_json::json;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    fn call(name: &str) -> Vec<u8> {
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
            "name": name, "arguments": {},
            "_meta": {PROTOCOL_VERSION_KEY: "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}}
        }})
        .to_string()
        .into_bytes()
    }

    #[test]
    fn mirrored_headers_must_be_there_and_agree_with_the_body() {
        let ok = headers(&[("mcp-method", "tools/call"), ("mcp-name", "enki_status")]);
        assert!(check_mirrored_headers(&ok, "2026-07-28", &call("enki_status")).is_ok());
        let cases = [
            (
                headers(&[("mcp-name", "enki_status")]),
                "missing Mcp-Method",
            ),
            (
                headers(&[("mcp-method", "tools/list"), ("mcp-name", "enki_status")]),
                "Mcp-Method says",
            ),
            (headers(&[("mcp-method", "tools/call")]), "missing Mcp-Name"),
            (
                headers(&[("mcp-method", "tools/call"), ("mcp-name", "enki_dag")]),
                "Mcp-Name says",
            ),
        ];
        for (headers, expected) in cases {
            let err = check_mirrored_headers(&headers, "2026-07-28", &call("enki_status"))
                .expect_err(expected);
            assert!(err.contains(expected), "{err}");
        }
        let legacy_body = br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;
        let err = check_mirrored_headers(
            &headers(&[("mcp-method", "tools/list")]),
            "2026-07-28",
            legacy_body,
        )
        .expect_err("the body names no version");
        assert!(err.contains("says nothing"), "{err}");
        assert!(check_mirrored_headers(&ok, "2026-07-28", b"not json").is_ok());
    }

    #[test]
    fn errors_become_http_statuses() {
        let error = |code: i64| {
            format!(r#"{{"jsonrpc":"2.0","id":1,"error":{{"code":{code},"message":"x"}}}}"#)
        };
        assert_eq!(status_of(&error(-32601)), StatusCode::NOT_FOUND);
        assert_eq!(status_of(&error(-32022)), StatusCode::BAD_REQUEST);
        assert_eq!(status_of(&error(-32602)), StatusCode::BAD_REQUEST);
        assert_eq!(status_of(&error(-32603)), StatusCode::OK);
        assert_eq!(
            status_of(r#"{"jsonrpc":"2.0","id":1,"result":{}}"#),
            StatusCode::OK
        );
    }
}
