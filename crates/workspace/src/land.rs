//! Landing a task branch on the base branch as one squash commit.

use crate::git::{Git, GitError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LandOutcome {
    /// The base branch now points to this new commit.
    Landed { commit: String },
    /// The branch adds nothing to the base.
    NothingToLand,
    /// The branch conflicts with the base in these files; nothing changed.
    Conflict { files: Vec<String> },
    /// The user's uncommitted changes would be overwritten; nothing changed.
    WouldOverwrite { detail: String },
}

/// Squashes `task_branch` onto `base_branch` without checking anything out:
/// `git merge-tree` computes the tree, `git commit-tree` makes one commit on
/// top of the base, and the branch ref moves with a compare-and-swap. When
/// the user has `base_branch` checked out, their index and working tree are
/// moved forward first with a two-tree `read-tree`, which refuses to touch
/// files they changed.
pub fn land_squash(
    project: &Git,
    base_branch: &str,
    task_branch: &str,
    message: &str,
) -> Result<LandOutcome, GitError> {
    let old = project.rev_parse(&format!("refs/heads/{base_branch}"))?;
    let branch_tip = project.rev_parse(&format!("refs/heads/{task_branch}"))?;
    let merge = project.output(&[
        "merge-tree",
        "--write-tree",
        "--name-only",
        "--no-messages",
        &old,
        &branch_tip,
    ])?;
    let text = String::from_utf8_lossy(&merge.stdout).to_string();
    let mut lines = text.lines();
    let tree = lines.next().unwrap_or_default().trim().to_string();
    match merge.status.code() {
        Some(0) => {}
        Some(1) => {
            let mut files: Vec<String> = lines
                .map(str::to_string)
                .filter(|l| !l.is_empty())
                .collect();
            files.dedup();
            return Ok(LandOutcome::Conflict { files });
        }
        _ => {
            return Err(GitError::Failed {
                args: "merge-tree".into(),
                dir: project.dir().to_path_buf(),
                stderr: String::from_utf8_lossy(&merge.stderr).trim().to_string(),
            });
        }
    }
    let old_tree = project.run(&["rev-parse", &format!("{old}^{{tree}}")])?;
    if tree == old_tree {
        return Ok(LandOutcome::NothingToLand);
    }
    let new = project.run(&["commit-tree", &tree, "-p", &old, "-m", message])?;
    if project.current_branch()?.as_deref() == Some(base_branch) {
        let update = project.output(&["read-tree", "-m", "-u", &old, &new])?;
        if !update.status.success() {
            return Ok(LandOutcome::WouldOverwrite {
                detail: String::from_utf8_lossy(&update.stderr).trim().to_string(),
            });
        }
    }
    project.run(&[
        "update-ref",
        "-m",
        "enki: land task",
        &format!("refs/heads/{base_branch}"),
        &new,
        &old,
    ])?;
    Ok(LandOutcome::Landed { commit: new })
}
