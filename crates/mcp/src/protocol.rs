//! MCP lifecycle: version negotiation and what `initialize` answers.

use serde_json::{Value, json};

use enki_jsonrpc::ErrorObject;

use crate::roles::McpRole;

/// Protocol versions this server speaks, oldest first.
pub const SUPPORTED_VERSIONS: &[&str] = &["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"];

pub fn newest_version() -> &'static str {
    SUPPORTED_VERSIONS[SUPPORTED_VERSIONS.len() - 1]
}

/// The client's version when we speak it, otherwise our newest.
pub fn negotiate(requested: &str) -> &'static str {
    SUPPORTED_VERSIONS
        .iter()
        .find(|v| **v == requested)
        .copied()
        .unwrap_or_else(newest_version)
}

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

/// Answers `initialize`.
pub fn initialize(
    params: Option<&Value>,
    role: McpRole,
    no_edit: bool,
) -> Result<Value, ErrorObject> {
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
    Ok(json!({
        "protocolVersion": negotiate(requested),
        "capabilities": capabilities(),
        "serverInfo": {"name": "enki", "title": "enki", "version": env!("CARGO_PKG_VERSION")},
        "instructions": instructions(role, no_edit),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_versions_are_echoed_and_others_get_the_newest() {
        for v in SUPPORTED_VERSIONS {
            assert_eq!(negotiate(v), *v);
        }
        assert_eq!(negotiate("1999-01-01"), "2025-11-25");
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
        let result = initialize(Some(&ok), McpRole::Worker, true).unwrap();
        assert_eq!(result["protocolVersion"], "2025-03-26");
        assert!(
            result["instructions"]
                .as_str()
                .unwrap()
                .contains("read-only")
        );
    }
}
