//! What agent runs used: one row per run (a worker's attempt, a merger's
//! run, a session's planner), written again whenever its agent reports
//! usage, and read back for roll-ups (`enki_core::usage`). A kind of token
//! the agent never reported is NULL, never 0.

use enki_core::usage::{Cost, RunUsage, Tokens};
use rusqlite::{Row, params};
use serde::Serialize;

use crate::error::StoreError;
use crate::store::Store;
use crate::tasks::require_task;
use crate::time::now_rfc3339;

/// Which agent run of which task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunKey<'a> {
    /// A worker's attempt `number` at `task`.
    Worker { task: &'a str, number: i64 },
    /// A merger's run `number` on `task`'s merge.
    Merger { task: &'a str, number: i64 },
    /// The planner of the coordinator session.
    Planner,
}

impl RunKey<'_> {
    fn parts(&self) -> (&'static str, &str, i64) {
        match *self {
            RunKey::Worker { task, number } => ("worker", task, number),
            RunKey::Merger { task, number } => ("merger", task, number),
            RunKey::Planner => ("planner", "", 0),
        }
    }
}

/// One run's usage as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UsageRow {
    /// The coordinator session the run belonged to.
    pub session_id: String,
    /// `worker`, `merger` or `planner`.
    pub run: String,
    /// `None` for the planner.
    pub task_id: Option<String>,
    /// The attempt or merger run number (0 for the planner).
    pub number: i64,
    pub execution_id: Option<String>,
    /// The step's role for a worker (`worker` when it has none), else
    /// `merger` or `planner`.
    pub role: String,
    /// The configured agent name (`claude`, `codex`, `sim`, ...).
    pub agent: String,
    #[serde(flatten)]
    pub usage: RunUsage,
    pub updated_at: String,
}

impl UsageRow {
    const COLUMNS: &'static str = "session_id, run, task_id, number, execution_id, role, agent, model,
        input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, cost, currency, updated_at";

    fn from_row(row: &Row<'_>) -> rusqlite::Result<UsageRow> {
        let count = |i: usize| -> rusqlite::Result<Option<u64>> {
            Ok(row.get::<_, Option<i64>>(i)?.map(|n| n.max(0) as u64))
        };
        let task: String = row.get(2)?;
        let cost: Option<f64> = row.get(12)?;
        let currency: Option<String> = row.get(13)?;
        Ok(UsageRow {
            session_id: row.get(0)?,
            run: row.get(1)?,
            task_id: (!task.is_empty()).then_some(task),
            number: row.get(3)?,
            execution_id: row.get(4)?,
            role: row.get(5)?,
            agent: row.get(6)?,
            usage: RunUsage {
                model: row.get(7)?,
                tokens: Tokens {
                    input: count(8)?,
                    output: count(9)?,
                    cache_read: count(10)?,
                    cache_write: count(11)?,
                },
                cost: cost
                    .zip(currency)
                    .map(|(amount, currency)| Cost { amount, currency }),
            },
            updated_at: row.get(14)?,
        })
    }
}

/// Which rows [`Store::usage_rows`] reads; every field narrows.
#[derive(Debug, Clone, Default)]
pub struct UsageFilter {
    pub session: Option<String>,
    pub execution_id: Option<String>,
    pub task_id: Option<String>,
}

fn count_of(n: Option<u64>) -> Option<i64> {
    n.map(|n| i64::try_from(n).unwrap_or(i64::MAX))
}

impl Store {
    /// Records what run `key` of coordinator session `session` (its agent
    /// named `agent`) has used so far, replacing the run's earlier record.
    pub fn record_usage(
        &mut self,
        session: &str,
        key: RunKey<'_>,
        agent: &str,
        usage: &RunUsage,
    ) -> Result<(), StoreError> {
        let (run, task, number) = key.parts();
        self.write(|tx| {
            let (execution, role) = match key {
                RunKey::Worker { task, .. } => {
                    let row = require_task(tx, task)?;
                    (Some(row.execution_id), row.role.unwrap_or_else(|| "worker".into()))
                }
                RunKey::Merger { task, .. } => {
                    (Some(require_task(tx, task)?.execution_id), "merger".into())
                }
                RunKey::Planner => (None, "planner".into()),
            };
            let t = &usage.tokens;
            tx.prepare_cached(
                "INSERT INTO usage (session_id, run, task_id, number, execution_id, role, agent, model,
                    input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, cost, currency,
                    updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)
                 ON CONFLICT (session_id, run, task_id, number) DO UPDATE SET
                    agent = excluded.agent, model = excluded.model,
                    input_tokens = excluded.input_tokens, output_tokens = excluded.output_tokens,
                    cache_read_tokens = excluded.cache_read_tokens,
                    cache_write_tokens = excluded.cache_write_tokens,
                    cost = excluded.cost, currency = excluded.currency, updated_at = excluded.updated_at",
            )?
            .execute(params![
                session,
                run,
                task,
                number,
                execution,
                role,
                agent,
                usage.model,
                count_of(t.input),
                count_of(t.output),
                count_of(t.cache_read),
                count_of(t.cache_write),
                usage.cost.as_ref().map(|c| c.amount),
                usage.cost.as_ref().map(|c| c.currency.as_str()),
                now_rfc3339(),
            ])?;
            Ok(())
        })
    }

    /// The runs' usage records, oldest first.
    pub fn usage_rows(&self, filter: &UsageFilter) -> Result<Vec<UsageRow>, StoreError> {
        let (sql, values) = usage_query(filter);
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(values), UsageRow::from_row)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }
}

/// The query of [`Store::usage_rows`] and its values. Only the filters given
/// go into it: SQLite uses no index for `?1 IS NULL OR session_id = ?1`, and
/// the coordinator reads a session's and a task's rows at every usage
/// report, so each read would scan every row the project ever recorded.
fn usage_query(filter: &UsageFilter) -> (String, Vec<&String>) {
    let mut conditions = Vec::new();
    let mut values = Vec::new();
    for (column, value) in [
        ("session_id", &filter.session),
        ("execution_id", &filter.execution_id),
        ("task_id", &filter.task_id),
    ] {
        if let Some(value) = value {
            values.push(value);
            conditions.push(format!("{column} = ?{}", values.len()));
        }
    }
    let condition = if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    };
    let sql = format!(
        "SELECT {} FROM usage {condition} ORDER BY updated_at, rowid",
        UsageRow::COLUMNS
    );
    (sql, values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{NewStep, Store};

    fn store_with_task() -> (tempfile::TempDir, Store, String, String) {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("db.sqlite")).unwrap();
        let created = store
            .create_execution(Some("s1"), "e", false, &[NewStep::new("a", "A")])
            .unwrap();
        let task = created.steps[0].1.clone();
        (dir, store, created.execution_id, task)
    }

    #[test]
    fn a_paused_reason_lasts_while_the_execution_stays_paused() {
        let (_dir, mut store, execution, _task) = store_with_task();
        store.set_paused_reason(&execution, "budget").unwrap();
        let reason = |store: &Store| store.execution(&execution).unwrap().unwrap().paused_reason;
        assert_eq!(reason(&store), None, "only a paused execution has one");
        store
            .record_execution_status(&execution, enki_core::ExecutionStatus::Paused)
            .unwrap();
        store
            .set_paused_reason(&execution, "the session's budget is spent")
            .unwrap();
        assert_eq!(
            reason(&store).as_deref(),
            Some("the session's budget is spent")
        );
        store.resume(&execution, None).unwrap();
        assert_eq!(reason(&store), None, "resumed: the reason is gone");
    }

    #[test]
    fn a_run_is_one_row_rewritten_with_each_report_and_unknown_stays_null() {
        let (_dir, mut store, execution, task) = store_with_task();
        let key = RunKey::Worker {
            task: &task,
            number: 1,
        };
        store
            .record_usage("s1", key, "sim", &RunUsage::default())
            .unwrap();
        let rows = store.usage_rows(&UsageFilter::default()).unwrap();
        assert_eq!(rows.len(), 1);
        assert!(
            rows[0].usage.is_unknown(),
            "nothing reported is NULL, not 0"
        );
        assert_eq!(rows[0].execution_id.as_deref(), Some(execution.as_str()));
        assert_eq!(rows[0].role, "worker");
        let reported = RunUsage {
            tokens: Tokens {
                input: Some(100),
                output: Some(20),
                ..Tokens::default()
            },
            cost: Some(Cost {
                amount: 0.01,
                currency: "USD".into(),
            }),
            model: Some("sim".into()),
        };
        store.record_usage("s1", key, "sim", &reported).unwrap();
        store
            .record_usage("s1", RunKey::Planner, "sim", &reported)
            .unwrap();
        store
            .record_usage(
                "s1",
                RunKey::Merger {
                    task: &task,
                    number: 1,
                },
                "sim",
                &reported,
            )
            .unwrap();
        let rows = store.usage_rows(&UsageFilter::default()).unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].usage, reported);
        assert_eq!(rows[0].usage.tokens.cache_read, None);
        let by_task = store
            .usage_rows(&UsageFilter {
                task_id: Some(task.clone()),
                ..UsageFilter::default()
            })
            .unwrap();
        let roles: Vec<&str> = by_task.iter().map(|r| r.role.as_str()).collect();
        assert_eq!(roles, ["worker", "merger"]);
        let planner = rows.iter().find(|r| r.run == "planner").unwrap();
        assert_eq!(
            (planner.task_id.as_deref(), planner.execution_id.as_deref()),
            (None, None)
        );
        assert!(
            store
                .record_usage(
                    "s1",
                    RunKey::Worker {
                        task: "nope",
                        number: 1
                    },
                    "sim",
                    &reported
                )
                .is_err()
        );
    }

    #[test]
    fn each_filter_narrows_and_reads_through_an_index() {
        let (_dir, mut store, execution, task) = store_with_task();
        let other = store
            .create_execution(Some("s2"), "f", false, &[NewStep::new("b", "B")])
            .unwrap();
        let other_task = other.steps[0].1.clone();
        let reported = RunUsage {
            tokens: Tokens {
                input: Some(1),
                ..Tokens::default()
            },
            ..RunUsage::default()
        };
        for (session, task) in [("s1", &task), ("s2", &task), ("s2", &other_task)] {
            let key = RunKey::Worker { task, number: 1 };
            store.record_usage(session, key, "sim", &reported).unwrap();
        }
        let count = |filter: UsageFilter| store.usage_rows(&filter).unwrap().len();
        let of = |session: Option<&str>, execution: Option<&str>, task: Option<&str>| UsageFilter {
            session: session.map(str::to_owned),
            execution_id: execution.map(str::to_owned),
            task_id: task.map(str::to_owned),
        };
        assert_eq!(count(of(None, None, None)), 3);
        assert_eq!(count(of(Some("s2"), None, None)), 2);
        assert_eq!(count(of(None, Some(&execution), None)), 2);
        assert_eq!(count(of(None, None, Some(&other_task))), 1);
        assert_eq!(count(of(Some("s2"), Some(&execution), None)), 1);
        assert_eq!(count(of(Some("s1"), None, Some(&other_task))), 0);
        // The coordinator's reads at each report: a session's rows, a task's.
        for filter in [of(Some("s1"), None, None), of(None, None, Some(&task))] {
            let (sql, _) = usage_query(&filter);
            let plan: Vec<String> = store
                .connection()
                .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                .unwrap()
                .query_map(rusqlite::params_from_iter(["x"]), |row| row.get(3))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            assert!(
                plan.iter()
                    .any(|step| step.starts_with("SEARCH usage USING")),
                "{filter:?} scans the table: {plan:?}"
            );
        }
    }
}
