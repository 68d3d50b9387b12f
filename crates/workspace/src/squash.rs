//! The steps of landing one task branch, for the merge queue: compute the
//! squash commit, reproduce a conflict in a scratch worktree for a merger,
//! check its resolution, and move the base branch.

use std::path::Path;

use crate::checkout::{CheckoutMove, move_checkout};
use crate::git::{Git, GitError};
use crate::merge_tree::{Merged, file_list, merge_trees};
use crate::worktree::{add_worktree, copy_ignored, remove_worktree};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Squash {
    /// One commit on top of the base tip holding the branch's changes.
    Clean { commit: String },
    /// The branch conflicts with the base in these files.
    Conflict { files: Vec<String> },
    /// The base already holds everything the branch changes.
    NothingToLand,
}

fn branch_tip(project: &Git, branch: &str) -> Result<String, GitError> {
    project
        .ref_commit(&format!("refs/heads/{branch}"))
        .map_err(|_| {
            GitError::Invalid(format!(
                "the task branch '{branch}' no longer exists (was it deleted?)"
            ))
        })
}

/// Computes the squash of `branch` onto `base_tip` without touching any
/// work tree (`git merge-tree` + `git commit-tree`).
pub fn squash_onto(
    project: &Git,
    base_tip: &str,
    branch: &str,
    message: &str,
) -> Result<Squash, GitError> {
    let tip = branch_tip(project, branch)?;
    let tree = match merge_trees(project, base_tip, &tip)? {
        Merged::Tree { merged, base } if merged == base => return Ok(Squash::NothingToLand),
        Merged::Tree { merged, .. } => merged,
        Merged::Conflict(files) => return Ok(Squash::Conflict { files }),
    };
    let commit = project.run(&["commit-tree", &tree, "-p", base_tip, "-m", message])?;
    // Once it lands, the next squash's base is this commit.
    project.remember_commit(&commit, &tree, base_tip);
    Ok(Squash::Clean { commit })
}

/// Whether landing `branch` would change `base` (a branch or commit): its
/// squash onto the base is not empty (a conflict counts as a change). This,
/// not whether a new commit was just made, says if a task has work to land:
/// a retried task's branch may already hold its commit.
pub fn branch_adds_to(project: &Git, base: &str, branch: &str) -> Result<bool, GitError> {
    let tip = branch_tip(project, branch)?;
    let base_tip = project.rev_parse(base).map_err(|_| {
        GitError::Invalid(format!(
            "the base '{base}' is not a commit in {}",
            project.dir().display()
        ))
    })?;
    match merge_trees(project, &base_tip, &tip)? {
        Merged::Tree { merged, base } => Ok(merged != base),
        Merged::Conflict(_) => Ok(true),
    }
}

/// A detached scratch worktree at `commit` (with the project's ignored
/// files, so checks start warm). An existing one is removed and created
/// anew, never reset in place: an earlier attempt may have left untracked
/// or ignored files that would abort the next merge, a half-done merge
/// (MERGE_HEAD, unmerged entries), or a lock file of a git that was killed.
pub fn scratch_worktree(
    project: &Git,
    path: &Path,
    commit: &str,
    include_ignored: bool,
) -> Result<(), GitError> {
    remove_worktree(project, path)?;
    if add_worktree(project, path, commit, true).is_err() {
        // A registration whose folder was deleted by hand blocks the add.
        project.run(&["worktree", "prune"])?;
        add_worktree(project, path, commit, true)?;
    }
    if include_ignored {
        copy_ignored(project, project.dir(), path)?;
    }
    Ok(())
}

/// In a worktree of `project` at the base tip, starts the squash merge of
/// `branch` and leaves the conflict markers in place. Returns the conflicted
/// files.
pub fn start_conflicted_merge(
    project: &Git,
    worktree: &Path,
    branch: &str,
) -> Result<Vec<String>, GitError> {
    let git = project.worktree(worktree)?;
    // Exit status 1 is the expected "conflicts"; the unmerged list says which.
    let _ = git.output(&["merge", "--squash", "--no-commit", branch])?;
    let unmerged = git.run(&["diff", "--name-only", "--diff-filter=U"])?;
    Ok(file_list(unmerged.lines().filter(|l| !l.is_empty())))
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
/// only parent is `base_tip` (a squash), holding the worktree's files as the
/// merger left them. Commits the merger made itself are folded into it; a
/// merger that moved the worktree's HEAD off the base (checked out an older
/// commit, reset) is refused, since its files no longer hold the base's
/// work. Returns the commit; the worktree is left detached at it.
pub fn commit_resolution(
    project: &Git,
    worktree: &Path,
    base_tip: &str,
    message: &str,
) -> Result<String, GitError> {
    let git = project.worktree(worktree)?;
    let head = git.rev_parse("HEAD")?;
    if head != base_tip && !is_ancestor(&git, base_tip, &head)? {
        return Err(GitError::Invalid(format!(
            "the merger moved the merge worktree's HEAD to {}, which does not contain the base tip {}; \
its files would undo work on the base, so the resolution is not used",
            short(&head),
            short(base_tip)
        )));
    }
    git.run(&["add", "--all"])?;
    let tree = git.run(&["write-tree"])?;
    let commit = git.run(&["commit-tree", &tree, "-p", base_tip, "-m", message])?;
    git.remember_commit(&commit, &tree, base_tip);
    git.run(&["checkout", "--quiet", "--detach", &commit])?;
    Ok(commit)
}

/// Whether `ancestor` is `descendant` or one of its ancestors.
pub fn is_ancestor(git: &Git, ancestor: &str, descendant: &str) -> Result<bool, GitError> {
    let check = git.output(&["merge-base", "--is-ancestor", ancestor, descendant])?;
    match check.status.code() {
        Some(0) => Ok(true),
        Some(1) => Ok(false),
        _ => Err(GitError::Failed {
            args: format!("merge-base --is-ancestor {ancestor} {descendant}"),
            dir: git.dir().to_path_buf(),
            stderr: String::from_utf8_lossy(&check.stderr).trim().to_string(),
        }),
    }
}

fn short(commit: &str) -> &str {
    commit.get(..10).unwrap_or(commit)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Advance {
    /// The base branch now points to the new commit.
    Moved,
    /// The user's uncommitted changes would be overwritten; nothing changed.
    WouldOverwrite { detail: String },
    /// The base branch moved meanwhile; compute again.
    BaseMoved,
    /// Updating the checkout failed while writing (a full disk): what was
    /// written is put back and the branch did not move; try again later.
    WriteFailed { detail: String },
}

/// Moves `base_branch` from `old` to `new` with a compare-and-swap. When the
/// user has it checked out, their index and working tree move first with a
/// two-tree `read-tree`, which refuses to touch files they changed. `new`
/// must descend from `old`: a landing only ever adds commits, so anything
/// else is refused with an error and the branch is left as it was.
pub fn advance_branch(
    project: &Git,
    base_branch: &str,
    old: &str,
    new: &str,
) -> Result<Advance, GitError> {
    advance_branch_deleting(project, base_branch, old, new, &[])
}

/// [`advance_branch`], deleting the refs `delete` (those of the landed
/// work, which it no longer needs) in the same transaction as the move of
/// the base branch: they go if and only if it moves.
pub fn advance_branch_deleting(
    project: &Git,
    base_branch: &str,
    old: &str,
    new: &str,
    delete: &[String],
) -> Result<Advance, GitError> {
    let reference = format!("refs/heads/{base_branch}");
    if project.ref_commit(&reference)? != old {
        return Ok(Advance::BaseMoved);
    }
    // A squash enki made on `old` descends from it by construction.
    if !project.made_on(new, old) && !is_ancestor(project, old, new)? {
        return Err(GitError::Invalid(format!(
            "refusing to move '{base_branch}' from {} to {}: the new commit does not descend from the branch's tip, \
so landing it would drop commits",
            short(old),
            short(new)
        )));
    }
    let checked_out = project.current_branch()?.as_deref() == Some(base_branch);
    if checked_out {
        match move_checkout(project, old, new)? {
            CheckoutMove::Moved => {}
            CheckoutMove::Refused { detail } => return Ok(Advance::WouldOverwrite { detail }),
            CheckoutMove::WriteFailed { detail } => return Ok(Advance::WriteFailed { detail }),
        }
        // A death here leaves the checkout ahead of its branch; the recorded
        // intent makes the next start finish this same advance.
        enki_failpoint::crash_point!("land:checkout_moved");
    }
    // A compare-and-swap: it fails if the base moved meanwhile.
    let mut transaction = format!("update {reference} {new} {old}\n");
    for name in delete {
        transaction.push_str(&format!("delete {name}\n"));
    }
    let swap = project.output_with_stdin(
        &["update-ref", "-m", "enki: land task", "--stdin"],
        transaction.as_bytes(),
    )?;
    if !swap.status.success() {
        if checked_out {
            let _ = project.output(&["read-tree", "-m", "-u", new, old]);
        }
        return Ok(Advance::BaseMoved);
    }
    Ok(Advance::Moved)
}

/// Whether moving `base_branch` from `old` to `new` would have to overwrite
/// the user's uncommitted changes (a dry run of the two-tree `read-tree`
/// that [`advance_branch`] does): `Some(git's explanation)` when it would,
/// `None` when it would not or the branch is not checked out.
pub fn would_overwrite(
    project: &Git,
    base_branch: &str,
    old: &str,
    new: &str,
) -> Result<Option<String>, GitError> {
    if project.current_branch()?.as_deref() != Some(base_branch) {
        return Ok(None);
    }
    let check = project.output(&["read-tree", "-m", "-u", "-n", old, new])?;
    Ok(
        (!check.status.success())
            .then(|| String::from_utf8_lossy(&check.stderr).trim().to_string()),
    )
}

/// A git operation the user has under way in the project (rebase, merge,
/// cherry-pick, revert, bisect), during which landing must wait.
pub fn operation_in_progress(project: &Git) -> Option<String> {
    let git_dir = project.absolute_git_dir().ok()?;
    let dir = git_dir.as_path();
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

/// The branch a rebase in progress is rebasing (`rebase-merge/head-name` or
/// `rebase-apply/head-name`), or `None` when no rebase of a branch is under way.
pub fn rebasing_branch(project: &Git) -> Option<String> {
    let git_dir = project.absolute_git_dir().ok()?;
    let dir = git_dir.as_path();
    ["rebase-merge", "rebase-apply"].iter().find_map(|state| {
        let name = std::fs::read_to_string(dir.join(state).join("head-name")).ok()?;
        name.trim()
            .strip_prefix("refs/heads/")
            .filter(|b| !b.is_empty())
            .map(str::to_string)
    })
}
