//! The git and store steps of the landing protocol (`enki_core::landing`):
//! keeping a computed commit safe from `gc`, recognising work that already
//! landed (by the recorded intent, or by its `Enki-Task` and `Enki-Round`
//! trailers, round by round), and the clean-up after a landing, which a
//! restart finishes when it was cut short.

use enki_core::landing::{IntentFacts, landed_round, task_trailer};
use enki_failpoint::crash_point;
use enki_store::MergeRequestRow;
use enki_workspace::{Git, GitError, is_ancestor, park_copies, remove_worktrees};

use crate::context::Shared;

/// The ref that keeps a request's computed commit from being pruned while
/// the queue holds it in memory (`git gc --prune=now` meanwhile).
pub fn protect_ref(request: &str) -> String {
    format!("refs/enki/landing/{request}")
}

/// Points each request's protecting ref at its commit (request id,
/// commit), in one transaction.
pub fn protect(git: &Git, computed: &[(&str, &str)]) -> Result<(), GitError> {
    let refs: Vec<(String, String)> = computed
        .iter()
        .map(|(request, commit)| (protect_ref(request), commit.to_string()))
        .collect();
    git.create_own_refs(&refs)
}

/// A commit on `base` carrying the trailers of the task's round `round`
/// (`enki_core::landing::landed_round`), looking only at commits made since
/// the task was created (a day earlier, for clocks that differ). A commit of
/// another round of the same task is not this round's.
pub fn find_landed(
    git: &Git,
    base: &str,
    task_id: &str,
    round: i64,
    task_created_at: &str,
) -> Result<Option<String>, GitError> {
    let since = since_day_before(task_created_at);
    let grep = format!("--grep={}", task_trailer(task_id));
    // Each commit as `<id> NUL <message> RS`, newest first.
    let mut args = vec![
        "log",
        "--format=%H%x00%B%x1e",
        "--fixed-strings",
        grep.as_str(),
    ];
    let since_arg = since.map(|s| format!("--since={s}"));
    if let Some(since) = &since_arg {
        args.push(since);
    }
    let base_ref = format!("refs/heads/{base}");
    args.push(&base_ref);
    let log = git.run(&args)?;
    Ok(log
        .split('\x1e')
        .filter_map(|record| record.trim_start().split_once('\0'))
        .find(|(_, message)| landed_round(message, task_id) == Some(round))
        .map(|(commit, _)| commit.to_string()))
}

/// `created_at` (RFC 3339) as a date a day earlier, for `git log --since`.
fn since_day_before(created_at: &str) -> Option<String> {
    let date = created_at.get(..10)?;
    let (year, rest) = date.split_once('-')?;
    let (month, day) = rest.split_once('-')?;
    let (year, month, day): (i32, u32, u32) =
        (year.parse().ok()?, month.parse().ok()?, day.parse().ok()?);
    // Going back to the first of the month is "a day earlier" enough and
    // never produces an invalid date.
    let (year, month, day) = if day > 1 {
        (year, month, day - 1)
    } else if month > 1 {
        (year, month - 1, 1)
    } else {
        (year - 1, 12, 1)
    };
    Some(format!("{year:04}-{month:02}-{day:02}"))
}

/// What git says now about an intent to land `commit` (the task's round
/// `round`) on `base`.
pub fn intent_facts(
    git: &Git,
    base: &str,
    commit: &str,
    task_id: &str,
    round: i64,
    task_created_at: &str,
) -> Result<IntentFacts, GitError> {
    let tip = git.rev_parse(&format!("refs/heads/{base}"))?;
    // A commit that no longer exists (it never does while its protecting
    // ref stands) is simply not reachable.
    let commit_reachable = is_ancestor(git, commit, &tip).unwrap_or(false);
    let trailer_commit = if commit_reachable {
        None
    } else {
        find_landed(git, base, task_id, round, task_created_at)?
    };
    Ok(IntentFacts {
        tip,
        commit_reachable,
        trailer_commit,
    })
}

/// Removes the landed tasks' copies and branches, their scratch merge
/// worktrees and the protecting refs of their requests, then records the
/// landings `cleaned`. Every step may have been done already (a restart
/// finishing it). What a later round of a task uses (`enki followup` after a
/// clean-up was cut short) is not this landing's: the new round's copy,
/// branch, requests and their scratch worktrees and refs are left alone.
///
/// The landings are cleaned together: their worktrees are forgotten under
/// one hold of the repository's lock, their refs deleted in one
/// transaction and their records written in one, so that clean-up keeps
/// pace with landings however busy the lock is with new copies. A landing
/// whose copy cannot be removed stays uncleaned (a restart tries again);
/// the others are not held back by it.
pub async fn clean_up(ctx: &Shared, landings: &[MergeRequestRow]) {
    let tasks: Vec<(String, i64)> = landings
        .iter()
        .map(|r| (r.task_id.clone(), r.round))
        .collect();
    let read = ctx
        .db
        .call(move |s| {
            let mut plans = Vec::with_capacity(tasks.len());
            for (task, landed_round) in tasks {
                let round = s.task(&task)?.map_or(1, |t| t.round);
                let requests: Vec<String> = s
                    .merge_requests_for(&task)?
                    .into_iter()
                    .filter(|r| r.round <= landed_round)
                    .map(|r| r.id)
                    .collect();
                plans.push((requests, round > landed_round));
            }
            Ok(plans)
        })
        .await;
    let plans = match read {
        Ok(plans) => plans,
        Err(e) => {
            tracing::warn!("could not read the merge requests of the landings to clean up: {e}");
            return;
        }
    };
    let cleanups: Vec<Cleanup> = landings
        .iter()
        .zip(plans)
        .map(|(request, (requests, later_round))| Cleanup {
            request: request.id.clone(),
            task: request.task_id.clone(),
            copy: ctx.layout.copy_of(&request.task_id),
            branch: request.branch.clone(),
            requests,
            later_round,
        })
        .collect();
    let (git, merges) = (ctx.git.clone(), ctx.layout.dir.join("merges"));
    let pool = crate::copy_setup::copy_pool(ctx);
    let removed =
        tokio::task::spawn_blocking(move || remove_landed(&git, &merges, pool, cleanups)).await;
    let cleaned = match removed {
        Ok(Ok(cleaned)) => cleaned,
        Ok(Err(e)) => {
            tracing::warn!("could not remove the copies of landed work: {e}");
            return;
        }
        Err(e) => {
            tracing::warn!("the clean-up of landed work stopped unexpectedly: {e}");
            return;
        }
    };
    if cleaned.is_empty() {
        return;
    }
    if let Err(e) = ctx.db.call(move |s| s.record_cleaned(&cleaned)).await {
        tracing::warn!("could not record the clean-up of landed work: {e}");
    }
    crash_point!("cleanup:done");
}

/// What cleaning up after one landing removes.
struct Cleanup {
    request: String,
    task: String,
    copy: std::path::PathBuf,
    branch: String,
    /// The task's requests up to the landed round (their scratch worktrees
    /// and protecting refs go).
    requests: Vec<String>,
    /// A later round of the task is under way: its copy and branch stay.
    later_round: bool,
}

/// The blocking part of [`clean_up`]: parks the copies the `pool` has room
/// for (the next tasks' copies are made from them), removes the other
/// worktrees, then deletes the refs of the landings whose worktrees are
/// gone; returns their requests' ids.
fn remove_landed(
    git: &Git,
    merges: &std::path::Path,
    pool: Option<(std::path::PathBuf, usize)>,
    cleanups: Vec<Cleanup>,
) -> Result<Vec<String>, GitError> {
    let copies: Vec<&std::path::Path> = cleanups
        .iter()
        .filter(|c| !c.later_round)
        .map(|c| c.copy.as_path())
        .collect();
    // Which of `copies` went to the pool, in their order.
    let parked = match pool {
        Some((pool, capacity)) => park_copies(git, &pool, &copies, capacity)
            .inspect_err(|e| tracing::warn!("could not keep landed copies for the next tasks: {e}"))
            .unwrap_or_default(),
        None => Vec::new(),
    };
    if parked.contains(&true) {
        crash_point!("pool:parked");
    }
    let mut parked = parked.into_iter();
    // Each landing's worktrees, as a range of `paths`.
    let mut paths = Vec::new();
    let mut ranges = Vec::with_capacity(cleanups.len());
    for cleanup in &cleanups {
        let first = paths.len();
        paths.extend(cleanup.requests.iter().map(|id| merges.join(id)));
        if !cleanup.later_round && !parked.next().unwrap_or(false) {
            paths.push(cleanup.copy.clone());
        }
        ranges.push(first..paths.len());
    }
    let results = remove_worktrees(git, &paths)?;
    crash_point!("cleanup:copy_removed");
    let checked_out = git.current_branch()?;
    let mut refs = Vec::new();
    let mut cleaned = Vec::new();
    for (cleanup, range) in cleanups.into_iter().zip(ranges) {
        if let Some(Err(e)) = results[range].iter().find(|r| r.is_err()) {
            tracing::warn!("could not remove the copy of {}: {e}", cleanup.task);
            continue;
        }
        // A landing through the queue deleted its branch and ref as the
        // base moved; one recognised after a restart did not.
        refs.extend(cleanup.requests.iter().map(|id| protect_ref(id)));
        if !cleanup.later_round && checked_out.as_deref() != Some(cleanup.branch.as_str()) {
            refs.push(format!("refs/heads/{}", cleanup.branch));
        }
        cleaned.push(cleanup.request);
    }
    git.delete_refs(&refs)?;
    Ok(cleaned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_history_is_searched_from_a_day_before_the_task() {
        assert_eq!(
            since_day_before("2026-12-07T05:41:00.000000Z").as_deref(),
            Some("2026-12-06")
        );
        assert_eq!(
            since_day_before("2026-03-01T00:00:00Z").as_deref(),
            Some("2026-02-01")
        );
        assert_eq!(
            since_day_before("2026-01-01T00:00:00Z").as_deref(),
            Some("2025-12-01")
        );
        assert_eq!(since_day_before("garbage"), None);
    }
}
