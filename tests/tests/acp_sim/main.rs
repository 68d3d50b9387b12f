//! The ACP client (`enki-acp`) driving the real `enki sim-agent` binary:
//! the full handshake, a prompt whose tool calls go through a real
//! `enki mcp` server into the project's database, cancelling a turn,
//! permission requests allowed and denied, fs requests inside and outside
//! the session's cwd, and every fault mode of the issue (missing agent,
//! agent exiting at once, garbage, no answer to `initialize`, a response to
//! an unknown id, crash and exit mid-turn, a failed turn).
//!
//! The sim confines its own file steps to its cwd, so it never asks the
//! client for a path outside it; the client's refusal of such paths is
//! tested against a tiny `/bin/sh` fake agent instead.
//!
//! Synchronisation is by protocol (events and answers); every wait has a
//! timeout as a safety net only.
//!
//! This file holds the fixtures the groups below share.
// An integration test: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod continuation;
mod faults;
mod fs;
mod permissions;
mod session;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use enki_acp::{
    AcpClient, AcpError, AgentCommand, AgentEvent, ClientOptions, McpServer, PermissionPolicy,
    SessionUpdate, StopReason,
};
use enki_tests::{TestHome, enki_bin};
use tokio::sync::mpsc::UnboundedReceiver;

/// Safety net for every wait; never reached when things work.
const SAFETY: Duration = Duration::from_secs(30);

async fn within<F: Future>(what: &str, future: F) -> F::Output {
    tokio::time::timeout(SAFETY, future)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

/// A scripts dir for the sim, and a work dir whose `copy/` is the agent's
/// (and the session's) cwd, so that `../` has somewhere to point.
struct Fixture {
    scripts: tempfile::TempDir,
    work: tempfile::TempDir,
    home: TestHome,
}

impl Fixture {
    fn new(scripts: &[(&str, &str)]) -> Fixture {
        let fixture = Fixture {
            scripts: tempfile::tempdir().unwrap(),
            work: tempfile::tempdir().unwrap(),
            home: TestHome::new(),
        };
        std::fs::create_dir(fixture.work.path().join("copy")).unwrap();
        for (name, text) in scripts {
            std::fs::write(fixture.scripts.path().join(name), text).unwrap();
        }
        fixture
    }

    /// The agent's and the session's cwd (canonical).
    fn cwd(&self) -> PathBuf {
        self.work.path().join("copy").canonicalize().unwrap()
    }

    /// A path next to the cwd (outside it).
    fn outside(&self, name: &str) -> PathBuf {
        self.cwd().parent().unwrap().join(name)
    }

    fn log(&self) -> PathBuf {
        self.work.path().join("logs/sim.log")
    }

    /// `enki sim-agent --scripts-dir <scripts> <extra>`.
    fn sim(&self, extra: &[&str]) -> AgentCommand {
        let mut args = vec![
            "sim-agent".to_string(),
            "--scripts-dir".to_string(),
            self.scripts.path().display().to_string(),
        ];
        args.extend(extra.iter().map(|a| a.to_string()));
        AgentCommand {
            program: enki_bin().display().to_string(),
            args,
            // Hermetic: the sim and the `enki mcp` servers it starts see
            // the test's own home and no inherited ENKI_* variable.
            env: self.home.clean_env(),
            clear_env: true,
            cwd: self.cwd(),
            stderr_log: Some(self.log()),
            sandbox: None,
        }
    }

    /// A `/bin/sh` fake agent (run as `/bin/sh <file>`, never exec'd).
    fn fake(&self, name: &str, body: &str) -> AgentCommand {
        let script = self.work.path().join(name);
        std::fs::write(&script, format!("{SH_PRELUDE}\n{body}")).unwrap();
        AgentCommand {
            program: "/bin/sh".into(),
            args: vec![script.display().to_string()],
            cwd: self.cwd(),
            ..AgentCommand::default()
        }
    }
}

/// Helpers every `/bin/sh` fake agent starts with. Our request ids are
/// plain numbers; `idof` extracts them.
const SH_PRELUDE: &str = r#"
reply() { printf '{"jsonrpc":"2.0","id":%s,"result":%s}\n' "$1" "$2"; }
idof() { printf '%s\n' "$1" | sed -n 's/.*"id":\([0-9][0-9]*\).*/\1/p'; }
ask() { printf '%s\n' "$1"; IFS= read -r answer; printf '%s\n' "$answer" >> ../replies.log; }
"#;

fn options(permission: Arc<dyn PermissionPolicy>) -> ClientOptions {
    ClientOptions {
        request_timeout: SAFETY,
        shutdown_grace: Duration::from_secs(5),
        permission,
        ..ClientOptions::default()
    }
}

/// A sim agent after `initialize` and `session/new` in the fixture's cwd.
struct Sim {
    client: AcpClient,
    events: UnboundedReceiver<AgentEvent>,
    session: String,
}

impl Sim {
    async fn start(fixture: &Fixture, permission: Arc<dyn PermissionPolicy>) -> Sim {
        Sim::start_with(fixture, permission, &[]).await
    }

    async fn start_with(
        fixture: &Fixture,
        permission: Arc<dyn PermissionPolicy>,
        servers: &[McpServer],
    ) -> Sim {
        let (client, events) = AcpClient::spawn(fixture.sim(&[]), options(permission))
            .await
            .expect("spawn enki sim-agent");
        let init = within("initialize", client.initialize()).await.unwrap();
        assert_eq!(init.protocol_version, 1);
        let session = within("session/new", client.new_session(&fixture.cwd(), servers))
            .await
            .unwrap();
        Sim {
            client,
            events,
            session,
        }
    }

    async fn prompt(&self, text: &str) -> Result<StopReason, AcpError> {
        within(
            &format!("the turn of {text:?}"),
            self.client.prompt(&self.session, text),
        )
        .await
    }

    /// The events received so far (the whole turn once `prompt` returned:
    /// updates are read before the response that ends the turn).
    fn drain(&mut self) -> Vec<AgentEvent> {
        std::iter::from_fn(|| self.events.try_recv().ok()).collect()
    }

    async fn next_event(&mut self) -> AgentEvent {
        next_event(&mut self.events).await
    }

    /// Shuts the agent down (it exits 0 at EOF) and returns the remaining
    /// events, `Exited` last.
    async fn finish(mut self) -> Vec<AgentEvent> {
        let status = within("shutdown", self.client.shutdown())
            .await
            .expect("exit status");
        assert_eq!(status.code(), Some(0), "{status:?}");
        events_until_exit(&mut self.events).await
    }
}

async fn next_event(events: &mut UnboundedReceiver<AgentEvent>) -> AgentEvent {
    within("an event", events.recv())
        .await
        .expect("event channel closed")
}

/// Every event up to and including `Exited`.
async fn events_until_exit(events: &mut UnboundedReceiver<AgentEvent>) -> Vec<AgentEvent> {
    let mut all = Vec::new();
    loop {
        let event = next_event(events).await;
        let done = matches!(event, AgentEvent::Exited { .. });
        all.push(event);
        if done {
            return all;
        }
    }
}

/// The concatenated agent message chunks.
fn message_text(events: &[AgentEvent]) -> String {
    events
        .iter()
        .filter_map(|e| match e {
            AgentEvent::Update {
                update: SessionUpdate::AgentMessageChunk { text },
                ..
            } => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

/// A compact description of the events, in order; consecutive message
/// chunks count once (the sim splits long text into a few chunks).
fn trace(events: &[AgentEvent]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for event in events {
        let allowed = |a: bool| if a { "allowed" } else { "refused" };
        let item = match event {
            AgentEvent::Update { update, .. } => match update {
                SessionUpdate::AgentMessageChunk { .. } => "message".to_string(),
                SessionUpdate::ToolCall { title, .. } => format!("tool_call {title}"),
                SessionUpdate::ToolCallUpdate { status, .. } => {
                    format!("tool_update {}", status.as_deref().unwrap_or("?"))
                }
                other => format!("update {}", other.kind()),
            },
            AgentEvent::PermissionAsked { .. } => "permission asked".to_string(),
            AgentEvent::Permission { decision, .. } => format!("permission {decision}"),
            AgentEvent::FsRead { allowed: a, .. } => format!("fs_read {}", allowed(*a)),
            AgentEvent::FsWrite { allowed: a, .. } => format!("fs_write {}", allowed(*a)),
            AgentEvent::ProtocolError(_) => "protocol_error".to_string(),
            AgentEvent::AuthStatus(status) => format!("auth_status {}", status.kind),
            AgentEvent::TurnUsage { .. } => "turn_usage".to_string(),
            AgentEvent::Exited { .. } => "exited".to_string(),
        };
        if item == "message" && out.last().is_some_and(|last| last == "message") {
            continue;
        }
        out.push(item);
    }
    out
}

fn pid_exists(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}
