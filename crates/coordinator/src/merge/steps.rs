//! The durable steps of one landing (`enki_core::landing`): protecting the
//! computed commit, moving the base branch after the intent is recorded,
//! recording the landing, and resuming a landing an earlier coordinator
//! left in its intent.

use enki_core::landing::{Recovery, recover};
use enki_core::{MergeStatus, TaskStatus};
use enki_failpoint::crash_point;
use enki_store::{Store, StoreError};
use enki_workspace::{Advance, advance_branch_deleting};

use super::{Landing, MergeMessage, Step, blocking, overwrite_reason};
use crate::landing::{find_landed, intent_facts, protect, protect_ref};

/// How moving the base branch ended.
pub(super) enum Advanced {
    /// The work is on the base branch and recorded (or the request ended).
    Landed(Step),
    /// The base moved meanwhile: the intent is forgotten, compute again.
    BaseMoved,
    /// The request waits or failed.
    Stopped(Step),
}

/// What resuming an earlier landing found.
pub(super) enum Resumed {
    /// Nothing to resume: land as usual.
    Nothing,
    /// The request ended (landed) or waits.
    Done(Step),
}

/// Records the intent to land `commit` on `parent` for request `id` (with
/// its move to `merging` when `merging`), unless its task `task` was
/// cancelled meanwhile: false then, and nothing is written. One step on the
/// database thread, so that a cancel cannot slip in between.
pub(super) fn record_intent(
    store: &mut Store,
    (id, task): (&str, &str),
    (commit, parent): (&str, &str),
    merging: bool,
) -> Result<bool, StoreError> {
    if store
        .task(task)?
        .is_some_and(|t| t.status == TaskStatus::Cancelled)
    {
        return Ok(false);
    }
    if merging {
        store.set_merge_status(id, MergeStatus::Merging, None)?;
    }
    store.record_landing_intent(id, commit, parent)?;
    Ok(true)
}

impl Landing<'_> {
    /// Keeps `commit` from `gc` while the queue holds it.
    pub(super) async fn protect(&mut self, commit: &str) -> Result<(), Step> {
        let (git, id, c) = (
            self.ctx.git.clone(),
            self.request.id.clone(),
            commit.to_string(),
        );
        match blocking(move || protect(&git, &[(&id, &c)])).await {
            Ok(()) => Ok(()),
            Err(e) => Err(self
                .fail(
                    MergeStatus::Failed,
                    format!("keeping the computed commit: {e}"),
                )
                .await),
        }
    }

    /// The work is on the base branch as `commit` (`None`: there was nothing
    /// left to land): record it and report it. The clean-up follows once
    /// the task is recorded done, off the queue (`cleaner`).
    pub(super) async fn landed(&mut self, commit: Option<String>) -> Step {
        let (id, c) = (self.request.id.clone(), commit.clone());
        let recorded = self
            .ctx
            .db
            .call(move |s| s.record_landed(&id, c.as_deref()))
            .await;
        if let Err(e) = recorded {
            // The base branch holds the work; the next try (or start)
            // recognises it from the intent or the trailer.
            return self
                .wait(format!(
                    "the work landed but recording it failed: {e}; trying again"
                ))
                .await;
        }
        crash_point!("land:merged_recorded");
        self.status = (
            MergeStatus::Merged,
            commit.is_none().then(|| "nothing left to land".to_string()),
        );
        Step::Done(MergeMessage::Landed {
            task: self.request.task_id.clone(),
            commit,
            request: Box::new(self.request.clone()),
        })
    }

    /// Moves the base branch from `old` to `commit` (the intent is recorded).
    pub(super) async fn advance(&mut self, base: &str, old: &str, commit: &str) -> Advanced {
        let (git, b, o, c) = (
            self.ctx.git.clone(),
            base.to_string(),
            old.to_string(),
            commit.to_string(),
        );
        // The landed work's refs go with the move, in one transaction: the
        // clean-up then has no git to run.
        let landed_refs = [
            protect_ref(&self.request.id),
            format!("refs/heads/{}", self.request.branch),
        ];
        match blocking(move || advance_branch_deleting(&git, &b, &o, &c, &landed_refs)).await {
            Ok(Advance::Moved) => {
                crash_point!("land:ref_moved");
                Advanced::Landed(self.landed(Some(commit.to_string())).await)
            }
            Ok(Advance::BaseMoved) => {
                self.forget_intent().await;
                Advanced::BaseMoved
            }
            // The intent stays: the next try finishes the same step.
            Ok(Advance::WouldOverwrite { detail }) => {
                Advanced::Stopped(self.wait(overwrite_reason(&detail)).await)
            }
            Ok(Advance::WriteFailed { detail }) => Advanced::Stopped(
                self.wait(format!(
                    "waiting: your checkout of '{base}' could not be updated ({detail}); nothing was changed \
(is the disk full?), and the merge is tried again by itself"
                ))
                .await,
            ),
            Err(e) => {
                self.forget_intent().await;
                let reason = format!("{e}\n(the branch {} is kept)", self.request.branch);
                Advanced::Stopped(self.fail(MergeStatus::Failed, reason).await)
            }
        }
    }

    async fn forget_intent(&mut self) {
        let id = self.request.id.clone();
        if let Err(e) = self.ctx.db.call(move |s| s.clear_landing_intent(&id)).await {
            tracing::warn!(
                "merge queue: forgetting the intent of {}: {e}",
                self.request.id
            );
        }
    }

    /// Before anything is computed: finishes or recognises a landing that an
    /// earlier try recorded the intent of, or finds the work of the
    /// request's round already on the base branch by its trailers.
    pub(super) async fn resume(&mut self, base: &str, task_created_at: &str) -> Resumed {
        let request = self.request;
        let (git, b, t, since, round) = (
            self.ctx.git.clone(),
            base.to_string(),
            request.task_id.clone(),
            task_created_at.to_string(),
            request.round,
        );
        let intent = request
            .landing_commit
            .clone()
            .zip(request.landing_parent.clone());
        let Some((commit, parent)) = intent else {
            if request.created_at.as_str() >= self.queue_started_at {
                return Resumed::Nothing;
            }
            return match blocking(move || find_landed(&git, &b, &t, round, &since)).await {
                Ok(Some(found)) => Resumed::Done(self.landed(Some(found)).await),
                Ok(None) => Resumed::Nothing,
                Err(e) => Resumed::Done(
                    self.fail(MergeStatus::Failed, format!("reading the base branch: {e}"))
                        .await,
                ),
            };
        };
        let c = commit.clone();
        let facts = match blocking(move || intent_facts(&git, &b, &c, &t, round, &since)).await {
            Ok(facts) => facts,
            Err(e) => {
                return Resumed::Done(
                    self.fail(MergeStatus::Failed, format!("reading the base branch: {e}"))
                        .await,
                );
            }
        };
        tracing::info!(request = %request.id, ?facts, "resuming a landing whose intent was recorded");
        match recover(&commit, &parent, &facts) {
            Recovery::Landed { commit } => Resumed::Done(self.landed(Some(commit)).await),
            Recovery::FinishAdvance { commit, parent } => {
                match self.advance(base, &parent, &commit).await {
                    Advanced::Landed(step) | Advanced::Stopped(step) => Resumed::Done(step),
                    Advanced::BaseMoved => Resumed::Nothing,
                }
            }
            Recovery::Recompute => {
                self.forget_intent().await;
                Resumed::Nothing
            }
        }
    }
}
