//! One coordinator per project: an `flock` on `.enki/coordinator.lock`, held
//! for the coordinator's whole life and released by the kernel when it dies
//! (even by SIGKILL). The pid and session written into the file are only
//! for messages; whether someone holds the lock is the lock's to say, never
//! the pid's (a pid can be recycled, and a file can be empty for an instant).
//! The file is never deleted: removing a lock file lets a later start lock a
//! new file while an older holder still holds the old one.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use thiserror::Error;

pub const LOCK_FILE: &str = "coordinator.lock";

#[derive(Debug, Error)]
pub enum LockError {
    #[error(
        "another enki coordinator is running in this project ({holder}); stop it first or use `enki status` to watch it"
    )]
    Held { holder: String },
    #[error("cannot use the lock file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The project's lock, held until dropped (or the process dies).
#[derive(Debug)]
pub struct CoordinatorLock {
    file: File,
}

/// Who holds the lock, as far as a look from outside can tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holder {
    /// No coordinator runs in this project.
    Nobody,
    /// A coordinator runs; what it wrote about itself (pid and session), or
    /// `None` in the instant between taking the lock and writing that.
    Running(Option<String>),
}

fn open(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
}

/// How long a start waits for a lock whose writer is gone (see `acquire`).
const INHERITED_LOCK_WAIT: Duration = Duration::from_secs(5);
const LOCK_RETRY: Duration = Duration::from_millis(50);

/// Takes the lock if nobody holds it (`false` when a coordinator does).
///
/// When the coordinator that wrote the file is gone yet the lock is held, a
/// child it was starting when it died still has the file open between fork
/// and exec (exec closes it): that passes in moments, so the look is
/// repeated for a while. A live coordinator's lock never passes.
fn try_lock(file: &mut File) -> std::io::Result<bool> {
    let mut waited = Duration::ZERO;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(true),
            Err(TryLockError::WouldBlock)
                if waited < INHERITED_LOCK_WAIT && writer_is_gone(file) =>
            {
                std::thread::sleep(LOCK_RETRY);
                waited += LOCK_RETRY;
            }
            Err(TryLockError::WouldBlock) => return Ok(false),
            Err(TryLockError::Error(e)) => return Err(e),
        }
    }
}

/// The file names a pid that no longer exists.
fn writer_is_gone(file: &mut File) -> bool {
    written(file)
        .and_then(|(pid, _)| pid.parse::<u32>().ok())
        .is_some_and(|pid| !Path::new("/proc").join(pid.to_string()).exists())
}

/// What the holder wrote: `pid <pid>, session <session>`.
fn describe(file: &mut File) -> Option<String> {
    written(file).map(|(pid, session)| format!("pid {pid}, session {session}"))
}

/// The pid and session in the file (the session `?` when missing).
fn written(file: &mut File) -> Option<(String, String)> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.read_to_string(&mut text).ok()?;
    let mut parts = text.split_whitespace();
    let pid = parts.next()?.to_string();
    let session = parts.next().unwrap_or("?").to_string();
    Some((pid, session))
}

impl CoordinatorLock {
    pub fn acquire(enki_dir: &Path, session: &str) -> Result<CoordinatorLock, LockError> {
        let path = enki_dir.join(LOCK_FILE);
        let io = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        let mut file = open(&path).map_err(io)?;
        if !try_lock(&mut file).map_err(io)? {
            let written =
                describe(&mut file).unwrap_or_else(|| "it is starting right now".to_string());
            let holder = match open_by(&path).as_slice() {
                [] => written,
                processes => format!(
                    "{written}; the lock file is open in {}",
                    processes.join(", ")
                ),
            };
            return Err(LockError::Held { holder });
        }
        // Ours now: say who we are (for messages only).
        file.set_len(0).map_err(io)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        writeln!(file, "{} {session}", std::process::id()).map_err(io)?;
        Ok(CoordinatorLock { file })
    }

    /// The processes that have the project's lock file open (pid and
    /// command line): who really holds it, whatever the file says.
    pub fn open_by(enki_dir: &Path) -> Vec<String> {
        open_by(&enki_dir.join(LOCK_FILE))
    }

    /// Whether a coordinator holds the project's lock, without taking it
    /// for longer than the look.
    pub fn holder(enki_dir: &Path) -> std::io::Result<Holder> {
        let path = enki_dir.join(LOCK_FILE);
        if !path.exists() {
            return Ok(Holder::Nobody);
        }
        let mut file = open(&path)?;
        if try_lock(&mut file)? {
            return Ok(Holder::Nobody);
        }
        Ok(Holder::Running(describe(&mut file)))
    }
}

/// The processes that have `path` open (from `/proc`; empty where there is
/// none): the lock's real holders, whatever the file says.
fn open_by(path: &Path) -> Vec<String> {
    let Ok(target) = path.canonicalize() else {
        return Vec::new();
    };
    let Ok(processes) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let own = std::process::id().to_string();
    let mut found = Vec::new();
    for process in processes.flatten() {
        let pid = process.file_name().to_string_lossy().into_owned();
        if !pid.bytes().all(|b| b.is_ascii_digit()) || pid == own {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(process.path().join("fd")) else {
            continue;
        };
        if fds
            .flatten()
            .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|link| link == target))
        {
            let command = std::fs::read(process.path().join("cmdline"))
                .map(|raw| {
                    String::from_utf8_lossy(&raw)
                        .replace('\0', " ")
                        .trim()
                        .to_string()
                })
                .unwrap_or_default();
            found.push(format!("pid {pid} ({command})"));
        }
    }
    found
}

impl Drop for CoordinatorLock {
    fn drop(&mut self) {
        // Still ours: clear what we wrote; closing the file releases the lock.
        let _ = self.file.set_len(0);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Barrier};

    use super::*;

    #[test]
    fn a_held_lock_is_refused_with_its_holder_and_released_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(CoordinatorLock::holder(dir.path()).unwrap(), Holder::Nobody);
        let lock = CoordinatorLock::acquire(dir.path(), "sess-first").unwrap();
        let err = CoordinatorLock::acquire(dir.path(), "sess-second").unwrap_err();
        let pid = std::process::id();
        assert!(
            err.to_string()
                .contains(&format!("pid {pid}, session sess-first")),
            "{err}"
        );
        assert_eq!(
            CoordinatorLock::holder(dir.path()).unwrap(),
            Holder::Running(Some(format!("pid {pid}, session sess-first")))
        );
        drop(lock);
        assert_eq!(CoordinatorLock::holder(dir.path()).unwrap(), Holder::Nobody);
        let again = CoordinatorLock::acquire(dir.path(), "sess-second");
        assert!(again.is_ok(), "{again:?}");
    }

    #[test]
    fn what_a_dead_holder_wrote_never_blocks_a_start() {
        let dir = tempfile::tempdir().unwrap();
        // pid 1 is alive, but it holds no lock: the file is only words.
        std::fs::write(dir.path().join(LOCK_FILE), "1 sess-old\n").unwrap();
        let lock = CoordinatorLock::acquire(dir.path(), "sess-new").unwrap();
        let text = std::fs::read_to_string(dir.path().join(LOCK_FILE)).unwrap();
        assert_eq!(text, format!("{} sess-new\n", std::process::id()));
        drop(lock);
        // An empty file (a start killed between lock and write) neither.
        std::fs::write(dir.path().join(LOCK_FILE), "").unwrap();
        assert!(CoordinatorLock::acquire(dir.path(), "sess-other").is_ok());
    }

    #[test]
    fn a_lock_left_with_a_child_of_a_dead_coordinator_is_waited_for() {
        let dir = tempfile::tempdir().unwrap();
        // Another open file description holds the lock, as a child between
        // fork and exec would, and the pid in the file is gone.
        let mut inherited = open(&dir.path().join(LOCK_FILE)).unwrap();
        inherited.try_lock().unwrap();
        writeln!(inherited, "2147483646 sess-dead").unwrap();
        let child = std::thread::spawn(move || {
            // It "execs" a moment later: the lock goes with the file. (The
            // pause only makes the start below find the lock held; the
            // assertion does not depend on it.)
            std::thread::sleep(Duration::from_millis(300));
            drop(inherited);
        });
        let started = CoordinatorLock::acquire(dir.path(), "sess-new");
        child.join().unwrap();
        assert!(
            started.is_ok(),
            "the start waited for the inherited lock: {started:?}"
        );
    }

    #[test]
    fn of_two_starts_at_the_same_instant_exactly_one_wins_every_time() {
        let dir = tempfile::tempdir().unwrap();
        for round in 0..100 {
            let barrier = Arc::new(Barrier::new(2));
            let starts: Vec<_> = (0..2)
                .map(|n| {
                    let (barrier, dir) = (barrier.clone(), dir.path().to_path_buf());
                    std::thread::spawn(move || {
                        barrier.wait();
                        let lock = CoordinatorLock::acquire(&dir, &format!("sess-{n}"));
                        // Both have tried before either lets go.
                        barrier.wait();
                        lock.is_ok()
                    })
                })
                .collect();
            let won: usize = starts
                .into_iter()
                .map(|s| usize::from(s.join().unwrap()))
                .sum();
            assert_eq!(won, 1, "round {round}: {won} coordinators started");
        }
    }
}
