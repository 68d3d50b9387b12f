//! Review before landing: `enki approve` and `enki reject` on a task whose
//! work awaits review (`enki_core::rules::may_review` says when). Each is
//! one transaction that a running coordinator picks up from the store (a
//! signal only wakes it), so a decision is never lost and never applied
//! twice: approval makes the task `worker_done`, which the coordinator's
//! landing protocol queues exactly once, also after a restart. A merger's
//! resolution held for review (`held.rs`) is released in the same
//! transaction: approved, its request is queued again; rejected, it fails.

use enki_core::{TaskStatus, rules};
use rusqlite::params;
use serde::Serialize;

use crate::error::StoreError;
use crate::executions::{refresh_execution_status, require_execution};
use crate::held::{Release, release_held};
use crate::rows::TaskRow;
use crate::store::Store;
use crate::task_events;
use crate::tasks::{TaskFilter, require_task};
use crate::time::now_rfc3339;

/// What a person decided about work that awaited review.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Approved,
    Rejected,
}

impl Decision {
    pub const fn as_str(self) -> &'static str {
        match self {
            Decision::Approved => "approved",
            Decision::Rejected => "rejected",
        }
    }
}

/// The last review decision of a task, from its log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReviewRecord {
    pub decision: Decision,
    /// The task's round the decision was about.
    pub round: i64,
    pub note: Option<String>,
}

/// The last error a rejected task shows: the reviewer's note, if any.
pub fn rejection_error(note: Option<&str>) -> String {
    match note.map(str::trim).filter(|n| !n.is_empty()) {
        Some(note) => format!("rejected in review: {note}"),
        None => "rejected in review".to_string(),
    }
}

impl Store {
    /// The tasks whose work awaits review (of one session when given), in
    /// execution and step order.
    pub fn awaiting_review(&self, session: Option<&str>) -> Result<Vec<TaskRow>, StoreError> {
        self.tasks(&TaskFilter {
            session: session.map(str::to_string),
            status: Some(TaskStatus::AwaitingReview),
            execution_id: None,
        })
    }

    /// Reads the task and its execution and checks that a review decision
    /// may be taken now, saying why not.
    fn reviewable(tx: &rusqlite::Connection, task_id: &str) -> Result<TaskRow, StoreError> {
        let task = require_task(tx, task_id)?;
        let execution = require_execution(tx, &task.execution_id)?;
        if let Err(refused) = rules::may_review(task.status, execution.status) {
            return Err(StoreError::invalid(format!(
                "task {} (step `{}`) cannot be reviewed: {refused}",
                task.id, task.step_id
            )));
        }
        Ok(task)
    }

    /// `enki approve`: the work awaiting review goes to the merge queue
    /// (`worker_done`; the coordinator queues it).
    pub fn approve_task(&mut self, task_id: &str) -> Result<TaskRow, StoreError> {
        self.write(|tx| {
            let task = Self::reviewable(tx, task_id)?;
            tx.execute(
                "UPDATE tasks SET status = 'worker_done', updated_at = ?2 WHERE id = ?1",
                params![task.id, now_rfc3339()],
            )?;
            let resolution = release_held(tx, &task.id, Release::Approved)?;
            task_events::append(
                tx,
                &task.id,
                "review",
                &serde_json::json!({
                    "decision": Decision::Approved,
                    "round": task.round,
                    "resolution": resolution,
                }),
            )?;
            require_task(tx, &task.id)
        })
    }

    /// `enki reject`: the task ends `failed` ([`rules::REJECTED`]) with the
    /// reviewer's note as its last error; its branch and copy stay for a
    /// human, and its dependents are blocked as after any failure.
    pub fn reject_task(
        &mut self,
        task_id: &str,
        note: Option<&str>,
    ) -> Result<TaskRow, StoreError> {
        let note = note.map(str::trim).filter(|n| !n.is_empty());
        self.write(|tx| {
            let task = Self::reviewable(tx, task_id)?;
            let now = now_rfc3339();
            tx.execute(
                "UPDATE tasks SET status = ?2, last_error = ?3, finished_at = ?4, updated_at = ?4
                 WHERE id = ?1",
                params![
                    task.id,
                    rules::REJECTED.as_str(),
                    rejection_error(note),
                    now
                ],
            )?;
            let resolution = release_held(tx, &task.id, Release::Rejected)?;
            task_events::append(
                tx,
                &task.id,
                "review",
                &serde_json::json!({
                    "decision": Decision::Rejected,
                    "round": task.round,
                    "note": note,
                    "resolution": resolution,
                }),
            )?;
            refresh_execution_status(tx, &task.execution_id)?;
            require_task(tx, &task.id)
        })
    }

    /// The branch an execution's work lands on, when a coordinator has
    /// recorded it (read only, unlike [`Store::execution_base_branch`]).
    pub fn recorded_base_branch(&self, execution_id: &str) -> Result<Option<String>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT base_branch FROM executions WHERE id = ?1")?;
        let mut rows = stmt.query([execution_id])?;
        Ok(match rows.next()? {
            Some(row) => row.get(0)?,
            None => None,
        })
    }

    /// The task's last review decision, if it ever had one.
    pub fn last_review(&self, task_id: &str) -> Result<Option<ReviewRecord>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT json_extract(data, '$.decision'), json_extract(data, '$.round'),
                    json_extract(data, '$.note')
             FROM task_events WHERE task_id = ?1 AND kind = 'review' ORDER BY seq DESC LIMIT 1",
        )?;
        let mut rows = stmt.query([task_id])?;
        let Some(row) = rows.next()? else {
            return Ok(None);
        };
        let decision = match row.get::<_, Option<String>>(0)?.as_deref() {
            Some("approved") => Decision::Approved,
            Some("rejected") => Decision::Rejected,
            _ => return Ok(None),
        };
        Ok(Some(ReviewRecord {
            decision,
            round: row.get::<_, Option<i64>>(1)?.unwrap_or(1),
            note: row.get(2)?,
        }))
    }
}
