//! Receiving mail: check order, who may read, message lifetimes (ttl) and
//! the unread-mail notice appended to a worker's tool results.

use enki_tests::{Project, text_of};
use serde_json::json;

use crate::{
    create_task, first_message_id, mail_setup, message_ids, refused_without_effect, send,
    stored_message, tools_of, worker,
};

#[test]
fn mail_check_lists_unread_by_priority_then_age_without_marking_read() {
    let project = Project::new();
    let mut setup = mail_setup(&project);
    let to = format!("worker/{}", setup.a);
    let low = first_message_id(&send(
        &mut setup.planner,
        &to,
        "low",
        json!({"priority": "low"}),
    ));
    let urgent1 = first_message_id(&send(
        &mut setup.planner,
        &to,
        "urgent 1",
        json!({"priority": "urgent"}),
    ));
    let normal = first_message_id(&send(&mut setup.planner, &to, "normal", json!({})));
    let urgent2 = first_message_id(&send(
        &mut setup.planner,
        &to,
        "urgent 2",
        json!({"priority": "urgent"}),
    ));
    let high = first_message_id(&send(
        &mut setup.planner,
        &to,
        "high",
        json!({"priority": "high"}),
    ));

    let mut a = worker(&project, &setup.a);
    let check = a.call_ok("enki_mail_check", json!({}));
    let order = vec![
        urgent1.clone(),
        urgent2.clone(),
        high.clone(),
        normal.clone(),
        low.clone(),
    ];
    assert_eq!(message_ids(&check), order);
    assert!(
        text_of(&check).starts_with("5 unread"),
        "{}",
        text_of(&check)
    );
    assert_eq!(
        message_ids(&a.call_ok("enki_mail_check", json!({}))),
        order,
        "checking does not mark read"
    );
    assert!(stored_message(&project, &low).read_at.is_none());

    a.call_ok("enki_mail_read", json!({"message_id": urgent1}));
    assert_eq!(
        message_ids(&a.call_ok("enki_mail_check", json!({}))),
        order[1..].to_vec()
    );
    let inbox = a.call_ok("enki_mail_inbox", json!({}));
    assert_eq!(
        message_ids(&inbox),
        vec![high, urgent2, normal, urgent1, low],
        "the inbox lists everything, newest first"
    );
}

#[test]
fn mail_read_marks_read_and_only_the_parties_and_the_planner_may_read() {
    let project = Project::new();
    let mut setup = mail_setup(&project);
    let third = create_task(&mut setup.planner, "worker c");
    let mut a = worker(&project, &setup.a);
    let id = first_message_id(&send(
        &mut a,
        &format!("worker/{}", setup.b),
        "private",
        json!({}),
    ));
    project.clear_signals();

    let mut c = worker(&project, &third);
    let text = c.call_err("enki_mail_read", json!({"message_id": id}));
    assert!(text.contains("not yours"), "{text}");
    let text = c.call_err("enki_mail_thread", json!({"thread_id": id}));
    assert!(text.contains("no messages you may read"), "{text}");

    let by_planner = setup
        .planner
        .call_ok("enki_mail_read", json!({"message_id": id}));
    assert_eq!(by_planner["structuredContent"]["subject"], "private");
    assert!(
        stored_message(&project, &id).read_at.is_none(),
        "the planner reading does not mark it read"
    );
    let by_sender = a.call_ok("enki_mail_read", json!({"message_id": id}));
    assert!(
        by_sender["structuredContent"]["read_at"].is_null(),
        "nor does the sender"
    );

    let mut b = worker(&project, &setup.b);
    let read = b.call_ok(
        "enki_mail_read",
        json!({"message_id": enki_core::id::short(&id)}),
    );
    let text = text_of(&read);
    assert!(
        text.contains("private") && text.contains("body of private"),
        "{text}"
    );
    assert!(read["structuredContent"]["read_at"].is_string());
    assert!(
        stored_message(&project, &id).read_at.is_some(),
        "the recipient reading marks it read"
    );
    assert!(message_ids(&b.call_ok("enki_mail_check", json!({}))).is_empty());
    assert!(project.signals().is_empty(), "reading writes no signal");

    let text = b.call_err("enki_mail_read", json!({"message_id": "msg-01ZZZZZZZZ"}));
    assert!(text.contains("no message matches"), "{text}");
}

#[test]
fn mail_check_and_inbox_need_the_workers_task_id() {
    let project = Project::new();
    let mut setup = mail_setup(&project);
    send(
        &mut setup.planner,
        &format!("worker/{}", setup.a),
        "hello",
        json!({}),
    );
    let mut anonymous = project.mcp(&["--role", "worker"]);
    for tool in ["enki_mail_check", "enki_mail_inbox"] {
        let text = anonymous.call_err(tool, json!({}));
        assert!(
            text.contains("--task-id") && text.contains("worker"),
            "{tool}: {text}"
        );
    }
    // The planner's mailbox needs no task.
    let check = setup.planner.call_ok("enki_mail_check", json!({}));
    assert_eq!(check["structuredContent"]["mailbox"], "coordinator");
    assert_eq!(text_of(&check), "No unread mail for coordinator");
}

/// Waits (polling the store, no fixed sleep) until the message's ttl has
/// passed; the timeout is only a safety net.
fn wait_until_expired(project: &Project, id: &str) {
    let expires = stored_message(project, id)
        .expires_at
        .expect("the message has a ttl");
    project.wait_until("the ttl to pass", || enki_store::now_rfc3339() > expires);
}

#[test]
fn an_expired_message_is_gone_for_check_inbox_read_reply_and_thread() {
    let project = Project::new();
    let mut setup = mail_setup(&project);
    let to = format!("worker/{}", setup.a);
    let expired = first_message_id(&send(
        &mut setup.planner,
        &to,
        "too late",
        json!({"ttl_seconds": 1}),
    ));
    let kept = first_message_id(&send(
        &mut setup.planner,
        &to,
        "still here",
        json!({"ttl_seconds": 3600}),
    ));
    assert!(stored_message(&project, &expired).expires_at.is_some());
    wait_until_expired(&project, &expired);

    let mut a = worker(&project, &setup.a);
    assert_eq!(
        message_ids(&a.call_ok("enki_mail_check", json!({}))),
        vec![kept.clone()]
    );
    assert_eq!(
        message_ids(&a.call_ok("enki_mail_inbox", json!({}))),
        vec![kept.clone()]
    );
    let status = text_of(&a.call_ok("enki_status", json!({})));
    assert!(
        status.ends_with("You have 1 unread message: call enki_mail_check."),
        "{status}"
    );
    project.clear_signals();

    // Reading or answering it: no message matches, and nothing changes.
    for reader in [&mut a, &mut setup.planner] {
        let text = refused_without_effect(
            &project,
            reader,
            "enki_mail_read",
            json!({"message_id": expired}),
        );
        assert!(text.contains("no message matches"), "{text}");
    }
    assert!(
        stored_message(&project, &expired).read_at.is_none(),
        "an expired message is not marked read"
    );
    let text = refused_without_effect(
        &project,
        &mut a,
        "enki_mail_reply",
        json!({"message_id": expired, "body": "sorry, late"}),
    );
    assert!(text.contains("no message matches"), "{text}");
    let text = refused_without_effect(
        &project,
        &mut a,
        "enki_mail_send",
        json!({"to": "coordinator", "subject": "re", "body": "x", "reply_to": expired}),
    );
    assert!(text.contains("no message matches"), "{text}");
    let text = a.call_err("enki_mail_thread", json!({"thread_id": expired}));
    assert!(text.contains("no messages you may read"), "{text}");

    // The live one is untouched.
    a.call_ok("enki_mail_read", json!({"message_id": kept}));
}

#[test]
fn a_ttl_of_zero_is_refused_by_schema_and_validation() {
    let project = Project::new();
    let mut setup = mail_setup(&project);
    let text = refused_without_effect(
        &project,
        &mut setup.planner,
        "enki_mail_send",
        json!({"to": "user", "subject": "s", "body": "b", "ttl_seconds": 0}),
    );
    assert!(text.contains("ttl_seconds"), "{text}");
    let tools = tools_of(&mut setup.planner);
    let send = tools
        .iter()
        .find(|t| t["name"] == "enki_mail_send")
        .expect("listed");
    assert_eq!(
        send["inputSchema"]["properties"]["ttl_seconds"]["minimum"],
        1
    );
}

#[test]
fn the_largest_ttl_keeps_the_message() {
    let project = Project::new();
    let mut setup = mail_setup(&project);
    let to = format!("worker/{}", setup.a);
    let id = first_message_id(&send(
        &mut setup.planner,
        &to,
        "forever",
        json!({"ttl_seconds": u64::MAX}),
    ));
    let mut a = worker(&project, &setup.a);
    assert_eq!(
        message_ids(&a.call_ok("enki_mail_check", json!({}))),
        vec![id]
    );
}

#[test]
fn a_worker_hears_about_unread_mail_until_it_reads_it() {
    let project = Project::new();
    let mut setup = mail_setup(&project);
    let mut a = worker(&project, &setup.a);
    let quiet = text_of(&a.call_ok("enki_status", json!({})));
    assert!(!quiet.contains("unread"), "{quiet}");

    let id = first_message_id(&send(
        &mut setup.planner,
        &format!("worker/{}", setup.a),
        "stop",
        json!({"priority": "urgent"}),
    ));
    let text = text_of(&a.call_ok("enki_status", json!({})));
    let notice = text.lines().last().unwrap_or_default();
    assert!(
        notice.contains("1 unread message") && notice.contains("1 urgent"),
        "{text}"
    );
    assert!(
        text.lines().count() >= 2,
        "the notice is its own line: {text}"
    );
    // Failed calls carry no notice.
    let error = a.call_err("enki_task_show", json!({"task_id": "task-01ZZZZZZZZ"}));
    assert!(!error.contains("unread"), "{error}");

    let read = text_of(&a.call_ok("enki_mail_read", json!({"message_id": id})));
    assert!(!read.contains("unread message"), "{read}");
    let after = text_of(&a.call_ok("enki_status", json!({})));
    assert!(!after.contains("unread"), "{after}");

    // The planner's results never carry it, even with mail for the coordinator.
    send(
        &mut a,
        "coordinator",
        "question",
        json!({"priority": "urgent"}),
    );
    let planner_text = text_of(&setup.planner.call_ok("enki_status", json!({})));
    assert!(
        !planner_text.contains("unread") && !planner_text.contains("[mail]"),
        "{planner_text}"
    );
}
