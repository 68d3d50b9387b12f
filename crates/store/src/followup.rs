//! `enki followup`: a done task runs again with a further request, as its
//! next round (`enki_core::rules::may_follow_up` says when it may).

use enki_core::{TaskStatus, rules};
use rusqlite::params;
use serde::Serialize;

use crate::error::StoreError;
use crate::executions::{reopen_execution, require_execution};
use crate::held::{Release, release_held};
use crate::store::Store;
use crate::task_events;
use crate::tasks::{get_task, require_task, transitive_dependents};
use crate::time::now_rfc3339;

/// A task that depends, directly or not, on a followed-up task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dependent {
    pub id: String,
    pub step_id: String,
    pub title: String,
    pub status: TaskStatus,
}

/// What a follow-up changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FollowedUp {
    pub task_id: String,
    pub step_id: String,
    pub title: String,
    /// The round it runs as now (2 for the first follow-up).
    pub round: i64,
    /// Its status before: `done`, or `awaiting_review` for review's
    /// "request changes" (the round goes on from its unlanded branch).
    pub from: TaskStatus,
    /// Its execution had finished and runs again.
    pub reopened: bool,
    /// Dependents that started or finished on its earlier work: nothing
    /// runs them again.
    pub ran: Vec<Dependent>,
    /// Dependents that have not started: they start once their needs hold
    /// again, with the follow-up's work.
    pub waiting: Vec<Dependent>,
}

/// Whether a dependent in `status` already ran on the earlier round's work.
fn already_ran(status: TaskStatus) -> bool {
    matches!(
        status,
        TaskStatus::Running | TaskStatus::WorkerDone | TaskStatus::Done | TaskStatus::Failed
    )
}

impl Store {
    /// `enki followup`: a done task goes back to `pending` as its next
    /// round, with `text` as the round's request and a fresh retry budget;
    /// its execution reopens. Dependents keep their status.
    pub fn follow_up_task(&mut self, task_id: &str, text: &str) -> Result<FollowedUp, StoreError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(StoreError::invalid(
                "the follow-up request is empty: say what the task's agent should do next",
            ));
        }
        self.write(|tx| {
            let task = require_task(tx, task_id)?;
            let execution = require_execution(tx, &task.execution_id)?;
            if let Err(refused) = rules::may_follow_up(task.status, execution.status) {
                return Err(StoreError::invalid(format!(
                    "task {} (step `{}`) cannot get a follow-up: {refused}",
                    task.id, task.step_id
                )));
            }
            let round = task.round + 1;
            tx.execute(
                "UPDATE tasks SET status = 'pending', round = ?2, followup = ?3, failures = 0,
                    finished_at = NULL, activity = NULL, activity_at = NULL, updated_at = ?4
                 WHERE id = ?1",
                params![task.id, round, text, now_rfc3339()],
            )?;
            // Changes asked of a merger's held resolution: the worker's
            // round runs again and its work comes back through the queue.
            release_held(tx, &task.id, Release::ChangesRequested { round })?;
            task_events::append(
                tx,
                &task.id,
                "followup",
                &serde_json::json!({"round": round, "text": text, "from": task.status}),
            )?;
            reopen_execution(tx, &execution.id)?;
            let reopened = require_execution(tx, &execution.id)?.status != execution.status;
            let mut rows = Vec::new();
            for id in transitive_dependents(tx, &task.id)? {
                rows.extend(get_task(tx, &id)?);
            }
            // In step order, execution by execution.
            rows.sort_by(|x, y| {
                (&x.execution_id, x.step_index).cmp(&(&y.execution_id, y.step_index))
            });
            let (mut ran, mut waiting) = (Vec::new(), Vec::new());
            for row in rows {
                let dependent = Dependent {
                    id: row.id,
                    step_id: row.step_id,
                    title: row.title,
                    status: row.status,
                };
                if already_ran(row.status) {
                    ran.push(dependent);
                } else if row.status.is_unfinished() {
                    waiting.push(dependent);
                }
            }
            Ok(FollowedUp {
                task_id: task.id,
                step_id: task.step_id,
                title: task.title,
                round,
                from: task.status,
                reopened,
                ran,
                waiting,
            })
        })
    }

    /// Whether the task's round `round` is review's "request changes": a
    /// follow-up of work that awaited review and never landed, so the round
    /// goes on in the kept copy, on the task's branch.
    pub fn round_follows_review(&self, task_id: &str, round: i64) -> Result<bool, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT 1 FROM task_events
             WHERE task_id = ?1 AND kind = 'followup' AND json_extract(data, '$.round') = ?2
               AND json_extract(data, '$.from') = 'awaiting_review'",
        )?;
        Ok(stmt.exists(rusqlite::params![task_id, round])?)
    }

    /// The follow-up requests a task was given, oldest first.
    pub fn follow_ups(&self, task_id: &str) -> Result<Vec<String>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT json_extract(data, '$.text') FROM task_events
             WHERE task_id = ?1 AND kind = 'followup' ORDER BY seq",
        )?;
        let texts = stmt
            .query_map([task_id], |row| row.get::<_, Option<String>>(0))?
            .filter_map(Result::transpose)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(texts)
    }
}
