//! The conversation with the planner, kept so that a restart shows it
//! again (the TUI's chat, with a marker where each session begins).

use rusqlite::params;
use serde::Serialize;

use crate::error::StoreError;
use crate::store::Store;
use crate::time::now_rfc3339;

/// Who said a chat line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Speaker {
    User,
    Planner,
}

impl Speaker {
    fn as_str(self) -> &'static str {
        match self {
            Speaker::User => "user",
            Speaker::Planner => "planner",
        }
    }
}

/// One stored chat message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChatRow {
    pub session_id: String,
    pub at: String,
    pub speaker: Speaker,
    pub text: String,
}

/// The longest message kept (a planner's message is rarely longer).
const TEXT_MAX: usize = 64 * 1024;

impl Store {
    /// Keeps one message of the conversation of `session`.
    pub fn append_chat(
        &mut self,
        session: &str,
        speaker: Speaker,
        text: &str,
    ) -> Result<(), StoreError> {
        let text: String = text.chars().take(TEXT_MAX).collect();
        let (session, at) = (session.to_string(), now_rfc3339());
        self.write(|tx| {
            tx.execute(
                "INSERT INTO chat (session_id, at, speaker, text) VALUES (?1, ?2, ?3, ?4)",
                params![session, at, speaker.as_str(), text],
            )?;
            Ok(())
        })
    }

    /// The last `limit` messages of sessions other than `except`, oldest
    /// first: what a new session shows of the earlier ones.
    pub fn earlier_chat(&self, except: &str, limit: usize) -> Result<Vec<ChatRow>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT session_id, at, speaker, text FROM chat WHERE session_id != ?1
             ORDER BY id DESC LIMIT ?2",
        )?;
        let mut rows = stmt
            .query_map(
                params![except, i64::try_from(limit).unwrap_or(i64::MAX)],
                |row| {
                    let speaker: String = row.get(2)?;
                    Ok(ChatRow {
                        session_id: row.get(0)?,
                        at: row.get(1)?,
                        speaker: if speaker == "user" {
                            Speaker::User
                        } else {
                            Speaker::Planner
                        },
                        text: row.get(3)?,
                    })
                },
            )?
            .collect::<Result<Vec<_>, _>>()?;
        rows.reverse();
        Ok(rows)
    }

    /// Keeps which ACP session of `agent` the planner of `session` runs in.
    pub fn keep_planner_session(
        &mut self,
        session: &str,
        agent: &str,
        acp_session: &str,
    ) -> Result<(), StoreError> {
        let (session, agent, acp_session) = (
            session.to_string(),
            agent.to_string(),
            acp_session.to_string(),
        );
        self.write(|tx| {
            tx.execute(
                "UPDATE sessions SET planner_session = ?2, planner_agent = ?3 WHERE id = ?1",
                params![session, acp_session, agent],
            )?;
            Ok(())
        })
    }

    /// The ACP session the planner of the latest session other than
    /// `except` ran in, when `agent` ran it: what the next start takes up.
    pub fn earlier_planner_session(
        &self,
        except: &str,
        agent: &str,
    ) -> Result<Option<String>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT planner_session FROM sessions
             WHERE id != ?1 AND planner_agent = ?2 AND planner_session IS NOT NULL
             ORDER BY started_at DESC, rowid DESC LIMIT 1",
        )?;
        let mut rows = stmt.query(params![except, agent])?;
        Ok(match rows.next()? {
            Some(row) => Some(row.get(0)?),
            None => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earlier_sessions_chat_comes_back_oldest_first_and_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("db.sqlite")).unwrap();
        store
            .append_chat("s1", Speaker::User, "add a /hello endpoint")
            .unwrap();
        store
            .append_chat("s1", Speaker::Planner, "Planned 3 steps.")
            .unwrap();
        store.append_chat("s2", Speaker::User, "and docs").unwrap();
        store.append_chat("s3", Speaker::User, "now").unwrap();
        let earlier = store.earlier_chat("s3", 10).unwrap();
        let texts: Vec<(&str, &str)> = earlier
            .iter()
            .map(|r| (r.session_id.as_str(), r.text.as_str()))
            .collect();
        assert_eq!(
            texts,
            [
                ("s1", "add a /hello endpoint"),
                ("s1", "Planned 3 steps."),
                ("s2", "and docs")
            ]
        );
        assert_eq!(earlier[1].speaker, Speaker::Planner);
        let last_two = store.earlier_chat("s3", 2).unwrap();
        assert_eq!(last_two[0].text, "Planned 3 steps.");
    }

    #[test]
    fn the_latest_earlier_planner_session_of_the_same_agent_is_taken_up() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("db.sqlite")).unwrap();
        assert_eq!(store.earlier_planner_session("s3", "claude").unwrap(), None);
        store.start_session("s1", 1, "claude").unwrap();
        store.keep_planner_session("s1", "claude", "acp-1").unwrap();
        store.start_session("s2", 2, "codex").unwrap();
        store.keep_planner_session("s2", "codex", "acp-2").unwrap();
        store.start_session("s3", 3, "claude").unwrap();
        store.keep_planner_session("s3", "claude", "acp-3").unwrap();
        // Another agent's session, and the current one, are never taken up.
        assert_eq!(
            store
                .earlier_planner_session("s3", "claude")
                .unwrap()
                .as_deref(),
            Some("acp-1")
        );
        assert_eq!(
            store
                .earlier_planner_session("s4", "claude")
                .unwrap()
                .as_deref(),
            Some("acp-3")
        );
        assert_eq!(
            store
                .earlier_planner_session("s4", "codex")
                .unwrap()
                .as_deref(),
            Some("acp-2")
        );
    }
}
