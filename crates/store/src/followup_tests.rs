//! Follow-up rounds as the store keeps them: who may get one, what it
//! changes, and landed work recognised per round.

use enki_core::{Condition, ExecutionStatus, MergeStatus, TaskStatus};

use crate::{NewNeed, NewStep, Store};

/// `a`, `b` needs a (merged), `c` needs b (merged), `w` needs a (merged)
/// and `x` (which never finishes), in one execution; returns the ids.
fn world() -> (tempfile::TempDir, Store, String, [String; 5]) {
    let tmp = tempfile::tempdir().unwrap();
    let mut store = Store::open(&tmp.path().join("db.sqlite")).unwrap();
    let merged = |step: &str| NewNeed::step(step, Condition::Merged);
    let created = store
        .create_execution(
            None,
            "e",
            false,
            &[
                NewStep::new("a", "step a"),
                NewStep::new("b", "step b").needing(vec![merged("a")]),
                NewStep::new("c", "step c").needing(vec![merged("b")]),
                NewStep::new("x", "step x"),
                NewStep::new("w", "step w").needing(vec![merged("a"), merged("x")]),
            ],
        )
        .unwrap();
    let id = |step: &str| {
        created
            .steps
            .iter()
            .find(|(s, _)| s == step)
            .map(|(_, id)| id.clone())
            .unwrap()
    };
    let ids = [id("a"), id("b"), id("c"), id("x"), id("w")];
    (tmp, store, created.execution_id, ids)
}

fn status(store: &Store, id: &str) -> TaskStatus {
    store.task(id).unwrap().unwrap().status
}

#[test]
fn a_done_task_runs_again_as_its_next_round_and_dependents_keep_what_they_did() {
    let (_tmp, mut store, execution, [a, b, c, x, _w]) = world();
    for task in [&a, &b, &c, &x] {
        store.set_task_status(task, TaskStatus::Done).unwrap();
    }
    store.set_task_status(&x, TaskStatus::Running).unwrap();
    store.set_task_status(&c, TaskStatus::Running).unwrap();
    let attempt = store.start_attempt(&a).unwrap();
    store.set_attempt_session(&a, "sess-1", "sim").unwrap();
    store.end_attempt(&a, "succeeded", None).unwrap();
    store.set_task_status(&a, TaskStatus::Done).unwrap();

    let followed = store
        .follow_up_task(&a, "  also handle negatives \n")
        .unwrap();
    assert_eq!(followed.round, 2);
    assert!(
        !followed.reopened,
        "x still runs, the execution never finished"
    );
    let steps = |list: &[crate::Dependent]| {
        list.iter()
            .map(|d| format!("{}:{}", d.step_id, d.status))
            .collect::<Vec<_>>()
    };
    assert_eq!(steps(&followed.ran), ["b:done", "c:running"]);
    assert_eq!(steps(&followed.waiting), ["w:pending"]);

    let task = store.task(&a).unwrap().unwrap();
    assert_eq!(task.status, TaskStatus::Pending);
    assert_eq!((task.round, task.failures), (2, 0));
    assert_eq!(task.followup.as_deref(), Some("also handle negatives"));
    assert_eq!(task.finished_at, None);
    assert_eq!(status(&store, &b), TaskStatus::Done);
    assert_eq!(status(&store, &c), TaskStatus::Running);
    assert_eq!(
        store.follow_ups(&a).unwrap(),
        ["also handle negatives".to_string()]
    );
    // The next attempt belongs to round 2; the earlier one keeps its session.
    assert_eq!(store.start_attempt(&a).unwrap(), attempt + 1);
    let attempts = store.attempts_of(&a).unwrap();
    assert_eq!(
        attempts
            .iter()
            .map(|t| (t.round, t.session.as_deref()))
            .collect::<Vec<_>>(),
        [(1, Some("sess-1")), (2, None)]
    );
    assert_eq!(
        store.execution(&execution).unwrap().unwrap().status,
        ExecutionStatus::Running
    );
}

#[test]
fn a_follow_up_reopens_a_finished_execution() {
    let (_tmp, mut store, execution, ids) = world();
    for task in &ids {
        store.set_task_status(task, TaskStatus::Done).unwrap();
    }
    assert_eq!(
        store.execution(&execution).unwrap().unwrap().status,
        ExecutionStatus::Done
    );
    let followed = store.follow_up_task(&ids[0], "more").unwrap();
    assert!(followed.reopened);
    assert_eq!(followed.waiting, []);
    assert_eq!(
        store.execution(&execution).unwrap().unwrap().status,
        ExecutionStatus::Running
    );
    // A second round is counted on top of the first follow-up.
    store.set_task_status(&ids[0], TaskStatus::Done).unwrap();
    assert_eq!(store.follow_up_task(&ids[0], "again").unwrap().round, 3);
    assert_eq!(store.follow_ups(&ids[0]).unwrap(), ["more", "again"]);
}

#[test]
fn only_a_done_task_of_an_execution_not_cancelled_gets_a_follow_up() {
    let (_tmp, mut store, execution, [a, b, _c, _x, _w]) = world();
    let refused =
        |store: &mut Store, task: &str| store.follow_up_task(task, "more").unwrap_err().to_string();
    assert!(refused(&mut store, &a).contains("pending, not done yet"));
    store.set_task_status(&a, TaskStatus::WorkerDone).unwrap();
    assert!(refused(&mut store, &a).contains("merge queue"));
    store.set_task_status(&a, TaskStatus::Failed).unwrap();
    let failed = refused(&mut store, &a);
    assert!(
        failed.contains("cannot get a follow-up: it is failed") && failed.contains("enki retry"),
        "{failed}"
    );
    store.set_task_status(&a, TaskStatus::Done).unwrap();
    let empty = store.follow_up_task(&a, " \n ").unwrap_err().to_string();
    assert!(empty.contains("empty"), "{empty}");
    store.cancel(&execution, None).unwrap();
    assert!(refused(&mut store, &a).contains("execution was cancelled"));
    assert!(refused(&mut store, &b).contains("execution was cancelled"));
    // Nothing changed on a refusal.
    let task = store.task(&a).unwrap().unwrap();
    assert_eq!((task.status, task.round), (TaskStatus::Done, 1));
    assert_eq!(store.follow_ups(&a).unwrap(), Vec::<String>::new());
}

#[test]
fn landed_work_is_recognised_per_round() {
    let (_tmp, mut store, _execution, [a, ..]) = world();
    let first = store.enqueue_merge(&a, "enki/a", Some("main")).unwrap();
    assert_eq!(first.round, 1);
    store.record_landed(&first.id, Some("c1")).unwrap();
    store.set_task_status(&a, TaskStatus::Done).unwrap();
    assert_eq!(store.landed_request(&a).unwrap().unwrap().id, first.id);

    store.follow_up_task(&a, "more").unwrap();
    // Round 1's landing is not round 2's.
    assert_eq!(store.landed_request(&a).unwrap(), None);
    let second = store.enqueue_merge(&a, "enki/a", Some("main")).unwrap();
    assert_eq!((second.round, second.status), (2, MergeStatus::Queued));
    assert_eq!(store.landed_request(&a).unwrap(), None);
    store.record_landed(&second.id, Some("c2")).unwrap();
    let landed = store.landed_request(&a).unwrap().unwrap();
    assert_eq!(
        (landed.id, landed.merged_commit.as_deref()),
        (second.id, Some("c2"))
    );
}
