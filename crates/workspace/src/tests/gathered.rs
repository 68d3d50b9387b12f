//! A worker's commits on a branch of its own or a detached HEAD reach its
//! task branch; its branches never outlive that; work that cannot be moved
//! is an error naming where it is.

use super::{repo, request};
use crate::{GatherError, Git, branches, commit_work, create_copy, task_branch};

/// git in the copy as an unsandboxed agent runs it (through the copy's .git).
fn agent_git(copy: &std::path::Path, args: &[&str]) {
    let status = std::process::Command::new("git")
        .args(["-c", "user.name=w", "-c", "user.email=w@w"])
        .args(args)
        .current_dir(copy)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "git {args:?}");
}

fn setup(task: &str) -> (tempfile::TempDir, Git, std::path::PathBuf, crate::Branches) {
    let (dir, git) = repo();
    let copies = git.dir().join(".enki/copies");
    let copy = create_copy(&request(&git, &copies, task)).unwrap();
    let before = branches(&git).unwrap();
    (dir, git, copy.path, before)
}

fn file_on(git: &Git, branch: &str, file: &str) -> String {
    git.run(&["show", &format!("{branch}:{file}")]).unwrap()
}

#[test]
fn commits_on_a_branch_the_worker_made_land_on_its_task_branch_and_the_branch_goes() {
    let (_dir, git, copy, before) = setup("t1");
    agent_git(&copy, &["checkout", "-q", "-b", "feature"]);
    std::fs::write(copy.join("b.txt"), "b\n").unwrap();
    agent_git(&copy, &["add", "b.txt"]);
    agent_git(&copy, &["commit", "-q", "-m", "b"]);
    std::fs::write(copy.join("c.txt"), "not committed\n").unwrap();

    let gathered = commit_work(&git, &copy, &task_branch("t1"), &before, "T1").unwrap();
    assert_eq!(gathered.moved_from.as_deref(), Some("the branch 'feature'"));
    assert_eq!(gathered.removed, ["feature"]);
    assert!(gathered.commit.is_some());
    assert_eq!(file_on(&git, "enki/t1", "b.txt"), "b");
    assert_eq!(file_on(&git, "enki/t1", "c.txt"), "not committed");
    assert!(!git.branch_exists("feature"));
    let copy_git = git.worktree(&copy).unwrap();
    assert_eq!(
        copy_git.current_branch().unwrap().as_deref(),
        Some("enki/t1")
    );
    assert!(!copy_git.is_dirty().unwrap());
}

#[test]
fn commits_on_a_detached_head_land_on_the_task_branch() {
    let (_dir, git, copy, before) = setup("t2");
    agent_git(&copy, &["checkout", "-q", "--detach"]);
    std::fs::write(copy.join("d.txt"), "d\n").unwrap();
    agent_git(&copy, &["add", "d.txt"]);
    agent_git(&copy, &["commit", "-q", "-m", "d"]);

    let gathered = commit_work(&git, &copy, &task_branch("t2"), &before, "T2").unwrap();
    assert!(
        gathered
            .moved_from
            .as_deref()
            .is_some_and(|m| m.starts_with("a detached HEAD at ")),
        "{gathered:?}"
    );
    assert_eq!(gathered.commit, None, "everything was committed already");
    assert_eq!(file_on(&git, "enki/t2", "d.txt"), "d");
    assert_eq!(branches(&git).unwrap().len(), before.len());
}

#[test]
fn a_branch_left_behind_with_commits_the_task_branch_lacks_fails_naming_it() {
    let (_dir, git, copy, before) = setup("t3");
    agent_git(&copy, &["checkout", "-q", "-b", "side"]);
    std::fs::write(copy.join("s.txt"), "s\n").unwrap();
    agent_git(&copy, &["add", "s.txt"]);
    agent_git(&copy, &["commit", "-q", "-m", "s"]);
    agent_git(&copy, &["checkout", "-q", "enki/t3"]);

    let err = commit_work(&git, &copy, &task_branch("t3"), &before, "T3").unwrap_err();
    assert!(
        matches!(&err, GatherError::Elsewhere(m) if m.contains("'side'") && m.contains("nothing landed")),
        "{err}"
    );
    assert!(git.branch_exists("side"), "the work is kept");
}

#[test]
fn a_branch_that_existed_before_is_never_taken_from_nor_removed() {
    let (_dir, git, copy, _) = setup("t4");
    git.run(&["branch", "-q", "users"]).unwrap();
    let before = branches(&git).unwrap();
    agent_git(&copy, &["checkout", "-q", "users"]);
    std::fs::write(copy.join("u.txt"), "u\n").unwrap();
    agent_git(&copy, &["add", "u.txt"]);
    agent_git(&copy, &["commit", "-q", "-m", "u"]);

    let err = commit_work(&git, &copy, &task_branch("t4"), &before, "T4").unwrap_err();
    assert!(
        matches!(&err, GatherError::Elsewhere(m) if m.contains("'users'") && m.contains("existed before")),
        "{err}"
    );
    assert!(git.branch_exists("users"));
    assert_eq!(
        git.rev_parse("enki/t4").unwrap(),
        git.rev_parse("main").unwrap(),
        "the task branch did not move"
    );
}
