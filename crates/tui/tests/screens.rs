//! Screen tests: every pane, the overlays and the small-terminal fallbacks
//! drawn on ratatui's TestBackend and compared with committed insta
//! snapshots (tests/snapshots/). Sizes from 0x0 up are drawn to prove
//! nothing panics.
// An integration test: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use common::{
    EXEC, busy_app, draw, draw_pane, key, permission_ask, snapshot, task, task_id, tool, type_text,
};
use enki_coordinator::{Progress, ToolStatus, TranscriptEntry};
use enki_tui::data::ExecView;
use enki_tui::msg::Msg;
use enki_tui::state::{App, Focus, Overlay, View};
use enki_tui::ui;
use enki_tui::update::update;
use insta::assert_snapshot;
use ratatui::crossterm::event::KeyCode;

#[test]
fn full_screen() {
    let mut app = busy_app();
    assert_snapshot!(draw(&mut app, 120, 36).backend());
}

/// The busy app after its agents reported usage: `api` tokens and a cost,
/// `docs` tokens only (an estimate from `[prices]`), `tests` nothing.
fn app_with_usage() -> App {
    use enki_core::usage::{Cost, Prices, RunUsage, Tokens, Totals};
    let mut app = busy_app();
    let priced = |usage: RunUsage| {
        let mut prices = Prices::default();
        prices.by_model.insert(
            "sim".into(),
            enki_core::usage::Price {
                input: 3.0,
                output: 15.0,
                cache_read: 0.3,
                cache_write: 3.75,
                currency: "USD".into(),
            },
        );
        let mut totals = Totals::default();
        totals.add(&usage, &prices);
        totals
    };
    let api = priced(RunUsage {
        tokens: Tokens {
            input: Some(48_200),
            output: Some(6_350),
            cache_read: Some(210_000),
            cache_write: Some(9_000),
        },
        cost: Some(Cost {
            amount: 0.4125,
            currency: "USD".into(),
        }),
        model: Some("claude-sonnet-4-5".into()),
    });
    let docs = priced(RunUsage {
        tokens: Tokens {
            input: Some(12_000),
            output: Some(900),
            ..Tokens::default()
        },
        cost: None,
        model: Some("sim".into()),
    });
    let mut session = api.clone();
    session.merge(&docs);
    for (step, usage) in [("api", api), ("docs", docs)] {
        update(
            &mut app,
            Msg::Progress(Progress::Usage {
                task: Some(task_id(step)),
                run: "worker".into(),
                usage: Box::new(usage),
                session: Box::new(session.clone()),
            }),
        );
    }
    app
}

#[test]
fn usage_on_worker_rows_and_the_session_total_in_the_footer() {
    let mut app = app_with_usage();
    assert_snapshot!(draw(&mut app, 160, 45).backend());
}

#[test]
fn usage_on_a_small_terminal() {
    let mut app = app_with_usage();
    assert_snapshot!(draw(&mut app, 80, 24).backend());
}

#[test]
fn chat_pane() {
    let mut app = busy_app();
    app.focus = Focus::Main;
    assert_snapshot!(draw_pane(&mut app, 70, 30, ui::chat::draw).backend());
}

#[test]
fn chat_pane_scrolled_up() {
    let mut app = busy_app();
    app.scroll = 4;
    assert_snapshot!(draw_pane(&mut app, 70, 12, ui::chat::draw).backend());
}

#[test]
fn long_markdown_with_code() {
    let mut app = App::new();
    let markdown = "# Refactoring the router\n\nThe *current* router mixes **parsing** and \
        dispatch, and the handler table is rebuilt on every request, which is both slow and \
        hard to test.\n\n## Steps\n\n1. Extract `parse_route` into its own module\n2. Cache \
        the table:\n   - build it once at start-up\n   - share it behind an `Arc`\n3. Test \
        it\n\n```rust\nfn parse_route(path: &str) -> Option<Route> {\n    let mut parts = \
        path.split('/');\n    match (parts.next(), parts.next()) {\n        (Some(\"\"), \
        Some(\"hello\")) => Some(Route::Hello),\n        _ => None,\n    }\n}\n```\n\n> Note: \
        the cache must be invalidated when routes are added at runtime.\n\n| step | tier \
        |\n|------|------|\n| parse | light |\n| cache | standard |\n\n---\n\nDone with \
        ~~nothing~~ everything, see [the docs](https://example.com/docs).";
    update(
        &mut app,
        Msg::Progress(Progress::PlannerText {
            text: markdown.into(),
        }),
    );
    assert_snapshot!(draw_pane(&mut app, 64, 48, ui::chat::draw).backend());
}

#[test]
fn worker_transcript() {
    let mut app = busy_app();
    app.view = View::Transcript(task_id("api"));
    assert_snapshot!(draw_pane(&mut app, 70, 12, ui::chat::draw).backend());
}

#[test]
fn workers_pane() {
    let mut app = busy_app();
    app.focus = Focus::Workers;
    assert_snapshot!(draw_pane(&mut app, 48, 9, ui::workers::draw).backend());
}

#[test]
fn tasks_pane() {
    let mut app = busy_app();
    app.focus = Focus::Tasks;
    key(&mut app, KeyCode::Down);
    key(&mut app, KeyCode::Down);
    assert_snapshot!(draw_pane(&mut app, 48, 9, ui::tasks::draw).backend());
}

#[test]
fn tasks_pane_with_earlier_sessions_executions() {
    let mut app = busy_app();
    let mut snapshot = snapshot();
    let earlier = |id: &str, title: &str, status: &str| ExecView {
        id: id.into(),
        title: title.into(),
        status: status.into(),
        earlier: true,
        tasks: vec![task("only", "The one step", status, 0, "light", None)],
    };
    snapshot
        .executions
        .insert(0, earlier("exec-01EARLIER2", "Fix the login bug", "failed"));
    snapshot
        .executions
        .insert(0, earlier("exec-01EARLIER1", "Rename the config", "done"));
    update(&mut app, Msg::Snapshot(snapshot));
    // Collapsed: one row each, before this session's execution and steps.
    assert_eq!(
        app.task_rows()[..3],
        [
            "x:exec-01EARLIER1",
            "x:exec-01EARLIER2",
            &format!("x:{EXEC}")
        ]
    );
    assert_snapshot!(draw_pane(&mut app, 48, 9, ui::tasks::draw).backend());
    for (width, height) in [(160, 45), (80, 24)] {
        app.focus = Focus::Tasks;
        assert_snapshot!(
            format!("earlier_executions_{width}x{height}"),
            draw(&mut app, width, height).backend()
        );
    }
}

#[test]
fn merge_queue_pane() {
    let mut app = busy_app();
    update(
        &mut app,
        Msg::Progress(Progress::MergeLanded {
            task: task_id("docs"),
            commit: Some("0123456789abcdef".into()),
        }),
    );
    update(
        &mut app,
        Msg::Progress(Progress::MergeFailed {
            task: task_id("tests"),
            error: "conflict in src/lib.rs".into(),
        }),
    );
    assert_snapshot!(draw_pane(&mut app, 60, 6, ui::merges::draw).backend());
}

#[test]
fn mail_pane() {
    let mut app = busy_app();
    app.focus = Focus::Mail;
    assert_snapshot!(draw_pane(&mut app, 60, 5, ui::mail::draw).backend());
}

#[test]
fn empty_panes() {
    let mut app = App::new();
    assert_snapshot!(draw(&mut app, 100, 24).backend());
}

#[test]
fn status_line_and_footer() {
    let mut app = busy_app();
    update(&mut app, Msg::Permission(permission_ask()));
    let mut terminal = draw_pane(&mut app, 120, 2, |f, a, app| {
        let [status, footer] =
            ratatui::layout::Layout::vertical([ratatui::layout::Constraint::Length(1); 2]).areas(a);
        ui::status::draw(f, status, app);
        ui::footer::draw(f, footer, app);
    });
    assert_snapshot!(terminal.backend_mut());
}

#[test]
fn message_box_with_lines_and_file_completion() {
    let mut app = busy_app();
    update(
        &mut app,
        Msg::Files(vec![
            "README.md".into(),
            "src/lib.rs".into(),
            "src/routes/hello.rs".into(),
            "src/routes/mod.rs".into(),
        ]),
    );
    type_text(&mut app, "First line");
    update(
        &mut app,
        Msg::Key(ratatui::crossterm::event::KeyEvent::new(
            KeyCode::Enter,
            ratatui::crossterm::event::KeyModifiers::ALT,
        )),
    );
    type_text(&mut app, "then look at @rout");
    assert_snapshot!(draw(&mut app, 90, 24).backend());
}

#[test]
fn command_completion() {
    let mut app = busy_app();
    type_text(&mut app, "/re");
    assert_snapshot!(draw(&mut app, 90, 24).backend());
}

#[test]
fn help_overlay() {
    let mut app = busy_app();
    key(&mut app, KeyCode::Char('?'));
    assert_eq!(app.overlay, Some(Overlay::Help { scroll: 0 }));
    assert_snapshot!(draw(&mut app, 110, 36).backend());
}

#[test]
fn permission_prompt() {
    // Opened with F2: the prompt, its keys in the footer, the queue.
    let mut app = busy_app();
    update(&mut app, Msg::Permission(permission_ask()));
    let mut second = permission_ask();
    second.id = 8;
    update(&mut app, Msg::Permission(second));
    key(&mut app, KeyCode::F(2));
    assert_snapshot!(draw(&mut app, 100, 30).backend());
}

#[test]
fn permission_waiting() {
    // Not opened: a bar above the message box, typing goes on.
    let mut app = busy_app();
    update(&mut app, Msg::Permission(permission_ask()));
    type_text(&mut app, "add a test");
    assert_snapshot!(draw(&mut app, 100, 30).backend());
}

#[test]
fn markdown_table_narrow() {
    let mut app = App::new();
    let markdown = concat!(
        "| step | tier | what it does |\n",
        "|:-----|:----:|-------------:|\n",
        "| parse | light | splits the path into segments |\n",
        "| cache | standard | keeps the table |\n",
        "\n",
        "- a list item long enough to wrap onto a second row\n",
        "  1. nested and numbered, also long enough to wrap\n",
        "\n",
        "> a quote long enough to wrap onto a second row keeps its bar",
    );
    update(
        &mut app,
        Msg::Progress(Progress::PlannerText {
            text: markdown.into(),
        }),
    );
    assert_snapshot!(draw_pane(&mut app, 42, 20, ui::chat::draw).backend());
}

#[test]
fn worker_transcript_untitled_updates() {
    // Tool call updates change the call's line in place (found by call
    // id); a command's output shows its last lines and its exit status.
    let mut app = busy_app();
    for entry in [
        tool(
            "c-edit",
            "Edit src/routes/hello.rs",
            Some(ToolStatus::Completed),
        ),
        tool("c1", "enki_worker_report", Some(ToolStatus::InProgress)),
        tool("c1", "enki_worker_report", Some(ToolStatus::Completed)),
        tool("c2", "Terminal", Some(ToolStatus::Pending)),
        tool("c2", "cargo test", Some(ToolStatus::InProgress)),
        TranscriptEntry::Tool {
            id: "c2".into(),
            title: "cargo test".into(),
            status: Some(ToolStatus::Failed),
            output: Some("running 12 tests\n10 passed\n2 failed\nerror: test failed".into()),
            exit_code: Some(101),
        },
    ] {
        update(
            &mut app,
            Msg::Progress(Progress::WorkerTranscript {
                task: task_id("api"),
                entry,
            }),
        );
    }
    app.view = View::Transcript(task_id("api"));
    assert_snapshot!(draw_pane(&mut app, 70, 12, ui::chat::draw).backend());
}

#[test]
fn quit_confirmation() {
    let mut app = busy_app();
    update(
        &mut app,
        Msg::Key(ratatui::crossterm::event::KeyEvent::new(
            KeyCode::Char('c'),
            ratatui::crossterm::event::KeyModifiers::CONTROL,
        )),
    );
    assert_eq!(app.overlay, Some(Overlay::ConfirmQuit));
    assert_snapshot!(draw(&mut app, 100, 30).backend());
}

#[test]
fn text_overlay() {
    let mut app = busy_app();
    update(
        &mut app,
        Msg::Fetched {
            title: "Dependency graph".into(),
            text: Ok("exec-01J  Add a greeting API  [running]  5 steps\n  L0  design  done  Design the endpoint\n  L1    api  running  Implement GET /hello\n        needs design (merged ✓)".into()),
        },
    );
    assert_snapshot!(draw(&mut app, 80, 14).backend());
}

#[test]
fn compact_layout() {
    let mut app = busy_app();
    assert_snapshot!("compact_chat", draw(&mut app, 60, 16).backend());
    key(&mut app, KeyCode::Tab);
    key(&mut app, KeyCode::Tab);
    assert_eq!(app.focus, Focus::Workers);
    assert_snapshot!("compact_workers", draw(&mut app, 60, 16).backend());
}

#[test]
fn ascii_glyphs_for_fonts_without_the_symbols() {
    for (width, height) in [(160, 45), (80, 24)] {
        let mut app = busy_app();
        update(&mut app, Msg::Permission(permission_ask()));
        app.glyphs = enki_config::Glyphs::Ascii;
        let terminal = draw(&mut app, width, height);
        let screen = terminal.backend().to_string();
        for symbol in ["⚿", "⛙", "✔", "▶", "─", "│"] {
            assert!(
                !screen.contains(symbol),
                "{symbol} left at {width}x{height}"
            );
        }
        assert_snapshot!(format!("ascii_glyphs_{width}x{height}"), terminal.backend());
    }
}

#[test]
fn a_cancel_asks_and_says_what_it_affects() {
    for (width, height) in [(160, 45), (80, 24)] {
        let mut app = busy_app();
        type_text(&mut app, "/cancel api");
        key(&mut app, KeyCode::Enter);
        assert!(matches!(app.overlay, Some(Overlay::Confirm { .. })));
        assert_snapshot!(
            format!("cancel_confirmation_{width}x{height}"),
            draw(&mut app, width, height).backend()
        );
    }
}

#[test]
fn the_chat_of_earlier_sessions_comes_back_with_markers() {
    let row = |session: &str, at: &str, speaker, text: &str| enki_store::ChatRow {
        session_id: session.into(),
        at: at.into(),
        speaker,
        text: text.into(),
    };
    for (width, height) in [(160, 45), (80, 24)] {
        let mut app = App::new();
        app.restore_chat(&[
            row(
                "sess-01JEARLIER0000000000000",
                "2026-12-06T09:15:02.000000Z",
                enki_store::Speaker::User,
                "Add a /hello endpoint",
            ),
            row(
                "sess-01JEARLIER0000000000000",
                "2026-12-06T09:15:09.000000Z",
                enki_store::Speaker::Planner,
                "I planned **three** steps: design, implement, test.",
            ),
            row(
                "sess-01JYESTERDAY00000000000",
                "2026-12-06T17:40:00.000000Z",
                enki_store::Speaker::User,
                "And document it",
            ),
        ]);
        assert_snapshot!(
            format!("earlier_chat_{width}x{height}"),
            draw(&mut app, width, height).backend()
        );
    }
}

#[test]
fn tiny_terminal() {
    let mut app = busy_app();
    assert_snapshot!("tiny_20x3", draw(&mut app, 20, 3).backend());
    assert_snapshot!("tiny_1x1", draw(&mut app, 1, 1).backend());
}

#[test]
fn every_size_draws_without_panicking() {
    let mut app = busy_app();
    update(&mut app, Msg::Permission(permission_ask()));
    type_text(&mut app, "a long message that wraps around a narrow box @");
    let sizes = (0..=30u16)
        .flat_map(|w| (0..=14u16).map(move |h| (w, h)))
        .chain(
            (30..=200u16)
                .step_by(7)
                .flat_map(|w| (0..=60u16).step_by(5).map(move |h| (w, h))),
        );
    for (w, h) in sizes {
        for overlay in [
            None,
            Some(Overlay::Help { scroll: 3 }),
            Some(Overlay::ConfirmQuit),
        ] {
            app.overlay = overlay;
            for open in [false, true] {
                app.prompt_open = open;
                let _ = draw(&mut app, w, h);
            }
        }
        app.view = View::Transcript(task_id("api"));
        let _ = draw(&mut app, w, h);
        app.view = View::Chat;
    }
}

#[test]
fn a_logged_warning_shows_in_the_status_line() {
    let mut app = busy_app();
    update(
        &mut app,
        Msg::Warning("could not remove the finished copy .enki/copies/task-01 (busy)".into()),
    );
    assert_snapshot!(draw(&mut app, 100, 20).backend());
}
