//! When tasks start: the three edge conditions, `started` edges that
//! follow their upstream worker, cycles, tier limits and fair order.

use super::*;

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

fn one_worker() -> Orchestrator {
    Orchestrator::new(Settings {
        limits: Limits {
            max_workers: 1,
            ..Limits::default()
        },
        retries: 0,
        stall_timeout_ms: 1000,
        api_retry_limit_ms: 5000,
    })
}

fn load(o: &mut Orchestrator, id: &str, order: u64, nodes: Vec<NodeSnapshot>) -> Vec<Event> {
    o.handle(Command::Load(execution(id, order, nodes)))
}

/// x needs t `started`, but the only worker slot is t's: x is ready and
/// waits. Pausing t frees the slot; x must not take it while t is paused.
#[test]
fn pausing_a_running_step_withdraws_its_started_edges() {
    let mut o = one_worker();
    load(
        &mut o,
        "e1",
        1,
        vec![
            node("t", 0, &[]),
            node("x", 1, &[("t", Condition::Started)]),
        ],
    );
    assert_eq!(o.running(), ["t"]);
    assert_eq!(o.graph().status("x"), Some(TaskStatus::Ready));
    let events = o.handle(Command::Pause {
        execution: "e1".into(),
        step: Some("t".into()),
    });
    assert_eq!(render(&events), "stop:t(paused) t=paused x=pending");
    assert_eq!(o.running_count(), 0);
    let events = o.handle(Command::Resume {
        execution: "e1".into(),
        step: Some("t".into()),
    });
    assert_eq!(
        render(&events),
        "t=pending t=ready t=running start:t#1 x=ready"
    );
}

/// The same through stop-all and resuming only the dependent's execution.
#[test]
fn stop_all_withdraws_started_edges_across_executions() {
    let mut o = one_worker();
    load(&mut o, "e1", 1, vec![node("t", 0, &[])]);
    load(
        &mut o,
        "e2",
        2,
        vec![node("x", 0, &[("t", Condition::Started)])],
    );
    assert_eq!(o.graph().status("x"), Some(TaskStatus::Ready));
    let events = o.handle(Command::StopAll);
    assert_eq!(
        render(&events),
        "stop:t(stop_all) t=paused x=pending e1=paused e2=paused"
    );
    let events = o.handle(Command::Resume {
        execution: "e2".into(),
        step: None,
    });
    assert_eq!(render(&events), "e2=running", "x waits for t");
    let events = o.handle(Command::Resume {
        execution: "e1".into(),
        step: None,
    });
    assert_eq!(
        render(&events),
        "e1=running t=pending t=ready t=running start:t#1 x=ready"
    );
}

/// Validation keeps cycles out of the store (see `AddCycle`); should one get
/// into a snapshot anyway, loading it terminates and nothing in it starts.
#[test]
fn a_cycle_that_slipped_past_validation_never_starts() {
    let mut o = one_worker();
    let events = load(
        &mut o,
        "e1",
        1,
        vec![
            node("a", 0, &[("b", Condition::Started)]),
            node("b", 1, &[("a", Condition::Merged)]),
            node("c", 2, &[]),
        ],
    );
    assert_eq!(render(&events), "c=ready c=running start:c#1");
    let events = o.handle(Command::WorkerFinished {
        task: "c".into(),
        result: WorkResult::NoChanges,
    });
    assert_eq!(render(&events), "c=done finished:c");
    assert_eq!(o.graph().status("a"), Some(TaskStatus::Pending));
    assert_eq!(o.graph().status("b"), Some(TaskStatus::Pending));
    assert!(o.is_idle());
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
