//! Failures and what survives them: retry budgets, blocked dependents,
//! stalls, restarts and reports about tasks the engine does not know.

use super::*;

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
fn a_task_of_a_cancelled_execution_is_not_retried() {
    // The store refuses this retry; the engine now applies the same rule.
    let mut o = Orchestrator::new(settings(8));
    let failed = NodeSnapshot {
        status: TaskStatus::Failed,
        ..node("a", 0, &[])
    };
    o.handle(Command::Load(execution(
        "e1",
        1,
        vec![failed, node("b", 1, &[("a", Merged)])],
    )));
    o.handle(Command::Cancel {
        execution: "e1".into(),
        step: None,
    });
    assert_eq!(status(&o, "b"), TaskStatus::Cancelled);
    let events = o.handle(Command::Retry { task: "a".into() });
    assert!(events.is_empty(), "{events:?}");
    assert_eq!(status(&o, "a"), TaskStatus::Failed);
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
