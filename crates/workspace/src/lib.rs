//! Worker isolation and landing work, with real git.
//!
//! Each worker gets a copy of the project at `.enki/copies/<task>`: a git
//! worktree on branch `enki/<task>` holding the base commit's tracked files
//! plus the project's ignored files (build outputs) where the file system
//! clones files (they share blocks), else the ignored files the project
//! lists (`.worktreeinclude`, `[workers] include`). The
//! user's working tree is never touched by a worker. Finished work is
//! committed on the task branch and landed on the base branch as one squash
//! commit computed without a checkout (`git merge-tree`), then the user's
//! checkout is moved forward only if that cannot overwrite their changes.

mod checkout;
mod contention;
mod copy;
mod diff;
mod files;
mod gather;
mod git;
mod hardened;
mod hidden;
mod include;
#[cfg(test)]
mod land;
mod merge_tree;
mod pool;
mod squash;
mod worktree;

pub use checkout::is_write_failure;
pub use copy::copy_tree;
pub use diff::{Diff, FileChange, FileDiff, branch_diff, diff_commits};
pub use gather::{Branches, GatherError, Gathered, branches, commit_work};
pub use git::{Git, GitError, git_processes};
pub use hidden::{
    HIDDEN_BRANCH, hidden_git_dir, hidden_repository, is_repository_root, snapshot_user_changes,
};
pub use include::{Ignored, WORKTREE_INCLUDE, clones_files};
pub use pool::{empty_pool, park_copies};
pub use squash::{
    Advance, Squash, advance_branch, advance_branch_deleting, branch_adds_to, commit_resolution,
    files_with_markers, is_ancestor, operation_in_progress, rebasing_branch, scratch_worktree,
    squash_onto, start_conflicted_merge, would_overwrite,
};
pub use worktree::{
    Copy, CopyRequest, commit_all, create_copy, remove_copy, remove_worktrees, task_branch,
};

#[cfg(test)]
mod tests;
