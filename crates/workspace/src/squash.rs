//! The steps of landing one task branch, for the merge queue: compute the
//! squash commit, reproduce a conflict in a scratch worktree for a merger,
//! check its resolution, and move the base branch.

use std::path::Path;

use crate::git::{Git, GitError};
use crate::worktree::copy_ignored;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Squash {
    /// One commit on top of the base tip holding the branch's changes.
    Clean { commit: String },
    /// The branch conflicts with the base in these files.
    Conflict { files: Vec<String> },
    /// The base already holds everything the branch changes.
    NothingToLand,
}

/// Computes the squash of `branch` onto `base_tip` without touching any
/// work tree (`git merge-tree` + `git commit-tree`).
pub fn squash_onto(
    project: &Git,
    base_tip: &str,
    branch: &str,
    message: &str,
) -> Result<Squash, GitError> {
    let branch_tip = project
        .rev_parse(&format!("refs/heads/{branch}"))
        .map_err(|_| {
            GitError::Invalid(format!(
                "the task branch '{branch}' no longer exists (was it deleted?)"
            ))
        })?;
    let merge = project.output(&[
        "merge-tree",
        "--write-tree",
        "--name-only",
        "--no-messages",
        base_tip,
        &branch_tip,
    ])?;
    let text = String::from_utf8_lossy(&merge.stdout).to_string();
    let mut lines = text.lines();
    let tree = lines.next().unwrap_or_default().trim().to_string();
    match merge.status.code() {
        Some(0) => {}
        Some(1) => {
            let mut files: Vec<String> = lines
                .filter(|l| !l.is_empty())
                .map(str::to_string)
                .collect();
            files.sort();
            files.dedup();
            return Ok(Squash::Conflict { files });
        }
        _ => {
            return Err(GitError::Failed {
                args: "merge-tree".into(),
                dir: project.dir().to_path_buf(),
                stderr: String::from_utf8_lossy(&merge.stderr).trim().to_string(),
            });
        }
    }
    let base_tree = project.run(&["rev-parse", &format!("{base_tip}^{{tree}}")])?;
    if tree == base_tree {
        return Ok(Squash::NothingToLand);
    }
    let commit = project.run(&["commit-tree", &tree, "-p", base_tip, "-m", message])?;
    Ok(Squash::Clean { commit })
}

/// A detached scratch worktree at `commit` (with the project's ignored
/// files, so checks start warm). An existing one is moved to `commit`.
pub fn scratch_worktree(
    project: &Git,
    path: &Path,
    commit: &str,
    include_ignored: bool,
) -> Result<(), GitError> {
    if path.join(".git").exists() {
        let git = Git::new(path);
        git.run(&["reset", "--quiet", "--hard"])?;
        git.run(&["checkout", "--quiet", "--detach", commit])?;
        return Ok(());
    }
    project.run(&["worktree", "prune"])?;
    let text = path.to_string_lossy().into_owned();
    project.run(&["worktree", "add", "--quiet", "--detach", &text, commit])?;
    if include_ignored {
        copy_ignored(project, project.dir(), path)?;
    }
    Ok(())
}

/// In a worktree at the base tip, starts the squash merge of `branch` and
/// leaves the conflict markers in place. Returns the conflicted files.
pub fn start_conflicted_merge(worktree: &Path, branch: &str) -> Result<Vec<String>, GitError> {
    let git = Git::new(worktree);
    // Exit status 1 is the expected "conflicts"; the unmerged list says which.
    let _ = git.output(&["merge", "--squash", "--no-commit", branch])?;
    let unmerged = git.run(&["diff", "--name-only", "--diff-filter=U"])?;
    let mut files: Vec<String> = unmerged
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    files.sort();
    files.dedup();
    Ok(files)
}

/// Which of `files` (relative to `worktree`) still hold conflict markers.
pub fn files_with_markers(worktree: &Path, files: &[String]) -> Vec<String> {
    files
        .iter()
        .filter(|file| {
            std::fs::read_to_string(worktree.join(file)).is_ok_and(|text| {
                text.lines().any(|line| {
                    line.starts_with("<<<<<<< ")
                        || line.starts_with(">>>>>>> ")
                        || line == "======="
                })
            })
        })
        .cloned()
        .collect()
}

/// Commits the resolved merge in the scratch worktree as one commit whose
/// only parent is the base tip (a squash). Returns the commit.
pub fn commit_resolution(worktree: &Path, message: &str) -> Result<String, GitError> {
    let git = Git::new(worktree);
    git.run(&["add", "--all"])?;
    let tree = git.run(&["write-tree"])?;
    let head = git.rev_parse("HEAD")?;
    let commit = git.run(&["commit-tree", &tree, "-p", &head, "-m", message])?;
    git.run(&["checkout", "--quiet", "--detach", &commit])?;
    Ok(commit)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Advance {
    /// The base branch now points to the new commit.
    Moved,
    /// The user's uncommitted changes would be overwritten; nothing changed.
    WouldOverwrite { detail: String },
    /// The base branch moved meanwhile; compute again.
    BaseMoved,
}

/// Moves `base_branch` from `old` to `new` with a compare-and-swap. When the
/// user has it checked out, their index and working tree move first with a
/// two-tree `read-tree`, which refuses to touch files they changed.
pub fn advance_branch(
    project: &Git,
    base_branch: &str,
    old: &str,
    new: &str,
) -> Result<Advance, GitError> {
    let reference = format!("refs/heads/{base_branch}");
    if project.rev_parse(&reference)? != old {
        return Ok(Advance::BaseMoved);
    }
    let checked_out = project.current_branch()?.as_deref() == Some(base_branch);
    if checked_out {
        let update = project.output(&["read-tree", "-m", "-u", old, new])?;
        if !update.status.success() {
            return Ok(Advance::WouldOverwrite {
                detail: String::from_utf8_lossy(&update.stderr).trim().to_string(),
            });
        }
    }
    let swap = project.output(&["update-ref", "-m", "enki: land task", &reference, new, old])?;
    if !swap.status.success() {
        if checked_out {
            // Put the checkout back where the branch is.
            let _ = project.output(&["read-tree", "-m", "-u", new, old]);
        }
        return Ok(Advance::BaseMoved);
    }
    Ok(Advance::Moved)
}

/// A git operation the user has under way in the project (rebase, merge,
/// cherry-pick, revert, bisect), during which landing must wait.
pub fn operation_in_progress(project: &Git) -> Option<String> {
    let git_dir = project.run(&["rev-parse", "--absolute-git-dir"]).ok()?;
    let dir = Path::new(&git_dir);
    [
        ("rebase-merge", "a rebase"),
        ("rebase-apply", "a rebase"),
        ("MERGE_HEAD", "a merge"),
        ("CHERRY_PICK_HEAD", "a cherry-pick"),
        ("REVERT_HEAD", "a revert"),
        ("BISECT_LOG", "a bisect"),
    ]
    .iter()
    .find(|(marker, _)| dir.join(marker).exists())
    .map(|(_, what)| format!("{what} is in progress in the project"))
}
