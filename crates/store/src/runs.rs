//! What the coordinator records about sessions, worker attempts and merges.

use rusqlite::{OptionalExtension, params};

use crate::error::StoreError;
use crate::executions::ensure_session;
use crate::rows::{AttemptRow, ExecutionRow};
use crate::sql::unfinished_executions;
use crate::store::Store;
use crate::task_events;
use crate::tasks::require_task;
use crate::time::now_rfc3339;

impl Store {
    /// Records the start of a coordinator session.
    pub fn start_session(&mut self, id: &str, pid: u32, agent: &str) -> Result<(), StoreError> {
        self.write(|tx| {
            ensure_session(tx, Some(id))?;
            tx.execute(
                "UPDATE sessions SET pid = ?2, agent = ?3, started_at = ?4, ended_at = NULL WHERE id = ?1",
                params![id, pid, agent, now_rfc3339()],
            )?;
            Ok(())
        })
    }

    pub fn end_session(&mut self, id: &str) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute(
                "UPDATE sessions SET ended_at = ?2 WHERE id = ?1",
                params![id, now_rfc3339()],
            )?;
            Ok(())
        })
    }

    /// Executions still running or paused, oldest first (any session).
    pub fn unfinished_executions(&self) -> Result<Vec<ExecutionRow>, StoreError> {
        let sql = format!(
            "SELECT {} FROM executions WHERE status IN ({}) ORDER BY created_at, id",
            ExecutionRow::COLUMNS,
            unfinished_executions()
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt
            .query_map([], ExecutionRow::from_row)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Moves unfinished executions (and their tasks and messages) into a new
    /// coordinator session. Returns the adopted execution ids.
    pub fn adopt_unfinished(&mut self, session: &str) -> Result<Vec<String>, StoreError> {
        self.write(|tx| {
            ensure_session(tx, Some(session))?;
            let mut stmt = tx.prepare(&format!(
                "SELECT id FROM executions WHERE status IN ({})
                   AND (session_id IS NULL OR session_id <> ?1) ORDER BY created_at, id",
                unfinished_executions()
            ))?;
            let ids = stmt
                .query_map([session], |r| r.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            for id in &ids {
                tx.execute(
                    "UPDATE executions SET session_id = ?2 WHERE id = ?1",
                    params![id, session],
                )?;
                tx.execute(
                    "UPDATE tasks SET session_id = ?2 WHERE execution_id = ?1",
                    params![id, session],
                )?;
            }
            Ok(ids)
        })
    }

    /// A worker starts: the task is running, its attempt counted and recorded.
    /// Returns the attempt number (1-based, over the task's whole life).
    pub fn start_attempt(&mut self, task_id: &str) -> Result<i64, StoreError> {
        self.write(|tx| {
            let task = require_task(tx, task_id)?;
            let number = task.attempts + 1;
            let now = now_rfc3339();
            tx.execute(
                "UPDATE tasks SET status = 'running', attempts = ?2, started_at = ?3, updated_at = ?3,
                    activity = 'starting', activity_at = ?3,
                    agent_state = NULL, agent_state_reason = NULL, agent_state_at = ?3
                 WHERE id = ?1",
                params![task_id, number, now],
            )?;
            tx.execute(
                "INSERT OR REPLACE INTO attempts (task_id, number, started_at, round) VALUES (?1, ?2, ?3, ?4)",
                params![task_id, number, now, task.round],
            )?;
            task_events::append(
                tx,
                task_id,
                "attempt_started",
                &serde_json::json!({"attempt": number, "round": task.round}),
            )?;
            Ok(number)
        })
    }

    /// Records the process group of the agent running the task's current
    /// attempt.
    pub fn set_attempt_agent(&mut self, task_id: &str, pgid: u32) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute(
                "UPDATE attempts SET agent_pgid = ?2
                 WHERE task_id = ?1 AND number = (SELECT attempts FROM tasks WHERE id = ?1)",
                params![task_id, pgid],
            )?;
            Ok(())
        })
    }

    /// Records the ACP session the task's current attempt runs in, and the
    /// agent (its configured name) that opened it.
    pub fn set_attempt_session(
        &mut self,
        task_id: &str,
        session: &str,
        agent: &str,
    ) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute(
                "UPDATE attempts SET acp_session = ?2, acp_agent = ?3
                 WHERE task_id = ?1 AND number = (SELECT attempts FROM tasks WHERE id = ?1)",
                params![task_id, session, agent],
            )?;
            Ok(())
        })
    }

    /// The agent process group of the task's latest attempt, if recorded.
    pub fn last_attempt_agent(&self, task_id: &str) -> Result<Option<u32>, StoreError> {
        let pgid: Option<Option<u32>> = self
            .conn
            .query_row(
                "SELECT agent_pgid FROM attempts WHERE task_id = ?1 ORDER BY number DESC LIMIT 1",
                [task_id],
                |row| row.get(0),
            )
            .optional()?;
        Ok(pgid.flatten())
    }

    /// SQLite's `PRAGMA data_version`: changes whenever another connection
    /// (an `enki mcp` process, the CLI) commits, never for this one's own
    /// writes. A cheap "did anyone else change the store?" check.
    pub fn data_version(&self) -> Result<i64, StoreError> {
        Ok(self
            .conn
            .query_row("PRAGMA data_version", [], |row| row.get(0))?)
    }

    /// Every attempt at a task, oldest first.
    pub fn attempts_of(&self, task_id: &str) -> Result<Vec<AttemptRow>, StoreError> {
        let sql = format!(
            "SELECT {} FROM attempts WHERE task_id = ?1 ORDER BY number",
            AttemptRow::COLUMNS
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt
            .query_map([task_id], AttemptRow::from_row)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// A worker attempt ended. `error` is recorded as the task's last error.
    pub fn end_attempt(
        &mut self,
        task_id: &str,
        outcome: &str,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        self.end_attempt_saying(task_id, outcome, error, None)
    }

    /// [`Store::end_attempt`], keeping what its agent said last (when it
    /// said anything) in the attempt's history.
    pub fn end_attempt_saying(
        &mut self,
        task_id: &str,
        outcome: &str,
        error: Option<&str>,
        said: Option<&str>,
    ) -> Result<(), StoreError> {
        self.write(|tx| {
            let task = require_task(tx, task_id)?;
            let now = now_rfc3339();
            tx.execute(
                "UPDATE attempts SET ended_at = ?3, outcome = ?4, error = ?5,
                    last_message = coalesce(?6, last_message)
                 WHERE task_id = ?1 AND number = ?2",
                params![task_id, task.attempts, now, outcome, error, said],
            )?;
            if let Some(error) = error {
                tx.execute(
                    "UPDATE tasks SET last_error = ?2, failures = failures + (?3 IN ('failed', 'stalled')), updated_at = ?4 WHERE id = ?1",
                    params![task_id, error, outcome, now],
                )?;
            }
            task_events::append(
                tx,
                task_id,
                "attempt_ended",
                &serde_json::json!({"attempt": task.attempts, "outcome": outcome, "error": error}),
            )?;
            Ok(())
        })
    }

    /// The coordinator's move of a task from `from` (its graph's status) to
    /// `status`: sets the status with a reason recorded in its log, and its
    /// finish time for finished states. Not made when it would undo a
    /// change someone else made meanwhile that the coordinator has yet to
    /// follow (`rules::write_undoes_steering`): then `Ok(false)`, and the
    /// store keeps their change.
    pub fn record_status(
        &mut self,
        task_id: &str,
        from: enki_core::TaskStatus,
        status: enki_core::TaskStatus,
        reason: Option<&str>,
    ) -> Result<bool, StoreError> {
        self.write(|tx| {
            let task = require_task(tx, task_id)?;
            if task.status == status {
                return Ok(true);
            }
            if enki_core::rules::write_undoes_steering(task.status, from, status) {
                return Ok(false);
            }
            let now = now_rfc3339();
            let finished = matches!(
                status,
                enki_core::TaskStatus::Done
                    | enki_core::TaskStatus::Failed
                    | enki_core::TaskStatus::Cancelled
            );
            // A worker's activity describes a running worker; once it stops,
            // the status (and the last error) say what happened instead.
            let stopped_running = task.status == enki_core::TaskStatus::Running;
            tx.execute(
                "UPDATE tasks SET status = ?2, updated_at = ?3,
                    finished_at = CASE WHEN ?4 THEN ?3 ELSE finished_at END,
                    activity = CASE WHEN ?5 THEN NULL ELSE activity END,
                    activity_at = CASE WHEN ?5 THEN NULL ELSE activity_at END
                 WHERE id = ?1",
                params![task_id, status.as_str(), now, finished, stopped_running],
            )?;
            task_events::append(
                tx,
                task_id,
                "status",
                &serde_json::json!({"from": task.status, "to": status, "reason": reason}),
            )?;
            Ok(true)
        })
    }

    /// Sets an execution's status (the coordinator's transitions).
    /// Records why enki paused an execution (kept until its status
    /// changes from paused).
    pub fn set_paused_reason(
        &mut self,
        execution_id: &str,
        reason: &str,
    ) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute(
                "UPDATE executions SET paused_reason = ?2 WHERE id = ?1 AND status = 'paused'",
                params![execution_id, reason],
            )?;
            Ok(())
        })
    }

    /// The coordinator's view of an execution's status. A finished status
    /// is recorded only when the store's tasks agree: an agent may just
    /// have added steps the coordinator has not loaded yet (they reopened
    /// the execution), and those must not be buried under `done`.
    pub fn record_execution_status(
        &mut self,
        execution_id: &str,
        status: enki_core::ExecutionStatus,
    ) -> Result<(), StoreError> {
        self.write(|tx| {
            if status.is_terminal() {
                let current = crate::executions::require_execution(tx, execution_id)?.status;
                let present = tx
                    .prepare_cached("SELECT DISTINCT status FROM tasks WHERE execution_id = ?1")?
                    .query_map([execution_id], |r| {
                        crate::rows::get_enum::<enki_core::TaskStatus>(r, 0)
                    })?
                    .collect::<Result<Vec<_>, _>>()?;
                let settled = enki_core::rules::settled_execution_status(current, present);
                if current != status && settled != Some(status) {
                    return Ok(());
                }
            }
            tx.execute(
                "UPDATE executions SET status = ?2, updated_at = ?3 WHERE id = ?1",
                params![execution_id, status.as_str(), now_rfc3339()],
            )?;
            Ok(())
        })
    }

    /// A running worker's agent state as the coordinator judged it (see
    /// `enki_core::liveness`), also logged as an `agent_state` event;
    /// ignored once the task no longer runs, whose status then says what it
    /// shows.
    pub fn set_agent_state(
        &mut self,
        task_id: &str,
        state: enki_core::AgentState,
        reason: Option<&str>,
    ) -> Result<(), StoreError> {
        self.write(|tx| {
            let changed = tx.execute(
                "UPDATE tasks SET agent_state = ?2, agent_state_reason = ?3, agent_state_at = ?4
                 WHERE id = ?1 AND status = 'running'",
                params![task_id, state.as_str(), reason, now_rfc3339()],
            )?;
            if changed > 0 {
                task_events::append(
                    tx,
                    task_id,
                    "agent_state",
                    &serde_json::json!({"state": state, "reason": reason}),
                )?;
            }
            Ok(())
        })
    }

    /// What the agent of attempt `number` said last.
    pub fn set_attempt_last_message(
        &mut self,
        task_id: &str,
        number: i64,
        message: &str,
    ) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute(
                "UPDATE attempts SET last_message = ?3 WHERE task_id = ?1 AND number = ?2",
                params![task_id, number, message],
            )?;
            Ok(())
        })
    }

    /// The worker's current activity (shown in lists), without a log entry.
    pub fn set_activity(&mut self, task_id: &str, activity: &str) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute(
                "UPDATE tasks SET activity = ?2, activity_at = ?3 WHERE id = ?1",
                params![task_id, activity, now_rfc3339()],
            )?;
            Ok(())
        })
    }

    /// The output summary extracted from the worker's reply.
    pub fn set_output(&mut self, task_id: &str, output: &str) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute(
                "UPDATE tasks SET output = ?2, updated_at = ?3 WHERE id = ?1",
                params![task_id, output, now_rfc3339()],
            )?;
            Ok(())
        })
    }

    /// Records the commit a merge request landed as.
    pub fn set_merge_commit(&mut self, merge_id: &str, commit: &str) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute(
                "UPDATE merge_requests SET merged_commit = ?2, updated_at = ?3 WHERE id = ?1",
                params![merge_id, commit, now_rfc3339()],
            )?;
            Ok(())
        })
    }
}
