//! Landing the requests waiting behind the head of the queue in one move
//! of the base branch. Each request still gets its own squash commit,
//! chained on the one before it, and its own recorded intent (its commit
//! and the tip it lands on); one compare-and-swap then moves the base over
//! all of them and one `read-tree` moves the checkout. The git of a landing
//! falls from five processes to about two, so the queue keeps pace with
//! many workers.
//!
//! The protocol is the same as for one request (`enki_core::landing`): every
//! intent is durable before the base can move, and a restart resumes the
//! requests one by one from their intents. The first one's parent is the
//! old tip, so it is finished; each next one's parent is then the tip, so
//! it is finished too; after the move, every commit is on the base and
//! each is recognised as landed. Anything out of the plain case (a conflict,
//! nothing to land, a cancelled task, a verify hook, an intent or a held
//! resolution already recorded) is left to the one-request path.

use enki_core::landing::with_task_trailer;
use enki_core::{MergeStatus, TaskStatus};
use enki_failpoint::crash_point;
use enki_store::MergeRequestRow;
use enki_workspace::{Advance, Squash, advance_branch_deleting, squash_onto};

use super::steps::record_intent;
use super::{Landing, MergeMessage, blocking};
use crate::landing::{protect, protect_ref};
use crate::verify::verify_command;

/// The most requests landed in one move.
const MOST: usize = 32;

impl Landing<'_> {
    /// Lands the head request together with those after it in `pending`
    /// that can land with it; returns how many landed (their messages are
    /// sent), or 0 when the head is left to the one-request path.
    pub(super) async fn land_together(&mut self, pending: &[MergeRequestRow]) -> usize {
        let ctx = self.ctx;
        let base = self.base();
        let group: Vec<MergeRequestRow> = pending
            .iter()
            .take(MOST)
            .take_while(|r| self.plain(r, &base))
            .cloned()
            .collect();
        if group.len() < 2 || verify_command(ctx).is_some() || ctx.git.git_dir().is_some() {
            return 0;
        }
        let (operation, checked_out) = self.project_state(!*self.noted_checkout).await;
        if operation.is_some() {
            return 0;
        }
        if let Some(current) = checked_out {
            self.note_checkout(&base, current);
        }
        let ids: Vec<String> = group.iter().map(|r| r.task_id.clone()).collect();
        let tasks = ctx
            .db
            .call(move |s| {
                let mut tasks = Vec::with_capacity(ids.len());
                for id in &ids {
                    tasks.push(s.task(id)?);
                }
                Ok(tasks)
            })
            .await;
        let Ok(tasks) = tasks else { return 0 };
        // A cancelled task (and what follows it) goes the one-request way,
        // which refuses it.
        let messages: Vec<String> = group
            .iter()
            .zip(tasks)
            .map_while(|(request, task)| {
                let task = task.filter(|t| t.status != TaskStatus::Cancelled)?;
                let subject = ctx.commit_message(&task.title, &request.task_id, request.round);
                Some(with_task_trailer(&subject, &request.task_id, request.round))
            })
            .collect();
        let (git, base_ref) = (ctx.git.clone(), format!("refs/heads/{base}"));
        let Ok(old) = blocking(move || git.ref_commit(&base_ref)).await else {
            return 0;
        };
        // Each squash on the one before, kept from `gc` in the same step; the
        // chain stops at the first that is not a clean squash (the
        // one-request path takes it from there).
        let (git, requests, tip) = (
            ctx.git.clone(),
            group
                .iter()
                .map(|r| (r.id.clone(), r.branch.clone()))
                .collect::<Vec<_>>(),
            old.clone(),
        );
        let chain = blocking(move || {
            let mut chain: Vec<(String, String)> = Vec::new();
            let mut tip = tip;
            for ((_, branch), message) in requests.iter().zip(&messages) {
                match squash_onto(&git, &tip, branch, message)? {
                    Squash::Clean { commit } => {
                        chain.push((commit.clone(), tip));
                        tip = commit;
                    }
                    Squash::NothingToLand | Squash::Conflict { .. } => break,
                }
            }
            let computed: Vec<(&str, &str)> = requests
                .iter()
                .zip(&chain)
                .map(|((id, _), (commit, _))| (id.as_str(), commit.as_str()))
                .collect();
            protect(&git, &computed)?;
            Ok(chain)
        })
        .await;
        let chain = match chain {
            Ok(chain) if chain.len() >= 2 => chain,
            _ => return 0,
        };
        // Every intent is durable before the base branch can move, each in
        // the step that checks its task was not cancelled meanwhile (as the
        // one-request way's): the group ends before a cancelled one, which
        // goes the one-request way and is refused.
        let intents: Vec<(String, String, String, String)> = group
            .iter()
            .zip(&chain)
            .map(|(r, (commit, parent))| {
                (
                    r.id.clone(),
                    r.task_id.clone(),
                    commit.clone(),
                    parent.clone(),
                )
            })
            .collect();
        let recorded = ctx
            .db
            .call(move |s| {
                let mut recorded = 0;
                for (id, task, commit, parent) in &intents {
                    if !record_intent(s, (id, task), (commit, parent), true)? {
                        break;
                    }
                    recorded += 1;
                }
                Ok(recorded)
            })
            .await;
        let group = match recorded {
            Ok(0) => return 0,
            Ok(recorded) => &group[..recorded],
            Err(e) => {
                tracing::warn!("merge queue: recording the intents of a group: {e}");
                self.forget_intents(&group).await;
                return 0;
            }
        };
        let chain = &chain[..group.len()];
        crash_point!("land:intent_recorded");
        let landed_refs: Vec<String> = group
            .iter()
            .flat_map(|r| [protect_ref(&r.id), format!("refs/heads/{}", r.branch)])
            .collect();
        let last = chain[chain.len() - 1].0.clone();
        let (git, b, o, c) = (ctx.git.clone(), base.clone(), old.clone(), last);
        match blocking(move || advance_branch_deleting(&git, &b, &o, &c, &landed_refs)).await {
            Ok(Advance::Moved) => {}
            // The intents stay: the one-request path finishes the first
            // (its parent is the tip) or waits as it would.
            Ok(Advance::WouldOverwrite { .. } | Advance::WriteFailed { .. }) => return 0,
            Ok(Advance::BaseMoved) | Err(_) => {
                self.forget_intents(group).await;
                return 0;
            }
        }
        crash_point!("land:ref_moved");
        let landed: Vec<(String, String)> = group
            .iter()
            .zip(chain)
            .map(|(r, (commit, _))| (r.id.clone(), commit.clone()))
            .collect();
        let record = landed.clone();
        let recorded = ctx
            .db
            .call(move |s| {
                for (id, commit) in &record {
                    s.record_landed(id, Some(commit))?;
                }
                Ok(())
            })
            .await;
        if let Err(e) = recorded {
            // The base holds the work; each request is recognised from its
            // intent when the queue comes to it.
            tracing::warn!("merge queue: recording a group's landing: {e}");
            return 0;
        }
        crash_point!("land:merged_recorded");
        for (request, (_, commit)) in group.iter().zip(landed) {
            let mut request = request.clone();
            request.status = MergeStatus::Merged;
            let _ = self.tx.send(MergeMessage::Landed {
                task: request.task_id.clone(),
                commit: Some(commit),
                request: Box::new(request),
            });
        }
        group.len()
    }

    /// Whether `request` can land in a group on `base`: queued with nothing
    /// recorded about it beyond the request (no intent, no held
    /// resolution, nothing remembered from an earlier try), queued since
    /// this queue started.
    fn plain(&self, request: &MergeRequestRow, base: &str) -> bool {
        request.status == MergeStatus::Queued
            && request.landing_commit.is_none()
            && request.held_commit.is_none()
            && request.created_at.as_str() >= self.queue_started_at
            && request
                .base_branch
                .as_deref()
                .unwrap_or(&self.ctx.base_branch)
                == base
            && (self.memory.request != request.id || self.memory.computed.is_none())
    }

    async fn forget_intents(&self, group: &[MergeRequestRow]) {
        let ids: Vec<String> = group.iter().map(|r| r.id.clone()).collect();
        if let Err(e) = self
            .ctx
            .db
            .call(move |s| {
                for id in &ids {
                    s.clear_landing_intent(id)?;
                    s.set_merge_status(id, MergeStatus::Queued, None)?;
                }
                Ok(())
            })
            .await
        {
            tracing::warn!("merge queue: forgetting the intents of a group: {e}");
        }
    }
}
