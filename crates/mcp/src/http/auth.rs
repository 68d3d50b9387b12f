//! Bearer tokens: every HTTP request carries `Authorization: Bearer <token>`,
//! compared in constant time with the single token or with each token of the
//! table. The token is never logged and never echoed.

use hyper::header::HeaderValue;
use subtle::ConstantTimeEq;

use super::Identity;
use super::table::TokenTable;

/// How callers prove who they are.
pub(crate) enum Auth {
    /// One token (`--auth-token` or `ENKI_MCP_TOKEN`) for a person's client,
    /// with the identity of `--role`, `--task-id` and `--no-edit`.
    Single { token: Vec<u8>, identity: Identity },
    /// A token table: each token carries its own identity.
    Table(TokenTable),
}

/// An authenticated caller.
pub(crate) struct Caller {
    pub identity: Identity,
    /// The token it presented, to bind its sessions to it.
    pub token: Vec<u8>,
}

/// Why a request is not authenticated.
pub(crate) enum Refusal {
    /// No `Authorization: Bearer` header.
    Missing,
    /// A token that is not (or no longer) valid.
    Wrong,
    /// The token table changed and cannot be used (its warning in the log
    /// says why).
    Unusable,
}

impl Auth {
    pub fn single(token: String, identity: Identity) -> Result<Auth, String> {
        check_token_text(&token).map_err(|e| format!("the bearer token {e}"))?;
        Ok(Auth::Single {
            token: token.into_bytes(),
            identity,
        })
    }

    /// For the log: which kind of authentication, never a token.
    pub fn describe(&self) -> &'static str {
        match self {
            Auth::Single { .. } => "single bearer token",
            Auth::Table(_) => "token table",
        }
    }

    /// Checks the `Authorization` header of one request.
    pub fn check(&self, header: Option<&HeaderValue>) -> Result<Caller, Refusal> {
        let presented = header.and_then(bearer).ok_or(Refusal::Missing)?;
        let identity = match self {
            Auth::Single { token, identity } => {
                tokens_match(token, presented).then(|| identity.clone())
            }
            Auth::Table(table) => table.lookup(presented).map_err(|_| Refusal::Unusable)?,
        };
        identity
            .map(|identity| Caller {
                identity,
                token: presented.to_vec(),
            })
            .ok_or(Refusal::Wrong)
    }
}

impl Auth {
    /// Whether `token` still carries `identity` (a token table may have
    /// revoked or changed it since), for streams that outlive the request
    /// that opened them.
    pub fn admits(&self, token: &[u8], identity: &Identity) -> bool {
        match self {
            Auth::Single { token: ours, .. } => tokens_match(ours, token),
            Auth::Table(table) => table
                .lookup(token)
                .is_ok_and(|found| found.as_ref() == Some(identity)),
        }
    }
}

/// The token of `Authorization: Bearer <token>` (the scheme is
/// case-insensitive, RFC 9110).
fn bearer(header: &HeaderValue) -> Option<&[u8]> {
    let value = header.as_bytes();
    let (scheme, rest) = value.split_at_checked(7)?;
    if !scheme.eq_ignore_ascii_case(b"bearer ") {
        return None;
    }
    let token = rest.trim_ascii();
    (!token.is_empty()).then_some(token)
}

/// Equal tokens, in time that does not depend on where they differ.
pub(crate) fn tokens_match(expected: &[u8], presented: &[u8]) -> bool {
    expected.ct_eq(presented).into()
}

/// A token must fit in an HTTP header as one word: visible ASCII, no spaces.
pub(crate) fn check_token_text(token: &str) -> Result<(), String> {
    if token.is_empty() {
        return Err("is empty".to_string());
    }
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(
            "must be visible ASCII without spaces (it travels in an HTTP header)".to_string(),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::roles::McpRole;

    fn planner() -> Identity {
        Identity {
            role: McpRole::Planner,
            task_id: None,
            no_edit: false,
        }
    }

    #[test]
    fn tokens_match_only_when_equal() {
        assert!(tokens_match(b"abc123", b"abc123"));
        assert!(!tokens_match(b"abc123", b"abc124"));
        assert!(!tokens_match(b"abc123", b"abc12"));
        assert!(!tokens_match(b"abc123", b""));
    }

    #[test]
    fn the_bearer_scheme_is_case_insensitive_and_other_schemes_are_missing() {
        let auth = Auth::single("s3cret".to_string(), planner()).expect("valid token");
        let check = |value: &str| auth.check(Some(&HeaderValue::from_str(value).unwrap()));
        assert!(check("Bearer s3cret").is_ok());
        assert!(check("bearer s3cret").is_ok());
        assert!(matches!(check("Bearer s3cre"), Err(Refusal::Wrong)));
        assert!(matches!(check("Basic czNjcmV0"), Err(Refusal::Missing)));
        assert!(matches!(check("Bearer "), Err(Refusal::Missing)));
        assert!(matches!(auth.check(None), Err(Refusal::Missing)));
    }

    #[test]
    fn a_token_must_be_one_visible_word() {
        assert!(Auth::single(String::new(), planner()).is_err());
        assert!(Auth::single("two words".to_string(), planner()).is_err());
        assert!(Auth::single("tab\there".to_string(), planner()).is_err());
        assert!(Auth::single("ok-token_1.~+/=".to_string(), planner()).is_ok());
    }
}
