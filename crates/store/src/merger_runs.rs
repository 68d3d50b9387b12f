//! Merger runs: each time a merger agent resolves a task's conflicting
//! merge, recorded like a worker's attempt (start, agent, end with outcome,
//! error and `[OUTPUT]`), with `merger_started` / `merger_ended` in the
//! task's log around the run's own events.

use rusqlite::{OptionalExtension, params};

use crate::error::StoreError;
use crate::rows::MergerRunRow;
use crate::store::Store;
use crate::task_events;
use crate::tasks::require_task;
use crate::time::now_rfc3339;

impl Store {
    /// A merger starts on `files` of the task's request `merge_request_id`.
    /// A run still open (its coordinator died during it) is closed as
    /// `interrupted` first. Returns the run's number (1-based per task).
    pub fn start_merger_run(
        &mut self,
        task_id: &str,
        merge_request_id: &str,
        files: &[String],
    ) -> Result<i64, StoreError> {
        self.write(|tx| {
            require_task(tx, task_id)?;
            let now = now_rfc3339();
            tx.execute(
                "UPDATE merger_runs SET ended_at = ?2, outcome = 'interrupted'
                 WHERE task_id = ?1 AND ended_at IS NULL",
                params![task_id, now],
            )?;
            let last: Option<i64> = tx
                .query_row(
                    "SELECT MAX(number) FROM merger_runs WHERE task_id = ?1",
                    [task_id],
                    |row| row.get(0),
                )
                .optional()?
                .flatten();
            let number = last.unwrap_or(0) + 1;
            let files_json = serde_json::to_string(files)
                .map_err(|e| StoreError::invalid(format!("the conflicted files: {e}")))?;
            tx.execute(
                "INSERT INTO merger_runs (task_id, number, merge_request_id, files, started_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![task_id, number, merge_request_id, files_json, now],
            )?;
            task_events::append(
                tx,
                task_id,
                "merger_started",
                &serde_json::json!({"run": number, "merge_request": merge_request_id, "files": files}),
            )?;
            Ok(number)
        })
    }

    /// Records the process group of the agent running merger run `number`.
    pub fn set_merger_agent(
        &mut self,
        task_id: &str,
        number: i64,
        pgid: u32,
    ) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute(
                "UPDATE merger_runs SET agent_pgid = ?3 WHERE task_id = ?1 AND number = ?2",
                params![task_id, number, pgid],
            )?;
            Ok(())
        })
    }

    /// The process group of the task's merger run left open (its
    /// coordinator died during it), if one was recorded.
    pub fn open_merger_agent(&self, task_id: &str) -> Result<Option<u32>, StoreError> {
        let pgid: Option<Option<u32>> = self
            .conn
            .query_row(
                "SELECT agent_pgid FROM merger_runs WHERE task_id = ?1 AND ended_at IS NULL
                 ORDER BY number DESC LIMIT 1",
                [task_id],
                |row| row.get(0),
            )
            .optional()?;
        Ok(pgid.flatten())
    }

    /// Merger run `number` ended: `resolved` or `failed` (with `error`),
    /// and what its `[OUTPUT]` said.
    pub fn end_merger_run(
        &mut self,
        task_id: &str,
        number: i64,
        outcome: &str,
        error: Option<&str>,
        output: Option<&str>,
    ) -> Result<(), StoreError> {
        self.write(|tx| {
            let changed = tx.execute(
                "UPDATE merger_runs SET ended_at = ?3, outcome = ?4, error = ?5, output = ?6
                 WHERE task_id = ?1 AND number = ?2",
                params![task_id, number, now_rfc3339(), outcome, error, output],
            )?;
            if changed == 0 {
                return Err(StoreError::invalid(format!(
                    "no merger run {number} of task {task_id}"
                )));
            }
            task_events::append(
                tx,
                task_id,
                "merger_ended",
                &serde_json::json!({"run": number, "outcome": outcome, "error": error}),
            )?;
            Ok(())
        })
    }

    /// Every merger run of a task, oldest first.
    pub fn merger_runs_of(&self, task_id: &str) -> Result<Vec<MergerRunRow>, StoreError> {
        let sql = format!(
            "SELECT {} FROM merger_runs WHERE task_id = ?1 ORDER BY number",
            MergerRunRow::COLUMNS
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt
            .query_map([task_id], MergerRunRow::from_row)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use crate::{NewStep, Store};

    #[test]
    fn runs_are_numbered_closed_and_logged_and_an_open_one_is_interrupted() {
        let tmp = tempfile::tempdir().unwrap();
        let mut store = Store::open(&tmp.path().join("db.sqlite")).unwrap();
        let created = store
            .create_execution(None, "x", true, &[NewStep::new("a", "step a")])
            .unwrap();
        let task = created.steps[0].1.clone();
        let request = store.enqueue_merge(&task, "enki/a", None).unwrap().id;
        let files = vec!["a.txt".to_string(), "b c.txt".to_string()];

        // A first run whose coordinator died before it ended.
        assert_eq!(store.start_merger_run(&task, &request, &files).unwrap(), 1);
        assert_eq!(store.open_merger_agent(&task).unwrap(), None);
        store.set_merger_agent(&task, 1, 4242).unwrap();
        assert_eq!(store.open_merger_agent(&task).unwrap(), Some(4242));
        assert_eq!(store.start_merger_run(&task, &request, &files).unwrap(), 2);
        assert_eq!(
            store.open_merger_agent(&task).unwrap(),
            None,
            "run 1 closed"
        );
        store
            .end_merger_run(&task, 2, "resolved", None, Some("kept both"))
            .unwrap();
        assert_eq!(store.start_merger_run(&task, &request, &files).unwrap(), 3);
        store
            .end_merger_run(&task, 3, "failed", Some("cannot decide"), None)
            .unwrap();

        let runs = store.merger_runs_of(&task).unwrap();
        let summary: Vec<_> = runs
            .iter()
            .map(|r| {
                (
                    r.number,
                    r.outcome.as_deref(),
                    r.error.as_deref(),
                    r.output.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                (1, Some("interrupted"), None, None),
                (2, Some("resolved"), None, Some("kept both")),
                (3, Some("failed"), Some("cannot decide"), None),
            ]
        );
        assert!(runs.iter().all(|r| r.ended_at.is_some()));
        assert_eq!(runs[0].files, files);
        assert_eq!(runs[0].merge_request_id, request);

        let kinds: Vec<String> = store
            .task_events(&task, 0, None)
            .unwrap()
            .into_iter()
            .filter(|e| e.kind.starts_with("merger_"))
            .map(|e| format!("{} {}", e.kind, e.data["run"]))
            .collect();
        assert_eq!(
            kinds,
            [
                "merger_started 1",
                "merger_started 2",
                "merger_ended 2",
                "merger_started 3",
                "merger_ended 3"
            ]
        );
        let err = store
            .end_merger_run(&task, 9, "resolved", None, None)
            .unwrap_err();
        assert!(err.to_string().contains("no merger run 9"), "{err}");
    }
}
