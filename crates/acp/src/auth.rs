//! The login an agent reports about itself. ACP has no standard field for
//! it yet; Claude's adapter (claude-agent-acp) declares
//! `agentCapabilities._meta.authStatus` and pushes `_auth/status_update`
//! notifications (`{authStatus: {kind, label, detail?, account?}}`), after
//! `initialize` and at each new session, where `kind` `none` means logged
//! out. Other agents (codex-acp) say it by refusing `session/new` with
//! `auth_required` instead (see [`crate::AcpError::is_auth_required`]).

use serde_json::Value;

use crate::client::InitializeResult;
use crate::updates::str_field;

/// The notification method that carries an [`AuthStatus`].
pub const AUTH_STATUS_UPDATE: &str = "_auth/status_update";

/// Which identity the agent uses, as it reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthStatus {
    /// `account`, `api_key`, `gateway`, `external`, or `none` (logged out).
    pub kind: String,
    /// Readable on its own: "Claude Max", "Anthropic API key", "Not logged in".
    pub label: String,
    /// Specifics: the key's source, a gateway's host.
    pub detail: Option<String>,
    pub email: Option<String>,
}

impl AuthStatus {
    /// Reads the params of an `_auth/status_update` notification.
    pub fn from_params(params: Option<&Value>) -> Option<AuthStatus> {
        let status = params?.get("authStatus")?;
        Some(AuthStatus {
            kind: str_field(status, "kind")?,
            label: str_field(status, "label").unwrap_or_default(),
            detail: str_field(status, "detail"),
            email: status.get("account").and_then(|a| str_field(a, "email")),
        })
    }

    /// Whether the agent has an identity to work with.
    pub fn logged_in(&self) -> bool {
        self.kind != "none"
    }
}

impl std::fmt::Display for AuthStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let label = if self.label.is_empty() {
            &self.kind
        } else {
            &self.label
        };
        f.write_str(label)?;
        match (&self.detail, &self.email) {
            (Some(detail), _) => write!(f, " ({detail})"),
            (None, Some(email)) => write!(f, " ({email})"),
            (None, None) => Ok(()),
        }
    }
}

impl InitializeResult {
    /// Whether the agent declared that it pushes its login
    /// (`agentCapabilities._meta.authStatus`).
    pub fn reports_auth_status(&self) -> bool {
        self.raw["agentCapabilities"]["_meta"]
            .get("authStatus")
            .is_some()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_pushed_status_is_read_and_told_in_words() {
        let account = AuthStatus::from_params(Some(&json!({"authStatus": {
            "kind": "account", "label": "Claude Max",
            "account": {"email": "a@b.c", "plan": "max"}
        }})))
        .unwrap();
        assert!(account.logged_in());
        assert_eq!(account.to_string(), "Claude Max (a@b.c)");
        let key = AuthStatus::from_params(Some(&json!({"authStatus": {
            "kind": "api_key", "label": "Anthropic API key", "detail": "ANTHROPIC_API_KEY"
        }})))
        .unwrap();
        assert_eq!(key.to_string(), "Anthropic API key (ANTHROPIC_API_KEY)");
        let none = AuthStatus::from_params(Some(
            &json!({"authStatus": {"kind": "none", "label": "Not logged in"}}),
        ))
        .unwrap();
        assert!(!none.logged_in());
        assert_eq!(none.to_string(), "Not logged in");
        for bad in [json!({}), json!({"authStatus": {"label": "x"}}), json!(3)] {
            assert_eq!(AuthStatus::from_params(Some(&bad)), None, "{bad}");
        }
        assert_eq!(AuthStatus::from_params(None), None);
    }

    #[test]
    fn the_capability_marker_is_an_empty_object_under_meta() {
        let init = |raw: Value| InitializeResult {
            protocol_version: 1,
            auth_methods: Vec::new(),
            raw,
        };
        assert!(
            init(json!({"agentCapabilities": {"_meta": {"authStatus": {}}}})).reports_auth_status()
        );
        assert!(!init(json!({"agentCapabilities": {"_meta": {}}})).reports_auth_status());
        assert!(!init(json!({})).reports_auth_status());
    }
}
