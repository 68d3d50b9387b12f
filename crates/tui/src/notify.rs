//! Getting the user's attention when an execution finishes or something
//! needs them: the terminal bell, and a desktop notification through
//! `notify-send` where it is installed. Never blocks the UI: the
//! notifier process is reaped on its own thread.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Desktop notifications closer together than this are dropped (the bell
/// still rings).
const MIN_GAP: Duration = Duration::from_secs(2);

pub struct Notifier {
    notify_send: Option<PathBuf>,
    last_desktop: Option<Instant>,
}

/// `name` in a `PATH`-style list of folders.
fn find_in_path(name: &str, path: Option<&std::ffi::OsStr>) -> Option<PathBuf> {
    std::env::split_paths(path?)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

impl Notifier {
    /// Looks for `notify-send` once (unless `ENKI_NO_DESKTOP_NOTIFY` is set).
    pub fn new() -> Notifier {
        let notify_send = if std::env::var_os("ENKI_NO_DESKTOP_NOTIFY").is_some() {
            None
        } else {
            find_in_path("notify-send", std::env::var_os("PATH").as_deref())
        };
        Notifier {
            notify_send,
            last_desktop: None,
        }
    }

    /// Rings the bell on `terminal` and shows a desktop notification.
    pub fn notify(&mut self, terminal: &mut impl Write, title: &str, body: &str) {
        let _ = terminal.write_all(b"\x07");
        let _ = terminal.flush();
        let Some(program) = &self.notify_send else {
            return;
        };
        if self.last_desktop.is_some_and(|t| t.elapsed() < MIN_GAP) {
            return;
        }
        self.last_desktop = Some(Instant::now());
        let spawned = Command::new(program)
            .args(["--app-name=enki", title, body])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        if let Ok(mut child) = spawned {
            std::thread::spawn(move || {
                let _ = child.wait();
            });
        }
    }
}

impl Default for Notifier {
    fn default() -> Self {
        Notifier::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_executables_on_a_path_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let tool = dir.path().join("notify-send");
        std::fs::write(&tool, "#!/bin/sh\n").unwrap();
        assert_eq!(
            find_in_path("notify-send", Some(dir.path().as_os_str())),
            None
        );
        std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(
            find_in_path("notify-send", Some(dir.path().as_os_str())),
            Some(tool)
        );
        assert_eq!(find_in_path("notify-send", None), None);
    }

    #[test]
    fn the_bell_rings_without_a_desktop() {
        let mut notifier = Notifier {
            notify_send: None,
            last_desktop: None,
        };
        let mut out = Vec::new();
        notifier.notify(&mut out, "t", "b");
        assert_eq!(out, b"\x07");
    }
}
