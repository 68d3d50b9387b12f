//! The stateless 2026-07-28 revision of MCP (SEP-2575): no `initialize`;
//! every request names its protocol version and the client's capabilities in
//! `params._meta`, and `server/discover` tells a client what `initialize`
//! used to (versions, capabilities, instructions, identity).
//!
//! A request is served under that revision when its `_meta` names it
//! ([`classify`]); one without the key is a legacy request, served as the
//! version `initialize` settled on. Both eras share one process (stdio) or
//! endpoint (HTTP), as the revision allows a "dual-era" server to.

use serde_json::{Map, Value, json};

use enki_jsonrpc::{ErrorObject, Request, codes};

use crate::protocol::{self, Era};
use crate::roles::McpRole;

/// `_meta` key: the protocol version of this one request.
pub const PROTOCOL_VERSION_KEY: &str = "io.modelcontextprotocol/protocolVersion";
/// `_meta` key: the client's capabilities for this one request.
pub const CLIENT_CAPABILITIES_KEY: &str = "io.modelcontextprotocol/clientCapabilities";
/// `_meta` key: the client's name and version (optional).
pub const CLIENT_INFO_KEY: &str = "io.modelcontextprotocol/clientInfo";
/// Result `_meta` key: the server's name and version.
pub const SERVER_INFO_KEY: &str = "io.modelcontextprotocol/serverInfo";

/// `UnsupportedProtocolVersionError`: the request names a version this
/// server does not speak; `data` lists those it does.
pub const UNSUPPORTED_PROTOCOL_VERSION: i64 = -32022;

/// Legacy methods the revision removed, and what replaced them.
const REMOVED: &[(&str, &str)] = &[
    (
        "initialize",
        "there is no handshake: call server/discover for versions and capabilities, or just send requests",
    ),
    ("ping", "there is no replacement"),
    (
        "logging/setLevel",
        "a request opts into log messages with _meta \"io.modelcontextprotocol/logLevel\"",
    ),
    (
        "resources/subscribe",
        "name the resources in the resourceSubscriptions of a subscriptions/listen request instead",
    ),
    (
        "resources/unsubscribe",
        "name the resources in the resourceSubscriptions of a subscriptions/listen request instead",
    ),
];

/// Results that must carry caching hints, with their freshness in
/// milliseconds. The tool list and the discovery result never change while
/// the process runs; resources and prompts follow the store and the role
/// files, so they are stale at once. All are `private`: what a caller sees
/// depends on its role (with HTTP tokens, on its token).
const CACHEABLE: &[(&str, u64)] = &[
    ("server/discover", 300_000),
    ("tools/list", 300_000),
    ("prompts/list", 0),
    ("resources/list", 0),
    ("resources/templates/list", 0),
    ("resources/read", 0),
];

/// What a 2026-07-28 request says about itself in `params._meta`.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestMeta {
    pub version: &'static str,
    /// The client's capabilities for this request alone: the revision
    /// forbids inferring them from earlier requests.
    pub client_capabilities: Map<String, Value>,
}

/// `Some` for a request to serve under the stateless revision, `None` for a
/// legacy one. Refuses a request whose `_meta` names a version enki does not
/// speak (-32022, listing those it does), a 2026-07-28 request without its
/// required fields or with a method that revision removed, and
/// `server/discover` outside that revision (-32602: it needs the `_meta`).
///
/// A request whose `_meta` names a legacy version is a legacy request: the
/// key then only repeats what `initialize` is for.
pub fn classify(request: &Request) -> Result<Option<RequestMeta>, ErrorObject> {
    let meta = request
        .params
        .as_ref()
        .and_then(|p| p.get("_meta"))
        .and_then(Value::as_object);
    let named = meta.and_then(|m| m.get(PROTOCOL_VERSION_KEY));
    let version = match named {
        None => None,
        Some(Value::String(v)) => Some(v.as_str()),
        Some(other) => {
            return Err(ErrorObject::invalid_params(format!(
                "_meta \"{PROTOCOL_VERSION_KEY}\" must be a string such as \"2026-07-28\", got {other}"
            )));
        }
    };
    let version = match version {
        Some(v) if protocol::MODERN_VERSIONS.contains(&v) => v,
        Some(v) if !protocol::LEGACY_VERSIONS.contains(&v) => return Err(unsupported(v)),
        // No version, or a legacy one.
        _ if request.method == "server/discover" => {
            return Err(ErrorObject::invalid_params(format!(
                "server/discover is part of MCP 2026-07-28 and needs params._meta with \"{PROTOCOL_VERSION_KEY}\": \"2026-07-28\" and \"{CLIENT_CAPABILITIES_KEY}\" (an object, {{}} for none); clients of 2025-11-25 and earlier call initialize instead"
            )));
        }
        _ => return Ok(None),
    };
    let version = protocol::MODERN_VERSIONS
        .iter()
        .copied()
        .find(|v| *v == version)
        .unwrap_or("2026-07-28");
    let meta = meta.cloned().unwrap_or_default();
    let client_capabilities = match meta.get(CLIENT_CAPABILITIES_KEY) {
        Some(Value::Object(capabilities)) => capabilities.clone(),
        other => {
            let got = other.map_or("nothing".to_string(), Value::to_string);
            return Err(ErrorObject::invalid_params(format!(
                "a {version} request needs _meta \"{CLIENT_CAPABILITIES_KEY}\": an object of the client's capabilities ({{}} for none), got {got}"
            )));
        }
    };
    if let Some(info) = meta.get(CLIENT_INFO_KEY) {
        let named = |field: &str| info.get(field).is_some_and(Value::is_string);
        if !named("name") || !named("version") {
            return Err(ErrorObject::invalid_params(format!(
                "_meta \"{CLIENT_INFO_KEY}\" must be an object with string `name` and `version`, got {info}"
            )));
        }
    }
    if let Some((method, instead)) = REMOVED.iter().find(|(m, _)| *m == request.method) {
        return Err(ErrorObject::new(
            codes::METHOD_NOT_FOUND,
            format!(
                "'{method}' is not part of MCP {version}, the version this request names: {instead}"
            ),
        ));
    }
    Ok(Some(RequestMeta {
        version,
        client_capabilities,
    }))
}

/// `UnsupportedProtocolVersionError` for a request that named `requested`.
pub fn unsupported(requested: &str) -> ErrorObject {
    let supported = protocol::advertised_versions();
    ErrorObject::new(
        UNSUPPORTED_PROTOCOL_VERSION,
        format!(
            "unsupported protocol version '{requested}': enki speaks {} (2026-07-28 named in each request's _meta, the others through initialize)",
            supported.join(", ")
        ),
    )
    .with_data(json!({"supported": supported, "requested": requested}))
}

/// Answers `server/discover` (its `resultType`, `_meta` and caching hints
/// are added by [`finish`] like every 2026-07-28 result's).
pub fn discover(role: McpRole, no_edit: bool) -> Value {
    json!({
        "supportedVersions": protocol::advertised_versions(),
        "capabilities": protocol::capabilities_for(Era::Modern),
        "instructions": protocol::instructions(role, no_edit),
    })
}

/// A result as the request's era wants it. For 2026-07-28: `resultType`
/// (`complete` unless the handler said otherwise), the server's identity in
/// `_meta`, and `ttlMs`/`cacheScope` on the results that must carry them.
/// Legacy results are returned as they are.
pub fn finish(meta: Option<&RequestMeta>, method: &str, result: Value) -> Value {
    let mut map = match (meta, result) {
        (Some(_), Value::Object(map)) => map,
        // Legacy results, and results that are no object, go as they are
        // (moved, not cloned: a `tools/list` result is big).
        (_, result) => return result,
    };
    let complete = map.entry("resultType").or_insert_with(|| json!("complete")) == "complete";
    if let Value::Object(result_meta) = map.entry("_meta").or_insert_with(|| json!({})) {
        result_meta
            .entry(SERVER_INFO_KEY)
            .or_insert_with(protocol::server_info);
    }
    let ttl = CACHEABLE.iter().find(|(m, _)| *m == method);
    if let (true, Some((_, ttl_ms))) = (complete, ttl) {
        map.entry("ttlMs").or_insert_with(|| json!(ttl_ms));
        map.entry("cacheScope").or_insert_with(|| json!("private"));
    }
    Value::Object(map)
}

#[cfg(test)]
mod tests {
    use super::*;
    use enki_jsonrpc::Id;

    fn request(method: &str, params: Value) -> Request {
        Request {
            id: Id::Number(1),
            method: method.to_string(),
            params: Some(params),
        }
    }

    fn modern(extra: Value) -> Value {
        let mut meta = json!({
            PROTOCOL_VERSION_KEY: "2026-07-28",
            CLIENT_CAPABILITIES_KEY: {},
        });
        if let (Value::Object(meta), Value::Object(extra)) = (&mut meta, extra) {
            meta.extend(extra);
        }
        json!({"_meta": meta})
    }

    #[test]
    fn a_request_is_modern_when_its_meta_names_2026_07_28() {
        let meta = classify(&request("tools/list", modern(json!({}))))
            .unwrap()
            .unwrap();
        assert_eq!(meta.version, "2026-07-28");
        assert!(meta.client_capabilities.is_empty());
        for legacy in [
            json!({}),
            json!({"_meta": {"progressToken": 3}}),
            json!({"_meta": {PROTOCOL_VERSION_KEY: "2025-11-25"}}),
            json!({"_meta": "not an object"}),
        ] {
            assert_eq!(classify(&request("tools/list", legacy)), Ok(None));
        }
    }

    #[test]
    fn an_unknown_version_is_refused_with_the_supported_list() {
        let params =
            json!({"_meta": {PROTOCOL_VERSION_KEY: "1900-01-01", CLIENT_CAPABILITIES_KEY: {}}});
        let error = classify(&request("tools/list", params)).unwrap_err();
        assert_eq!(error.code, -32022);
        assert_eq!(
            error.data,
            Some(json!({
                "supported": ["2026-07-28", "2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"],
                "requested": "1900-01-01",
            }))
        );
        let params = json!({"_meta": {PROTOCOL_VERSION_KEY: 2026}});
        assert_eq!(
            classify(&request("tools/list", params)).unwrap_err().code,
            codes::INVALID_PARAMS
        );
    }

    #[test]
    fn the_required_fields_are_checked_and_named() {
        let params = json!({"_meta": {PROTOCOL_VERSION_KEY: "2026-07-28"}});
        let error = classify(&request("tools/list", params)).unwrap_err();
        assert_eq!(error.code, codes::INVALID_PARAMS);
        assert!(error.message.contains(CLIENT_CAPABILITIES_KEY), "{error}");
        let params = modern(json!({CLIENT_CAPABILITIES_KEY: []}));
        assert!(classify(&request("tools/list", params)).is_err());
        let params = modern(json!({CLIENT_INFO_KEY: {"name": "c"}}));
        let error = classify(&request("tools/list", params)).unwrap_err();
        assert!(error.message.contains(CLIENT_INFO_KEY), "{error}");
        let params = modern(json!({CLIENT_INFO_KEY: {"name": "c", "version": "1"}}));
        assert!(classify(&request("tools/list", params)).is_ok());
    }

    #[test]
    fn removed_methods_are_not_found_and_say_what_replaced_them() {
        for (method, _) in REMOVED {
            let error = classify(&request(method, modern(json!({})))).unwrap_err();
            assert_eq!(error.code, codes::METHOD_NOT_FOUND, "{method}");
            assert!(error.message.contains("2026-07-28"), "{error}");
            // The same methods stay what they were for legacy requests.
            assert_eq!(classify(&request(method, json!({}))), Ok(None));
        }
    }

    #[test]
    fn discover_needs_the_modern_meta() {
        for params in [
            json!({}),
            json!({"_meta": {PROTOCOL_VERSION_KEY: "2025-11-25"}}),
        ] {
            let error = classify(&request("server/discover", params)).unwrap_err();
            assert_eq!(error.code, codes::INVALID_PARAMS);
            assert!(error.message.contains("initialize"), "{error}");
        }
        let result = discover(McpRole::Worker, false);
        assert_eq!(result["supportedVersions"][0], "2026-07-28");
        assert_eq!(
            result["capabilities"],
            protocol::capabilities_for(Era::Modern)
        );
        assert!(
            result["instructions"]
                .as_str()
                .unwrap()
                .contains("[OUTPUT]")
        );
    }

    #[test]
    fn modern_results_say_their_type_who_answered_and_how_long_to_keep_them() {
        let meta = classify(&request("tools/list", modern(json!({}))))
            .unwrap()
            .unwrap();
        let listed = finish(Some(&meta), "tools/list", json!({"tools": []}));
        assert_eq!(listed["resultType"], "complete");
        assert_eq!(listed["_meta"][SERVER_INFO_KEY]["name"], "enki");
        assert_eq!(listed["ttlMs"], 300_000);
        assert_eq!(listed["cacheScope"], "private");
        let called = finish(
            Some(&meta),
            "tools/call",
            json!({"content": [], "isError": false, "_meta": {"x": 1}}),
        );
        assert_eq!(called["resultType"], "complete");
        assert_eq!(called["_meta"]["x"], 1, "the handler's _meta is kept");
        assert!(called.get("ttlMs").is_none());
        let pending = finish(
            Some(&meta),
            "tools/list",
            json!({"resultType": "input_required"}),
        );
        assert_eq!(pending["resultType"], "input_required");
        assert!(
            pending.get("ttlMs").is_none(),
            "interim results are not cached"
        );
        let legacy = json!({"tools": []});
        assert_eq!(finish(None, "tools/list", legacy.clone()), legacy);
    }
}
