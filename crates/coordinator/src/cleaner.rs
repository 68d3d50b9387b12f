//! The clean-up of landed work, off the merge queue's path.
//!
//! Removing a landed task's copy, branch and scratch worktrees takes as long
//! as deleting its files (most of a second in a large repository), so it
//! happens after the task is recorded done, in a task of its own, while the
//! queue lands the next request; the landings waiting for it are cleaned up
//! together. What is left to
//! clean is durable: a merged request whose phase is not yet `cleaned`
//! (`landing::clean_up` records it), which a restart finishes first.

use std::collections::HashMap;
use std::sync::Mutex;

use enki_core::landing::LandingPhase;
use enki_store::MergeRequestRow;
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;

use crate::context::Shared;
use crate::landing::clean_up;

/// The most landings cleaned up together.
const CLEAN_UP_BATCH: usize = 64;

/// The tasks whose landed work is waiting to be cleaned up. A worker that
/// opens a new round of such a task waits first ([`Pending::settled`]): the
/// clean-up would otherwise remove the copy the new round makes at the same
/// place.
#[derive(Default)]
pub struct Pending {
    /// Clean-ups queued or under way, by task.
    tasks: Mutex<HashMap<String, usize>>,
    changed: Notify,
}

impl Pending {
    fn add(&self, task: &str) {
        *self.lock().entry(task.to_string()).or_default() += 1;
    }

    fn done(&self, task: &str) {
        let mut tasks = self.lock();
        if let Some(count) = tasks.get_mut(task) {
            *count -= 1;
            if *count == 0 {
                tasks.remove(task);
            }
        }
        drop(tasks);
        self.changed.notify_waiters();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, usize>> {
        self.tasks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Returns once no clean-up of `task`'s earlier work is queued or running.
    pub async fn settled(&self, task: &str) {
        loop {
            // Registered before the look, so that a `done` in between wakes it.
            let changed = self.changed.notified();
            if !self.lock().contains_key(task) {
                return;
            }
            changed.await;
        }
    }
}

/// The background clean-up: landings are handed to it once their task is
/// recorded done.
pub struct Cleaner {
    /// `None` once finished.
    tx: Option<mpsc::UnboundedSender<MergeRequestRow>>,
    handle: Option<JoinHandle<()>>,
    /// How many landings an earlier coordinator left to clean up.
    started_with: usize,
}

impl Cleaner {
    /// Starts the clean-up task, which first finishes the landings an
    /// earlier coordinator left uncleaned.
    pub async fn start(ctx: Shared) -> Cleaner {
        let leftovers = match ctx.db.call(|s| s.uncleaned_landings()).await {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!("could not list the landings left to clean up: {e}");
                Vec::new()
            }
        };
        let (tx, mut rx) = mpsc::unbounded_channel::<MergeRequestRow>();
        let started_with = leftovers.len();
        for request in leftovers {
            tracing::info!(task = %request.task_id, request = %request.id, "finishing the clean-up of a landing");
            ctx.cleanups.add(&request.task_id);
            // The receiver is alive: it is ours until the task below starts.
            let _ = tx.send(request);
        }
        let handle = tokio::spawn(async move {
            // Whatever waits is cleaned up together: a batch costs about
            // what one landing's clean-up does, so the clean-up never falls
            // behind the landings (copies left standing slow every git that
            // reads the repository's worktrees).
            let mut batch = Vec::new();
            while rx.recv_many(&mut batch, CLEAN_UP_BATCH).await > 0 {
                let uncleaned: Vec<MergeRequestRow> = batch
                    .iter()
                    .filter(|r| r.phase != Some(LandingPhase::Cleaned))
                    .cloned()
                    .collect();
                if !uncleaned.is_empty() {
                    clean_up(&ctx, &uncleaned).await;
                }
                for request in batch.drain(..) {
                    ctx.cleanups.done(&request.task_id);
                }
            }
            // The run ends: the copies kept for its next tasks go.
            let (git, pool) = (ctx.git.clone(), ctx.layout.pool());
            match tokio::task::spawn_blocking(move || enki_workspace::empty_pool(&git, &pool)).await
            {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!("could not remove the kept copies: {e}"),
                Err(e) => {
                    tracing::warn!("the removal of the kept copies stopped unexpectedly: {e}")
                }
            }
        });
        Cleaner {
            tx: Some(tx),
            handle: Some(handle),
            started_with,
        }
    }

    /// Cleans up after `request`'s landing, in the background. Its task must
    /// already be recorded done.
    pub fn clean(&self, ctx: &Shared, request: MergeRequestRow) {
        ctx.cleanups.add(&request.task_id);
        let task = request.task_id.clone();
        let sent = self.tx.as_ref().is_some_and(|tx| tx.send(request).is_ok());
        if !sent {
            // Only after `finish`; the next start cleans it up.
            ctx.cleanups.done(&task);
        }
    }

    /// Waits for every clean-up handed over so far (a run that ends would
    /// otherwise leave their copies behind until the next start).
    pub async fn finish(&mut self) {
        self.tx = None;
        if let Some(handle) = self.handle.take()
            && let Err(e) = handle.await
        {
            tracing::warn!("the clean-up of landed work stopped unexpectedly: {e}");
        }
    }
}

/// For a start that finds no unfinished work: finishes the clean-up of the
/// landings an earlier coordinator left uncleaned, ends the session `ctx`
/// opened, and returns how many landings there were.
pub async fn finish_clean_ups(ctx: Shared) -> usize {
    let mut cleaner = Cleaner::start(ctx.clone()).await;
    let count = cleaner.started_with;
    cleaner.finish().await;
    let session = ctx.session_id.clone();
    if let Err(e) = ctx.db.call(move |s| s.end_session(&session)).await {
        tracing::warn!("cannot record the end of the session: {e}");
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_task_is_settled_once_its_last_clean_up_is_done() {
        let pending = std::sync::Arc::new(Pending::default());
        pending.settled("t").await;
        pending.add("t");
        pending.add("t");
        let waiter = {
            let pending = pending.clone();
            tokio::spawn(async move { pending.settled("t").await })
        };
        pending.done("t");
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished(), "one clean-up of t is still pending");
        pending.done("t");
        tokio::time::timeout(std::time::Duration::from_secs(10), waiter)
            .await
            .expect("settled once both were done")
            .unwrap();
    }
}
