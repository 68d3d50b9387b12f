//! Answering `session/request_permission`: the policy trait, the built-in
//! policies, and mapping a decision onto the options the agent offered.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;

use enki_jsonrpc::ErrorObject;
use serde_json::{Value, json};

use crate::updates::str_field;

/// What a policy decided about one permission request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PermissionDecision {
    AllowOnce,
    AllowAlways,
    RejectOnce,
    RejectAlways,
    /// No option selected (also what is answered once the turn is cancelled).
    Cancelled,
}

impl PermissionDecision {
    /// The ACP option kind (`allow_once`, ...) or `cancelled`.
    pub fn as_str(self) -> &'static str {
        match self {
            PermissionDecision::AllowOnce => "allow_once",
            PermissionDecision::AllowAlways => "allow_always",
            PermissionDecision::RejectOnce => "reject_once",
            PermissionDecision::RejectAlways => "reject_always",
            PermissionDecision::Cancelled => "cancelled",
        }
    }

    pub fn is_allowed(self) -> bool {
        matches!(
            self,
            PermissionDecision::AllowOnce | PermissionDecision::AllowAlways
        )
    }
}

impl std::fmt::Display for PermissionDecision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A policy's answer: the decision and why, in words a person reads after
/// the tool's title ("the person refused", "/etc/hosts lies outside ...").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PermissionVerdict {
    pub decision: PermissionDecision,
    pub reason: String,
}

impl PermissionVerdict {
    pub fn new(decision: PermissionDecision, reason: impl Into<String>) -> PermissionVerdict {
        PermissionVerdict {
            decision,
            reason: reason.into(),
        }
    }

    pub fn allow_once(reason: impl Into<String>) -> PermissionVerdict {
        PermissionVerdict::new(PermissionDecision::AllowOnce, reason)
    }

    pub fn reject_once(reason: impl Into<String>) -> PermissionVerdict {
        PermissionVerdict::new(PermissionDecision::RejectOnce, reason)
    }

    /// An answer already made, as the future [`PermissionPolicy::decide`] returns.
    pub fn ready(self) -> Pin<Box<dyn Future<Output = PermissionVerdict> + Send>> {
        Box::pin(std::future::ready(self))
    }
}

/// One permission request, as handed to a [`PermissionPolicy`].
#[derive(Debug, Clone, PartialEq)]
pub struct PermissionRequest {
    pub session_id: String,
    /// The `cwd` the session was created with (its fs root).
    pub session_cwd: PathBuf,
    /// The tool call's title (its id when it has no title).
    pub title: String,
    /// The tool kind (`read`, `edit`, `execute`, ...), when given.
    pub kind: Option<String>,
    /// The paths the tool call touches: `toolCall.locations[].path`, then
    /// the `path` of each `diff` in `toolCall.content`.
    pub locations: Vec<PathBuf>,
    /// The whole request params (toolCall with rawInput, options, `_meta`).
    pub raw: Value,
}

/// Decides permission requests. Async so that a UI can ask the user without
/// blocking anything else; the future is dropped (and `cancelled` answered)
/// if the session is cancelled or the agent exits meanwhile.
pub trait PermissionPolicy: Send + Sync {
    fn decide(
        &self,
        request: PermissionRequest,
    ) -> Pin<Box<dyn Future<Output = PermissionVerdict> + Send>>;
}

/// Allows everything (once at a time).
#[derive(Debug, Clone, Copy, Default)]
pub struct AllowAll;

/// Rejects everything (once at a time).
#[derive(Debug, Clone, Copy, Default)]
pub struct DenyAll;

/// The default: a worker may do anything inside its own copy (the session's
/// cwd) and nothing outside it.
///
/// - A request that names paths (`toolCall.locations`, or the paths of its
///   `diff` content) is allowed once when every one lies inside the cwd
///   (`..` and symlinks resolved), else rejected once.
/// - A file operation (`read`, `edit`, `delete`, `move`) that names no path
///   is rejected once: there is nothing to check it against.
/// - Anything else that names no path (`execute`, `fetch`, `search`,
///   `think`, `other`, no kind) is allowed once. In particular a command with
///   no locations runs in the agent's own process, whose cwd is the copy; a
///   permission answer cannot confine what a command line touches (with or
///   without locations), so refusing these would only stop workers from
///   building and testing. Confining commands needs an OS sandbox around
///   the agent, not this policy.
#[derive(Debug, Clone, Copy, Default)]
pub struct WithinCwd;

/// Tool kinds that read or change files, which must name what they touch.
const FILE_KINDS: &[&str] = &["read", "edit", "delete", "move"];

impl PermissionPolicy for AllowAll {
    fn decide(
        &self,
        _request: PermissionRequest,
    ) -> Pin<Box<dyn Future<Output = PermissionVerdict> + Send>> {
        PermissionVerdict::allow_once("the permission policy allows everything").ready()
    }
}

impl PermissionPolicy for DenyAll {
    fn decide(
        &self,
        _request: PermissionRequest,
    ) -> Pin<Box<dyn Future<Output = PermissionVerdict> + Send>> {
        PermissionVerdict::reject_once("the permission policy refuses everything (deny_all)")
            .ready()
    }
}

impl PermissionPolicy for WithinCwd {
    fn decide(
        &self,
        request: PermissionRequest,
    ) -> Pin<Box<dyn Future<Output = PermissionVerdict> + Send>> {
        let folder = request.session_cwd.display();
        let verdict = if request.locations.is_empty() {
            match request.kind.as_deref() {
                Some(kind) if FILE_KINDS.contains(&kind) => {
                    PermissionVerdict::reject_once(format!(
                        "a file operation (`{kind}`) that names no path cannot be checked against the agent's folder {folder}"
                    ))
                }
                _ => PermissionVerdict::allow_once(format!(
                    "it names no path and runs in the agent's folder {folder}"
                )),
            }
        } else {
            let outside = request.locations.iter().find(|path| {
                !path.to_str().is_some_and(|p| {
                    enki_project::confine::confine(&request.session_cwd, p).is_ok()
                })
            });
            match outside {
                Some(path) => PermissionVerdict::reject_once(format!(
                    "{} lies outside the agent's folder {folder}",
                    path.display()
                )),
                None => PermissionVerdict::allow_once(format!(
                    "every path it names lies inside {folder}"
                )),
            }
        };
        verdict.ready()
    }
}

/// One option offered by the agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PermissionOption {
    pub option_id: String,
    pub name: String,
    /// `allow_once`, `allow_always`, `reject_once`, `reject_always`, or
    /// something newer.
    pub kind: String,
}

/// A parsed `session/request_permission` request, before the session's cwd is
/// known.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct IncomingPermission {
    pub session_id: String,
    pub title: String,
    pub kind: Option<String>,
    pub locations: Vec<PathBuf>,
    pub options: Vec<PermissionOption>,
    pub raw: Value,
}

/// Reads the params of `session/request_permission`. Only `sessionId` is
/// required; everything else degrades to defaults, malformed options are
/// skipped.
pub(crate) fn parse_request(params: Option<&Value>) -> Result<IncomingPermission, ErrorObject> {
    let params = params.ok_or_else(|| ErrorObject::invalid_params("missing params"))?;
    let session_id = str_field(params, "sessionId")
        .ok_or_else(|| ErrorObject::invalid_params("missing string sessionId"))?;
    let null = Value::Null;
    let tool_call = params.get("toolCall").unwrap_or(&null);
    let title = str_field(tool_call, "title")
        .or_else(|| str_field(tool_call, "toolCallId"))
        .unwrap_or_default();
    let listed = |field: &str| -> Vec<&Value> {
        tool_call
            .get(field)
            .and_then(Value::as_array)
            .map(|items| items.iter().collect())
            .unwrap_or_default()
    };
    let diffs = listed("content")
        .into_iter()
        .filter(|item| item.get("type").and_then(Value::as_str) == Some("diff"));
    let mut locations: Vec<PathBuf> = Vec::new();
    for path in listed("locations")
        .into_iter()
        .chain(diffs)
        .filter_map(|item| item.get("path").and_then(Value::as_str))
        .map(PathBuf::from)
    {
        if !locations.contains(&path) {
            locations.push(path);
        }
    }
    let options = params
        .get("options")
        .and_then(Value::as_array)
        .map(|opts| {
            opts.iter()
                .filter_map(|o| {
                    Some(PermissionOption {
                        option_id: str_field(o, "optionId")?,
                        name: str_field(o, "name").unwrap_or_default(),
                        kind: str_field(o, "kind").unwrap_or_default(),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(IncomingPermission {
        session_id,
        title,
        kind: str_field(tool_call, "kind"),
        locations,
        options,
        raw: params.clone(),
    })
}

/// Maps a decision onto the offered options: the first option of the
/// decision's kind; `allow_always` falls back to `allow_once` and
/// `reject_always` to `reject_once`; otherwise the outcome is `cancelled`.
/// Returns the decision actually answered and the `result` to send.
pub fn choose_option(
    decision: PermissionDecision,
    options: &[PermissionOption],
) -> (PermissionDecision, Value) {
    use PermissionDecision::*;
    let candidates: &[PermissionDecision] = match decision {
        AllowOnce => &[AllowOnce],
        AllowAlways => &[AllowAlways, AllowOnce],
        RejectOnce => &[RejectOnce],
        RejectAlways => &[RejectAlways, RejectOnce],
        Cancelled => &[],
    };
    for candidate in candidates {
        if let Some(option) = options.iter().find(|o| o.kind == candidate.as_str()) {
            return (
                *candidate,
                json!({"outcome": {"outcome": "selected", "optionId": option.option_id}}),
            );
        }
    }
    (Cancelled, cancelled_outcome())
}

pub(crate) fn cancelled_outcome() -> Value {
    json!({"outcome": {"outcome": "cancelled"}})
}

#[cfg(test)]
mod tests {
    use super::*;
    use PermissionDecision::*;

    fn option(id: &str, kind: &str) -> PermissionOption {
        PermissionOption {
            option_id: id.into(),
            name: id.into(),
            kind: kind.into(),
        }
    }

    fn selected(id: &str) -> Value {
        json!({"outcome": {"outcome": "selected", "optionId": id}})
    }

    #[test]
    fn decisions_map_to_offered_options_with_fallbacks() {
        let all = [
            option("a1", "allow_once"),
            option("a2", "allow_always"),
            option("r1", "reject_once"),
            option("r2", "reject_always"),
        ];
        assert_eq!(choose_option(AllowOnce, &all), (AllowOnce, selected("a1")));
        assert_eq!(
            choose_option(AllowAlways, &all),
            (AllowAlways, selected("a2"))
        );
        assert_eq!(
            choose_option(RejectOnce, &all),
            (RejectOnce, selected("r1"))
        );
        assert_eq!(
            choose_option(RejectAlways, &all),
            (RejectAlways, selected("r2"))
        );
        assert_eq!(
            choose_option(Cancelled, &all),
            (Cancelled, cancelled_outcome())
        );

        let once_only = [option("a1", "allow_once"), option("r1", "reject_once")];
        assert_eq!(
            choose_option(AllowAlways, &once_only),
            (AllowOnce, selected("a1"))
        );
        assert_eq!(
            choose_option(RejectAlways, &once_only),
            (RejectOnce, selected("r1"))
        );

        let always_only = [option("a2", "allow_always"), option("x", "weird")];
        assert_eq!(
            choose_option(AllowOnce, &always_only),
            (Cancelled, cancelled_outcome())
        );
        assert_eq!(
            choose_option(RejectOnce, &always_only),
            (Cancelled, cancelled_outcome())
        );
        assert_eq!(
            choose_option(AllowOnce, &[]),
            (Cancelled, cancelled_outcome())
        );
    }

    #[test]
    fn parse_tolerates_missing_and_extra_fields() {
        let params = json!({
            "sessionId": "s", "_meta": {"x": 1},
            "toolCall": {"toolCallId": "t1", "kind": "edit", "locations": [{"path": "/a/b", "line": 3}, {"nope": 1}], "rawInput": {}},
            "options": [{"optionId": "o1", "name": "Allow", "kind": "allow_once", "_meta": null}, {"name": "no id"}]
        });
        let p = parse_request(Some(&params)).unwrap();
        assert_eq!(p.session_id, "s");
        assert_eq!(p.title, "t1");
        assert_eq!(p.kind.as_deref(), Some("edit"));
        assert_eq!(p.locations, [PathBuf::from("/a/b")]);
        assert_eq!(
            p.options,
            [option("o1", "allow_once")].map(|mut o| {
                o.name = "Allow".into();
                o
            })
        );
        assert_eq!(p.raw, params);

        let p = parse_request(Some(&json!({"sessionId": "s"}))).unwrap();
        assert_eq!(p.title, "");
        assert!(p.options.is_empty() && p.locations.is_empty());
        assert!(parse_request(None).is_err());
        assert!(parse_request(Some(&json!({"toolCall": {}}))).is_err());
    }

    fn request(cwd: &std::path::Path, locations: Vec<PathBuf>) -> PermissionRequest {
        PermissionRequest {
            session_id: "s".into(),
            session_cwd: cwd.to_path_buf(),
            title: "t".into(),
            kind: None,
            locations,
            raw: Value::Null,
        }
    }

    #[tokio::test]
    async fn within_cwd_checks_every_location() {
        let dir = tempfile::tempdir().unwrap();
        let cwd = dir.path().join("copy");
        std::fs::create_dir(&cwd).unwrap();
        let inside = cwd.join("src/new.rs");
        let outside = dir.path().join("other.txt");
        assert_eq!(
            WithinCwd.decide(request(&cwd, vec![])).await.decision,
            AllowOnce
        );
        assert_eq!(
            WithinCwd
                .decide(request(&cwd, vec![inside.clone(), cwd.join("a")]))
                .await
                .decision,
            AllowOnce
        );
        assert_eq!(
            WithinCwd
                .decide(request(&cwd, vec![inside, outside]))
                .await
                .decision,
            RejectOnce
        );
        assert_eq!(
            WithinCwd
                .decide(request(&cwd, vec![cwd.join("../escape")]))
                .await
                .decision,
            RejectOnce
        );
        let refused = WithinCwd
            .decide(request(&cwd, vec![dir.path().join("other.txt")]))
            .await;
        assert_eq!(
            refused.reason,
            format!(
                "{} lies outside the agent's folder {}",
                dir.path().join("other.txt").display(),
                cwd.display()
            )
        );
        assert_eq!(
            AllowAll.decide(request(&cwd, vec![])).await.decision,
            AllowOnce
        );
        assert_eq!(
            DenyAll.decide(request(&cwd, vec![])).await.decision,
            RejectOnce
        );
    }

    #[tokio::test]
    async fn within_cwd_without_locations_depends_on_the_kind() {
        let dir = tempfile::tempdir().unwrap();
        let cwd = dir.path().join("copy");
        std::fs::create_dir(&cwd).unwrap();
        let with_kind = |kind: Option<&str>, locations: Vec<PathBuf>| {
            let mut r = request(&cwd, locations);
            r.kind = kind.map(str::to_string);
            WithinCwd.decide(r)
        };
        // A command runs in the agent's process, in the copy: allowed.
        for kind in [
            Some("execute"),
            Some("fetch"),
            Some("search"),
            Some("think"),
            Some("other"),
            None,
        ] {
            assert_eq!(
                with_kind(kind, vec![]).await.decision,
                AllowOnce,
                "{kind:?}"
            );
        }
        // A file operation that names nothing cannot be checked: rejected.
        for kind in ["read", "edit", "delete", "move"] {
            assert_eq!(
                with_kind(Some(kind), vec![]).await.decision,
                RejectOnce,
                "{kind}"
            );
            assert_eq!(
                with_kind(Some(kind), vec![cwd.join("f")]).await.decision,
                AllowOnce,
                "{kind}"
            );
        }
        // A command that names a path outside is rejected like anything else.
        assert_eq!(
            with_kind(Some("execute"), vec![PathBuf::from("/etc/passwd")])
                .await
                .decision,
            RejectOnce
        );
    }

    #[test]
    fn diff_paths_count_as_locations() {
        let params = json!({
            "sessionId": "s",
            "toolCall": {"toolCallId": "t", "kind": "edit",
                "locations": [{"path": "/p/a.rs"}],
                "content": [
                    {"type": "diff", "path": "/p/a.rs", "oldText": "x", "newText": "y"},
                    {"type": "diff", "path": "/etc/hosts", "newText": "z"},
                    {"type": "content", "content": {"type": "text", "text": "t"}}
                ]}
        });
        let p = parse_request(Some(&params)).unwrap();
        assert_eq!(
            p.locations,
            [PathBuf::from("/p/a.rs"), PathBuf::from("/etc/hosts")]
        );
    }
}
