//! Behaviour of the store as a whole, against a real SQLite file.

use enki_core::id::short;
use enki_core::mail::{MailKind, Priority};
use enki_core::{Condition, ExecutionStatus, IdKind, TaskStatus};

use crate::{MailFilter, NeedTarget, NewMessage, NewNeed, NewStep, Store, StoreError, TaskFilter};

fn store() -> (tempfile::TempDir, Store) {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(&tmp.path().join("db.sqlite")).unwrap();
    (tmp, store)
}

fn step(id: &str, needs: &[(&str, Condition)]) -> NewStep {
    step_with(
        id,
        needs.iter().map(|(n, c)| NewNeed::step(*n, *c)).collect(),
    )
}

fn step_with(id: &str, needs: Vec<NewNeed>) -> NewStep {
    NewStep::new(id, format!("step {id}")).needing(needs)
}

fn on_task(task: &str, condition: Condition) -> NewNeed {
    NewNeed::task(task, condition)
}

fn on_step(step: &str) -> NewNeed {
    NewNeed::step(step, Condition::Merged)
}

fn status(store: &Store, id: &str) -> TaskStatus {
    store.task(id).expect("read").expect("exists").status
}

fn message(to: &str, subject: &str, ttl: Option<u64>) -> NewMessage {
    NewMessage {
        session: None,
        from: "coordinator".into(),
        to: vec![to.into()],
        subject: subject.into(),
        body: "b".into(),
        priority: Priority::Normal,
        kind: MailKind::Info,
        thread_id: None,
        reply_to: None,
        reply_status: None,
        ttl_seconds: ttl,
    }
}

/// Moves a message's expiry into the past (no waiting on the clock).
fn expire(store: &Store, id: &str) {
    store
        .connection()
        .execute(
            "UPDATE messages SET expires_at = '2000-01-01T00:00:00.000000Z' WHERE id = ?1",
            [id],
        )
        .expect("expire");
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
fn step_names_resolve_where_they_are_unambiguous() {
    let (_tmp, mut store) = store();
    let first = store
        .create_execution(None, "one", false, &[step("mul", &[]), step("add", &[])])
        .unwrap();
    let mul = first.steps[0].1.clone();
    assert_eq!(store.resolve_task("mul").unwrap(), mul);
    let execution = first.execution_id.clone();
    let second = store
        .create_execution(None, "two", false, &[step("mul", &[])])
        .unwrap();
    let err = store.resolve_task("mul").unwrap_err().to_string();
    assert!(err.contains("several executions"), "{err}");
    assert!(err.contains(&format!("{}:mul", short(&execution))), "{err}");
    assert!(
        err.contains(&format!("{}:mul", short(&second.execution_id))),
        "{err}"
    );
    // EXECUTION:step picks one, with a prefix of the execution id.
    assert_eq!(
        store
            .resolve_task(&format!("{}:mul", short(&execution)))
            .unwrap(),
        mul
    );
    assert_eq!(
        store
            .resolve_task(&format!("{}:mul", second.execution_id))
            .unwrap(),
        second.steps[0].1
    );
    let err = store
        .resolve_task(&format!("{execution}:div"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("has no step 'div'"), "{err}");
    let err = store.resolve_task("nope").unwrap_err().to_string();
    assert!(err.contains("no task matches 'nope'"), "{err}");
    assert!(store.resolve_task("nope").unwrap_err().is_caller_error());
    // Ids still come first.
    assert_eq!(store.resolve_task(&mul[..20]).unwrap(), mul);
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
fn a_failed_execution_whose_blocked_step_is_cancelled_is_done() {
    // The engine agrees (`steering::a_failed_execution_whose_blocked_step_is_cancelled_is_done`).
    let (_tmp, mut store) = store();
    let first = store
        .create_execution(None, "x", true, &[step("task", &[])])
        .unwrap();
    let x = first.steps[0].1.clone();
    store.set_task_status(&x, TaskStatus::Failed).unwrap();
    let second = store
        .create_execution(
            None,
            "y",
            false,
            &[
                step_with("c", vec![on_task(&x, Condition::Merged)]),
                step("d", &[]),
            ],
        )
        .unwrap();
    store
        .set_task_status(&second.steps[1].1, TaskStatus::Done)
        .unwrap();
    let execution = |store: &Store| store.execution(&second.execution_id).unwrap().unwrap();
    assert_eq!(execution(&store).status, ExecutionStatus::Failed);
    store.cancel(&second.execution_id, Some("c")).unwrap();
    assert_eq!(execution(&store).status, ExecutionStatus::Done);
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

#[test]
fn needs_are_resolved_before_the_new_rows_exist() {
    let (_tmp, mut store) = store();
    // Every task id starts with `task-0` today; the new task must not
    // be a candidate for its own needs.
    let err = store
        .create_execution(
            None,
            "t",
            true,
            &[step_with(
                "task",
                vec![on_task("task-0", Condition::Merged)],
            )],
        )
        .expect_err("nothing matches in an empty database");
    assert_eq!(
        err.to_string(),
        "needs task 'task-0': no task matches 'task-0'"
    );
    let err = store
        .create_execution(
            None,
            "x",
            false,
            &[step_with("a", vec![on_task("task-0", Condition::Merged)])],
        )
        .expect_err("nothing matches");
    assert_eq!(
        err.to_string(),
        "step 'a' needs task 'task-0': no task matches 'task-0'"
    );
    assert!(
        store.executions(None).expect("list").is_empty(),
        "all or nothing"
    );

    let only = store
        .create_execution(None, "one", true, &[step_with("task", vec![])])
        .expect("create");
    let created = store
        .create_execution(
            None,
            "two",
            true,
            &[step_with(
                "task",
                vec![on_task("task-0", Condition::Merged)],
            )],
        )
        .expect("the one existing task matches");
    let deps = store.dependencies_of(&created.steps[0].1).expect("deps");
    assert_eq!(deps.len(), 1);
    assert_eq!(deps[0].needs_task_id, only.steps[0].1);
}

#[test]
fn new_steps_that_cannot_run_start_blocked_and_retry_unblocks_them() {
    let (_tmp, mut store) = store();
    let base = store
        .create_execution(
            None,
            "base",
            false,
            &[step_with("f", vec![]), step_with("d", vec![])],
        )
        .expect("create");
    let (failed, done) = (base.steps[0].1.clone(), base.steps[1].1.clone());
    store
        .set_task_status(&failed, TaskStatus::Failed)
        .expect("fail");
    store
        .set_task_status(&done, TaskStatus::Done)
        .expect("done");

    let created = store
        .create_execution(
            None,
            "plan",
            false,
            &[
                step_with("a", vec![on_task(&failed, Condition::Started)]),
                step_with("b", vec![on_step("a")]),
                step_with("c", vec![on_task(&done, Condition::Merged)]),
            ],
        )
        .expect("create");
    let id = |s: &str| {
        created
            .steps
            .iter()
            .find(|(step, _)| step == s)
            .map(|(_, t)| t.clone())
            .expect("step")
    };
    assert_eq!(status(&store, &id("a")), TaskStatus::Blocked);
    assert_eq!(status(&store, &id("b")), TaskStatus::Blocked);
    assert_eq!(status(&store, &id("c")), TaskStatus::Pending);
    assert_eq!(
        created.blocked,
        vec![
            ("a".to_string(), format!("needs {failed}, which is failed")),
            (
                "b".to_string(),
                "needs step 'a', which is blocked".to_string()
            ),
        ]
    );
    let events = store.task_events(&id("a"), 0, None).expect("events");
    assert_eq!(events[0].kind, "created");
    assert_eq!(events[0].data["status"], "blocked");
    assert_eq!(events[0].data["reason"], created.blocked[0].1.as_str());

    // Everything blocked: the execution has nothing that can run.
    let stuck = store
        .create_execution(
            None,
            "stuck",
            true,
            &[step_with("task", vec![on_task(&failed, Condition::Merged)])],
        )
        .expect("create");
    assert_eq!(
        store
            .execution(&stuck.execution_id)
            .expect("read")
            .expect("exists")
            .status,
        ExecutionStatus::Failed
    );

    let changed = store.retry_task(&failed).expect("retry");
    assert!(changed.contains(&id("a")) && changed.contains(&id("b")));
    assert!(changed.contains(&stuck.steps[0].1));
    assert_eq!(status(&store, &id("a")), TaskStatus::Pending);
    assert_eq!(
        store
            .execution(&stuck.execution_id)
            .expect("read")
            .expect("exists")
            .status,
        ExecutionStatus::Running
    );

    // Added steps that need a failed step start blocked as well.
    store
        .set_task_status(&id("c"), TaskStatus::Failed)
        .expect("fail");
    let added = store
        .add_steps(
            None,
            &created.execution_id,
            &[step_with("e", vec![on_step("c")])],
        )
        .expect("add");
    assert_eq!(status(&store, &added.steps[0].1), TaskStatus::Blocked);
    assert_eq!(added.blocked.len(), 1);
}

#[test]
fn a_message_whose_ttl_passed_unread_is_gone_but_one_read_in_time_stays() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let mut store = Store::open(&tmp.path().join("db.sqlite")).expect("open");
    let dropped = store
        .send_mail(&message("worker/t", "dropped", Some(60)))
        .expect("send")
        .remove(0);
    let read = store
        .send_mail(&message("worker/t", "read in time", Some(60)))
        .expect("send")
        .remove(0);
    store.mark_read(&read.id).expect("read");
    expire(&store, &dropped.id);
    expire(&store, &read.id);

    let err = store.resolve_live_message(&dropped.id).expect_err("gone");
    assert!(err.to_string().contains("no message matches"), "{err}");
    assert_eq!(store.resolve_live_message(&read.id).expect("live"), read.id);
    assert_eq!(
        store.resolve_message(&dropped.id).expect("kept"),
        dropped.id
    );

    let inbox: Vec<String> = store
        .messages(&MailFilter {
            to: Some("worker/t".into()),
            ..MailFilter::default()
        })
        .expect("inbox")
        .into_iter()
        .map(|m| m.subject)
        .collect();
    assert_eq!(inbox, ["read in time"]);
    assert_eq!(store.thread(&dropped.thread_id).expect("thread").len(), 0);
    assert_eq!(store.thread(&read.thread_id).expect("thread").len(), 1);

    let mut reply = message("worker/t", "re", None);
    reply.reply_to = Some(dropped.id.clone());
    let err = store.send_mail(&reply).expect_err("nothing to reply to");
    assert!(err.to_string().contains("no message matches"), "{err}");
    reply.reply_to = Some(read.id.clone());
    assert_eq!(
        store.send_mail(&reply).expect("reply")[0].thread_id,
        read.thread_id
    );
}

#[test]
fn ids_complete_from_what_was_typed_newest_first() {
    let (_tmp, mut store) = store();
    let created = store
        .create_execution(None, "x", false, &[step("a", &[]), step("b", &[])])
        .unwrap();
    let mut all: Vec<String> = created.steps.iter().map(|(_, id)| id.clone()).collect();
    all.sort();
    all.reverse();
    for typed in ["", "t", "TA", "task-"] {
        let (ids, more) = store.ids_starting_with(IdKind::Task, typed, 10).unwrap();
        assert_eq!((ids, more), (all.clone(), false), "typed {typed:?}");
    }
    let (one, more) = store.ids_starting_with(IdKind::Task, "", 1).unwrap();
    assert_eq!((one, more), (vec![all[0].clone()], true));
    let typed = all[1][..22].to_lowercase();
    let (ids, _) = store.ids_starting_with(IdKind::Task, &typed, 10).unwrap();
    assert!(ids.contains(&all[1]), "{typed}: {ids:?}");
    let (none, _) = store
        .ids_starting_with(IdKind::Task, "task-!!", 10)
        .unwrap();
    assert!(none.is_empty());
    let (execs, _) = store.ids_starting_with(IdKind::Execution, "", 10).unwrap();
    assert_eq!(execs, vec![created.execution_id]);
}

/// `enki_status`'s counts, for one session and for every session (each
/// scope has a statement of its own).
#[test]
fn status_counts_cover_one_session_or_all_of_them() {
    let (_tmp, mut store) = store();
    store.ensure_session("s1").unwrap();
    store.ensure_session("s2").unwrap();
    for (session, title) in [(Some("s1"), "a"), (Some("s1"), "b"), (Some("s2"), "c")] {
        store
            .create_execution(session, title, true, &[step("task", &[])])
            .unwrap();
    }
    store
        .create_execution(None, "d", false, &[step("x", &[]), step("y", &[])])
        .unwrap();
    let one = store.status_counts(Some("s1")).unwrap();
    assert_eq!((one.total, one.executions_active), (2, 2));
    assert_eq!(one.by_status.get("pending"), Some(&2));
    let all = store.status_counts(None).unwrap();
    assert_eq!((all.total, all.executions_active), (5, 4));
    assert_eq!(all.by_status.values().sum::<i64>(), 5);
    assert_eq!(store.status_counts(Some("nobody")).unwrap().total, 0);
}

#[test]
fn an_attempts_acp_session_is_kept_per_attempt_with_its_outcome() {
    let (_tmp, mut store) = store();
    let created = store
        .create_execution(None, "x", true, &[step("a", &[])])
        .unwrap();
    let task = created.steps[0].1.clone();
    assert_eq!(store.start_attempt(&task).unwrap(), 1);
    store.set_attempt_session(&task, "sess-1", "sim").unwrap();
    store
        .end_attempt(&task, "interrupted", Some("the coordinator stopped"))
        .unwrap();
    assert_eq!(store.start_attempt(&task).unwrap(), 2);
    let attempts = store.attempts_of(&task).unwrap();
    let first = &attempts[0];
    assert_eq!(
        (first.session.as_deref(), first.agent.as_deref()),
        (Some("sess-1"), Some("sim"))
    );
    assert_eq!(first.outcome.as_deref(), Some("interrupted"));
    assert_eq!(first.round, 1);
    // The running attempt has none yet.
    assert_eq!(attempts[1].session, None);
    store.set_attempt_session(&task, "sess-1", "sim").unwrap();
    store.end_attempt(&task, "succeeded", None).unwrap();
    let second = &store.attempts_of(&task).unwrap()[1];
    assert_eq!(
        (second.session.as_deref(), second.outcome.as_deref()),
        (Some("sess-1"), Some("succeeded"))
    );
}

/// `status_counts` (kept by triggers) holds exactly what counting the
/// tables gives, through creation, status changes, adoption into another
/// session and a cancel.
#[test]
fn the_kept_status_counts_equal_a_fresh_count_after_every_kind_of_change() {
    fn assert_exact(store: &Store, after: &str) {
        let rows = |sql: &str| -> Vec<(String, String, String, i64)> {
            let mut stmt = store.connection().prepare(sql).unwrap();
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap()
        };
        let kept = rows(
            "SELECT session_id, kind, status, n FROM status_counts WHERE n <> 0 ORDER BY 1, 2, 3",
        );
        let counted = rows(
            "SELECT coalesce(session_id, ''), 'task', status, count(*) FROM tasks GROUP BY 1, 3
             UNION ALL
             SELECT coalesce(session_id, ''), 'execution', status, count(*) FROM executions GROUP BY 1, 3
             ORDER BY 1, 2, 3",
        );
        assert_eq!(kept, counted, "after {after}");
    }
    let (_tmp, mut store) = store();
    store.ensure_session("s1").unwrap();
    let plan = [step("a", &[]), step("b", &[("a", Condition::Merged)])];
    let first = store
        .create_execution(Some("s1"), "one", false, &plan)
        .unwrap();
    let second = store
        .create_execution(None, "two", true, &[step("x", &[])])
        .unwrap();
    assert_exact(&store, "creating");
    let a = first.steps[0].1.clone();
    store.start_attempt(&a).unwrap();
    store.set_task_status(&a, TaskStatus::Failed).unwrap();
    assert_exact(&store, "a failure");
    store.retry_task(&a).unwrap();
    assert_exact(&store, "a retry");
    store.adopt_unfinished("s2").unwrap();
    assert_exact(&store, "adoption into s2");
    store.cancel(&second.execution_id, None).unwrap();
    assert_exact(&store, "a cancel");
    let all = store.status_counts(None).unwrap();
    assert_eq!((all.total, all.executions_active), (3, 1));
    assert_eq!(store.status_counts(Some("s1")).unwrap().total, 0);
}
