//! The merge queue: one request at a time, in order, every transition
//! persisted. Work lands as one squash commit on the base branch; the
//! task's copy and branch are removed once it has landed and kept otherwise.

use std::time::Duration;

use enki_core::MergeStatus;
use enki_store::{MergeRequestRow, StoreError};
use enki_workspace::{Git, LandOutcome, land_squash, remove_copy};
use tokio::sync::mpsc;

use crate::context::Shared;

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
        match land(&ctx, &request).await {
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

async fn land(ctx: &Shared, request: &MergeRequestRow) -> Step {
    set_status(ctx, &request.id, MergeStatus::Merging, None).await;
    let task_id = request.task_id.clone();
    let title = ctx
        .db
        .call(move |s| Ok(s.task(&task_id)?.map(|t| t.title).unwrap_or_default()))
        .await
        .unwrap_or_default();
    let mut message = format!("{title} ({})", request.task_id);
    if let Some(suffix) = &ctx.config.git.commit_suffix {
        message.push_str("\n\n");
        message.push_str(suffix);
    }
    let base = request
        .base_branch
        .clone()
        .unwrap_or_else(|| ctx.base_branch.clone());
    let branch = request.branch.clone();
    let root = ctx.project_root.clone();
    let outcome = tokio::task::spawn_blocking(move || {
        land_squash(&Git::new(&root), &base, &branch, &message)
    })
    .await;
    let task = request.task_id.clone();
    match outcome {
        Ok(Ok(LandOutcome::Landed { commit })) => {
            let (id, c) = (request.id.clone(), commit.clone());
            let _ = ctx.db.call(move |s| s.set_merge_commit(&id, &c)).await;
            set_status(ctx, &request.id, MergeStatus::Merged, None).await;
            clean_up(ctx, request).await;
            Step::Done(MergeMessage::Landed {
                task,
                commit: Some(commit),
            })
        }
        Ok(Ok(LandOutcome::NothingToLand)) => {
            // Also what a restart sees for work that landed just before a crash.
            set_status(
                ctx,
                &request.id,
                MergeStatus::Merged,
                Some("nothing left to land".into()),
            )
            .await;
            clean_up(ctx, request).await;
            Step::Done(MergeMessage::Landed { task, commit: None })
        }
        Ok(Ok(LandOutcome::Conflict { files })) => {
            let reason = format!("conflicts with the base branch in: {}", files.join(", "));
            set_status(
                ctx,
                &request.id,
                MergeStatus::Conflicted,
                Some(reason.clone()),
            )
            .await;
            Step::Done(MergeMessage::Failed {
                task,
                error: reason,
            })
        }
        Ok(Ok(LandOutcome::WouldOverwrite { detail })) => {
            let reason = format!(
                "waiting: landing would overwrite uncommitted changes in the project ({detail})"
            );
            set_status(ctx, &request.id, MergeStatus::Queued, Some(reason.clone())).await;
            Step::Wait(reason)
        }
        Ok(Err(e)) => {
            let reason = e.to_string();
            set_status(ctx, &request.id, MergeStatus::Failed, Some(reason.clone())).await;
            Step::Done(MergeMessage::Failed {
                task,
                error: reason,
            })
        }
        Err(e) => {
            let reason = format!("the merge stopped unexpectedly: {e}");
            set_status(ctx, &request.id, MergeStatus::Failed, Some(reason.clone())).await;
            Step::Done(MergeMessage::Failed {
                task,
                error: reason,
            })
        }
    }
}

/// Removes the landed task's copy and branch.
async fn clean_up(ctx: &Shared, request: &MergeRequestRow) {
    let git = ctx.git.clone();
    let copy = ctx.layout.copy_of(&request.task_id);
    let branch = request.branch.clone();
    let result = tokio::task::spawn_blocking(move || remove_copy(&git, &copy, Some(&branch))).await;
    if let Ok(Err(e)) | Err(e) =
        result.map_err(|e| enki_workspace::GitError::Invalid(e.to_string()))
    {
        tracing::warn!("could not remove the copy of {}: {e}", request.task_id);
    }
}
