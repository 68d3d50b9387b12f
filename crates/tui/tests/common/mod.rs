//! A deterministic session for screen and key tests: the same progress
//! reports the coordinator sends, fed through `update`.

#![allow(dead_code)]

use enki_coordinator::{Progress, ToolStatus, TranscriptEntry};
use enki_tui::data::{ExecView, MailView, MergeView, Snapshot, TaskView};
use enki_tui::msg::{Effect, Msg, Op, PermissionAsk, StoreRequest};
use enki_tui::state::{App, Overlay};
use enki_tui::update::update;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

pub const EXEC: &str = "exec-01JCHECKPOINTED000000000";

pub fn task_id(step: &str) -> String {
    format!("task-01J{}", step.to_uppercase())
        .chars()
        .take(26)
        .collect()
}

pub fn progress(app: &mut App, progress: Progress) -> Vec<Effect> {
    update(app, Msg::Progress(progress))
}

pub fn key(app: &mut App, code: KeyCode) -> Vec<Effect> {
    update(app, Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)))
}

pub fn key_with(app: &mut App, code: KeyCode, modifiers: KeyModifiers) -> Vec<Effect> {
    update(app, Msg::Key(KeyEvent::new(code, modifiers)))
}

pub fn type_text(app: &mut App, text: &str) -> Vec<Effect> {
    let mut effects = Vec::new();
    for c in text.chars() {
        effects.extend(key(app, KeyCode::Char(c)));
    }
    effects
}

pub fn task(
    step: &str,
    title: &str,
    status: &str,
    level: usize,
    tier: &str,
    role: Option<&str>,
) -> TaskView {
    TaskView {
        id: task_id(step),
        execution: EXEC.into(),
        step: step.into(),
        title: title.into(),
        status: status.into(),
        tier: tier.into(),
        role: role.map(str::to_string),
        level,
        checkpoint: false,
        attempts: 1,
        last_error: None,
    }
}

pub fn snapshot() -> Snapshot {
    Snapshot {
        executions: vec![ExecView {
            id: EXEC.into(),
            title: "Add a greeting API".into(),
            status: "running".into(),
            earlier: false,
            tasks: vec![
                task(
                    "design",
                    "Design the endpoint",
                    "done",
                    0,
                    "heavy",
                    Some("architect"),
                ),
                task(
                    "api",
                    "Implement GET /hello",
                    "running",
                    1,
                    "standard",
                    Some("coder"),
                ),
                task(
                    "docs",
                    "Document the endpoint",
                    "running",
                    1,
                    "light",
                    Some("writer"),
                ),
                task("tests", "Integration tests", "failed", 1, "standard", None),
                task("release", "Release notes", "pending", 2, "light", None),
            ],
        }],
        merges: vec![MergeView {
            task: task_id("design"),
            step: "design".into(),
            title: "Design the endpoint".into(),
            status: "merging".into(),
            reason: Some("rebasing onto main".into()),
        }],
        unread: vec![
            MailView {
                id: "msg-01JA".into(),
                from: "worker/task-01JAPI".into(),
                to: "coordinator".into(),
                subject: "Should /hello take a name?".into(),
                priority: "high".into(),
            },
            MailView {
                id: "msg-01JB".into(),
                from: "coordinator".into(),
                to: "user".into(),
                subject: "Release notes need your wording".into(),
                priority: "normal".into(),
            },
        ],
    }
}

/// A session mid-way: a conversation, three workers (one failed), a
/// snapshot with one execution, a merge under way and unread mail.
pub fn busy_app() -> App {
    let mut app = App::new();
    app.size = (120, 36);
    progress(
        &mut app,
        Progress::SessionStarted {
            session: "sess-01JSESSION0000000000000".into(),
            agent: "sim".into(),
            base_branch: "main".into(),
        },
    );
    type_text(&mut app, "Add a /hello endpoint with docs and tests");
    key(&mut app, KeyCode::Enter);
    for chunk in [
        "## Plan\n\nI will split this into **four** steps:\n\n",
        "1. design the endpoint\n2. implement `GET /hello`\n",
        "3. document it\n4. test it\n",
    ] {
        progress(&mut app, Progress::PlannerText { text: chunk.into() });
    }
    progress(
        &mut app,
        Progress::PlannerTool {
            title: "enki_execution_create".into(),
        },
    );
    progress(
        &mut app,
        Progress::ExecutionLoaded {
            execution: EXEC.into(),
            title: "Add a greeting API".into(),
            steps: 5,
        },
    );
    progress(&mut app, Progress::PlannerIdle);
    update(&mut app, Msg::Snapshot(snapshot()));
    app.now_ms = 1_000;
    for (step, title) in [
        ("api", "Implement GET /hello"),
        ("docs", "Document the endpoint"),
        ("tests", "Integration tests"),
    ] {
        progress(
            &mut app,
            Progress::WorkerStarted {
                task: task_id(step),
                step: step.into(),
                title: title.into(),
                attempt: 1,
            },
        );
    }
    // The agents' states, as the coordinator judges them.
    app.now_ms = 2_000;
    progress(
        &mut app,
        Progress::AgentState {
            task: task_id("api"),
            state: enki_core::AgentState::Working,
            reason: None,
        },
    );
    app.now_ms = 60_000;
    progress(
        &mut app,
        Progress::AgentState {
            task: task_id("docs"),
            state: enki_core::AgentState::WaitingUser,
            reason: Some("Which URL should the docs use?".into()),
        },
    );
    app.now_ms = 75_000;
    progress(
        &mut app,
        Progress::WorkerActivity {
            task: task_id("api"),
            text: "Edit src/routes/hello.rs".into(),
        },
    );
    progress(
        &mut app,
        Progress::WorkerActivity {
            task: task_id("docs"),
            text: "writing".into(),
        },
    );
    for entry in [
        TranscriptEntry::Thought {
            text: "The router lives in src/routes/mod.rs.".into(),
        },
        tool(
            "c-read",
            "Read src/routes/mod.rs",
            Some(ToolStatus::Completed),
        ),
        message("Adding the handler"),
        message(" now.\nIt returns `Hello, world`."),
        tool(
            "c-edit",
            "Edit src/routes/hello.rs",
            Some(ToolStatus::Pending),
        ),
    ] {
        progress(
            &mut app,
            Progress::WorkerTranscript {
                task: task_id("api"),
                entry,
            },
        );
    }
    // As the coordinator reports a last failure: the status, then the
    // failed attempt.
    progress(
        &mut app,
        Progress::TaskStatus {
            task: task_id("tests"),
            step: "tests".into(),
            title: "Integration tests".into(),
            status: "failed".parse().unwrap(),
            reason: Some("cargo test failed: 2 tests failed".into()),
        },
    );
    progress(
        &mut app,
        Progress::WorkerFailed {
            task: task_id("tests"),
            error: "cargo test failed: 2 tests failed".into(),
            will_retry: false,
        },
    );
    progress(
        &mut app,
        Progress::Mail {
            from: "worker/task-01JAPI".into(),
            to: "coordinator".into(),
            subject: "Should /hello take a name?".into(),
        },
    );
    app.now_ms = 83_000;
    app
}

pub fn permission_ask() -> PermissionAsk {
    PermissionAsk {
        id: 7,
        task: Some(task_id("api")),
        title: "Run cargo test --workspace".into(),
        kind: Some("execute".into()),
        locations: vec!["/work/project/.enki/copies/task-01JAPI".into()],
    }
}

/// Draws `app` on a `width` x `height` test terminal.
pub fn draw(app: &mut App, width: u16, height: u16) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("test terminal");
    enki_tui::update::fit(app, width, height);
    terminal
        .draw(|frame| enki_tui::ui::draw(frame, app))
        .expect("draw");
    terminal
}

/// Draws one pane filling a `width` x `height` test terminal.
pub fn draw_pane(
    app: &mut App,
    width: u16,
    height: u16,
    pane: impl Fn(&mut ratatui::Frame<'_>, ratatui::layout::Rect, &App),
) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("test terminal");
    app.layout_main(usize::from(width.saturating_sub(2)));
    terminal
        .draw(|frame| {
            let area = frame.area();
            pane(frame, area, app)
        })
        .expect("draw");
    terminal
}

/// A message chunk of a transcript.
pub fn message(text: &str) -> TranscriptEntry {
    TranscriptEntry::Message { text: text.into() }
}

/// A tool call's transcript entry with no output.
pub fn tool(id: &str, title: &str, status: Option<ToolStatus>) -> TranscriptEntry {
    TranscriptEntry::Tool {
        id: id.into(),
        title: title.into(),
        status,
        output: None,
        exit_code: None,
    }
}

/// Types `text` into the message box and presses Enter.
pub fn submit(app: &mut App, text: &str) -> Vec<Effect> {
    type_text(app, text);
    key(app, KeyCode::Enter)
}

/// Submits a command that asks first (cancel, stop), and says yes.
pub fn confirmed(app: &mut App, text: &str) -> Vec<Effect> {
    let mut effects = submit(app, text);
    assert!(
        matches!(app.overlay, Some(Overlay::Confirm { .. })),
        "{text} asks first"
    );
    effects.extend(key(app, KeyCode::Char('y')));
    effects
}

/// The store operations among `effects`.
pub fn store_ops(effects: &[Effect]) -> Vec<Op> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Store(StoreRequest::Op(op)) => Some(op.clone()),
            _ => None,
        })
        .collect()
}

/// The status line's notice, or nothing.
pub fn notice(app: &App) -> String {
    app.notice
        .as_ref()
        .map(|(n, _)| n.clone())
        .unwrap_or_default()
}
