//! Many workers creating and removing copies and scratch worktrees in one
//! repository at once: git's worktree administration is not safe for that
//! on its own (see `contention.rs`); enki's per-repository lock and retries
//! make every operation succeed.

// Helpers outside `#[test]` functions unwrap too: a failure is the test's.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Barrier, Mutex};

use enki_workspace::{
    CopyRequest, Git, GitError, Ignored, commit_all, create_copy, remove_copy, scratch_worktree,
};

const THREADS: usize = 16;
const ROUNDS: usize = 20;

fn repo() -> (tempfile::TempDir, Git) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    let git = Git::new(&root);
    git.run(&["init", "-q", "-b", "main"]).unwrap();
    git.run(&["config", "user.name", "t"]).unwrap();
    git.run(&["config", "user.email", "t@t"]).unwrap();
    std::fs::write(root.join("a.txt"), "one\n").unwrap();
    std::fs::write(root.join(".gitignore"), "target/\n/.enki/\n").unwrap();
    std::fs::create_dir_all(root.join("target")).unwrap();
    std::fs::write(root.join("target/out.bin"), "built").unwrap();
    git.run(&["add", "."]).unwrap();
    git.run(&["commit", "-q", "-m", "initial"]).unwrap();
    (dir, git)
}

/// One round of one worker: a copy with a commit on its branch, a scratch
/// worktree made twice (the second time reusing the first), both removed.
fn round(git: &Git, root: &Path, worker: usize, round: usize) -> Result<(), GitError> {
    let task = format!("t{worker}-{round}");
    let copy = create_copy(&CopyRequest {
        project: git,
        copies_dir: &root.join(".enki/copies"),
        task_id: &task,
        base: "main",
        ignored: Ignored::All,
        pool: None,
    })?;
    std::fs::write(copy.path.join(format!("{task}.txt")), "work\n")
        .map_err(|e| GitError::Invalid(e.to_string()))?;
    commit_all(git, &copy.path, &task)?;
    let scratch: PathBuf = root.join(".enki/merges").join(&task);
    let tip = git.rev_parse("main")?;
    scratch_worktree(git, &scratch, &tip, true)?;
    scratch_worktree(git, &scratch, &tip, true)?;
    remove_copy(git, &scratch, None)?;
    remove_copy(git, &copy.path, Some(&copy.branch))
}

#[test]
fn sixteen_workers_create_and_remove_copies_without_a_single_failure() {
    let (_dir, git) = repo();
    let root = git.dir().to_path_buf();
    let start = Arc::new(Barrier::new(THREADS));
    let failures = Arc::new(Mutex::new(Vec::new()));
    let workers: Vec<_> = (0..THREADS)
        .map(|worker| {
            // Each worker has its own `Git`, as the coordinator's tasks do.
            let (git, root) = (Git::new(&root), root.clone());
            let (start, failures) = (start.clone(), failures.clone());
            std::thread::spawn(move || {
                start.wait();
                for n in 0..ROUNDS {
                    if let Err(e) = round(&git, &root, worker, n) {
                        failures.lock().unwrap().push(format!("t{worker}-{n}: {e}"));
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    let failures = failures.lock().unwrap();
    assert!(
        failures.is_empty(),
        "{} of {} rounds failed:\n{}",
        failures.len(),
        THREADS * ROUNDS,
        failures.join("\n")
    );
    // Everything was cleaned up: no worktree, no task branch is left.
    assert_eq!(
        git.run(&["worktree", "list", "--porcelain"])
            .unwrap()
            .matches("worktree ")
            .count(),
        1
    );
    assert_eq!(git.run(&["branch", "--list", "enki/*"]).unwrap(), "");
}
