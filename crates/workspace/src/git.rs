//! Running git with clear errors.
//!
//! Every git child runs with stdin on `/dev/null`, its stdout and stderr in
//! anonymous temporary files and in a process group of its own: if enki dies
//! (SIGKILL, a terminal's Ctrl-C) while git writes, git still finishes
//! instead of dying by SIGPIPE or SIGINT halfway through a checkout or merge.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use thiserror::Error;

use crate::contention::{AdminLock, TRIES, is_transient, pause_after, takes_admin_lock};
use crate::files::{
    Head, files_backend, read_head, read_loose_ref, ref_exists, write_new_loose_ref,
};
use crate::hardened::{USER_KEYS, admin_dir_of, harden, user_settings, with_plain_diff};

/// The user's settings carried into git commands that read no global
/// configuration.
#[derive(Debug, Clone, Default)]
struct UserSettings {
    /// `-c` overrides (the user's ignore file).
    overrides: Vec<String>,
    /// Identity variables.
    identity: Vec<(&'static str, String)>,
}

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
    /// Another git process kept the repository busy through every try.
    #[error(
        "`git {args}` in {dir} failed {tries} times over {waited_ms} ms while another git process kept the \
repository busy: {stderr}\nIf no git is running there, a crashed one left its lock file behind: remove the file git names."
    )]
    Busy {
        args: String,
        dir: PathBuf,
        stderr: String,
        tries: u32,
        waited_ms: u128,
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

/// git in one directory, hardened against what a worker could plant (see
/// `hardened`). Identity comes from the environment or the user's git
/// configuration, passed on explicitly; commits made by enki fall back to a
/// fixed identity so they work on machines without one.
#[derive(Debug, Clone)]
pub struct Git {
    dir: PathBuf,
    /// A repository kept outside the work tree (non-git projects keep
    /// enki's own metadata in `.enki/git`); `None` for a normal repository.
    git_dir: Option<PathBuf>,
    /// The user's identity and ignore file (`-c` overrides and variables),
    /// read once from their configuration and shared with the worktrees'.
    user: Arc<OnceLock<UserSettings>>,
    /// The repository's common git dir (where its administrative lock
    /// lives); asked at the first command that needs it.
    common_dir: OnceLock<PathBuf>,
    /// This work tree's own git dir, absolute; asked once.
    absolute_git_dir: OnceLock<PathBuf>,
    /// The commits enki made lately, with their trees and parents (a
    /// commit never changes): the squash it landed is the next squash's
    /// base, and one it made on a tip descends from that tip.
    made: Arc<Mutex<Vec<Made>>>,
}

/// A commit enki made.
#[derive(Debug, Clone)]
struct Made {
    commit: String,
    tree: String,
    parent: String,
}

/// How many commits a [`Git`] remembers.
const KNOWN_COMMITS: usize = 64;

impl Git {
    pub fn new(dir: impl Into<PathBuf>) -> Git {
        Git {
            dir: dir.into(),
            git_dir: None,
            user: Arc::default(),
            common_dir: OnceLock::new(),
            absolute_git_dir: OnceLock::new(),
            made: Arc::default(),
        }
    }

    /// A work tree whose repository lives in `git_dir` (GIT_DIR/GIT_WORK_TREE).
    pub fn with_git_dir(work_tree: impl Into<PathBuf>, git_dir: impl Into<PathBuf>) -> Git {
        Git {
            git_dir: Some(git_dir.into()),
            ..Git::new(work_tree)
        }
    }

    /// The worktree at `path` of this repository, run through the git
    /// directory the repository records for it, never through `path/.git`
    /// (which the worktree's user could point anywhere).
    pub fn worktree(&self, path: impl Into<PathBuf>) -> Result<Git, GitError> {
        let path = path.into();
        let admin = admin_dir_of(&self.common_dir()?, &path)?;
        Ok(Git {
            common_dir: self.common_dir.clone(),
            user: self.user.clone(),
            made: self.made.clone(),
            ..Git::with_git_dir(path, admin)
        })
    }

    /// The separate repository, when there is one.
    pub fn git_dir(&self) -> Option<&Path> {
        self.git_dir.as_deref()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// git in this directory and repository, hardened, with `settings`
    /// (`-c` overrides) before the subcommand. `user_config` lets it read the
    /// user's global and system configuration (only to ask for settings).
    fn bare_command(&self, settings: &[String], args: &[&str], user_config: bool) -> Command {
        let mut cmd = Command::new("git");
        cmd.arg("-C").arg(&self.dir);
        harden(&mut cmd, user_config);
        for setting in settings {
            cmd.arg("-c").arg(setting);
        }
        cmd.args(with_plain_diff(args));
        if let Some(git_dir) = &self.git_dir {
            cmd.env("GIT_DIR", git_dir).env("GIT_WORK_TREE", &self.dir);
        }
        // Never open an editor or a pager, never prompt. No optional locks:
        // enki's `status` must not take the index lock the user's git needs.
        cmd.env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_EDITOR", "true")
            .env("GIT_PAGER", "cat")
            .env("GIT_OPTIONAL_LOCKS", "0");
        cmd
    }

    /// git with the user's settings and identity, else enki's fixed one.
    fn command(&self, args: &[&str]) -> Command {
        let user = self.user_settings();
        let mut cmd = self.bare_command(&user.overrides, args, false);
        let has_identity = user
            .identity
            .iter()
            .any(|(var, _)| *var == "GIT_AUTHOR_EMAIL");
        for (var, value) in &user.identity {
            if std::env::var_os(var).is_none() {
                cmd.env(var, value);
            }
        }
        for (var, fallback) in [
            ("GIT_AUTHOR_NAME", "enki"),
            ("GIT_AUTHOR_EMAIL", "enki@localhost"),
            ("GIT_COMMITTER_NAME", "enki"),
            ("GIT_COMMITTER_EMAIL", "enki@localhost"),
        ] {
            if std::env::var_os(var).is_none() && !has_identity {
                cmd.env(var, fallback);
            }
        }
        cmd
    }

    /// The user's settings, read once (reading configuration runs nothing).
    fn user_settings(&self) -> &UserSettings {
        self.user.get_or_init(|| {
            let mut query =
                self.bare_command(&[], &["config", "--null", "--get-regexp", USER_KEYS], true);
            let listing = capture(&mut query, None)
                .map(|o| o.stdout)
                .unwrap_or_default();
            let (overrides, identity) = user_settings(&listing);
            UserSettings {
                overrides,
                identity,
            }
        })
    }

    /// This work tree's git dir, absolute: the separate one when there is
    /// one, else asked of git once.
    pub fn absolute_git_dir(&self) -> Result<PathBuf, GitError> {
        if let Some(dir) = self.absolute_git_dir.get() {
            return Ok(dir.clone());
        }
        let dir = match &self.git_dir {
            Some(dir) => std::path::absolute(dir)
                .map_err(|e| GitError::io(format!("resolving {}", dir.display()), e))?,
            None => PathBuf::from(self.run(&["rev-parse", "--absolute-git-dir"])?),
        };
        Ok(self.absolute_git_dir.get_or_init(|| dir).clone())
    }

    /// The repository's common git dir when its refs are files that
    /// `files` can read (the reftable backend's are not).
    pub(crate) fn files_common_dir(&self) -> Option<PathBuf> {
        self.common_dir().ok().filter(|dir| files_backend(dir))
    }

    /// The commit the branch ref `name` (`refs/heads/…`) points to, read
    /// from its loose file when it has one, else asked of git.
    pub fn ref_commit(&self, name: &str) -> Result<String, GitError> {
        if let Some(id) = self
            .files_common_dir()
            .and_then(|common| read_loose_ref(&common, name))
        {
            return Ok(id);
        }
        self.rev_parse(name)
    }

    /// The repository's common git dir, shared by all its worktrees.
    pub(crate) fn common_dir(&self) -> Result<PathBuf, GitError> {
        if let Some(dir) = self.common_dir.get() {
            return Ok(dir.clone());
        }
        let dir = PathBuf::from(self.run(&[
            "rev-parse",
            "--path-format=absolute",
            "--git-common-dir",
        ])?);
        Ok(self.common_dir.get_or_init(|| dir).clone())
    }

    /// Runs git and returns the raw output whatever the exit status.
    /// Worktree administration runs under the repository's lock (see
    /// `contention`), and a failure caused by another git's lock is tried
    /// again after a pause, [`TRIES`] times in all.
    pub fn output(&self, args: &[&str]) -> Result<Output, GitError> {
        self.output_and_wait(args).map(|(output, _)| output)
    }

    /// [`Git::output`], and how long it paused between tries.
    fn output_and_wait(&self, args: &[&str]) -> Result<(Output, Duration), GitError> {
        self.output_with_input(args, None)
    }

    /// [`Git::output`] with `input` on git's stdin (from a temporary file,
    /// like its output).
    pub fn output_with_stdin(&self, args: &[&str], input: &[u8]) -> Result<Output, GitError> {
        self.output_with_input(args, Some(input))
            .map(|(output, _)| output)
    }

    /// Deletes the refs `names` that exist, in one transaction (none when
    /// git's files show that all are gone already).
    pub fn delete_refs(&self, names: &[String]) -> Result<(), GitError> {
        let common = self.files_common_dir();
        let existing: Vec<&String> = names
            .iter()
            .filter(|name| {
                common
                    .as_deref()
                    .and_then(|common| ref_exists(common, name))
                    .unwrap_or(true)
            })
            .collect();
        if existing.is_empty() {
            return Ok(());
        }
        let transaction: String = existing
            .iter()
            .map(|name| format!("delete {name}\n"))
            .collect();
        // Under the repository's lock, as `branch -D` was: deleting takes
        // git's `packed-refs` lock, which parallel deletions would contend for.
        let _lock = AdminLock::acquire(&self.common_dir()?)?;
        self.run_with_input(&["update-ref", "--stdin"], transaction.as_bytes())
            .map(drop)
    }

    /// Points each ref of `refs` (name, commit) at its commit, in one
    /// transaction.
    pub fn update_refs(&self, refs: &[(String, String)]) -> Result<(), GitError> {
        if refs.is_empty() {
            return Ok(());
        }
        let transaction: String = refs
            .iter()
            .map(|(name, commit)| format!("update {name} {commit}\n"))
            .collect();
        self.run_with_input(&["update-ref", "--stdin"], transaction.as_bytes())
            .map(drop)
    }

    /// Creates enki's own refs `refs` (name under `refs/enki/`, commit),
    /// none of which exists yet: written as loose files where git keeps
    /// refs as files, which spares a git process on a landing's path;
    /// through [`Git::update_refs`] otherwise, and for any of them that
    /// could not be written so.
    pub fn create_own_refs(&self, refs: &[(String, String)]) -> Result<(), GitError> {
        let common = self.files_common_dir();
        let left: Vec<(String, String)> = refs
            .iter()
            .filter(|(name, commit)| {
                !common
                    .as_deref()
                    .is_some_and(|common| write_new_loose_ref(common, name, commit))
            })
            .cloned()
            .collect();
        self.update_refs(&left)
    }

    /// Remembers that enki made `commit` with tree `tree` and the one
    /// parent `parent` (`commit-tree`).
    pub(crate) fn remember_commit(&self, commit: &str, tree: &str, parent: &str) {
        let mut made = self.made.lock().unwrap_or_else(PoisonError::into_inner);
        if made.len() == KNOWN_COMMITS {
            made.remove(0);
        }
        made.push(Made {
            commit: commit.to_string(),
            tree: tree.to_string(),
            parent: parent.to_string(),
        });
    }

    fn known(&self, commit: &str) -> Option<Made> {
        let made = self.made.lock().unwrap_or_else(PoisonError::into_inner);
        made.iter().find(|known| known.commit == commit).cloned()
    }

    /// The tree of `commit` when enki made it lately.
    pub(crate) fn known_tree(&self, commit: &str) -> Option<String> {
        self.known(commit).map(|made| made.tree)
    }

    /// Whether enki made `commit` lately on `ancestor`, directly or
    /// through commits it made on each other (a chain of squashes): then it
    /// descends from `ancestor`, no git needed to say so.
    pub(crate) fn made_on(&self, commit: &str, ancestor: &str) -> bool {
        let mut commit = commit.to_string();
        for _ in 0..KNOWN_COMMITS {
            match self.known(&commit) {
                Some(made) if made.parent == ancestor => return true,
                Some(made) => commit = made.parent,
                None => return false,
            }
        }
        false
    }

    /// Runs git with `input` on its stdin, retried as [`Git::run`] is; a
    /// non-zero exit is an error.
    pub fn run_with_input(&self, args: &[&str], input: &[u8]) -> Result<String, GitError> {
        let (output, _) = self.output_with_input(args, Some(input))?;
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

    fn output_with_input(
        &self,
        args: &[&str],
        input: Option<&[u8]>,
    ) -> Result<(Output, Duration), GitError> {
        let admin = takes_admin_lock(args);
        let (mut tries, mut waited) = (1, Duration::ZERO);
        loop {
            let lock = if admin {
                Some(AdminLock::acquire(&self.common_dir()?)?)
            } else {
                None
            };
            let output = capture(&mut self.command(args), input)?;
            // Released during the pause, so that others get on meanwhile.
            drop(lock);
            if output.status.success()
                || tries >= TRIES
                || !is_transient(&String::from_utf8_lossy(&output.stderr))
            {
                return Ok((output, waited));
            }
            let pause = pause_after(tries);
            std::thread::sleep(pause);
            waited += pause;
            tries += 1;
        }
    }

    /// Runs git; a non-zero exit is an error carrying its stderr
    /// ([`GitError::Busy`] when it was another git's lock to the end).
    pub fn run(&self, args: &[&str]) -> Result<String, GitError> {
        let (output, waited) = self.output_and_wait(args)?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr).trim().to_string();
            let (args, dir) = (args.join(" "), self.dir.clone());
            return Err(if is_transient(&stderr) {
                GitError::Busy {
                    args,
                    dir,
                    stderr,
                    tries: TRIES,
                    waited_ms: waited.as_millis(),
                }
            } else {
                GitError::Failed { args, dir, stderr }
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

    /// The branch HEAD points to, or `None` when detached: read from the
    /// HEAD file when git keeps refs as files, else asked of git.
    pub fn current_branch(&self) -> Result<Option<String>, GitError> {
        if self.files_common_dir().is_some()
            && let Ok(git_dir) = self.absolute_git_dir()
            && let Some(head) = read_head(&git_dir)
        {
            return Ok(match head {
                Head::Branch(branch) => Some(branch),
                Head::Detached(_) => None,
            });
        }
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

std::thread_local! {
    /// git processes started by this thread (see [`git_processes`]).
    static SPAWNED: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// How many git processes this thread has started: every one goes through
/// [`capture`]. Tests bound what an operation costs with it.
pub fn git_processes() -> u64 {
    SPAWNED.with(std::cell::Cell::get)
}

/// Runs `cmd` to completion with stdin on `/dev/null` and stdout and stderr
/// in anonymous temporary files, read back once it exited. Files, not pipes:
/// git never gets SIGPIPE when the reader (enki) is gone. Its own process
/// group: a Ctrl-C meant for enki does not interrupt it either.
fn capture(cmd: &mut Command, input: Option<&[u8]>) -> Result<Output, GitError> {
    let temporary = || {
        tempfile::tempfile()
            .map_err(|e| GitError::io("creating a temporary file for git's output", e))
    };
    let stdin = match input {
        None => Stdio::null(),
        Some(bytes) => {
            let mut file = temporary()?;
            std::io::Write::write_all(&mut file, bytes)
                .and_then(|()| file.seek(SeekFrom::Start(0)).map(drop))
                .map_err(|e| GitError::io("writing git's input", e))?;
            Stdio::from(file)
        }
    };
    SPAWNED.with(|spawned| spawned.set(spawned.get() + 1));
    let (mut stdout, mut stderr) = (temporary()?, temporary()?);
    let status = cmd
        .stdin(stdin)
        .stdout(share(&stdout)?)
        .stderr(share(&stderr)?)
        .process_group(0)
        .status()
        .map_err(GitError::Spawn)?;
    Ok(Output {
        status,
        stdout: read_back(&mut stdout)?,
        stderr: read_back(&mut stderr)?,
    })
}

/// The same open file for the child (a shared offset, so reading starts
/// over from the beginning).
fn share(file: &File) -> Result<Stdio, GitError> {
    file.try_clone()
        .map(Stdio::from)
        .map_err(|e| GitError::io("sharing a temporary file with git", e))
}

fn read_back(file: &mut File) -> Result<Vec<u8>, GitError> {
    let mut bytes = Vec::new();
    file.seek(SeekFrom::Start(0))
        .and_then(|_| file.read_to_end(&mut bytes))
        .map_err(|e| GitError::io("reading git's output back", e))?;
    Ok(bytes)
}
