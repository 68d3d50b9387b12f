//! Everything a coordinator needs before its loop starts, checked up front
//! so that a bad configuration fails before any agent runs.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use enki_config::Config;
use enki_core::SessionId;
use enki_project::Layout;
use enki_workspace::Git;
use thiserror::Error;

use crate::context::{Context, Shared};
use crate::db::Db;
use crate::lock::{CoordinatorLock, LockError};

#[derive(Debug, Error)]
pub enum StartError {
    #[error(transparent)]
    Locate(#[from] enki_project::LocateError),
    #[error("configuration: {0}")]
    Config(#[from] enki_config::ConfigError),
    #[error(transparent)]
    Store(#[from] enki_store::StoreError),
    #[error(transparent)]
    Lock(#[from] LockError),
    /// `--agent` is not a command line.
    #[error("{0}")]
    Agent(String),
    #[error("{0}")]
    Project(String),
}

impl StartError {
    /// The user asked for something that cannot work as given (no project
    /// here, a bad enki.toml, a bad `--agent`), as opposed to a project
    /// whose state keeps the coordinator from starting.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            StartError::Locate(_) | StartError::Config(_) | StartError::Agent(_)
        )
    }
}

#[derive(Clone, Default)]
pub struct StartOptions {
    /// `ENKI_DIR`-style explicit `.enki/`; otherwise found from the current directory.
    pub enki_dir: Option<PathBuf>,
    /// `--agent`.
    pub agent: Option<String>,
    /// Answers permission requests the policy leaves to a person (the TUI).
    pub ask_policy: Option<Arc<dyn enki_acp::PermissionPolicy>>,
}

/// Locates the project, loads configuration and roles, opens the store,
/// takes the project lock and records a new session.
pub fn prepare(options: &StartOptions) -> Result<(Shared, CoordinatorLock), StartError> {
    let layout = match &options.enki_dir {
        Some(dir) => Layout::locate(Some(dir), dir)?,
        None => Layout::locate_from_env()?,
    };
    let project_root = layout.project_root().to_path_buf();
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let config = Config::load(home.as_deref(), Some(&layout.dir))?;
    let (roles, role_errors) = enki_project::roles::load_roles(&layout);
    for error in role_errors {
        tracing::warn!("skipping role file {error}");
    }
    if let Some(agent) = &options.agent
        && let Err(e) = enki_config::split_command(agent)
    {
        return Err(StartError::Agent(format!("--agent '{agent}': {e}")));
    }
    crate::sandbox::check_support(&config.sandbox).map_err(StartError::Project)?;
    // The lock comes first: recording the user's changes in a hidden
    // repository must not race another coordinator landing work there.
    let session_id = SessionId::generate().into_string();
    let lock = CoordinatorLock::acquire(&layout.dir, &session_id)?;
    // Found once here, so that the first agent's start does not pay for it.
    let containment = enki_sandbox::containment();
    if !containment.is_complete() {
        tracing::warn!("{}", containment.describe());
    }
    // What agents of an earlier session left in their temporary folders.
    crate::sandbox::remove_all_tmp(&layout.dir);
    let (git, hidden) = project_git(&project_root, &layout.dir)?;
    let base_branch = base_branch(&git, hidden, config.git.base_branch.as_deref())?;
    let db = Db::open(&layout.db())?;
    let enki_bin = std::env::current_exe()
        .map_err(|e| StartError::Project(format!("cannot find the enki binary: {e}")))?;
    {
        let mut store = enki_store::Store::open_existing(&layout.db())?;
        let agent = config.agent_for(
            enki_config::AgentRole::Worker,
            None,
            options.agent.as_deref(),
            &enki_bin,
        );
        store.start_session(&session_id, std::process::id(), &agent.name)?;
    }
    let mcp_host = crate::McpHost::new(
        enki_bin.clone(),
        layout.dir.clone(),
        session_id.clone(),
        project_root.clone(),
    );
    let backoff = enki_core::limits::Backoff {
        first_ms: config.workers.limit_backoff_secs.saturating_mul(1000),
        max_ms: config.workers.limit_backoff_max_secs.saturating_mul(1000),
    };
    let ctx = Context {
        db,
        layout,
        project_root,
        git,
        config,
        roles,
        session_id,
        enki_bin,
        agent_override: options.agent.clone(),
        base_branch,
        ask_policy: options.ask_policy.clone(),
        mcp_host,
        cleanups: crate::cleaner::Pending::default(),
        holds: std::sync::Mutex::new(crate::holds::Holds::new(backoff)),
    };
    Ok((Arc::new(ctx), lock))
}

/// The project's repository, and whether it is enki's hidden one.
///
/// A folder that is the top level of a git work tree uses that repository.
/// Any other folder, including one inside a bigger repository whose top
/// level is a parent folder, is tracked with enki's hidden repository in
/// `<enki dir>/git`: enki lands work at the project root, and advancing a
/// repository rooted elsewhere would move files outside the project.
fn project_git(project_root: &Path, enki_dir: &Path) -> Result<(Git, bool), StartError> {
    if enki_workspace::is_repository_root(project_root) {
        return Ok((Git::new(project_root), false));
    }
    let git = enki_workspace::hidden_repository(project_root, enki_dir).map_err(|e| {
        StartError::Project(format!(
            "{} is not the root of a git repository, and enki could not track it with its own metadata in {}: {e}",
            project_root.display(),
            enki_workspace::hidden_git_dir(enki_dir).display()
        ))
    })?;
    tracing::info!(
        "{} is not a git repository; tracking it with enki's metadata in {}",
        project_root.display(),
        enki_workspace::hidden_git_dir(enki_dir).display()
    );
    Ok((git, true))
}

/// The branch work lands on. In a git project: `[git] base_branch`, else
/// the checked-out branch. In a hidden repository always its checked-out
/// branch (`main`): only that branch reaches the folder, so a configured
/// base branch does not apply and is ignored with a warning.
fn base_branch(git: &Git, hidden: bool, configured: Option<&str>) -> Result<String, StartError> {
    let checked_out = || {
        git.current_branch()
            .map_err(|e| StartError::Project(e.to_string()))
    };
    let branch = if hidden {
        let branch = checked_out()?.ok_or_else(|| {
            StartError::Project(format!(
                "enki's hidden repository {} has a detached HEAD; remove that folder to start tracking {} afresh",
                git.git_dir().unwrap_or(git.dir()).display(),
                git.dir().display()
            ))
        })?;
        if let Some(configured) = configured
            && configured != branch
        {
            tracing::warn!(
                "[git] base_branch '{configured}' is ignored: {} is not a git repository, so work lands on enki's own branch '{branch}'",
                git.dir().display()
            );
        }
        branch
    } else {
        match configured {
            Some(branch) => branch.to_string(),
            None => match checked_out()? {
                Some(branch) => branch,
                None => detached_base(git)?,
            },
        }
    };
    if git.rev_parse(&format!("refs/heads/{branch}")).is_err() {
        return Err(StartError::Project(format!(
            "the base branch '{branch}' has no commit yet in {}; commit once first: `git commit --allow-empty -m init` (or add and commit your files)",
            git.dir().display()
        )));
    }
    Ok(branch)
}

/// The base branch when HEAD is detached and none is configured. A rebase
/// detaches HEAD while it runs: the branch being rebased is the base, and
/// the merge queue waits until the rebase is over. Any other detached HEAD
/// (including one under a bisect) is an error saying what to do.
fn detached_base(git: &Git) -> Result<String, StartError> {
    let operation = enki_workspace::operation_in_progress(git);
    if let Some(branch) = enki_workspace::rebasing_branch(git) {
        tracing::warn!(
            "a rebase of '{branch}' is in progress; work lands on '{branch}' once it is finished"
        );
        return Ok(branch);
    }
    Err(StartError::Project(match operation {
        Some(operation) => format!(
            "{operation} and HEAD is detached, so there is no branch to land work on; \
finish or abort it, or set [git] base_branch in .enki/enki.toml"
        ),
        None => "HEAD is detached; check out a branch or set [git] base_branch in .enki/enki.toml"
            .into(),
    }))
}
