//! End to end in a pseudo-terminal, with `[merge] review = "ask"` and the
//! `sim` agent: finished work waits for the person; F3 opens its review
//! (output and diff); `a` lands it, `x` then `y` rejects it (nothing lands,
//! its branch is kept), and text typed while the review is shown sends the
//! worker back for changes, after which the work comes back for review.
// An integration test: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod pty;

use std::time::Duration;

use enki_tests::{Project, git};
use pty::Session;

/// A TUI whose planner starts one step `a` that writes `a.txt` (and, at
/// its session's second turn, `b.txt`), with review before landing.
fn review_session() -> (Project, Session) {
    let project = Project::with_sim("[merge]\nreview = \"ask\"\n");
    project.script(
        "two",
        r#"[[turn]]
steps = [
  { write = "a.txt", content = "a from the worker\n" },
  { say = "[OUTPUT]wrote a.txt[/OUTPUT]" },
]
[[turn]]
steps = [
  { write = "b.txt", content = "b as asked\n" },
  { say = "[OUTPUT]wrote b.txt as asked[/OUTPUT]" },
]
"#,
    );
    project.script(
        "planner",
        r#"[[turn]]
steps = [
  { tool = "enki_execution_create", args = { title = "Reviewed", steps = [ { id = "a", title = "Write a", description = "[[sim:two]]" } ] } },
  { say = "Started." },
]
[[turn]]
steps = [ { say = "Noted." } ]
"#,
    );
    let mut session = Session::start(&project, &[]);
    session.wait_for("the message box", |s| s.contains("Message"));
    session.send(b"write a\r");
    project.wait_until("a awaits review", || {
        project.status_of("a") == "awaiting_review"
    });
    (project, session)
}

/// F3 until the review of `a` shows `what`.
fn open_review(session: &mut Session, what: &str) {
    // The TUI knows of the waiting work (its store snapshot) first.
    session.wait_for("the work awaiting review", |s| {
        s.contains("1 need") && s.contains("⚑ a Write a")
    });
    // The screen that says so may be drawn from a state the TUI has left
    // (work sent back a moment ago shows as waiting until the next
    // snapshot), and F3 with nothing waiting does nothing: it is pressed
    // again until the review opens (a minute in all). F3 on an open review
    // opens the same one.
    for _ in 0..120 {
        session.send(b"\x1bOR"); // F3
        if session.holds_within(Duration::from_millis(500), |s| {
            s.contains("Review [a] Write a") && s.contains(what)
        }) {
            return;
        }
    }
    panic!(
        "the review of a showing {what:?} never opened; the screen:\n{}",
        session.screen()
    );
}

fn on_main(project: &Project, file: &str) -> bool {
    git(&project.root, &["ls-tree", "--name-only", "main"])
        .lines()
        .any(|l| l == file)
}

fn quit(mut session: Session) {
    // Typing from any pane goes to the message box.
    session.send(b"/quit\r");
    let status = session.wait_exit();
    assert!(status.success(), "enki exited with {status:?}");
}

#[test]
fn a_in_the_review_lands_the_work() {
    let (project, mut session) = review_session();
    assert!(!on_main(&project, "a.txt"), "nothing lands before approval");
    open_review(&mut session, "+a from the worker");
    assert!(
        session.screen().contains("wrote a.txt"),
        "{}",
        session.screen()
    );
    session.send(b"a");
    project.wait_until("a done", || project.status_of("a") == "done");
    assert!(on_main(&project, "a.txt"));
    quit(session);
}

#[test]
fn x_then_y_in_the_review_rejects_the_work_and_keeps_its_branch() {
    let (project, mut session) = review_session();
    open_review(&mut session, "+a from the worker");
    session.send(b"x");
    session.wait_for("the question", |s| s.contains("Reject?"));
    session.send(b"y");
    project.wait_until("a failed", || project.status_of("a") == "failed");
    assert!(!on_main(&project, "a.txt"), "rejected work never lands");
    let id = project.task_id("a");
    let branches = git(&project.root, &["branch", "--list", "enki/*"]);
    assert!(branches.contains(&id), "the branch is kept: {branches}");
    quit(session);
}

#[test]
fn text_typed_in_the_review_sends_the_worker_back_and_the_work_returns() {
    let (project, mut session) = review_session();
    open_review(&mut session, "+a from the worker");
    // Shift-Tab: the message box; what is typed there asks for changes.
    session.send(b"\x1b[Z");
    session.wait_for("the changes box", |s| s.contains("Changes for [a]"));
    session.send(b"also write b\r");
    project.wait_until("a back for review in round 2", || {
        let task = project.task_by_step("a");
        task["status"] == "awaiting_review" && task["round"] == 2
    });
    open_review(&mut session, "A b.txt");
    session.send(b"a");
    project.wait_until("a done", || project.status_of("a") == "done");
    assert!(on_main(&project, "a.txt") && on_main(&project, "b.txt"));
    quit(session);
}
