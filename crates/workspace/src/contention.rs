//! Git under concurrency: which commands enki serialises per repository,
//! which failures are another git's lock in the way (retried with backoff),
//! and the per-repository lock itself.
//!
//! git does not lock the administrative files of linked worktrees
//! (`<common dir>/worktrees/<name>/`): `worktree add` creates them in
//! several steps, `worktree prune` deletes any that has no `gitdir` yet, and
//! every command that looks for the branch checked out elsewhere reads all of
//! them. Parallel `worktree add/remove/prune` and `branch -D` therefore fail
//! now and then ("could not open '.git/worktrees/<x>/locked' for writing",
//! "failed to read .git/worktrees/<y>/commondir"). enki takes one `flock` per
//! repository around exactly those commands. Ref updates (`commit`,
//! `update-ref`, `commit-tree`) and object writes need no lock of ours: git
//! takes a lock file per ref and fails cleanly when it is held (retried
//! here), and the landing's `update-ref` is a compare-and-swap anyway;
//! holding our lock around a landing would also stall copy creation for the
//! length of a verify hook.

use std::fs::{File, OpenOptions};
use std::hash::{BuildHasher, RandomState};
use std::path::Path;
use std::time::Duration;

use crate::git::GitError;

/// The lock file, in the repository's common git dir (shared by all its
/// worktrees, and the hidden repository's own folder for non-git projects).
pub(crate) const ADMIN_LOCK: &str = "enki-admin.lock";

/// How many times a command that hit another git's lock is run in all.
pub(crate) const TRIES: u32 = 5;

/// Whether `git <args>` reads or writes the worktree administrative files of
/// the repository, so that enki runs it under the repository's lock: every
/// `worktree` subcommand, and `branch`, which reads every worktree's
/// files to refuse deleting or moving a branch checked out elsewhere. (A
/// `checkout --detach` does not look at other worktrees.)
pub(crate) fn takes_admin_lock(args: &[&str]) -> bool {
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match *arg {
            // Global options that take a separate value.
            "-c" | "-C" | "--git-dir" | "--work-tree" | "--namespace" => {
                rest.next();
            }
            option if option.starts_with('-') => {}
            command => return matches!(command, "worktree" | "branch"),
        }
    }
    false
}

/// Whether git failed only because another git process held a lock or was
/// creating or deleting a worktree's administrative files at that moment:
/// trying again shortly is the cure. A compare-and-swap that lost ("cannot
/// lock ref …: is at … but expected …"), a missing branch or a conflict are
/// real answers and never match.
pub(crate) fn is_transient(stderr: &str) -> bool {
    stderr.lines().any(|line| {
        let line = line.to_lowercase();
        // "Unable to create '<…>/index.lock': File exists." (any lock file)
        line.contains(".lock': file exists")
            || line.contains("could not lock config file")
            || mentions_worktree_admin(&line)
                && [
                    "failed to read",
                    "could not open",
                    "could not create",
                    "unable to read",
                ]
                .iter()
                .any(|verb| line.contains(verb))
    })
}

/// A path to one of the files git keeps per linked worktree.
fn mentions_worktree_admin(line: &str) -> bool {
    line.contains("worktrees/")
        && ["/commondir", "/gitdir", "/locked"]
            .iter()
            .any(|file| line.contains(file))
}

/// The pause before try `n + 1` (`n` from 1): 100, 200, 400, 800 ms, each
/// stretched by up to a quarter at random so that waiters do not retry in
/// step. All pauses together stay under 2 s.
pub(crate) fn pause_after(try_number: u32) -> Duration {
    let base = 100u64 << try_number.saturating_sub(1).min(3);
    let jitter = RandomState::new().hash_one(try_number) % (base / 4 + 1);
    Duration::from_millis(base + jitter)
}

/// Holds the repository's administrative lock until dropped. Each
/// acquisition opens the file anew: `flock` belongs to the open file
/// description, so this serialises threads of one process as well as
/// processes, and the kernel releases it when its holder dies.
pub(crate) struct AdminLock {
    _file: File,
}

impl AdminLock {
    pub(crate) fn acquire(common_dir: &Path) -> Result<AdminLock, GitError> {
        let path = common_dir.join(ADMIN_LOCK);
        let context = |what: &str| {
            format!(
                "{what} enki's lock file {}; enki needs to write in the repository's git folder",
                path.display()
            )
        };
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| GitError::io(context("cannot open"), e))?;
        file.lock()
            .map_err(|e| GitError::io(context("cannot lock"), e))?;
        Ok(AdminLock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worktree_and_branch_commands_take_the_lock_and_nothing_else_does() {
        for args in [
            &["worktree", "add", "--quiet", "x", "enki/t"][..],
            &["worktree", "prune"],
            &["worktree", "remove", "--force", "x"],
            &["worktree", "repair"],
            &["branch", "--quiet", "-D", "enki/t"],
            &["branch", "enki/t", "abc"],
            &["-c", "user.name=m", "worktree", "list"],
            &["--no-pager", "branch"],
        ] {
            assert!(takes_admin_lock(args), "{args:?}");
        }
        for args in [
            &["update-ref", "refs/heads/main", "b", "a"][..],
            &["commit", "-m", "worktree"],
            &["checkout", "--quiet", "--detach", "abc"],
            &["merge-tree", "--write-tree", "a", "b"],
            &["-c", "branch.x=y", "status"],
            &["show-ref", "--verify", "refs/heads/branch"],
            &[],
        ] {
            assert!(!takes_admin_lock(args), "{args:?}");
        }
    }

    #[test]
    fn another_gits_lock_is_transient() {
        for stderr in [
            "fatal: Unable to create '/r/.git/index.lock': File exists.\n\nAnother git process seems to be running in this repository",
            "fatal: cannot lock ref 'HEAD': Unable to create '/r/.git/refs/heads/main.lock': File exists.",
            "fatal: update_ref failed for ref 'refs/heads/main': cannot lock ref 'refs/heads/main': Unable to create '/r/.git/refs/heads/main.lock': File exists.",
            "error: could not delete reference refs/heads/x: Unable to create '/r/.git/packed-refs.lock': File exists.",
            "error: could not lock config file .git/config: File exists",
            "error: could not lock config file .git/config",
            "fatal: failed to read .git/worktrees/w3/commondir: Success",
            "fatal: could not open '.git/worktrees/task-9/locked' for writing: No such file or directory",
            "fatal: could not open '/p/.enki/git/worktrees/t/gitdir' for writing: No such file or directory",
            "fatal: could not create directory of '.git/worktrees/t/locked'",
        ] {
            assert!(is_transient(stderr), "{stderr}");
        }
    }

    #[test]
    fn real_errors_are_not_transient() {
        for stderr in [
            "",
            "fatal: update_ref failed for ref 'refs/heads/main': cannot lock ref 'refs/heads/main': is at 4198 but expected 0001",
            "fatal: cannot lock ref 'refs/heads/enki/t': reference already exists",
            "fatal: a branch named 'enki/t' already exists",
            "error: branch 'nothing' not found",
            "fatal: '/p/.enki/copies/t' already exists",
            "fatal: '../w1' is not a working tree",
            "error: cannot delete branch 'enki/t' used by worktree at '/p/.enki/copies/t'",
            "error: Entry 'a.txt' not uptodate. Cannot merge.",
            "fatal: not a git repository: /p/.git/worktrees/t",
            "fatal: Unable to create '/r/.git/index.lock': Permission denied",
            "CONFLICT (content): Merge conflict in worktrees/locked.txt",
        ] {
            assert!(!is_transient(stderr), "{stderr}");
        }
    }

    #[test]
    fn pauses_grow_and_stay_under_two_seconds_in_all() {
        let pauses: Vec<Duration> = (1..TRIES).map(pause_after).collect();
        assert!(pauses.windows(2).all(|w| w[0] < w[1]), "{pauses:?}");
        assert!(pauses[0] >= Duration::from_millis(100));
        assert!(pauses.iter().sum::<Duration>() < Duration::from_secs(2));
    }

    #[test]
    fn the_lock_serialises_holders_even_within_one_process() {
        let dir = tempfile::tempdir().unwrap();
        let first = AdminLock::acquire(dir.path()).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let path = dir.path().to_path_buf();
        let waiter = std::thread::spawn(move || {
            let _second = AdminLock::acquire(&path).unwrap();
            tx.send(()).unwrap();
        });
        assert!(rx.recv_timeout(Duration::from_millis(200)).is_err());
        drop(first);
        rx.recv_timeout(Duration::from_secs(10)).unwrap();
        waiter.join().unwrap();
        assert!(dir.path().join(ADMIN_LOCK).is_file());
    }
}
