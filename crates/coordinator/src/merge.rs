//! The merge queue: one request at a time, in order, every transition
//! persisted. Work lands as one squash commit on the base branch; the
//! task's copy and branch are removed once it has landed and kept otherwise.

use std::time::Duration;

use enki_core::MergeStatus;
use enki_store::{MergeRequestRow, StoreError};
use enki_workspace::{
    Advance, Squash, advance_branch, operation_in_progress, remove_copy, scratch_worktree,
    squash_onto,
};
use tokio::sync::mpsc;

use crate::context::Shared;
use crate::resolve::resolve_conflict;
use crate::verify::{run_verify, verify_command};

/// How often a waiting request is tried again without a nudge.
const WAIT_RETRY: Duration = Duration::from_secs(2);

#[derive(Debug)]
pub enum MergeMessage {
    Landed {
        task: String,
        commit: Option<String>,
    },
    Failed {
        task: String,
        error: String,
    },
    /// The request cannot land yet; it stays queued.
    Waiting {
        task: String,
        reason: String,
    },
    /// The request moved to a visible intermediate state (resolving, verifying).
    Status {
        task: String,
        status: MergeStatus,
        reason: String,
    },
}

/// Queues a merge request for a task whose worker finished with changes.
pub async fn enqueue(ctx: &Shared, task_id: &str) -> Result<MergeRequestRow, StoreError> {
    let (id, base) = (task_id.to_string(), ctx.base_branch.clone());
    ctx.db
        .call(move |store| {
            // Idempotent: a request already waiting for this task is reused.
            if let Some(existing) = store
                .merge_requests_for(&id)?
                .into_iter()
                .find(|m| m.status.is_pending())
            {
                return Ok(existing);
            }
            let task = store
                .task(&id)?
                .ok_or_else(|| StoreError::Invalid(format!("no task {id}")))?;
            let branch = task
                .branch
                .unwrap_or_else(|| enki_workspace::task_branch(&id));
            store.enqueue_merge(&id, &branch, Some(&base))
        })
        .await
}

/// Runs until `nudges` closes: lands queued requests one by one.
pub async fn run_queue(
    ctx: Shared,
    mut nudges: mpsc::UnboundedReceiver<()>,
    tx: mpsc::UnboundedSender<MergeMessage>,
) {
    let mut last_wait: Option<(String, String)> = None;
    loop {
        let next = ctx
            .db
            .call(|store| Ok(store.pending_merges()?.into_iter().next()))
            .await;
        let request = match next {
            Ok(Some(request)) => request,
            Ok(None) => {
                if nudges.recv().await.is_none() {
                    return;
                }
                continue;
            }
            Err(e) => {
                tracing::error!("merge queue: {e}");
                if nudges.recv().await.is_none() {
                    return;
                }
                continue;
            }
        };
        match land(&ctx, &request, &tx).await {
            Step::Done(message) => {
                last_wait = None;
                let _ = tx.send(message);
            }
            Step::Wait(reason) => {
                let key = (request.id.clone(), reason.clone());
                if last_wait.as_ref() != Some(&key) {
                    let _ = tx.send(MergeMessage::Waiting {
                        task: request.task_id.clone(),
                        reason,
                    });
                    last_wait = Some(key);
                }
                tokio::select! {
                    nudge = nudges.recv() => if nudge.is_none() { return },
                    _ = tokio::time::sleep(WAIT_RETRY) => {}
                }
            }
        }
    }
}

enum Step {
    Done(MergeMessage),
    Wait(String),
}

async fn set_status(ctx: &Shared, id: &str, status: MergeStatus, reason: Option<String>) {
    let id = id.to_string();
    if let Err(e) = ctx
        .db
        .call(move |s| s.set_merge_status(&id, status, reason.as_deref()))
        .await
    {
        tracing::error!("merge queue: recording {status}: {e}");
    }
}

async fn note(ctx: &Shared, task: &str, kind: &'static str, data: serde_json::Value) {
    let task = task.to_string();
    let _ = ctx
        .db
        .call(move |s| s.append_task_event(&task, kind, &data))
        .await;
}

/// How many times a landing is recomputed when the base branch moves under it.
const MAX_BASE_MOVES: usize = 5;

/// Runs a blocking git step on the pool.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, enki_workspace::GitError> + Send + 'static,
) -> Result<T, String> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| format!("the merge stopped unexpectedly: {e}"))?
        .map_err(|e| e.to_string())
}

/// Lands one request: squash onto the current base (a merger agent resolves
/// conflicts), verify the result, then move the base branch.
async fn land(
    ctx: &Shared,
    request: &MergeRequestRow,
    tx: &mpsc::UnboundedSender<MergeMessage>,
) -> Step {
    let task = request.task_id.clone();
    let fail = |status: MergeStatus, reason: String| async move {
        set_status(ctx, &request.id, status, Some(reason.clone())).await;
        Step::Done(MergeMessage::Failed {
            task: request.task_id.clone(),
            error: reason,
        })
    };
    set_status(ctx, &request.id, MergeStatus::Merging, None).await;
    let git = ctx.git.clone();
    if let Ok(Some(operation)) = blocking(move || Ok(operation_in_progress(&git))).await {
        let reason = format!("waiting: {operation}; the merge continues when it is finished");
        set_status(ctx, &request.id, MergeStatus::Queued, Some(reason.clone())).await;
        return Step::Wait(reason);
    }
    let task_id = request.task_id.clone();
    let title = ctx
        .db
        .call(move |s| Ok(s.task(&task_id)?.map(|t| t.title).unwrap_or_default()))
        .await
        .unwrap_or_default();
    let message = ctx.commit_message(&title, &request.task_id);
    let base = request
        .base_branch
        .clone()
        .unwrap_or_else(|| ctx.base_branch.clone());
    let scratch = ctx.layout.dir.join("merges").join(&request.id);

    for _ in 0..MAX_BASE_MOVES {
        // In a folder that is not a git repository the user cannot commit,
        // so their edits are recorded first and merged like any other work.
        if ctx.git.git_dir().is_some() {
            let git = ctx.git.clone();
            if let Err(e) = blocking(move || enki_workspace::snapshot_user_changes(&git)).await {
                return fail(
                    MergeStatus::Failed,
                    format!("recording the folder's changes: {e}"),
                )
                .await;
            }
        }
        let (git, base_ref) = (ctx.git.clone(), format!("refs/heads/{base}"));
        let old = match blocking(move || git.rev_parse(&base_ref)).await {
            Ok(old) => old,
            Err(e) => {
                return fail(
                    MergeStatus::Failed,
                    format!("the base branch '{base}' cannot be read: {e}"),
                )
                .await;
            }
        };
        let (git, tip, branch, msg) = (
            ctx.git.clone(),
            old.clone(),
            request.branch.clone(),
            message.clone(),
        );
        let squash = match blocking(move || squash_onto(&git, &tip, &branch, &msg)).await {
            Ok(squash) => squash,
            Err(e) => return fail(MergeStatus::Failed, e).await,
        };
        let commit = match squash {
            // Also what a restart sees for work that landed just before a crash.
            Squash::NothingToLand => {
                set_status(
                    ctx,
                    &request.id,
                    MergeStatus::Merged,
                    Some("nothing left to land".into()),
                )
                .await;
                clean_up(ctx, request, &scratch).await;
                return Step::Done(MergeMessage::Landed { task, commit: None });
            }
            Squash::Clean { commit } => commit,
            Squash::Conflict { files } => {
                let reason = format!(
                    "a merger agent is resolving conflicts in: {}",
                    files.join(", ")
                );
                set_status(
                    ctx,
                    &request.id,
                    MergeStatus::Resolving,
                    Some(reason.clone()),
                )
                .await;
                let _ = tx.send(MergeMessage::Status {
                    task: task.clone(),
                    status: MergeStatus::Resolving,
                    reason,
                });
                note(
                    ctx,
                    &task,
                    "merge_conflict",
                    serde_json::json!({"files": files}),
                )
                .await;
                match resolve_conflict(ctx, &task, &request.branch, &old, &message, &scratch).await
                {
                    Ok(commit) => {
                        note(
                            ctx,
                            &task,
                            "merge_resolved",
                            serde_json::json!({"commit": commit}),
                        )
                        .await;
                        commit
                    }
                    Err(reason) => {
                        let reason = format!(
                            "{reason}; the branch {} and the conflicted merge in {} are kept",
                            request.branch,
                            scratch.display()
                        );
                        return fail(MergeStatus::Conflicted, reason).await;
                    }
                }
            }
        };
        if let Some(command) = verify_command(ctx) {
            let reason = format!("running the verify hook `{command}`");
            set_status(
                ctx,
                &request.id,
                MergeStatus::Verifying,
                Some(reason.clone()),
            )
            .await;
            let _ = tx.send(MergeMessage::Status {
                task: task.clone(),
                status: MergeStatus::Verifying,
                reason,
            });
            let (git, path, c) = (ctx.git.clone(), scratch.clone(), commit.clone());
            if let Err(e) = blocking(move || scratch_worktree(&git, &path, &c, true)).await {
                return fail(
                    MergeStatus::Failed,
                    format!("preparing the verify copy: {e}"),
                )
                .await;
            }
            if let Err(reason) = run_verify(ctx, &command, &scratch, &request.id).await {
                note(
                    ctx,
                    &task,
                    "verify_failed",
                    serde_json::json!({"reason": reason}),
                )
                .await;
                return fail(
                    MergeStatus::Failed,
                    format!("{reason}\n(the branch {} is kept)", request.branch),
                )
                .await;
            }
        }
        let (git, b, o, c) = (ctx.git.clone(), base.clone(), old.clone(), commit.clone());
        match blocking(move || advance_branch(&git, &b, &o, &c)).await {
            Ok(Advance::Moved) => {
                let (id, c) = (request.id.clone(), commit.clone());
                let _ = ctx.db.call(move |s| s.set_merge_commit(&id, &c)).await;
                set_status(ctx, &request.id, MergeStatus::Merged, None).await;
                clean_up(ctx, request, &scratch).await;
                return Step::Done(MergeMessage::Landed {
                    task,
                    commit: Some(commit),
                });
            }
            Ok(Advance::BaseMoved) => continue,
            Ok(Advance::WouldOverwrite { detail }) => {
                let reason = format!(
                    "waiting: landing would overwrite uncommitted changes in the project ({detail})"
                );
                set_status(ctx, &request.id, MergeStatus::Queued, Some(reason.clone())).await;
                return Step::Wait(reason);
            }
            Err(e) => return fail(MergeStatus::Failed, e).await,
        }
    }
    fail(
        MergeStatus::Failed,
        format!("the base branch '{base}' kept moving; {MAX_BASE_MOVES} attempts to land failed"),
    )
    .await
}

/// Removes the landed task's copy, branch and scratch merge worktree.
async fn clean_up(ctx: &Shared, request: &MergeRequestRow, scratch: &std::path::Path) {
    let git = ctx.git.clone();
    let copy = ctx.layout.copy_of(&request.task_id);
    let branch = request.branch.clone();
    let scratch = scratch.to_path_buf();
    let result = tokio::task::spawn_blocking(move || {
        if scratch.exists() {
            remove_copy(&git, &scratch, None)?;
        }
        remove_copy(&git, &copy, Some(&branch))
    })
    .await;
    if let Ok(Err(e)) | Err(e) =
        result.map_err(|e| enki_workspace::GitError::Invalid(e.to_string()))
    {
        tracing::warn!("could not remove the copy of {}: {e}", request.task_id);
    }
}
