//! Desktop notifications: the terminal's own escape where the terminal is
//! known to show it (OSC 777 or OSC 9), else `notify-send`. The notifier
//! process is reaped on its own thread so the caller never waits.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use enki_config::DesktopNotify;

use crate::coalesce::Note;

/// Which terminal escape shows a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Osc {
    /// `OSC 777;notify;TITLE;BODY` (VTE terminals, foot, WezTerm, Ghostty, urxvt).
    Notify777,
    /// `OSC 9;TEXT` (iTerm2, Windows Terminal, kitty).
    Nine,
}

/// Where a desktop notification goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Desktop {
    Osc(Osc),
    NotifySend(PathBuf),
    Off,
}

/// What the environment tells about the terminal (read once, passed in so
/// tests choose it).
#[derive(Debug, Clone, Default)]
pub struct TerminalEnv {
    pub term: Option<String>,
    pub term_program: Option<String>,
    pub vte_version: Option<String>,
    pub wt_session: Option<String>,
    /// Inside tmux or screen an escape needs passthrough that may be off.
    pub multiplexed: bool,
    pub path: Option<std::ffi::OsString>,
    /// `ENKI_NO_DESKTOP_NOTIFY` is set (the tests' switch).
    pub disabled: bool,
}

impl TerminalEnv {
    pub fn from_process() -> TerminalEnv {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        TerminalEnv {
            term: var("TERM"),
            term_program: var("TERM_PROGRAM"),
            vte_version: var("VTE_VERSION"),
            wt_session: var("WT_SESSION"),
            multiplexed: var("TMUX").is_some() || var("STY").is_some(),
            path: std::env::var_os("PATH"),
            disabled: std::env::var_os("ENKI_NO_DESKTOP_NOTIFY").is_some(),
        }
    }

    /// The escape this terminal shows, if it is one known to.
    fn osc(&self) -> Option<Osc> {
        if self.multiplexed {
            return None;
        }
        let program = self.term_program.as_deref().unwrap_or_default();
        let term = self.term.as_deref().unwrap_or_default();
        match program {
            "iTerm.app" => return Some(Osc::Nine),
            "WezTerm" | "ghostty" => return Some(Osc::Notify777),
            _ => {}
        }
        if self.wt_session.is_some() || term == "xterm-kitty" {
            return Some(Osc::Nine);
        }
        if self.vte_version.is_some() || term.starts_with("foot") || term.starts_with("rxvt") {
            return Some(Osc::Notify777);
        }
        None
    }
}

/// Chooses where desktop notifications go for `wanted`.
pub fn choose(wanted: DesktopNotify, env: &TerminalEnv) -> Desktop {
    if env.disabled {
        return Desktop::Off;
    }
    let notify_send = || find_in_path("notify-send", env.path.as_deref());
    match wanted {
        DesktopNotify::Off => Desktop::Off,
        DesktopNotify::Osc => Desktop::Osc(env.osc().unwrap_or(Osc::Notify777)),
        DesktopNotify::NotifySend => notify_send().map_or(Desktop::Off, Desktop::NotifySend),
        DesktopNotify::Auto => env
            .osc()
            .map(Desktop::Osc)
            .or_else(|| notify_send().map(Desktop::NotifySend))
            .unwrap_or(Desktop::Off),
    }
}

/// The escape sequence for `note`: control characters (which would end or
/// forge the sequence) become spaces, and `;` in a 777 title too.
pub fn osc_sequence(osc: Osc, note: &Note) -> String {
    let clean = |text: &str, semicolons: bool| -> String {
        text.chars()
            .map(|c| {
                if c.is_control() || (semicolons && c == ';') {
                    ' '
                } else {
                    c
                }
            })
            .collect()
    };
    match osc {
        Osc::Notify777 => format!(
            "\x1b]777;notify;{};{}\x07",
            clean(&note.title, true),
            clean(&note.body, false)
        ),
        Osc::Nine => format!(
            "\x1b]9;{}: {}\x07",
            clean(&note.title, false),
            clean(&note.body, false)
        ),
    }
}

/// Shows `note` on `desktop`; an escape is written to `terminal`.
pub fn show(desktop: &Desktop, terminal: &mut impl Write, note: &Note) {
    match desktop {
        Desktop::Off => {}
        Desktop::Osc(osc) => {
            let _ = terminal.write_all(osc_sequence(*osc, note).as_bytes());
            let _ = terminal.flush();
        }
        Desktop::NotifySend(program) => {
            let spawned = Command::new(program)
                .args(["--app-name=enki", &note.title, &note.body])
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
            Some(tool.clone())
        );
        assert_eq!(find_in_path("notify-send", None), None);

        // auto: the terminal's escape first, notify-send otherwise.
        let mut env = TerminalEnv {
            path: Some(dir.path().as_os_str().to_owned()),
            ..TerminalEnv::default()
        };
        assert_eq!(choose(DesktopNotify::Auto, &env), Desktop::NotifySend(tool));
        env.vte_version = Some("7600".into());
        assert_eq!(
            choose(DesktopNotify::Auto, &env),
            Desktop::Osc(Osc::Notify777)
        );
        env.multiplexed = true;
        assert!(matches!(
            choose(DesktopNotify::Auto, &env),
            Desktop::NotifySend(_)
        ));
        assert_eq!(choose(DesktopNotify::Off, &env), Desktop::Off);
        env.disabled = true;
        assert_eq!(choose(DesktopNotify::Osc, &env), Desktop::Off);
    }

    #[test]
    fn known_terminals_get_their_escape() {
        let env = |program: &str, term: &str| TerminalEnv {
            term_program: Some(program.into()),
            term: Some(term.into()),
            ..TerminalEnv::default()
        };
        assert_eq!(env("iTerm.app", "xterm-256color").osc(), Some(Osc::Nine));
        assert_eq!(env("WezTerm", "xterm").osc(), Some(Osc::Notify777));
        assert_eq!(env("", "xterm-kitty").osc(), Some(Osc::Nine));
        assert_eq!(env("", "foot").osc(), Some(Osc::Notify777));
        assert_eq!(env("", "xterm-256color").osc(), None);
        assert_eq!(
            choose(DesktopNotify::Osc, &env("", "xterm")),
            Desktop::Osc(Osc::Notify777)
        );
    }

    #[test]
    fn escapes_cannot_be_ended_or_forged_by_the_text() {
        let note = Note {
            title: "enki; done\x07".into(),
            body: "a\x1b]0;evil\x07b\nc".into(),
            urgent: false,
        };
        assert_eq!(
            osc_sequence(Osc::Notify777, &note),
            "\x1b]777;notify;enki  done ;a ]0;evil b c\x07"
        );
        assert_eq!(
            osc_sequence(Osc::Nine, &note),
            "\x1b]9;enki; done : a ]0;evil b c\x07"
        );
    }
}
