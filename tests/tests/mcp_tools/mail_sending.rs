//! Sending mail: addresses and id prefixes, the `@workers` fan-out, replies
//! and threads, and the mail signal each message writes.

use enki_core::TaskStatus;
use enki_tests::{Project, text_of};
use serde_json::json;

use crate::{
    assert_envelope, create_task, first_message_id, mail_setup, message_ids, only_signal,
    refused_without_effect, send, set_status, stored_message, worker,
};

#[test]
fn the_planner_mails_a_worker_by_id_prefix() {
    let project = Project::new();
    let mut setup = mail_setup(&project);
    let prefix = enki_core::id::short(&setup.a).to_string();
    let result = send(
        &mut setup.planner,
        &format!("worker/{prefix}"),
        "hello",
        json!({"priority": "high", "kind": "request"}),
    );
    let id = first_message_id(&result);
    let row = stored_message(&project, &id);
    assert_eq!(
        row.to,
        format!("worker/{}", setup.a),
        "the prefix is resolved to the full id"
    );
    assert_eq!(row.from, "coordinator");
    assert_eq!(
        (row.priority.as_str(), row.kind.as_str()),
        ("high", "request")
    );
    assert_eq!(row.thread_id, id, "a new message starts its thread");
    assert_eq!(result["structuredContent"]["thread_id"], id.as_str());

    let signal = only_signal(&project);
    assert_envelope(&signal, "mail", "planner", None);
    assert_eq!(signal["message_id"], id.as_str());
    assert_eq!(signal["from"]["address"], "coordinator", "{signal}");
    assert!(signal.get("mail_from").is_none(), "{signal}");
    assert_eq!(signal["to"], format!("worker/{}", setup.a));
    assert_eq!(signal["subject"], "hello");
    assert_eq!(signal["priority"], "high");

    let mut a = worker(&project, &setup.a);
    let inbox = a.call_ok("enki_mail_inbox", json!({}));
    assert_eq!(message_ids(&inbox), vec![id]);
    let mut b = worker(&project, &setup.b);
    assert!(
        message_ids(&b.call_ok("enki_mail_inbox", json!({}))).is_empty(),
        "b got nothing"
    );
}

#[test]
fn a_worker_mails_the_coordinator_and_the_user() {
    let project = Project::new();
    let mut setup = mail_setup(&project);
    let mut a = worker(&project, &setup.a);

    let to_coordinator = first_message_id(&send(&mut a, "coordinator", "question", json!({})));
    let row = stored_message(&project, &to_coordinator);
    assert_eq!(
        (row.from.as_str(), row.to.as_str()),
        (format!("worker/{}", setup.a).as_str(), "coordinator")
    );
    let signal = only_signal(&project);
    assert_envelope(&signal, "mail", "worker", Some(&setup.a));
    assert_eq!(signal["from"]["address"], format!("worker/{}", setup.a));
    assert_eq!(signal["to"], "coordinator");
    project.clear_signals();

    let to_user = first_message_id(&send(&mut a, "user", "fyi", json!({"priority": "low"})));
    assert_eq!(stored_message(&project, &to_user).to, "user");
    assert_eq!(only_signal(&project)["to"], "user");

    let planner_inbox = setup.planner.call_ok("enki_mail_inbox", json!({}));
    assert_eq!(
        message_ids(&planner_inbox),
        vec![to_coordinator],
        "the user's mail is not the planner's"
    );
    assert_eq!(planner_inbox["structuredContent"]["mailbox"], "coordinator");
}

#[test]
fn mail_to_workers_fans_out_to_running_workers_only() {
    let project = Project::new();
    let mut setup = mail_setup(&project);
    let idle = create_task(&mut setup.planner, "idle");
    project.clear_signals();

    let text = refused_without_effect(
        &project,
        &mut setup.planner,
        "enki_mail_send",
        json!({"to": "@workers", "subject": "all", "body": "x"}),
    );
    assert!(text.contains("no worker is running"), "{text}");

    set_status(&project, &setup.a, TaskStatus::Running);
    set_status(&project, &setup.b, TaskStatus::Running);
    let result = send(
        &mut setup.planner,
        "@workers",
        "all hands",
        json!({"priority": "urgent"}),
    );
    let ids: Vec<String> = result["structuredContent"]["message_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 2);
    let mut recipients: Vec<String> = ids
        .iter()
        .map(|id| stored_message(&project, id).to)
        .collect();
    recipients.sort();
    let mut expected = vec![format!("worker/{}", setup.a), format!("worker/{}", setup.b)];
    expected.sort();
    assert_eq!(recipients, expected);
    assert!(!recipients.contains(&format!("worker/{idle}")));
    let threads: Vec<String> = ids
        .iter()
        .map(|id| stored_message(&project, id).thread_id)
        .collect();
    assert_eq!(threads[0], threads[1], "a fan-out shares one thread");
    let signals = project.signals();
    assert_eq!(signals.len(), 2, "one mail signal per message");
    assert!(
        signals
            .iter()
            .all(|s| s["type"] == "mail" && s["priority"] == "urgent")
    );
    project.clear_signals();

    // A running worker's @workers mail reaches the others, not itself.
    let mut a = worker(&project, &setup.a);
    let result = send(&mut a, "@workers", "from a", json!({}));
    let id = first_message_id(&result);
    assert_eq!(
        result["structuredContent"]["message_ids"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        stored_message(&project, &id).to,
        format!("worker/{}", setup.b)
    );
}

#[test]
fn a_reply_stays_in_the_thread_and_goes_back_to_the_sender() {
    let project = Project::new();
    let mut setup = mail_setup(&project);
    let request = first_message_id(&send(
        &mut setup.planner,
        &format!("worker/{}", setup.a),
        "can you",
        json!({"kind": "request", "priority": "high"}),
    ));
    project.clear_signals();

    let mut a = worker(&project, &setup.a);
    let result = a.call_ok(
        "enki_mail_reply",
        json!({"message_id": request, "body": "on it", "status": "accepted"}),
    );
    let reply_id = result["structuredContent"]["message_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(result["structuredContent"]["thread_id"], request.as_str());
    assert_eq!(result["structuredContent"]["to"], "coordinator");
    let reply = stored_message(&project, &reply_id);
    assert_eq!(reply.thread_id, request);
    assert_eq!(reply.reply_to.as_deref(), Some(request.as_str()));
    assert_eq!(reply.reply_status.as_deref(), Some("accepted"));
    assert_eq!(
        (reply.from.as_str(), reply.to.as_str()),
        (format!("worker/{}", setup.a).as_str(), "coordinator")
    );
    assert_eq!(reply.subject, "Re: can you");
    let signal = only_signal(&project);
    assert_envelope(&signal, "mail", "worker", Some(&setup.a));
    assert_eq!(signal["message_id"], reply_id.as_str());
    assert_eq!(signal["from"]["address"], format!("worker/{}", setup.a));
    assert_eq!(signal["to"], "coordinator");

    // The planner answers the reply: back to the worker, same thread.
    let back = setup.planner.call_ok(
        "enki_mail_reply",
        json!({"message_id": reply_id, "body": "thanks", "status": "completed"}),
    );
    let back_id = back["structuredContent"]["message_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        back["structuredContent"]["to"],
        format!("worker/{}", setup.a)
    );
    assert_eq!(
        stored_message(&project, &back_id).subject,
        "Re: can you",
        "no Re: Re:"
    );

    let thread = a.call_ok("enki_mail_thread", json!({"thread_id": request}));
    assert_eq!(
        message_ids(&thread),
        vec![request.clone(), reply_id, back_id],
        "oldest first"
    );
    let text = text_of(&thread);
    assert!(text.contains("on it") && text.contains("thanks"), "{text}");

    // An explicit thread_id continues the thread too.
    let more = send(
        &mut setup.planner,
        &format!("worker/{}", setup.a),
        "also",
        json!({"thread_id": request}),
    );
    assert_eq!(more["structuredContent"]["thread_id"], request.as_str());
    assert_eq!(
        stored_message(&project, &first_message_id(&more)).thread_id,
        request
    );

    let text = a.call_err(
        "enki_mail_reply",
        json!({"message_id": request, "body": "x", "status": "maybe"}),
    );
    assert!(
        text.contains("status") && text.contains("accepted"),
        "{text}"
    );
    let text = a.call_err("enki_mail_thread", json!({"thread_id": "msg-01ZZZZZZZZ"}));
    assert!(text.contains("no message matches"), "{text}");
}

#[test]
fn a_bad_address_names_the_expected_forms() {
    let project = Project::new();
    let mut setup = mail_setup(&project);
    for bad in ["planner", "worker/", "workers", "worker/not an id"] {
        let text = refused_without_effect(
            &project,
            &mut setup.planner,
            "enki_mail_send",
            json!({"to": bad, "subject": "s", "body": "b"}),
        );
        assert!(text.contains("to"), "{bad}: {text}");
        for form in ["coordinator", "user", "@workers", "worker/<task id>"] {
            assert!(text.contains(form), "{bad}: lists {form}: {text}");
        }
    }
    let text = refused_without_effect(
        &project,
        &mut setup.planner,
        "enki_mail_send",
        json!({"to": "worker/task-01ZZZZZZZZZZ", "subject": "s", "body": "b"}),
    );
    assert!(text.contains("no task matches"), "{text}");
    let text = refused_without_effect(
        &project,
        &mut setup.planner,
        "enki_mail_send",
        json!({"to": "user", "subject": "s", "body": "b", "priority": "asap"}),
    );
    assert!(
        text.contains("priority") && text.contains("urgent"),
        "{text}"
    );
    let text = refused_without_effect(
        &project,
        &mut setup.planner,
        "enki_mail_send",
        json!({"to": "user", "body": "b"}),
    );
    assert!(text.contains("subject"), "{text}");
}
