//! What one task costs in git processes: a copy, the worker's commit, the
//! squash, the move of the base and the clean-up, counted on this thread.

use super::{repo, request};
use crate::squash::advance_branch_deleting;
use crate::{Advance, Squash, commit_work, create_copy, git_processes, remove_copy, squash_onto};

/// git processes each step may start once the repository's settings are
/// read (once per process, not per task).
const COPY: u64 = 4; // for-each-ref, worktree add, its checkout, ls-files of the ignored files
const COMMIT: u64 = 2; // add, commit
const SQUASH: u64 = 2; // merge-tree (the merge and the base's tree), commit-tree
const ADVANCE: u64 = 2; // read-tree, update-ref (the squash descends from the base: enki made it)

#[test]
fn a_task_from_copy_to_clean_up_starts_at_most_ten_git_processes() {
    let (_dir, git) = repo();
    let copies = git.dir().join(".enki/copies");
    // The settings and the common dir, read once per repository.
    git.current_branch().unwrap();
    let _ = git.absolute_git_dir().unwrap();

    let spent = |from: u64| git_processes() - from;
    let start = git_processes();
    let copy = create_copy(&request(&git, &copies, "task-1")).unwrap();
    assert!(spent(start) <= COPY, "the copy took {}", spent(start));

    std::fs::write(copy.path.join("b.txt"), "b\n").unwrap();
    let start = git_processes();
    let gathered = commit_work(&git, &copy.path, &copy.branch, &copy.branches_before, "b").unwrap();
    assert!(gathered.commit.is_some());
    assert!(spent(start) <= COMMIT, "the commit took {}", spent(start));

    let old = git.ref_commit("refs/heads/main").unwrap();
    let start = git_processes();
    let Squash::Clean { commit } = squash_onto(&git, &old, &copy.branch, "b").unwrap() else {
        panic!("a clean squash was expected");
    };
    assert!(spent(start) <= SQUASH, "the squash took {}", spent(start));

    let start = git_processes();
    let branch_ref = format!("refs/heads/{}", copy.branch);
    let moved = advance_branch_deleting(
        &git,
        "main",
        &old,
        &commit,
        std::slice::from_ref(&branch_ref),
    );
    assert_eq!(moved.unwrap(), Advance::Moved);
    assert!(spent(start) <= ADVANCE, "the advance took {}", spent(start));
    assert!(git.dir().join("b.txt").is_file(), "the checkout moved");

    let start = git_processes();
    remove_copy(&git, &copy.path, Some(&copy.branch)).unwrap();
    git.delete_refs(&[branch_ref]).unwrap();
    // The refs went with the advance: the clean-up only removes files.
    assert_eq!(spent(start), 0, "the clean-up ran git");
    assert!(!copy.path.exists());
    assert_eq!(git.run(&["worktree", "list"]).unwrap().lines().count(), 1);
    assert!(!git.branch_exists(&copy.branch));
}
