//! The client against fake agents written as small `/bin/sh` scripts.
//!
//! Scripts are run as `/bin/sh <file>` (never exec'd directly, so no
//! "text file busy" race with other tests writing scripts). Our request ids
//! come from an allocator starting at 1, so scripts extract them with `sed`.
//! Synchronisation is by protocol (the script answers after doing its part);
//! timeouts are safety nets only.
//!
//! One test binary: this file holds the fixture and helpers; each
//! submodule covers one side of the client.
// An integration test: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use enki_acp::{AgentCommand, AgentEvent, ClientOptions};
use tokio::sync::mpsc::UnboundedReceiver;

mod agent_requests;
mod failures;
mod handshake;
mod modes;
mod process;

const SAFETY: Duration = Duration::from_secs(20);

/// Shell helpers every fake agent starts with.
const PRELUDE: &str = r#"
reply() { printf '{"jsonrpc":"2.0","id":%s,"result":%s}\n' "$1" "$2"; }
idof() { printf '%s\n' "$1" | sed -n 's/.*"id":\([0-9][0-9]*\).*/\1/p'; }
update() { printf '{"jsonrpc":"2.0","method":"session/update","params":{"sessionId":"sess-1","update":%s}}\n' "$1"; }
INIT='{"protocolVersion":1,"agentCapabilities":{"loadSession":false,"_meta":{"x":1}},"authMethods":[{"id":"key","name":"API key","description":"use a key"},{"id":"oauth","name":"Login"}],"_meta":{"v":2}}'
"#;

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("copy")).unwrap();
        Fixture { dir }
    }

    /// The agent's cwd (and the session cwd).
    fn cwd(&self) -> PathBuf {
        self.dir.path().join("copy")
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn agent(&self, name: &str, body: &str) -> AgentCommand {
        let script = self.path(name);
        std::fs::write(&script, format!("{PRELUDE}\n{body}")).unwrap();
        AgentCommand {
            program: "/bin/sh".into(),
            args: vec![script.to_str().unwrap().into()],
            cwd: self.cwd(),
            ..AgentCommand::default()
        }
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name)).unwrap_or_default()
    }
}

fn options() -> ClientOptions {
    ClientOptions {
        request_timeout: SAFETY,
        shutdown_grace: Duration::from_secs(5),
        ..ClientOptions::default()
    }
}

async fn next_event(events: &mut UnboundedReceiver<AgentEvent>) -> AgentEvent {
    tokio::time::timeout(SAFETY, events.recv())
        .await
        .expect("no event in time")
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

fn drain(events: &mut UnboundedReceiver<AgentEvent>) -> Vec<AgentEvent> {
    std::iter::from_fn(|| events.try_recv().ok()).collect()
}

/// Waits (polling; bounded) until `done` holds.
async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < SAFETY, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A well-behaved agent: answers the handshake and a prompt (with one
/// update of every kind), and logs what it receives to `../received.log`.
const HAPPY: &str = r#"
while IFS= read -r line; do
  printf '%s\n' "$line" >> ../received.log
  id=$(idof "$line")
  case "$line" in
    *'"method":"initialize"'*) reply "$id" "$INIT" ;;
    *'"method":"authenticate"'*) reply "$id" '{}' ;;
    *'"method":"session/new"'*) reply "$id" '{"sessionId":"sess-1","modes":null}' ;;
    *'"method":"session/prompt"'*)
      update '{"sessionUpdate":"user_message_chunk","content":{"type":"text","text":"echo"}}'
      update '{"sessionUpdate":"agent_thought_chunk","content":{"type":"text","text":"thinking"}}'
      update '{"sessionUpdate":"agent_message_chunk","content":{"type":"text","text":"Hello","_meta":{}},"_meta":{"a":1}}'
      update '{"sessionUpdate":"tool_call","toolCallId":"c1","title":"Read a","kind":"read","status":"pending","content":[],"locations":[{"path":"/x"}],"rawInput":{"p":1}}'
      update '{"sessionUpdate":"tool_call_update","toolCallId":"c1","status":"completed","rawOutput":{"ok":true}}'
      update '{"sessionUpdate":"plan","entries":[{"content":"step one","priority":"high","status":"in_progress"}]}'
      update '{"sessionUpdate":"available_commands_update","availableCommands":[]}'
      printf '%s\n' '{"jsonrpc":"2.0","method":"_vendor/notice","params":{"x":1}}'
      reply "$id" '{"stopReason":"end_turn","_meta":{}}' ;;
  esac
done
echo "stdin closed, bye" >&2
"#;

fn pid_exists(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}
