//! The person steering from the TUI: F3 to what waits for them, the
//! questions before cancel, stop and Ctrl-C, and mail to workers (typed in
//! a transcript, or `r` on a message).
// An integration test: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use common::{
    busy_app, key, key_with, notice, permission_ask, store_ops, submit, task_id, type_text,
};
use enki_tui::msg::{Effect, Msg, Op};
use enki_tui::state::{App, Focus, Overlay, View};
use enki_tui::update::update;
use ratatui::crossterm::event::{KeyCode, KeyModifiers};

#[test]
fn f3_goes_to_what_waits_for_the_person_in_turn() {
    use enki_core::AgentState;
    let mut app = busy_app();
    // busy_app: the docs worker waits for the user.
    let waiting = app.waiting_for_you();
    assert_eq!(waiting.len(), 1, "{waiting:?}");
    update(&mut app, Msg::Permission(permission_ask()));
    assert_eq!(app.needs_you(), 2);
    // A permission first: F3 opens the prompt.
    key(&mut app, KeyCode::F(3));
    assert!(app.prompt_open);
    key(&mut app, KeyCode::Char('y'));
    assert!(app.permissions.is_empty());
    // Then the worker waiting for an answer: its transcript.
    key(&mut app, KeyCode::F(3));
    assert_eq!(app.view, View::Transcript(waiting[0].clone()));
    assert_eq!(app.focus, Focus::Main);
    // Once it works again, only the unread mail for the user is left.
    let task = waiting[0].clone();
    update(
        &mut app,
        Msg::Progress(enki_coordinator::Progress::AgentState {
            task,
            state: AgentState::Working,
            reason: None,
        }),
    );
    assert_eq!(app.needs_you(), 0);
    key(&mut app, KeyCode::F(3));
    assert_eq!(app.focus, Focus::Mail);
}

#[test]
fn cancel_and_stop_say_what_they_affect_and_wait_for_yes() {
    let mut app = busy_app();
    // No: nothing is sent.
    assert!(store_ops(&submit(&mut app, "/cancel api")).is_empty());
    let Some(Overlay::Confirm { title, lines, .. }) = app.overlay.clone() else {
        panic!("no question: {:?}", app.overlay);
    };
    assert_eq!(title, "Cancel?");
    let text = lines.join("\n");
    assert!(
        text.contains("Cancels step api of \"Add a greeting API\""),
        "{text}"
    );
    assert!(text.contains("▶ [api] Implement GET /hello"), "{text}");
    assert!(!text.contains("[docs]"), "only the step's worker: {text}");
    assert!(store_ops(&key(&mut app, KeyCode::Char('n'))).is_empty());
    assert_eq!(app.overlay, None);
    // Stop lists every running worker.
    submit(&mut app, "/stop");
    let Some(Overlay::Confirm { lines, .. }) = app.overlay.clone() else {
        panic!("no question");
    };
    assert!(lines.join("\n").contains("2 running now:"), "{lines:?}");
    assert_eq!(store_ops(&key(&mut app, KeyCode::Enter)), [Op::Stop]);
}

#[test]
fn ctrl_c_with_a_draft_asks_first() {
    let mut app = App::new();
    type_text(&mut app, "half a thought");
    let effects = key_with(&mut app, KeyCode::Char('c'), KeyModifiers::CONTROL);
    assert!(!effects.contains(&Effect::Shutdown), "{effects:?}");
    assert_eq!(app.overlay, Some(Overlay::ConfirmQuit));
    key(&mut app, KeyCode::Char('n'));
    assert_eq!(app.input.text(), "half a thought", "the draft is kept");
    // Without a draft and with nothing running, Ctrl-C quits at once.
    let mut idle = App::new();
    let effects = key_with(&mut idle, KeyCode::Char('c'), KeyModifiers::CONTROL);
    assert!(effects.contains(&Effect::Shutdown), "{effects:?}");
}

#[test]
fn text_typed_in_a_running_workers_transcript_is_mail_to_that_worker() {
    let mut app = busy_app();
    let api = task_id("api");
    app.view = View::Transcript(api.clone());
    let effects = submit(&mut app, "use port 8080");
    assert_eq!(
        store_ops(&effects),
        [Op::Mail {
            to: format!("worker/{api}"),
            reply_to: None,
            text: "use port 8080".into()
        }]
    );
    assert!(
        !effects.iter().any(|e| matches!(e, Effect::Planner(_))),
        "not to the planner: {effects:?}"
    );
    let worker = app.worker(&api).unwrap();
    assert_eq!(
        worker.transcript.lines.back().unwrap().text,
        "use port 8080"
    );
    // A worker that is not running gets nothing; the draft stays.
    app.view = View::Transcript(task_id("tests"));
    assert!(submit(&mut app, "try again").is_empty());
    assert!(notice(&app).contains("is not running"), "{}", notice(&app));
    assert_eq!(app.input.text(), "try again");
}

#[test]
fn r_in_the_mail_pane_answers_the_selected_message() {
    let mut app = busy_app();
    app.focus = Focus::Mail;
    app.selected.mail = Some("msg-01JB".into());
    key(&mut app, KeyCode::Char('r'));
    assert_eq!(app.focus, Focus::Input);
    assert_eq!(
        store_ops(&submit(&mut app, "Keep it short")),
        [Op::Mail {
            to: "coordinator".into(),
            reply_to: Some("msg-01JB".into()),
            text: "Keep it short".into()
        }]
    );
    assert_eq!(app.replying, None, "one reply");
    // Esc drops a reply before it is sent.
    app.focus = Focus::Mail;
    key(&mut app, KeyCode::Char('r'));
    key(&mut app, KeyCode::Esc);
    assert_eq!(app.replying, None);
}
