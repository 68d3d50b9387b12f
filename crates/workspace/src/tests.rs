//! Copies, commits and landing against real temporary git repositories.

use std::path::Path;

mod gathered;
mod planted;
mod pooled;
mod process_count;

use crate::land::{LandOutcome, land_squash};

use crate::{CopyRequest, Git, Ignored, commit_all, create_copy, remove_copy, task_branch};

pub(super) fn repo() -> (tempfile::TempDir, Git) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    let git = Git::new(&root);
    git.run(&["init", "-q", "-b", "main"]).unwrap();
    git.run(&["config", "user.name", "t"]).unwrap();
    git.run(&["config", "user.email", "t@t"]).unwrap();
    std::fs::write(root.join("a.txt"), "one\ntwo\n").unwrap();
    std::fs::write(root.join(".gitignore"), "target/\n/.enki/\n").unwrap();
    git.run(&["add", "."]).unwrap();
    git.run(&["commit", "-q", "-m", "initial"]).unwrap();
    (dir, git)
}

pub(super) fn request<'a>(project: &'a Git, copies: &'a Path, task: &'a str) -> CopyRequest<'a> {
    CopyRequest {
        project,
        copies_dir: copies,
        task_id: task,
        base: "main",
        ignored: Ignored::All,
        pool: None,
    }
}

#[test]
fn a_copy_registered_but_never_checked_out_gets_its_files_and_keeps_those_there() {
    let (_dir, git) = repo();
    let copies = git.dir().join(".enki/copies");
    let path = copies.join("task-1");
    // What a death between the registration and the checkout leaves.
    git.run(&[
        "worktree",
        "add",
        "--quiet",
        "--no-checkout",
        "-b",
        &task_branch("task-1"),
        &path.to_string_lossy(),
        "main",
    ])
    .unwrap();
    std::fs::write(path.join("a.txt"), "already here\n").unwrap();

    let copy = create_copy(&request(&git, &copies, "task-1")).unwrap();
    assert!(copy.reused);
    assert_eq!(
        std::fs::read_to_string(path.join("a.txt")).unwrap(),
        "already here\n",
        "a file already in the copy is not overwritten"
    );
    assert!(
        path.join(".gitignore").is_file(),
        "the missing files are checked out"
    );
    let status = git
        .worktree(&path)
        .unwrap()
        .run(&["status", "--porcelain"])
        .unwrap();
    assert_eq!(
        status.trim(),
        "M a.txt",
        "the index holds the branch's files"
    );
}

#[test]
fn worktrees_removed_together_each_say_how_it_went() {
    let (_dir, git) = repo();
    let copies = git.dir().join(".enki/copies");
    let first = create_copy(&request(&git, &copies, "task-1")).unwrap();
    let second = create_copy(&request(&git, &copies, "task-2")).unwrap();
    // Not a folder: removing it as one fails, and only it.
    let odd = copies.join("odd");
    std::fs::write(&odd, "a file\n").unwrap();
    let gone = copies.join("never-made");

    let results = crate::remove_worktrees(&git, &[&first.path, &odd, &second.path, &gone]).unwrap();
    assert!(results[0].is_ok() && results[2].is_ok() && results[3].is_ok());
    assert!(results[1].is_err(), "{results:?}");
    assert!(!first.path.exists() && !second.path.exists());
    assert_eq!(
        git.run(&["worktree", "list"]).unwrap().lines().count(),
        1,
        "the repository forgot both copies"
    );
}

#[test]
fn a_copy_whose_registration_is_gone_is_set_aside_and_made_again_from_its_branch() {
    let (_dir, git) = repo();
    let copies = git.dir().join(".enki/copies");
    let first = create_copy(&request(&git, &copies, "task-1")).unwrap();
    std::fs::write(first.path.join("b.txt"), "committed on the branch\n").unwrap();
    commit_all(&git, &first.path, "work").unwrap();
    std::fs::write(first.path.join("scratch.txt"), "not committed\n").unwrap();
    // The repository forgets the worktree (its admin folder is gone).
    std::fs::remove_dir_all(git.dir().join(".git/worktrees/task-1")).unwrap();

    let again = create_copy(&request(&git, &copies, "task-1")).unwrap();
    assert!(!again.reused);
    assert_eq!(
        std::fs::read_to_string(again.path.join("b.txt")).unwrap(),
        "committed on the branch\n"
    );
    let aside = copies.join("task-1.broken-1");
    assert_eq!(
        std::fs::read_to_string(aside.join("scratch.txt")).unwrap(),
        "not committed\n",
        "what was not committed is kept aside"
    );
}

#[test]
fn a_copy_has_the_base_commit_and_ignored_files_but_not_uncommitted_changes() {
    let (_dir, git) = repo();
    let root = git.dir().to_path_buf();
    std::fs::create_dir_all(root.join("target/debug")).unwrap();
    std::fs::write(root.join("target/debug/out.bin"), "built").unwrap();
    std::fs::create_dir_all(root.join(".enki/copies")).unwrap();
    std::fs::write(root.join("a.txt"), "user edit\n").unwrap();
    std::fs::write(root.join("scratch.txt"), "user's new file").unwrap();
    let copies = root.join(".enki/copies");
    let copy = create_copy(&request(&git, &copies, "task-1")).unwrap();
    assert!(!copy.reused);
    assert_eq!(copy.branch, "enki/task-1");
    assert_eq!(
        std::fs::read_to_string(copy.path.join("a.txt")).unwrap(),
        "one\ntwo\n"
    );
    assert_eq!(
        std::fs::read_to_string(copy.path.join("target/debug/out.bin")).unwrap(),
        "built"
    );
    assert!(
        !copy.path.join("scratch.txt").exists(),
        "untracked user files stay out"
    );
    assert!(!copy.path.join(".enki").exists(), ".enki/ is never copied");
    assert_eq!(
        Git::new(&copy.path).current_branch().unwrap().as_deref(),
        Some("enki/task-1")
    );
    // The user's tree is untouched.
    assert_eq!(
        std::fs::read_to_string(root.join("a.txt")).unwrap(),
        "user edit\n"
    );

    let again = create_copy(&request(&git, &copies, "task-1")).unwrap();
    assert!(again.reused);
}

#[test]
fn work_is_committed_and_landed_as_one_commit_on_the_base() {
    let (_dir, git) = repo();
    let root = git.dir().to_path_buf();
    let copies = root.join(".enki/copies");
    let copy = create_copy(&request(&git, &copies, "task-2")).unwrap();
    assert_eq!(commit_all(&git, &copy.path, "nothing").unwrap(), None);
    std::fs::write(copy.path.join("b.txt"), "new\n").unwrap();
    std::fs::remove_file(copy.path.join("a.txt")).unwrap();
    let commit = commit_all(&git, &copy.path, "Add b (task-2)").unwrap();
    assert!(commit.is_some());

    let before = git.rev_parse("main").unwrap();
    let outcome = land_squash(&git, "main", &task_branch("task-2"), "Add b (task-2)").unwrap();
    let LandOutcome::Landed { commit } = outcome else {
        panic!("expected a landing, got {outcome:?}")
    };
    assert_eq!(git.rev_parse("main").unwrap(), commit);
    assert_eq!(
        git.run(&["rev-parse", &format!("{commit}^")]).unwrap(),
        before
    );
    // The user's checkout moved forward and is clean.
    assert_eq!(
        std::fs::read_to_string(root.join("b.txt")).unwrap(),
        "new\n"
    );
    assert!(!root.join("a.txt").exists());
    assert!(!git.is_dirty().unwrap());

    assert_eq!(
        land_squash(&git, "main", &task_branch("task-2"), "again").unwrap(),
        LandOutcome::NothingToLand
    );
    remove_copy(&git, &copy.path, Some(&copy.branch)).unwrap();
    assert!(!copy.path.exists());
    assert!(!git.branch_exists("enki/task-2"));
}

#[test]
fn conflicts_and_uncommitted_user_changes_leave_everything_as_it_was() {
    let (_dir, git) = repo();
    let root = git.dir().to_path_buf();
    let copies = root.join(".enki/copies");
    let first = create_copy(&request(&git, &copies, "t-a")).unwrap();
    let second = create_copy(&request(&git, &copies, "t-b")).unwrap();
    std::fs::write(first.path.join("a.txt"), "one\nTWO from a\n").unwrap();
    std::fs::write(second.path.join("a.txt"), "one\nTWO from b\n").unwrap();
    commit_all(&git, &first.path, "a").unwrap();
    commit_all(&git, &second.path, "b").unwrap();
    assert!(matches!(
        land_squash(&git, "main", "enki/t-a", "a").unwrap(),
        LandOutcome::Landed { .. }
    ));
    let main_before = git.rev_parse("main").unwrap();
    let outcome = land_squash(&git, "main", "enki/t-b", "b").unwrap();
    assert_eq!(
        outcome,
        LandOutcome::Conflict {
            files: vec!["a.txt".into()]
        }
    );
    assert_eq!(git.rev_parse("main").unwrap(), main_before);

    // A user edit to a file the landing would change blocks it.
    let third = create_copy(&request(&git, &copies, "t-c")).unwrap();
    std::fs::write(third.path.join("a.txt"), "changed by c\n").unwrap();
    commit_all(&git, &third.path, "c").unwrap();
    std::fs::write(root.join("a.txt"), "the user's unsaved work\n").unwrap();
    let outcome = land_squash(&git, "main", "enki/t-c", "c").unwrap();
    assert!(
        matches!(outcome, LandOutcome::WouldOverwrite { .. }),
        "{outcome:?}"
    );
    assert_eq!(git.rev_parse("main").unwrap(), main_before);
    assert_eq!(
        std::fs::read_to_string(root.join("a.txt")).unwrap(),
        "the user's unsaved work\n"
    );
}

#[test]
fn landing_when_the_user_is_on_another_branch_leaves_their_checkout_alone() {
    let (_dir, git) = repo();
    let root = git.dir().to_path_buf();
    let copies = root.join(".enki/copies");
    let copy = create_copy(&request(&git, &copies, "t-d")).unwrap();
    std::fs::write(copy.path.join("d.txt"), "d\n").unwrap();
    commit_all(&git, &copy.path, "d").unwrap();
    git.run(&["checkout", "-q", "-b", "feature"]).unwrap();
    assert!(matches!(
        land_squash(&git, "main", "enki/t-d", "d").unwrap(),
        LandOutcome::Landed { .. }
    ));
    assert!(
        !root.join("d.txt").exists(),
        "the feature checkout is untouched"
    );
    assert_eq!(git.run(&["show", "main:d.txt"]).unwrap(), "d");
}

mod squash {
    use super::*;
    use crate::{
        Advance, Squash, advance_branch, branch_adds_to, commit_resolution, operation_in_progress,
        rebasing_branch, scratch_worktree, squash_onto, start_conflicted_merge, would_overwrite,
    };

    fn branch_with_file(git: &Git, copies: &Path, task: &str, file: &str) {
        let copy = create_copy(&request(git, copies, task)).unwrap();
        std::fs::write(copy.path.join(file), format!("{task}\n")).unwrap();
        commit_all(git, &copy.path, task).unwrap();
    }

    #[test]
    fn a_deleted_branch_is_a_clear_error() {
        let (_dir, git) = repo();
        let tip = git.rev_parse("main").unwrap();
        let err = squash_onto(&git, &tip, "enki/gone", "m").unwrap_err();
        assert!(err.to_string().contains("no longer exists"), "{err}");
    }

    #[test]
    fn squashes_chained_on_each_other_land_in_one_move_without_asking_git_their_ancestry() {
        let (_dir, git) = repo();
        let root = git.dir().to_path_buf();
        let copies = root.join(".enki/copies");
        branch_with_file(&git, &copies, "t1", "one.txt");
        branch_with_file(&git, &copies, "t2", "two.txt");
        let old = git.rev_parse("main").unwrap();
        let Squash::Clean { commit: first } = squash_onto(&git, &old, "enki/t1", "one").unwrap()
        else {
            panic!("expected a clean squash")
        };
        let Squash::Clean { commit: second } = squash_onto(&git, &first, "enki/t2", "two").unwrap()
        else {
            panic!("expected a clean squash")
        };
        // The git dir, asked once per repository.
        let _ = git.absolute_git_dir().unwrap();
        let start = crate::git_processes();
        assert_eq!(
            advance_branch(&git, "main", &old, &second).unwrap(),
            Advance::Moved
        );
        assert_eq!(
            crate::git_processes() - start,
            2,
            "read-tree and update-ref only"
        );
        assert!(root.join("one.txt").is_file() && root.join("two.txt").is_file());
        assert_eq!(git.rev_parse("main~1").unwrap(), first);
    }

    #[test]
    fn a_base_that_moved_is_detected_and_nothing_changes() {
        let (_dir, git) = repo();
        let root = git.dir().to_path_buf();
        let copies = root.join(".enki/copies");
        branch_with_file(&git, &copies, "t1", "one.txt");
        let old = git.rev_parse("main").unwrap();
        let Squash::Clean { commit } = squash_onto(&git, &old, "enki/t1", "one").unwrap() else {
            panic!("expected a clean squash")
        };
        // The user commits meanwhile.
        std::fs::write(root.join("user.txt"), "u\n").unwrap();
        git.run(&["add", "user.txt"]).unwrap();
        git.run(&["commit", "-q", "-m", "user"]).unwrap();
        let moved = git.rev_parse("main").unwrap();
        assert_eq!(
            advance_branch(&git, "main", &old, &commit).unwrap(),
            Advance::BaseMoved
        );
        assert_eq!(
            git.rev_parse("main").unwrap(),
            moved,
            "the user's commit is kept"
        );
        // Recomputed on the new base, it lands on top of the user's commit.
        let Squash::Clean { commit } = squash_onto(&git, &moved, "enki/t1", "one").unwrap() else {
            panic!("expected a clean squash")
        };
        assert_eq!(
            advance_branch(&git, "main", &moved, &commit).unwrap(),
            Advance::Moved
        );
        assert!(root.join("one.txt").exists() && root.join("user.txt").exists());
    }

    #[test]
    fn a_detached_head_is_left_alone_and_a_rebase_in_progress_is_reported() {
        let (_dir, git) = repo();
        let root = git.dir().to_path_buf();
        let copies = root.join(".enki/copies");
        branch_with_file(&git, &copies, "t2", "two.txt");
        let old = git.rev_parse("main").unwrap();
        git.run(&["checkout", "-q", "--detach", "HEAD"]).unwrap();
        let Squash::Clean { commit } = squash_onto(&git, &old, "enki/t2", "two").unwrap() else {
            panic!("expected a clean squash")
        };
        assert_eq!(
            advance_branch(&git, "main", &old, &commit).unwrap(),
            Advance::Moved
        );
        assert!(
            !root.join("two.txt").exists(),
            "the detached checkout is not touched"
        );
        assert_eq!(git.current_branch().unwrap(), None);

        assert_eq!(operation_in_progress(&git), None);
        let git_dir = root.join(".git");
        std::fs::create_dir_all(git_dir.join("rebase-merge")).unwrap();
        assert_eq!(
            operation_in_progress(&git).as_deref(),
            Some("a rebase is in progress in the project")
        );
    }

    fn user_commit(git: &Git, file: &str) -> String {
        std::fs::write(git.dir().join(file), format!("{file}\n")).unwrap();
        git.run(&["add", file]).unwrap();
        git.run(&["commit", "-q", "-m", file]).unwrap();
        git.rev_parse("main").unwrap()
    }

    #[test]
    fn advance_branch_refuses_a_commit_that_does_not_descend_from_the_base() {
        let (_dir, git) = repo();
        let root = git.dir().to_path_buf();
        let initial = git.rev_parse("main").unwrap();
        let old = user_commit(&git, "user.txt");
        // A commit on top of the initial commit: landing it would drop the
        // user's commit.
        let tree = git.run(&["rev-parse", "main^{tree}"]).unwrap();
        let stray = git
            .run(&["commit-tree", &tree, "-p", &initial, "-m", "stray"])
            .unwrap();
        let err = advance_branch(&git, "main", &old, &stray).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("refusing to move 'main'") && text.contains("does not descend"),
            "{text}"
        );
        assert_eq!(git.rev_parse("main").unwrap(), old, "main did not move");
        assert!(root.join("user.txt").exists());
        assert!(!git.is_dirty().unwrap());
        // The same check holds when the branch is not checked out.
        git.run(&["checkout", "-q", "--detach", "HEAD"]).unwrap();
        assert!(advance_branch(&git, "main", &old, &stray).is_err());
        assert_eq!(git.rev_parse("main").unwrap(), old);
    }

    /// A scratch worktree at main's tip with `t-x` conflicting in a.txt.
    fn conflicted_scratch(git: &Git) -> (std::path::PathBuf, String) {
        let root = git.dir().to_path_buf();
        let copies = root.join(".enki/copies");
        let copy = create_copy(&request(git, &copies, "t-x")).unwrap();
        std::fs::write(copy.path.join("a.txt"), "one\nTWO from x\n").unwrap();
        commit_all(git, &copy.path, "x").unwrap();
        std::fs::write(root.join("a.txt"), "one\nTWO on main\n").unwrap();
        git.run(&["commit", "-q", "-am", "main edit"]).unwrap();
        user_commit(git, "user.txt");
        let tip = git.rev_parse("main").unwrap();
        let scratch = root.join(".enki/merges/mr-1");
        scratch_worktree(git, &scratch, &tip, false).unwrap();
        let files = start_conflicted_merge(git, &scratch, "enki/t-x").unwrap();
        assert_eq!(files, vec!["a.txt".to_string()]);
        (scratch, tip)
    }

    fn scratch_git(scratch: &Path, args: &[&str]) {
        let mut all = vec!["-c", "user.name=m", "-c", "user.email=m@m"];
        all.extend_from_slice(args);
        Git::new(scratch).run(&all).unwrap();
    }

    #[test]
    fn a_resolution_is_one_commit_on_the_base_tip_even_when_the_merger_committed() {
        let (_dir, git) = repo();
        let (scratch, tip) = conflicted_scratch(&git);
        std::fs::write(scratch.join("a.txt"), "one\nTWO merged\n").unwrap();
        scratch_git(&scratch, &["add", "-A"]);
        scratch_git(&scratch, &["commit", "-q", "-m", "merger's own commit"]);
        std::fs::write(scratch.join("extra.txt"), "after its commit\n").unwrap();
        let commit = commit_resolution(&git, &scratch, &tip, "X (task-x)").unwrap();
        assert_eq!(
            git.run(&["rev-list", "--parents", "-n", "1", &commit])
                .unwrap(),
            format!("{commit} {tip}"),
            "one commit whose only parent is the base tip"
        );
        assert_eq!(
            git.run(&["show", &format!("{commit}:a.txt")]).unwrap(),
            "one\nTWO merged"
        );
        assert_eq!(
            git.run(&["show", &format!("{commit}:extra.txt")]).unwrap(),
            "after its commit"
        );
        assert_eq!(
            git.run(&["show", &format!("{commit}:user.txt")]).unwrap(),
            "user.txt"
        );
        assert_eq!(
            advance_branch(&git, "main", &tip, &commit).unwrap(),
            Advance::Moved
        );
        assert_eq!(
            git.run(&["log", "-1", "--format=%s", "main"]).unwrap(),
            "X (task-x)"
        );
    }

    #[test]
    fn a_merger_that_moves_head_off_the_base_is_refused() {
        let (_dir, git) = repo();
        let (scratch, tip) = conflicted_scratch(&git);
        scratch_git(&scratch, &["checkout", "-q", "-f", "--detach", "HEAD~2"]);
        let err = commit_resolution(&git, &scratch, &tip, "X").unwrap_err();
        assert!(
            err.to_string().contains("moved the merge worktree's HEAD"),
            "{err}"
        );
        assert_eq!(git.rev_parse("main").unwrap(), tip);
    }

    #[test]
    fn a_scratch_whose_folder_was_deleted_by_hand_is_made_again() {
        let (_dir, git) = repo();
        let (scratch, tip) = conflicted_scratch(&git);
        std::fs::remove_dir_all(&scratch).unwrap();
        scratch_worktree(&git, &scratch, &tip, false).unwrap();
        assert_eq!(Git::new(&scratch).rev_parse("HEAD").unwrap(), tip);
        assert!(scratch.join("a.txt").is_file());
    }

    #[test]
    fn a_reused_scratch_starts_clean_whatever_the_last_attempt_left() {
        let (_dir, git) = repo();
        let (scratch, tip) = conflicted_scratch(&git);
        // The squash merge is half done (a merge too), the merger added a
        // file and built something ignored, and a killed git left the
        // index locked.
        std::fs::write(scratch.join("untracked.txt"), "left over\n").unwrap();
        std::fs::create_dir_all(scratch.join("target")).unwrap();
        std::fs::write(scratch.join("target/stale.o"), "old build").unwrap();
        let admin_dir = |git: &Git| {
            std::path::PathBuf::from(git.run(&["rev-parse", "--absolute-git-dir"]).unwrap())
        };
        let admin = admin_dir(&Git::new(&scratch));
        assert!(admin.join("SQUASH_MSG").exists());
        let branch_tip = git.rev_parse("enki/t-x").unwrap();
        std::fs::write(admin.join("MERGE_HEAD"), format!("{branch_tip}\n")).unwrap();
        std::fs::write(admin.join("index.lock"), "").unwrap();

        scratch_worktree(&git, &scratch, &tip, false).unwrap();
        let again = Git::new(&scratch);
        assert_eq!(
            again.run(&["status", "--porcelain", "--ignored"]).unwrap(),
            ""
        );
        assert_eq!(again.rev_parse("HEAD").unwrap(), tip);
        assert_eq!(again.current_branch().unwrap(), None, "detached");
        let admin = admin_dir(&again);
        for leftover in ["MERGE_HEAD", "SQUASH_MSG", "index.lock"] {
            assert!(!admin.join(leftover).exists(), "{leftover} survived");
        }
        // The conflict reproduces as it did the first time.
        let files = start_conflicted_merge(&git, &scratch, "enki/t-x").unwrap();
        assert_eq!(files, vec!["a.txt".to_string()]);
    }

    #[test]
    fn a_branch_whose_commit_is_already_made_still_has_work_to_land() {
        let (_dir, git) = repo();
        let root = git.dir().to_path_buf();
        let copies = root.join(".enki/copies");
        let copy = create_copy(&request(&git, &copies, "t-r")).unwrap();
        assert!(!branch_adds_to(&git, "main", "enki/t-r").unwrap());
        std::fs::write(copy.path.join("r.txt"), "r\n").unwrap();
        assert!(commit_all(&git, &copy.path, "r").unwrap().is_some());
        // A retry in the same copy writes the same content: no new commit,
        // but the branch still holds work the base lacks.
        std::fs::write(copy.path.join("r.txt"), "r\n").unwrap();
        assert_eq!(commit_all(&git, &copy.path, "r").unwrap(), None);
        assert!(branch_adds_to(&git, "main", "enki/t-r").unwrap());
        assert!(matches!(
            land_squash(&git, "main", "enki/t-r", "r").unwrap(),
            LandOutcome::Landed { .. }
        ));
        assert!(!branch_adds_to(&git, "main", "enki/t-r").unwrap());
        let err = branch_adds_to(&git, "main", "enki/none").unwrap_err();
        assert!(err.to_string().contains("no longer exists"), "{err}");
    }

    #[test]
    fn an_overwrite_is_foreseen_without_touching_anything() {
        let (_dir, git) = repo();
        let root = git.dir().to_path_buf();
        let copies = root.join(".enki/copies");
        let copy = create_copy(&request(&git, &copies, "t-o")).unwrap();
        std::fs::write(copy.path.join("a.txt"), "from the task\n").unwrap();
        commit_all(&git, &copy.path, "o").unwrap();
        let old = git.rev_parse("main").unwrap();
        let Squash::Clean { commit } = squash_onto(&git, &old, "enki/t-o", "o").unwrap() else {
            panic!("expected a clean squash")
        };
        assert_eq!(would_overwrite(&git, "main", &old, &commit).unwrap(), None);
        std::fs::write(root.join("a.txt"), "unsaved\n").unwrap();
        let detail = would_overwrite(&git, "main", &old, &commit).unwrap();
        assert!(detail.is_some_and(|d| d.contains("a.txt")));
        assert_eq!(
            std::fs::read_to_string(root.join("a.txt")).unwrap(),
            "unsaved\n"
        );
        assert_eq!(git.rev_parse("main").unwrap(), old);
        // Another branch checked out: the checkout is never touched.
        git.run(&["checkout", "-q", "-b", "feature"]).unwrap();
        assert_eq!(would_overwrite(&git, "main", &old, &commit).unwrap(), None);
    }

    #[test]
    fn the_branch_being_rebased_is_read_from_the_rebase_state() {
        let (_dir, git) = repo();
        let root = git.dir().to_path_buf();
        assert_eq!(rebasing_branch(&git), None);
        std::fs::create_dir_all(root.join(".git/rebase-merge")).unwrap();
        std::fs::write(
            root.join(".git/rebase-merge/head-name"),
            "refs/heads/topic\n",
        )
        .unwrap();
        assert_eq!(rebasing_branch(&git).as_deref(), Some("topic"));
        std::fs::write(root.join(".git/rebase-merge/head-name"), "detached HEAD\n").unwrap();
        assert_eq!(rebasing_branch(&git), None);
    }
}

#[test]
fn a_lock_released_meanwhile_is_waited_for_and_one_held_to_the_end_says_what_to_do() {
    let (_dir, git) = repo();
    let lock = git.dir().join(".git/index.lock");
    std::fs::write(&lock, "").unwrap();
    let released = {
        let lock = lock.clone();
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(150));
            std::fs::remove_file(lock).unwrap();
        })
    };
    git.run(&["commit", "-q", "--allow-empty", "-m", "after the wait"])
        .unwrap();
    released.join().unwrap();

    std::fs::write(&lock, "").unwrap();
    let err = git.run(&["commit", "-q", "--allow-empty", "-m", "never"]);
    let Err(err @ crate::GitError::Busy { .. }) = err else {
        panic!("expected a busy error, got {err:?}")
    };
    let text = err.to_string();
    assert!(
        text.contains("index.lock") && text.contains("remove the file git names"),
        "{text}"
    );
    assert_eq!(
        git.run(&["log", "-1", "--format=%s"]).unwrap(),
        "after the wait"
    );
}

/// The environment variable that turns [`child_runs_a_slow_git`] into the
/// "coordinator" that [`git_finishes_its_work_when_enki_dies_mid_command`]
/// kills.
const SLOW_GIT_IN: &str = "ENKI_WORKSPACE_TEST_SLOW_GIT_IN";

#[test]
fn child_runs_a_slow_git() {
    if let Some(dir) = std::env::var_os(SLOW_GIT_IN) {
        let _ = Git::new(std::path::PathBuf::from(dir)).run(&["slow"]);
    }
}

fn wait_for(path: &Path) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::time::Instant::now() < deadline {
        if path.exists() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    false
}

#[test]
fn git_finishes_its_work_when_enki_dies_mid_command() {
    let (_dir, git) = repo();
    let root = git.dir().to_path_buf();
    // A command that writes to its stdout and stderr after enki is gone:
    // with pipes, the first write would kill it (SIGPIPE) before `finished`.
    git.run(&[
        "config",
        "alias.slow",
        "!touch started; sleep 1; echo out; echo err >&2; touch finished",
    ])
    .unwrap();
    let mut enki = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "tests::child_runs_a_slow_git",
            "--exact",
            "--test-threads=1",
        ])
        .env(SLOW_GIT_IN, &root)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    assert!(wait_for(&root.join("started")), "git never started");
    enki.kill().unwrap();
    enki.wait().unwrap();
    assert!(
        wait_for(&root.join("finished")),
        "git died with the process that ran it"
    );
}

#[test]
fn enki_refs_written_as_files_are_refs_git_reads_and_the_rest_goes_through_git() {
    use crate::files::write_new_loose_ref;
    let (_dir, git) = repo();
    let head = git.rev_parse("HEAD").unwrap();
    let common = git.common_dir().unwrap();
    assert!(write_new_loose_ref(&common, "refs/enki/landing/r-1", &head));
    assert_eq!(git.rev_parse("refs/enki/landing/r-1").unwrap(), head);
    // Never over a ref that is there, outside enki's refs, or a bad id.
    assert!(!write_new_loose_ref(
        &common,
        "refs/enki/landing/r-1",
        &head
    ));
    assert!(!write_new_loose_ref(&common, "refs/heads/other", &head));
    assert!(!write_new_loose_ref(&common, "refs/enki/../heads/x", &head));
    assert!(!write_new_loose_ref(
        &common,
        "refs/enki/landing/r-2",
        "not-an-id"
    ));
    // A lock an enki killed mid-write left is taken over.
    let lock = common.join("refs/enki/landing/r-2.lock");
    std::fs::write(&lock, "half").unwrap();
    assert!(write_new_loose_ref(&common, "refs/enki/landing/r-2", &head));
    assert!(!lock.exists());
    assert_eq!(git.rev_parse("refs/enki/landing/r-2").unwrap(), head);
    // What cannot be written as a file goes through git: r-1 moves.
    let parent = git.rev_parse("HEAD").unwrap();
    std::fs::write(git.dir().join("b.txt"), "b\n").unwrap();
    git.run(&["add", "b.txt"]).unwrap();
    git.run(&["commit", "-q", "-m", "b"]).unwrap();
    let tip = git.rev_parse("HEAD").unwrap();
    assert_ne!(tip, parent);
    git.create_own_refs(&[
        ("refs/enki/landing/r-1".to_string(), tip.clone()),
        ("refs/enki/landing/r-3".to_string(), tip.clone()),
    ])
    .unwrap();
    assert_eq!(git.rev_parse("refs/enki/landing/r-1").unwrap(), tip);
    assert_eq!(git.rev_parse("refs/enki/landing/r-3").unwrap(), tip);
    git.delete_refs(&[
        "refs/enki/landing/r-1".to_string(),
        "refs/enki/landing/r-2".to_string(),
        "refs/enki/landing/r-3".to_string(),
    ])
    .unwrap();
    assert!(
        git.run(&["for-each-ref", "refs/enki"])
            .unwrap()
            .trim()
            .is_empty()
    );
}
