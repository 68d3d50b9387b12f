//! The merge queue: one request at a time, in order, every transition
//! persisted. Work lands as one squash commit on the base branch; the
//! task's copy and branch are removed once it has landed and kept otherwise.
//!
//! A request that has to wait (an operation in progress, uncommitted edits
//! the landing would overwrite) stays `queued` with the reason and is tried
//! again; what it already computed is remembered so that a wait neither
//! re-runs a merger for the same base nor the verify hook for a tree that
//! already passed. A merger whose agent's account met a limit (or whose
//! agent is held for one already) does not fail the request either: it
//! waits queued until the reset and is tried again, the task's attempt
//! untouched.

use std::time::Duration;

use enki_core::landing::with_task_trailer;
use enki_core::{MergeStatus, TaskStatus};
use enki_failpoint::crash_point;
use enki_store::{MergeRequestRow, StoreError};
use enki_workspace::{
    Squash, operation_in_progress, scratch_worktree, squash_onto, would_overwrite,
};
use tokio::sync::mpsc;

use crate::context::Shared;
use crate::landing::protect;

use crate::resolve::{Unresolved, resolve_conflict};
use crate::verify::{run_verify, verify_command};

mod gate;
mod steps;
mod together;

use steps::{Advanced, Resumed, record_intent};

/// How often a waiting request is tried again without a nudge.
const WAIT_RETRY: Duration = Duration::from_secs(2);

#[derive(Debug)]
pub enum MergeMessage {
    /// The request landed as `commit` (recorded); the runtime marks the
    /// task done, then hands the request to the clean-up (`cleaner`).
    Landed {
        task: String,
        commit: Option<String>,
        request: Box<MergeRequestRow>,
    },
    Failed {
        task: String,
        error: String,
    },
    /// The merger's resolution of the task's conflict waits for the
    /// person's review (`gate`); the task moved to `awaiting_review`.
    ResolutionHeld {
        task: String,
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
    /// A merger agent starts run `run` on the task's conflicted `files`.
    MergerStarted {
        task: String,
        run: i64,
        files: Vec<String>,
    },
    /// A sign of life of the merger, as a worker's.
    MergerActivity {
        task: String,
        text: Option<String>,
    },
    /// A merger's transcript entry, as a worker's.
    MergerTranscript {
        task: String,
        entry: crate::transcript::TranscriptEntry,
    },
    /// What the merger's run has used so far changed.
    MergerUsage {
        task: String,
        usage: enki_core::usage::RunUsage,
    },
    /// The merger's agent met a limit of its account (`hold`, recorded):
    /// the request waits for it queued.
    MergerLimited {
        task: String,
        hold: enki_core::limits::Hold,
    },
}

/// What queueing a task's work found.
#[derive(Debug)]
pub enum Enqueued {
    /// A request waits in the queue (a new one, or the one already there).
    Queued(Box<MergeRequestRow>),
    /// The work landed already (a restart after its landing was recorded):
    /// nothing is queued, the task only has to be marked done.
    AlreadyLanded { request: Box<MergeRequestRow> },
}

/// Queues a merge request for a task whose worker finished with changes, to
/// land on its execution's base branch.
pub async fn enqueue(ctx: &Shared, task_id: &str) -> Result<Enqueued, StoreError> {
    let (id, default_base) = (task_id.to_string(), ctx.base_branch.clone());
    let enqueued = ctx
        .db
        .call(move |store| {
            if let Some(landed) = store.landed_request(&id)? {
                return Ok(Enqueued::AlreadyLanded {
                    request: Box::new(landed),
                });
            }
            // Idempotent: a request already waiting for this task is reused.
            if let Some(existing) = store
                .merge_requests_for(&id)?
                .into_iter()
                .find(|m| m.status.is_pending())
            {
                return Ok(Enqueued::Queued(Box::new(existing)));
            }
            let task = store
                .task(&id)?
                .ok_or_else(|| StoreError::Invalid(format!("no task {id}")))?;
            let base = store.execution_base_branch(&task.execution_id, &default_base)?;
            let branch = task
                .branch
                .unwrap_or_else(|| enki_workspace::task_branch(&id));
            store
                .enqueue_merge(&id, &branch, Some(&base))
                .map(|row| Enqueued::Queued(Box::new(row)))
        })
        .await?;
    if let Enqueued::Queued(request) = &enqueued {
        // A task retried after a failed or conflicted merge: the scratch
        // worktrees of its earlier requests, kept for a human, go now.
        remove_scratches(ctx, &request.task_id, Some(&request.id)).await;
    }
    Ok(enqueued)
}

/// Runs until `nudges` closes: lands queued requests one by one.
pub async fn run_queue(
    ctx: Shared,
    mut nudges: mpsc::UnboundedReceiver<()>,
    tx: mpsc::UnboundedSender<MergeMessage>,
) {
    let mut last_wait: Option<(String, String)> = None;
    // Requests queued from now on cannot have landed before this queue
    // started, so only older ones are looked for in the base branch's history.
    let started_at = enki_store::now_rfc3339();
    let mut memory = Memory::default();
    let mut noted_checkout = false;
    loop {
        let pending = ctx.db.call(|store| store.pending_merges()).await;
        let request = match pending.as_ref().map(|p| p.first()) {
            Ok(Some(request)) => request.clone(),
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
        if memory.request != request.id {
            memory = Memory {
                request: request.id.clone(),
                ..Memory::default()
            };
        }
        let mut landing = Landing {
            ctx: &ctx,
            request: &request,
            tx: &tx,
            status: (request.status, request.reason.clone()),
            memory: &mut memory,
            noted_checkout: &mut noted_checkout,
            queue_started_at: &started_at,
        };
        if let Ok(pending) = &pending
            && landing.land_together(pending).await > 0
        {
            last_wait = None;
            continue;
        }
        match landing.land().await {
            Step::Done(message) => {
                last_wait = None;
                let _ = tx.send(message);
            }
            Step::Wait { reason, retry_in } => {
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
                    _ = tokio::time::sleep(retry_in) => {}
                }
            }
        }
    }
}

enum Step {
    Done(MergeMessage),
    /// The request stays queued, saying why; it is tried again after
    /// `retry_in` (or a nudge).
    Wait {
        reason: String,
        retry_in: Duration,
    },
}

/// What the queue keeps about the request at its head between tries.
#[derive(Default)]
struct Memory {
    request: String,
    /// The base tip the landing was last computed on, and its commit (a
    /// merger's resolution is not redone while the base stays put).
    computed: Option<(String, String)>,
    /// The tree that last passed the verify hook.
    verified_tree: Option<String>,
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

fn short(commit: &str) -> &str {
    commit.get(..8).unwrap_or(commit)
}

/// One try at landing the request at the head of the queue.
struct Landing<'a> {
    ctx: &'a Shared,
    request: &'a MergeRequestRow,
    tx: &'a mpsc::UnboundedSender<MergeMessage>,
    /// The persisted state, so that a wait does not rewrite it.
    status: (MergeStatus, Option<String>),
    memory: &'a mut Memory,
    noted_checkout: &'a mut bool,
    /// When this queue started (RFC 3339, as the store writes times).
    queue_started_at: &'a str,
}

impl Landing<'_> {
    /// The branch the request lands on.
    fn base(&self) -> String {
        self.request
            .base_branch
            .clone()
            .unwrap_or_else(|| self.ctx.base_branch.clone())
    }

    async fn set_status(&mut self, status: MergeStatus, reason: Option<String>) {
        if self.status == (status, reason.clone()) {
            return;
        }
        let (id, r) = (self.request.id.clone(), reason.clone());
        if let Err(e) = self
            .ctx
            .db
            .call(move |s| s.set_merge_status(&id, status, r.as_deref()))
            .await
        {
            tracing::error!("merge queue: recording {status}: {e}");
        }
        self.status = (status, reason);
    }

    /// Tells the front end (and the persisted state) what is happening.
    async fn show(&mut self, status: MergeStatus, reason: String) {
        self.set_status(status, Some(reason.clone())).await;
        let _ = self.tx.send(MergeMessage::Status {
            task: self.request.task_id.clone(),
            status,
            reason,
        });
    }

    /// A progress line that does not change the request's state.
    fn tell(&self, reason: String) {
        let _ = self.tx.send(MergeMessage::Status {
            task: self.request.task_id.clone(),
            status: self.status.0,
            reason,
        });
    }

    async fn wait(&mut self, reason: String) -> Step {
        self.wait_for(reason, WAIT_RETRY).await
    }

    async fn wait_for(&mut self, reason: String, retry_in: Duration) -> Step {
        self.set_status(MergeStatus::Queued, Some(reason.clone()))
            .await;
        Step::Wait { reason, retry_in }
    }

    /// The merger's agent is held for a limit of its account: the request
    /// waits queued until the hold ends (a merger started now would meet
    /// the same limit).
    async fn wait_for_reset(&mut self, hold: &enki_core::limits::Hold) -> Step {
        let reason = format!(
            "waiting: the merger's agent {} is held for its {} until {}; the merge is tried again then",
            hold.agent,
            hold.kind.describe(),
            enki_core::limits::utc(hold.until_ms)
        );
        let retry_in = crate::holds::time_left(hold).max(Duration::from_millis(1));
        self.wait_for(reason, retry_in).await
    }

    /// Ends the request — unless git could not write (a full disk): that
    /// passes, so the request waits and is tried again by itself.
    async fn fail(&mut self, status: MergeStatus, reason: String) -> Step {
        if enki_workspace::is_write_failure(&reason) {
            return self
                .wait(format!(
                    "waiting: git could not write ({reason}); is the disk full? The merge is tried again by itself"
                ))
                .await;
        }
        self.fail_for_good(status, reason).await
    }

    async fn fail_for_good(&mut self, status: MergeStatus, reason: String) -> Step {
        self.set_status(status, Some(reason.clone())).await;
        Step::Done(MergeMessage::Failed {
            task: self.request.task_id.clone(),
            error: reason,
        })
    }

    /// A task cancelled after its worker finished must not land: its
    /// request fails (branch kept for a human) instead.
    async fn refuse_cancelled(&mut self) -> Step {
        let reason = format!(
            "the task was cancelled before its work landed; nothing was merged and branch {} is kept",
            self.request.branch
        );
        self.fail(MergeStatus::Failed, reason).await
    }

    /// A git operation under way in the project, which the landing waits
    /// for, and (`with_branch`) the branch checked out there (`None`: not
    /// asked or unreadable), read in one step off the runtime.
    async fn project_state(&self, with_branch: bool) -> (Option<String>, Option<Option<String>>) {
        let git = self.ctx.git.clone();
        blocking(move || {
            let operation = operation_in_progress(&git).map(|operation| {
                format!("waiting: {operation}; the merge continues when it is finished")
            });
            Ok((
                operation,
                with_branch.then(|| git.current_branch().ok()).flatten(),
            ))
        })
        .await
        .unwrap_or_default()
    }

    /// Lands the request: squash onto the current base (a merger agent
    /// resolves conflicts), check that the user's edits are not in the way,
    /// verify the result, then move the base branch.
    async fn land(&mut self) -> Step {
        let ctx = self.ctx;
        let request = self.request;
        let task = request.task_id.clone();
        if let (Some(reason), _) = self.project_state(false).await {
            return self.wait(reason).await;
        }
        let task_id = request.task_id.clone();
        let (cancelled, title, created_at) = ctx
            .db
            .call(move |s| {
                Ok(s.task(&task_id)?
                    .map(|t| (t.status == TaskStatus::Cancelled, t.title, t.created_at))
                    .unwrap_or_default())
            })
            .await
            .unwrap_or_default();
        if cancelled {
            return self.refuse_cancelled().await;
        }
        let round = request.round;
        let message = with_task_trailer(
            &ctx.commit_message(&title, &request.task_id, round),
            &task,
            round,
        );
        let base = self.base();
        let scratch = ctx.layout.dir.join("merges").join(&request.id);
        match self.resume(&base, &created_at).await {
            Resumed::Nothing => {}
            Resumed::Done(step) => return step,
        }

        for _ in 0..MAX_BASE_MOVES {
            // In a folder that is not a git repository the user cannot commit,
            // so their edits are recorded first and merged like any other work.
            if ctx.git.git_dir().is_some() {
                let git = ctx.git.clone();
                if let Err(e) = blocking(move || enki_workspace::snapshot_user_changes(&git)).await
                {
                    return self
                        .fail(
                            MergeStatus::Failed,
                            format!("recording the folder's changes: {e}"),
                        )
                        .await;
                }
            }
            let (git, base_ref) = (ctx.git.clone(), format!("refs/heads/{base}"));
            let old = match blocking(move || git.ref_commit(&base_ref)).await {
                Ok(old) => old,
                Err(e) => {
                    return self
                        .fail(
                            MergeStatus::Failed,
                            format!("the base branch '{base}' cannot be read: {e}"),
                        )
                        .await;
                }
            };
            let commit = match self.memory.computed.clone() {
                Some((computed_on, commit)) if computed_on == old => commit,
                earlier => {
                    if let Some((computed_on, _)) = earlier {
                        self.base_moved(&base, &computed_on, &old).await;
                    }
                    match self.compute(&old, &message, &scratch).await {
                        Ok(commit) => commit,
                        Err(step) => return step,
                    }
                }
            };
            self.memory.computed = Some((old.clone(), commit.clone()));

            // The user's uncommitted edits: wait before spending a verify run
            // (without one, moving the checkout finds them just as well).
            if verify_command(ctx).is_some() {
                let (git, b, o, c) = (ctx.git.clone(), base.clone(), old.clone(), commit.clone());
                match blocking(move || would_overwrite(&git, &b, &o, &c)).await {
                    Ok(None) => {}
                    Ok(Some(detail)) => return self.wait(overwrite_reason(&detail)).await,
                    Err(e) => return self.fail(MergeStatus::Failed, e).await,
                }
            }
            if let Err(step) = self.verify(&commit, &scratch).await {
                return step;
            }
            // A rebase started while the hook ran: the branch must not move under it.
            let noting = !*self.noted_checkout && ctx.git.git_dir().is_none();
            let (operation, checked_out) = self.project_state(noting).await;
            if let Some(reason) = operation {
                return self.wait(reason).await;
            }
            if let Some(current) = checked_out {
                self.note_checkout(&base, current);
            }
            // The intent is durable before the base branch can move, and
            // never recorded for a task cancelled meanwhile (one step on the
            // database thread, with the request's move to `merging`).
            let (id, task, c, o) = (
                request.id.clone(),
                task.clone(),
                commit.clone(),
                old.clone(),
            );
            let merging = self.status != (MergeStatus::Merging, None);
            let recorded = ctx
                .db
                .call(move |s| record_intent(s, (&id, &task), (&c, &o), merging))
                .await;
            match recorded {
                Ok(true) => self.status = (MergeStatus::Merging, None),
                Ok(false) => return self.refuse_cancelled().await,
                Err(e) => {
                    return self
                        .fail(MergeStatus::Failed, format!("recording the landing: {e}"))
                        .await;
                }
            }
            crash_point!("land:intent_recorded");
            match self.advance(&base, &old, &commit).await {
                Advanced::Landed(step) => return step,
                // Recomputed at the top of the loop, saying why.
                Advanced::BaseMoved => continue,
                Advanced::Stopped(step) => return step,
            }
        }
        self.fail(
            MergeStatus::Failed,
            format!(
                "the base branch '{base}' kept moving; {MAX_BASE_MOVES} attempts to land failed"
            ),
        )
        .await
    }

    /// The squash commit on `old`: computed directly, or by a merger agent
    /// when the branch conflicts. `Err` is the request's end (landed with
    /// nothing to land, failed or conflicted).
    async fn compute(
        &mut self,
        old: &str,
        message: &str,
        scratch: &std::path::Path,
    ) -> Result<String, Step> {
        let ctx = self.ctx;
        let request = self.request;
        let task = request.task_id.clone();
        let (git, tip, branch, msg, id) = (
            ctx.git.clone(),
            old.to_string(),
            request.branch.clone(),
            message.to_string(),
            request.id.clone(),
        );
        if let Some(approved) = self.approved_resolution(old).await {
            return Ok(approved);
        }
        // A clean squash is kept from `gc` in the same step.
        let computed = blocking(move || {
            let squash = squash_onto(&git, &tip, &branch, &msg)?;
            let kept = match &squash {
                Squash::Clean { commit } => {
                    protect(&git, &[(&id, commit)]).map_err(|e| e.to_string())
                }
                _ => Ok(()),
            };
            Ok((squash, kept))
        });
        let squash = match computed.await {
            Ok((squash, Ok(()))) => squash,
            Ok((_, Err(e))) => {
                let reason = format!("keeping the computed commit: {e}");
                return Err(self.fail(MergeStatus::Failed, reason).await);
            }
            Err(e) => return Err(self.fail(MergeStatus::Failed, e).await),
        };
        match squash {
            // Also what a restart sees for work that landed just before a crash.
            Squash::NothingToLand => Err(self.landed(None).await),
            Squash::Clean { commit } => {
                crash_point!("land:computed");
                Ok(commit)
            }
            Squash::Conflict { files } => {
                let merger = ctx.agent(enki_config::AgentRole::Merger, None, None);
                if let Some(hold) = ctx.running_hold(&merger.name) {
                    return Err(self.wait_for_reset(&hold).await);
                }
                let reason = format!(
                    "a merger agent is resolving conflicts in: {}",
                    files.join(", ")
                );
                self.show(MergeStatus::Resolving, reason).await;
                note(
                    ctx,
                    &task,
                    "merge_conflict",
                    serde_json::json!({"files": files}),
                )
                .await;
                match resolve_conflict(ctx, request, old, message, scratch, self.tx).await {
                    Ok(commit) => {
                        self.protect(&commit).await?;
                        note(
                            ctx,
                            &task,
                            "merge_resolved",
                            serde_json::json!({"commit": commit}),
                        )
                        .await;
                        crash_point!("merger:resolved");
                        self.hold_for_review(old, &commit).await?;
                        Ok(commit)
                    }
                    Err(Unresolved::Limited { agent, limit }) => {
                        let hold = ctx.hold_agent(&agent, &limit).await;
                        let _ = self.tx.send(MergeMessage::MergerLimited {
                            task: task.clone(),
                            hold: hold.clone(),
                        });
                        Err(self.wait_for_reset(&hold).await)
                    }
                    Err(Unresolved::Failed(reason)) => {
                        let reason = format!(
                            "{reason}; the branch {} and the conflicted merge in {} are kept",
                            request.branch,
                            scratch.display()
                        );
                        Err(self.fail(MergeStatus::Conflicted, reason).await)
                    }
                }
            }
        }
    }

    /// Runs the verify hook on `commit`, unless its tree already passed.
    async fn verify(&mut self, commit: &str, scratch: &std::path::Path) -> Result<(), Step> {
        let ctx = self.ctx;
        let Some(command) = verify_command(ctx) else {
            return Ok(());
        };
        let git = ctx.git.clone();
        let c = commit.to_string();
        let tree = match blocking(move || git.run(&["rev-parse", &format!("{c}^{{tree}}")])).await {
            Ok(tree) => tree,
            Err(e) => return Err(self.fail(MergeStatus::Failed, e).await),
        };
        if self.memory.verified_tree.as_deref() == Some(tree.as_str()) {
            return Ok(());
        }
        self.show(
            MergeStatus::Verifying,
            format!("running the verify hook `{command}`"),
        )
        .await;
        let (git, path, c) = (ctx.git.clone(), scratch.to_path_buf(), commit.to_string());
        if let Err(e) = blocking(move || scratch_worktree(&git, &path, &c, true)).await {
            return Err(self
                .fail(
                    MergeStatus::Failed,
                    format!("preparing the verify copy: {e}"),
                )
                .await);
        }
        if let Err(reason) = run_verify(ctx, &command, scratch, &self.request.id).await {
            note(
                ctx,
                &self.request.task_id,
                "verify_failed",
                serde_json::json!({"reason": reason}),
            )
            .await;
            return Err(self
                .fail_for_good(
                    MergeStatus::Failed,
                    format!("{reason}\n(the branch {} is kept)", self.request.branch),
                )
                .await);
        }
        self.memory.verified_tree = Some(tree);
        crash_point!("verify:passed");
        self.set_status(MergeStatus::Merging, None).await;
        Ok(())
    }

    /// Says that the base moved under the request and that it is recomputed.
    async fn base_moved(&mut self, base: &str, from: &str, to: &str) {
        let reason = format!(
            "the base branch '{base}' moved from {} to {} meanwhile; recomputing the squash on top of it",
            short(from),
            short(to)
        );
        note(
            self.ctx,
            &self.request.task_id,
            "merge_base_moved",
            serde_json::json!({"from": from, "to": to}),
        )
        .await;
        self.tell(reason);
    }

    /// Once per session: landing while the user has something other than
    /// the base branch checked out (`current`, `None` when HEAD is
    /// detached) leaves their checkout as it is.
    fn note_checkout(&mut self, base: &str, current: Option<String>) {
        if current.as_deref() == Some(base) {
            return;
        }
        *self.noted_checkout = true;
        let what = match current {
            Some(branch) => format!("'{branch}' is checked out"),
            None => "HEAD is detached".to_string(),
        };
        self.tell(format!(
            "landing on '{base}' while {what}: your checkout is left as it is; check out '{base}' to see the merged work"
        ));
    }
}

fn overwrite_reason(detail: &str) -> String {
    format!("waiting: landing would overwrite uncommitted changes in the project ({detail})")
}

/// Removes the scratch worktrees (`.enki/merges/<request>`) of a task's
/// merge requests, except `keep`'s: those of failed or conflicted requests
/// are kept for a human until the task is retried or lands.
pub async fn remove_scratches(ctx: &Shared, task: &str, keep: Option<&str>) {
    let id = task.to_string();
    let requests = match ctx.db.call(move |s| s.merge_requests_for(&id)).await {
        Ok(requests) => requests,
        Err(e) => {
            tracing::warn!("could not list the merge requests of {task}: {e}");
            return;
        }
    };
    let merges = ctx.layout.dir.join("merges");
    let scratches: Vec<std::path::PathBuf> = requests
        .iter()
        .filter(|r| Some(r.id.as_str()) != keep)
        .map(|r| merges.join(&r.id))
        .filter(|p| p.exists())
        .collect();
    if scratches.is_empty() {
        return;
    }
    // All of them in one hold of the repository's lock, each tried even
    // when another cannot be removed.
    let git = ctx.git.clone();
    let removed =
        tokio::task::spawn_blocking(move || enki_workspace::remove_worktrees(&git, &scratches))
            .await;
    let failures: Vec<String> = match removed {
        Ok(Ok(results)) => results
            .into_iter()
            .filter_map(Result::err)
            .map(|e| e.to_string())
            .collect(),
        Ok(Err(e)) => vec![e.to_string()],
        Err(e) => vec![e.to_string()],
    };
    for e in failures {
        tracing::warn!("could not remove a merge worktree of {task}: {e}");
    }
}
