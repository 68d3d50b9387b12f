//! Which of the project's ignored files a new copy gets. Where the file
//! system clones files (reflinks) they all do: a clone shares blocks and
//! costs no space. Elsewhere each copy would duplicate every build output
//! (hundreds of MB per worker), so only the files the project lists do:
//! Claude Code's `.worktreeinclude` convention (`.gitignore` syntax) and
//! `[workers] include`. A listed file is copied only when git ignores it,
//! so nothing tracked is ever duplicated; `.enki/` never is.

use std::fs::File;
use std::path::Path;

use crate::git::{Git, GitError};

/// The project's file of patterns (`.gitignore` syntax) naming the ignored
/// files each copy gets, as Claude Code, Codex and others read it.
pub const WORKTREE_INCLUDE: &str = ".worktreeinclude";

/// Which ignored files a new copy gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ignored<'a> {
    /// None of them.
    Nothing,
    /// Every ignored file and folder (build outputs too).
    All,
    /// Those matching `.worktreeinclude` or these patterns.
    Listed(&'a [String]),
}

/// Whether the file system of `dir` clones files (`FICLONE`: btrfs, XFS,
/// bcachefs, ...), tried on two scratch files in `dir`.
pub fn clones_files(dir: &Path) -> bool {
    let Ok(scratch) = tempfile::Builder::new()
        .prefix(".enki-clone-probe")
        .tempdir_in(dir)
    else {
        return false;
    };
    let source = scratch.path().join("source");
    let target = scratch.path().join("target");
    let cloned = std::fs::write(&source, b"enki clone probe")
        .and_then(|()| Ok((File::open(&source)?, File::create(&target)?)))
        .map(|(from, to)| rustix::fs::ioctl_ficlone(&to, &from).is_ok());
    cloned.unwrap_or(false)
}

/// Copies the ignored files of `root` (the project's work tree, read
/// through `project`) that `.worktreeinclude` or `patterns` list into
/// `copy`, at the same paths. Returns how many files were copied.
///
/// Two git listings, with git's own pattern rules: the untracked files
/// the patterns match, and what `.gitignore` and the other standard rules
/// ignore (folders collapsed); a file is copied when both hold for it.
pub(crate) fn copy_listed(
    project: &Git,
    root: &Path,
    copy: &Path,
    patterns: &[String],
) -> Result<u64, GitError> {
    let include_file = root.join(WORKTREE_INCLUDE);
    let from_file = include_file
        .is_file()
        .then(|| format!("--exclude-from={}", include_file.display()));
    if from_file.is_none() && patterns.is_empty() {
        return Ok(0);
    }
    let mut args = vec![
        "ls-files".to_string(),
        "--others".into(),
        "--ignored".into(),
        "-z".into(),
    ];
    args.extend(from_file);
    args.extend(patterns.iter().map(|p| format!("--exclude={p}")));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let listed = project.run(&args)?;
    let ignored = project.run(&[
        "ls-files",
        "--others",
        "--ignored",
        "--exclude-standard",
        "--directory",
        "-z",
    ])?;
    let ignored: Vec<&str> = ignored.split('\0').filter(|e| !e.is_empty()).collect();
    let mut copied = 0;
    for relative in listed.split('\0').filter(|e| !e.is_empty()) {
        if relative == ".enki" || relative.starts_with(".enki/") || !is_ignored(relative, &ignored)
        {
            continue;
        }
        if copy_one(&root.join(relative), &copy.join(relative))? {
            copied += 1;
        }
    }
    Ok(copied)
}

/// Whether `relative` is one of `ignored` (git's collapsed listing: a
/// folder ends in `/` and stands for everything in it).
fn is_ignored(relative: &str, ignored: &[&str]) -> bool {
    ignored.iter().any(|entry| match entry.strip_suffix('/') {
        Some(folder) => relative
            .strip_prefix(folder)
            .is_some_and(|rest| rest.starts_with('/')),
        None => *entry == relative,
    })
}

/// Copies one regular file (a symlink as a symlink, never followed);
/// false for anything else.
fn copy_one(source: &Path, target: &Path) -> Result<bool, GitError> {
    let kind = std::fs::symlink_metadata(source)
        .map_err(|e| GitError::io(format!("inspecting {}", source.display()), e))?
        .file_type();
    if !kind.is_file() && !kind.is_symlink() {
        return Ok(false);
    }
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| GitError::io(format!("creating {}", parent.display()), e))?;
    }
    if kind.is_symlink() {
        let link = std::fs::read_link(source)
            .map_err(|e| GitError::io(format!("reading link {}", source.display()), e))?;
        let _ = std::fs::remove_file(target);
        std::os::unix::fs::symlink(&link, target)
            .map_err(|e| GitError::io(format!("creating link {}", target.display()), e))?;
    } else {
        std::fs::copy(source, target).map_err(|e| {
            GitError::io(
                format!("copying {} to {}", source.display(), target.display()),
                e,
            )
        })?;
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_ignored_when_listed_or_inside_a_listed_folder() {
        let ignored = ["target/", ".env", "node_modules/pkg/"];
        assert!(is_ignored(".env", &ignored));
        assert!(is_ignored("target/debug/app", &ignored));
        assert!(is_ignored("node_modules/pkg/index.js", &ignored));
        assert!(!is_ignored("node_modules/other.js", &ignored));
        assert!(!is_ignored("targets/x", &ignored));
        assert!(!is_ignored(".env.example", &ignored));
    }

    #[test]
    fn the_clone_probe_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        // Whatever this file system does, the answer is a plain yes or no.
        let _ = clones_files(dir.path());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        assert!(!clones_files(&dir.path().join("missing")));
    }

    #[test]
    fn only_listed_files_that_git_ignores_are_copied() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("project");
        std::fs::create_dir_all(root.join("target")).unwrap();
        let git = Git::new(&root);
        git.run(&["init", "-q", "-b", "main"]).unwrap();
        std::fs::write(root.join(".gitignore"), ".env\ntarget/\n*.local\n").unwrap();
        std::fs::write(root.join(WORKTREE_INCLUDE), ".env\nnotes.txt\n").unwrap();
        std::fs::write(root.join("notes.txt"), "tracked\n").unwrap();
        std::fs::write(root.join(".env"), "K=1\n").unwrap();
        std::fs::write(root.join("a.local"), "local\n").unwrap();
        std::fs::write(root.join("target/big.bin"), "big\n").unwrap();
        std::os::unix::fs::symlink("/etc/hostname", root.join("link.local")).unwrap();
        let copy = dir.path().join("copy");
        std::fs::create_dir_all(&copy).unwrap();
        let copied = copy_listed(&git, &root, &copy, &["*.local".to_string()]).unwrap();
        assert_eq!(copied, 3, ".env, a.local and the link");
        assert_eq!(std::fs::read_to_string(copy.join(".env")).unwrap(), "K=1\n");
        assert!(copy.join("a.local").is_file());
        // A link stays a link, never followed.
        assert_eq!(
            std::fs::read_link(copy.join("link.local")).unwrap(),
            Path::new("/etc/hostname")
        );
        // Not ignored (a file of the project): never copied by this.
        assert!(!copy.join("notes.txt").exists());
        assert!(!copy.join("target").exists());
    }
}
