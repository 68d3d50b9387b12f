//! Review before landing from the TUI: open a task's review in the main
//! view (Enter on a task awaiting review, F3, `/review`), show another
//! file, approve (`a`, `/approve`), reject (`x` or `/reject`, confirmed),
//! or request changes (text typed while the review is shown, or
//! `/followup`): each the same operation as `enki approve|reject|followup`.

use crate::msg::{Effect, Fetch, Op, StoreRequest};
use crate::state::{App, Focus, Overlay, ReviewPane, View};
use crate::theme;

/// The status of work that waits for a review.
pub(crate) const AWAITING: &str = "awaiting_review";

/// Shows the review of `task` (a full id), reading it from the store.
pub(crate) fn open_review(app: &mut App, task: &str, effects: &mut Vec<Effect>) {
    app.review = Some(ReviewPane::loading(task));
    app.view = View::Review(task.to_string());
    app.focus = Focus::Main;
    effects.push(Effect::Store(StoreRequest::Fetch(Fetch::Review(
        task.to_string(),
    ))));
}

/// The review read from the store, if it is still the one on screen.
pub(crate) fn loaded(
    app: &mut App,
    task: &str,
    review: Result<Box<enki_coordinator::review::Review>, String>,
) {
    if let Some(pane) = app.review.as_mut().filter(|p| p.task == task) {
        pane.load(review.map(|r| *r));
    }
}

/// The task of the review on screen.
fn reviewed(app: &App) -> Option<String> {
    match &app.view {
        View::Review(task) => Some(task.clone()),
        _ => None,
    }
}

fn named(app: &App, task: &str) -> String {
    app.task_name(task)
}

/// The task a review command means: `word` (a task id or prefix, or a step
/// of the execution in view), else the review on screen, else the task
/// selected in the tasks pane when it awaits review, else the first task
/// that awaits review. `Err` says why none.
pub(crate) fn review_task(app: &App, word: Option<&str>) -> Result<String, String> {
    if let Some(word) = word {
        let full = app.full_task_id(word);
        if app.tasks.contains_key(&full) {
            return Ok(full);
        }
        let execution = app.default_execution();
        return app
            .tasks
            .values()
            .find(|t| t.step == word && Some(&t.execution) == execution.as_ref())
            .map(|t| t.id.clone())
            .ok_or_else(|| format!("no task or step `{word}` here"));
    }
    if let Some(task) = reviewed(app) {
        return Ok(task);
    }
    let selected = app
        .chosen_task_row()
        .and_then(|k| k.strip_prefix("t:").map(str::to_string))
        .filter(|t| app.tasks.get(t).is_some_and(|t| t.status == AWAITING));
    selected
        .or_else(|| app.awaiting_review().into_iter().next())
        .ok_or_else(|| "no task awaits your review".to_string())
}

/// Leaves the review for the chat.
fn close(app: &mut App) {
    app.view = View::Chat;
    app.review = None;
    app.scroll = 0;
}

/// `a` in the review, `/approve`: the work goes to the merge queue.
pub(crate) fn approve(app: &mut App, task: Option<String>, effects: &mut Vec<Effect>) {
    let Some(task) = task.or_else(|| reviewed(app)) else {
        return;
    };
    app.event(
        "✔",
        &format!(
            "you approved {}: it goes to the merge queue",
            named(app, &task)
        ),
        theme::good(),
    );
    if reviewed(app).as_deref() == Some(task.as_str()) {
        close(app);
    }
    effects.push(Effect::Store(StoreRequest::Op(Op::Approve(task))));
}

/// `x` in the review, `/reject`: asks first, saying what rejecting does.
pub(crate) fn ask_reject(app: &mut App, task: Option<String>, note: Option<String>) {
    let Some(task) = task.or_else(|| reviewed(app)) else {
        return;
    };
    let mut lines = vec![format!(
        "{}: its work does not land; the task fails and its branch is kept.",
        named(app, &task)
    )];
    lines.push("Steps that need it are blocked; /retry runs it again.".to_string());
    if let Some(note) = &note {
        lines.push(format!("Note: {note}"));
    }
    app.overlay = Some(Overlay::Confirm {
        title: "Reject?".into(),
        lines,
        op: Op::Reject { task, note },
    });
}

/// After a confirmed rejection: the review it was on closes.
pub(crate) fn rejected(app: &mut App, task: &str) {
    if reviewed(app).as_deref() == Some(task) {
        close(app);
    }
}

/// Text typed while a review is shown: the changes the person asks for,
/// a follow-up turn in the worker's session; the work comes back for
/// review.
pub(crate) fn request_changes(app: &mut App, text: &str) -> Option<Op> {
    let task = reviewed(app)?;
    app.event(
        "↻",
        &format!(
            "you asked {} for changes: {}",
            named(app, &task),
            crate::text::first_line(text)
        ),
        theme::info(),
    );
    close(app);
    Some(Op::FollowUp {
        task,
        execution: None,
        request: text.to_string(),
    })
}

/// Scrolls the review `delta` rows down (up when negative).
pub(crate) fn scroll(app: &mut App, delta: isize) {
    if let Some(pane) = app.review.as_mut() {
        pane.top = pane.top.saturating_add_signed(delta).min(usize::MAX / 2);
    }
}

/// `← →` in the review: another file's patch, from its top.
pub(crate) fn step_file(app: &mut App, delta: isize) {
    if let Some(pane) = app.review.as_mut() {
        pane.step_file(delta);
    }
}
