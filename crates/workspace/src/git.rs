//! Running git with clear errors.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use thiserror::Error;

#[derive(Debug, Error)]
pub enum GitError {
    #[error("cannot run git: {0}")]
    Spawn(std::io::Error),
    #[error("`git {args}` failed in {dir}: {stderr}")]
    Failed {
        args: String,
        dir: PathBuf,
        stderr: String,
    },
    #[error("{0}")]
    Invalid(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
}

impl GitError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> GitError {
        GitError::Io {
            context: context.into(),
            source,
        }
    }
}

/// git in one directory. Identity comes from the environment or git's own
/// configuration; commits made by enki fall back to a fixed identity so
/// they work on machines without one.
#[derive(Debug, Clone)]
pub struct Git {
    dir: PathBuf,
    /// A repository kept outside the work tree (non-git projects keep
    /// enki's own metadata in `.enki/git`); `None` for a normal repository.
    git_dir: Option<PathBuf>,
    /// Whether git has a user identity here; asked once.
    identity: std::sync::OnceLock<bool>,
}

impl Git {
    pub fn new(dir: impl Into<PathBuf>) -> Git {
        Git {
            dir: dir.into(),
            git_dir: None,
            identity: std::sync::OnceLock::new(),
        }
    }

    /// A work tree whose repository lives in `git_dir` (GIT_DIR/GIT_WORK_TREE).
    pub fn with_git_dir(work_tree: impl Into<PathBuf>, git_dir: impl Into<PathBuf>) -> Git {
        Git {
            git_dir: Some(git_dir.into()),
            ..Git::new(work_tree)
        }
    }

    /// The separate repository, when there is one.
    pub fn git_dir(&self) -> Option<&Path> {
        self.git_dir.as_deref()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("git");
        cmd.arg("-C").arg(&self.dir).args(args);
        if let Some(git_dir) = &self.git_dir {
            cmd.env("GIT_DIR", git_dir).env("GIT_WORK_TREE", &self.dir);
        }
        // Never open an editor or a pager, never prompt.
        cmd.env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_EDITOR", "true")
            .env("GIT_PAGER", "cat");
        for (var, fallback) in [
            ("GIT_AUTHOR_NAME", "enki"),
            ("GIT_AUTHOR_EMAIL", "enki@localhost"),
            ("GIT_COMMITTER_NAME", "enki"),
            ("GIT_COMMITTER_EMAIL", "enki@localhost"),
        ] {
            if std::env::var_os(var).is_none() && !self.has_identity() {
                cmd.env(var, fallback);
            }
        }
        cmd
    }

    fn has_identity(&self) -> bool {
        *self.identity.get_or_init(|| {
            let mut cmd = Command::new("git");
            cmd.arg("-C").arg(&self.dir).args(["config", "user.email"]);
            if let Some(git_dir) = &self.git_dir {
                cmd.env("GIT_DIR", git_dir);
            }
            cmd.output()
                .is_ok_and(|o| o.status.success() && !o.stdout.is_empty())
        })
    }

    /// Runs git and returns the raw output whatever the exit status.
    pub fn output(&self, args: &[&str]) -> Result<Output, GitError> {
        self.command(args).output().map_err(GitError::Spawn)
    }

    /// Runs git; a non-zero exit is an error carrying its stderr.
    pub fn run(&self, args: &[&str]) -> Result<String, GitError> {
        let output = self.output(args)?;
        if !output.status.success() {
            return Err(GitError::Failed {
                args: args.join(" "),
                dir: self.dir.clone(),
                stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
            });
        }
        Ok(String::from_utf8_lossy(&output.stdout)
            .trim_end()
            .to_string())
    }

    /// Whether the directory is inside a git work tree.
    pub fn is_repository(&self) -> bool {
        self.run(&["rev-parse", "--is-inside-work-tree"])
            .is_ok_and(|s| s == "true")
    }

    pub fn rev_parse(&self, rev: &str) -> Result<String, GitError> {
        self.run(&[
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("{rev}^{{commit}}"),
        ])
    }

    /// The branch HEAD points to, or `None` when detached.
    pub fn current_branch(&self) -> Result<Option<String>, GitError> {
        let output = self.output(&["symbolic-ref", "--quiet", "--short", "HEAD"])?;
        Ok(output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).trim().to_string()))
    }

    pub fn branch_exists(&self, branch: &str) -> bool {
        self.run(&[
            "show-ref",
            "--verify",
            "--quiet",
            &format!("refs/heads/{branch}"),
        ])
        .is_ok()
    }

    /// Whether the work tree has uncommitted changes (ignored files aside).
    pub fn is_dirty(&self) -> Result<bool, GitError> {
        Ok(!self.run(&["status", "--porcelain"])?.is_empty())
    }
}
