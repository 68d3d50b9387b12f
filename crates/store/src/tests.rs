//! Behaviour of the store as a whole, against a real SQLite file.

use enki_core::mail::{MailKind, Priority};
use enki_core::{Condition, ExecutionStatus, TaskStatus, Tier};

use crate::{MailFilter, NeedTarget, NewMessage, NewNeed, NewStep, Store, StoreError, TaskFilter};

fn store() -> (tempfile::TempDir, Store) {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(&tmp.path().join("db.sqlite")).unwrap();
    (tmp, store)
}

fn step(id: &str, needs: &[(&str, Condition)]) -> NewStep {
    NewStep {
        step_id: id.into(),
        title: format!("step {id}"),
        description: String::new(),
        tier: Tier::Standard,
        role: None,
        checkpoint: false,
        needs: needs
            .iter()
            .map(|(n, c)| NewNeed {
                target: NeedTarget::Step((*n).into()),
                condition: *c,
            })
            .collect(),
    }
}

fn count(store: &Store, table: &str) -> i64 {
    store
        .connection()
        .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

#[test]
fn an_execution_is_written_with_its_steps_edges_and_conditions() {
    let (_tmp, mut store) = store();
    let mut b = step("b", &[("a", Condition::Completed)]);
    b.checkpoint = true;
    b.role = Some("researcher".into());
    let created = store
        .create_execution(Some("sess-1"), "demo", false, &[step("a", &[]), b])
        .unwrap();
    assert_eq!(created.steps.len(), 2);
    let (_, b_id) = &created.steps[1];
    let task = store.task(b_id).unwrap().unwrap();
    assert!(task.checkpoint);
    assert_eq!(task.role.as_deref(), Some("researcher"));
    assert_eq!(task.status, TaskStatus::Pending);
    assert_eq!(task.session_id.as_deref(), Some("sess-1"));
    let deps = store.dependencies_of(b_id).unwrap();
    assert_eq!(deps.len(), 1);
    assert_eq!(deps[0].condition, Condition::Completed);
    assert_eq!(deps[0].needs_step_id, "a");
    assert!(!deps[0].satisfied);
    let execution = store.execution(&created.execution_id).unwrap().unwrap();
    assert_eq!(execution.status, ExecutionStatus::Running);
}

#[test]
fn a_bad_reference_writes_nothing() {
    let (_tmp, mut store) = store();
    let mut bad = step("b", &[]);
    bad.needs.push(NewNeed {
        target: NeedTarget::Task("task-01ZZZZ".into()),
        condition: Condition::Merged,
    });
    let err = store
        .create_execution(None, "x", false, &[step("a", &[]), bad])
        .unwrap_err();
    assert!(err.is_caller_error(), "{err}");
    assert!(err.to_string().contains("task-01ZZZZ"), "{err}");
    assert_eq!(count(&store, "executions"), 0);
    assert_eq!(count(&store, "tasks"), 0);
    assert_eq!(count(&store, "task_events"), 0);
}

#[test]
fn edges_cross_executions_and_prefixes_resolve() {
    let (_tmp, mut store) = store();
    let first = store
        .create_execution(None, "one", true, &[step("a", &[])])
        .unwrap();
    let a_id = first.steps[0].1.clone();
    let mut b = step("b", &[]);
    b.needs.push(NewNeed {
        target: NeedTarget::Task(a_id[..20].to_lowercase()),
        condition: Condition::Started,
    });
    let second = store.create_execution(None, "two", false, &[b]).unwrap();
    let deps = store.dependencies_of(&second.steps[0].1).unwrap();
    assert_eq!(deps[0].needs_task_id, a_id);
    assert_eq!(store.resolve_task(&a_id[..20]).unwrap(), a_id);
}

#[test]
fn ambiguous_prefixes_list_their_candidates() {
    let (_tmp, mut store) = store();
    let created = store
        .create_execution(None, "x", false, &[step("a", &[]), step("b", &[])])
        .unwrap();
    let err = store.resolve_task("task-").unwrap_err();
    assert!(matches!(err, StoreError::Id(_)));
    let err = store.resolve_task("0").unwrap_err().to_string();
    assert!(err.contains("ambiguous"), "{err}");
    for (_, id) in &created.steps {
        assert!(err.contains(id.as_str()), "{err}");
    }
}

#[test]
fn cancel_cascades_to_transitive_dependents_and_retry_unblocks() {
    let (_tmp, mut store) = store();
    let created = store
        .create_execution(
            None,
            "x",
            false,
            &[
                step("a", &[]),
                step("b", &[("a", Condition::Merged)]),
                step("c", &[("b", Condition::Merged)]),
                step("d", &[]),
            ],
        )
        .unwrap();
    let id = |s: &str| {
        created
            .steps
            .iter()
            .find(|(n, _)| n == s)
            .unwrap()
            .1
            .clone()
    };
    let cancelled = store.cancel(&created.execution_id, Some("b")).unwrap();
    assert_eq!(cancelled.len(), 2);
    assert!(cancelled.contains(&id("b")) && cancelled.contains(&id("c")));
    assert_eq!(
        store.task(&id("a")).unwrap().unwrap().status,
        TaskStatus::Pending
    );

    // A failed task blocks its dependents; retry brings both back.
    store.set_task_status(&id("a"), TaskStatus::Failed).unwrap();
    store
        .set_task_status(&id("d"), TaskStatus::Blocked)
        .unwrap();
    let err = store.retry_task(&id("c")).unwrap_err();
    assert!(err.to_string().contains("only failed or blocked"), "{err}");
    let changed = store.retry_task(&id("a")).unwrap();
    assert_eq!(changed, vec![id("a")]);
    assert_eq!(
        store.task(&id("a")).unwrap().unwrap().status,
        TaskStatus::Pending
    );
}

#[test]
fn cancel_does_not_cascade_through_landed_work() {
    let (_tmp, mut store) = store();
    let first = store
        .create_execution(
            None,
            "x",
            false,
            &[step("a", &[]), step("b", &[("a", Condition::Merged)])],
        )
        .unwrap();
    let (a, b) = (first.steps[0].1.clone(), first.steps[1].1.clone());
    store.set_task_status(&a, TaskStatus::Done).unwrap();
    let mut x = step("x", &[]);
    x.needs.push(NewNeed {
        target: NeedTarget::Task(a.clone()),
        condition: Condition::Merged,
    });
    let second = store.create_execution(None, "y", false, &[x]).unwrap();
    let x = second.steps[0].1.clone();

    let err = store.cancel(&first.execution_id, Some("a")).unwrap_err();
    assert!(err.to_string().contains("step 'a' is done"), "{err}");
    let cancelled = store.cancel(&first.execution_id, None).unwrap();
    assert_eq!(cancelled, vec![b.clone()]);
    assert_eq!(store.task(&a).unwrap().unwrap().status, TaskStatus::Done);
    assert_eq!(store.task(&x).unwrap().unwrap().status, TaskStatus::Pending);
    let err = store.cancel(&first.execution_id, None).unwrap_err();
    assert!(err.to_string().contains("nothing to cancel"), "{err}");
}

#[test]
fn a_task_of_a_cancelled_execution_cannot_be_retried() {
    let (_tmp, mut store) = store();
    let created = store
        .create_execution(None, "x", false, &[step("a", &[]), step("b", &[])])
        .unwrap();
    let a = created.steps[0].1.clone();
    store.set_task_status(&a, TaskStatus::Failed).unwrap();
    store.cancel(&created.execution_id, None).unwrap();
    let err = store.retry_task(&a).unwrap_err();
    assert!(err.is_caller_error(), "{err}");
    assert!(err.to_string().contains("which is cancelled"), "{err}");
    assert_eq!(store.task(&a).unwrap().unwrap().status, TaskStatus::Failed);
}

#[test]
fn pause_resume_and_stop_all() {
    let (_tmp, mut store) = store();
    let created = store
        .create_execution(Some("s"), "x", false, &[step("a", &[]), step("b", &[])])
        .unwrap();
    let exec = created.execution_id.clone();
    store.pause(&exec, Some("a")).unwrap();
    assert_eq!(
        store.task(&created.steps[0].1).unwrap().unwrap().status,
        TaskStatus::Paused
    );
    assert!(store.pause(&exec, Some("a")).is_err(), "already paused");
    assert!(
        store
            .pause(&exec, Some("zz"))
            .unwrap_err()
            .to_string()
            .contains("no step 'zz'")
    );
    store.resume(&exec, Some("a")).unwrap();
    assert_eq!(store.pause_all(Some("s")).unwrap(), vec![exec.clone()]);
    assert_eq!(
        store.execution(&exec).unwrap().unwrap().status,
        ExecutionStatus::Paused
    );
    store.resume(&exec, None).unwrap();
    assert_eq!(
        store.execution(&exec).unwrap().unwrap().status,
        ExecutionStatus::Running
    );
    store.cancel(&exec, None).unwrap();
    assert_eq!(
        store.execution(&exec).unwrap().unwrap().status,
        ExecutionStatus::Cancelled
    );
    assert!(store.resume(&exec, None).is_err());
}

#[test]
fn add_steps_may_need_existing_steps_and_rejects_reused_ids() {
    let (_tmp, mut store) = store();
    let created = store
        .create_execution(None, "x", false, &[step("a", &[])])
        .unwrap();
    let added = store
        .add_steps(
            None,
            &created.execution_id,
            &[step("b", &[("a", Condition::Merged)])],
        )
        .unwrap();
    let b = store.task(&added.steps[0].1).unwrap().unwrap();
    assert_eq!(b.step_index, 1);
    assert_eq!(store.dependencies_of(&b.id).unwrap()[0].needs_step_id, "a");
    let err = store
        .add_steps(None, &created.execution_id, &[step("a", &[])])
        .unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
    assert_eq!(store.tasks(&TaskFilter::default()).unwrap().len(), 2);
}

#[test]
fn mail_is_listed_by_priority_then_age_and_threads() {
    let (_tmp, mut store) = store();
    let mut msg = NewMessage {
        session: None,
        from: "coordinator".into(),
        to: vec!["worker/task-1".into()],
        subject: "low".into(),
        body: "b".into(),
        priority: Priority::Low,
        kind: MailKind::Info,
        thread_id: None,
        reply_to: None,
        reply_status: None,
        ttl_seconds: None,
    };
    let low = store.send_mail(&msg).unwrap().remove(0);
    msg.subject = "urgent".into();
    msg.priority = Priority::Urgent;
    store.send_mail(&msg).unwrap();
    msg.subject = "expired".into();
    msg.ttl_seconds = Some(0);
    store.send_mail(&msg).unwrap();
    let unread = store
        .messages(&MailFilter {
            to: Some("worker/task-1".into()),
            unread_only: true,
            ..MailFilter::default()
        })
        .unwrap();
    let subjects: Vec<_> = unread.iter().map(|m| m.subject.as_str()).collect();
    assert_eq!(subjects, ["urgent", "low"]);
    assert_eq!(store.unread_counts("worker/task-1").unwrap(), (2, 1));
    store.mark_read(&low.id).unwrap();
    assert_eq!(store.unread_counts("worker/task-1").unwrap(), (1, 1));

    let reply = NewMessage {
        from: "worker/task-1".into(),
        to: vec!["coordinator".into()],
        subject: "Re: low".into(),
        reply_to: Some(low.id.clone()),
        ttl_seconds: None,
        ..msg.clone()
    };
    let reply = store.send_mail(&reply).unwrap().remove(0);
    assert_eq!(reply.thread_id, low.thread_id);
    assert_eq!(store.thread(&low.thread_id).unwrap().len(), 2);
}

#[test]
fn concurrent_writers_on_separate_connections_all_land() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("db.sqlite");
    Store::open(&path).unwrap();
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let path = path.clone();
            std::thread::spawn(move || {
                let mut store = Store::open(&path).unwrap();
                for j in 0..20 {
                    store
                        .create_execution(None, &format!("{i}-{j}"), true, &[step("a", &[])])
                        .unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(count(&store, "tasks"), 160);
}
