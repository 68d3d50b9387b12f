//! Failures and what survives them: retry budgets, blocked dependents,
//! stalls, restarts and reports about tasks the engine does not know.

use super::*;
use crate::AgentState;
use crate::liveness::Sign;

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

fn sign(o: &mut Orchestrator, task: &str, at_ms: u64, sign: Sign) -> Vec<Event> {
    o.handle(Command::WorkerActivity {
        task: task.into(),
        at_ms,
        sign,
    })
}

fn agent_states(events: &[Event]) -> Vec<(AgentState, Option<String>)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::AgentState { state, reason, .. } => Some((*state, reason.clone())),
            _ => None,
        })
        .collect()
}

fn stop_error(events: &[Event]) -> Option<(StopCause, String)> {
    events.iter().find_map(|e| match e {
        Event::StopWorker {
            cause,
            error: Some(error),
            ..
        } => Some((*cause, error.clone())),
        _ => None,
    })
}

#[test]
fn stalled_workers_are_stopped_in_their_words_and_count_as_failures() {
    let mut o = Orchestrator::new(settings(1));
    o.handle(Command::Load(execution("e1", 1, vec![node("a", 0, &[])])));
    let events = sign(&mut o, "a", 900, Sign::Said("Building the crate".into()));
    assert_eq!(agent_states(&events), [(AgentState::Working, None)]);
    // Half the timeout: shown as stalled, still running.
    let events = o.handle(Command::Tick { now_ms: 1500 });
    assert_eq!(
        agent_states(&events),
        [(
            AgentState::Stalled,
            Some("no progress since it said «Building the crate»".into())
        )]
    );
    assert!(o.is_running("a"));
    // Keep-alives change nothing.
    assert!(sign(&mut o, "a", 1600, Sign::Noise).is_empty());
    let events = o.handle(Command::Tick { now_ms: 2000 });
    assert_eq!(
        stop_error(&events),
        Some((
            StopCause::Stalled,
            "stalled: no progress for 1 s; it last said: «Building the crate»".into()
        ))
    );
    assert!(matches!(
        events
            .iter()
            .find(|e| matches!(e, Event::TaskFailed { .. })),
        Some(Event::TaskFailed {
            will_retry: true,
            error,
            ..
        }) if error.contains("Building the crate")
    ));
    assert_eq!(started(&events), ["a"], "retried at once");
}

#[test]
fn a_worker_waiting_for_a_person_is_never_stopped_as_stalled() {
    for wait in [
        Sign::PermissionAsked("Edit a.txt".into()),
        Sign::Questions(vec!["Which database?".into()]),
    ] {
        let mut o = Orchestrator::new(settings(1));
        o.handle(Command::Load(execution("e1", 1, vec![node("a", 0, &[])])));
        sign(&mut o, "a", 100, Sign::Progress);
        let events = sign(&mut o, "a", 200, wait.clone());
        let waiting = agent_states(&events);
        assert_eq!(waiting.len(), 1);
        assert!(waiting[0].0.waits_for_a_person(), "{wait:?}");
        let events = o.handle(Command::Tick { now_ms: 3_600_000 });
        assert!(events.is_empty(), "{wait:?}: {events:?}");
        assert!(o.is_running("a"));
        // Answered: the clock runs again from where it paused.
        let answer = match wait {
            Sign::PermissionAsked(title) => Sign::PermissionAnswered(title),
            _ => Sign::Questions(Vec::new()),
        };
        let events = sign(&mut o, "a", 3_600_000, answer);
        assert_eq!(agent_states(&events), [(AgentState::Working, None)]);
        let events = o.handle(Command::Tick { now_ms: 3_600_900 });
        assert_eq!(
            stop_error(&events).map(|(cause, _)| cause),
            Some(StopCause::Stalled)
        );
    }
}

#[test]
fn a_worker_retrying_its_model_api_past_the_bound_fails_with_its_reason() {
    let mut o = Orchestrator::new(Settings {
        stall_timeout_ms: 60_000,
        ..settings(1)
    });
    o.handle(Command::Load(execution("e1", 1, vec![node("a", 0, &[])])));
    sign(&mut o, "a", 0, Sign::Progress);
    let events = sign(
        &mut o,
        "a",
        1000,
        Sign::Retrying("Reconnecting... 1/5".into()),
    );
    assert_eq!(
        agent_states(&events),
        [(AgentState::Retrying, Some("Reconnecting... 1/5".into()))]
    );
    // The same notice again is no news.
    assert!(
        sign(
            &mut o,
            "a",
            2000,
            Sign::Retrying("Reconnecting... 1/5".into())
        )
        .is_empty()
    );
    let events = o.handle(Command::Tick { now_ms: 6000 });
    let (cause, error) = stop_error(&events).expect("stopped");
    assert_eq!(cause, StopCause::Unreachable);
    assert!(error.ends_with("«Reconnecting... 1/5»"), "{error}");
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
