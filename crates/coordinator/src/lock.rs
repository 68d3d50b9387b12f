//! One coordinator per project: `.enki/coordinator.lock` holds the pid and
//! session of the running coordinator. A lock whose process is gone is stale
//! and taken over.

use std::io::Write;
use std::path::{Path, PathBuf};

use thiserror::Error;

#[derive(Debug, Error)]
pub enum LockError {
    #[error(
        "another enki coordinator is running in this project (pid {pid}, session {session}); stop it first or use `enki status` to watch it"
    )]
    Held { pid: u32, session: String },
    #[error("cannot write the lock file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

#[derive(Debug)]
pub struct CoordinatorLock {
    path: PathBuf,
}

fn process_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // Signal 0 checks existence without sending anything.
    // SAFETY: kill with signal 0 has no effect on the target process.
    #[allow(unsafe_code)]
    let result = unsafe { libc::kill(pid, 0) };
    result == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Reads `pid session` from a lock file.
fn read_lock(path: &Path) -> Option<(u32, String)> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut parts = text.split_whitespace();
    let pid = parts.next()?.parse().ok()?;
    let session = parts.next().unwrap_or("?").to_string();
    Some((pid, session))
}

impl CoordinatorLock {
    pub fn acquire(enki_dir: &Path, session: &str) -> Result<CoordinatorLock, LockError> {
        let path = enki_dir.join("coordinator.lock");
        let io = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        for _ in 0..2 {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut file) => {
                    writeln!(file, "{} {session}", std::process::id()).map_err(io)?;
                    return Ok(CoordinatorLock { path });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => match read_lock(&path) {
                    Some((pid, holder)) if pid != std::process::id() && process_alive(pid) => {
                        return Err(LockError::Held {
                            pid,
                            session: holder,
                        });
                    }
                    // Stale (or unreadable) lock: take it over.
                    _ => std::fs::remove_file(&path).map_err(io)?,
                },
                Err(e) => return Err(io(e)),
            }
        }
        Err(io(std::io::Error::other("the lock file keeps reappearing")))
    }
}

impl Drop for CoordinatorLock {
    fn drop(&mut self) {
        if read_lock(&self.path).is_some_and(|(pid, _)| pid == std::process::id()) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_holder_is_refused_and_a_stale_lock_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        // pid 1 is always alive.
        std::fs::write(dir.path().join("coordinator.lock"), "1 sess-other\n").unwrap();
        let err = CoordinatorLock::acquire(dir.path(), "sess-me").unwrap_err();
        assert!(
            err.to_string().contains("pid 1, session sess-other"),
            "{err}"
        );
        // A pid that cannot exist is stale.
        std::fs::write(dir.path().join("coordinator.lock"), "2147483646 sess-old\n").unwrap();
        let lock = CoordinatorLock::acquire(dir.path(), "sess-me").unwrap();
        assert!(
            std::fs::read_to_string(dir.path().join("coordinator.lock"))
                .unwrap()
                .contains("sess-me")
        );
        drop(lock);
        assert!(!dir.path().join("coordinator.lock").exists());
    }
}
