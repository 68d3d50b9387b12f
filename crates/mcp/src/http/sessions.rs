//! MCP sessions of the HTTP transport: a random id (`Mcp-Session-Id`) for
//! each `initialize`, its own [`Server`], bound to the token that created
//! it, ended by DELETE or after an idle timeout.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::Identity;
use super::auth::tokens_match;
use super::stream::Slot;
use crate::server::Server;

/// Open sessions at most; one more `initialize` is refused with 503.
pub(crate) const MAX_SESSIONS: usize = 256;

/// One MCP session.
pub(crate) struct Session {
    pub id: String,
    /// The protocol version `initialize` agreed on.
    pub version: String,
    pub identity: Identity,
    /// The token that created it: only that token may use it.
    owner: Vec<u8>,
    server: Mutex<Server>,
    last_used: Mutex<Instant>,
    /// Its server-sent event stream (`stream.rs`).
    pub(super) stream: Mutex<Slot>,
}

impl Session {
    pub fn new(server: Server, version: String, identity: Identity, owner: Vec<u8>) -> Session {
        Session {
            id: String::new(),
            version,
            identity,
            owner,
            server: Mutex::new(server),
            last_used: Mutex::new(Instant::now()),
            stream: Mutex::default(),
        }
    }

    /// Its server, for one message at a time (call from a blocking thread).
    pub fn server(&self) -> MutexGuard<'_, Server> {
        self.server.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn owned_by(&self, token: &[u8]) -> bool {
        tokens_match(&self.owner, token)
    }

    pub fn touch(&self) {
        *self
            .last_used
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Instant::now();
    }

    fn idle_for(&self, now: Instant) -> Duration {
        now.saturating_duration_since(
            *self
                .last_used
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }
}

/// Every open session.
pub(crate) struct Sessions {
    map: Mutex<HashMap<String, Arc<Session>>>,
    idle_timeout: Duration,
}

/// Why a session could not be opened.
pub(crate) enum OpenError {
    Full,
    NoRandomness(String),
}

impl Sessions {
    pub fn new(idle_timeout: Duration) -> Sessions {
        Sessions {
            map: Mutex::new(HashMap::new()),
            idle_timeout,
        }
    }

    fn map(&self) -> MutexGuard<'_, HashMap<String, Arc<Session>>> {
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers a session under a fresh random id and returns it.
    pub fn open(&self, mut session: Session) -> Result<Arc<Session>, OpenError> {
        self.sweep();
        let mut map = self.map();
        if map.len() >= MAX_SESSIONS {
            return Err(OpenError::Full);
        }
        session.id = new_id().map_err(OpenError::NoRandomness)?;
        let session = Arc::new(session);
        map.insert(session.id.clone(), Arc::clone(&session));
        tracing::info!(
            session = short(&session.id),
            role = %session.identity.role,
            task = ?session.identity.task_id,
            "MCP session opened over HTTP"
        );
        Ok(session)
    }

    /// The session with this id, unless it expired (then it ends now).
    pub fn get(&self, id: &str) -> Option<Arc<Session>> {
        let mut map = self.map();
        let session = map.get(id)?;
        if session.idle_for(Instant::now()) >= self.idle_timeout {
            tracing::info!(session = short(id), "MCP session expired");
            session.end_stream();
            map.remove(id);
            return None;
        }
        session.touch();
        Some(Arc::clone(session))
    }

    /// Whether the session is still open (without using it).
    pub fn is_open(&self, id: &str) -> bool {
        self.map().contains_key(id)
    }

    /// Ends a session; `false` when there was none.
    pub fn close(&self, id: &str) -> bool {
        let Some(session) = self.map().remove(id) else {
            return false;
        };
        session.end_stream();
        tracing::info!(session = short(id), "MCP session ended by its client");
        true
    }

    /// Ends every session idle for longer than the timeout.
    pub fn sweep(&self) {
        let now = Instant::now();
        let timeout = self.idle_timeout;
        self.map().retain(|id, session| {
            let keep = session.idle_for(now) < timeout;
            if !keep {
                tracing::info!(session = short(id), "MCP session expired");
                session.end_stream();
            }
            keep
        });
    }
}

/// Sweeps idle sessions now and then, so that a client that never comes
/// back does not keep its server (and database connection) for ever.
pub(crate) async fn sweep_forever(sessions: Arc<Sessions>) {
    let period = (sessions.idle_timeout / 2).clamp(Duration::from_secs(1), Duration::from_secs(60));
    let mut ticks = tokio::time::interval(period);
    loop {
        ticks.tick().await;
        sessions.sweep();
    }
}

/// 32 bytes of the operating system's randomness, in hex: visible ASCII, as
/// `Mcp-Session-Id` requires.
fn new_id() -> Result<String, String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| format!("no randomness for a session id: {e}"))?;
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut id = String::with_capacity(64);
    for byte in bytes {
        id.push(char::from(HEX[usize::from(byte >> 4)]));
        id.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    Ok(id)
}

/// Enough of an id for a log line, not enough to use it.
fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::Context;
    use crate::logs::TrafficLog;
    use crate::roles::McpRole;

    fn session(owner: &[u8]) -> Session {
        let identity = Identity {
            role: McpRole::Planner,
            task_id: None,
            no_edit: false,
        };
        let ctx = Context::new(identity.role, None, false, None, Err("no project".into()));
        Session::new(
            Server::new(ctx, TrafficLog::disabled()),
            "2025-06-18".into(),
            identity,
            owner.to_vec(),
        )
    }

    #[test]
    fn ids_are_long_random_and_visible_ascii() {
        let a = new_id().unwrap();
        let b = new_id().unwrap();
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[test]
    fn a_session_is_its_owners_and_ends_when_idle_or_closed() {
        let sessions = Sessions::new(Duration::from_millis(50));
        let open = sessions.open(session(b"tok")).ok().expect("opened");
        assert!(open.owned_by(b"tok"));
        assert!(!open.owned_by(b"other"));
        assert!(sessions.get(&open.id).is_some());
        std::thread::sleep(Duration::from_millis(80));
        assert!(sessions.get(&open.id).is_none(), "expired");

        let open = sessions.open(session(b"tok")).ok().expect("opened");
        assert!(sessions.close(&open.id));
        assert!(!sessions.close(&open.id));
        assert!(sessions.get(&open.id).is_none());
    }

    #[test]
    fn sessions_are_capped() {
        let sessions = Sessions::new(Duration::from_secs(60));
        for _ in 0..MAX_SESSIONS {
            assert!(sessions.open(session(b"t")).is_ok());
        }
        assert!(matches!(sessions.open(session(b"t")), Err(OpenError::Full)));
    }
}
