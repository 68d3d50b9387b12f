//! What recording usage costs the coordinator, measured in process: a whole
//! run's CPU moves by ±5 % from run to run on a shared machine, far more
//! than the 1 % target, so the recording path is timed on its own, as this
//! thread's CPU time, and set against the coordinator's CPU for a run.
//!
//! For each usage report an agent sends, the coordinator writes the run's
//! row (`Store::record_usage`, one upsert), reads back and sums the
//! session's rows for the front ends, and, with a budget set, sums the
//! task's rows too and hands the orchestrator what was spent
//! (`Command::Spent`, checked against `[budget]`). All of that is done here
//! for every report of a run, with a budget set (the dearer case).

use anyhow::{Context, Result};
use enki_core::budget::{Budget, Limit, Spent};
use enki_core::engine::{Command, ExecutionSnapshot, NodeSnapshot, Orchestrator, Settings};
use enki_core::usage::{Cost, Prices, RunUsage, Tokens, Totals};
use enki_core::{ExecutionStatus, TaskStatus, Tier};
use enki_store::{NewStep, RunKey, Store, UsageFilter};

/// This thread's CPU time so far, in milliseconds (`CLOCK_THREAD_CPUTIME_ID`:
/// exact to the nanosecond, where `/proc`'s figures move a scheduler tick at
/// a time).
pub(super) fn thread_cpu_ms() -> f64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable timespec for the call.
    #[allow(unsafe_code)]
    unsafe {
        libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now)
    };
    now.tv_sec as f64 * 1e3 + now.tv_nsec as f64 / 1e6
}

/// The sum of `filter`'s rows, as the coordinator makes it.
fn totals(store: &Store, filter: &UsageFilter, prices: &Prices) -> Result<Totals> {
    let mut totals = Totals::default();
    for row in store.usage_rows(filter)? {
        totals.add(&row.usage, prices);
    }
    Ok(totals)
}

/// The thread CPU time (ms) of recording one run's usage reports
/// (`tasks` workers, `reports` each), `blocks` times over: one sample per
/// block, each a run of its own (its own session and execution, so the
/// rows read back are a run's, not every block's). The store is a real
/// SQLite database in a temporary folder.
pub fn usage_recording(tasks: usize, reports: usize, blocks: usize) -> Result<Vec<f64>> {
    let dir = tempfile::tempdir()?;
    let mut store = Store::open(&dir.path().join("db.sqlite")).context("opening the store")?;
    let prices = Prices::default();
    let mut samples = Vec::with_capacity(blocks);
    for block in 0..blocks {
        let session_id = format!("bench-{block}");
        let (ids, mut orch) = one_run(&mut store, &session_id, tasks)?;
        let session = UsageFilter {
            session: Some(session_id.clone()),
            ..UsageFilter::default()
        };
        let started = thread_cpu_ms();
        for report in 1..=reports as u64 {
            for (i, task) in ids.iter().enumerate() {
                // What the run used so far: it only grows.
                let usage = RunUsage {
                    model: Some("sim-model".into()),
                    tokens: Tokens {
                        input: Some(1000 * report + i as u64),
                        output: Some(250 * report),
                        cache_read: Some(5000 * report),
                        cache_write: None,
                    },
                    cost: Some(Cost {
                        amount: 0.01 * report as f64,
                        currency: "USD".into(),
                    }),
                };
                let key = RunKey::Worker { task, number: 1 };
                store.record_usage(&session_id, key, "sim", &usage)?;
                let of_session = totals(&store, &session, &prices)?;
                let of_task = UsageFilter {
                    task_id: Some(task.clone()),
                    ..UsageFilter::default()
                };
                let of_task = totals(&store, &of_task, &prices)?;
                orch.handle(Command::Spent {
                    task: Some((task.clone(), Spent::of(&of_task, "USD"))),
                    session: Spent::of(&of_session, "USD"),
                });
            }
        }
        samples.push(thread_cpu_ms() - started);
    }
    Ok(samples)
}

/// A run's execution of `tasks` steps in `session`, in the store and in an
/// orchestrator with a budget set (too large to be spent).
fn one_run(store: &mut Store, session: &str, tasks: usize) -> Result<(Vec<String>, Orchestrator)> {
    let steps: Vec<NewStep> = (0..tasks)
        .map(|i| NewStep::new(format!("s{i}"), format!("step {i}")))
        .collect();
    let created = store.create_execution(Some(session), "bench", false, &steps)?;
    let ids: Vec<String> = created.steps.iter().map(|(_, id)| id.clone()).collect();
    let mut orch = Orchestrator::new(Settings::default());
    let roomy = Limit {
        tokens: Some(u64::MAX / 4),
        cost: Some(1e12),
    };
    orch.set_budget(Budget {
        per_task: roomy,
        per_execution: roomy,
        per_session: roomy,
        currency: "USD".into(),
        floor: Limit::default(),
    });
    orch.handle(Command::Load(ExecutionSnapshot {
        id: created.execution_id.clone(),
        order: 0,
        status: ExecutionStatus::Running,
        nodes: ids
            .iter()
            .enumerate()
            .map(|(i, id)| NodeSnapshot {
                id: id.clone(),
                step_id: format!("s{i}"),
                step_index: i as i64,
                tier: Tier::Standard,
                checkpoint: false,
                status: TaskStatus::Pending,
                failures: 0,
                needs: Vec::new(),
                agent: "sim".into(),
            })
            .collect(),
    }));
    Ok((ids, orch))
}
