//! A merger's resolution held for review, as the store keeps it: holding
//! moves the request and its task to `awaiting_review` together (only for
//! a landing task whose request is queued), and each decision ends the
//! hold in its own transaction: approval queues the same request with its
//! commit, rejection and requested changes fail it.

use enki_core::{MergeStatus, TaskStatus};

use crate::{MergeRequestRow, NewStep, Store};

/// One landing task (`worker_done`) with a queued merge request.
fn landing() -> (tempfile::TempDir, Store, String, MergeRequestRow) {
    let tmp = tempfile::tempdir().unwrap();
    let mut store = Store::open(&tmp.path().join("db.sqlite")).unwrap();
    let created = store
        .create_execution(None, "e", false, &[NewStep::new("a", "step a")])
        .unwrap();
    let a = created.steps[0].1.clone();
    store.set_task_status(&a, TaskStatus::WorkerDone).unwrap();
    let request = store.enqueue_merge(&a, "enki/a", Some("main")).unwrap();
    (tmp, store, a, request)
}

fn hold(store: &mut Store, request: &MergeRequestRow) {
    let task = store
        .hold_resolution(&request.id, "c0ffee", "ba5e")
        .unwrap();
    assert_eq!(task.status, TaskStatus::AwaitingReview);
}

#[test]
fn holding_moves_request_and_task_together_and_leaves_the_queue() {
    let (_tmp, mut store, a, request) = landing();
    hold(&mut store, &request);
    let held = store.held_resolution(&a).unwrap().unwrap();
    assert_eq!(held.id, request.id);
    assert_eq!(held.status, MergeStatus::AwaitingReview);
    assert_eq!(
        (held.held_commit.as_deref(), held.held_base.as_deref()),
        (Some("c0ffee"), Some("ba5e"))
    );
    assert!(
        store.pending_merges().unwrap().is_empty(),
        "not in the queue"
    );
    assert_eq!(store.awaiting_review(None).unwrap()[0].id, a);
    // Held once: a second hold is refused, saying why.
    let again = store
        .hold_resolution(&request.id, "c0ffee", "ba5e")
        .unwrap_err()
        .to_string();
    assert!(again.contains("cannot wait for review"), "{again}");
}

#[test]
fn only_a_landing_task_with_a_queued_request_is_held() {
    let (_tmp, mut store, a, request) = landing();
    store.set_task_status(&a, TaskStatus::Cancelled).unwrap();
    let refused = store
        .hold_resolution(&request.id, "c0ffee", "ba5e")
        .unwrap_err()
        .to_string();
    assert!(refused.contains("the task is cancelled"), "{refused}");
    assert!(store.held_resolution(&a).unwrap().is_none());
    let missing = store.hold_resolution("mr-none", "c", "b").unwrap_err();
    assert!(missing.to_string().contains("no merge request mr-none"));
}

#[test]
fn approval_queues_the_same_request_with_its_commit() {
    let (_tmp, mut store, a, request) = landing();
    hold(&mut store, &request);
    let approved = store.approve_task(&a).unwrap();
    assert_eq!(approved.status, TaskStatus::WorkerDone);
    assert!(store.held_resolution(&a).unwrap().is_none());
    let queued = store.pending_merges().unwrap();
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].id, request.id);
    assert_eq!(queued[0].status, MergeStatus::Queued);
    assert_eq!(queued[0].held_commit.as_deref(), Some("c0ffee"));
    let review = store.task_events(&a, 0, None).unwrap();
    let review = review.iter().rev().find(|e| e.kind == "review").unwrap();
    assert_eq!(review.data["resolution"], true);
}

#[test]
fn rejection_and_requested_changes_fail_the_held_request() {
    let (_tmp, mut store, a, request) = landing();
    hold(&mut store, &request);
    store.reject_task(&a, Some("no")).unwrap();
    let ended = &store.merge_requests_for(&a).unwrap()[0];
    assert_eq!(ended.status, MergeStatus::Failed);
    assert!(
        ended
            .reason
            .as_deref()
            .unwrap()
            .contains("rejected in review"),
        "{ended:?}"
    );
    assert!(store.pending_merges().unwrap().is_empty());

    let (_tmp, mut store, a, request) = landing();
    hold(&mut store, &request);
    let followed = store.follow_up_task(&a, "keep both lines").unwrap();
    assert_eq!(followed.from, TaskStatus::AwaitingReview);
    let ended = &store.merge_requests_for(&a).unwrap()[0];
    assert_eq!(ended.status, MergeStatus::Failed);
    assert!(
        ended
            .reason
            .as_deref()
            .unwrap()
            .contains("round 2 comes back"),
        "{ended:?}"
    );
    // The next round queues a request of its own.
    store.set_task_status(&a, TaskStatus::WorkerDone).unwrap();
    let next = store.enqueue_merge(&a, "enki/a", Some("main")).unwrap();
    assert_eq!((next.round, next.status), (2, MergeStatus::Queued));
}
