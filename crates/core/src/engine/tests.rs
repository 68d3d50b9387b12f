//! Transitions of the orchestrator, table by table, and properties of
//! random DAGs.

use proptest::prelude::*;

use super::*;
use crate::{Condition, ExecutionStatus, TaskStatus, Tier};

fn node(id: &str, index: i64, needs: &[(&str, Condition)]) -> NodeSnapshot {
    NodeSnapshot {
        id: id.into(),
        step_id: id.into(),
        step_index: index,
        tier: Tier::Standard,
        checkpoint: false,
        status: TaskStatus::Pending,
        failures: 0,
        needs: needs
            .iter()
            .map(|(t, c)| Edge {
                target: (*t).into(),
                condition: *c,
            })
            .collect(),
    }
}

fn execution(id: &str, order: u64, nodes: Vec<NodeSnapshot>) -> ExecutionSnapshot {
    ExecutionSnapshot {
        id: id.into(),
        order,
        status: ExecutionStatus::Running,
        nodes,
    }
}

fn settings(max_workers: usize) -> Settings {
    Settings {
        limits: Limits {
            max_workers,
            ..Limits::default()
        },
        retries: 2,
        stall_timeout_ms: 1000,
    }
}

fn started(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::StartWorker { task, .. } => Some(task.clone()),
            _ => None,
        })
        .collect()
}

fn status(o: &Orchestrator, task: &str) -> TaskStatus {
    o.graph().status(task).unwrap()
}

use Condition::{Completed, Merged, Started};

/// a -> b (merged), a -> c (completed), a -> d (started)
fn fan_out() -> Orchestrator {
    let mut o = Orchestrator::new(settings(8));
    let events = o.handle(Command::Load(execution(
        "e1",
        1,
        vec![
            node("a", 0, &[]),
            node("b", 1, &[("a", Merged)]),
            node("c", 2, &[("a", Completed)]),
            node("d", 3, &[("a", Started)]),
        ],
    )));
    // Starting a satisfies `started` at once, so d starts in the same step.
    assert_eq!(started(&events), ["a", "d"]);
    o
}

#[test]
fn the_three_conditions_release_dependents_at_the_right_moment() {
    let mut o = fan_out();
    assert_eq!(status(&o, "d"), TaskStatus::Running);
    assert_eq!(status(&o, "b"), TaskStatus::Pending);
    assert_eq!(status(&o, "c"), TaskStatus::Pending);

    let events = o.handle(Command::WorkerFinished {
        task: "a".into(),
        result: WorkResult::Changes,
    });
    assert!(events.contains(&Event::QueueMerge { task: "a".into() }));
    assert_eq!(status(&o, "a"), TaskStatus::WorkerDone);
    assert_eq!(
        started(&events),
        ["c"],
        "completed is satisfied by worker_done"
    );
    assert_eq!(status(&o, "b"), TaskStatus::Pending, "merged is not");

    let events = o.handle(Command::MergeLanded { task: "a".into() });
    assert!(events.contains(&Event::TaskFinished { task: "a".into() }));
    assert_eq!(started(&events), ["b"]);
}

#[test]
fn a_failed_worker_is_retried_within_budget_then_blocks_dependents() {
    let mut o = fan_out();
    for attempt in 1..=2 {
        let events = o.handle(Command::WorkerFailed {
            task: "a".into(),
            error: "boom".into(),
        });
        assert!(events.contains(&Event::TaskFailed {
            task: "a".into(),
            error: "boom".into(),
            will_retry: true
        }));
        assert!(events.contains(&Event::StartWorker {
            task: "a".into(),
            attempt: attempt + 1
        }));
    }
    o.handle(Command::WorkerFinished {
        task: "d".into(),
        result: WorkResult::NoChanges,
    });
    let events = o.handle(Command::WorkerFailed {
        task: "a".into(),
        error: "boom".into(),
    });
    assert!(events.contains(&Event::TaskFailed {
        task: "a".into(),
        error: "boom".into(),
        will_retry: false
    }));
    assert_eq!(status(&o, "a"), TaskStatus::Failed);
    assert_eq!(status(&o, "b"), TaskStatus::Blocked);
    assert_eq!(status(&o, "c"), TaskStatus::Blocked);
    assert_eq!(
        status(&o, "d"),
        TaskStatus::Done,
        "already satisfied by `started`"
    );
    assert_eq!(
        o.graph().execution_status("e1"),
        Some(ExecutionStatus::Failed)
    );
    assert!(o.is_idle());

    // Retry: fresh budget, dependents unblocked, execution running again.
    let events = o.handle(Command::Retry { task: "a".into() });
    assert_eq!(started(&events), ["a"]);
    assert!(events.contains(&Event::StartWorker {
        task: "a".into(),
        attempt: 1
    }));
    assert_eq!(status(&o, "b"), TaskStatus::Pending);
    assert_eq!(
        o.graph().execution_status("e1"),
        Some(ExecutionStatus::Running)
    );
}

#[test]
fn blocking_cascades_transitively_and_across_executions() {
    let mut o = Orchestrator::new(settings(8));
    o.handle(Command::Load(execution(
        "e1",
        1,
        vec![node("a", 0, &[]), node("b", 1, &[("a", Merged)])],
    )));
    o.handle(Command::Load(execution(
        "e2",
        2,
        vec![node("x", 0, &[("b", Merged)])],
    )));
    for _ in 0..3 {
        o.handle(Command::WorkerFailed {
            task: "a".into(),
            error: "e".into(),
        });
    }
    assert_eq!(status(&o, "b"), TaskStatus::Blocked);
    assert_eq!(status(&o, "x"), TaskStatus::Blocked);
    assert_eq!(
        o.graph().execution_status("e2"),
        Some(ExecutionStatus::Failed)
    );
}

#[test]
fn cancel_cascades_and_stops_running_workers() {
    let mut o = fan_out();
    let events = o.handle(Command::Cancel {
        execution: "e1".into(),
        step: Some("a".into()),
    });
    assert!(events.contains(&Event::StopWorker {
        task: "a".into(),
        cause: StopCause::Cancelled
    }));
    assert!(events.contains(&Event::StopWorker {
        task: "d".into(),
        cause: StopCause::Cancelled
    }));
    for t in ["a", "b", "c", "d"] {
        assert_eq!(status(&o, t), TaskStatus::Cancelled, "{t}");
    }
    assert_eq!(
        o.graph().execution_status("e1"),
        Some(ExecutionStatus::Cancelled)
    );
    assert_eq!(o.running_count(), 0);
}

#[test]
fn cancelling_a_whole_execution_keeps_finished_work() {
    let mut o = Orchestrator::new(settings(8));
    o.handle(Command::Load(execution(
        "e1",
        1,
        vec![node("a", 0, &[]), node("b", 1, &[])],
    )));
    o.handle(Command::WorkerFinished {
        task: "a".into(),
        result: WorkResult::NoChanges,
    });
    o.handle(Command::Cancel {
        execution: "e1".into(),
        step: None,
    });
    assert_eq!(status(&o, "a"), TaskStatus::Done);
    assert_eq!(status(&o, "b"), TaskStatus::Cancelled);
    assert_eq!(
        o.graph().execution_status("e1"),
        Some(ExecutionStatus::Cancelled)
    );
}

#[test]
fn cancel_stops_cascading_at_landed_work() {
    // e1: a -> b; e2: x needs a. a lands, then e1 is cancelled: b is
    // cancelled, but x (whose need is met by landed work) keeps going.
    let mut o = Orchestrator::new(settings(8));
    o.handle(Command::Load(execution("e1", 1, vec![node("a", 0, &[])])));
    o.handle(Command::WorkerFinished {
        task: "a".into(),
        result: WorkResult::NoChanges,
    });
    o.handle(Command::Load(execution(
        "e2",
        2,
        vec![node("x", 0, &[("a", Merged)])],
    )));
    o.handle(Command::Load(execution(
        "e1",
        1,
        vec![
            NodeSnapshot {
                status: TaskStatus::Done,
                ..node("a", 0, &[])
            },
            node("b", 1, &[("a", Completed), ("x", Merged)]),
        ],
    )));
    assert_eq!(status(&o, "x"), TaskStatus::Running);
    let events = o.handle(Command::Cancel {
        execution: "e1".into(),
        step: None,
    });
    assert_eq!(status(&o, "a"), TaskStatus::Done);
    assert_eq!(status(&o, "b"), TaskStatus::Cancelled);
    assert_eq!(
        status(&o, "x"),
        TaskStatus::Running,
        "x is not downstream of b"
    );
    assert!(!events.contains(&Event::StopWorker {
        task: "x".into(),
        cause: StopCause::Cancelled
    }));
}

#[test]
fn pause_and_resume_an_execution_and_a_step() {
    let mut o = Orchestrator::new(settings(1));
    o.handle(Command::Load(execution(
        "e1",
        1,
        vec![node("a", 0, &[]), node("b", 1, &[])],
    )));
    assert_eq!(o.running(), ["a"]);
    o.handle(Command::Pause {
        execution: "e1".into(),
        step: None,
    });
    let events = o.handle(Command::WorkerFinished {
        task: "a".into(),
        result: WorkResult::NoChanges,
    });
    assert!(
        started(&events).is_empty(),
        "a paused execution starts nothing"
    );
    assert!(
        o.is_idle() && o.has_paused_work(),
        "idle, but waiting on the pause"
    );
    let events = o.handle(Command::Resume {
        execution: "e1".into(),
        step: None,
    });
    assert_eq!(started(&events), ["b"]);
    assert!(!o.is_idle() && !o.has_paused_work());

    // Pausing a running step stops its worker; resuming restarts it.
    let events = o.handle(Command::Pause {
        execution: "e1".into(),
        step: Some("b".into()),
    });
    assert!(events.contains(&Event::StopWorker {
        task: "b".into(),
        cause: StopCause::Paused
    }));
    assert_eq!(status(&o, "b"), TaskStatus::Paused);
    let events = o.handle(Command::Resume {
        execution: "e1".into(),
        step: Some("b".into()),
    });
    assert_eq!(started(&events), ["b"]);
}

#[test]
fn a_checkpoint_pauses_its_execution_and_new_steps_continue_it() {
    let mut o = Orchestrator::new(settings(4));
    let mut a = node("a", 0, &[]);
    a.checkpoint = true;
    o.handle(Command::Load(execution("e1", 1, vec![a.clone()])));
    let events = o.handle(Command::WorkerFinished {
        task: "a".into(),
        result: WorkResult::NoChanges,
    });
    assert!(events.contains(&Event::CheckpointReached {
        execution: "e1".into(),
        task: "a".into()
    }));
    // The only step is done, so the execution settles as done.
    assert_eq!(
        o.graph().execution_status("e1"),
        Some(ExecutionStatus::Done)
    );

    // The planner adds a step and resumes: the store reloads the execution.
    let mut done_a = a;
    done_a.status = TaskStatus::Done;
    let mut snapshot = execution("e1", 1, vec![done_a, node("b", 1, &[("a", Merged)])]);
    snapshot.status = ExecutionStatus::Paused;
    let events = o.handle(Command::Load(snapshot));
    assert!(started(&events).is_empty(), "still paused");
    let events = o.handle(Command::Resume {
        execution: "e1".into(),
        step: None,
    });
    assert_eq!(started(&events), ["b"]);
}

#[test]
fn stalled_workers_are_stopped_and_count_as_failures() {
    let mut o = Orchestrator::new(settings(1));
    o.handle(Command::Load(execution("e1", 1, vec![node("a", 0, &[])])));
    o.handle(Command::WorkerActivity {
        task: "a".into(),
        at_ms: 900,
    });
    assert!(
        o.handle(Command::Tick { now_ms: 1500 }).is_empty(),
        "active 600 ms ago"
    );
    let events = o.handle(Command::Tick { now_ms: 2000 });
    assert!(events.contains(&Event::StopWorker {
        task: "a".into(),
        cause: StopCause::Stalled
    }));
    assert!(matches!(
        events
            .iter()
            .find(|e| matches!(e, Event::TaskFailed { .. })),
        Some(Event::TaskFailed {
            will_retry: true,
            ..
        })
    ));
    assert_eq!(started(&events), ["a"], "retried at once");
}

#[test]
fn stop_all_stops_workers_and_pauses_executions() {
    let mut o = Orchestrator::new(settings(4));
    o.handle(Command::Load(execution(
        "e1",
        1,
        vec![node("a", 0, &[]), node("b", 1, &[])],
    )));
    let events = o.handle(Command::StopAll);
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(
                e,
                Event::StopWorker {
                    cause: StopCause::StopAll,
                    ..
                }
            ))
            .count(),
        2
    );
    assert_eq!(
        o.graph().execution_status("e1"),
        Some(ExecutionStatus::Paused)
    );
    assert_eq!(status(&o, "a"), TaskStatus::Paused);
    let events = o.handle(Command::Resume {
        execution: "e1".into(),
        step: None,
    });
    assert_eq!(started(&events), ["a", "b"]);
}

#[test]
fn a_restart_treats_running_tasks_as_interrupted() {
    let mut o = Orchestrator::new(settings(4));
    let mut a = node("a", 0, &[]);
    a.status = TaskStatus::Running;
    let events = o.handle(Command::Load(execution("e1", 1, vec![a])));
    assert!(events.contains(&Event::Interrupted { task: "a".into() }));
    assert_eq!(started(&events), ["a"]);
    // Reloading while the worker runs does not interrupt it again.
    let mut a = node("a", 0, &[]);
    a.status = TaskStatus::Running;
    let events = o.handle(Command::Load(execution("e1", 1, vec![a])));
    assert!(events.is_empty(), "{events:?}");
}

#[test]
fn tier_limits_and_fair_order_across_executions() {
    let mut o = Orchestrator::new(Settings {
        limits: Limits {
            max_workers: 3,
            max_heavy: Some(1),
            ..Limits::default()
        },
        ..settings(3)
    });
    let heavy = |id: &str, i| NodeSnapshot {
        tier: Tier::Heavy,
        ..node(id, i, &[])
    };
    o.handle(Command::Load(execution(
        "old",
        1,
        vec![
            heavy("o1", 0),
            heavy("o2", 1),
            node("o3", 2, &[]),
            node("o4", 3, &[]),
        ],
    )));
    let events = o.handle(Command::Load(execution("new", 2, vec![node("n1", 0, &[])])));
    // The first load started o1 (heavy), o3 and o4 (heavy limit skips o2).
    assert!(started(&events).is_empty());
    assert_eq!(o.running(), ["o1", "o3", "o4"]);
    // When o3 ends, the newer execution gets the slot before o2 (fairness)
    // and o2 still cannot start (heavy limit).
    let events = o.handle(Command::WorkerFinished {
        task: "o3".into(),
        result: WorkResult::NoChanges,
    });
    assert_eq!(started(&events), ["n1"]);
    let events = o.handle(Command::WorkerFinished {
        task: "o1".into(),
        result: WorkResult::NoChanges,
    });
    assert_eq!(started(&events), ["o2"]);
}

#[test]
fn unknown_tasks_and_stale_reports_are_ignored() {
    let mut o = Orchestrator::new(settings(1));
    assert!(
        o.handle(Command::WorkerFinished {
            task: "ghost".into(),
            result: WorkResult::Changes
        })
        .is_empty()
    );
    assert!(
        o.handle(Command::MergeLanded {
            task: "ghost".into()
        })
        .is_empty()
    );
    assert!(
        o.handle(Command::Retry {
            task: "ghost".into()
        })
        .is_empty()
    );
    assert!(
        o.handle(Command::Cancel {
            execution: "nope".into(),
            step: None
        })
        .is_empty()
    );
}

// ----- properties over random DAGs

#[derive(Debug, Clone)]
struct RandomDag {
    tiers: Vec<Tier>,
    /// (dependent, dependency, condition) with dependency < dependent.
    edges: Vec<(usize, usize, Condition)>,
    executions: usize,
}

fn random_dag() -> impl Strategy<Value = RandomDag> {
    (2usize..40, 1usize..4).prop_flat_map(|(n, executions)| {
        let tiers = proptest::collection::vec(
            prop_oneof![Just(Tier::Light), Just(Tier::Standard), Just(Tier::Heavy)],
            n,
        );
        let edges = proptest::collection::vec(
            (
                1..n,
                0..n,
                prop_oneof![Just(Merged), Just(Completed), Just(Started)],
            ),
            0..n * 2,
        );
        (tiers, edges).prop_map(move |(tiers, edges)| RandomDag {
            tiers,
            edges: {
                // One edge per pair, always pointing to an earlier node.
                let mut kept: Vec<(usize, usize, Condition)> = Vec::new();
                for (a, b, c) in edges {
                    if b < a && !kept.iter().any(|(x, y, _)| *x == a && *y == b) {
                        kept.push((a, b, c));
                    }
                }
                kept
            },
            // Every execution holds at least one step, as in the store.
            executions: executions.min(n),
        })
    })
}

fn load_random(o: &mut Orchestrator, dag: &RandomDag) -> Vec<Event> {
    let n = dag.tiers.len();
    let mut events = Vec::new();
    for e in 0..dag.executions {
        let nodes: Vec<NodeSnapshot> = (0..n)
            .filter(|i| i % dag.executions == e)
            .map(|i| {
                let needs: Vec<Edge> = dag
                    .edges
                    .iter()
                    .filter(|(a, _, _)| *a == i)
                    .map(|(_, b, c)| Edge {
                        target: format!("t{b:02}"),
                        condition: *c,
                    })
                    .collect();
                NodeSnapshot {
                    tier: dag.tiers[i],
                    needs,
                    ..node(&format!("t{i:02}"), i as i64, &[])
                }
            })
            .collect();
        events.extend(o.handle(Command::Load(execution(&format!("e{e}"), e as u64, nodes))));
    }
    events
}

proptest! {
    /// Random DAGs under random limits never exceed a limit, never start a
    /// task before its conditions hold, and finish every task.
    #[test]
    fn random_dags_respect_limits_and_conditions_and_finish(
        dag in random_dag(),
        max_workers in 1usize..5,
        max_heavy in proptest::option::of(1usize..3),
        finish_order in proptest::collection::vec(any::<proptest::sample::Index>(), 200),
    ) {
        let limits = Limits { max_workers, max_heavy, ..Limits::default() };
        let mut o = Orchestrator::new(Settings { limits, retries: 0, stall_timeout_ms: u64::MAX });
        let mut pending_events = load_random(&mut o, &dag);
        let mut merges: Vec<String> = Vec::new();
        let mut steps = 0;
        loop {
            for event in pending_events.drain(..) {
                match event {
                    Event::StartWorker { task, .. } => {
                        // Every edge of a starting task holds.
                        let needs: Vec<(usize, Condition)> = dag.edges.iter()
                            .filter(|(a, _, _)| format!("t{a:02}") == task)
                            .map(|(_, b, c)| (*b, *c)).collect();
                        for (b, c) in needs {
                            let s = o.graph().status(&format!("t{b:02}")).unwrap();
                            prop_assert!(c.is_satisfied_by(s), "{task} started while t{b:02} is {s} ({c})");
                        }
                    }
                    Event::QueueMerge { task } => merges.push(task),
                    _ => {}
                }
            }
            let running = o.running();
            prop_assert!(running.len() <= max_workers);
            if let Some(max) = max_heavy {
                let heavy = running.iter().filter(|t| o.graph().tier(t) == Some(Tier::Heavy)).count();
                prop_assert!(heavy <= max);
            }
            if running.is_empty() && merges.is_empty() {
                break;
            }
            steps += 1;
            prop_assert!(steps < 10_000);
            let pick = finish_order[steps % finish_order.len()];
            // Either land a merge or finish a worker, chosen by the strategy.
            if !merges.is_empty() && (running.is_empty() || pick.index(2) == 0) {
                let task = merges.remove(pick.index(merges.len()));
                pending_events = o.handle(Command::MergeLanded { task });
            } else {
                let task = running[pick.index(running.len())].clone();
                let result = if pick.index(3) == 0 { WorkResult::NoChanges } else { WorkResult::Changes };
                pending_events = o.handle(Command::WorkerFinished { task, result });
            }
        }
        for i in 0..dag.tiers.len() {
            prop_assert_eq!(o.graph().status(&format!("t{i:02}")), Some(TaskStatus::Done));
        }
        for e in 0..dag.executions {
            prop_assert_eq!(o.graph().execution_status(&format!("e{e}")), Some(ExecutionStatus::Done));
        }
    }
}
