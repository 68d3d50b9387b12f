//! A merger's resolution held for review (`[merge] review = "ask"`): the
//! merge queue records the resolution and the base tip it was made on, and
//! moves the request and its task to `awaiting_review`, in one transaction,
//! before the base branch can move. The person's decision ends the hold in
//! the transaction that records it (`review.rs`, `followup.rs`): approval
//! queues the same request again (it lands exactly the held commit while
//! the base stays put), rejection and requested changes end it `failed`.

use enki_core::{MergeStatus, TaskStatus};
use rusqlite::{OptionalExtension, params};

use crate::error::StoreError;
use crate::rows::{MergeRequestRow, TaskRow};
use crate::store::Store;
use crate::task_events;
use crate::tasks::require_task;
use crate::time::now_rfc3339;

/// Why a held request waits, as `enki status` shows it.
const HELD_REASON: &str = "the merger's resolution awaits review";

/// What a person's decision does to a task's held resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Release {
    /// Approved: the request goes back to the queue, holding its commit.
    Approved,
    /// Rejected, or changes requested (`round`, the round that follows):
    /// the request ends `failed`; nothing of it lands.
    Rejected,
    ChangesRequested {
        round: i64,
    },
}

impl Store {
    /// Holds `commit`, the merger's resolution of `request_id` made on the
    /// base tip `base`, for a person's review: the request and its task
    /// (landing, `worker_done`) move to `awaiting_review`. Refused for a
    /// request no longer in the queue or a task no longer landing.
    pub fn hold_resolution(
        &mut self,
        request_id: &str,
        commit: &str,
        base: &str,
    ) -> Result<TaskRow, StoreError> {
        self.write(|tx| {
            let sql = format!(
                "SELECT {} FROM merge_requests WHERE id = ?1",
                MergeRequestRow::COLUMNS
            );
            let request = tx
                .query_row(&sql, [request_id], MergeRequestRow::from_row)
                .optional()?
                .ok_or_else(|| StoreError::invalid(format!("no merge request {request_id}")))?;
            let task = require_task(tx, &request.task_id)?;
            if !request.status.is_pending() || task.status != TaskStatus::WorkerDone {
                return Err(StoreError::invalid(format!(
                    "the resolution of task {} cannot wait for review: its merge request is {} and the task is {}",
                    task.id, request.status, task.status
                )));
            }
            let now = now_rfc3339();
            tx.execute(
                "UPDATE merge_requests SET status = ?2, reason = ?3, held_commit = ?4, held_base = ?5,
                        updated_at = ?6
                 WHERE id = ?1",
                params![
                    request_id,
                    MergeStatus::AwaitingReview.as_str(),
                    HELD_REASON,
                    commit,
                    base,
                    now
                ],
            )?;
            tx.execute(
                "UPDATE tasks SET status = ?2, updated_at = ?3 WHERE id = ?1",
                params![task.id, TaskStatus::AwaitingReview.as_str(), now],
            )?;
            task_events::append(
                tx,
                &task.id,
                "resolution_held",
                &serde_json::json!({"merge_request": request_id, "commit": commit, "base": base}),
            )?;
            require_task(tx, &task.id)
        })
    }

    /// The task's merge request whose resolution awaits review, if any.
    pub fn held_resolution(&self, task_id: &str) -> Result<Option<MergeRequestRow>, StoreError> {
        let sql = format!(
            "SELECT {} FROM merge_requests WHERE task_id = ?1 AND status = ?2
             ORDER BY created_at DESC, id DESC LIMIT 1",
            MergeRequestRow::COLUMNS
        );
        Ok(self
            .conn
            .prepare_cached(&sql)?
            .query_row(
                params![task_id, MergeStatus::AwaitingReview.as_str()],
                MergeRequestRow::from_row,
            )
            .optional()?)
    }
}

/// Ends the hold of `task_id`'s resolution, if one awaits review, as the
/// person decided (in the caller's transaction). Returns whether there was
/// one.
pub(crate) fn release_held(
    tx: &rusqlite::Connection,
    task_id: &str,
    release: Release,
) -> Result<bool, StoreError> {
    let (status, reason) = match release {
        Release::Approved => (
            MergeStatus::Queued,
            "the merger's resolution was approved; it lands".to_string(),
        ),
        Release::Rejected => (
            MergeStatus::Failed,
            "the merger's resolution was rejected in review; nothing landed".to_string(),
        ),
        Release::ChangesRequested { round } => (
            MergeStatus::Failed,
            format!(
                "changes were requested in review of the merger's resolution; round {round} comes back through the queue"
            ),
        ),
    };
    let changed = tx.execute(
        "UPDATE merge_requests SET status = ?3, reason = ?4, updated_at = ?5
         WHERE task_id = ?1 AND status = ?2",
        params![
            task_id,
            MergeStatus::AwaitingReview.as_str(),
            status.as_str(),
            reason,
            now_rfc3339()
        ],
    )?;
    Ok(changed > 0)
}
