//! `[notify]` (how enki gets the person's attention when a run finishes,
//! fails or needs them) and `[tui]` (how the TUI draws): each section's file
//! shape, its check and its resolved value.

use serde::{Deserialize, Serialize};

/// `[notify]`, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyConfig {
    /// Ring the terminal bell.
    pub bell: bool,
    pub desktop: DesktopNotify,
    /// `http://host[:port]/path` that gets a JSON POST per notification.
    pub webhook: Option<String>,
    pub webhook_timeout_secs: u64,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            bell: true,
            desktop: DesktopNotify::Auto,
            webhook: None,
            webhook_timeout_secs: 5,
        }
    }
}

/// How desktop notifications are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DesktopNotify {
    /// The terminal's own escape (OSC 777 or 9) where the terminal is known
    /// to show it, else `notify-send` when installed, else nothing.
    #[default]
    Auto,
    /// Always the terminal escape.
    Osc,
    /// Always `notify-send`.
    NotifySend,
    Off,
}

/// `[tui]`, resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TuiConfig {
    pub glyphs: Glyphs,
}

/// Which symbols the TUI draws: fonts without the rarer ones (⚿, ⛙) get
/// ASCII stand-ins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Glyphs {
    #[default]
    Unicode,
    Ascii,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default, expecting = "a table")]
pub(crate) struct FileNotify {
    pub bell: Option<bool>,
    pub desktop: Option<DesktopNotify>,
    pub webhook: Option<String>,
    pub webhook_timeout_secs: Option<u64>,
}

impl FileNotify {
    /// Why the webhook cannot be used, if it cannot: only plain `http://`
    /// with a host is sent (enki carries no TLS stack); an empty string
    /// clears a webhook set by an earlier file.
    pub(crate) fn webhook_problem(&self) -> Option<String> {
        let url = self.webhook.as_deref()?.trim();
        if url.is_empty() {
            return None;
        }
        let Some(rest) = url.strip_prefix("http://") else {
            return Some(format!(
                "'{url}' is not an http:// address (https is not supported: point it at a local relay)"
            ));
        };
        let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if host.is_empty() {
            return Some(format!("'{url}' names no host"));
        }
        None
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default, expecting = "a table")]
pub(crate) struct FileTui {
    pub glyphs: Option<Glyphs>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn webhook(url: &str) -> Option<String> {
        FileNotify {
            webhook: Some(url.to_string()),
            ..FileNotify::default()
        }
        .webhook_problem()
    }

    #[test]
    fn files_cascade_and_bad_values_name_their_key() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home.toml");
        let project = dir.path().join("project.toml");
        std::fs::write(
            &home,
            "[notify]\nwebhook = \"http://127.0.0.1:9/h\"\ndesktop = \"osc\"\n[tui]\nglyphs = \"ascii\"\n",
        )
        .unwrap();
        std::fs::write(&project, "[notify]\nwebhook = \"\"\nbell = false\n").unwrap();
        let config = crate::Config::load_files(&[home, project.clone()]).unwrap();
        assert_eq!(
            config.notify,
            NotifyConfig {
                bell: false,
                desktop: DesktopNotify::Osc,
                webhook: None,
                webhook_timeout_secs: 5,
            }
        );
        assert_eq!(config.tui.glyphs, Glyphs::Ascii);

        std::fs::write(&project, "[notify]\nwebhook = \"https://x/y\"\n").unwrap();
        let err = crate::Config::load_files(std::slice::from_ref(&project)).unwrap_err();
        assert_eq!(err.key.as_deref(), Some("notify.webhook"), "{err}");
        assert_eq!(err.line, Some(2), "{err}");
        std::fs::write(&project, "[tui]\nglyphs = \"emoji\"\n").unwrap();
        let err = crate::Config::load_files(&[project]).unwrap_err();
        assert_eq!(err.key.as_deref(), Some("tui.glyphs"), "{err}");
    }

    #[test]
    fn only_plain_http_webhooks_with_a_host_are_taken() {
        assert_eq!(webhook("http://127.0.0.1:9000/hook"), None);
        assert_eq!(webhook("http://relay"), None);
        assert_eq!(webhook(""), None, "empty clears");
        assert!(
            webhook("https://hooks.example.com/x")
                .unwrap()
                .contains("https")
        );
        assert!(webhook("ftp://x").unwrap().contains("not an http://"));
        assert!(webhook("http:///path").unwrap().contains("no host"));
    }
}
