//! Agents held by a limit of their account: the task whose worker met it
//! goes back to ready without a failure, no task of that agent starts until
//! it is free, and other agents' tasks go on.

use super::*;

fn limited(agent: &str, task: Option<&str>) -> Command {
    Command::AgentLimited {
        agent: agent.into(),
        task: task.map(Into::into),
        reason: "waiting for the limit".into(),
    }
}

fn of_agent(id: &str, index: i64, agent: &str) -> NodeSnapshot {
    NodeSnapshot {
        agent: agent.into(),
        ..node(id, index, &[])
    }
}

#[test]
fn a_limit_never_fails_a_task_even_with_no_retries_left() {
    let mut o = Orchestrator::new(Settings {
        retries: 0,
        ..settings(4)
    });
    let events = o.handle(Command::Load(execution("e1", 1, vec![node("a", 0, &[])])));
    assert_eq!(render(&events), "a=ready a=running start:a#1");
    for _ in 0..3 {
        let events = o.handle(limited("agent", Some("a")));
        assert_eq!(render(&events), "a=ready", "held: not started again");
        assert_eq!(o.graph().failures("a"), Some(0));
        assert!(!o.is_idle(), "the task waits: a headless run waits with it");
        assert_eq!(o.held_agents(), ["agent"]);
        let events = o.handle(Command::AgentFree {
            agent: "agent".into(),
        });
        assert_eq!(render(&events), "a=running start:a#1", "no attempt spent");
    }
    let events = o.handle(Command::WorkerFinished {
        task: "a".into(),
        result: WorkResult::NoChanges,
    });
    assert_eq!(render(&events), "a=done finished:a e1=done");
}

#[test]
fn other_agents_tasks_start_while_one_agent_is_held() {
    let mut o = Orchestrator::new(settings(1));
    // Held before anything loads (a restart reads the hold from the store).
    o.handle(limited("claude", None));
    let events = o.handle(Command::Load(execution(
        "e1",
        1,
        vec![
            of_agent("c1", 0, "claude"),
            of_agent("c2", 1, "claude"),
            of_agent("x", 2, "codex"),
        ],
    )));
    assert_eq!(
        started(&events),
        ["x"],
        "the held agent's tasks take no slot"
    );
    let events = o.handle(Command::WorkerFinished {
        task: "x".into(),
        result: WorkResult::NoChanges,
    });
    assert!(started(&events).is_empty(), "{}", render(&events));
    assert_eq!(status(&o, "c1"), TaskStatus::Ready);
    let events = o.handle(Command::AgentFree {
        agent: "claude".into(),
    });
    assert_eq!(started(&events), ["c1"], "in step order, within the limits");
    assert!(o.held_agents().is_empty());
}

#[test]
fn a_limit_met_by_a_task_no_longer_running_changes_nothing_of_it() {
    let mut o = fan_out();
    o.handle(Command::Cancel {
        execution: "e1".into(),
        step: Some("a".into()),
    });
    let events = o.handle(limited("agent", Some("a")));
    assert_eq!(render(&events), "");
    assert_eq!(status(&o, "a"), TaskStatus::Cancelled);
}

#[test]
fn a_task_sent_back_to_ready_no_longer_satisfies_started_edges() {
    let mut o = Orchestrator::new(settings(1));
    o.handle(Command::Load(execution(
        "e1",
        1,
        vec![node("a", 0, &[]), node("d", 1, &[("a", Started)])],
    )));
    assert_eq!(status(&o, "d"), TaskStatus::Ready);
    let events = o.handle(limited("agent", Some("a")));
    assert_eq!(render(&events), "a=ready d=pending");
}
