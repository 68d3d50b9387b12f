//! Landed copies kept for the next task instead of deleted.
//!
//! Making a copy writes every file of the project and removing one deletes
//! them all. Besides the writing itself, some file systems make each new
//! file slower the more were deleted just before (ext4 without a journal
//! skips every inode freed in the last seconds, reading its table block each
//! time), so per-task time grew with the number of tasks. A landed copy is
//! therefore parked in the pool (`.enki/pool/`, a bounded number) and the
//! next new copy is made from one: moved to its place, switched to its
//! branch with `checkout --force` (only the files that differ are written)
//! and emptied of everything else with `clean -ffdx`. It is emptied the
//! same way as it is parked, in the background clean-up: the last task's
//! build outputs do not wait in the pool, and taking a copy finds little to
//! remove.
//!
//! A parked copy held an agent's files. Nothing of them reaches the next
//! task: tracked files are reset, every other file (untracked, ignored,
//! nested repositories) is removed, and the copy's `.git` file is written
//! anew. The copy's administrative directory is the repository's, which the
//! agent could not write. The caller parks copies only where nothing an
//! agent started can outlive it (PID namespaces), so no process of the old
//! task writes in the copy once it serves the next.
//!
//! Crash safety. A mark in the copy's administrative directory
//! ([`PARKED`]) says the copy is parked or not yet renewed; it goes only once
//! the copy is clean on its new branch. A move rewrites the administrative
//! `gitdir` before renaming the folder, both under the repository's lock: a
//! death between leaves the registration pointing at the new place and the
//! folder at the old. At the pool that folder is an orphan no registration
//! names (removed by the next [`park_copies`]); at a task's place it is a
//! copy whose registration git prunes, made afresh. A copy found at a task's
//! place still marked is renewed again ([`renew`]), never taken for the
//! task's kept work.

use std::path::{Path, PathBuf};

use crate::contention::AdminLock;
use crate::git::{Git, GitError};
use crate::hardened::{admin_dirs_of, registrations};

/// The mark, in a copy's administrative directory, of a copy parked or
/// taken from the pool and not yet renewed.
pub(crate) const PARKED: &str = "enki-parked";

/// Moves the `copies` into `pool` while it holds fewer than `capacity`;
/// says for each whether it was parked (the others are left where they are,
/// for the caller to remove). Copies git no longer knows are never parked.
/// Folders in the pool that no registration names (a death mid-move) are
/// removed.
pub fn park_copies<P: AsRef<Path>>(
    project: &Git,
    pool: &Path,
    copies: &[P],
    capacity: usize,
) -> Result<Vec<bool>, GitError> {
    let mut parked = vec![false; copies.len()];
    if capacity == 0 || copies.is_empty() {
        return Ok(parked);
    }
    std::fs::create_dir_all(pool)
        .map_err(|e| GitError::io(format!("creating {}", pool.display()), e))?;
    let pool = std::fs::canonicalize(pool)
        .map_err(|e| GitError::io(format!("resolving {}", pool.display()), e))?;
    let common = project.common_dir()?;
    let copies: Vec<&Path> = copies.iter().map(AsRef::as_ref).collect();
    let mut admins = admin_dirs_of(&common, &copies);
    // The copies that will fit are emptied of everything not tracked first,
    // before the pool (and so any new copy) can have them: the last task's
    // build outputs do not wait in the pool, and taking a copy finds
    // little to remove. One that cannot be emptied is not parked.
    let mut room = capacity.saturating_sub(pool_size(&pool));
    for (copy, admin) in copies.iter().zip(&mut admins) {
        if admin.is_none() {
            continue;
        }
        if room == 0 {
            *admin = None;
            continue;
        }
        match project
            .worktree(copy)
            .and_then(|git| git.run(&["clean", "-ffdxq"]))
        {
            Ok(_) => room -= 1,
            Err(e) => {
                tracing::debug!("not parking {}: {e}", copy.display());
                *admin = None;
            }
        }
    }
    let orphans = {
        let _lock = AdminLock::acquire(&common)?;
        let (held, orphans) = pool_entries(&common, &pool);
        let mut room = capacity.saturating_sub(held.len());
        for ((copy, admin), parked) in copies.iter().zip(&admins).zip(&mut parked) {
            let (Some(admin), Some(name)) = (admin, copy.file_name()) else {
                continue;
            };
            if room == 0 {
                break;
            }
            let target = pool.join(name);
            if target.exists() {
                continue;
            }
            match move_copy(admin, copy, &target, true) {
                Ok(()) => {
                    *parked = true;
                    room -= 1;
                }
                Err(e) => tracing::debug!("not parking {}: {e}", copy.display()),
            }
        }
        orphans
    };
    for orphan in orphans {
        if let Err(e) = std::fs::remove_dir_all(&orphan) {
            tracing::warn!("cannot remove {}: {e}", orphan.display());
        }
    }
    Ok(parked)
}

/// Moves a parked copy from `pool` to `path` (which must not exist), its
/// mark kept until [`renew`]; returns whether there was one.
pub(crate) fn take_parked(project: &Git, pool: &Path, path: &Path) -> Result<bool, GitError> {
    let Ok(pool) = std::fs::canonicalize(pool) else {
        return Ok(false);
    };
    let common = project.common_dir()?;
    let _lock = AdminLock::acquire(&common)?;
    let (held, _) = pool_entries(&common, &pool);
    for (entry, admin) in held {
        match move_copy(&admin, &entry, path, false) {
            Ok(()) => return Ok(true),
            Err(e) => tracing::debug!("cannot take {}: {e}", entry.display()),
        }
    }
    Ok(false)
}

/// Whether the copy `copy` (run through its administrative directory) is
/// marked parked: taken from the pool and not yet renewed.
pub(crate) fn is_parked(copy: &Git) -> bool {
    copy.git_dir()
        .is_some_and(|admin| admin.join(PARKED).exists())
}

/// Makes the copy at `path` (taken from the pool) a new copy on `branch`:
/// its `.git` file written anew, the branch checked out with every tracked
/// file as the branch has it, every other file removed, then its mark
/// removed. `start` makes the branch there; `None` checks out the branch as
/// it is (it holds earlier work of the task).
pub(crate) fn renew(
    project: &Git,
    path: &Path,
    branch: &str,
    start: Option<&str>,
) -> Result<(), GitError> {
    let copy = project.worktree(path)?;
    let admin = copy.absolute_git_dir()?;
    point_at(path, &admin)?;
    // The task's branch is enki's and in no other worktree: git need not
    // read every worktree's files to make sure (`--ignore-other-worktrees`).
    let mut args = vec![
        "checkout",
        "--force",
        "--quiet",
        "--no-recurse-submodules",
        "--ignore-other-worktrees",
    ];
    match start {
        Some(commit) => args.extend(["--no-track", "-B", branch, commit]),
        None => args.push(branch),
    }
    copy.run(&args)?;
    copy.run(&["clean", "-ffdxq"])?;
    forget_history(&admin)?;
    enki_failpoint::crash_point!("pool:renewed");
    std::fs::remove_file(admin.join(PARKED))
        .map_err(|e| GitError::io(format!("unmarking {}", admin.display()), e))
}

/// What a worktree's administrative directory holds for a copy just made
/// (and the mark, removed last).
const KEPT_IN_ADMIN: &[&str] = &["HEAD", "index", "commondir", "gitdir", PARKED];

/// Removes from `admin` what the copy's earlier tasks left there: HEAD's
/// reflog (where the next task's HEAD went is read from it, see `gather`;
/// the switch to its branch would name the last task's branch there), the
/// worktree's own refs, `ORIG_HEAD` and the like.
fn forget_history(admin: &Path) -> Result<(), GitError> {
    let entries = std::fs::read_dir(admin)
        .map_err(|e| GitError::io(format!("reading {}", admin.display()), e))?;
    for entry in entries.flatten() {
        if KEPT_IN_ADMIN.iter().any(|kept| entry.file_name() == *kept) {
            continue;
        }
        let path = entry.path();
        let removed = match entry.file_type() {
            Ok(kind) if kind.is_dir() => std::fs::remove_dir_all(&path),
            _ => std::fs::remove_file(&path),
        };
        removed.map_err(|e| GitError::io(format!("removing {}", path.display()), e))?;
    }
    Ok(())
}

/// How many folders the pool holds (whatever state they are in).
fn pool_size(pool: &Path) -> usize {
    std::fs::read_dir(pool).map_or(0, |entries| entries.count())
}

/// The pool's folders a registration names, with their administrative
/// directories, and those none names. Under the repository's lock.
fn pool_entries(common: &Path, pool: &Path) -> (Vec<(PathBuf, PathBuf)>, Vec<PathBuf>) {
    let entries: Vec<PathBuf> = std::fs::read_dir(pool)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path())
        .collect();
    let paths: Vec<&Path> = entries.iter().map(PathBuf::as_path).collect();
    let admins = admin_dirs_of(common, &paths);
    let (mut held, mut orphans) = (Vec::new(), Vec::new());
    for (entry, admin) in entries.into_iter().zip(admins) {
        match admin {
            Some(admin) if admin.join(PARKED).exists() => held.push((entry, admin)),
            // Registered but not marked: not the pool's (never parked so).
            Some(_) => {}
            None => orphans.push(entry),
        }
    }
    (held, orphans)
}

/// Moves the worktree at `from` (administered in `admin`) to `to`: the
/// mark set when `mark`, the `.git` file and the registration pointed at
/// the new place, then the folder renamed. A failed rename points the
/// registration back (and takes the mark it set). Under the repository's
/// lock.
fn move_copy(admin: &Path, from: &Path, to: &Path, mark: bool) -> Result<(), GitError> {
    let io = |what: &str, e| GitError::io(format!("{what} {}", admin.display()), e);
    if mark {
        std::fs::write(admin.join(PARKED), b"").map_err(|e| io("marking", e))?;
    }
    point_at(from, admin)?;
    let (parent, name) = match (to.parent(), to.file_name()) {
        (Some(parent), Some(name)) => (parent, name),
        _ => return Err(GitError::Invalid(format!("{} has no parent", to.display()))),
    };
    std::fs::create_dir_all(parent).map_err(|e| io("creating the folder for", e))?;
    let to = std::fs::canonicalize(parent)
        .map_err(|e| io("resolving the folder for", e))?
        .join(name);
    let from_real = std::fs::canonicalize(from).map_err(|e| io("resolving the copy of", e))?;
    register_at(admin, &to)?;
    if let Err(e) = std::fs::rename(&from_real, &to) {
        register_at(admin, &from_real)?;
        if mark {
            // Not parked after all: the copy stays what it was.
            let _ = std::fs::remove_file(admin.join(PARKED));
        }
        return Err(GitError::io(
            format!("moving {} to {}", from.display(), to.display()),
            e,
        ));
    }
    Ok(())
}

/// Writes the worktree at `path`'s `.git` file naming `admin` (whatever an
/// agent left in its place: a folder, a link, another file).
fn point_at(path: &Path, admin: &Path) -> Result<(), GitError> {
    let dot_git = path.join(".git");
    let io = |what: &str, e| GitError::io(format!("{what} {}", dot_git.display()), e);
    match std::fs::symlink_metadata(&dot_git) {
        Ok(meta) if meta.is_dir() => {
            std::fs::remove_dir_all(&dot_git).map_err(|e| io("removing", e))?;
        }
        Ok(meta) if !meta.is_file() => {
            std::fs::remove_file(&dot_git).map_err(|e| io("removing", e))?;
        }
        _ => {}
    }
    std::fs::write(&dot_git, format!("gitdir: {}\n", admin.display())).map_err(|e| io("writing", e))
}

/// Points the registration in `admin` at the worktree folder `work_tree`
/// (absolute), replacing its `gitdir` file whole.
fn register_at(admin: &Path, work_tree: &Path) -> Result<(), GitError> {
    let io = |e| {
        GitError::io(
            format!("registering {} in {}", work_tree.display(), admin.display()),
            e,
        )
    };
    let staged = admin.join("gitdir.enki");
    std::fs::write(&staged, format!("{}\n", work_tree.join(".git").display())).map_err(io)?;
    std::fs::rename(&staged, admin.join("gitdir")).map_err(io)
}

/// Removes every copy parked in `pool` (a run that ends leaves none behind):
/// the repository forgets them under its lock, so none can be taken at the
/// same time, then their files go. Registrations of worktrees in the
/// pool's folder (`.enki/`) whose folders are gone go too: a kill between
/// two steps of a move can leave one, which git would list as prunable.
pub fn empty_pool(project: &Git, pool: &Path) -> Result<(), GitError> {
    let common = project.common_dir()?;
    let enki_dir = pool
        .parent()
        .and_then(|dir| std::fs::canonicalize(dir).ok());
    let pool = std::fs::canonicalize(pool).ok();
    let folders: Vec<PathBuf> = {
        let _lock = AdminLock::acquire(&common)?;
        let (held, orphans) = pool
            .as_deref()
            .map(|pool| pool_entries(&common, pool))
            .unwrap_or_default();
        for (_, admin) in &held {
            std::fs::remove_dir_all(admin)
                .map_err(|e| GitError::io(format!("removing {}", admin.display()), e))?;
        }
        if let Some(enki_dir) = &enki_dir {
            forget_missing(&common, enki_dir)?;
        }
        held.into_iter()
            .map(|(entry, _)| entry)
            .chain(orphans)
            .collect()
    };
    for folder in folders {
        std::fs::remove_dir_all(&folder)
            .map_err(|e| GitError::io(format!("removing {}", folder.display()), e))?;
    }
    // Gone only when empty: anything else in it is not enki's to delete.
    if let Some(pool) = pool {
        let _ = std::fs::remove_dir(&pool);
    }
    Ok(())
}

/// Removes the registrations of worktrees under `within` whose folders are
/// gone. Under the repository's lock.
fn forget_missing(common: &Path, within: &Path) -> Result<(), GitError> {
    for (admin, work_tree) in registrations(common) {
        if work_tree.starts_with(within) && !work_tree.exists() {
            std::fs::remove_dir_all(&admin)
                .map_err(|e| GitError::io(format!("removing {}", admin.display()), e))?;
        }
    }
    Ok(())
}
