//! The shape of one `enki.toml` file: every field optional, unknown keys
//! rejected. Parsing turns every problem into a [`ConfigError`] with the
//! file, line and dotted key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use enki_core::role::line_of_offset;
use serde::Deserialize;
use toml::de::DeTable;

use crate::command::split_command;
use crate::config::{PermissionPolicyName, SandboxMode};
use crate::env::{ENKI_VARS, REMOVED_VARS};
use crate::error::ConfigError;
use crate::locate::{key_path_at, unknown_field, value_span};
use crate::notify::{FileNotify, FileTui};
use enki_sandbox::Network;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default, expecting = "a table")]
pub(crate) struct FileConfig {
    pub workers: FileWorkers,
    pub agent: FileAgent,
    pub git: FileGit,
    pub merge: FileMerge,
    pub permissions: FilePermissions,
    pub sim: FileSim,
    pub mcp: FileMcp,
    pub sandbox: FileSandbox,
    pub notify: FileNotify,
    pub tui: FileTui,
    pub budget: crate::spend::FileBudget,
    pub prices: BTreeMap<String, crate::spend::FilePrice>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default, expecting = "a table")]
pub(crate) struct FileWorkers {
    pub max_workers: Option<usize>,
    pub max_light: Option<usize>,
    pub max_standard: Option<usize>,
    pub max_heavy: Option<usize>,
    pub retries: Option<u32>,
    pub stall_timeout_secs: Option<u64>,
    pub api_retry_limit_secs: Option<u64>,
    pub limit_backoff_secs: Option<u64>,
    pub limit_backoff_max_secs: Option<u64>,
    pub copy_ignored: Option<crate::config::CopyIgnored>,
    pub include: Option<Vec<String>>,
    pub setup: Option<String>,
    pub setup_timeout_secs: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default, expecting = "a table")]
pub(crate) struct FileAgent {
    pub command: Option<String>,
    pub args: Option<Vec<String>>,
    pub env: BTreeMap<String, String>,
    pub auth_method: Option<String>,
    pub init_timeout_secs: Option<u64>,
    pub coordinator: FileCoordinatorSpec,
    pub worker: FileAgentSpec,
    pub merger: FileAgentSpec,
    pub light: FileAgentSpec,
    pub standard: FileAgentSpec,
    pub heavy: FileAgentSpec,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default, expecting = "a table")]
pub(crate) struct FileAgentSpec {
    pub command: Option<String>,
    pub args: Option<Vec<String>>,
    pub env: BTreeMap<String, String>,
}

/// `[agent.coordinator]`: the keys of every role, and the planner's turn limit.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default, expecting = "a table")]
pub(crate) struct FileCoordinatorSpec {
    pub command: Option<String>,
    pub args: Option<Vec<String>>,
    pub env: BTreeMap<String, String>,
    pub turn_timeout_secs: Option<u64>,
}

impl FileCoordinatorSpec {
    /// The keys it shares with every other role.
    pub(crate) fn agent_spec(self) -> FileAgentSpec {
        FileAgentSpec {
            command: self.command,
            args: self.args,
            env: self.env,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default, expecting = "a table")]
pub(crate) struct FileGit {
    pub commit_suffix: Option<String>,
    pub base_branch: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default, expecting = "a table")]
pub(crate) struct FileMerge {
    pub verify: Option<String>,
    pub verify_timeout_secs: Option<u64>,
    pub resolve_timeout_secs: Option<u64>,
    pub review: Option<enki_core::ReviewMode>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default, expecting = "a table")]
pub(crate) struct FilePermissions {
    pub policy: Option<PermissionPolicyName>,
    pub agent_decides: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default, expecting = "a table")]
pub(crate) struct FileSandbox {
    pub mode: Option<SandboxMode>,
    /// Checked by hand, to name what is expected.
    pub network: Option<String>,
    pub writable: Option<Vec<PathBuf>>,
    pub loopback_ports: Option<Vec<u16>>,
}

impl FileSandbox {
    pub(crate) fn network(&self) -> Result<Option<Network>, String> {
        match self.network.as_deref() {
            None => Ok(None),
            Some("any") => Ok(Some(Network::Any)),
            Some("none") => Ok(Some(Network::None)),
            Some("loopback") => Ok(Some(Network::Loopback)),
            Some(other) => Err(format!(
                "unknown network '{other}' (expected any, loopback or none)"
            )),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default, expecting = "a table")]
pub(crate) struct FileSim {
    pub scripts: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default, expecting = "a table")]
pub(crate) struct FileMcp {
    pub rate_limit: FileRateLimit,
    pub busy_timeout_ms: Option<u64>,
    pub traffic_log_max_bytes: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    default,
    expecting = "a table like { per_second = 20, burst = 100 }"
)]
pub(crate) struct FileRateLimit {
    pub per_second: Option<u32>,
    pub burst: Option<u32>,
}

/// Parses and validates the text of the file at `file` (used in errors).
pub(crate) fn parse_file(file: &Path, text: &str) -> Result<FileConfig, ConfigError> {
    let doc = DeTable::parse(text).map_err(|e| ConfigError {
        file: file.to_path_buf(),
        line: e.span().map(|s| line_of_offset(text, s.start)),
        key: e.span().and_then(|span| duplicate_key_path(text, span)),
        message: e.message().trim().to_string(),
    })?;
    let parsed = FileConfig::deserialize(toml::de::Deserializer::from(doc.clone()))
        .map_err(|e| deserialize_error(file, text, doc.get_ref(), &e))?;
    Checker {
        file,
        text,
        doc: doc.get_ref(),
    }
    .check(&parsed)?;
    Ok(parsed)
}

/// For a "duplicate key" error at `span` (the second occurrence of the
/// key): the dotted path of that key. Found by renaming the second
/// occurrence and parsing again, so tables, dotted keys and inline tables
/// all give their full path.
fn duplicate_key_path(text: &str, span: std::ops::Range<usize>) -> Option<String> {
    let written = text.get(span.clone())?;
    let name = unquote(written.trim());
    if name.is_empty() {
        return None;
    }
    let placeholder = (0..100)
        .map(|n| format!("enki_duplicate_key_{n}"))
        .find(|candidate| !text.contains(candidate.as_str()))?;
    let renamed = format!("{}{placeholder}{}", &text[..span.start], &text[span.end..]);
    let doc = DeTable::parse(&renamed).ok()?;
    let mut path = key_path_at(doc.get_ref(), span.start)?;
    if path.last() != Some(&placeholder) {
        return None;
    }
    path.pop();
    path.push(name.to_string());
    Some(path.join("."))
}

/// A key as written, without its quotes (escapes are left as they are).
fn unquote(key: &str) -> &str {
    for quote in ['"', '\''] {
        if let Some(inner) = key
            .strip_prefix(quote)
            .and_then(|rest| rest.strip_suffix(quote))
        {
            return inner;
        }
    }
    key
}

fn deserialize_error(
    file: &Path,
    text: &str,
    doc: &DeTable<'_>,
    e: &toml::de::Error,
) -> ConfigError {
    let offset = e.span().map(|s| s.start);
    let mut path = offset
        .and_then(|offset| key_path_at(doc, offset))
        .unwrap_or_default();
    if let Some(field) = unknown_field(e.message())
        && path.last().map(String::as_str) != Some(field)
    {
        path.push(field.to_string());
    }
    ConfigError {
        file: file.to_path_buf(),
        line: offset.map(|offset| line_of_offset(text, offset)),
        key: (!path.is_empty()).then(|| path.join(".")),
        message: e.message().trim().to_string(),
    }
}

/// Rules serde cannot express, reported at the offending value.
struct Checker<'a, 'i> {
    file: &'a Path,
    text: &'a str,
    doc: &'a DeTable<'i>,
}

impl Checker<'_, '_> {
    fn error(&self, path: &[&str], message: impl Into<String>) -> ConfigError {
        ConfigError {
            file: self.file.to_path_buf(),
            line: value_span(self.doc, path).map(|s| line_of_offset(self.text, s.start)),
            key: Some(path.join(".")),
            message: message.into(),
        }
    }

    fn at_least_one<T: PartialEq + From<u8>>(
        &self,
        value: Option<T>,
        path: &[&str],
    ) -> Result<(), ConfigError> {
        if value == Some(T::from(0)) {
            return Err(self.error(path, "must be at least 1"));
        }
        Ok(())
    }

    fn not_blank(&self, value: Option<&str>, path: &[&str]) -> Result<(), ConfigError> {
        if value.is_some_and(|v| v.trim().is_empty()) {
            return Err(self.error(path, "must not be empty"));
        }
        Ok(())
    }

    fn check(&self, f: &FileConfig) -> Result<(), ConfigError> {
        let w = &f.workers;
        self.at_least_one(w.max_workers, &["workers", "max_workers"])?;
        self.at_least_one(w.max_light, &["workers", "max_light"])?;
        self.at_least_one(w.max_standard, &["workers", "max_standard"])?;
        self.at_least_one(w.max_heavy, &["workers", "max_heavy"])?;
        self.at_least_one(w.stall_timeout_secs, &["workers", "stall_timeout_secs"])?;
        self.at_least_one(w.api_retry_limit_secs, &["workers", "api_retry_limit_secs"])?;
        self.at_least_one(w.limit_backoff_secs, &["workers", "limit_backoff_secs"])?;
        self.at_least_one(
            w.limit_backoff_max_secs,
            &["workers", "limit_backoff_max_secs"],
        )?;
        self.at_least_one(w.setup_timeout_secs, &["workers", "setup_timeout_secs"])?;
        self.not_blank(w.setup.as_deref(), &["workers", "setup"])?;
        for pattern in w.include.iter().flatten() {
            if pattern.trim().is_empty() || pattern.contains('\n') {
                return Err(self.error(
                    &["workers", "include"],
                    "each entry must be one non-empty pattern (.gitignore syntax, e.g. \".env\")",
                ));
            }
        }
        self.at_least_one(f.agent.init_timeout_secs, &["agent", "init_timeout_secs"])?;
        self.at_least_one(
            f.agent.coordinator.turn_timeout_secs,
            &["agent", "coordinator", "turn_timeout_secs"],
        )?;
        self.at_least_one(
            f.merge.verify_timeout_secs,
            &["merge", "verify_timeout_secs"],
        )?;
        self.at_least_one(
            f.merge.resolve_timeout_secs,
            &["merge", "resolve_timeout_secs"],
        )?;
        self.at_least_one(
            f.mcp.rate_limit.per_second,
            &["mcp", "rate_limit", "per_second"],
        )?;
        self.at_least_one(f.mcp.rate_limit.burst, &["mcp", "rate_limit", "burst"])?;
        self.at_least_one(f.mcp.busy_timeout_ms, &["mcp", "busy_timeout_ms"])?;
        self.at_least_one(
            f.mcp.traffic_log_max_bytes,
            &["mcp", "traffic_log_max_bytes"],
        )?;
        self.not_blank(f.agent.auth_method.as_deref(), &["agent", "auth_method"])?;
        self.not_blank(f.git.base_branch.as_deref(), &["git", "base_branch"])?;
        if f.sim
            .scripts
            .as_ref()
            .is_some_and(|p| p.as_os_str().is_empty())
        {
            return Err(self.error(&["sim", "scripts"], "must not be empty"));
        }

        f.sandbox
            .network()
            .map_err(|e| self.error(&["sandbox", "network"], e))?;
        crate::spend::check(&f.budget, &f.prices).map_err(|(path, message)| {
            let path: Vec<&str> = path.iter().map(String::as_str).collect();
            self.error(&path, message)
        })?;
        if let Some(paths) = &f.sandbox.writable
            && paths.iter().any(|p| p.as_os_str().is_empty())
        {
            return Err(self.error(&["sandbox", "writable"], "must not hold an empty path"));
        }
        if let Some(ports) = &f.sandbox.loopback_ports {
            // One more for enki's MCP server.
            let most = enki_sandbox::loopback::MAX_FORWARDED - 1;
            if ports.contains(&0) {
                return Err(self.error(
                    &["sandbox", "loopback_ports"],
                    "port 0 cannot be forwarded (name the port a host server listens on)",
                ));
            }
            if ports.len() > most {
                return Err(self.error(
                    &["sandbox", "loopback_ports"],
                    format!("{} ports; at most {most} can be forwarded", ports.len()),
                ));
            }
        }

        if let Some(problem) = f.notify.webhook_problem() {
            return Err(self.error(&["notify", "webhook"], problem));
        }
        self.at_least_one(
            f.notify.webhook_timeout_secs,
            &["notify", "webhook_timeout_secs"],
        )?;

        let a = &f.agent;
        self.agent_spec(&["agent"], a.command.as_deref(), &a.env)?;
        self.agent_spec(
            &["agent", "coordinator"],
            a.coordinator.command.as_deref(),
            &a.coordinator.env,
        )?;
        for (name, spec) in [
            ("worker", &a.worker),
            ("merger", &a.merger),
            ("light", &a.light),
            ("standard", &a.standard),
            ("heavy", &a.heavy),
        ] {
            self.agent_spec(&["agent", name], spec.command.as_deref(), &spec.env)?;
        }
        Ok(())
    }

    fn agent_spec(
        &self,
        table: &[&str],
        command: Option<&str>,
        env: &BTreeMap<String, String>,
    ) -> Result<(), ConfigError> {
        if let Some(command) = command {
            let path = [table, &["command"]].concat();
            match split_command(command) {
                Ok(words) if words.is_empty() => {
                    return Err(self.error(&path, "must not be empty"));
                }
                Ok(_) => {}
                Err(message) => return Err(self.error(&path, message)),
            }
        }
        for (name, value) in env {
            let path = [table, &["env", name.as_str()]].concat();
            if name.is_empty() || name.contains(['=', '\0']) {
                return Err(self.error(&path, "is not a valid environment variable name"));
            }
            if value.contains('\0') {
                return Err(self.error(&path, "must not contain a NUL character"));
            }
            if REMOVED_VARS.contains(&name.as_str()) {
                return Err(self.error(&path, "is never passed to agents and cannot be set"));
            }
            if ENKI_VARS.contains(&name.as_str()) {
                return Err(self.error(&path, "is set by enki for every agent and cannot be set"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "schema_tests.rs"]
mod tests;
