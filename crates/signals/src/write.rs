//! Atomic signal writes: a reader sees a whole file or none.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use crate::name::{next_ulid, signal_file_name, temp_file_name};
use crate::{Origin, Signal};

/// Writes `signal` into `events_dir` (created if missing) and returns the final path.
///
/// The bytes go to a hidden `.sig-<ULID>.tmp` in the same directory, which is then renamed to
/// `sig-<ULID>.json`, so the reader never sees a partial file. There is no fsync: the database
/// holds the truth, and a signal lost in a crash only delays the reaction until the next
/// rescan. On any error the temporary file is removed.
///
/// A signal that announces new rows ([`SignalKind::announces_new_rows`]) while a file of
/// such a signal from the same writer (session and origin) of this process still waits is
/// not written again: that file is renamed to a fresh name, after every change made so far,
/// and the path returned is its new one. A coordinator that has not taken the file yet
/// compares the whole store with its graph when it does, which covers this change; one that
/// has read it already sees a new name arrive and looks again; one that has deleted it makes
/// the rename fail, and the signal is written as a file of its own. So the change is seen
/// as soon as with a file of its own, without making one: on a busy disk, allocating the
/// file is most of a tool call's cost.
///
/// One thread of a process writes at a time ([`WRITING`]), and the directory is made only
/// when the first attempt finds it missing.
///
/// [`SignalKind::announces_new_rows`]: crate::SignalKind::announces_new_rows
pub fn write_signal(events_dir: &Path, signal: &Signal) -> io::Result<PathBuf> {
    let bytes = signal.to_json().map_err(io::Error::other)?;
    let mut written = WRITING.lock().unwrap_or_else(PoisonError::into_inner);
    let announces_new_rows = signal.kind.announces_new_rows();
    if announces_new_rows && let Some(renamed) = written.rename_waiting(events_dir, signal) {
        return Ok(renamed);
    }
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
    if announces_new_rows {
        written.remember(events_dir, signal, &target);
    }
    Ok(target)
}

/// Held while a signal is written. The threads of one process (the sessions of an HTTP
/// server) creating files in one directory at once queue on the directory's lock in the
/// kernel, which spins while the holder runs: creating and renaming are the costly part of
/// a signal, and measured with 64 HTTP sessions that spinning cost about a tenth of the
/// server's CPU. Waiting here sleeps instead.
static WRITING: Mutex<Written> = Mutex::new(Written {
    waiting: Vec::new(),
});

/// How many writers' waiting files a process remembers (an HTTP server with a token table
/// has a writer per token in use); the oldest is forgotten first.
const WRITERS_REMEMBERED: usize = 64;

/// The files of this process that announce new rows and may still wait for the coordinator:
/// one per events directory and writer.
struct Written {
    waiting: Vec<Waiting>,
}

struct Waiting {
    events_dir: PathBuf,
    session: Option<String>,
    from: Origin,
    file: PathBuf,
}

impl Written {
    /// Renames the waiting file of `signal`'s writer to a fresh name; its new path, or
    /// `None` when there is none or it is gone (the coordinator took it).
    fn rename_waiting(&mut self, events_dir: &Path, signal: &Signal) -> Option<PathBuf> {
        let at = self.waiting.iter().position(|w| {
            w.events_dir == events_dir && w.session == signal.session && w.from == signal.from
        })?;
        let fresh = events_dir.join(signal_file_name(next_ulid()));
        match fs::rename(&self.waiting[at].file, &fresh) {
            Ok(()) => {
                self.waiting[at].file.clone_from(&fresh);
                Some(fresh)
            }
            Err(_) => {
                self.waiting.remove(at);
                None
            }
        }
    }

    fn remember(&mut self, events_dir: &Path, signal: &Signal, file: &Path) {
        if self.waiting.len() == WRITERS_REMEMBERED {
            self.waiting.remove(0);
        }
        self.waiting.push(Waiting {
            events_dir: events_dir.to_path_buf(),
            session: signal.session.clone(),
            from: signal.from.clone(),
            file: file.to_path_buf(),
        });
    }
}

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
        created("T1", "planner")
    }

    fn created(task_id: &str, role: &str) -> Signal {
        Signal::new(
            SignalKind::TaskCreated {
                task_id: task_id.into(),
            },
            Some("S1".into()),
            Origin {
                role: role.into(),
                task_id: None,
            },
        )
    }

    /// The signals waiting in `events`, with their paths.
    fn waiting(events: &Path) -> Vec<(PathBuf, Signal)> {
        crate::scan(events)
            .expect("scan")
            .ready
            .into_iter()
            .map(|p| (p.path, p.signal))
            .collect()
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

    #[test]
    fn new_rows_announced_while_the_writers_file_waits_rename_it_after_them() {
        let dir = tempfile::tempdir().expect("tempdir");
        let events = dir.path().join("events");
        let first = write_signal(&events, &created("T1", "planner")).expect("write");
        let second = write_signal(&events, &created("T2", "planner")).expect("write");
        assert!(!first.exists(), "the waiting file was renamed");
        assert!(second > first, "its new name sorts after the first one's");
        // One file, which still says what it said: the store shows T1 as it shows T2.
        let files = waiting(&events);
        assert_eq!(files.len(), 1, "{files:?}");
        assert_eq!(files[0].0, second);
        assert_eq!(files[0].1.kind, created("T1", "planner").kind);

        // Another writer, or a signal that is not about new rows, has its own file.
        let other = write_signal(&events, &created("T3", "worker")).expect("write");
        let retry = Signal::new(
            SignalKind::RetryTask {
                task_id: "T1".into(),
            },
            Some("S1".into()),
            created("T1", "planner").from,
        );
        let retried = write_signal(&events, &retry).expect("write");
        let paths: Vec<PathBuf> = waiting(&events).into_iter().map(|(p, _)| p).collect();
        assert_eq!(paths, [second.clone(), other, retried]);

        // Once the coordinator took the file, the next one is written anew.
        fs::remove_file(&second).expect("the coordinator takes it");
        let third = write_signal(&events, &created("T4", "planner")).expect("write");
        let now = waiting(&events);
        let (path, signal) = now.last().expect("a file");
        assert_eq!(path, &third);
        assert_eq!(
            signal.kind,
            SignalKind::TaskCreated {
                task_id: "T4".into()
            }
        );
    }
}
