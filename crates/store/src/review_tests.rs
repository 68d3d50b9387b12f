//! Review decisions as the store keeps them: only work awaiting review is
//! approved or rejected, approval queues it, rejection fails it with the
//! note, and "request changes" is a follow-up that remembers where it came
//! from.

use enki_core::{Condition, ExecutionStatus, TaskStatus};

use crate::{Decision, NewNeed, NewStep, Store};

/// `a` and `b` (needs a, merged) in one execution; returns their ids.
fn world() -> (tempfile::TempDir, Store, String, String, String) {
    let tmp = tempfile::tempdir().unwrap();
    let mut store = Store::open(&tmp.path().join("db.sqlite")).unwrap();
    let created = store
        .create_execution(
            None,
            "e",
            false,
            &[
                NewStep::new("a", "step a"),
                NewStep::new("b", "step b").needing(vec![NewNeed::step("a", Condition::Merged)]),
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
    let (a, b) = (id("a"), id("b"));
    (tmp, store, created.execution_id, a, b)
}

#[test]
fn only_work_awaiting_review_is_approved_and_approval_queues_it_once() {
    let (_tmp, mut store, _execution, a, _b) = world();
    let refused = store.approve_task(&a).unwrap_err().to_string();
    assert!(
        refused.contains("cannot be reviewed: it is pending, not awaiting_review"),
        "{refused}"
    );
    assert_eq!(store.last_review(&a).unwrap(), None);

    store
        .set_task_status(&a, TaskStatus::AwaitingReview)
        .unwrap();
    let awaiting = store.awaiting_review(None).unwrap();
    assert_eq!(awaiting.len(), 1);
    assert_eq!(awaiting[0].id, a);
    let approved = store.approve_task(&a).unwrap();
    assert_eq!(approved.status, TaskStatus::WorkerDone);
    let record = store.last_review(&a).unwrap().unwrap();
    assert_eq!((record.decision, record.round), (Decision::Approved, 1));
    assert!(store.awaiting_review(None).unwrap().is_empty());
    // A second approval is refused: it waits in the merge queue already.
    let again = store.approve_task(&a).unwrap_err().to_string();
    assert!(again.contains("merge queue"), "{again}");
    assert!(store.reject_task(&a, None).is_err());
}

#[test]
fn a_rejected_task_fails_with_the_note_and_its_execution_settles() {
    let (_tmp, mut store, execution, a, b) = world();
    store.set_task_status(&b, TaskStatus::Cancelled).unwrap();
    store
        .set_task_status(&a, TaskStatus::AwaitingReview)
        .unwrap();
    let rejected = store.reject_task(&a, Some("  tests missing  ")).unwrap();
    assert_eq!(rejected.status, TaskStatus::Failed);
    assert_eq!(
        rejected.last_error.as_deref(),
        Some("rejected in review: tests missing")
    );
    let record = store.last_review(&a).unwrap().unwrap();
    assert_eq!(record.decision, Decision::Rejected);
    assert_eq!(record.note.as_deref(), Some("tests missing"));
    assert_eq!(
        store.execution(&execution).unwrap().unwrap().status,
        ExecutionStatus::Failed
    );
    // It may be retried like any failed task.
    store.retry_task(&a).unwrap();
    assert_eq!(store.task(&a).unwrap().unwrap().status, TaskStatus::Pending);
}

#[test]
fn a_cancelled_execution_is_not_reviewed() {
    let (_tmp, mut store, execution, a, _b) = world();
    store
        .set_task_status(&a, TaskStatus::AwaitingReview)
        .unwrap();
    store.cancel(&execution, None).unwrap();
    let status = store.task(&a).unwrap().unwrap().status;
    assert_eq!(status, TaskStatus::Cancelled, "a cancel reaches it");
    assert!(store.approve_task(&a).is_err());
}

#[test]
fn requesting_changes_is_a_follow_up_that_remembers_the_review() {
    let (_tmp, mut store, _execution, a, _b) = world();
    store
        .set_task_status(&a, TaskStatus::AwaitingReview)
        .unwrap();
    let followed = store.follow_up_task(&a, "add a test").unwrap();
    assert_eq!(
        (followed.round, followed.from),
        (2, TaskStatus::AwaitingReview)
    );
    assert_eq!(store.task(&a).unwrap().unwrap().status, TaskStatus::Pending);
    assert!(store.round_follows_review(&a, 2).unwrap());
    assert!(!store.round_follows_review(&a, 1).unwrap());
    // A follow-up of a done task is not one.
    store.set_task_status(&a, TaskStatus::Done).unwrap();
    store.follow_up_task(&a, "more").unwrap();
    assert!(!store.round_follows_review(&a, 3).unwrap());
}
