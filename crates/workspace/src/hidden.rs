//! Projects that are not git repositories: enki keeps its own hidden
//! repository in `<enki dir>/git` with the project folder as its work tree.
//!
//! Every git command on it runs with `GIT_DIR`/`GIT_WORK_TREE` set (see
//! [`Git::with_git_dir`]), so nothing is written to the project folder but
//! the files that land: no `.git` file or folder ever appears there. The
//! first use records a baseline commit of every file (the enki folder is
//! excluded through the hidden repository's `info/exclude`); every later
//! use first records the folder's current state as a "user changes" commit
//! when it differs, so work lands on top of what the user has now and the
//! user's own edits are never overwritten.
//!
//! A folder that sits inside a bigger repository without being its top
//! level is treated the same way: enki lands work at the project root, and
//! moving someone else's repository (rooted above the project) is not its
//! business. See [`is_repository_root`].

use std::path::{Path, PathBuf};

use crate::git::{Git, GitError};

/// The branch enki's hidden repository works on.
pub const HIDDEN_BRANCH: &str = "main";

const BASELINE_MESSAGE: &str = "enki: baseline of the project";
const SNAPSHOT_MESSAGE: &str = "enki: user changes";

/// Where the hidden repository of a project lives.
pub fn hidden_git_dir(enki_dir: &Path) -> PathBuf {
    enki_dir.join("git")
}

/// Whether `project_root` is the top level of its own git work tree (a
/// repository, a linked worktree or a submodule rooted exactly there). A
/// folder outside any repository, or inside a repository whose top level is
/// a parent folder, is not.
pub fn is_repository_root(project_root: &Path) -> bool {
    let git = Git::new(project_root);
    if !git.is_repository() {
        return false;
    }
    match git.run(&["rev-parse", "--show-toplevel"]) {
        Ok(top) => same_path(Path::new(&top), project_root),
        Err(_) => false,
    }
}

fn same_path(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

fn absolute(path: &Path) -> Result<PathBuf, GitError> {
    std::path::absolute(path).map_err(|e| GitError::io(format!("resolving {}", path.display()), e))
}

/// Opens (creating on first use) enki's hidden repository for the project
/// folder `project_root`, records the folder's current state when it
/// differs from the last commit, and returns the repository, checked out on
/// [`HIDDEN_BRANCH`] with the project folder as its work tree.
pub fn hidden_repository(project_root: &Path, enki_dir: &Path) -> Result<Git, GitError> {
    let project_root = absolute(project_root)?;
    let enki_dir = absolute(enki_dir)?;
    if !project_root.is_dir() {
        return Err(GitError::Invalid(format!(
            "the project folder {} does not exist or is not a folder",
            project_root.display()
        )));
    }
    let git_dir = hidden_git_dir(&enki_dir);
    let context = |e: GitError| {
        GitError::Invalid(format!(
            "enki's hidden repository {} for {}: {e}",
            git_dir.display(),
            project_root.display()
        ))
    };
    std::fs::create_dir_all(&git_dir)
        .map_err(|e| GitError::io(format!("creating {}", git_dir.display()), e))?;
    let git = Git::with_git_dir(&project_root, &git_dir);
    if !git_dir.join("HEAD").is_file() {
        initialise(&git).map_err(context)?;
    }
    exclude_enki_dir(&git_dir, &project_root, &enki_dir)?;
    snapshot_user_changes(&git).map_err(context)?;
    Ok(git)
}

/// `git init` on `main`. git records the work tree as `core.worktree`; it
/// is removed again because every command passes `GIT_WORK_TREE`, and a
/// stored absolute path would go stale if the project folder moved.
fn initialise(git: &Git) -> Result<(), GitError> {
    git.run(&["init", "--quiet", "--initial-branch", HIDDEN_BRANCH])?;
    // Exit code 5: the key was not set; anything else is a real failure.
    let unset = git.output(&["config", "--unset", "core.worktree"])?;
    if !unset.status.success() && unset.status.code() != Some(5) {
        return Err(GitError::Failed {
            args: "config --unset core.worktree".into(),
            dir: git.dir().to_path_buf(),
            stderr: String::from_utf8_lossy(&unset.stderr).trim().to_string(),
        });
    }
    Ok(())
}

/// Keeps the enki folder (and `/.enki/` in any case) out of the hidden
/// repository through its `info/exclude`, which is never part of the
/// project. Adds only the lines that are missing.
fn exclude_enki_dir(git_dir: &Path, project_root: &Path, enki_dir: &Path) -> Result<(), GitError> {
    let mut wanted = vec!["/.enki/".to_string()];
    let root = project_root
        .canonicalize()
        .unwrap_or_else(|_| project_root.to_path_buf());
    let dir = enki_dir
        .canonicalize()
        .unwrap_or_else(|_| enki_dir.to_path_buf());
    if let Ok(relative) = dir.strip_prefix(&root)
        && !relative.as_os_str().is_empty()
    {
        let line = format!("/{}/", relative.to_string_lossy());
        if !wanted.contains(&line) {
            wanted.push(line);
        }
    }
    let file = git_dir.join("info").join("exclude");
    let existing = match std::fs::read_to_string(&file) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(GitError::io(format!("reading {}", file.display()), e)),
    };
    let missing: Vec<&String> = wanted
        .iter()
        .filter(|line| !existing.lines().any(|l| l.trim() == line.as_str()))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let mut text = existing;
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str("# enki's own folder\n");
    for line in missing {
        text.push_str(line);
        text.push('\n');
    }
    if let Some(parent) = file.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| GitError::io(format!("creating {}", parent.display()), e))?;
    }
    std::fs::write(&file, text).map_err(|e| GitError::io(format!("writing {}", file.display()), e))
}

/// Records the work tree's current state (new, changed and deleted files;
/// ignored ones stay out) as a commit on the checked-out branch when it
/// differs from `HEAD`: the first commit is the baseline, later ones are
/// "user changes". Returns the new commit, or `None` when nothing changed.
/// Meant for enki's hidden repository, whose index only enki uses.
pub fn snapshot_user_changes(git: &Git) -> Result<Option<String>, GitError> {
    let has_head = git.rev_parse("HEAD").is_ok();
    git.run(&["add", "--all"])?;
    if has_head {
        let staged = git.output(&["diff", "--cached", "--quiet", "HEAD"])?;
        if staged.status.success() {
            return Ok(None);
        }
        git.run(&["commit", "--quiet", "--no-verify", "-m", SNAPSHOT_MESSAGE])?;
    } else {
        // An empty folder still gets a baseline, so the branch exists.
        git.run(&[
            "commit",
            "--quiet",
            "--no-verify",
            "--allow-empty",
            "-m",
            BASELINE_MESSAGE,
        ])?;
    }
    git.rev_parse("HEAD").map(Some)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::land::{LandOutcome, land_squash};
    use crate::{CopyRequest, commit_all, create_copy, remove_copy};

    /// A plain folder with two files and an `.enki/` folder.
    fn folder() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        std::fs::write(root.join("a.txt"), "one\n").unwrap();
        std::fs::create_dir_all(root.join("src")).unwrap();
        std::fs::write(root.join("src/lib.rs"), "// lib\n").unwrap();
        std::fs::create_dir_all(root.join(".enki/copies")).unwrap();
        std::fs::write(root.join(".enki/enki.db"), "not project content").unwrap();
        (dir, root)
    }

    fn commits(git: &Git) -> usize {
        git.run(&["rev-list", "--count", "HEAD"])
            .unwrap()
            .parse()
            .unwrap()
    }

    fn no_repository_in(root: &Path) {
        assert!(!root.join(".git").exists(), "a .git appeared in {root:?}");
    }

    #[test]
    fn the_first_use_records_a_baseline_and_excludes_the_enki_folder() {
        let (_dir, root) = folder();
        let git = hidden_repository(&root, &root.join(".enki")).unwrap();
        assert_eq!(git.git_dir(), Some(root.join(".enki/git").as_path()));
        assert_eq!(git.current_branch().unwrap().as_deref(), Some("main"));
        assert_eq!(commits(&git), 1);
        let files = git.run(&["ls-tree", "-r", "--name-only", "HEAD"]).unwrap();
        assert_eq!(files.lines().collect::<Vec<_>>(), ["a.txt", "src/lib.rs"]);
        let exclude = std::fs::read_to_string(root.join(".enki/git/info/exclude")).unwrap();
        assert!(exclude.lines().any(|l| l == "/.enki/"), "{exclude}");
        assert!(!git.is_dirty().unwrap());
        // The work tree is not recorded in the repository's configuration.
        assert!(
            git.output(&["config", "core.worktree"])
                .unwrap()
                .stdout
                .is_empty()
        );
        no_repository_in(&root);
        assert!(!is_repository_root(&root));
    }

    #[test]
    fn a_second_use_with_nothing_changed_adds_nothing() {
        let (_dir, root) = folder();
        let first = hidden_repository(&root, &root.join(".enki")).unwrap();
        let head = first.rev_parse("HEAD").unwrap();
        let exclude = std::fs::read_to_string(root.join(".enki/git/info/exclude")).unwrap();
        let again = hidden_repository(&root, &root.join(".enki")).unwrap();
        assert_eq!(again.rev_parse("HEAD").unwrap(), head);
        assert_eq!(
            std::fs::read_to_string(root.join(".enki/git/info/exclude")).unwrap(),
            exclude
        );
        assert_eq!(snapshot_user_changes(&again).unwrap(), None);
        no_repository_in(&root);
    }

    #[test]
    fn user_edits_are_recorded_on_top() {
        let (_dir, root) = folder();
        let git = hidden_repository(&root, &root.join(".enki")).unwrap();
        let baseline = git.rev_parse("HEAD").unwrap();
        std::fs::write(root.join("a.txt"), "one\nthe user's edit\n").unwrap();
        std::fs::write(root.join("new.txt"), "new\n").unwrap();
        std::fs::remove_file(root.join("src/lib.rs")).unwrap();
        let git = hidden_repository(&root, &root.join(".enki")).unwrap();
        assert_eq!(commits(&git), 2);
        assert_eq!(git.run(&["rev-parse", "HEAD^"]).unwrap(), baseline);
        assert_eq!(
            git.run(&["log", "-1", "--format=%s"]).unwrap(),
            SNAPSHOT_MESSAGE
        );
        assert_eq!(
            git.run(&["show", "HEAD:a.txt"]).unwrap(),
            "one\nthe user's edit"
        );
        let files = git.run(&["ls-tree", "-r", "--name-only", "HEAD"]).unwrap();
        assert_eq!(files.lines().collect::<Vec<_>>(), ["a.txt", "new.txt"]);
        // The folder itself is as the user left it.
        assert_eq!(
            std::fs::read_to_string(root.join("a.txt")).unwrap(),
            "one\nthe user's edit\n"
        );
        no_repository_in(&root);
    }

    #[test]
    fn an_empty_folder_gets_an_empty_baseline() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let enki = root.join(".enki");
        let git = hidden_repository(&root, &enki).unwrap();
        assert_eq!(commits(&git), 1);
        assert!(git.run(&["ls-tree", "HEAD"]).unwrap().is_empty());
        no_repository_in(&root);
    }

    #[test]
    fn a_missing_project_folder_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nowhere");
        let error = hidden_repository(&missing, &dir.path().join(".enki"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("nowhere"), "{error}");
    }

    #[test]
    fn a_folder_inside_a_bigger_repository_is_not_its_root() {
        let dir = tempfile::tempdir().unwrap();
        let outer = dir.path().canonicalize().unwrap();
        Git::new(&outer).run(&["init", "-q", "-b", "main"]).unwrap();
        let inner = outer.join("sub");
        std::fs::create_dir_all(&inner).unwrap();
        assert!(is_repository_root(&outer));
        assert!(!is_repository_root(&inner));
        std::fs::write(inner.join("x.txt"), "x\n").unwrap();
        let git = hidden_repository(&inner, &inner.join(".enki")).unwrap();
        let files = git.run(&["ls-tree", "-r", "--name-only", "HEAD"]).unwrap();
        assert_eq!(files, "x.txt");
        no_repository_in(&inner);
        // The outer repository gained no commit.
        assert!(Git::new(&outer).rev_parse("HEAD").is_err());
    }

    #[test]
    fn worker_copies_work_and_land_back_into_the_folder() {
        let (_dir, root) = folder();
        let git = hidden_repository(&root, &root.join(".enki")).unwrap();
        let copies = root.join(".enki/copies");
        let copy = create_copy(&CopyRequest {
            project: &git,
            copies_dir: &copies,
            task_id: "t-1",
            base: HIDDEN_BRANCH,
            ignored: crate::Ignored::All,
            pool: None,
        })
        .unwrap();
        assert_eq!(
            std::fs::read_to_string(copy.path.join("a.txt")).unwrap(),
            "one\n"
        );
        assert!(!copy.path.join(".enki").exists());
        // Worktree administration was serialised in the hidden repository.
        assert!(root.join(".enki/git/enki-admin.lock").is_file());
        assert_eq!(
            Git::new(&copy.path).current_branch().unwrap().as_deref(),
            Some("enki/t-1")
        );
        std::fs::write(copy.path.join("b.txt"), "from the worker\n").unwrap();
        assert!(
            commit_all(&git, &copy.path, "Add b (t-1)")
                .unwrap()
                .is_some()
        );
        // A user edit elsewhere survives the landing.
        std::fs::write(root.join("src/lib.rs"), "// the user's edit\n").unwrap();

        let outcome = land_squash(&git, HIDDEN_BRANCH, &copy.branch, "Add b (t-1)").unwrap();
        assert!(matches!(outcome, LandOutcome::Landed { .. }), "{outcome:?}");
        assert_eq!(
            std::fs::read_to_string(root.join("b.txt")).unwrap(),
            "from the worker\n"
        );
        assert_eq!(
            std::fs::read_to_string(root.join("src/lib.rs")).unwrap(),
            "// the user's edit\n"
        );
        remove_copy(&git, &copy.path, Some(&copy.branch)).unwrap();
        assert!(!copy.path.exists());
        assert!(!git.branch_exists(&copy.branch));
        no_repository_in(&root);

        // The next use records the user's edit on top of the landed work.
        let git = hidden_repository(&root, &root.join(".enki")).unwrap();
        assert_eq!(commits(&git), 3);
        assert_eq!(git.run(&["show", "HEAD:b.txt"]).unwrap(), "from the worker");
        assert!(!git.is_dirty().unwrap());
    }
}
