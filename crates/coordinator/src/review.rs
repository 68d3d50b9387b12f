//! Review before landing, the coordinator's side: whose work waits for a
//! person (`[merge] review`, a role's `review`), and what a person reviews
//! (`enki review`, the TUI): the task, its `[OUTPUT]`, and the diff of its
//! branch against the branch it lands on, per file with stats; or, when a
//! merger's resolution of its conflict waits (`merge::gate`), the
//! resolution's diff against the base tip it was made on.

use enki_core::ReviewMode;
use enki_project::Layout;
use enki_store::{Store, TaskRow};
use enki_workspace::{Diff, Git, branch_diff, diff_commits};
use serde::Serialize;

use crate::context::Context;

/// Whether work of a task of `role` waits for a review before it lands.
pub fn review_mode(ctx: &Context, role: Option<&str>) -> ReviewMode {
    let of_role = role.and_then(|r| ctx.roles.get(r)).and_then(|r| r.review);
    ReviewMode::for_task(of_role, ctx.config.merge.review)
}

/// What a person reviews for one task.
#[derive(Debug, Clone, Serialize)]
pub struct Review {
    pub task: TaskRow,
    /// The branch its work lands on.
    pub base_branch: String,
    /// The task's branch.
    pub branch: String,
    /// The task's `[OUTPUT]`: what its agent said it did.
    pub output: Option<String>,
    /// What landing it adds to the base branch.
    pub diff: Diff,
    /// When what waits is the merger's resolution of a conflict: `diff` is
    /// the resolution against the base tip it was made on.
    pub resolution: Option<Resolution>,
}

/// A merger's resolution held for review.
#[derive(Debug, Clone, Serialize)]
pub struct Resolution {
    pub merge_request: String,
    /// The resolution's commit (the squash commit that lands on approval).
    pub commit: String,
    /// The base tip it was made on.
    pub base: String,
    /// The merger's `[OUTPUT]`: how it resolved the conflict.
    pub output: Option<String>,
}

/// The project's repository, for reading (enki's hidden one in a folder
/// that is not the root of a git repository).
pub fn project_git(layout: &Layout) -> Git {
    let root = layout.project_root();
    if enki_workspace::is_repository_root(root) {
        Git::new(root)
    } else {
        Git::with_git_dir(root, enki_workspace::hidden_git_dir(&layout.dir))
    }
}

/// The review of `task_id` (a full id): its diff against its base branch.
pub fn review_of(layout: &Layout, store: &Store, task_id: &str) -> Result<Review, String> {
    let task = store
        .task(task_id)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no task {task_id}"))?;
    let git = project_git(layout);
    let base_branch = match store
        .recorded_base_branch(&task.execution_id)
        .map_err(|e| e.to_string())?
    {
        Some(branch) => branch,
        None => git
            .current_branch()
            .ok()
            .flatten()
            .ok_or_else(|| format!("the branch task {task_id} lands on is not known yet"))?,
    };
    let branch = task
        .branch
        .clone()
        .unwrap_or_else(|| enki_workspace::task_branch(&task.id));
    let resolution = held_resolution(store, task_id)?;
    let diff = match &resolution {
        Some(held) => diff_commits(&git, &held.base, &held.commit),
        None => branch_diff(&git, &base_branch, &branch),
    }
    .map_err(|e| {
        format!(
            "cannot show the work of task {task_id} (step `{}`): {e}",
            task.step_id
        )
    })?;
    Ok(Review {
        output: task.output.clone(),
        task,
        base_branch,
        branch,
        diff,
        resolution,
    })
}

/// The merger's resolution of `task_id`'s conflict that awaits review, if any.
fn held_resolution(store: &Store, task_id: &str) -> Result<Option<Resolution>, String> {
    let Some(request) = store.held_resolution(task_id).map_err(|e| e.to_string())? else {
        return Ok(None);
    };
    let (Some(commit), Some(base)) = (request.held_commit, request.held_base) else {
        return Ok(None);
    };
    let output = store
        .merger_runs_of(task_id)
        .map_err(|e| e.to_string())?
        .into_iter()
        .rev()
        .find(|run| run.merge_request_id == request.id)
        .and_then(|run| run.output);
    Ok(Some(Resolution {
        merge_request: request.id,
        commit,
        base,
        output,
    }))
}
