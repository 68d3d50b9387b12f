//! Reading tasks and the changes the MCP tools make to them.

use std::collections::HashMap;

use enki_core::{Condition, IdKind, TaskStatus, rules};
use rusqlite::{Connection, OptionalExtension, params};

use crate::error::StoreError;
use crate::executions::{refresh_execution_status, reopen_execution, require_execution};
use crate::ids;
use crate::rows::{DependencyRow, StatusCounts, TaskRow, get_enum};
use crate::sql::{pending_merges, unfinished_executions};
use crate::store::Store;
use crate::task_events;
use crate::time::now_rfc3339;

/// Which tasks a listing returns. `None` fields do not filter.
#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    pub session: Option<String>,
    pub status: Option<TaskStatus>,
    pub execution_id: Option<String>,
}

pub(crate) fn get_task(conn: &Connection, id: &str) -> Result<Option<TaskRow>, StoreError> {
    let sql = format!("SELECT {} FROM tasks WHERE id = ?1", TaskRow::COLUMNS);
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([id], TaskRow::from_row)
        .optional()?)
}

pub(crate) fn require_task(conn: &Connection, id: &str) -> Result<TaskRow, StoreError> {
    get_task(conn, id)?.ok_or_else(|| StoreError::invalid(format!("no task {id}")))
}

fn set_status(conn: &Connection, id: &str, status: TaskStatus) -> Result<(), StoreError> {
    conn.prepare_cached("UPDATE tasks SET status = ?2, updated_at = ?3 WHERE id = ?1")?
        .execute(params![id, status.as_str(), now_rfc3339()])?;
    Ok(())
}

/// Every task that depends, directly or not, on `id`.
pub(crate) fn transitive_dependents(
    conn: &Connection,
    id: &str,
) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "WITH RECURSIVE down(id) AS (
             SELECT task_id FROM dependencies WHERE needs_task_id = ?1
             UNION
             SELECT d.task_id FROM dependencies d JOIN down ON d.needs_task_id = down.id
         ) SELECT id FROM down ORDER BY id",
    )?;
    let ids = stmt
        .query_map([id], |row| row.get(0))?
        .collect::<Result<Vec<String>, _>>()?;
    Ok(ids)
}

/// What cancelling `roots` turns `cancelled` ([`rules::cancel_reach`], the
/// engine's rule too), asked about the tasks below the roots as the store
/// has them. Id order.
pub(crate) fn cancel_reach(conn: &Connection, roots: &[String]) -> Result<Vec<String>, StoreError> {
    // Every task below the roots, with its status and one row per direct
    // dependent. This reads past `done` tasks: where the walk stops is the
    // rule's to say.
    let mut stmt = conn.prepare_cached(
        "WITH RECURSIVE below(id) AS (
             SELECT value FROM json_each(?1)
             UNION
             SELECT d.task_id FROM dependencies d JOIN below ON d.needs_task_id = below.id
         )
         SELECT t.id, t.status, d.task_id
         FROM below JOIN tasks t ON t.id = below.id
         LEFT JOIN dependencies d ON d.needs_task_id = t.id",
    )?;
    let rows = stmt.query_map([serde_json::json!(roots).to_string()], |row| {
        Ok((
            row.get::<_, String>(0)?,
            get_enum::<TaskStatus>(row, 1)?,
            row.get::<_, Option<String>>(2)?,
        ))
    })?;
    let mut status: HashMap<String, TaskStatus> = HashMap::new();
    let mut dependents: HashMap<String, Vec<String>> = HashMap::new();
    for row in rows {
        let (id, task_status, dependent) = row?;
        status.insert(id.clone(), task_status);
        if let Some(dependent) = dependent {
            dependents.entry(id).or_default().push(dependent);
        }
    }
    Ok(rules::cancel_reach(
        roots,
        |t| status.get(t).copied(),
        |t| dependents.get(t).cloned().unwrap_or_default(),
    ))
}

/// Cancels the tasks [`cancel_reach`] chose.
pub(crate) fn cancel_tasks(conn: &Connection, ids: &[String]) -> Result<(), StoreError> {
    for id in ids {
        set_status(conn, id, TaskStatus::Cancelled)?;
        task_events::append(conn, id, "cancelled", &serde_json::json!({}))?;
    }
    Ok(())
}

/// The query of [`Store::tasks`] and its parameters: a condition for each
/// filter given, none for the others.
pub(crate) fn tasks_query(filter: &TaskFilter) -> (String, Vec<&str>) {
    let given = [
        ("session_id", filter.session.as_deref()),
        ("status", filter.status.map(|s| s.as_str())),
        ("execution_id", filter.execution_id.as_deref()),
    ];
    let mut conditions = Vec::new();
    let mut values = Vec::new();
    for (column, value) in given {
        if let Some(value) = value {
            values.push(value);
            conditions.push(format!("{column} = ?{}", values.len()));
        }
    }
    let filter = if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    };
    let sql = format!(
        "SELECT {} FROM tasks {filter}
         ORDER BY (SELECT e.created_at FROM executions e WHERE e.id = tasks.execution_id), execution_id, step_index",
        TaskRow::COLUMNS
    );
    (sql, values)
}

impl Store {
    /// Resolves what a person or agent typed for a task: a task id or
    /// unique prefix, a step name that only one execution has (`mul`), or
    /// `EXECUTION:step` with an execution id or unique prefix.
    pub fn resolve_task(&self, input: &str) -> Result<String, StoreError> {
        ids::resolve_task(&self.conn, input)
    }

    /// Resolves any kind of id or unique prefix.
    pub fn resolve(&self, kind: IdKind, input: &str) -> Result<String, StoreError> {
        ids::resolve(&self.conn, kind, input)
    }

    pub fn task(&self, id: &str) -> Result<Option<TaskRow>, StoreError> {
        get_task(&self.conn, id)
    }

    /// Tasks matching the filter, oldest execution first, then step order.
    ///
    /// Only the filters given are in the query, so SQLite searches the
    /// index of each (`status`, `execution_id`, `session_id`): a condition
    /// like `?1 IS NULL OR status = ?1` would make it read every task, and
    /// `enki_status` (the running ones) and the coordinator's comparison of
    /// each execution with its graph would grow with the project.
    pub fn tasks(&self, filter: &TaskFilter) -> Result<Vec<TaskRow>, StoreError> {
        let (sql, values) = tasks_query(filter);
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(values), TaskRow::from_row)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// What a task needs, with each dependency's state.
    pub fn dependencies_of(&self, task_id: &str) -> Result<Vec<DependencyRow>, StoreError> {
        self.edges("d.task_id = ?1", task_id)
    }

    /// The tasks that need `task_id`, seen from each of them.
    pub fn dependents_of(&self, task_id: &str) -> Result<Vec<DependencyRow>, StoreError> {
        self.edges("d.needs_task_id = ?1", task_id)
    }

    /// Every edge whose dependent task belongs to the execution.
    pub fn execution_edges(&self, execution_id: &str) -> Result<Vec<DependencyRow>, StoreError> {
        self.edges(
            "d.task_id IN (SELECT id FROM tasks WHERE execution_id = ?1)",
            execution_id,
        )
    }

    fn edges(&self, predicate: &str, key: &str) -> Result<Vec<DependencyRow>, StoreError> {
        let sql = format!(
            "SELECT d.task_id, d.needs_task_id, d.condition, n.title, n.status, n.step_id, n.execution_id
             FROM dependencies d JOIN tasks n ON n.id = d.needs_task_id
             WHERE {predicate} ORDER BY d.task_id, n.step_index, n.id"
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt
            .query_map([key], |row| {
                let condition: Condition = get_enum(row, 2)?;
                let needs_status: TaskStatus = get_enum(row, 4)?;
                Ok(DependencyRow {
                    task_id: row.get(0)?,
                    needs_task_id: row.get(1)?,
                    condition,
                    needs_title: row.get(3)?,
                    needs_status,
                    needs_step_id: row.get(5)?,
                    needs_execution_id: row.get(6)?,
                    satisfied: condition.is_satisfied_by(needs_status),
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Counts for `enki_status`, scoped to a session when given.
    ///
    /// Tasks and executions are counted from `status_counts`, which triggers
    /// keep in the transaction of every change (`schema.rs`): a few rows
    /// per session, however many tasks the project holds (`enki_status`
    /// runs at every turn of every agent). The merge queue is short and
    /// counted as it is.
    pub fn status_counts(&self, session: Option<&str>) -> Result<StatusCounts, StoreError> {
        let mut counts = StatusCounts::default();
        let mut stmt = self.conn.prepare_cached(
            "SELECT status, sum(n) FROM status_counts
             WHERE kind = 'task' AND (?1 IS NULL OR session_id = ?1)
             GROUP BY status HAVING sum(n) > 0",
        )?;
        let rows = stmt.query_map([session], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
        })?;
        for row in rows {
            let (status, count) = row?;
            counts.total += count;
            if status == TaskStatus::Running.as_str() {
                counts.running_workers = count;
            }
            counts.by_status.insert(status, count);
        }
        counts.merge_queue = self
            .conn
            .prepare_cached(&format!(
                "SELECT count(*) FROM merge_requests m JOIN tasks t ON t.id = m.task_id
                 WHERE m.status IN ({}) AND (?1 IS NULL OR t.session_id = ?1)",
                pending_merges()
            ))?
            .query_row([session], |row| row.get(0))?;
        counts.executions_active = self
            .conn
            .prepare_cached(&format!(
                "SELECT coalesce(sum(n), 0) FROM status_counts
                 WHERE kind = 'execution' AND status IN ({})
                   AND (?1 IS NULL OR session_id = ?1)",
                unfinished_executions()
            ))?
            .query_row([session], |row| row.get(0))?;
        Ok(counts)
    }

    /// `enki_task_retry`: a failed or blocked task goes back to pending with a
    /// fresh retry budget, and so do its blocked dependents. Returns the ids
    /// that changed, the retried task first.
    pub fn retry_task(&mut self, task_id: &str) -> Result<Vec<String>, StoreError> {
        self.write(|tx| {
            let task = require_task(tx, task_id)?;
            let execution = require_execution(tx, &task.execution_id)?;
            if !rules::may_retry(task.status, execution.status) {
                return Err(StoreError::invalid(if task.status.is_retryable() {
                    format!(
                        "task {} belongs to execution {}, which is {}; nothing of it runs again (create a new task instead)",
                        task.id, execution.id, execution.status
                    )
                } else {
                    format!(
                        "task {} is {}; only failed or blocked tasks can be retried",
                        task.id, task.status
                    )
                }));
            }
            let now = now_rfc3339();
            tx.execute(
                "UPDATE tasks SET status = 'pending', failures = 0, updated_at = ?2 WHERE id = ?1",
                params![task.id, now],
            )?;
            task_events::append(
                tx,
                &task.id,
                "retry",
                &serde_json::json!({"from": task.status}),
            )?;
            let mut changed = vec![task.id.clone()];
            for dependent in transitive_dependents(tx, &task.id)? {
                if let Some(row) = get_task(tx, &dependent)?
                    && row.status == TaskStatus::Blocked
                {
                    set_status(tx, &dependent, TaskStatus::Pending)?;
                    task_events::append(
                        tx,
                        &dependent,
                        "unblocked",
                        &serde_json::json!({"by": task.id}),
                    )?;
                    changed.push(dependent);
                }
            }
            let mut executions: Vec<String> = Vec::new();
            for id in &changed {
                if let Some(row) = get_task(tx, id)?
                    && !executions.contains(&row.execution_id)
                {
                    executions.push(row.execution_id);
                }
            }
            for execution in executions {
                reopen_execution(tx, &execution)?;
            }
            Ok(changed)
        })
    }

    /// `enki_worker_report`: the worker's current activity and, optionally,
    /// its final output.
    pub fn record_worker_report(
        &mut self,
        task_id: &str,
        status: &str,
        output: Option<&str>,
    ) -> Result<(), StoreError> {
        self.write(|tx| {
            require_task(tx, task_id)?;
            let now = now_rfc3339();
            tx.execute(
                "UPDATE tasks SET activity = ?2, activity_at = ?3, updated_at = ?3,
                    output = coalesce(?4, output)
                 WHERE id = ?1",
                params![task_id, status, now, output],
            )?;
            task_events::append(
                tx,
                task_id,
                "report",
                &serde_json::json!({"status": status, "output": output}),
            )?;
            Ok(())
        })
    }

    /// Records where a task's worker copy and branch are.
    pub fn set_task_workspace(
        &mut self,
        task_id: &str,
        copy_path: Option<&str>,
        branch: Option<&str>,
    ) -> Result<(), StoreError> {
        self.write(|tx| {
            require_task(tx, task_id)?;
            tx.execute(
                "UPDATE tasks SET copy_path = ?2, branch = ?3, updated_at = ?4 WHERE id = ?1",
                params![task_id, copy_path, branch, now_rfc3339()],
            )?;
            Ok(())
        })
    }

    /// Sets a task's status directly (the coordinator's transitions).
    pub fn set_task_status(&mut self, task_id: &str, status: TaskStatus) -> Result<(), StoreError> {
        self.write(|tx| {
            let task = require_task(tx, task_id)?;
            set_status(tx, task_id, status)?;
            task_events::append(
                tx,
                task_id,
                "status",
                &serde_json::json!({"from": task.status, "to": status}),
            )?;
            refresh_execution_status(tx, &task.execution_id)?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// How SQLite runs the listing for `filter`: one line per step of its plan.
    fn plan(store: &Store, filter: &TaskFilter) -> String {
        let (sql, values) = tasks_query(filter);
        let mut stmt = store
            .connection()
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .expect("a query");
        let steps = stmt
            .query_map(rusqlite::params_from_iter(values), |row| {
                row.get::<_, String>(3)
            })
            .expect("a plan")
            .collect::<Result<Vec<_>, _>>()
            .expect("its steps");
        steps.join("\n")
    }

    #[test]
    fn a_filtered_listing_searches_an_index_instead_of_reading_every_task() {
        let tmp = tempfile::tempdir().expect("a temp dir");
        let store = Store::open(&tmp.path().join("db.sqlite")).expect("a store");
        let by = |session: Option<&str>, status: Option<TaskStatus>, execution: Option<&str>| {
            TaskFilter {
                session: session.map(str::to_string),
                status,
                execution_id: execution.map(str::to_string),
            }
        };
        for filter in [
            by(Some("s"), None, None),
            by(None, Some(TaskStatus::Running), None),
            by(None, None, Some("e")),
            by(Some("s"), Some(TaskStatus::Running), None),
            by(Some("s"), Some(TaskStatus::Running), Some("e")),
        ] {
            let plan = plan(&store, &filter);
            assert!(
                plan.contains("SEARCH tasks USING INDEX") && !plan.contains("SCAN tasks"),
                "{filter:?}:\n{plan}"
            );
        }
        assert!(plan(&store, &TaskFilter::default()).contains("SCAN tasks"));
    }
}
