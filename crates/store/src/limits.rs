//! Agents held by a limit of their account (`enki_core::limits`), kept so
//! that a restarted coordinator waits for the reset too, and `enki status`
//! can say so without one.

use enki_core::limits::{Hold, LimitKind};
use rusqlite::{OptionalExtension, Row, params};

use crate::error::StoreError;
use crate::store::Store;
use crate::time::now_rfc3339;

fn hold_of(row: &Row<'_>) -> rusqlite::Result<Hold> {
    let kind: String = row.get("kind")?;
    Ok(Hold {
        agent: row.get("agent")?,
        // The column's CHECK admits only the three names.
        kind: LimitKind::parse(&kind).unwrap_or(LimitKind::Quota),
        until_ms: u64::try_from(row.get::<_, i64>("until_ms")?).unwrap_or(0),
        reset_given: row.get("reset_given")?,
        streak: u32::try_from(row.get::<_, i64>("streak")?).unwrap_or(1),
        message: row.get("message")?,
    })
}

const COLUMNS: &str = "agent, kind, until_ms, reset_given, streak, message";

impl Store {
    /// Records (or replaces) an agent's hold.
    pub fn set_agent_hold(&mut self, hold: &Hold) -> Result<(), StoreError> {
        let until = i64::try_from(hold.until_ms).unwrap_or(i64::MAX);
        self.write(|tx| {
            tx.execute(
                "INSERT INTO agent_limits (agent, kind, until_ms, reset_given, streak, message, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (agent) DO UPDATE SET kind = ?2, until_ms = ?3, reset_given = ?4,
                     streak = ?5, message = ?6, updated_at = ?7",
                params![
                    hold.agent,
                    hold.kind.as_str(),
                    until,
                    hold.reset_given,
                    hold.streak,
                    hold.message,
                    now_rfc3339()
                ],
            )?;
            Ok(())
        })
    }

    /// Forgets an agent's hold (a turn of it ended well: no streak left).
    pub fn clear_agent_hold(&mut self, agent: &str) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute("DELETE FROM agent_limits WHERE agent = ?1", [agent])?;
            Ok(())
        })
    }

    /// Every agent's hold, those whose wait has ended included, by agent.
    pub fn agent_holds(&self) -> Result<Vec<Hold>, StoreError> {
        let mut statement = self.connection().prepare(&format!(
            "SELECT {COLUMNS} FROM agent_limits ORDER BY agent"
        ))?;
        let holds = statement
            .query_map([], hold_of)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(holds)
    }

    /// One agent's hold.
    pub fn agent_hold(&self, agent: &str) -> Result<Option<Hold>, StoreError> {
        Ok(self
            .connection()
            .query_row(
                &format!("SELECT {COLUMNS} FROM agent_limits WHERE agent = ?1"),
                [agent],
                hold_of,
            )
            .optional()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hold_is_kept_replaced_and_cleared() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("db.sqlite")).unwrap();
        assert!(store.agent_holds().unwrap().is_empty());
        let hold = Hold {
            agent: "claude".into(),
            kind: LimitKind::Quota,
            until_ms: 1_760_000_400_000,
            reset_given: true,
            streak: 1,
            message: "Claude AI usage limit reached|1760000400".into(),
        };
        store.set_agent_hold(&hold).unwrap();
        let again = Hold {
            kind: LimitKind::RateLimit,
            streak: 2,
            reset_given: false,
            ..hold.clone()
        };
        store.set_agent_hold(&again).unwrap();
        store
            .set_agent_hold(&Hold {
                agent: "codex".into(),
                ..hold.clone()
            })
            .unwrap();
        assert_eq!(store.agent_hold("claude").unwrap(), Some(again));
        let agents: Vec<String> = store
            .agent_holds()
            .unwrap()
            .into_iter()
            .map(|h| h.agent)
            .collect();
        assert_eq!(agents, ["claude", "codex"]);
        store.clear_agent_hold("claude").unwrap();
        assert_eq!(store.agent_hold("claude").unwrap(), None);
        assert_eq!(store.agent_holds().unwrap().len(), 1);
    }
}
