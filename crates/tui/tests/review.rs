//! Review before landing in the TUI: a task awaiting review counts as
//! needing the person, F3 and Enter on its row open its review (output,
//! files with stats, one file's coloured patch; a merger's resolution says
//! so, with the merger's output), `a` approves, `x` asks and rejects, and
//! text typed while the review is shown requests changes.
// An integration test: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use common::{EXEC, busy_app, draw, key, snapshot, store_ops, task_id, type_text};
use enki_coordinator::review::{Resolution, Review};
use enki_core::{AgentState, TaskStatus, Tier};
use enki_store::TaskRow;
use enki_tui::msg::{Effect, Fetch, Msg, Op, StoreRequest};
use enki_tui::state::{App, Focus, Overlay, View};
use enki_tui::update::update;
use enki_workspace::{Diff, FileChange, FileDiff};
use insta::assert_snapshot;
use ratatui::crossterm::event::KeyCode;

/// The app with the `docs` step awaiting review.
fn awaiting_app() -> App {
    let mut app = busy_app();
    let mut snapshot = snapshot();
    for task in &mut snapshot.executions[0].tasks {
        if task.step == "docs" {
            task.status = "awaiting_review".into();
        }
    }
    update(&mut app, Msg::Snapshot(snapshot));
    app
}

fn review() -> Review {
    let task = TaskRow {
        id: task_id("docs"),
        session_id: None,
        execution_id: EXEC.into(),
        step_id: "docs".into(),
        step_index: 2,
        title: "Document the endpoint".into(),
        description: "Write the docs".into(),
        tier: Tier::Light,
        role: None,
        checkpoint: false,
        status: TaskStatus::AwaitingReview,
        attempts: 1,
        failures: 0,
        last_error: None,
        activity: None,
        activity_at: None,
        output: Some("Documented GET /hello in the README.".into()),
        branch: Some("enki/task-docs".into()),
        copy_path: None,
        created_at: "2026-12-07T10:00:00Z".into(),
        updated_at: "2026-12-07T10:01:00Z".into(),
        started_at: None,
        finished_at: None,
        agent_state: AgentState::Done,
        agent_state_reason: None,
        agent_state_since: None,
        round: 1,
        followup: None,
    };
    let readme = FileDiff {
        path: "README.md".into(),
        old_path: None,
        change: FileChange::Modified,
        added: Some(3),
        removed: Some(1),
        patch: "diff --git a/README.md b/README.md\n--- a/README.md\n+++ b/README.md\n@@ -1,2 +1,4 @@\n # Greeter\n-Nothing yet.\n+## GET /hello\n+\n+Answers `Hello, world`.\n"
            .into(),
    };
    let notes = FileDiff {
        path: "docs/hello.md".into(),
        old_path: None,
        change: FileChange::Added,
        added: Some(1),
        removed: Some(0),
        patch: "diff --git a/docs/hello.md b/docs/hello.md\nnew file mode 100644\n--- /dev/null\n+++ b/docs/hello.md\n@@ -0,0 +1 @@\n+The endpoint takes no arguments.\n"
            .into(),
    };
    Review {
        task,
        base_branch: "main".into(),
        branch: "enki/task-docs".into(),
        output: Some("Documented GET /hello in the README.".into()),
        diff: Diff {
            from: "1111111".into(),
            to: "2222222".into(),
            files: vec![readme, notes],
        },
        resolution: None,
    }
}

/// The merger's resolution of the `docs` step's conflict, awaiting review.
fn resolution() -> Review {
    let mut review = review();
    review.resolution = Some(Resolution {
        merge_request: "mr-01JAAAAAAAAAAAAAAAAAAAAAAA".into(),
        commit: "3333333333333333333333333333333333333333".into(),
        base: "1111111111111111111111111111111111111111".into(),
        output: Some("Kept both sections of the README.".into()),
    });
    review.diff.files.truncate(1);
    review
}

/// F3 opens the review of the task awaiting it, after the worker waiting
/// for an answer; the review is read.
fn open_review(app: &mut App) {
    key(app, KeyCode::F(3));
    assert_eq!(
        app.view,
        View::Transcript(task_id("docs")),
        "the waiting worker first"
    );
    let effects = key(app, KeyCode::F(3));
    let docs = task_id("docs");
    assert!(
        effects.contains(&Effect::Store(StoreRequest::Fetch(Fetch::Review(
            docs.clone()
        )))),
        "{effects:?}"
    );
    assert_eq!(app.view, View::Review(docs.clone()));
    update(
        app,
        Msg::ReviewLoaded {
            task: docs,
            review: Ok(Box::new(review())),
        },
    );
}

#[test]
fn work_awaiting_review_needs_the_person_and_f3_opens_its_review() {
    let mut app = awaiting_app();
    assert_eq!(app.awaiting_review(), [task_id("docs")]);
    assert_eq!(
        app.needs_you(),
        2,
        "the worker waiting for an answer, and the review"
    );
    open_review(&mut app);
    assert_eq!(app.focus, Focus::Main);
    for (width, height) in [(160, 45), (80, 24)] {
        assert_snapshot!(
            format!("review_{width}x{height}"),
            draw(&mut app, width, height).backend()
        );
    }
    // The next file's patch.
    key(&mut app, KeyCode::Right);
    let screen = draw(&mut app, 160, 45).backend().to_string();
    assert!(
        screen.contains("The endpoint takes no arguments."),
        "{screen}"
    );
    assert!(!screen.contains("Nothing yet."), "{screen}");
}

#[test]
fn a_resolution_under_review_says_so_with_the_mergers_output() {
    let mut app = awaiting_app();
    open_review(&mut app);
    update(
        &mut app,
        Msg::ReviewLoaded {
            task: task_id("docs"),
            review: Ok(Box::new(resolution())),
        },
    );
    for (width, height) in [(160, 45), (80, 24)] {
        assert_snapshot!(
            format!("review_resolution_{width}x{height}"),
            draw(&mut app, width, height).backend()
        );
    }
    let screen = draw(&mut app, 160, 45).backend().to_string();
    for part in [
        "Review the merger's resolution of [docs]",
        "· the merger's resolution awaits your review",
        "lands on main as resolved on 11111111 from enki/task-docs",
        "Kept both sections of the README.",
    ] {
        assert!(screen.contains(part), "missing {part:?} in\n{screen}");
    }
    // Approving it is the same key.
    let effects = key(&mut app, KeyCode::Char('a'));
    assert_eq!(store_ops(&effects), [Op::Approve(task_id("docs"))]);
}

#[test]
fn enter_on_a_task_awaiting_review_opens_it() {
    let mut app = awaiting_app();
    app.focus = Focus::Tasks;
    app.selected.task = Some(format!("t:{}", task_id("docs")));
    let effects = key(&mut app, KeyCode::Enter);
    assert!(
        effects.contains(&Effect::Store(StoreRequest::Fetch(Fetch::Review(task_id(
            "docs"
        )))))
    );
}

#[test]
fn a_approves_and_goes_back_to_the_chat() {
    let mut app = awaiting_app();
    open_review(&mut app);
    let effects = key(&mut app, KeyCode::Char('a'));
    assert_eq!(store_ops(&effects), [Op::Approve(task_id("docs"))]);
    assert_eq!(app.view, View::Chat);
}

#[test]
fn x_asks_and_only_y_rejects() {
    let mut app = awaiting_app();
    open_review(&mut app);
    key(&mut app, KeyCode::Char('x'));
    let Some(Overlay::Confirm { title, lines, .. }) = &app.overlay else {
        panic!("x asks first: {:?}", app.overlay);
    };
    assert_eq!(title, "Reject?");
    assert!(lines[0].contains("its branch is kept"), "{lines:?}");
    assert!(store_ops(&key(&mut app, KeyCode::Char('n'))).is_empty());
    assert_eq!(app.view, View::Review(task_id("docs")));
    key(&mut app, KeyCode::Char('x'));
    let effects = key(&mut app, KeyCode::Char('y'));
    assert_eq!(
        store_ops(&effects),
        [Op::Reject {
            task: task_id("docs"),
            note: None
        }]
    );
    assert_eq!(app.view, View::Chat);
}

#[test]
fn reject_with_a_note_names_the_step() {
    let mut app = awaiting_app();
    type_text(&mut app, "/reject docs wrong endpoint name");
    key(&mut app, KeyCode::Enter);
    let effects = key(&mut app, KeyCode::Char('y'));
    assert_eq!(
        store_ops(&effects),
        [Op::Reject {
            task: task_id("docs"),
            note: Some("wrong endpoint name".into())
        }]
    );
}

#[test]
fn text_typed_in_a_review_asks_its_worker_for_changes() {
    let mut app = awaiting_app();
    open_review(&mut app);
    // Shift-Tab: from the review to the message box (letters in the review
    // are its keys).
    key(&mut app, KeyCode::BackTab);
    assert_eq!(app.focus, Focus::Input);
    type_text(&mut app, "also document the error case");
    let effects = key(&mut app, KeyCode::Enter);
    assert_eq!(
        store_ops(&effects),
        [Op::FollowUp {
            task: task_id("docs"),
            execution: None,
            request: "also document the error case".into()
        }]
    );
    assert!(
        !effects.iter().any(|e| matches!(e, Effect::Planner(_))),
        "nothing goes to the planner: {effects:?}"
    );
    assert_eq!(app.view, View::Chat);
}

#[test]
fn a_review_that_cannot_be_read_says_why() {
    let mut app = awaiting_app();
    type_text(&mut app, "/review docs");
    key(&mut app, KeyCode::Enter);
    update(
        &mut app,
        Msg::ReviewLoaded {
            task: task_id("docs"),
            review: Err("the task branch 'enki/task-docs' does not exist".into()),
        },
    );
    let screen = draw(&mut app, 160, 45).backend().to_string();
    assert!(
        screen.contains("cannot show this review: the task branch"),
        "{screen}"
    );
}
