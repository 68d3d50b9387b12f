//! What coordinator reports and operation results become on screen: one
//! chat line per happening (no echoes), readable names instead of raw
//! ids, tool calls updated in place in a worker's transcript.
// An integration test: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use common::{EXEC, busy_app, confirmed, draw_pane, key, message, progress, submit, task_id, tool};
use enki_coordinator::{Progress, ToolStatus, TranscriptEntry};
use enki_tui::msg::{Effect, Msg};
use enki_tui::state::LineKind;
use enki_tui::state::{App, WorkerState};
use enki_tui::update::update;
use ratatui::crossterm::event::KeyCode;

fn chat_texts(app: &App) -> Vec<String> {
    app.chat.iter().map(|e| e.text.clone()).collect()
}

fn last_texts(app: &App, n: usize) -> Vec<String> {
    let texts = chat_texts(app);
    texts[texts.len().saturating_sub(n)..].to_vec()
}

fn full_exec() -> String {
    // The harness's execution id is already 26 characters long: make a
    // full-length one for the id shortening.
    format!("exec-01JX{}", "0".repeat(22))
}

#[test]
fn a_pause_is_reported_once() {
    let mut app = busy_app();
    submit(&mut app, "/pause");
    update(
        &mut app,
        Msg::OpDone(Ok(format!("execution {EXEC} paused"))),
    );
    let before = app.chat.len();
    progress(
        &mut app,
        Progress::ExecutionStatus {
            execution: EXEC.into(),
            title: "Add a greeting API".into(),
            status: "paused".parse().unwrap(),
        },
    );
    assert_eq!(app.chat.len(), before, "{:?}", last_texts(&app, 3));
    // A pause nobody here asked for (another terminal) is told, without
    // "is".
    progress(
        &mut app,
        Progress::ExecutionStatus {
            execution: EXEC.into(),
            title: "Add a greeting API".into(),
            status: "paused".parse().unwrap(),
        },
    );
    assert_eq!(
        last_texts(&app, 1),
        [format!(
            "execution \"Add a greeting API\" ({}) paused",
            enki_core::id::short(EXEC)
        )]
    );
}

#[test]
fn a_cancelled_step_is_reported_once_and_without_repeating_itself() {
    let mut app = busy_app();
    confirmed(&mut app, "/cancel docs");
    update(
        &mut app,
        Msg::OpDone(Ok(format!(
            "cancelled 2 tasks of execution {}",
            full_exec()
        ))),
    );
    assert_eq!(
        last_texts(&app, 1),
        [format!(
            "cancelled 2 tasks of execution {}",
            enki_core::id::short(&full_exec())
        )]
    );
    let before = app.chat.len();
    // The step the user cancelled: already said.
    progress(
        &mut app,
        Progress::TaskStatus {
            task: task_id("docs"),
            step: "docs".into(),
            title: "Document the endpoint".into(),
            status: "cancelled".parse().unwrap(),
            reason: Some("cancelled".into()),
        },
    );
    assert_eq!(app.chat.len(), before);
    // A dependent cancelled with it: told, and "cancelled — cancelled"
    // is not.
    progress(
        &mut app,
        Progress::TaskStatus {
            task: task_id("release"),
            step: "release".into(),
            title: "Release notes".into(),
            status: "cancelled".parse().unwrap(),
            reason: Some("cancelled".into()),
        },
    );
    assert_eq!(last_texts(&app, 1), ["[release] Release notes: cancelled"]);
}

#[test]
fn a_merged_task_is_told_once() {
    let mut app = busy_app();
    let before = app.chat.len();
    progress(
        &mut app,
        Progress::MergeLanded {
            task: task_id("api"),
            commit: Some("6f7c5a26aa".into()),
        },
    );
    progress(
        &mut app,
        Progress::TaskStatus {
            task: task_id("api"),
            step: "api".into(),
            title: "Implement GET /hello".into(),
            status: "done".parse().unwrap(),
            reason: Some("merged".into()),
        },
    );
    assert_eq!(
        chat_texts(&app)[before..],
        ["[api] Implement GET /hello: merged as 6f7c5a26"]
    );
}

#[test]
fn a_last_failure_is_one_line_and_a_retried_one_says_so() {
    let app = busy_app();
    let failures: Vec<String> = chat_texts(&app)
        .into_iter()
        .filter(|t| t.contains("[tests]") && t.contains("failed"))
        .collect();
    assert_eq!(
        failures,
        ["[tests] Integration tests: failed — cargo test failed: 2 tests failed"]
    );
    let mut app = busy_app();
    progress(
        &mut app,
        Progress::WorkerFailed {
            task: task_id("api"),
            error: "the agent crashed".into(),
            will_retry: true,
        },
    );
    assert_eq!(
        last_texts(&app, 1),
        ["[api] attempt failed: the agent crashed; retrying"]
    );
}

#[test]
fn operation_results_name_tasks_by_step_and_shorten_ids() {
    let mut app = busy_app();
    let full_task = task_id("api");
    update(
        &mut app,
        Msg::OpDone(Ok(format!("step 'api' ({full_task}) paused"))),
    );
    // The harness ids are short already; a known task becomes its step.
    assert_eq!(
        last_texts(&app, 1),
        [format!("step 'api' ({full_task}) paused")]
    );
    let full = format!("task-01JAPI{}", "0".repeat(20));
    let mut snapshot = common::snapshot();
    snapshot.executions[0].tasks[1].id = full.clone();
    update(&mut app, Msg::Snapshot(snapshot));
    update(
        &mut app,
        Msg::OpDone(Ok(format!("step 'api' ({full}) paused"))),
    );
    assert_eq!(last_texts(&app, 1), ["step [api] paused"]);
    update(
        &mut app,
        Msg::OpDone(Err(format!("task {full} is not failed or blocked"))),
    );
    assert_eq!(last_texts(&app, 1), ["task [api] is not failed or blocked"]);
    // A known execution by its title.
    let mut snapshot = common::snapshot();
    snapshot.executions[0].id = full_exec();
    update(&mut app, Msg::Snapshot(snapshot));
    update(
        &mut app,
        Msg::OpDone(Ok(format!("execution {} paused", full_exec()))),
    );
    assert_eq!(
        last_texts(&app, 1),
        [format!(
            "execution \"Add a greeting API\" ({}) paused",
            enki_core::id::short(&full_exec())
        )]
    );
}

#[test]
fn mail_names_workers_by_their_task_and_only_the_users_mail_counts() {
    let mut app = busy_app();
    let effects = progress(
        &mut app,
        Progress::Mail {
            from: format!("worker/{}", task_id("api")),
            to: "user".into(),
            subject: "Question about the route".into(),
        },
    );
    assert_eq!(
        last_texts(&app, 1),
        ["[api] Implement GET /hello → user: Question about the route"]
    );
    assert!(effects.iter().any(|e| matches!(
        e,
        Effect::Notify { title, .. } if title == "enki: mail from [api] Implement GET /hello"
    )));
    // One message to the user and one to the planner are unread.
    assert_eq!(app.snapshot.unread.len(), 2);
    assert_eq!(app.unread_for_user(), 1);
    // Mail to the planner is shown as such in the chat.
    assert!(
        chat_texts(&app)
            .contains(&"[api] Implement GET /hello → planner: Should /hello take a name?".into())
    );
}

#[test]
fn tool_call_updates_change_the_calls_line_in_place() {
    let mut app = busy_app();
    let api = task_id("api");
    for entry in [
        tool("c1", "enki_worker_report", Some(ToolStatus::InProgress)),
        tool("c1", "enki_worker_report", Some(ToolStatus::Completed)),
        tool("c2", "Terminal", Some(ToolStatus::Pending)),
        tool("c2", "cargo test", Some(ToolStatus::InProgress)),
        // Same title, another call: its own line.
        tool("c3", "cargo test", Some(ToolStatus::InProgress)),
        tool("c2", "cargo test", Some(ToolStatus::Failed)),
        // An update of a call never seen gets its own line.
        tool("c4", "Fetch", Some(ToolStatus::Completed)),
    ] {
        progress(
            &mut app,
            Progress::WorkerTranscript {
                task: api.clone(),
                entry,
            },
        );
    }
    let worker = app.worker(&api).expect("worker");
    let tools: Vec<String> = worker
        .transcript
        .lines
        .iter()
        .filter_map(|l| {
            let status = l.call.as_ref()?.status.map_or("", |s| s.as_str());
            Some(format!("{} ({status})", l.text))
        })
        .collect();
    assert_eq!(
        tools,
        [
            "Read src/routes/mod.rs (completed)",
            "Edit src/routes/hello.rs (pending)",
            "enki_worker_report (completed)",
            "cargo test (failed)",
            "cargo test (in_progress)",
            "Fetch (completed)"
        ]
    );
}

#[test]
fn finished_workers_follow_the_running_ones_and_go_after_a_while() {
    let mut app = busy_app();
    let order: Vec<String> = app.worker_order().iter().map(|w| w.step.clone()).collect();
    assert_eq!(order, ["api", "docs", "tests"]);
    app.now_ms += enki_tui::state::FINISHED_SHOWN_MS;
    let order: Vec<String> = app.worker_order().iter().map(|w| w.step.clone()).collect();
    assert_eq!(order, ["api", "docs"]);
}

#[test]
fn a_merger_takes_over_its_tasks_row_and_its_transcript_follows_the_workers() {
    let mut app = busy_app();
    let api = task_id("api");
    progress(
        &mut app,
        Progress::TaskStatus {
            task: api.clone(),
            step: "api".into(),
            title: "Implement GET /hello".into(),
            status: "worker_done".parse().unwrap(),
            reason: None,
        },
    );
    assert!(matches!(
        app.worker(&api).unwrap().state,
        WorkerState::Ended(_)
    ));
    for event in [
        Progress::MergerStarted {
            task: api.clone(),
            step: "api".into(),
            title: "Implement GET /hello".into(),
            run: 1,
            files: vec!["src/routes/hello.rs".into()],
        },
        Progress::MergerActivity {
            task: api.clone(),
            text: "Edit src/routes/hello.rs".into(),
        },
        Progress::MergerTranscript {
            task: api.clone(),
            entry: TranscriptEntry::Permission {
                title: "Edit src/routes/hello.rs".into(),
                decision: "allow_once".into(),
            },
        },
        Progress::MergerTranscript {
            task: api.clone(),
            entry: message("Kept both routes."),
        },
    ] {
        progress(&mut app, event);
    }
    let row = app.worker(&api).unwrap();
    assert_eq!(row.state, WorkerState::Running);
    assert_eq!(row.merger_run, Some(1));
    assert_eq!(row.activity, "Edit src/routes/hello.rs");
    let lines: Vec<(LineKind, &str)> = row
        .transcript
        .lines
        .iter()
        .map(|l| (l.kind, l.text.as_str()))
        .collect();
    let merger = lines
        .iter()
        .position(|l| {
            *l == (
                LineKind::Separator,
                "── merger run 1: src/routes/hello.rs ──",
            )
        })
        .expect("the merger's run is marked in the transcript");
    assert!(lines[..merger].contains(&(
        LineKind::Message,
        "Adding the handler now.\nIt returns `Hello, world`."
    )));
    assert_eq!(
        lines[merger + 1..],
        [
            (LineKind::Permission, "Edit src/routes/hello.rs: allow_once"),
            (LineKind::Message, "Kept both routes.")
        ]
    );
    // The workers pane names the merger in the row.
    let terminal = draw_pane(&mut app, 60, 10, |frame, area, app| {
        enki_tui::ui::workers::draw(frame, area, app)
    });
    let screen: String = terminal
        .backend()
        .buffer()
        .content()
        .iter()
        .map(|c| c.symbol())
        .collect();
    assert!(
        screen.contains("merger · Edit src/routes/hello.rs"),
        "{screen}"
    );

    // The landing settles the row.
    progress(
        &mut app,
        Progress::TaskStatus {
            task: api.clone(),
            step: "api".into(),
            title: "Implement GET /hello".into(),
            status: "done".parse().unwrap(),
            reason: Some("merged".into()),
        },
    );
    assert_eq!(
        app.worker(&api).unwrap().state,
        WorkerState::Ended("done".into())
    );
}

/// A spent budget as the coordinator reports it: the execution's 2.00 USD.
fn budget_spent() -> Progress {
    use enki_core::budget::{Budget, Limit, Spending, Spent};
    let budget = Budget {
        per_execution: Limit {
            tokens: None,
            cost: Some(2.0),
        },
        currency: "USD".into(),
        ..Budget::default()
    };
    let standing = budget
        .spent(&Spending {
            execution: Spent {
                work_tokens: 0,
                cost: 2.5,
            },
            ..Spending::default()
        })
        .unwrap();
    Progress::BudgetSpent {
        execution: EXEC.into(),
        title: "Add a greeting API".into(),
        reason: standing.to_string(),
        raise_to: standing.raised(),
        standing,
    }
}

#[test]
fn a_spent_budget_asks_whether_to_raise_it_and_r_raises_it_and_goes_on() {
    let mut app = busy_app();
    let effects = update(&mut app, Msg::Progress(budget_spent()));
    assert!(
        effects
            .iter()
            .any(|e| matches!(e, Effect::Notify { urgent: true, .. })),
        "{effects:?}"
    );
    assert!(
        last_texts(&app, 1)[0].contains("paused: the execution's budget of 2.00 USD"),
        "{:?}",
        last_texts(&app, 1)
    );
    let drawn = format!("{:?}", common::draw(&mut app, 120, 36).backend());
    assert!(drawn.contains("Budget spent"), "{drawn}");
    assert!(drawn.contains("raise it to 4.00 USD and go on"), "{drawn}");
    // Typing does not dismiss it by accident; `n` leaves the execution paused.
    assert!(key(&mut app, KeyCode::Char('x')).is_empty());
    assert!(app.overlay.is_some());
    assert!(key(&mut app, KeyCode::Char('n')).is_empty());
    assert!(app.overlay.is_none());
    // Asked again, `r` raises it (for this session) and resumes.
    update(&mut app, Msg::Progress(budget_spent()));
    let effects = key(&mut app, KeyCode::Char('r'));
    let raised = effects
        .iter()
        .find_map(|e| match e {
            Effect::RaiseBudget(ask) => Some(ask.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no raise: {effects:?}"));
    assert_eq!(raised.execution, EXEC);
    assert_eq!(raised.scope, enki_core::budget::Scope::Execution);
    assert_eq!(raised.raise_to, 4.0);
    assert!(app.overlay.is_none());
    assert!(last_texts(&app, 1)[0].contains("budget raised to 4.00 USD for this session"));
}
