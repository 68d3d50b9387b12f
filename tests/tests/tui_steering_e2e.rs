//! End to end in a pseudo-terminal: the person steers from the TUI alone.
//! `/cancel` says what it will stop and waits for `y`; Ctrl-C with a typed
//! draft asks first; `r` on a worker's mail in the mail pane answers it,
//! and the worker gets the answer.
// An integration test: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod pty;

use enki_tests::Project;
use pty::{Session, mail_to_worker, start_gated_step};

#[test]
fn cancel_says_what_it_stops_and_only_y_cancels() {
    let project = Project::with_sim("");
    project.gated_script("gate", "never", "g.txt");
    let mut session = start_gated_step(&project);
    project.wait_until("step g running", || project.status_of("g") == "running");
    // The worker row (from the coordinator's progress) and the running
    // step in the tasks pane (from the store): what the question lists.
    session.wait_for("the worker and its step", |s| {
        s.contains("[g] Wait") && s.contains("▶ g Wait")
    });
    session.send(b"/cancel\r");
    session.wait_for("the confirmation", |s| {
        s.contains("Cancel?") && s.contains("Its running workers stop") && s.contains("▶ [g] Wait")
    });
    session.send(b"n");
    session.wait_for("the confirmation gone", |s| !s.contains("Cancel?"));
    assert_eq!(project.status_of("g"), "running", "n cancels nothing");
    session.send(b"/cancel\r");
    session.wait_for("the confirmation again", |s| s.contains("Cancel?"));
    session.send(b"y");
    project.wait_until("step g cancelled", || project.status_of("g") == "cancelled");
    session.send(b"/quit\r");
    let status = session.wait_exit();
    assert!(status.success(), "enki exited with {status:?}");
}

#[test]
fn ctrl_c_with_a_typed_draft_asks_first_and_keeps_it() {
    let project = Project::with_sim("");
    let mut session = Session::start(&project, &[]);
    session.wait_for("the message box", |s| s.contains("Message"));
    session.send(b"half a thought");
    session.wait_for("the draft", |s| s.contains("half a thought"));
    session.send(b"\x03");
    session.wait_for("the question", |s| {
        s.contains("Quit enki?") && s.contains("Your unsent message will be lost")
    });
    session.send(b"n");
    session.wait_for("the question gone", |s| !s.contains("Quit enki?"));
    assert!(
        session.screen().contains("half a thought"),
        "{}",
        session.screen()
    );
    // An empty message box and no workers: Ctrl-C leaves at once.
    session.send(b"\x15\x03");
    let status = session.wait_exit();
    assert!(status.success(), "enki exited with {status:?}");
}

#[test]
fn r_on_a_workers_mail_answers_it_and_the_worker_gets_the_answer() {
    let project = Project::with_sim("");
    project.script(
        "asks",
        r#"[[turn]]
steps = [
  { tool = "enki_mail_send", args = { to = "user", subject = "Which database?", body = "Staging or production?" } },
  { run = "while [ ! -f \"$ENKI_DIR/go\" ]; do sleep 0.02; done" },
  { write = "a.txt", content = "a\n" },
  { say = "[OUTPUT]wrote a.txt[/OUTPUT]" },
]
"#,
    );
    project.script(
        "planner",
        r#"[[turn]]
steps = [
  { tool = "enki_execution_create", args = { title = "Ask", steps = [ { id = "ask", title = "Ask the user", description = "[[sim:asks]]" } ] } },
  { say = "Started." },
]
"#,
    );
    let mut session = Session::start(&project, &[]);
    session.wait_for("the message box", |s| s.contains("Message"));
    session.send(b"ask me something\r");
    // In the mail pane (the chat may tell of it before the pane has it).
    session.wait_for("the worker's mail in the mail pane", |s| {
        s.contains("Mail 1 unread") && s.contains("✉ Which database? ·")
    });
    // Tab five times: the mail pane; r answers the selected message.
    session.send(b"\t\t\t\t\t");
    session.send(b"r");
    session.wait_for("the reply box", |s| s.contains("Reply to"));
    session.send(b"staging, please\r");
    project.wait_until("the answer stored for the worker", || {
        mail_to_worker(&project, "ask")
            .iter()
            .any(|m| m.from == "user" && m.body == "staging, please" && m.reply_to.is_some())
    });
    std::fs::write(project.enki_dir().join("go"), "").unwrap();
    project.wait_until("step ask done", || project.status_of("ask") == "done");
    session.send(b"/quit\r");
    let status = session.wait_exit();
    assert!(status.success(), "enki exited with {status:?}");
}
