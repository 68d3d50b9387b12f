//! The key-handling suite: message editing, history, completion, slash
//! commands, pane focus, quitting, permission answers and the mouse —
//! all through `update`, the path real key presses take.
// An integration test: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use common::{
    EXEC, busy_app, confirmed, key, key_with, notice, permission_ask, store_ops, submit, task_id,
    type_text,
};
use enki_acp::PermissionDecision;
use enki_tui::input::Target;
use enki_tui::msg::{Effect, Fetch, Msg, Op, StoreRequest};
use enki_tui::state::{App, Focus, Overlay, QuitState, View};
use enki_tui::update::update;
use ratatui::crossterm::event::{KeyCode, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};

fn screen_areas(app: &App) -> enki_tui::layout::Areas {
    app.areas()
}

#[test]
fn typing_and_editing_the_message() {
    let mut app = App::new();
    type_text(&mut app, "hello wrld");
    key(&mut app, KeyCode::Left);
    key(&mut app, KeyCode::Left);
    key(&mut app, KeyCode::Left);
    key(&mut app, KeyCode::Char('o'));
    assert_eq!(app.input.text(), "hello world");
    key(&mut app, KeyCode::Home);
    key(&mut app, KeyCode::Delete);
    key(&mut app, KeyCode::Char('H'));
    key(&mut app, KeyCode::End);
    key(&mut app, KeyCode::Backspace);
    assert_eq!(app.input.text(), "Hello worl");
    key_with(&mut app, KeyCode::Char('w'), KeyModifiers::CONTROL);
    assert_eq!(app.input.text(), "Hello ");
    key_with(&mut app, KeyCode::Left, KeyModifiers::CONTROL);
    key_with(&mut app, KeyCode::Char('k'), KeyModifiers::CONTROL);
    assert_eq!(app.input.text(), "");
    type_text(&mut app, "ünï ✔");
    key_with(&mut app, KeyCode::Char('u'), KeyModifiers::CONTROL);
    assert_eq!(app.input.text(), "");
}

#[test]
fn alt_and_shift_enter_break_lines_and_enter_sends_all_of_it() {
    let mut app = App::new();
    type_text(&mut app, "line one");
    key_with(&mut app, KeyCode::Enter, KeyModifiers::ALT);
    type_text(&mut app, "line two");
    key_with(&mut app, KeyCode::Enter, KeyModifiers::SHIFT);
    type_text(&mut app, "three");
    assert_eq!(app.input.text(), "line one\nline two\nthree");
    // Up moves between lines before it reaches history.
    key(&mut app, KeyCode::Up);
    key(&mut app, KeyCode::Char('!'));
    assert_eq!(app.input.text(), "line one\nline !two\nthree");
    let effects = key(&mut app, KeyCode::Enter);
    assert_eq!(
        effects,
        [Effect::Planner("line one\nline !two\nthree".into())]
    );
    assert!(app.input.is_empty());
    assert!(app.planner_busy);
}

#[test]
fn paste_keeps_newlines_and_drops_control_characters() {
    let mut app = App::new();
    app.focus = Focus::Tasks;
    update(
        &mut app,
        Msg::Paste("fn a() {\r\n\tb();\r\n}\u{1b}[31m".into()),
    );
    assert_eq!(app.input.text(), "fn a() {\n    b();\n}");
    assert_eq!(app.focus, Focus::Input);
}

#[test]
fn blank_messages_are_not_sent() {
    let mut app = App::new();
    assert!(submit(&mut app, "   ").is_empty());
    assert!(app.chat.is_empty());
}

#[test]
fn history_goes_back_and_returns_to_the_draft() {
    let mut app = App::new();
    submit(&mut app, "first");
    submit(&mut app, "second");
    type_text(&mut app, "draft");
    key(&mut app, KeyCode::Up);
    assert_eq!(app.input.text(), "second");
    key(&mut app, KeyCode::Up);
    assert_eq!(app.input.text(), "first");
    key(&mut app, KeyCode::Up);
    assert_eq!(app.input.text(), "first");
    key(&mut app, KeyCode::Down);
    assert_eq!(app.input.text(), "second");
    key(&mut app, KeyCode::Down);
    assert_eq!(app.input.text(), "draft");
    // Sending the same text twice keeps one history entry.
    key_with(&mut app, KeyCode::Char('u'), KeyModifiers::CONTROL);
    submit(&mut app, "second");
    assert_eq!(app.input.history(), ["first", "second"]);
}

#[test]
fn file_completion_with_at() {
    let mut app = App::new();
    update(
        &mut app,
        Msg::Files(vec![
            "Cargo.toml".into(),
            "src/lib.rs".into(),
            "src/main.rs".into(),
            "docs/main.md".into(),
        ]),
    );
    type_text(&mut app, "look at @main");
    let completion = app.input.completion.clone().expect("popup open");
    assert_eq!(completion.items, ["src/main.rs", "docs/main.md"]);
    key(&mut app, KeyCode::Down);
    key(&mut app, KeyCode::Tab);
    assert_eq!(app.input.text(), "look at @docs/main.md ");
    assert!(app.input.completion.is_none());
    // Esc closes the popup until the next edit; Tab then cycles panes.
    type_text(&mut app, "@src");
    assert!(app.input.completion.is_some());
    key(&mut app, KeyCode::Esc);
    assert!(app.input.completion.is_none());
    key(&mut app, KeyCode::Tab);
    assert_eq!(app.focus, Focus::Main);
}

#[test]
fn command_completion_with_slash() {
    let mut app = App::new();
    type_text(&mut app, "/pa");
    assert_eq!(
        app.input.completion.as_ref().map(|c| c.items.clone()),
        Some(vec!["pause".to_string()])
    );
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.input.text(), "/pause ");
    // Not at the start of the message: no command popup.
    key_with(&mut app, KeyCode::Char('u'), KeyModifiers::CONTROL);
    type_text(&mut app, "see /pa");
    assert!(app.input.completion.is_none());
}

#[test]
fn slash_commands_become_operations() {
    let mut app = busy_app();
    let effects = submit(&mut app, "/pause");
    assert_eq!(
        store_ops(&effects),
        [Op::Pause(Target {
            execution: Some(EXEC.into()),
            step: None
        })]
    );
    let effects = submit(&mut app, "/resume exec-01 api");
    assert_eq!(
        store_ops(&effects),
        [Op::Resume(Target {
            execution: Some("exec-01".into()),
            step: Some("api".into())
        })]
    );
    let effects = confirmed(&mut app, "/cancel");
    assert!(matches!(store_ops(&effects).as_slice(), [Op::Cancel(_)]));
    // The only failed task is the default for /retry.
    let effects = submit(&mut app, "/retry");
    assert_eq!(
        store_ops(&effects),
        [Op::Retry {
            task: task_id("tests"),
            execution: Some(EXEC.into())
        }]
    );
    assert_eq!(store_ops(&confirmed(&mut app, "/stop")), [Op::Stop]);
    assert!(
        submit(&mut app, "/dag").contains(&Effect::Store(StoreRequest::Fetch(Fetch::Dag(None))))
    );
    assert!(submit(&mut app, "/mail").contains(&Effect::Store(StoreRequest::Fetch(Fetch::Mail))));
    submit(&mut app, "/help");
    assert_eq!(app.overlay, Some(Overlay::Help { scroll: 0 }));
    key(&mut app, KeyCode::Esc);
    assert_eq!(app.overlay, None);
    // Nothing of it went to the planner.
    assert!(!app.chat.iter().any(|e| e.text.starts_with('/')));
}

#[test]
fn bad_commands_say_what_is_wrong() {
    let mut app = App::new();
    assert!(submit(&mut app, "/pause").is_empty());
    assert!(
        notice(&app).contains("no execution to pause"),
        "{}",
        notice(&app)
    );
    assert!(submit(&mut app, "/retry").is_empty());
    assert!(notice(&app).contains("no failed task"), "{}", notice(&app));
    assert!(submit(&mut app, "/frobnicate").is_empty());
    assert!(notice(&app).contains("unknown command /frobnicate"));
    assert!(submit(&mut app, "/stop now").is_empty());
    assert_eq!(notice(&app), "usage: /stop");
    // A doubled slash sends a message that starts with one.
    assert_eq!(
        submit(&mut app, "//etc is a folder"),
        [Effect::Planner("/etc is a folder".into())]
    );
}

#[test]
fn tab_cycles_every_pane_and_typing_returns_to_the_message() {
    let mut app = App::new();
    let mut seen = vec![app.focus];
    for _ in 0..6 {
        key(&mut app, KeyCode::Tab);
        seen.push(app.focus);
    }
    assert_eq!(
        seen,
        [
            Focus::Input,
            Focus::Main,
            Focus::Workers,
            Focus::Tasks,
            Focus::Merges,
            Focus::Mail,
            Focus::Input
        ]
    );
    key(&mut app, KeyCode::BackTab);
    assert_eq!(app.focus, Focus::Mail);
    key(&mut app, KeyCode::Char('h'));
    assert_eq!(app.focus, Focus::Input);
    assert_eq!(app.input.text(), "h");
}

#[test]
fn a_worker_opens_its_transcript_and_esc_comes_back() {
    let mut app = busy_app();
    app.focus = Focus::Workers;
    key(&mut app, KeyCode::Down);
    assert_eq!(
        app.selected.worker.as_deref(),
        Some(task_id("docs").as_str())
    );
    key(&mut app, KeyCode::Up);
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.view, View::Transcript(task_id("api")));
    assert_eq!(app.focus, Focus::Main);
    key(&mut app, KeyCode::Esc);
    assert_eq!(app.view, View::Chat);
}

#[test]
fn enter_on_tasks_and_mail_fetches_details() {
    let mut app = busy_app();
    app.focus = Focus::Tasks;
    assert_eq!(
        key(&mut app, KeyCode::Enter),
        [Effect::Store(StoreRequest::Fetch(Fetch::Dag(Some(
            EXEC.into()
        ))))]
    );
    key(&mut app, KeyCode::Down);
    assert_eq!(
        key(&mut app, KeyCode::Enter),
        [Effect::Store(StoreRequest::Fetch(Fetch::Task(task_id(
            "design"
        ))))]
    );
    app.focus = Focus::Mail;
    key(&mut app, KeyCode::End);
    assert_eq!(
        key(&mut app, KeyCode::Enter),
        [
            Effect::Store(StoreRequest::Fetch(Fetch::Message("msg-01JB".into()))),
            Effect::Store(StoreRequest::MarkRead("msg-01JB".into()))
        ]
    );
}

#[test]
fn page_keys_and_the_wheel_scroll_the_chat() {
    let mut app = busy_app();
    key(&mut app, KeyCode::PageUp);
    assert!(app.scroll > 0);
    key(&mut app, KeyCode::PageDown);
    assert_eq!(app.scroll, 0);
    let wheel = |kind, column, row| {
        Msg::Mouse(MouseEvent {
            kind,
            column,
            row,
            modifiers: KeyModifiers::NONE,
        })
    };
    update(&mut app, wheel(MouseEventKind::ScrollUp, 5, 5));
    assert_eq!(app.scroll, 3);
    update(&mut app, wheel(MouseEventKind::ScrollDown, 5, 5));
    assert_eq!(app.scroll, 0);
    // Over the workers pane the wheel moves the selection; a click focuses.
    update(&mut app, wheel(MouseEventKind::ScrollDown, 100, 3));
    assert_eq!(
        app.selected.worker.as_deref(),
        Some(task_id("docs").as_str())
    );
    update(
        &mut app,
        wheel(MouseEventKind::Down(MouseButton::Left), 100, 3),
    );
    assert_eq!(app.focus, Focus::Workers);
}

#[test]
fn a_click_on_a_row_selects_it() {
    let mut app = busy_app();
    let click = |app: &mut App, column, row| {
        update(
            app,
            Msg::Mouse(MouseEvent {
                kind: MouseEventKind::Down(MouseButton::Left),
                column,
                row,
                modifiers: KeyModifiers::NONE,
            }),
        )
    };
    let areas = screen_areas(&app);
    let (workers, tasks) = (areas.workers, areas.tasks);
    let x = workers.x + 5;
    // Two rows per worker below the border: api, docs, tests.
    click(&mut app, x, workers.y + 5);
    assert_eq!(app.focus, Focus::Workers);
    assert_eq!(
        app.selected.worker.as_deref(),
        Some(task_id("tests").as_str())
    );
    click(&mut app, x, workers.y + 4);
    assert_eq!(
        app.selected.worker.as_deref(),
        Some(task_id("docs").as_str())
    );
    // Tasks: the execution, then design, api...
    click(&mut app, x, tasks.y + 3);
    assert_eq!(app.focus, Focus::Tasks);
    assert_eq!(app.selected.task, Some(format!("t:{}", task_id("api"))));
    // A click on the border selects nothing new.
    click(&mut app, x, tasks.y);
    assert_eq!(app.selected.task, Some(format!("t:{}", task_id("api"))));
    // Enter opens what was clicked.
    assert_eq!(
        key(&mut app, KeyCode::Enter),
        [Effect::Store(StoreRequest::Fetch(Fetch::Task(task_id(
            "api"
        ))))]
    );
}

#[test]
fn ctrl_c_asks_while_workers_run_then_stops_them() {
    let mut app = busy_app();
    let ctrl_c = |app: &mut App| key_with(app, KeyCode::Char('c'), KeyModifiers::CONTROL);
    assert!(ctrl_c(&mut app).is_empty());
    assert_eq!(app.overlay, Some(Overlay::ConfirmQuit));
    key(&mut app, KeyCode::Char('n'));
    assert_eq!(app.overlay, None);
    assert_eq!(app.quit, QuitState::Running);
    ctrl_c(&mut app);
    assert_eq!(ctrl_c(&mut app), [Effect::Shutdown]);
    assert_eq!(app.quit, QuitState::Stopping);
    // Leaves once the coordinator has returned.
    assert_eq!(
        update(&mut app, Msg::CoordinatorDone(Ok(()))),
        [Effect::Exit]
    );
}

#[test]
fn ctrl_c_with_nothing_running_stops_at_once_and_quit_works_too() {
    let mut app = App::new();
    assert_eq!(
        key_with(&mut app, KeyCode::Char('c'), KeyModifiers::CONTROL),
        [Effect::Shutdown]
    );
    // A second Ctrl-C while stopping leaves without waiting.
    assert_eq!(
        key_with(&mut app, KeyCode::Char('c'), KeyModifiers::CONTROL),
        [Effect::Exit]
    );
    let mut app = App::new();
    assert_eq!(submit(&mut app, "/quit"), [Effect::Shutdown]);
}

#[test]
fn a_stop_signal_stops_the_running_workers_without_asking_and_a_second_leaves() {
    for name in ["SIGTERM", "SIGHUP", "SIGINT"] {
        let mut app = busy_app();
        assert_eq!(
            update(&mut app, Msg::StopSignal(name)),
            [Effect::Shutdown],
            "{name}"
        );
        assert_eq!(app.overlay, None);
        assert_eq!(app.quit, QuitState::Stopping);
        assert_eq!(update(&mut app, Msg::StopSignal(name)), [Effect::Exit]);
    }
}

fn answers(effects: &[Effect]) -> Vec<(u64, PermissionDecision)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Answer(id, decision) => Some((*id, *decision)),
            _ => None,
        })
        .collect()
}

fn chat_texts(app: &App) -> Vec<String> {
    app.chat.iter().map(|e| e.text.clone()).collect()
}

fn ask_with_id(id: u64) -> Msg {
    let mut ask = permission_ask();
    ask.id = id;
    Msg::Permission(ask)
}

#[test]
fn typing_while_a_permission_request_waits_never_answers_it() {
    let mut app = busy_app();
    let effects = update(&mut app, Msg::Permission(permission_ask()));
    assert!(matches!(
        effects.as_slice(),
        [Effect::Notify { urgent: true, .. }]
    ));
    assert!(!app.prompt_open);
    // "add", "yes", "no": every letter goes to the message box.
    let effects = type_text(&mut app, "add yes no A");
    assert!(answers(&effects).is_empty(), "{effects:?}");
    assert_eq!(app.input.text(), "add yes no A");
    assert_eq!(app.permissions.len(), 1);
    // Scrolling, Tab and PageUp go on working.
    key(&mut app, KeyCode::PageUp);
    assert!(app.scroll > 0);
    key(&mut app, KeyCode::PageDown);
    key(&mut app, KeyCode::Tab);
    assert_eq!(app.focus, Focus::Main);
    key(&mut app, KeyCode::BackTab);
    // Esc without the prompt open answers nothing either.
    assert!(answers(&key(&mut app, KeyCode::Esc)).is_empty());
    // Enter sends the message, not an answer.
    let effects = key(&mut app, KeyCode::Enter);
    assert_eq!(effects, [Effect::Planner("add yes no A".into())]);
    assert_eq!(app.permissions.len(), 1);
}

#[test]
fn the_prompt_opens_with_f2_answers_with_its_keys_and_records_the_answer() {
    let mut app = busy_app();
    update(&mut app, ask_with_id(7));
    update(&mut app, ask_with_id(8));
    update(&mut app, ask_with_id(9));
    key(&mut app, KeyCode::F(2));
    assert!(app.prompt_open);
    // Keys the prompt does not show do nothing, and type nothing.
    for c in ['a', 'd', 'x'] {
        assert!(key(&mut app, KeyCode::Char(c)).is_empty());
    }
    assert_eq!(app.input.text(), "");
    assert_eq!(
        answers(&key(&mut app, KeyCode::Char('y'))),
        [(7, PermissionDecision::AllowOnce)]
    );
    assert!(
        chat_texts(&app).contains(&"[api] allowed once: Run cargo test --workspace".to_string()),
        "{:?}",
        chat_texts(&app)
    );
    // The prompt stays open for the next request; one withdrawn meanwhile
    // is said so in the chat.
    assert!(app.prompt_open);
    update(&mut app, Msg::PermissionGone(8));
    assert!(chat_texts(&app).iter().any(|t| t.contains("withdrawn")));
    assert_eq!(
        answers(&key(&mut app, KeyCode::Char('A'))),
        [(9, PermissionDecision::AllowAlways)]
    );
    assert!(
        chat_texts(&app).contains(&"[api] allowed always: Run cargo test --workspace".to_string())
    );
    assert!(app.permissions.is_empty());
    assert!(!app.prompt_open);
    // Nothing waits: F2 and y are ordinary keys again.
    assert!(answers(&key(&mut app, KeyCode::F(2))).is_empty());
    assert!(!app.prompt_open);
}

#[test]
fn esc_defers_the_prompt_and_the_request_keeps_waiting() {
    let mut app = busy_app();
    update(&mut app, ask_with_id(10));
    key(&mut app, KeyCode::F(2));
    assert!(answers(&key(&mut app, KeyCode::Esc)).is_empty());
    assert!(!app.prompt_open);
    assert_eq!(app.permissions.len(), 1);
    // Still reachable: Ctrl-P opens it again; n denies.
    key_with(&mut app, KeyCode::Char('p'), KeyModifiers::CONTROL);
    assert!(app.prompt_open);
    assert_eq!(
        answers(&key(&mut app, KeyCode::Char('n'))),
        [(10, PermissionDecision::RejectOnce)]
    );
    assert!(chat_texts(&app).contains(&"[api] denied: Run cargo test --workspace".to_string()));
    // A request of the planner has no step.
    let mut ask = permission_ask();
    ask.id = 11;
    ask.task = None;
    update(&mut app, Msg::Permission(ask));
    key(&mut app, KeyCode::F(2));
    key(&mut app, KeyCode::Char('y'));
    assert!(
        chat_texts(&app).contains(&"planner allowed once: Run cargo test --workspace".to_string())
    );
}

#[test]
fn a_click_on_the_permission_bar_opens_the_prompt() {
    let mut app = busy_app();
    update(&mut app, ask_with_id(12));
    let bar = screen_areas(&app).permission;
    assert_eq!(bar.height, 1);
    update(
        &mut app,
        Msg::Mouse(MouseEvent {
            kind: MouseEventKind::Down(MouseButton::Left),
            column: 10,
            row: bar.y,
            modifiers: KeyModifiers::NONE,
        }),
    );
    assert!(app.prompt_open);
}

#[test]
fn finished_executions_and_mail_to_the_user_notify() {
    let mut app = busy_app();
    let effects = update(
        &mut app,
        Msg::Progress(enki_coordinator::Progress::ExecutionStatus {
            execution: EXEC.into(),
            title: "Add a greeting API".into(),
            status: "done".parse().unwrap(),
        }),
    );
    assert!(
        effects
            .iter()
            .any(|e| matches!(e, Effect::Notify { title, .. } if title.contains("done")))
    );
    let effects = update(
        &mut app,
        Msg::Progress(enki_coordinator::Progress::Mail {
            from: "coordinator".into(),
            to: "user".into(),
            subject: "question".into(),
        }),
    );
    assert!(effects.iter().any(|e| matches!(e, Effect::Notify { .. })));
}

#[test]
fn ctrl_home_scrolls_to_the_top_and_ctrl_end_follows_again() {
    let mut app = busy_app();
    key_with(&mut app, KeyCode::Home, KeyModifiers::CONTROL);
    // Drawing clamps the scroll to what exists above the bottom screenful.
    let _ = common::draw(&mut app, 90, 20);
    assert!(app.scroll > 0 && app.scroll < 100, "{}", app.scroll);
    let top = app.scroll;
    key(&mut app, KeyCode::PageUp);
    let _ = common::draw(&mut app, 90, 20);
    assert_eq!(app.scroll, top);
    key_with(&mut app, KeyCode::End, KeyModifiers::CONTROL);
    assert_eq!(app.scroll, 0);
}

#[test]
fn commands_without_ids_act_on_the_selected_task() {
    let mut app = busy_app();
    key(&mut app, KeyCode::Tab);
    key(&mut app, KeyCode::Tab);
    key(&mut app, KeyCode::Tab);
    assert_eq!(app.focus, Focus::Tasks);
    // Row 0 is the execution, then design, api, docs.
    for _ in 0..3 {
        key(&mut app, KeyCode::Char('j'));
    }
    assert_eq!(app.selected.task, Some(format!("t:{}", task_id("docs"))));
    key(&mut app, KeyCode::Esc);
    assert_eq!(app.focus, Focus::Input);
    assert_eq!(
        store_ops(&submit(&mut app, "/retry")),
        [Op::Retry {
            task: task_id("docs"),
            execution: Some(EXEC.into())
        }]
    );
    // The selected row is a task: the step is filled in.
    for (command, op) in [
        ("/pause", Op::Pause as fn(Target) -> Op),
        ("/resume", Op::Resume),
        ("/cancel", Op::Cancel),
    ] {
        let effects = if command == "/cancel" {
            confirmed(&mut app, command)
        } else {
            submit(&mut app, command)
        };
        assert_eq!(
            store_ops(&effects),
            [op(Target {
                execution: Some(EXEC.into()),
                step: Some("docs".into())
            })],
            "{command}"
        );
    }
    // The execution's row selected: the whole execution.
    app.selected.task = Some(format!("x:{EXEC}"));
    assert_eq!(
        store_ops(&confirmed(&mut app, "/cancel")),
        [Op::Cancel(Target {
            execution: Some(EXEC.into()),
            step: None
        })]
    );
}

#[test]
fn followup_names_its_task_or_takes_the_selected_one() {
    let mut app = busy_app();
    let follow = |task: String, request: &str| Op::FollowUp {
        task,
        execution: Some(EXEC.into()),
        request: request.into(),
    };
    // A step of the execution in view, or a task id, then the request as typed.
    assert_eq!(
        store_ops(&submit(&mut app, "/followup api  also  handle HEAD")),
        [follow("api".into(), "also  handle HEAD")]
    );
    assert_eq!(
        store_ops(&submit(
            &mut app,
            &format!("/followup {} more", task_id("docs"))
        )),
        [follow(task_id("docs"), "more")]
    );
    // No task named and none selected: it says what to do.
    assert!(submit(&mut app, "/followup make it faster").is_empty());
    assert!(
        notice(&app).contains("no task selected"),
        "{}",
        notice(&app)
    );
    assert!(submit(&mut app, "/followup").is_empty());
    assert!(
        notice(&app).starts_with("usage: /followup"),
        "{}",
        notice(&app)
    );
    // With a task selected, the whole text is its request.
    app.selected.task = Some(format!("t:{}", task_id("docs")));
    assert_eq!(
        store_ops(&submit(&mut app, "/followup make it faster")),
        [follow(task_id("docs"), "make it faster")]
    );
}

#[test]
fn a_bare_step_id_means_that_step_of_the_execution_in_view() {
    let mut app = busy_app();
    assert_eq!(
        store_ops(&confirmed(&mut app, "/cancel docs")),
        [Op::Cancel(Target {
            execution: Some(EXEC.into()),
            step: Some("docs".into())
        })]
    );
    // A task id works too.
    assert_eq!(
        store_ops(&submit(&mut app, &format!("/pause {}", task_id("api")))),
        [Op::Pause(Target {
            execution: Some(EXEC.into()),
            step: Some("api".into())
        })]
    );
    // An execution id (or prefix) stays an execution.
    assert_eq!(
        store_ops(&submit(&mut app, "/pause exec-01J")),
        [Op::Pause(Target {
            execution: Some("exec-01J".into()),
            step: None
        })]
    );
    // A word that names no step is passed on as given (the store says
    // what is wrong with it).
    assert_eq!(
        store_ops(&submit(&mut app, "/resume nope")),
        [Op::Resume(Target {
            execution: Some("nope".into()),
            step: None
        })]
    );
}
