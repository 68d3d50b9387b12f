//! Posting into a thread: `reply_to` and `thread_id` must name a
//! conversation the caller can read, else the send is refused unwritten.

use enki_tests::Project;
use serde_json::json;

use crate::{first_message_id, mail_setup, refused_without_effect, send, stored_message, worker};

#[test]
fn a_worker_cannot_post_into_another_workers_thread() {
    let project = Project::new();
    let mut setup = mail_setup(&project);
    let to_a = first_message_id(&send(
        &mut setup.planner,
        &format!("worker/{}", setup.a),
        "for a only",
        json!({}),
    ));
    let mut b = worker(&project, &setup.b);
    for (field, tool_args) in [
        ("reply_to", json!({"reply_to": to_a})),
        ("thread_id", json!({"thread_id": to_a})),
    ] {
        let mut arguments = json!({"to": "coordinator", "subject": "sneaky", "body": "x"});
        if let (Some(map), Some(more)) = (arguments.as_object_mut(), tool_args.as_object()) {
            map.extend(more.clone());
        }
        let text = refused_without_effect(&project, &mut b, "enki_mail_send", arguments);
        assert!(text.contains(&format!("`{field}`")), "{text}");
        assert!(
            text.contains("not yours") || text.contains("may read"),
            "{text}"
        );
    }

    // The recipient may carry on its own thread, by either field.
    let mut a = worker(&project, &setup.a);
    for extra in [json!({"reply_to": to_a}), json!({"thread_id": to_a})] {
        let sent = first_message_id(&send(&mut a, "coordinator", "answer", extra));
        assert_eq!(
            stored_message(&project, &sent).thread_id,
            stored_message(&project, &to_a).thread_id
        );
    }
}
