//! Reading the events directory: ordered, validated, with bad files moved out of the way.

use std::fs;
use std::io::{self, ErrorKind};
use std::path::{Path, PathBuf};

use crate::Signal;
use crate::name::{REJECTED_DIR, is_signal_file_name};

/// The result of one pass over the events directory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scan {
    /// Valid signals in file-name (ULID, i.e. creation) order: apply them in this order.
    pub ready: Vec<PendingSignal>,
    /// Files moved to `rejected/` during this pass (each also logged as a warning).
    pub rejected: Vec<Rejected>,
}

/// A valid signal still on disk; [`acknowledge`] it once its effect is applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingSignal {
    pub path: PathBuf,
    pub signal: Signal,
}

/// A bad signal file that was moved out of the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub original: PathBuf,
    pub moved_to: PathBuf,
    /// What was wrong, e.g. "missing field `task_id`".
    pub reason: String,
}

/// One pass over `events_dir`.
///
/// Lists `sig-*.json` files (hidden files, `.tmp` files, other names and the `rejected/`
/// directory are ignored) in file-name order, and parses each. Invalid files are moved to
/// `events_dir/rejected/` and reported, so they never block the files behind them. A file
/// that vanished since the listing (another reader took it) is skipped silently; a file that
/// cannot be read for another reason is logged and left for the next pass. A missing
/// `events_dir` is an empty scan: nobody has signalled yet.
pub fn scan(events_dir: &Path) -> io::Result<Scan> {
    let mut out = Scan::default();
    for name in list_signal_files(events_dir)? {
        let path = events_dir.join(&name);
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == ErrorKind::NotFound => continue,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot read signal file; will retry");
                continue;
            }
        };
        match Signal::parse(&bytes) {
            Ok(signal) => out.ready.push(PendingSignal { path, signal }),
            Err(error) => {
                let reason = error.to_string();
                match reject(events_dir, &path, &name) {
                    Ok(Some(moved_to)) => {
                        tracing::warn!(
                            path = %path.display(),
                            moved_to = %moved_to.display(),
                            %reason,
                            "rejected bad signal file"
                        );
                        out.rejected.push(Rejected {
                            original: path,
                            moved_to,
                            reason,
                        });
                    }
                    Ok(None) => {}
                    Err(e) => tracing::warn!(
                        path = %path.display(),
                        %reason,
                        error = %e,
                        "bad signal file could not be moved to rejected/; skipping it"
                    ),
                }
            }
        }
    }
    Ok(out)
}

/// Deletes a signal once its effect is applied. Already gone is fine: at-least-once delivery
/// means another pass may have acknowledged it first.
pub fn acknowledge(signal: &PendingSignal) -> io::Result<()> {
    match fs::remove_file(&signal.path) {
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// Moves a valid signal whose effect the reader refuses to `rejected/`
/// (where a person can look at it); `None` when it is gone already.
pub fn set_aside(signal: &PendingSignal) -> io::Result<Option<PathBuf>> {
    let (Some(dir), Some(name)) = (signal.path.parent(), signal.path.file_name()) else {
        return Ok(None);
    };
    reject(dir, &signal.path, &name.to_string_lossy())
}

/// Names of the signal files in `events_dir`, sorted.
fn list_signal_files(events_dir: &Path) -> io::Result<Vec<String>> {
    let entries = match fs::read_dir(events_dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => {
                tracing::warn!(dir = %events_dir.display(), error = %e, "cannot list an entry");
                continue;
            }
        };
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if !is_signal_file_name(&name) {
            continue;
        }
        // A directory or other odd entry with a signal name is not ours to touch.
        if entry.file_type().is_ok_and(|t| t.is_file()) {
            names.push(name);
        }
    }
    names.sort_unstable();
    Ok(names)
}

/// Moves a bad file to `rejected/`. `Ok(None)` if it vanished first (another reader took it).
fn reject(events_dir: &Path, path: &Path, name: &str) -> io::Result<Option<PathBuf>> {
    let rejected_dir = events_dir.join(REJECTED_DIR);
    fs::create_dir_all(&rejected_dir)?;
    let moved_to = rejected_dir.join(name);
    match fs::rename(path, &moved_to) {
        Ok(()) => Ok(Some(moved_to)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::name::{next_ulid, signal_file_name};
    use crate::{Origin, SignalKind, write_signal};

    /// A signal naming a task, of a kind that is written as a file of its own every time
    /// (a second `task_created` would rename the first file, see `write_signal`).
    fn task_signal(task_id: &str) -> Signal {
        Signal::new(
            SignalKind::RetryTask {
                task_id: task_id.into(),
            },
            None,
            Origin {
                role: "planner".into(),
                task_id: None,
            },
        )
    }

    fn task_ids(scan: &Scan) -> Vec<String> {
        scan.ready
            .iter()
            .map(|p| match &p.signal.kind {
                SignalKind::RetryTask { task_id } => task_id.clone(),
                other => panic!("unexpected {other:?}"),
            })
            .collect()
    }

    /// Places raw bytes under the next signal name, so it sorts after earlier writes.
    fn place(dir: &Path, bytes: &[u8]) -> PathBuf {
        let path = dir.join(signal_file_name(next_ulid()));
        fs::write(&path, bytes).expect("write");
        path
    }

    #[test]
    fn missing_dir_is_an_empty_scan() {
        let dir = tempfile::tempdir().expect("tempdir");
        let scan = scan(&dir.path().join("nope")).expect("scan");
        assert_eq!(scan, Scan::default());
    }

    #[test]
    fn returns_signals_in_write_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let expected: Vec<String> = (0..200).map(|i| format!("T{i}")).collect();
        let mut paths = Vec::new();
        for id in &expected {
            paths.push(write_signal(dir.path(), &task_signal(id)).expect("write"));
        }
        let scan = scan(dir.path()).expect("scan");
        assert!(scan.rejected.is_empty());
        assert_eq!(task_ids(&scan), expected);
        let scanned: Vec<&PathBuf> = scan.ready.iter().map(|p| &p.path).collect();
        assert_eq!(scanned, paths.iter().collect::<Vec<_>>());
    }

    #[test]
    fn ignores_temp_hidden_other_names_and_rejected_dir() {
        let dir = tempfile::tempdir().expect("tempdir");
        let events = dir.path();
        let good = serde_json::to_vec(&task_signal("T1")).expect("json");
        fs::write(events.join(".sig-01ARZ3NDEKTSV4RRFFQ69G5FAV.tmp"), &good).expect("write");
        fs::write(events.join(".sig-x.json"), &good).expect("write");
        fs::write(events.join(".hidden"), b"garbage").expect("write");
        fs::write(events.join("notes.txt"), b"garbage").expect("write");
        fs::write(events.join("sig-x.json.tmp"), b"garbage").expect("write");
        fs::write(events.join("other.json"), &good).expect("write");
        fs::create_dir(events.join(REJECTED_DIR)).expect("mkdir");
        fs::write(events.join(REJECTED_DIR).join("sig-A.json"), &good).expect("write");
        fs::write(events.join(REJECTED_DIR).join("sig-B.json"), b"garbage").expect("write");
        fs::create_dir(events.join("sig-dir.json")).expect("mkdir");
        let path = write_signal(events, &task_signal("T2")).expect("write");

        let scan = scan(events).expect("scan");
        assert!(scan.rejected.is_empty(), "{:?}", scan.rejected);
        assert_eq!(task_ids(&scan), ["T2"]);
        assert_eq!(scan.ready[0].path, path);
        // Nothing ignored was touched.
        assert_eq!(fs::read_dir(events).expect("read_dir").count(), 9);
        assert_eq!(
            fs::read_dir(events.join(REJECTED_DIR))
                .expect("read_dir")
                .count(),
            2
        );
    }

    #[test]
    fn bad_files_are_moved_aside_and_do_not_block_good_ones() {
        let dir = tempfile::tempdir().expect("tempdir");
        let events = dir.path();
        let env =
            r#""at":"2025-01-02T03:04:05Z","session":null,"from":{"role":"r","task_id":null}"#;
        let bad: Vec<(&str, Vec<u8>)> = vec![
            ("garbage", b"\x00\x01 not json at all".to_vec()),
            ("invalid utf-8", b"{\"v\":1,\"type\":\"stop_all\xff\"}".to_vec()),
            (
                "unknown type",
                format!(r#"{{"v":1,"type":"explode",{env}}}"#).into_bytes(),
            ),
            (
                "v=2",
                format!(r#"{{"v":2,"type":"stop_all",{env}}}"#).into_bytes(),
            ),
            (
                "missing field",
                format!(r#"{{"v":1,"type":"retry_task",{env}}}"#).into_bytes(),
            ),
            ("array", b"[1,2,3]".to_vec()),
            (
                "bad at",
                br#"{"v":1,"type":"stop_all","at":"noon","session":null,"from":{"role":"r","task_id":null}}"#
                    .to_vec(),
            ),
        ];
        let mut good_paths = vec![write_signal(events, &task_signal("T0")).expect("write")];
        let mut bad_paths = Vec::new();
        for (i, (_, bytes)) in bad.iter().enumerate() {
            bad_paths.push(place(events, bytes));
            let id = format!("T{}", i + 1);
            good_paths.push(write_signal(events, &task_signal(&id)).expect("write"));
        }

        let result = scan(events).expect("scan");
        assert_eq!(
            task_ids(&result),
            (0..=bad.len()).map(|i| format!("T{i}")).collect::<Vec<_>>()
        );
        assert_eq!(result.rejected.len(), bad.len());
        for ((label, _), (rejected, original)) in
            bad.iter().zip(result.rejected.iter().zip(&bad_paths))
        {
            assert_eq!(&rejected.original, original, "{label}");
            assert!(!original.exists(), "{label}");
            assert_eq!(
                rejected.moved_to,
                events
                    .join(REJECTED_DIR)
                    .join(original.file_name().expect("name")),
                "{label}"
            );
            assert!(rejected.moved_to.is_file(), "{label}");
            assert!(!rejected.reason.is_empty(), "{label}");
        }
        let reasons: Vec<&str> = result.rejected.iter().map(|r| r.reason.as_str()).collect();
        assert!(reasons[0].starts_with("not "), "{reasons:?}");
        assert!(reasons[1].starts_with("not UTF-8"), "{reasons:?}");
        assert!(
            reasons[2].contains("unknown variant `explode`"),
            "{reasons:?}"
        );
        assert!(reasons[3].contains("version"), "{reasons:?}");
        assert!(
            reasons[4].contains("missing field `task_id`"),
            "{reasons:?}"
        );
        assert_eq!(reasons[5], "not a JSON object");
        assert!(reasons[6].contains("`at`"), "{reasons:?}");

        // Rejected files are gone for good; the good ones stay until acknowledged.
        let again = scan(events).expect("scan");
        assert!(again.rejected.is_empty());
        assert_eq!(again.ready, result.ready);
        for path in good_paths {
            assert!(path.exists());
        }
    }

    #[test]
    fn acknowledge_deletes_and_is_idempotent() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_signal(dir.path(), &task_signal("T1")).expect("write");
        write_signal(dir.path(), &task_signal("T2")).expect("write");
        let first = scan(dir.path()).expect("scan");
        assert_eq!(task_ids(&first), ["T1", "T2"]);

        acknowledge(&first.ready[0]).expect("ack");
        assert!(!first.ready[0].path.exists());
        acknowledge(&first.ready[0]).expect("ack twice");

        let second = scan(dir.path()).expect("scan");
        assert_eq!(task_ids(&second), ["T2"]);
    }

    #[test]
    fn vanished_file_is_skipped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = write_signal(dir.path(), &task_signal("T1")).expect("write");
        fs::remove_file(&path).expect("remove");
        assert_eq!(
            reject(dir.path(), &path, "sig-gone.json").expect("reject"),
            None
        );
    }
}
