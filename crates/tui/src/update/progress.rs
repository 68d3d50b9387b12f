//! Coordinator progress into the app: chat lines for what happened,
//! worker rows and transcripts, recent merges, notifications, and a
//! store refresh whenever statuses may have changed.

use enki_coordinator::Progress;
use enki_core::id::short;

use crate::msg::{BudgetAsk, Effect, StoreRequest};
use crate::state::{App, MergeEvent, Overlay, View};
use crate::state::{ChatEntry, Transcript, Worker, WorkerState};
use crate::text::{first_line, sanitize};
use crate::theme;

/// Finished merges remembered for the merge pane.
const RECENT_MERGES: usize = 5;

pub fn on_progress(app: &mut App, progress: Progress, effects: &mut Vec<Effect>) {
    let refresh = !matches!(
        progress,
        Progress::WorkerActivity { .. }
            | Progress::AgentState { .. }
            | Progress::WorkerTranscript { .. }
            | Progress::MergerActivity { .. }
            | Progress::MergerTranscript { .. }
            | Progress::PlannerText { .. }
            | Progress::PlannerTool { .. }
            | Progress::PlannerMessageEnd
            | Progress::PlannerIdle
            | Progress::Usage { .. }
    );
    match progress {
        Progress::AgentHeld { hold, met_by } => {
            app.event("⏸", &hold.announce(&met_by), theme::warn());
            app.held_agents.insert(hold.agent.clone(), hold);
        }
        Progress::AgentFree { agent } => {
            app.held_agents.remove(&agent);
            app.event(
                "▶",
                &format!("agent {agent}'s limit has reset: its tasks start again"),
                theme::info(),
            );
        }
        Progress::BudgetSpent {
            execution,
            title,
            reason,
            standing,
            raise_to,
        } => {
            app.event("$", &format!("\"{title}\" paused: {reason}"), theme::warn());
            let raise_to_text = match standing.measure {
                enki_core::budget::Measure::Tokens => {
                    format!("{} work tokens", enki_core::usage::count(raise_to as u64))
                }
                enki_core::budget::Measure::Cost => format!(
                    "{} {}",
                    enki_core::usage::money(raise_to),
                    standing.currency()
                ),
            };
            effects.push(Effect::Notify {
                title: "enki: a budget is spent".into(),
                body: format!("\"{title}\" is paused: {reason}"),
                urgent: true,
            });
            if app.overlay.is_none() {
                app.overlay = Some(Overlay::RaiseBudget(BudgetAsk {
                    execution,
                    title,
                    reason,
                    scope: standing.scope,
                    measure: standing.measure,
                    raise_to,
                    raise_to_text,
                }));
            }
        }
        Progress::Usage {
            task,
            usage,
            session,
            ..
        } => {
            if let Some(worker) = task.as_deref().and_then(|t| app.worker_mut(t)) {
                worker.usage = Some(*usage);
            }
            app.session_usage = Some(*session);
        }
        Progress::SessionStarted {
            session,
            agent,
            base_branch,
        } => {
            app.event(
                "·",
                &format!(
                    "session {} · agent {agent} · work lands on {base_branch} · type a request, ? for help",
                    short(&session)
                ),
                theme::dim(),
            );
            app.session = session;
            app.agent = agent;
            app.base_branch = base_branch;
        }
        Progress::Adopted { executions } => app.event(
            "↻",
            &format!(
                "resuming {} unfinished execution(s) of an earlier run",
                executions.len()
            ),
            theme::info(),
        ),
        Progress::ExecutionLoaded {
            execution,
            title,
            steps,
        } => app.event(
            "◆",
            &format!(
                "execution \"{title}\" ({}, {steps} step{})",
                short(&execution),
                if steps == 1 { "" } else { "s" }
            ),
            theme::info(),
        ),
        Progress::TaskStatus {
            task,
            step,
            title,
            status,
            reason,
        } => {
            use enki_core::TaskStatus as S;
            let now = app.now_ms;
            let word = status.as_str();
            if let Some(worker) = app.worker_mut(&task) {
                // Later statuses (worker_done, then done once merged) keep
                // the row current; a failed attempt keeps its error until
                // the task settles elsewhere or runs again.
                let settle = match &worker.state {
                    WorkerState::Running | WorkerState::Ended(_) => status != S::Running,
                    WorkerState::Failed { .. } => {
                        !matches!(status, S::Running | S::Failed | S::Pending | S::Ready)
                    }
                };
                if settle {
                    worker.state = WorkerState::Ended(word.to_string());
                    worker.ended_ms.get_or_insert(now);
                }
            }
            let reason_was_merged = reason.as_deref() == Some("merged");
            // "cancelled — cancelled" says nothing more.
            let why = reason
                .filter(|r| !r.trim().is_empty() && !r.trim().eq_ignore_ascii_case(word))
                .map(|r| format!(" — {r}"))
                .unwrap_or_default();
            let style = theme::status(word);
            let execution = app.tasks.get(&task).map(|t| t.execution.clone());
            let echo = execution.is_some_and(|x| app.expected_status(&x, Some(&step), word));
            // "done — merged" follows the merge's own line.
            let merged = status == S::Done && reason_was_merged;
            if !echo
                && !merged
                && matches!(
                    status,
                    S::Done | S::Failed | S::Blocked | S::Cancelled | S::Paused
                )
            {
                app.event(
                    theme::status_mark(word),
                    &format!("[{step}] {title}: {word}{why}"),
                    style,
                );
            }
        }
        Progress::WorkerStarted {
            task,
            step,
            title,
            attempt,
        } => {
            let now = app.now_ms;
            match app.worker_mut(&task) {
                Some(worker) => {
                    worker.attempt = attempt;
                    worker.started_ms = now;
                    worker.ended_ms = None;
                    worker.state = WorkerState::Running;
                    worker.agent = enki_core::AgentState::Idle;
                    worker.agent_reason = Some("starting".into());
                    worker.agent_since_ms = now;
                    worker.activity.clear();
                    worker.merger_run = None;
                    worker.usage = None;
                    worker
                        .transcript
                        .separator(&format!("── attempt {attempt} ──"));
                }
                None => {
                    app.add_worker(Worker {
                        task: task.clone(),
                        step: step.clone(),
                        title: title.clone(),
                        attempt,
                        started_ms: now,
                        ended_ms: None,
                        state: WorkerState::Running,
                        agent: enki_core::AgentState::Idle,
                        agent_reason: Some("starting".into()),
                        agent_since_ms: now,
                        activity: String::new(),
                        transcript: Transcript::default(),
                        merger_run: None,
                        usage: None,
                    });
                }
            }
            let again = if attempt > 1 {
                format!(" (attempt {attempt})")
            } else {
                String::new()
            };
            app.event(
                "▶",
                &format!("[{step}] {title}: started{again}"),
                theme::dim(),
            );
        }
        Progress::MergerStarted {
            task,
            step,
            title,
            run,
            files,
        } => {
            let now = app.now_ms;
            let separator = format!("── merger run {run}: {} ──", files.join(", "));
            if app.worker(&task).is_none() {
                app.add_worker(Worker {
                    task: task.clone(),
                    step,
                    title,
                    attempt: 0,
                    started_ms: now,
                    ended_ms: None,
                    state: WorkerState::Running,
                    agent: enki_core::AgentState::Working,
                    agent_reason: None,
                    agent_since_ms: now,
                    activity: String::new(),
                    transcript: Transcript::default(),
                    merger_run: None,
                    usage: None,
                });
            }
            if let Some(row) = app.worker_mut(&task) {
                row.usage = None;
                row.started_ms = now;
                row.ended_ms = None;
                row.state = WorkerState::Running;
                // A merger's liveness is not judged: it works until its time runs out.
                row.agent = enki_core::AgentState::Working;
                row.agent_reason = None;
                row.agent_since_ms = now;
                row.activity.clear();
                row.merger_run = Some(run);
                row.transcript.separator(&separator);
            }
        }
        Progress::AgentState {
            task,
            state,
            reason,
        } => {
            let now = app.now_ms;
            if let Some(worker) = app.worker_mut(&task) {
                worker.agent = state;
                worker.agent_reason = reason.map(|r| first_line(&sanitize(&r)).to_string());
                worker.agent_since_ms = now;
            }
        }
        Progress::WorkerActivity { task, text } | Progress::MergerActivity { task, text } => {
            if let Some(worker) = app.worker_mut(&task) {
                worker.activity = first_line(&sanitize(&text)).to_string();
            }
        }
        Progress::WorkerTranscript { task, entry }
        | Progress::MergerTranscript { task, entry } => {
            let visible = app.view == View::Transcript(task.clone());
            if let Some(worker) = app.worker_mut(&task) {
                worker.transcript.append(&entry);
            }
            app.dirty = visible;
        }
        Progress::WorkerFailed {
            task,
            error,
            will_retry,
        } => {
            let now = app.now_ms;
            if let Some(worker) = app.worker_mut(&task) {
                worker.state = WorkerState::Failed {
                    error: first_line(&error).to_string(),
                    will_retry,
                };
                worker.ended_ms = Some(now);
            }
            // A last failure is told by the task's `failed` status, with
            // the same error; only a failure that is retried gets a line.
            if will_retry {
                let (step, _) = app.label(&task);
                app.event(
                    "✘",
                    &format!("[{step}] attempt failed: {error}; retrying"),
                    theme::bad(),
                );
            }
        }
        Progress::MergeQueued { .. } | Progress::Approved { .. } => {}
        // A line in the event log; the review view itself is drawn elsewhere.
        Progress::AwaitingReview {
            step,
            title,
            resolution,
            ..
        } => {
            let what = if resolution {
                "the merger's resolution awaits your review"
            } else {
                "its work awaits your review"
            };
            app.event(
                "⏸",
                &format!("[{step}] {title}: {what} (F3 or /review {step})"),
                theme::warn(),
            );
            effects.push(Effect::Notify {
                title: "enki: work awaits your review".into(),
                body: format!("[{step}] {title}: {what}"),
                urgent: false,
            });
        }
        Progress::MergeLanded { task, commit } => {
            let (step, title) = app.label(&task);
            let commit: String = commit.unwrap_or_default().chars().take(8).collect();
            let detail = if commit.is_empty() {
                "merged".to_string()
            } else {
                format!("merged as {commit}")
            };
            app.event("⛙", &format!("[{step}] {title}: {detail}"), theme::good());
            remember_merge(app, task, true, detail);
            effects.push(Effect::RefreshFiles);
        }
        Progress::MergeWaiting { .. } => {}
        Progress::MergeStatus {
            task,
            status,
            reason,
        } => {
            let (step, _) = app.label(&task);
            app.event("⇄", &format!("[{step}] {status}: {reason}"), theme::dim());
        }
        Progress::MergeFailed { task, error } => {
            let (step, _) = app.label(&task);
            app.event(
                "✘",
                &format!("[{step}] merge failed: {error}"),
                theme::bad(),
            );
            remember_merge(app, task, false, first_line(&error).to_string());
        }
        Progress::ExecutionStatus {
            execution,
            title,
            status,
        } => {
            // The user's own /pause, /resume or /cancel was already
            // reported by its result.
            let word = status.as_str();
            if !app.expected_status(&execution, None, word) {
                let terminal = status.is_terminal();
                app.event(
                    theme::status_mark(word),
                    &format!("execution \"{title}\" ({}) {word}", short(&execution)),
                    theme::status(word),
                );
                if terminal {
                    effects.push(Effect::Notify {
                        title: format!("enki: execution {status}"),
                        body: title,
                        urgent: false,
                    });
                }
            }
        }
        Progress::Checkpoint { execution, task } => {
            let (step, title) = app.label(&task);
            app.event(
                "⏸",
                &format!(
                    "checkpoint [{step}] {title} reached; execution {} paused for the planner",
                    short(&execution)
                ),
                theme::warn(),
            );
        }
        Progress::PlannerText { text } => app.planner_text(&text),
        Progress::PlannerTool { title } => app.push_entry(ChatEntry::tool(&title)),
        // The next text starts an entry of its own.
        Progress::PlannerMessageEnd => {
            if let Some(last) = app.chat.back_mut() {
                last.open = false;
            }
        }
        Progress::PlannerIdle => {
            app.planner_busy = false;
            if let Some(last) = app.chat.back_mut() {
                last.open = false;
            }
        }
        Progress::Mail { from, to, subject } => {
            let (sender, recipient) = (app.address(&from), app.address(&to));
            app.event(
                "✉",
                &format!("{sender} → {recipient}: {subject}"),
                theme::info(),
            );
            if to == "user" {
                effects.push(Effect::Notify {
                    title: format!("enki: mail from {sender}"),
                    body: subject,
                    urgent: false,
                });
            }
        }
        Progress::Warning { message } => app.event("⚠", &message, theme::warn()),
        Progress::Finished {
            done,
            failed,
            cancelled,
            other,
            reason,
            ..
        } => app.event(
            "■",
            &format!(
                "coordinator stopped: {done} done, {failed} failed or blocked, {cancelled} cancelled, {other} unfinished{}",
                reason.map(|r| format!(" — {r}")).unwrap_or_default()
            ),
            theme::dim(),
        ),
    }
    if refresh {
        effects.push(Effect::Store(StoreRequest::Refresh));
    }
}

fn remember_merge(app: &mut App, task: String, landed: bool, detail: String) {
    app.recent_merges.retain(|m| m.task != task);
    app.recent_merges.push_front(MergeEvent {
        task,
        landed,
        detail,
    });
    app.recent_merges.truncate(RECENT_MERGES);
}
