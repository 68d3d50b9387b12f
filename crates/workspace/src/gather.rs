//! Bringing a worker's work onto its task branch before it is committed:
//! an agent that may run git in its copy (only with `[sandbox] mode =
//! "off"`; the sandbox keeps git's metadata read-only) can leave its HEAD on
//! a branch of its own or detached, and its commits there. That work is
//! found and moved onto the task branch, and every branch the worker made is
//! removed once the task branch holds its commits; work that cannot be moved
//! is an error naming where it is, and nothing is taken from (or removed
//! of) a branch that existed before the attempt began.
//!
//! Where HEAD went is read from the copy's own HEAD reflog, in the
//! administrative folder the repository records for the copy (never through
//! the copy's `.git`, see `hardened`).

use std::collections::BTreeMap;
use std::path::Path;

use crate::files::head_reflog_messages;
use crate::git::{Git, GitError};
use crate::squash::is_ancestor;
use crate::worktree::commit_all;

/// The repository's branches (name without `refs/heads/`) and their tips.
pub type Branches = BTreeMap<String, String>;

/// Why a worker's work was not committed on its task branch.
#[derive(Debug, thiserror::Error)]
pub enum GatherError {
    #[error(transparent)]
    Git(#[from] GitError),
    /// The work is somewhere enki will not take it from; says where.
    #[error("{0}")]
    Elsewhere(String),
}

/// What [`commit_work`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Gathered {
    /// The commit of the worker's uncommitted changes, if there were any.
    pub commit: Option<String>,
    /// Where the work was found when HEAD was not on the task branch
    /// (`the branch 'x'`, `a detached HEAD at 1234567890`).
    pub moved_from: Option<String>,
    /// Branches the worker made, removed once the task branch held them.
    pub removed: Vec<String>,
}

/// Every branch of `project` with its tip.
pub fn branches(project: &Git) -> Result<Branches, GitError> {
    let listing = project.run(&[
        "for-each-ref",
        "--format=%(refname) %(objectname)",
        "refs/heads/",
    ])?;
    Ok(listing
        .lines()
        .filter_map(|line| {
            let (name, tip) = line.rsplit_once(' ')?;
            Some((
                name.strip_prefix("refs/heads/")?.to_string(),
                tip.to_string(),
            ))
        })
        .collect())
}

/// Commits everything in the copy on `task_branch` (as [`commit_all`]),
/// first moving the task branch to the work when the worker left HEAD on a
/// branch it made or detached on top of it; then removes the branches it
/// made whose commits the task branch holds. `before` is [`branches`] as
/// the attempt began.
pub fn commit_work(
    project: &Git,
    copy: &Path,
    task_branch: &str,
    before: &Branches,
    message: &str,
) -> Result<Gathered, GatherError> {
    let git = project.worktree(copy)?;
    let task_ref = format!("refs/heads/{task_branch}");
    let visited = visited_branches(&git, task_branch);
    let mut gathered = Gathered::default();
    let head = git.current_branch()?;
    if head.as_deref() != Some(task_branch) {
        let work = git.rev_parse("HEAD")?;
        let tip = project.rev_parse(&task_ref)?;
        let place = match &head {
            Some(branch) => format!("the branch '{branch}'"),
            None => format!("a detached HEAD at {}", short(&work)),
        };
        if let Some(branch) = &head
            && let Some(start) = before.get(branch)
            && (start != &work || work != tip)
        {
            return Err(GatherError::Elsewhere(format!(
                "the worker left its copy on {place}, which existed before it started{}; enki takes work only from branches its workers make, so nothing landed: look at '{branch}', then retry the task",
                if start != &work {
                    format!(", and committed on it (it was at {})", short(start))
                } else {
                    String::new()
                }
            )));
        }
        if !is_ancestor(project, &tip, &work)? {
            return Err(GatherError::Elsewhere(format!(
                "the worker's work is on {place}, which does not start from its task branch '{task_branch}', so enki cannot land it and nothing landed: move the commits onto '{task_branch}' (in {}), then retry the task",
                copy.display()
            )));
        }
        // The task branch moves to the work and HEAD goes back to it: the
        // same commit, so the index and the working tree stay as they are.
        project.run(&[
            "update-ref",
            "-m",
            "enki: the worker's work, found away from its task branch",
            &task_ref,
            &work,
            &tip,
        ])?;
        git.run(&["symbolic-ref", "HEAD", &task_ref])?;
        gathered.moved_from = Some(place);
    }
    gathered.commit = commit_all(project, copy, message)?;
    if visited.is_empty() {
        return Ok(gathered);
    }
    let tip = project.rev_parse(&task_ref)?;
    let now = branches(project)?;
    for branch in visited {
        let Some(branch_tip) = now.get(&branch) else {
            continue;
        };
        match before.get(&branch) {
            // Not the worker's: left alone, unless it committed on it.
            Some(start) if start == branch_tip => continue,
            Some(start) => {
                return Err(GatherError::Elsewhere(format!(
                    "the worker committed on the branch '{branch}' (from {} to {}), which existed before it started; enki takes work only from branches its workers make, so nothing landed: look at '{branch}', then retry the task",
                    short(start),
                    short(branch_tip)
                )));
            }
            None if is_ancestor(project, branch_tip, &tip)? => {
                project.run(&["branch", "--quiet", "-D", &branch])?;
                gathered.removed.push(branch);
            }
            None => {
                return Err(GatherError::Elsewhere(format!(
                    "the worker left commits on the branch '{branch}' that its task branch '{task_branch}' does not hold, so nothing landed; '{branch}' is kept: move its commits onto '{task_branch}' or delete it, then retry the task"
                )));
            }
        }
    }
    Ok(gathered)
}

/// The branches the copy's HEAD was on at some point, from its reflog
/// (`checkout: moving from A to B`), `task_branch` aside. A copy without a
/// reflog has visited nothing.
fn visited_branches(git: &Git, task_branch: &str) -> Vec<String> {
    // Read from the reflog's file when git keeps one, else asked of git.
    let messages = git
        .files_common_dir()
        .and(git.git_dir())
        .and_then(head_reflog_messages);
    let messages = match messages {
        Some(messages) => messages,
        None => match git.output(&["reflog", "show", "--format=%gs", "HEAD", "--"]) {
            Ok(output) => String::from_utf8_lossy(&output.stdout)
                .lines()
                .map(str::to_string)
                .collect(),
            Err(_) => return Vec::new(),
        },
    };
    let mut visited: Vec<String> = messages
        .iter()
        .filter_map(|line| line.strip_prefix("checkout: moving from "))
        .filter_map(|moves| moves.split_once(" to "))
        .flat_map(|(from, to)| [from.to_string(), to.to_string()])
        .filter(|branch| branch != task_branch)
        .collect();
    visited.sort();
    visited.dedup();
    visited
}

fn short(commit: &str) -> &str {
    commit.get(..10).unwrap_or(commit)
}
