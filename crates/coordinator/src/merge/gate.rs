//! Review of a merger's resolution before the base branch moves
//! (`[merge] review = "ask"`, or the task's role's `review`).
//!
//! When the merger resolved a conflict of a task whose review asks, the
//! resolution and the base tip it was made on are held in the store with
//! the request and its task `awaiting_review` (one transaction,
//! `Store::hold_resolution`); the queue goes on with other requests. The
//! person's decision is taken by the store (`enki approve`, `enki reject`,
//! `enki followup`), which ends the hold in the same transaction:
//! - approved: the same request is queued again; when it comes up and the
//!   base is still the tip the resolution was made on, exactly the held
//!   commit lands (verify hook, landing protocol). If the base moved
//!   meanwhile, the held resolution is stale: the squash is computed again
//!   on the new tip, as the queue does for any landing whose base moved; a
//!   clean squash lands, a conflict goes to the merger again and its new
//!   resolution waits for review again;
//! - rejected: the request fails, nothing lands, the branch is kept;
//! - changes requested: the request fails and the worker's round runs again
//!   on its unlanded branch; that work comes back for review and through
//!   the queue.

use enki_core::MergeStatus;
use enki_failpoint::crash_point;

use super::{Landing, MergeMessage, Step, note, short};

impl Landing<'_> {
    /// The approved resolution of this request, when it was made on
    /// `base_tip` (the base did not move since): it lands as it is.
    pub(super) async fn approved_resolution(&mut self, base_tip: &str) -> Option<String> {
        let request = self.request;
        let (commit, made_on) = request.held_commit.clone().zip(request.held_base.clone())?;
        if made_on == base_tip {
            self.tell(format!(
                "landing the merger's resolution {} as approved",
                short(&commit)
            ));
            return Some(commit);
        }
        note(
            self.ctx,
            &request.task_id,
            "resolution_stale",
            serde_json::json!({"commit": commit, "made_on": made_on, "base": base_tip}),
        )
        .await;
        self.tell(format!(
            "the base branch moved from {} to {} since the merger's resolution was made; merging again (a new resolution waits for review again)",
            short(&made_on),
            short(base_tip)
        ));
        None
    }

    /// After the merger resolved the conflict on `base_tip` as `commit`:
    /// when the task's review asks, holds the resolution for the person and
    /// ends this try (`Err`); otherwise it lands as usual.
    pub(super) async fn hold_for_review(
        &mut self,
        base_tip: &str,
        commit: &str,
    ) -> Result<(), Step> {
        let task = self.request.task_id.clone();
        let role = self
            .ctx
            .db
            .call(move |s| Ok(s.task(&task)?.and_then(|t| t.role)))
            .await
            .ok()
            .flatten();
        if !crate::review::review_mode(self.ctx, role.as_deref()).asks() {
            return Ok(());
        }
        let (id, c, b) = (
            self.request.id.clone(),
            commit.to_string(),
            base_tip.to_string(),
        );
        if let Err(e) = self
            .ctx
            .db
            .call(move |s| s.hold_resolution(&id, &c, &b))
            .await
        {
            let reason = format!(
                "the merger's resolution could not wait for review: {e}\n(the branch {} is kept)",
                self.request.branch
            );
            return Err(self.fail(MergeStatus::Failed, reason).await);
        }
        crash_point!("review:resolution_held");
        self.status = (
            MergeStatus::AwaitingReview,
            Some("the merger's resolution awaits review".to_string()),
        );
        Err(Step::Done(MergeMessage::ResolutionHeld {
            task: self.request.task_id.clone(),
        }))
    }
}
