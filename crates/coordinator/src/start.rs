//! Everything a coordinator needs before its loop starts, checked up front
//! so that a bad configuration fails before any agent runs.

use std::path::PathBuf;
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
    #[error("{0}")]
    Project(String),
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
        return Err(StartError::Project(format!("--agent '{agent}': {e}")));
    }
    let git = Git::new(&project_root);
    if !git.is_repository() {
        return Err(StartError::Project(format!(
            "{} is not a git repository; run `git init` and commit once first",
            project_root.display()
        )));
    }
    let base_branch = match &config.git.base_branch {
        Some(branch) => branch.clone(),
        None => git
            .current_branch()
            .map_err(|e| StartError::Project(e.to_string()))?
            .ok_or_else(|| {
                StartError::Project(
                    "HEAD is detached; check out a branch or set [git] base_branch in .enki/enki.toml".into(),
                )
            })?,
    };
    if git.rev_parse(&format!("refs/heads/{base_branch}")).is_err() {
        return Err(StartError::Project(format!(
            "the base branch '{base_branch}' has no commit yet; commit once first"
        )));
    }
    let session_id = SessionId::generate().into_string();
    let lock = CoordinatorLock::acquire(&layout.dir, &session_id)?;
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
    };
    Ok((Arc::new(ctx), lock))
}
