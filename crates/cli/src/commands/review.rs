//! `enki review [TASK]`, `enki approve TASK` and `enki reject TASK [--note]`:
//! review before landing (`[merge] review = "ask"`), of a task's work or of
//! the merger's resolution of its conflict. The diff is read from
//! git and the store; the decisions are `enki_coordinator::ops`, which a
//! running coordinator picks up (the store is the truth, the signal wakes it).

use std::io::IsTerminal;

use anyhow::Result;
use enki_coordinator::ops;
use enki_coordinator::review::{Review, review_of};
use enki_core::TaskStatus;
use enki_workspace::FileChange;

use super::ops::{open, report, unless_idle};
use super::{print_json, print_text, session};

/// ANSI colours for a terminal, none otherwise (or with `NO_COLOR`).
struct Paint {
    on: bool,
}

impl Paint {
    fn new() -> Paint {
        Paint {
            on: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
        }
    }

    fn wrap(&self, code: &str, text: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    /// One line of a patch, coloured by what it is.
    fn patch_line(&self, line: &str) -> String {
        let code = if line.starts_with("diff --git")
            || line.starts_with("+++ ")
            || line.starts_with("--- ")
        {
            "1"
        } else if line.starts_with("@@") {
            "36"
        } else if line.starts_with('+') {
            "32"
        } else if line.starts_with('-') {
            "31"
        } else {
            return line.to_string();
        };
        self.wrap(code, line)
    }
}

fn change_letter(change: FileChange) -> &'static str {
    match change {
        FileChange::Added => "A",
        FileChange::Modified => "M",
        FileChange::Deleted => "D",
        FileChange::Renamed => "R",
    }
}

/// The review as text: the task, where it lands, its output, the files
/// with stats, the patch, and what to do next.
fn render(review: &Review, paint: &Paint) -> String {
    let task = &review.task;
    let mut out = String::new();
    let state = if task.status == TaskStatus::AwaitingReview {
        "awaits your review".to_string()
    } else {
        format!("is {} (not awaiting review)", task.status)
    };
    let what = match review.resolution {
        Some(_) => "the merger's resolution of the conflict of task",
        None => "task",
    };
    out.push_str(&paint.wrap(
        "1",
        &format!(
            "{what} {} (step `{}`, \"{}\") {state}, round {}",
            task.id, task.step_id, task.title, task.round
        ),
    ));
    out.push('\n');
    let output = |out: &mut String, label: &str, output: Option<&str>| match output
        .filter(|o| !o.trim().is_empty())
    {
        Some(output) => out.push_str(&format!("{label} {}\n", output.trim())),
        None => out.push_str(&format!("{label} (none)\n")),
    };
    match &review.resolution {
        Some(held) => {
            out.push_str(&format!(
                "lands on {} from {} as the merger resolved it on {} (the diff is against that tip)\n",
                review.base_branch,
                review.branch,
                held.base.get(..8).unwrap_or(&held.base)
            ));
            output(&mut out, "[OUTPUT] worker:", review.output.as_deref());
            output(&mut out, "[OUTPUT] merger:", held.output.as_deref());
        }
        None => {
            out.push_str(&format!(
                "lands on {} from {}\n",
                review.base_branch, review.branch
            ));
            output(&mut out, "[OUTPUT]", review.output.as_deref());
        }
    }
    let diff = &review.diff;
    out.push_str(&format!(
        "{} file(s) changed, {} {}\n",
        diff.files.len(),
        paint.wrap("32", &format!("+{}", diff.added())),
        paint.wrap("31", &format!("-{}", diff.removed()))
    ));
    for file in &diff.files {
        let stats = match (file.added, file.removed) {
            (Some(added), Some(removed)) => format!(
                "{} {}",
                paint.wrap("32", &format!("+{added}")),
                paint.wrap("31", &format!("-{removed}"))
            ),
            _ => "binary".to_string(),
        };
        let name = match &file.old_path {
            Some(old) => format!("{old} → {}", file.path),
            None => file.path.clone(),
        };
        out.push_str(&format!(
            "  {}  {name}  {stats}\n",
            change_letter(file.change)
        ));
    }
    for file in &diff.files {
        out.push('\n');
        for line in file.patch.lines() {
            out.push_str(&paint.patch_line(line));
            out.push('\n');
        }
    }
    if task.status == TaskStatus::AwaitingReview {
        let step = &task.step_id;
        out.push_str(&format!(
            "\nnext: enki approve {step}  |  enki reject {step} --note \"why\"  |  enki followup {step} \"what to change\"\n"
        ));
    }
    out
}

pub fn review(task: Option<&str>, json: bool) -> Result<()> {
    let (layout, store) = open()?;
    let ids = match task {
        Some(task) => vec![store.resolve_task(task)?],
        None => store
            .awaiting_review(session().as_deref())?
            .into_iter()
            .map(|t| t.id)
            .collect(),
    };
    let reviews = ids
        .iter()
        .map(|id| review_of(&layout, &store, id).map_err(anyhow::Error::msg))
        .collect::<Result<Vec<_>>>()?;
    if json {
        return match task {
            Some(_) => print_json(&reviews[0]),
            None => print_json(&reviews),
        };
    }
    if reviews.is_empty() {
        return print_text("no task awaits review");
    }
    let paint = Paint::new();
    let text: Vec<String> = reviews.iter().map(|r| render(r, &paint)).collect();
    print_text(text.join("\n").trim_end())
}

pub fn approve(task: &str) -> Result<()> {
    let (layout, mut store) = open()?;
    let task_id = store.resolve_task(task)?;
    let done = ops::approve(&layout, &mut store, session().as_deref(), &task_id)?;
    report(unless_idle(&layout, done))
}

pub fn reject(task: &str, note: Option<&str>) -> Result<()> {
    let (layout, mut store) = open()?;
    let task_id = store.resolve_task(task)?;
    let done = ops::reject(&layout, &mut store, session().as_deref(), &task_id, note)?;
    report(unless_idle(&layout, done))
}
