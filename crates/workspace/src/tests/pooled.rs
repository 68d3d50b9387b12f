//! Landed copies parked in the pool and made the next task's copy.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::{repo, request};
use crate::pool::take_parked;
use crate::{Copy, CopyRequest, Git, commit_all, create_copy, empty_pool, park_copies};

fn pooled<'a>(git: &'a Git, copies: &'a Path, pool: &'a Path, task: &'a str) -> CopyRequest<'a> {
    CopyRequest {
        pool: Some(pool),
        ..request(git, copies, task)
    }
}

/// A copy made for `task` in which an agent left every kind of file: a
/// committed change, an untracked file, an ignored build output, a nested
/// repository and its `.git` file replaced by a folder of its own.
fn used_copy(git: &Git, copies: &Path, task: &str) -> Copy {
    let copy = create_copy(&request(git, copies, task)).unwrap();
    std::fs::write(copy.path.join("a.txt"), "changed\n").unwrap();
    commit_all(git, &copy.path, "work").unwrap();
    std::fs::write(copy.path.join("untracked.txt"), "left\n").unwrap();
    std::fs::create_dir_all(copy.path.join("target")).unwrap();
    std::fs::write(copy.path.join("target/out"), "built\n").unwrap();
    std::fs::create_dir_all(copy.path.join("nested")).unwrap();
    Git::new(copy.path.join("nested"))
        .run(&["init", "-q"])
        .unwrap();
    std::fs::remove_file(copy.path.join(".git")).unwrap();
    std::fs::create_dir_all(copy.path.join(".git/hooks")).unwrap();
    copy
}

/// A repository whose pool holds the copy task `t-1` used (see
/// [`used_copy`]): the repository, its copies' folder and its pool.
fn with_a_parked_copy() -> (tempfile::TempDir, Git, PathBuf, PathBuf) {
    let (dir, git) = repo();
    let (copies, pool) = (git.dir().join(".enki/copies"), git.dir().join(".enki/pool"));
    let used = used_copy(&git, &copies, "t-1");
    park_copies(&git, &pool, &[&used.path], 1).unwrap();
    (dir, git, copies, pool)
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn inode(path: &Path) -> u64 {
    std::fs::metadata(path).unwrap().ino()
}

#[test]
fn a_parked_copy_becomes_the_next_tasks_copy_with_nothing_of_the_last_task_in_it() {
    let (_dir, git) = repo();
    let (copies, pool) = (git.dir().join(".enki/copies"), git.dir().join(".enki/pool"));
    let used = used_copy(&git, &copies, "t-1");
    assert_eq!(
        park_copies(&git, &pool, &[&used.path], 2).unwrap(),
        vec![true]
    );
    assert!(!used.path.exists());
    assert_eq!(names(&pool), vec!["t-1"]);
    assert_eq!(
        names(&pool.join("t-1")),
        vec![".git", ".gitignore", "a.txt"],
        "parked with its tracked files only"
    );
    let parked_inode = inode(&pool.join("t-1"));
    // The landing deletes the task's branch.
    git.delete_refs(&["refs/heads/enki/t-1".to_string()])
        .unwrap();

    let copy = create_copy(&pooled(&git, &copies, &pool, "t-2")).unwrap();
    assert!(!copy.reused, "a new copy for the task (its setup runs)");
    assert_eq!(
        inode(&copy.path),
        parked_inode,
        "the parked folder was reused"
    );
    assert!(names(&pool).is_empty());
    assert_eq!(
        names(&copy.path),
        vec![".git", ".gitignore", "a.txt"],
        "only the base's files"
    );
    assert_eq!(
        std::fs::read_to_string(copy.path.join("a.txt")).unwrap(),
        "one\ntwo\n"
    );
    let dot_git = std::fs::read_to_string(copy.path.join(".git")).unwrap();
    assert!(dot_git.starts_with("gitdir: "), "{dot_git}");
    // git in the copy, found through its own `.git` file as an agent finds
    // it, is on the new branch at the base with nothing to commit.
    let plain = Git::new(&copy.path);
    assert_eq!(plain.current_branch().unwrap().as_deref(), Some("enki/t-2"));
    assert_eq!(
        plain.rev_parse("HEAD").unwrap(),
        git.rev_parse("main").unwrap()
    );
    assert!(
        plain
            .run(&["status", "--porcelain"])
            .unwrap()
            .trim()
            .is_empty()
    );
    // Its administrative entry is a new copy's: no mark, and no reflog
    // naming the last task's branch (it would pass for one the worker made).
    let admin = git
        .worktree(&copy.path)
        .unwrap()
        .absolute_git_dir()
        .unwrap();
    assert_eq!(names(&admin), vec!["HEAD", "commondir", "gitdir", "index"]);
    let before = crate::branches(&git).unwrap();
    let gathered = crate::commit_work(&git, &copy.path, "enki/t-2", &before, "nothing").unwrap();
    assert_eq!(gathered, crate::Gathered::default());
    // Its work commits and the copy is parked and removed as any other.
    std::fs::write(copy.path.join("b.txt"), "b\n").unwrap();
    assert!(commit_all(&git, &copy.path, "more").unwrap().is_some());
    assert_eq!(
        park_copies(&git, &pool, &[&copy.path], 1).unwrap(),
        vec![true]
    );
    empty_pool(&git, &pool).unwrap();
    assert!(!pool.exists());
    let worktrees = git.run(&["worktree", "list", "--porcelain"]).unwrap();
    assert_eq!(worktrees.matches("worktree ").count(), 1, "{worktrees}");
}

#[test]
fn the_pool_keeps_no_more_than_its_capacity_and_no_copy_git_does_not_know() {
    let (_dir, git) = repo();
    let (copies, pool) = (git.dir().join(".enki/copies"), git.dir().join(".enki/pool"));
    let made: Vec<PathBuf> = ["t-1", "t-2", "t-3"]
        .iter()
        .map(|task| create_copy(&request(&git, &copies, task)).unwrap().path)
        .collect();
    let stranger = copies.join("not-a-worktree");
    std::fs::create_dir_all(&stranger).unwrap();
    let mut all = vec![stranger.clone()];
    all.extend(made.iter().cloned());
    assert_eq!(
        park_copies(&git, &pool, &all, 2).unwrap(),
        vec![false, true, true, false]
    );
    assert_eq!(names(&pool), vec!["t-1", "t-2"]);
    assert!(stranger.exists() && made[2].exists());
    // Full: nothing more is parked.
    assert_eq!(
        park_copies(&git, &pool, &[&made[2]], 2).unwrap(),
        vec![false]
    );
}

#[test]
fn a_copy_taken_from_the_pool_and_not_renewed_is_renewed_at_the_next_try() {
    let (_dir, git, copies, pool) = with_a_parked_copy();
    // What a death right after the move leaves: the folder at the task's
    // place, still marked, on the last task's branch with its files.
    let path = copies.join("t-2");
    assert!(take_parked(&git, &pool, &path).unwrap());
    assert_eq!(
        std::fs::read_to_string(path.join("a.txt")).unwrap(),
        "changed\n"
    );

    let copy = create_copy(&request(&git, &copies, "t-2")).unwrap();
    assert!(!copy.reused, "not the task's kept work");
    assert_eq!(copy.branch, "enki/t-2");
    assert_eq!(
        Git::new(&path).current_branch().unwrap().as_deref(),
        Some("enki/t-2")
    );
    assert_eq!(
        std::fs::read_to_string(path.join("a.txt")).unwrap(),
        "one\ntwo\n"
    );
    // Now it is the task's: the next try keeps it as it is.
    std::fs::write(path.join("work.txt"), "mine\n").unwrap();
    let again = create_copy(&request(&git, &copies, "t-2")).unwrap();
    assert!(again.reused);
    assert!(path.join("work.txt").exists());
}

/// What a death mid-move leaves: the registration of the worktree at
/// `folder` points at `to`, where no folder is; returns the registration.
fn half_moved(git: &Git, folder: &Path, to: &Path) -> PathBuf {
    let admin = git.worktree(folder).unwrap().absolute_git_dir().unwrap();
    let gitdir = format!("{}\n", to.join(".git").display());
    std::fs::write(admin.join("gitdir"), gitdir).unwrap();
    admin
}

#[test]
fn a_half_moved_copy_is_never_taken_and_the_pool_drops_it() {
    let (_dir, git, copies, pool) = with_a_parked_copy();
    // A death between pointing the registration at the task's place and
    // moving the folder: the folder in the pool is named by nothing.
    half_moved(&git, &pool.join("t-1"), &copies.join("t-2"));

    let copy = create_copy(&pooled(&git, &copies, &pool, "t-2")).unwrap();
    assert!(!copy.reused);
    assert_eq!(names(&copy.path), vec![".git", ".gitignore", "a.txt"]);
    assert_eq!(names(&pool), vec!["t-1"], "the orphan was not taken");
    let other = create_copy(&request(&git, &copies, "t-3")).unwrap();
    park_copies(&git, &pool, &[&other.path], 2).unwrap();
    assert_eq!(
        names(&pool),
        vec!["t-3"],
        "the orphan is removed at the next parking"
    );
    // A registration of a folder that is gone (a death mid-move of the
    // orphan's, again) goes when the pool is emptied.
    let stale = half_moved(&git, &pool.join("t-3"), &copies.join("t-4"));
    empty_pool(&git, &pool).unwrap();
    let worktrees = git.run(&["worktree", "list", "--porcelain"]).unwrap();
    assert_eq!(
        worktrees.matches("worktree ").count(),
        2,
        "the main one and t-2: {worktrees}"
    );
    assert!(!stale.exists());
}
