//! The per-task event log: an append-only record of what happened.

use rusqlite::{Connection, params};

use crate::error::StoreError;
use crate::rows::TaskEventRow;
use crate::store::Store;
use crate::time::now_rfc3339;

pub(crate) fn append(
    conn: &Connection,
    task_id: &str,
    kind: &str,
    data: &serde_json::Value,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO task_events (task_id, at, kind, data) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![task_id, now_rfc3339(), kind, data.to_string()])?;
    Ok(())
}

impl Store {
    /// Appends one event to a task's log.
    pub fn append_task_event(
        &mut self,
        task_id: &str,
        kind: &str,
        data: &serde_json::Value,
    ) -> Result<(), StoreError> {
        self.write(|tx| append(tx, task_id, kind, data))
    }

    /// Events of one task after `after_seq` (0 for all), oldest first.
    pub fn task_events(
        &self,
        task_id: &str,
        after_seq: i64,
        limit: Option<usize>,
    ) -> Result<Vec<TaskEventRow>, StoreError> {
        let limit = limit.map(|l| l as i64).unwrap_or(-1);
        let mut stmt = self.conn.prepare_cached(
            "SELECT seq, task_id, at, kind, data FROM task_events
             WHERE task_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
        )?;
        let rows = stmt
            .query_map(params![task_id, after_seq, limit], |row| {
                let data: String = row.get(4)?;
                Ok(TaskEventRow {
                    seq: row.get(0)?,
                    task_id: row.get(1)?,
                    at: row.get(2)?,
                    kind: row.get(3)?,
                    data: serde_json::from_str(&data).unwrap_or(serde_json::Value::String(data)),
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }
}
