//! MCP lifecycle: the protocol versions this server speaks, version
//! negotiation, the capabilities it advertises and what `initialize` answers.
//! (What the stateless 2026-07-28 revision asks of every request is in
//! [`crate::stateless`]; batches in [`crate::batch`].)

use serde_json::{Value, json};

use enki_jsonrpc::ErrorObject;

use crate::roles::McpRole;

/// Revisions negotiated once by `initialize` (for the stdio process or the
/// HTTP session), oldest first.
pub const LEGACY_VERSIONS: &[&str] = &["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"];

/// Stateless revisions, oldest first: no `initialize`; every request names
/// its version and the client's capabilities in `params._meta`.
pub const MODERN_VERSIONS: &[&str] = &["2026-07-28"];

/// The only revision whose JSON-RPC layer has batches (2025-06-18 removed
/// them again).
pub const BATCH_VERSION: &str = "2025-03-26";

/// Which kind of revision a request or a capability list is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Era {
    /// Up to 2025-11-25: negotiated by `initialize`.
    Legacy,
    /// 2026-07-28 on: stateless, per-request metadata.
    Modern,
}

/// Whether this server speaks `version` at all (in either era).
pub fn is_supported(version: &str) -> bool {
    LEGACY_VERSIONS.contains(&version) || MODERN_VERSIONS.contains(&version)
}

/// Every version this server speaks, newest first: `server/discover`'s
/// `supportedVersions` and an unsupported-version error's `supported`.
pub fn advertised_versions() -> Vec<&'static str> {
    LEGACY_VERSIONS
        .iter()
        .chain(MODERN_VERSIONS)
        .rev()
        .copied()
        .collect()
}

/// What `initialize` settles on: the client's version when it is a legacy
/// one we speak, otherwise our newest legacy one (`initialize` always means
/// legacy semantics, even when it asks for 2026-07-28).
pub fn negotiate(requested: &str) -> &'static str {
    LEGACY_VERSIONS
        .iter()
        .find(|v| **v == requested)
        .or(LEGACY_VERSIONS.last())
        .copied()
        .unwrap_or("2025-11-25")
}

/// Whether a connection that negotiated `negotiated` (`None`: no
/// `initialize` yet) may send JSON-RPC batches.
pub fn has_batches(negotiated: Option<&str>) -> bool {
    negotiated == Some(BATCH_VERSION)
}

/// `serverInfo` (legacy `initialize`) and the
/// `io.modelcontextprotocol/serverInfo` of every 2026-07-28 result.
pub fn server_info() -> Value {
    json!({"name": "enki", "title": "enki", "version": env!("CARGO_PKG_VERSION")})
}

/// The `_meta` key of `initialize`'s result that names the server's role.
pub const ROLE_META_KEY: &str = "enki/role";

pub fn instructions(role: McpRole, no_edit: bool) -> String {
    match role {
        McpRole::Planner => "You are enki's planner. Break the user's request into tasks for worker agents. \
Use enki_execution_create for work with several steps (steps reference each other by id in `needs`, \
with condition merged|completed|started) or enki_task_create for a single task. Pick a role per step \
when one fits (feature_developer, bug_fixer, ralph, researcher, code_referencer, documenter) and mark \
a step `checkpoint` when you want to review its result before continuing. Follow progress with \
enki_status, enki_task_list, enki_dag and enki_task_show; control it with enki_pause, enki_resume, \
enki_cancel, enki_task_retry and enki_stop_all. Workers may mail you (address `coordinator`): check \
enki_mail_check and answer with enki_mail_reply. Changes are applied by the coordinator asynchronously."
            .to_string(),
        McpRole::Worker => {
            let editing = if no_edit {
                "Your role is read-only: do not change files; put your findings in your final output."
            } else {
                "Edit files of your copy with your own tools or with enki_read_file + enki_edit_file (hash-anchored edits)."
            };
            format!(
                "You are an enki worker running one task in your own copy of the project. {editing} \
Report what you are doing with enki_worker_report (`status`: a short phrase) as you go. If you are \
blocked or need a decision, mail the coordinator with enki_mail_send (to `coordinator`, kind `request`) \
and check replies with enki_mail_check. When you finish, end your reply with a summary for the steps \
that depend on you between [OUTPUT] and [/OUTPUT]."
            )
        }
        McpRole::Merger => "You are enki's merger. Resolve the merge conflicts in your working copy so that \
both sides' intent is kept, remove every conflict marker, and make sure the project still builds. \
Use enki_task_show and enki_dag to understand what each side was for."
            .to_string(),
    }
}

/// What this server implements, as `initialize` declares it. The one place
/// the capability list is written: keep it true to what `server.rs` and
/// `watch.rs` answer and send.
pub fn capabilities() -> Value {
    json!({
        "tools": {"listChanged": false},
        // The resource list is fixed for a process; subscriptions are kept
        // (notifications/resources/updated).
        "resources": {"subscribe": true, "listChanged": false},
        // Role prompts follow the role files (notifications/prompts/list_changed).
        "prompts": {"listChanged": true},
        "completions": {},
        "logging": {},
    })
}

/// [`capabilities`] as an era advertises them (`initialize` for legacy
/// revisions, `server/discover` for 2026-07-28), derived from the one list.
/// In 2026-07-28 change notifications come on a `subscriptions/listen`
/// stream (`listen.rs`), which enki serves, and log levels are set per
/// request, which enki does not honour (it sends those requests no log
/// messages): so only `logging` is left out of that era's list.
pub fn capabilities_for(era: Era) -> Value {
    let mut list = capabilities();
    if era == Era::Modern
        && let Value::Object(map) = &mut list
    {
        map.remove("logging");
    }
    list
}

/// Answers `initialize`: the negotiated version and the result.
pub fn initialize(
    params: Option<&Value>,
    role: McpRole,
    no_edit: bool,
) -> Result<(&'static str, Value), ErrorObject> {
    let Some(Value::Object(params)) = params else {
        return Err(ErrorObject::invalid_params(
            "initialize needs params with `protocolVersion`, `capabilities` and `clientInfo`",
        ));
    };
    let requested = match params.get("protocolVersion") {
        Some(Value::String(v)) => v.as_str(),
        Some(other) => {
            return Err(ErrorObject::invalid_params(format!(
                "`protocolVersion` must be a string, got {other}"
            )));
        }
        None => return Err(ErrorObject::invalid_params("missing `protocolVersion`")),
    };
    let version = negotiate(requested);
    let result = json!({
        "protocolVersion": version,
        "capabilities": capabilities_for(Era::Legacy),
        "serverInfo": server_info(),
        "instructions": instructions(role, no_edit),
        // The role this server serves (from its token over HTTP): clients
        // learn who they are, they never choose it.
        "_meta": {ROLE_META_KEY: role.as_str()},
    });
    Ok((version, result))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_versions_are_echoed_and_others_get_the_newest() {
        for v in LEGACY_VERSIONS {
            assert_eq!(negotiate(v), *v);
            assert!(is_supported(v));
        }
        assert_eq!(negotiate("1999-01-01"), "2025-11-25");
        assert_eq!(
            negotiate("2026-07-28"),
            "2025-11-25",
            "initialize is legacy"
        );
        assert!(is_supported("2026-07-28"));
        assert!(!is_supported("2026-07-29"));
        assert_eq!(
            advertised_versions(),
            [
                "2026-07-28",
                "2025-11-25",
                "2025-06-18",
                "2025-03-26",
                "2024-11-05"
            ]
        );
    }

    #[test]
    fn only_2025_03_26_has_batches() {
        assert!(has_batches(Some("2025-03-26")));
        for v in ["2024-11-05", "2025-06-18", "2025-11-25", "2026-07-28"] {
            assert!(!has_batches(Some(v)), "{v}");
        }
        assert!(!has_batches(None));
    }

    #[test]
    fn both_eras_advertise_the_one_list_and_2026_has_no_logging() {
        let legacy = capabilities_for(Era::Legacy);
        let modern = capabilities_for(Era::Modern);
        assert_eq!(legacy, capabilities());
        assert_eq!(legacy["tools"], json!({"listChanged": false}));
        assert!(modern.get("logging").is_none());
        let mut without_logging = legacy.clone();
        if let Value::Object(map) = &mut without_logging {
            map.remove("logging");
        }
        assert_eq!(modern, without_logging);
        assert_eq!(modern["resources"]["subscribe"], true);
        assert_eq!(modern["prompts"]["listChanged"], true);
    }

    #[test]
    fn initialize_validates_its_params() {
        assert!(initialize(None, McpRole::Planner, false).is_err());
        let bad = json!({"protocolVersion": 5});
        assert_eq!(
            initialize(Some(&bad), McpRole::Planner, false)
                .unwrap_err()
                .code,
            enki_jsonrpc::codes::INVALID_PARAMS
        );
        let ok = json!({"protocolVersion": "2025-03-26", "capabilities": {}});
        let (version, result) = initialize(Some(&ok), McpRole::Worker, true).unwrap();
        assert_eq!(version, "2025-03-26");
        assert_eq!(result["protocolVersion"], "2025-03-26");
        assert!(
            result["instructions"]
                .as_str()
                .unwrap()
                .contains("read-only")
        );
    }
}
