//! Steering from outside the planner (`enki pause|resume|cancel|retry|
//! followup|approve|reject|stop` and the TUI's slash commands): the same store changes and
//! signal files as the planner's MCP tools, so a running coordinator reacts
//! at once and one started later finds the store already changed.

use enki_project::Layout;
use enki_signals::{Origin, Signal, SignalKind, write_signal};
use enki_store::{Dependent, FollowedUp, Store, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Pause,
    Resume,
    Cancel,
}

/// What an operation did, and a warning when its signal could not be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Done {
    pub message: String,
    pub warning: Option<String>,
}

/// Drops the signal. The store already holds the change, so a failure only
/// delays the coordinator until its next rescan.
fn signal(layout: &Layout, session: Option<&str>, kind: SignalKind) -> Option<String> {
    let signal = Signal::new(
        kind,
        session.map(str::to_string),
        Origin {
            role: "user".into(),
            task_id: None,
        },
    );
    write_signal(&layout.events(), &signal).err().map(|e| {
        format!(
            "could not write a signal file ({e}); a running coordinator will notice within a second"
        )
    })
}

/// Pauses, resumes or cancels an execution (id or prefix), or one step of it.
pub fn steer_execution(
    layout: &Layout,
    store: &mut Store,
    session: Option<&str>,
    operation: Operation,
    execution: &str,
    step: Option<&str>,
) -> Result<Done, StoreError> {
    let execution_id = store.resolve_execution(execution)?;
    let message = match operation {
        Operation::Pause => store.pause(&execution_id, step)?,
        Operation::Resume => store.resume(&execution_id, step)?,
        Operation::Cancel => {
            let cancelled = store.cancel(&execution_id, step)?;
            format!(
                "cancelled {} tasks of execution {execution_id}",
                cancelled.len()
            )
        }
    };
    let step_id = step.map(str::to_string);
    let kind = match operation {
        Operation::Pause => SignalKind::Pause {
            execution_id,
            step_id,
        },
        Operation::Resume => SignalKind::Resume {
            execution_id,
            step_id,
        },
        Operation::Cancel => SignalKind::Cancel {
            execution_id,
            step_id,
        },
    };
    let warning = signal(layout, session, kind);
    Ok(Done { message, warning })
}

/// Sends a failed or blocked task (full id) back to pending.
pub fn retry(
    layout: &Layout,
    store: &mut Store,
    session: Option<&str>,
    task_id: &str,
) -> Result<Done, StoreError> {
    let changed = store.retry_task(task_id)?;
    let warning = signal(
        layout,
        session,
        SignalKind::RetryTask {
            task_id: task_id.to_string(),
        },
    );
    Ok(Done {
        message: format!(
            "task {task_id} is pending again ({} blocked dependents unblocked)",
            changed.len().saturating_sub(1)
        ),
        warning,
    })
}

/// Gives a done task (full id) a follow-up round with `text` as its request
/// (`enki followup`, the TUI's `/followup`, and review's "request changes").
pub fn follow_up(
    layout: &Layout,
    store: &mut Store,
    session: Option<&str>,
    task_id: &str,
    text: &str,
) -> Result<Done, StoreError> {
    let followed = store.follow_up_task(task_id, text)?;
    let warning = signal(
        layout,
        session,
        SignalKind::FollowupTask {
            task_id: task_id.to_string(),
        },
    );
    Ok(Done {
        message: follow_up_message(&followed),
        warning,
    })
}

/// `enki approve`: work that awaits review (full task id) goes to the merge
/// queue.
pub fn approve(
    layout: &Layout,
    store: &mut Store,
    session: Option<&str>,
    task_id: &str,
) -> Result<Done, StoreError> {
    let resolution = store.held_resolution(task_id)?.is_some();
    let task = store.approve_task(task_id)?;
    let warning = signal(
        layout,
        session,
        SignalKind::ApproveTask {
            task_id: task_id.to_string(),
        },
    );
    let what = if resolution {
        "the merger's resolution of its conflict lands on its base branch (merged again if the base moved meanwhile)"
    } else {
        "its work goes to the merge queue and lands on its base branch"
    };
    Ok(Done {
        message: format!(
            "approved task {} (step `{}`, \"{}\"): {what}",
            task.id, task.step_id, task.title
        ),
        warning,
    })
}

/// `enki reject`: work that awaits review (full task id) does not land; the
/// task fails with the note, its branch kept.
pub fn reject(
    layout: &Layout,
    store: &mut Store,
    session: Option<&str>,
    task_id: &str,
    note: Option<&str>,
) -> Result<Done, StoreError> {
    let task = store.reject_task(task_id, note)?;
    let warning = signal(
        layout,
        session,
        SignalKind::RejectTask {
            task_id: task_id.to_string(),
        },
    );
    let branch = task
        .branch
        .clone()
        .unwrap_or_else(|| enki_workspace::task_branch(&task.id));
    Ok(Done {
        message: format!(
            "rejected task {} (step `{}`, \"{}\"): it is failed ({}); nothing landed, branch {branch} is kept, its dependents are blocked; `enki retry` runs it again",
            task.id,
            task.step_id,
            task.title,
            task.last_error.as_deref().unwrap_or("rejected in review")
        ),
        warning,
    })
}

/// What a follow-up does, in one line: the round, how it runs, and which
/// dependents are not run again.
fn follow_up_message(followed: &FollowedUp) -> String {
    let mut text = if followed.from == enki_core::TaskStatus::AwaitingReview {
        format!(
            "task {} (step `{}`, \"{}\") runs again as round {} with your requested changes: in its kept copy on its unlanded branch, in its last session where the agent can take it up, and its work comes back for your review",
            followed.task_id, followed.step_id, followed.title, followed.round
        )
    } else {
        format!(
            "task {} (step `{}`, \"{}\") runs again as round {}: a new attempt in a fresh copy from its base branch, in its last session where the agent can take it up, and its work lands through the merge queue",
            followed.task_id, followed.step_id, followed.title, followed.round
        )
    };
    if followed.reopened {
        text.push_str("; its execution runs again");
    }
    let list = |dependents: &[Dependent]| {
        dependents
            .iter()
            .map(|d| format!("`{}` ({})", d.step_id, d.status))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !followed.ran.is_empty() {
        text.push_str(&format!(
            "; {} dependent(s) already ran on its earlier work and are not run again: {}",
            followed.ran.len(),
            list(&followed.ran)
        ));
    }
    if !followed.waiting.is_empty() {
        text.push_str(&format!(
            "; {} dependent(s) that have not started wait for the follow-up: {}",
            followed.waiting.len(),
            list(&followed.waiting)
        ));
    }
    text
}

/// Stops every worker and pauses every running execution of the session
/// (all sessions when `None`).
pub fn stop_all(
    layout: &Layout,
    store: &mut Store,
    session: Option<&str>,
) -> Result<Done, StoreError> {
    let paused = store.pause_all(session)?;
    let warning = signal(layout, session, SignalKind::StopAll);
    Ok(Done {
        message: format!("stopping every worker; {} executions paused", paused.len()),
        warning,
    })
}

/// Mail from the person to `to` (a mailbox: `worker/<task id>`,
/// `coordinator`), answering `reply_to` when given: a running worker sees a
/// notice of it in its next tool result, as with any mail.
pub fn mail_from_user(
    layout: &Layout,
    store: &mut Store,
    session: Option<&str>,
    to: &str,
    reply_to: Option<&str>,
    text: &str,
) -> Result<Done, StoreError> {
    let first = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim();
    let subject: String = if first.chars().count() > 80 {
        first.chars().take(79).chain(std::iter::once('…')).collect()
    } else {
        first.to_string()
    };
    let rows = store.send_mail(&enki_store::NewMessage {
        session: session.map(str::to_string),
        from: "user".into(),
        to: vec![to.to_string()],
        subject,
        body: text.to_string(),
        priority: enki_core::mail::Priority::Normal,
        kind: enki_core::mail::MailKind::Info,
        thread_id: None,
        reply_to: reply_to.map(str::to_string),
        reply_status: None,
        ttl_seconds: None,
    })?;
    let mut warning = None;
    for row in &rows {
        warning = warning.or(signal(
            layout,
            session,
            SignalKind::Mail {
                message_id: row.id.clone(),
                from: row.from.clone(),
                to: row.to.clone(),
                subject: row.subject.clone(),
                priority: row.priority.clone(),
            },
        ));
    }
    Ok(Done {
        message: format!("mail sent to {to}"),
        warning,
    })
}
