//! Getting the person's attention when a run finishes, fails or needs them,
//! for both front ends (the TUI and `enki run`): the terminal bell, a
//! desktop notification (the terminal's escape or `notify-send`) and an
//! optional webhook, each set in `[notify]`. Nothing here blocks the
//! caller, and nothing is dropped: notes that come too close together are
//! merged ([`Coalescer`]); [`Notifier::finish`] sends what is held before
//! the process ends.

mod coalesce;
mod desktop;
mod webhook;

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use enki_config::NotifyConfig;

pub use coalesce::{Coalescer, MIN_GAP, Note};
pub use desktop::{Desktop, Osc, TerminalEnv};
use webhook::{Target, Webhook};

pub struct Notifier {
    bell: bool,
    desktop: Desktop,
    webhook: Option<Webhook>,
    coalescer: Coalescer,
}

impl Notifier {
    /// As `config` says, for the terminal `env` describes, about the
    /// project at `project`.
    pub fn new(config: &NotifyConfig, env: &TerminalEnv, project: &Path) -> Notifier {
        let webhook = config
            .webhook
            .as_deref()
            .and_then(Target::parse)
            .map(|target| {
                Webhook::new(
                    target,
                    Duration::from_secs(config.webhook_timeout_secs.max(1)),
                    project.display().to_string(),
                )
            });
        Notifier {
            bell: config.bell,
            desktop: desktop::choose(config.desktop, env),
            webhook,
            coalescer: Coalescer::new(MIN_GAP),
        }
    }

    /// Where desktop notifications go (for doctor and tests).
    pub fn desktop(&self) -> &Desktop {
        &self.desktop
    }

    /// Rings the bell on `terminal` (every time) and shows the note on the
    /// desktop and the webhook, now or merged with others a little later
    /// (see [`Notifier::flush`]); `urgent` (it needs an answer) never waits.
    pub fn notify(&mut self, terminal: &mut impl Write, title: &str, body: &str, urgent: bool) {
        if self.bell {
            let _ = terminal.write_all(b"\x07");
            let _ = terminal.flush();
        }
        if self.desktop == Desktop::Off && self.webhook.is_none() {
            return;
        }
        let note = Note {
            title: title.to_string(),
            body: body.to_string(),
            urgent,
        };
        if let Some(note) = self.coalescer.push(Instant::now(), note) {
            self.show(terminal, &note);
        }
    }

    /// When held notes are due ([`Notifier::flush`] then).
    pub fn due(&self) -> Option<Instant> {
        self.coalescer.due()
    }

    /// Shows held notes whose time has come.
    pub fn flush(&mut self, terminal: &mut impl Write) {
        if let Some(note) = self.coalescer.poll(Instant::now()) {
            self.show(terminal, &note);
        }
    }

    /// Shows everything held, whatever the gap, and waits for the webhook
    /// (each request bounded by its timeout): before the process ends.
    pub fn finish(&mut self, terminal: &mut impl Write) {
        if let Some(note) = self.coalescer.poll_now() {
            self.show(terminal, &note);
        }
        if let Some(webhook) = &self.webhook {
            webhook.finish();
        }
    }

    fn show(&self, terminal: &mut impl Write, note: &Note) {
        desktop::show(&self.desktop, terminal, note);
        if let Some(webhook) = &self.webhook {
            webhook.send(note.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use enki_config::DesktopNotify;

    use super::*;

    fn notifier(config: NotifyConfig, env: TerminalEnv) -> Notifier {
        Notifier::new(&config, &env, Path::new("/p"))
    }

    #[test]
    fn the_bell_rings_without_a_desktop() {
        let mut n = notifier(NotifyConfig::default(), TerminalEnv::default());
        assert_eq!(n.desktop(), &Desktop::Off);
        let mut out = Vec::new();
        n.notify(&mut out, "t", "b", false);
        assert_eq!(out, b"\x07");
        assert_eq!(n.due(), None);
    }

    #[test]
    fn each_channel_follows_its_setting() {
        let env = TerminalEnv {
            vte_version: Some("7600".into()),
            ..TerminalEnv::default()
        };
        let mut quiet = notifier(
            NotifyConfig {
                bell: false,
                ..NotifyConfig::default()
            },
            env.clone(),
        );
        let mut out = Vec::new();
        quiet.notify(&mut out, "enki: done", "all 3 steps", false);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\x1b]777;notify;enki: done;all 3 steps\x07",
            "no bell, the escape"
        );
        // Within the gap: held, then shown by finish.
        let mut out = Vec::new();
        quiet.notify(&mut out, "enki: failed", "step x", false);
        assert!(out.is_empty());
        quiet.finish(&mut out);
        assert!(String::from_utf8(out).unwrap().contains("enki: failed"));

        let mut off = notifier(
            NotifyConfig {
                desktop: DesktopNotify::Off,
                ..NotifyConfig::default()
            },
            env,
        );
        let mut out = Vec::new();
        off.notify(&mut out, "enki: done", "x", true);
        assert_eq!(out, b"\x07");
    }
}
