//! Merge requests: the queue that lands finished work.

use enki_core::landing::LandingPhase;
use enki_core::{MergeRequestId, MergeStatus};
use rusqlite::{OptionalExtension, params};

use crate::error::StoreError;
use crate::rows::MergeRequestRow;
use crate::store::Store;
use crate::task_events;
use crate::tasks::require_task;
use crate::time::now_rfc3339;

impl Store {
    /// Queues a merge request for a task's branch, for the task's current
    /// round.
    pub fn enqueue_merge(
        &mut self,
        task_id: &str,
        branch: &str,
        base_branch: Option<&str>,
    ) -> Result<MergeRequestRow, StoreError> {
        self.write(|tx| {
            let task = require_task(tx, task_id)?;
            let id = MergeRequestId::generate().into_string();
            let now = now_rfc3339();
            tx.execute(
                "INSERT INTO merge_requests (id, task_id, status, branch, base_branch, created_at, updated_at, round)
                 VALUES (?1, ?2, 'queued', ?3, ?4, ?5, ?5, ?6)",
                params![id, task_id, branch, base_branch, now, task.round],
            )?;
            task_events::append(
                tx,
                task_id,
                "merge_queued",
                &serde_json::json!({"merge_request": id, "round": task.round}),
            )?;
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

/// The landing protocol's durable steps (see `enki_core::landing`).
impl Store {
    /// Records the commit about to land on `parent`, before the base moves.
    pub fn record_landing_intent(
        &mut self,
        id: &str,
        commit: &str,
        parent: &str,
    ) -> Result<(), StoreError> {
        self.write(|tx| {
            let task_id = request_task(tx, id)?;
            tx.execute(
                "UPDATE merge_requests SET phase = ?2, landing_commit = ?3, landing_parent = ?4, updated_at = ?5
                 WHERE id = ?1",
                params![id, LandingPhase::Intent.as_str(), commit, parent, now_rfc3339()],
            )?;
            task_events::append(
                tx,
                &task_id,
                "landing_intent",
                &serde_json::json!({"merge_request": id, "commit": commit, "parent": parent}),
            )?;
            Ok(())
        })
    }

    /// Forgets an intent whose base moved on without the work (it lands afresh).
    pub fn clear_landing_intent(&mut self, id: &str) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute(
                "UPDATE merge_requests SET phase = NULL, landing_commit = NULL, landing_parent = NULL, updated_at = ?2
                 WHERE id = ?1 AND phase = 'intent'",
                params![id, now_rfc3339()],
            )?;
            Ok(())
        })
    }

    /// The base branch holds the work as `commit`: the request is `merged`
    /// (one transaction with its commit and phase).
    pub fn record_landed(&mut self, id: &str, commit: Option<&str>) -> Result<(), StoreError> {
        self.write(|tx| {
            let task_id = request_task(tx, id)?;
            tx.execute(
                "UPDATE merge_requests SET status = 'merged', merged_commit = ?2, phase = ?3, updated_at = ?4,
                        reason = CASE WHEN ?2 IS NULL THEN 'nothing left to land' END
                 WHERE id = ?1",
                params![id, commit, LandingPhase::Merged.as_str(), now_rfc3339()],
            )?;
            task_events::append(
                tx,
                &task_id,
                "merged",
                &serde_json::json!({"merge_request": id, "commit": commit}),
            )?;
            Ok(())
        })
    }

    /// The landed tasks' copies, branches and scratch worktrees are gone
    /// (one transaction for all the requests `ids`).
    pub fn record_cleaned(&mut self, ids: &[String]) -> Result<(), StoreError> {
        self.write(|tx| {
            let mut update = tx.prepare_cached(
                "UPDATE merge_requests SET phase = ?2, updated_at = ?3 WHERE id = ?1 AND status = 'merged'",
            )?;
            let now = now_rfc3339();
            for id in ids {
                update.execute(params![id, LandingPhase::Cleaned.as_str(), now])?;
            }
            Ok(())
        })
    }

    /// The task's merged request of its current round, if that round's
    /// work has landed (an earlier round's landing is not this one's).
    pub fn landed_request(&self, task_id: &str) -> Result<Option<MergeRequestRow>, StoreError> {
        let round = require_task(&self.conn, task_id)?.round;
        Ok(self
            .merge_requests_for(task_id)?
            .into_iter()
            .find(|r| r.status == MergeStatus::Merged && r.round == round))
    }

    /// Merged requests whose clean-up has not been recorded, oldest first.
    pub fn uncleaned_landings(&self) -> Result<Vec<MergeRequestRow>, StoreError> {
        let sql = format!(
            "SELECT {} FROM merge_requests WHERE status = 'merged' AND (phase IS NULL OR phase <> 'cleaned')
             ORDER BY created_at, id",
            MergeRequestRow::COLUMNS
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt
            .query_map([], MergeRequestRow::from_row)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// The branch an execution's work lands on: the one recorded, or else
    /// `default` (recorded now, so later sessions land on it too).
    pub fn execution_base_branch(
        &mut self,
        execution_id: &str,
        default: &str,
    ) -> Result<String, StoreError> {
        self.write(|tx| {
            tx.execute(
                "UPDATE executions SET base_branch = ?2 WHERE id = ?1 AND base_branch IS NULL",
                params![execution_id, default],
            )?;
            let branch: Option<String> = tx
                .query_row(
                    "SELECT base_branch FROM executions WHERE id = ?1",
                    [execution_id],
                    |row| row.get(0),
                )
                .optional()?
                .flatten();
            branch.ok_or_else(|| StoreError::invalid(format!("no execution {execution_id}")))
        })
    }
}

fn request_task(tx: &rusqlite::Connection, id: &str) -> Result<String, StoreError> {
    tx.query_row(
        "SELECT task_id FROM merge_requests WHERE id = ?1",
        [id],
        |row| row.get(0),
    )
    .optional()?
    .ok_or_else(|| StoreError::invalid(format!("no merge request {id}")))
}
