//! Mail listings and single messages.

use enki_core::id::short;
use enki_store::MessageRow;

use crate::format::{clip, columns, short_address, timestamp};

/// Longest subject a listing prints before cutting it.
const LIST_SUBJECT_MAX: usize = 72;

fn read_state(message: &MessageRow) -> &'static str {
    if message.read_at.is_some() {
        "(read)"
    } else {
        "(unread)"
    }
}

/// One aligned line per message: short id, priority, `from -> to`, subject,
/// `(unread)`/`(read)`, when it was sent. `no messages` when empty.
pub fn mail_list_text(messages: &[MessageRow]) -> String {
    if messages.is_empty() {
        return "no messages".to_string();
    }
    let rows: Vec<Vec<String>> = messages
        .iter()
        .map(|m| {
            vec![
                short(&m.id).to_string(),
                m.priority.clone(),
                format!("{} -> {}", short_address(&m.from), short_address(&m.to)),
                clip(&m.subject, LIST_SUBJECT_MAX),
                read_state(m).to_string(),
                timestamp(&m.created_at),
            ]
        })
        .collect();
    columns(&rows).join("\n")
}

/// One message in full: headers, thread, reply status, then the body.
pub fn message_text(message: &MessageRow) -> String {
    let mut fields: Vec<Vec<String>> = Vec::new();
    let mut field = |name: &str, value: String| fields.push(vec![format!("{name}:"), value]);
    field("from", message.from.clone());
    field("to", message.to.clone());
    field("subject", message.subject.clone());
    field(
        "priority",
        format!("{} · kind: {}", message.priority, message.kind),
    );
    field("sent", timestamp(&message.created_at));
    if message.thread_id == message.id {
        field("thread", format!("{} (starts it)", message.thread_id));
    } else {
        field("thread", message.thread_id.clone());
    }
    if let Some(reply_to) = &message.reply_to {
        field("reply to", reply_to.clone());
    }
    if let Some(status) = &message.reply_status {
        field("reply status", status.clone());
    }
    if let Some(expires) = &message.expires_at {
        field("expires", timestamp(expires));
    }
    field(
        "read",
        match &message.read_at {
            Some(at) => timestamp(at),
            None => "unread".to_string(),
        },
    );
    let mut out = vec![format!("message {}", message.id)];
    out.extend(columns(&fields).into_iter().map(|l| format!("  {l}")));
    out.push(String::new());
    out.push(message.body.trim_end().to_string());
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{T, message};

    #[test]
    fn empty_listing_says_so() {
        assert_eq!(mail_list_text(&[]), "no messages");
    }

    #[test]
    fn listing_has_one_aligned_line_per_message() {
        let unread = message('A', "coordinator", "need the API\nspec");
        let mut read = message('B', "user", "done");
        read.priority = "low".to_string();
        read.from = "coordinator".to_string();
        read.read_at = Some(T.to_string());
        let text = mail_list_text(&[unread, read]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            vec![
                "msg-01JAAAAAAAAAAA  high  worker/task-01JAAAAAAAAAAW -> coordinator  need the API spec  (unread)  2025-01-02 10:03:04 UTC",
                "msg-01JAAAAAAAAAAB  low   coordinator -> user                        done               (read)    2025-01-02 10:03:04 UTC",
            ]
        );
    }

    #[test]
    fn a_message_shows_headers_thread_reply_and_body() {
        let mut reply = message('C', "coordinator", "re: need the API spec");
        reply.thread_id = "msg-01JAAAAAAAAAAAZZZZZZZZZZZZ".to_string();
        reply.reply_to = Some("msg-01JAAAAAAAAAAAZZZZZZZZZZZZ".to_string());
        reply.reply_status = Some("accepted".to_string());
        let text = message_text(&reply);
        for expected in [
            "message msg-01JAAAAAAAAAACZZZZZZZZZZZZ",
            "from:          worker/task-01JAAAAAAAAAAWZZZZZZZZZZZZ",
            "to:            coordinator",
            "subject:       re: need the API spec",
            "priority:      high · kind: request",
            "sent:          2025-01-02 10:03:04 UTC",
            "thread:        msg-01JAAAAAAAAAAAZZZZZZZZZZZZ",
            "reply to:      msg-01JAAAAAAAAAAAZZZZZZZZZZZZ",
            "reply status:  accepted",
            "read:          unread",
            "\n\nline one\nline two",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in\n{text}");
        }
        let first = message('A', "user", "hi");
        assert!(message_text(&first).contains("(starts it)"));
    }
}
