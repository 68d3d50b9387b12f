//! Landing a task branch in one call, for tests: the merge queue uses the
//! steps in `squash.rs` separately so that a merger and the verify hook can
//! run in between.

use crate::git::{Git, GitError};
use crate::squash::{Advance, Squash, advance_branch, squash_onto};

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

/// Squashes `task_branch` onto `base_branch` without checking anything out,
/// recomputing when the base moves meanwhile.
pub fn land_squash(
    project: &Git,
    base_branch: &str,
    task_branch: &str,
    message: &str,
) -> Result<LandOutcome, GitError> {
    loop {
        let old = project.rev_parse(&format!("refs/heads/{base_branch}"))?;
        let commit = match squash_onto(project, &old, task_branch, message)? {
            Squash::Clean { commit } => commit,
            Squash::Conflict { files } => return Ok(LandOutcome::Conflict { files }),
            Squash::NothingToLand => return Ok(LandOutcome::NothingToLand),
        };
        match advance_branch(project, base_branch, &old, &commit)? {
            Advance::Moved => return Ok(LandOutcome::Landed { commit }),
            Advance::WouldOverwrite { detail } => {
                return Ok(LandOutcome::WouldOverwrite { detail });
            }
            Advance::BaseMoved => continue,
            Advance::WriteFailed { detail } => return Err(GitError::Invalid(detail)),
        }
    }
}
