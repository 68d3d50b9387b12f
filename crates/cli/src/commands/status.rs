//! `enki status`: counts by status, workers, merge queue, executions.

use anyhow::Result;
use enki_core::id::short;
use enki_views::status_text;
use serde_json::json;

use enki_coordinator::{CoordinatorLock, Holder};
use enki_store::StatusCounts;

use super::{open_store, print_json, print_text, session};

pub fn run(json: bool) -> Result<()> {
    let layout = enki_project::Layout::locate_from_env()?;
    let store = open_store()?;
    let session = session();
    let mut counts = store.status_counts(session.as_deref())?;
    let coordinator = CoordinatorLock::holder(&layout.dir)?;
    // Agents run only under a coordinator: with none, the store's running
    // tasks were interrupted (its end, even by SIGKILL, took their agents)
    // and no worker runs, whatever the last states written say.
    let interrupted = matches!(coordinator, Holder::Nobody);
    if interrupted {
        counts.running_workers = 0;
    }
    let executions = store.executions(session.as_deref())?;
    let running = store.tasks(&enki_store::TaskFilter {
        session: session.clone(),
        status: Some(enki_core::TaskStatus::Running),
        execution_id: None,
    })?;
    // What this session's runs (every run, with no session) used.
    let usage = enki_views::usage_totals(
        &store.usage_rows(&enki_store::UsageFilter {
            session: session.clone(),
            ..enki_store::UsageFilter::default()
        })?,
        &super::prices(),
    );
    // Agents whose tasks wait for a limit of their account: the next
    // coordinator waits too, so they are shown with or without one.
    let now_ms = enki_coordinator::holds::unix_now_ms();
    let held: Vec<enki_core::limits::Hold> = store
        .agent_holds()?
        .into_iter()
        .filter(|h| h.holds_at(now_ms))
        .collect();
    // The queue in landing order, each request with its task's step and title.
    let mut queue = Vec::new();
    for request in store.pending_merges()? {
        let task = store.task(&request.task_id)?;
        queue.push((request, task));
    }
    if json {
        let merge_queue: Vec<_> = queue
            .iter()
            .map(|(request, task)| {
                json!({
                    "request": request,
                    "step_id": task.as_ref().map(|t| &t.step_id),
                    "title": task.as_ref().map(|t| &t.title),
                })
            })
            .collect();
        let coordinator = match &coordinator {
            Holder::Nobody => json!({ "running": false }),
            Holder::Running(who) => json!({
                "running": true,
                "holder": who,
                "processes": CoordinatorLock::open_by(&layout.dir),
            }),
        };
        return print_json(&json!({
            "counts": counts,
            "executions": executions,
            "merge_queue": merge_queue,
            "workers": if interrupted { json!([]) } else { enki_views::workers_json(&running) },
            "interrupted": if interrupted { enki_views::workers_json(&running) } else { json!([]) },
            "coordinator": coordinator,
            "usage": usage,
            "held_agents": held,
        }));
    }
    let mut text = String::new();
    if let Some(session) = &session {
        text.push_str(&format!("session {session}\n"));
    }
    text.push_str(&status_text(&counts));
    text.push_str(&coordinator_line(&coordinator, &counts));
    if usage.runs > 0 {
        text.push_str(&format!("\nusage: {}", usage.describe()));
    }
    for hold in &held {
        text.push_str(&format!(
            "\n⏸ {} (in {})",
            hold.describe(),
            enki_core::limits::wait(hold.until_ms.saturating_sub(now_ms))
        ));
    }
    let now = enki_store::now_rfc3339();
    if interrupted {
        let tasks = enki_views::interrupted_text(&running, &now);
        if !tasks.is_empty() {
            text.push_str("\ninterrupted:\n");
            text.push_str(&tasks);
        }
    } else {
        let workers = enki_views::workers_text(&running, &now);
        if !workers.is_empty() {
            text.push_str("\nworkers:\n");
            text.push_str(&workers);
        }
    }
    if executions.is_empty() {
        text.push_str("\nno executions");
    } else {
        text.push_str("\nexecutions:");
        let width = executions
            .iter()
            .map(|e| e.status.as_str().len())
            .max()
            .unwrap_or(0);
        for e in &executions {
            text.push_str(&format!(
                "\n  {}  {:width$}  {}",
                short(&e.id),
                e.status.as_str(),
                e.title
            ));
            if let Some(reason) = &e.paused_reason {
                text.push_str(&format!(" — {reason}"));
            }
        }
    }
    if !queue.is_empty() {
        text.push_str("\nmerge queue:");
        for (request, task) in &queue {
            let what = task
                .as_ref()
                .map(|t| format!("[{}] {}", t.step_id, t.title))
                .unwrap_or_else(|| short(&request.task_id).to_string());
            let why = request
                .reason
                .as_deref()
                .map(|r| format!(" — {}", r.lines().next().unwrap_or_default()))
                .unwrap_or_default();
            text.push_str(&format!(
                "\n  {}  {:9}  {what}{why}",
                short(&request.id),
                request.status.as_str()
            ));
        }
    }
    print_text(&text)
}

/// Whether a coordinator runs, and what the store's `running` work means
/// when none does (it was interrupted and runs again at the next start).
fn coordinator_line(coordinator: &Holder, counts: &StatusCounts) -> String {
    let running = counts.by_status.get("running").copied().unwrap_or(0);
    match coordinator {
        Holder::Running(Some(who)) => format!("\ncoordinator: running ({who})"),
        Holder::Running(None) => "\ncoordinator: starting".to_string(),
        Holder::Nobody if running > 0 => format!(
            "\ncoordinator: none is running; the {running} running task(s) shown were interrupted and run again in their kept copies when enki starts (`enki run` resumes)"
        ),
        Holder::Nobody => "\ncoordinator: none is running".to_string(),
    }
}
