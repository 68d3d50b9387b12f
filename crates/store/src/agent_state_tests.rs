//! Agent states as the store keeps and shows them, and the questions a
//! worker waits on.

use enki_core::mail::{MailKind, Priority};
use enki_core::{AgentState, TaskStatus};

use crate::{NewMessage, NewStep, Store};

fn one_task() -> (tempfile::TempDir, Store, String) {
    let tmp = tempfile::tempdir().unwrap();
    let mut store = Store::open(&tmp.path().join("db.sqlite")).unwrap();
    let created = store
        .create_execution(None, "one", true, &[NewStep::new("a", "step a")])
        .unwrap();
    let task = created.steps[0].1.clone();
    (tmp, store, task)
}

fn shown(store: &Store, task: &str) -> (AgentState, Option<String>) {
    let row = store.task(task).unwrap().unwrap();
    assert!(row.agent_state_since.is_some());
    (row.agent_state, row.agent_state_reason)
}

fn mail(from: &str, to: &str, kind: MailKind, reply_to: Option<String>) -> NewMessage {
    NewMessage {
        session: None,
        from: from.into(),
        to: vec![to.into()],
        subject: format!("from {from}"),
        body: "b".into(),
        priority: Priority::Normal,
        kind,
        thread_id: None,
        reply_to,
        reply_status: None,
        ttl_seconds: None,
    }
}

#[test]
fn a_running_task_shows_its_live_state_and_a_stopped_one_its_status() {
    let (_tmp, mut store, task) = one_task();
    assert_eq!(
        shown(&store, &task),
        (AgentState::Idle, Some("waiting for what it needs".into()))
    );
    store.start_attempt(&task).unwrap();
    assert_eq!(
        shown(&store, &task),
        (AgentState::Idle, Some("starting".into()))
    );
    store
        .set_agent_state(&task, AgentState::WaitingPermission, Some("Edit a.txt"))
        .unwrap();
    assert_eq!(
        shown(&store, &task),
        (AgentState::WaitingPermission, Some("Edit a.txt".into()))
    );
    // A stall counts as a failure; the task shows its status once stopped.
    store
        .end_attempt(&task, "stalled", Some("stalled: no progress for 1 s"))
        .unwrap();
    store
        .set_attempt_last_message(&task, 1, "Running the tests")
        .unwrap();
    store
        .record_status(
            &task,
            TaskStatus::Running,
            TaskStatus::Failed,
            Some("stalled"),
        )
        .unwrap();
    assert_eq!(
        shown(&store, &task),
        (
            AgentState::Failed,
            Some("stalled: no progress for 1 s".into())
        )
    );
    let row = store.task(&task).unwrap().unwrap();
    assert_eq!(row.failures, 1);
    let attempts = store.attempts_of(&task).unwrap();
    assert_eq!(attempts[0].outcome.as_deref(), Some("stalled"));
    assert_eq!(
        attempts[0].last_message.as_deref(),
        Some("Running the tests")
    );
    // A late judgement of a worker that no longer runs changes nothing.
    store
        .set_agent_state(&task, AgentState::Working, None)
        .unwrap();
    assert_eq!(shown(&store, &task).0, AgentState::Failed);
    // Each judgement of the running worker is in its history.
    let states: Vec<_> = store
        .task_events(&task, 0, None)
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "agent_state")
        .map(|e| e.data)
        .collect();
    assert_eq!(
        states,
        [serde_json::json!({"state": "waiting_permission", "reason": "Edit a.txt"})]
    );
    // The next attempt starts afresh.
    store.start_attempt(&task).unwrap();
    assert_eq!(
        shown(&store, &task),
        (AgentState::Idle, Some("starting".into()))
    );
}

#[test]
fn a_question_is_open_until_an_answer_comes_in_its_thread() {
    let (_tmp, mut store, task) = one_task();
    let since = store.task(&task).unwrap().unwrap().created_at;
    let worker = format!("worker/{task}");
    // Information and mail to other workers ask nothing.
    store
        .send_mail(&mail(&worker, "user", MailKind::Info, None))
        .unwrap();
    assert!(store.open_questions(&task, &since).unwrap().is_empty());
    let to_user = store
        .send_mail(&mail(&worker, "user", MailKind::Request, None))
        .unwrap();
    let to_planner = store
        .send_mail(&mail(&worker, "coordinator", MailKind::Request, None))
        .unwrap();
    let open = store.open_questions(&task, &since).unwrap();
    assert_eq!(open.len(), 2);
    // Questions of an earlier attempt are not waited on.
    assert!(
        store
            .open_questions(&task, "9999-01-01T00:00:00.000000Z")
            .unwrap()
            .is_empty()
    );
    // An answer to the worker in the thread closes the question.
    store
        .send_mail(&mail(
            "user",
            &worker,
            MailKind::Info,
            Some(to_user[0].id.clone()),
        ))
        .unwrap();
    let open = store.open_questions(&task, &since).unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].id, to_planner[0].id);
    // An expired question is no longer waited on.
    store
        .connection()
        .execute(
            "UPDATE messages SET expires_at = '2000-01-01T00:00:00.000000Z' WHERE id = ?1",
            [&to_planner[0].id],
        )
        .unwrap();
    assert!(store.open_questions(&task, &since).unwrap().is_empty());
}
