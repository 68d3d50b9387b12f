//! A worker's copy: a git worktree on its own branch.

use std::path::{Path, PathBuf};

use crate::contention::AdminLock;
use crate::copy::copy_tree;
use crate::gather::{Branches, branches};
use crate::git::{Git, GitError};
use crate::hardened::admin_dirs_of;
use crate::include::{Ignored, copy_listed};
use crate::pool::{is_parked, renew, take_parked};

/// The branch a task's work lives on.
pub fn task_branch(task_id: &str) -> String {
    format!("enki/{task_id}")
}

#[derive(Debug, Clone)]
pub struct CopyRequest<'a> {
    /// The user's project (its work tree and repository).
    pub project: &'a Git,
    /// Where copies live (`.enki/copies`).
    pub copies_dir: &'a Path,
    pub task_id: &'a str,
    /// The branch or commit new work starts from.
    pub base: &'a str,
    /// Which of the project's ignored files (build outputs, `.env`) the
    /// copy gets, so builds start warm.
    pub ignored: Ignored<'a>,
    /// Where landed copies are parked (`.enki/pool`): a new copy is made
    /// from one when there is one (see `pool`). `None` makes every copy anew.
    pub pool: Option<&'a Path>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copy {
    pub path: PathBuf,
    pub branch: String,
    /// The commit the copy's branch started from (or its tip when reused).
    pub base_commit: String,
    /// The copy existed already (a restarted task keeps its work).
    pub reused: bool,
    /// The project's branches and their tips as the copy was made (what a
    /// worker makes later is told apart from them, see `gather`).
    pub branches_before: Branches,
}

/// Creates the copy, or reuses it when it is already there.
pub fn create_copy(request: &CopyRequest<'_>) -> Result<Copy, GitError> {
    let project = request.project;
    let path = request.copies_dir.join(request.task_id);
    let branch = task_branch(request.task_id);
    // A copy taken from the pool and not yet renewed (enki died between)
    // is finished below, never taken for the task's kept work.
    let mut taken = false;
    if path.join(".git").exists() {
        match project.worktree(&path).and_then(|copy| {
            if is_parked(&copy) {
                return Ok(None);
            }
            finish_checkout(&copy)?;
            copy.rev_parse("HEAD").map(Some)
        }) {
            Ok(Some(tip)) => {
                return Ok(Copy {
                    path,
                    branch,
                    base_commit: tip,
                    reused: true,
                    branches_before: branches(project)?,
                });
            }
            Ok(None) => taken = true,
            // A copy whose registration in the repository is gone cannot be
            // used again; it is set aside (never deleted: it may hold work
            // that was not committed) and the copy made afresh from the
            // branch, which holds everything committed.
            Err(e) => set_aside_broken_copy(&path, &e)?,
        }
    }
    std::fs::create_dir_all(request.copies_dir)
        .map_err(|e| GitError::io(format!("creating {}", request.copies_dir.display()), e))?;
    // One listing answers whether the task branch exists, where a base
    // branch points, and which branches were there before the worker.
    let branches_before = branches(project)?;
    let base_commit = match branches_before.get(request.base) {
        Some(tip) => tip.clone(),
        None => project.rev_parse(request.base).map_err(|_| {
            GitError::Invalid(format!(
                "the base '{}' is not a commit in {}",
                request.base,
                request.project.dir().display()
            ))
        })?,
    };
    // The branch is made with the worktree (`-b`) or, when an earlier try
    // made it already, reused: a restarted task keeps the work it holds.
    let new_branch = !branches_before.contains_key(&branch);
    if taken
        || request
            .pool
            .is_some_and(|pool| from_pool(project, pool, &path))
    {
        enki_failpoint::crash_point!("pool:taken");
        let start = new_branch.then_some(base_commit.as_str());
        match renew(project, &path, &branch, start) {
            Ok(()) => return finish_copy(request, path, branch, base_commit, branches_before),
            Err(e) => {
                tracing::warn!(
                    "a parked copy could not be renewed at {} ({e}); making it anew",
                    path.display()
                );
                // What cannot even be removed (an agent's unwritable folder)
                // is set aside: the new copy does not wait for it.
                if remove_worktree(project, &path).is_err() && path.exists() {
                    set_aside_broken_copy(&path, &e)?;
                }
            }
        }
    }
    // Only the registration runs under the repository's lock (`contention`);
    // the files are checked out after it, outside the lock: copies are then
    // made side by side, and the lock's other users (the clean-up of landed
    // copies) never wait for a checkout.
    let add = |project: &Git| {
        let text = path.to_string_lossy().into_owned();
        let mut args = vec!["worktree", "add", "--quiet", "--no-checkout"];
        if new_branch {
            args.extend([
                "--no-track",
                "-b",
                branch.as_str(),
                text.as_str(),
                base_commit.as_str(),
            ]);
        } else {
            args.extend([text.as_str(), branch.as_str()]);
        }
        project.run(&args).map(drop)
    };
    if let Err(first) = add(project) {
        // A stale registration (a copy deleted by hand) blocks the add; a
        // branch made by the failed try is reused by the next.
        project.run(&["worktree", "prune"])?;
        let retry = if new_branch && project.branch_exists(&branch) {
            add_worktree(project, &path, &branch, false)
        } else {
            add(project)
        };
        retry.inspect_err(|_| tracing::debug!("the first worktree add failed too: {first}"))?;
    }
    project
        .worktree(&path)?
        .run(&["reset", "--hard", "--quiet", "--no-recurse-submodules"])?;
    finish_copy(request, path, branch, base_commit, branches_before)
}

/// Takes a parked copy to `path`; a pool that cannot be read is passed by.
fn from_pool(project: &Git, pool: &Path, path: &Path) -> bool {
    take_parked(project, pool, path)
        .inspect_err(|e| tracing::warn!("cannot take a copy from {}: {e}", pool.display()))
        .unwrap_or(false)
}

/// Gives a new copy (checked out on its branch) the project's ignored files
/// it is to have.
fn finish_copy(
    request: &CopyRequest<'_>,
    path: PathBuf,
    branch: String,
    base_commit: String,
    branches_before: Branches,
) -> Result<Copy, GitError> {
    let project = request.project;
    match request.ignored {
        Ignored::Nothing => {}
        Ignored::All => copy_ignored(project, project.dir(), &path)?,
        Ignored::Listed(patterns) => {
            copy_listed(project, project.dir(), &path, patterns)?;
        }
    }
    enki_failpoint::crash_point!("copy:created");
    Ok(Copy {
        path,
        branch,
        base_commit,
        reused: false,
        branches_before,
    })
}

/// A copy registered but never checked out (enki died between the two, see
/// [`create_copy`]) has no index: its files are checked out now. The
/// working tree is not reset: a file already there stays as it is.
fn finish_checkout(copy: &Git) -> Result<(), GitError> {
    let index = copy.absolute_git_dir()?.join("index");
    if index.exists() {
        return Ok(());
    }
    copy.run(&["read-tree", "HEAD"])?;
    let out = copy.output(&["checkout-index", "--all"])?;
    // Exit status 1 with only "already exists" lines: the files kept.
    // (Not `--quiet`: it silences those lines, leaving nothing to tell
    // them from another failure.)
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.success()
        || out.status.code() == Some(1)
            && !stderr.trim().is_empty()
            && stderr
                .lines()
                .all(|line| line.ends_with("already exists, no checkout"))
    {
        return Ok(());
    }
    Err(GitError::Failed {
        args: "checkout-index --all".into(),
        dir: copy.dir().to_path_buf(),
        stderr: stderr.trim().to_string(),
    })
}

/// Moves a copy git no longer knows to `<copy>.broken-<n>` and says so.
fn set_aside_broken_copy(path: &Path, why: &GitError) -> Result<(), GitError> {
    let aside = (1..)
        .map(|n| PathBuf::from(format!("{}.broken-{n}", path.display())))
        .find(|candidate| !candidate.exists())
        .unwrap_or_else(|| path.with_extension("broken"));
    std::fs::rename(path, &aside).map_err(|e| {
        GitError::io(
            format!("setting aside the broken copy {}", path.display()),
            e,
        )
    })?;
    tracing::warn!(
        "the copy {} was no longer a git worktree ({why}); it is kept at {} and the copy is made again from its branch",
        path.display(),
        aside.display()
    );
    Ok(())
}

/// Copies the ignored files and folders of the project (never `.enki/`).
pub(crate) fn copy_ignored(project: &Git, root: &Path, copy: &Path) -> Result<(), GitError> {
    let listing = project.run(&[
        "ls-files",
        "--others",
        "--ignored",
        "--exclude-standard",
        "--directory",
        "-z",
    ])?;
    for entry in listing.split('\0').filter(|e| !e.is_empty()) {
        let relative = entry.trim_end_matches('/');
        if relative == ".enki" || relative.starts_with(".enki/") {
            continue;
        }
        let source = root.join(relative);
        let target = copy.join(relative);
        if source.is_dir() {
            copy_tree(&source, &target, &[])?;
        } else if source.is_file() {
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| GitError::io(format!("creating {}", parent.display()), e))?;
            }
            std::fs::copy(&source, &target)
                .map_err(|e| GitError::io(format!("copying {}", source.display()), e))?;
        }
    }
    Ok(())
}

/// Commits everything in the copy of `project` (new, changed and deleted
/// files; ignored files stay out), through the git directory the repository
/// records for it. Returns the new commit, or `None` when nothing changed.
pub fn commit_all(project: &Git, copy: &Path, message: &str) -> Result<Option<String>, GitError> {
    let git = project.worktree(copy)?;
    git.run(&["add", "--all"])?;
    // `commit` itself says when there is nothing to commit: exit 1 and
    // nothing on stderr (an error writes there).
    let commit = git.output(&["commit", "--quiet", "--no-verify", "-m", message])?;
    if !commit.status.success() {
        if commit.status.code() == Some(1) && commit.stderr.is_empty() {
            return Ok(None);
        }
        return Err(GitError::Failed {
            args: "commit".into(),
            dir: copy.to_path_buf(),
            stderr: String::from_utf8_lossy(&commit.stderr).trim().to_string(),
        });
    }
    // The branch git just moved is a loose ref: read, not asked.
    match git.current_branch()? {
        Some(branch) => git.ref_commit(&format!("refs/heads/{branch}")).map(Some),
        None => git.rev_parse("HEAD").map(Some),
    }
}

/// Adds a worktree at `path` on `target`: a branch, or a commit checked
/// out detached when `detach`.
pub(crate) fn add_worktree(
    project: &Git,
    path: &Path,
    target: &str,
    detach: bool,
) -> Result<(), GitError> {
    let text = path.to_string_lossy().into_owned();
    let mut args = vec!["worktree", "add", "--quiet"];
    if detach {
        args.push("--detach");
    }
    args.extend([text.as_str(), target]);
    project.run(&args).map(drop)
}

/// Removes the worktree at `path` (whatever state it is in, registered or
/// not), as [`remove_worktrees`] does.
pub(crate) fn remove_worktree(project: &Git, path: &Path) -> Result<(), GitError> {
    remove_worktrees(project, &[path])?.pop().unwrap_or(Ok(()))
}

/// Removes the worktrees at `paths` (whatever state each is in, registered
/// or not); one result per path. The repository forgets them first: their
/// administrative directories go, as `git worktree remove` would, all under
/// one hold of the repository's lock, so a batch waits once for it however
/// many it holds (every copy made takes the lock too). Then
/// their files go, outside the lock: git no longer knows the folders, and a
/// death in between leaves plain folders, removed next time. These
/// worktrees are enki's, so nothing in them is kept. `Err` is a failure
/// that stopped all of them (the repository's folder or lock).
pub fn remove_worktrees<P: AsRef<Path>>(
    project: &Git,
    paths: &[P],
) -> Result<Vec<Result<(), GitError>>, GitError> {
    let present: Vec<&Path> = paths
        .iter()
        .map(AsRef::as_ref)
        .filter(|path| path.exists())
        .collect();
    if !present.is_empty() {
        let common = project.common_dir()?;
        let admins: Vec<PathBuf> = admin_dirs_of(&common, &present)
            .into_iter()
            .flatten()
            .collect();
        if !admins.is_empty() {
            let _lock = AdminLock::acquire(&common)?;
            for admin in &admins {
                // Another remover may have been first (a worker's retry).
                match std::fs::remove_dir_all(admin) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        return Err(GitError::io(format!("removing {}", admin.display()), e));
                    }
                    _ => {}
                }
            }
        }
    }
    Ok(paths
        .iter()
        .map(AsRef::as_ref)
        .map(|path| match std::fs::remove_dir_all(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(GitError::io(format!("removing {}", path.display()), e))
            }
            _ => Ok(()),
        })
        .collect())
}

/// Removes a copy and, when asked, its branch (deleting a branch that is
/// gone already is no error).
pub fn remove_copy(project: &Git, copy: &Path, branch: Option<&str>) -> Result<(), GitError> {
    remove_worktree(project, copy)?;
    let Some(branch) = branch else {
        return Ok(());
    };
    // A branch the user has checked out stays, as `git branch -D` would
    // have refused to delete it.
    if project.current_branch()?.as_deref() == Some(branch) {
        return Ok(());
    }
    project.delete_refs(&[format!("refs/heads/{branch}")])
}
