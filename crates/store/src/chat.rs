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
}
