//! `[budget]` in the engine: a spent budget stops the workers it covers
//! and pauses their execution with the reason; a task does not start with
//! less than the floor left; 80 % warns once; raising a budget lets a
//! resumed execution go on.

use super::*;
use crate::budget::{Budget, Limit, Measure, Scope, Spent};

fn spent(work_tokens: u64, cost: f64) -> Spent {
    Spent { work_tokens, cost }
}

fn budget(per_task: Limit, per_execution: Limit, per_session: Limit) -> Budget {
    Budget {
        per_task,
        per_execution,
        per_session,
        currency: "USD".into(),
        floor: Limit::default(),
    }
}

fn tokens(n: u64) -> Limit {
    Limit {
        tokens: Some(n),
        cost: None,
    }
}

fn money(amount: f64) -> Limit {
    Limit {
        tokens: None,
        cost: Some(amount),
    }
}

/// Two independent steps `a` and `b` of `e1`, both started.
fn two_running(budget: Budget) -> Orchestrator {
    let mut o = Orchestrator::new(settings(4));
    o.set_budget(budget);
    let events = o.handle(Command::Load(execution(
        "e1",
        1,
        vec![node("a", 0, &[]), node("b", 1, &[])],
    )));
    assert_eq!(started(&events), ["a", "b"]);
    o
}

fn report(o: &mut Orchestrator, task: &str, total: Spent, session: Spent) -> String {
    render(&o.handle(Command::Spent {
        task: Some((task.into(), total)),
        session,
    }))
}

#[test]
fn a_spent_task_budget_stops_that_worker_and_pauses_its_execution_with_the_reason() {
    let mut o = two_running(budget(tokens(1_000), Limit::default(), Limit::default()));
    assert_eq!(report(&mut o, "a", spent(500, 0.0), spent(500, 0.0)), "");
    assert_eq!(
        report(&mut o, "a", spent(1_000, 0.0), spent(1_000, 0.0)),
        "stop:a(budget) a=paused e1=paused budget:e1(per_task)"
    );
    assert!(o.is_running("b"), "b is under its own budget");
    let events = o.handle(Command::Spent {
        task: Some(("a".into(), spent(1_200, 0.0))),
        session: spent(1_200, 0.0),
    });
    assert!(events.is_empty(), "told once: {}", render(&events));
    // Resumed without more budget: `a` may not start again.
    let resumed = o.handle(Command::Resume {
        execution: "e1".into(),
        step: None,
    });
    assert_eq!(
        render(&resumed),
        "e1=running a=pending a=ready e1=paused budget:e1(per_task)"
    );
    assert_eq!(status(&o, "a"), TaskStatus::Ready);
    // Raised, it runs again.
    o.handle(Command::RaiseBudget {
        scope: Scope::Task,
        measure: Measure::Tokens,
        to: 2_000.0,
    });
    let resumed = o.handle(Command::Resume {
        execution: "e1".into(),
        step: None,
    });
    assert_eq!(started(&resumed), ["a"]);
}

#[test]
fn a_spent_execution_budget_stops_all_its_workers_and_a_session_budget_every_execution() {
    let mut o = two_running(budget(Limit::default(), money(2.0), Limit::default()));
    o.handle(Command::Load(execution("e2", 2, vec![node("c", 0, &[])])));
    assert!(o.is_running("c"));
    // a and b together spend e1's budget: both stop, e2 goes on.
    assert_eq!(report(&mut o, "a", spent(0, 1.0), spent(0, 1.0)), "");
    let events = report(&mut o, "b", spent(0, 1.25), spent(0, 2.25));
    assert_eq!(
        events,
        "stop:a(budget) a=paused stop:b(budget) b=paused e1=paused budget:e1(per_execution)"
    );
    assert!(o.is_running("c"));

    let mut o = two_running(budget(Limit::default(), Limit::default(), tokens(10_000)));
    o.handle(Command::Load(execution("e2", 2, vec![node("c", 0, &[])])));
    // The planner's own usage counts in the session's.
    let events = o.handle(Command::Spent {
        task: None,
        session: spent(10_000, 0.0),
    });
    assert_eq!(
        render(&events),
        "stop:a(budget) a=paused stop:b(budget) b=paused e1=paused budget:e1(per_session) \
         stop:c(budget) c=paused e2=paused budget:e2(per_session)"
    );
    assert_eq!(o.running_count(), 0);
}

#[test]
fn a_task_does_not_start_when_less_than_the_floor_is_left() {
    let mut b = budget(Limit::default(), money(1.0), Limit::default());
    b.floor = money(0.25);
    let mut o = Orchestrator::new(settings(1));
    o.set_budget(b);
    let events = o.handle(Command::Load(execution(
        "e1",
        1,
        vec![node("a", 0, &[]), node("b", 1, &[])],
    )));
    assert_eq!(started(&events), ["a"]);
    report(&mut o, "a", spent(0, 0.8), spent(0, 0.8));
    let events = o.handle(Command::WorkerFinished {
        task: "a".into(),
        result: WorkResult::NoChanges,
    });
    assert_eq!(
        render(&events),
        "a=done finished:a e1=paused budget:e1(per_execution)",
        "0.20 left is below the floor of 0.25"
    );
    assert_eq!(status(&o, "b"), TaskStatus::Ready, "b waits, not failed");
    assert!(!o.is_idle() || o.has_paused_work());
}

#[test]
fn the_warning_comes_once_at_eighty_percent() {
    let mut o = two_running(budget(tokens(1_000), Limit::default(), Limit::default()));
    assert_eq!(report(&mut o, "a", spent(799, 0.0), spent(799, 0.0)), "");
    assert_eq!(
        report(&mut o, "a", spent(850, 0.0), spent(850, 0.0)),
        "warn:e1"
    );
    assert_eq!(report(&mut o, "a", spent(900, 0.0), spent(900, 0.0)), "");
}

#[test]
fn without_a_budget_spending_changes_nothing() {
    let mut o = two_running(Budget::default());
    assert_eq!(
        report(&mut o, "a", spent(u64::MAX, 1e9), spent(u64::MAX, 1e9)),
        ""
    );
    assert_eq!(o.spending(Some("a")).execution, spent(u64::MAX, 1e9));
}

#[test]
fn what_tasks_spent_before_counts_when_their_execution_is_loaded() {
    let mut o = Orchestrator::new(settings(4));
    o.set_budget(budget(Limit::default(), tokens(1_000), Limit::default()));
    let none = o.handle(Command::SpentEarlier {
        task: "a".into(),
        spent: spent(600, 0.0),
    });
    assert!(none.is_empty());
    o.handle(Command::SpentEarlier {
        task: "b".into(),
        spent: spent(400, 0.0),
    });
    let events = o.handle(Command::Load(execution(
        "e1",
        1,
        vec![node("a", 0, &[]), node("b", 1, &[])],
    )));
    assert_eq!(
        render(&events),
        "a=ready b=ready e1=paused budget:e1(per_execution)"
    );
    assert_eq!(o.spending(Some("a")).execution, spent(1_000, 0.0));
}
