//! Merge requests: the queue that lands finished work.

use enki_core::{MergeRequestId, MergeStatus};
use rusqlite::params;

use crate::error::StoreError;
use crate::rows::MergeRequestRow;
use crate::store::Store;
use crate::task_events;
use crate::tasks::require_task;
use crate::time::now_rfc3339;

impl Store {
    /// Queues a merge request for a task's branch.
    pub fn enqueue_merge(
        &mut self,
        task_id: &str,
        branch: &str,
        base_branch: Option<&str>,
    ) -> Result<MergeRequestRow, StoreError> {
        self.write(|tx| {
            require_task(tx, task_id)?;
            let id = MergeRequestId::generate().into_string();
            let now = now_rfc3339();
            tx.execute(
                "INSERT INTO merge_requests (id, task_id, status, branch, base_branch, created_at, updated_at)
                 VALUES (?1, ?2, 'queued', ?3, ?4, ?5, ?5)",
                params![id, task_id, branch, base_branch, now],
            )?;
            task_events::append(tx, task_id, "merge_queued", &serde_json::json!({"merge_request": id}))?;
            let sql = format!("SELECT {} FROM merge_requests WHERE id = ?1", MergeRequestRow::COLUMNS);
            Ok(tx.query_row(&sql, [&id], MergeRequestRow::from_row)?)
        })
    }

    /// Moves a merge request to a new state, with an optional reason.
    pub fn set_merge_status(
        &mut self,
        id: &str,
        status: MergeStatus,
        reason: Option<&str>,
    ) -> Result<(), StoreError> {
        self.write(|tx| {
            let changed = tx.execute(
                "UPDATE merge_requests SET status = ?2, reason = ?3, updated_at = ?4 WHERE id = ?1",
                params![id, status.as_str(), reason, now_rfc3339()],
            )?;
            if changed == 0 {
                return Err(StoreError::invalid(format!("no merge request {id}")));
            }
            Ok(())
        })
    }

    /// Merge requests of one task, newest last.
    pub fn merge_requests_for(&self, task_id: &str) -> Result<Vec<MergeRequestRow>, StoreError> {
        let sql = format!(
            "SELECT {} FROM merge_requests WHERE task_id = ?1 ORDER BY created_at, id",
            MergeRequestRow::COLUMNS
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt
            .query_map([task_id], MergeRequestRow::from_row)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Requests still in the queue, in queue order.
    pub fn pending_merges(&self) -> Result<Vec<MergeRequestRow>, StoreError> {
        let sql = format!(
            "SELECT {} FROM merge_requests
             WHERE status IN ('queued', 'merging', 'resolving', 'verifying') ORDER BY created_at, id",
            MergeRequestRow::COLUMNS
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt
            .query_map([], MergeRequestRow::from_row)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }
}
