//! Atomic signal writes: a reader sees a whole file or none.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use crate::Signal;
use crate::name::{next_ulid, signal_file_name, temp_file_name};

/// Writes `signal` into `events_dir` (created if missing) and returns the final path.
///
/// The bytes go to a hidden `.sig-<ULID>.tmp` in the same directory, which is then renamed to
/// `sig-<ULID>.json`, so the reader never sees a partial file. There is no fsync: the database
/// holds the truth, and a signal lost in a crash only delays the reaction until the next
/// rescan. On any error the temporary file is removed.
///
/// One thread of a process writes at a time ([`WRITING`]), and the directory is made only
/// when the first attempt finds it missing.
pub fn write_signal(events_dir: &Path, signal: &Signal) -> io::Result<PathBuf> {
    let bytes = signal.to_json().map_err(io::Error::other)?;
    let _one_at_a_time = WRITING.lock().unwrap_or_else(PoisonError::into_inner);
    let id = next_ulid();
    let temp = events_dir.join(temp_file_name(id));
    let target = events_dir.join(signal_file_name(id));
    match write_then_rename(&temp, &target, &bytes) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::create_dir_all(events_dir)?;
            write_then_rename(&temp, &target, &bytes)?;
        }
        other => other?,
    }
    Ok(target)
}

/// Held while a signal is written. The threads of one process (the sessions of an HTTP
/// server) creating files in one directory at once queue on the directory's lock in the
/// kernel, which spins while the holder runs: creating and renaming are the costly part of
/// a signal, and measured with 64 HTTP sessions that spinning cost about a tenth of the
/// server's CPU. Waiting here sleeps instead.
static WRITING: Mutex<()> = Mutex::new(());

/// Writes `bytes` to the new file `temp`, then renames it to `target`; removes `temp` on error.
fn write_then_rename(temp: &Path, target: &Path, bytes: &[u8]) -> io::Result<()> {
    let result = write_new(temp, bytes).and_then(|()| fs::rename(temp, target));
    if result.is_err() {
        // Best effort: the temp file may not exist (create failed), and readers ignore its
        // name anyway.
        let _ = fs::remove_file(temp);
    }
    result
}

fn write_new(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = OpenOptions::new().write(true).create_new(true).open(path)?;
    file.write_all(bytes)?;
    file.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Origin, SignalKind};

    fn signal() -> Signal {
        Signal::new(
            SignalKind::TaskCreated {
                task_id: "T1".into(),
            },
            Some("S1".into()),
            Origin {
                role: "planner".into(),
                task_id: None,
            },
        )
    }

    fn is_final_name(name: &str) -> bool {
        let Some(id) = name
            .strip_prefix("sig-")
            .and_then(|rest| rest.strip_suffix(".json"))
        else {
            return false;
        };
        id.len() == 26
            && id
                .bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
    }

    #[test]
    fn writes_one_final_file_and_no_temp() {
        let dir = tempfile::tempdir().expect("tempdir");
        let events = dir.path().join(".enki").join("events");
        let signal = signal();
        let path = write_signal(&events, &signal).expect("write");

        assert_eq!(path.parent(), Some(events.as_path()));
        let names: Vec<String> = fs::read_dir(&events)
            .expect("read_dir")
            .map(|e| e.expect("entry").file_name().into_string().expect("utf-8"))
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
        assert!(is_final_name(&names[0]), "{names:?}");
        assert_eq!(
            path.file_name().and_then(|n| n.to_str()),
            Some(names[0].as_str())
        );
        let bytes = fs::read(&path).expect("read");
        assert_eq!(Signal::parse(&bytes), Ok(signal));
    }

    #[test]
    fn failure_leaves_no_temp_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        // A file where the directory should be: creating the directory fails.
        let blocked = dir.path().join("events");
        fs::write(&blocked, b"").expect("write");
        assert!(write_signal(&blocked, &signal()).is_err());

        // The rename fails because the target is a non-empty directory; the temp must go.
        let events = dir.path().join("ok");
        fs::create_dir(&events).expect("mkdir");
        let id = next_ulid();
        let temp = events.join(temp_file_name(id));
        let target = events.join(signal_file_name(id));
        fs::create_dir(&target).expect("mkdir");
        fs::write(target.join("x"), b"x").expect("write");
        assert!(write_then_rename(&temp, &target, b"{}").is_err());
        assert!(!temp.exists());
        assert!(target.is_dir());
    }
}
