//! Steering: cancel, pause and resume (of a step or a whole execution),
//! checkpoints, stop-all and follow-ups.

use super::*;

#[test]
fn cancel_cascades_and_stops_running_workers() {
    let mut o = fan_out();
    let events = o.handle(Command::Cancel {
        execution: "e1".into(),
        step: Some("a".into()),
    });
    assert!(events.contains(&Event::StopWorker {
        task: "a".into(),
        cause: StopCause::Cancelled,
        error: None,
        said: None,
    }));
    assert!(events.contains(&Event::StopWorker {
        task: "d".into(),
        cause: StopCause::Cancelled,
        error: None,
        said: None,
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
        cause: StopCause::Cancelled,
        error: None,
        said: None,
    }));
}

#[test]
fn a_failed_execution_whose_blocked_step_is_cancelled_is_done() {
    // e2's step c is blocked by x of e1, which failed; d lands, so e2 is
    // failed. Cancelling c leaves every step done or cancelled: STATE.md
    // calls that done, and so does the store (this used to stay failed in
    // the engine only).
    let mut o = Orchestrator::new(settings(8));
    let failed = NodeSnapshot {
        status: TaskStatus::Failed,
        ..node("x", 0, &[])
    };
    o.handle(Command::Load(execution("e1", 1, vec![failed])));
    o.handle(Command::Load(execution(
        "e2",
        2,
        vec![node("c", 0, &[("x", Merged)]), node("d", 1, &[])],
    )));
    assert_eq!(status(&o, "c"), TaskStatus::Blocked);
    o.handle(Command::WorkerFinished {
        task: "d".into(),
        result: WorkResult::NoChanges,
    });
    assert_eq!(
        o.graph().execution_status("e2"),
        Some(ExecutionStatus::Failed)
    );
    let events = o.handle(Command::Cancel {
        execution: "e2".into(),
        step: Some("c".into()),
    });
    assert_eq!(render(&events), "c=cancelled e2=done");
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
        cause: StopCause::Paused,
        error: None,
        said: None,
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
fn a_follow_up_reopens_a_done_execution_and_keeps_what_dependents_did() {
    let mut o = Orchestrator::new(settings(8));
    o.handle(Command::Load(execution(
        "e1",
        1,
        vec![node("a", 0, &[]), node("b", 1, &[("a", Merged)])],
    )));
    let finish = |o: &mut Orchestrator, task: &str| {
        o.handle(Command::WorkerFinished {
            task: task.into(),
            result: WorkResult::Changes,
        });
        o.handle(Command::MergeLanded { task: task.into() })
    };
    finish(&mut o, "a");
    finish(&mut o, "b");
    assert_eq!(
        o.graph().execution_status("e1"),
        Some(ExecutionStatus::Done)
    );

    let events = o.handle(Command::FollowUp { task: "a".into() });
    assert_eq!(
        render(&events),
        "a=pending e1=running a=ready a=running start:a#1"
    );
    // b ran on a's first round: it is not run again.
    assert_eq!(status(&o, "b"), TaskStatus::Done);
    // A second follow-up while a runs is refused (a is not done).
    assert_eq!(
        render(&o.handle(Command::FollowUp { task: "a".into() })),
        ""
    );

    let events = finish(&mut o, "a");
    assert_eq!(render(&events), "a=done finished:a e1=done");
}

#[test]
fn a_follow_up_in_a_cancelled_execution_is_refused() {
    let mut o = Orchestrator::new(settings(8));
    o.handle(Command::Load(execution("e1", 1, vec![node("a", 0, &[])])));
    o.handle(Command::WorkerFinished {
        task: "a".into(),
        result: WorkResult::NoChanges,
    });
    o.handle(Command::Cancel {
        execution: "e1".into(),
        step: None,
    });
    assert_eq!(
        render(&o.handle(Command::FollowUp { task: "a".into() })),
        ""
    );
    assert_eq!(status(&o, "a"), TaskStatus::Done);
}
