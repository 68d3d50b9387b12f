//! What a task's work changes, for a person to review before it lands: the
//! diff of its branch against its base (from where they meet, as the
//! squash would land it), or of a merger's resolution against the base tip
//! it was made on, per file with its stats and patch.

use serde::Serialize;

use crate::{Git, GitError};

/// How a file changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileChange {
    Added,
    Modified,
    Deleted,
    Renamed,
}

/// One file of a diff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileDiff {
    /// The path after the change (before it, for a deleted file).
    pub path: String,
    /// The path before a rename.
    pub old_path: Option<String>,
    pub change: FileChange,
    /// Lines added and removed; `None` for a binary file.
    pub added: Option<u64>,
    pub removed: Option<u64>,
    /// The file's part of the unified diff (from its `diff --git` line).
    pub patch: String,
}

/// A diff between two commits, file by file in git's order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diff {
    pub from: String,
    pub to: String,
    pub files: Vec<FileDiff>,
}

impl Diff {
    /// Lines added over every text file.
    pub fn added(&self) -> u64 {
        self.files.iter().filter_map(|f| f.added).sum()
    }

    /// Lines removed over every text file.
    pub fn removed(&self) -> u64 {
        self.files.iter().filter_map(|f| f.removed).sum()
    }
}

/// The diff from commit `from` to commit `to`.
pub fn diff_commits(project: &Git, from: &str, to: &str) -> Result<Diff, GitError> {
    let options = ["--no-ext-diff", "--no-textconv", "--no-color", "-M"];
    let stats = project.output(
        &[
            &["diff", "--numstat", "-z"][..],
            &options,
            &[from, to, "--"],
        ]
        .concat(),
    )?;
    if !stats.status.success() {
        return Err(GitError::Invalid(format!(
            "cannot diff {from} against {to}: {}",
            String::from_utf8_lossy(&stats.stderr).trim()
        )));
    }
    let patch = project.output(&[&["diff"][..], &options, &[from, to, "--"]].concat())?;
    let numstat = parse_numstat(&String::from_utf8_lossy(&stats.stdout));
    let patches = split_patch(&String::from_utf8_lossy(&patch.stdout));
    let files = numstat
        .into_iter()
        .enumerate()
        .map(|(i, (added, removed, old_path, path))| {
            let patch = patches.get(i).cloned().unwrap_or_default();
            let change = change_of(&patch, old_path.is_some());
            FileDiff {
                path,
                old_path,
                change,
                added,
                removed,
                patch,
            }
        })
        .collect();
    Ok(Diff {
        from: from.to_string(),
        to: to.to_string(),
        files,
    })
}

/// What `branch` changes against `base` (a branch or commit): the diff from
/// where they meet to the branch's tip, which is what landing it adds.
pub fn branch_diff(project: &Git, base: &str, branch: &str) -> Result<Diff, GitError> {
    let tip = project
        .rev_parse(&format!("refs/heads/{branch}"))
        .map_err(|_| GitError::Invalid(format!("the task branch '{branch}' does not exist")))?;
    let base_tip = project
        .rev_parse(base)
        .map_err(|_| GitError::Invalid(format!("the base '{base}' is not a commit")))?;
    let meet = project.run(&["merge-base", &base_tip, &tip])?;
    diff_commits(project, &meet, &tip)
}

/// One record of `git diff --numstat -z`: lines added and removed (`None`
/// for a binary file), the path before a rename, the path.
type Numstat = (Option<u64>, Option<u64>, Option<String>, String);

/// `git diff --numstat -z` records: `added\tremoved\tpath\0`, or for a
/// rename `added\tremoved\t\0old\0new\0`; `-` counts for a binary file.
fn parse_numstat(text: &str) -> Vec<Numstat> {
    let mut out = Vec::new();
    let mut fields = text.split('\0');
    while let Some(record) = fields.next() {
        let mut parts = record.splitn(3, '\t');
        let (Some(added), Some(removed), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let (added, removed) = (added.parse().ok(), removed.parse().ok());
        if path.is_empty() {
            let old = fields.next().unwrap_or_default().to_string();
            let new = fields.next().unwrap_or_default().to_string();
            out.push((added, removed, Some(old), new));
        } else {
            out.push((added, removed, None, path.to_string()));
        }
    }
    out
}

/// The unified diff cut into one piece per file.
fn split_patch(text: &str) -> Vec<String> {
    let mut pieces: Vec<String> = Vec::new();
    for line in text.split_inclusive('\n') {
        if line.starts_with("diff --git ") || pieces.is_empty() {
            pieces.push(String::new());
        }
        if let Some(piece) = pieces.last_mut() {
            piece.push_str(line);
        }
    }
    pieces
}

fn change_of(patch: &str, renamed: bool) -> FileChange {
    let header = patch.lines().take_while(|l| !l.starts_with("@@"));
    for line in header {
        if line.starts_with("new file mode") {
            return FileChange::Added;
        }
        if line.starts_with("deleted file mode") {
            return FileChange::Deleted;
        }
    }
    if renamed {
        FileChange::Renamed
    } else {
        FileChange::Modified
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn git(dir: &std::path::Path, args: &[&str]) -> String {
        let out = std::process::Command::new("git")
            .args(args)
            .current_dir(dir)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@x")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@x")
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    #[test]
    fn a_branch_diff_has_each_file_with_its_change_stats_and_patch() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        git(dir, &["init", "-q", "-b", "main"]);
        std::fs::write(dir.join("keep.txt"), "one\ntwo\nthree\n").unwrap();
        std::fs::write(dir.join("gone.txt"), "bye\n").unwrap();
        std::fs::write(
            dir.join("old name.txt"),
            "a long enough line to be found renamed\n",
        )
        .unwrap();
        git(dir, &["add", "-A"]);
        git(dir, &["commit", "-qm", "base"]);
        git(dir, &["checkout", "-qb", "enki/task"]);
        std::fs::write(dir.join("keep.txt"), "one\n2\nthree\nfour\n").unwrap();
        std::fs::remove_file(dir.join("gone.txt")).unwrap();
        git(dir, &["mv", "old name.txt", "new name.txt"]);
        std::fs::write(dir.join("blob.bin"), [0u8, 1, 2, 0, 255]).unwrap();
        std::fs::write(dir.join("new.txt"), "fresh\n").unwrap();
        git(dir, &["add", "-A"]);
        git(dir, &["commit", "-qm", "work"]);
        // The base moving on after the branch left does not show.
        git(dir, &["checkout", "-q", "main"]);
        std::fs::write(dir.join("other.txt"), "elsewhere\n").unwrap();
        git(dir, &["add", "-A"]);
        git(dir, &["commit", "-qm", "later"]);

        let diff = branch_diff(&Git::new(dir), "main", "enki/task").unwrap();
        let summary: Vec<_> = diff
            .files
            .iter()
            .map(|f| (f.path.as_str(), f.change, f.added, f.removed))
            .collect();
        assert_eq!(
            summary,
            [
                ("blob.bin", FileChange::Added, None, None),
                ("gone.txt", FileChange::Deleted, Some(0), Some(1)),
                ("keep.txt", FileChange::Modified, Some(2), Some(1)),
                ("new name.txt", FileChange::Renamed, Some(0), Some(0)),
                ("new.txt", FileChange::Added, Some(1), Some(0)),
            ]
        );
        assert_eq!(diff.files[3].old_path.as_deref(), Some("old name.txt"));
        assert_eq!((diff.added(), diff.removed()), (3, 2));
        let keep = &diff.files[2].patch;
        assert!(
            keep.starts_with("diff --git a/keep.txt b/keep.txt\n"),
            "{keep}"
        );
        assert!(
            keep.contains("-two\n+2\n") && keep.contains("+four\n"),
            "{keep}"
        );
        assert!(!keep.contains("gone.txt"), "{keep}");
        let err = branch_diff(&Git::new(dir), "main", "enki/none").unwrap_err();
        assert!(
            err.to_string().contains("'enki/none' does not exist"),
            "{err}"
        );
    }
}
