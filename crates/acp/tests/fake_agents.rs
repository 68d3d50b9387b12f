//! The client against fake agents written as small `/bin/sh` scripts.
//!
//! Scripts are run as `/bin/sh <file>` (never exec'd directly, so no
//! "text file busy" race with other tests writing scripts). Our request ids
//! come from an allocator starting at 1, so scripts extract them with `sed`.
//! Synchronisation is by protocol (the script answers after doing its part);
//! timeouts are safety nets only.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use enki_acp::{
    AcpClient, AcpError, AgentCommand, AgentEvent, AllowAll, ClientOptions, DenyAll, McpServerSpec,
    PermissionDecision, PermissionPolicy, PlanEntry, SessionUpdate, StopReason, WithinCwd,
};
use serde_json::{Value, json};
use tokio::sync::mpsc::UnboundedReceiver;

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

#[tokio::test]
async fn handshake_session_prompt_and_clean_shutdown() {
    let fx = Fixture::new();
    let mut command = fx.agent("happy.sh", HAPPY);
    command.stderr_log = Some(fx.path("logs/agent.log"));
    let (client, mut events) = AcpClient::spawn(command, options()).await.unwrap();
    let pid = client.pid().expect("running");

    let init = client.initialize().await.unwrap();
    assert_eq!(init.protocol_version, 1);
    assert_eq!(init.auth_methods.len(), 2);
    assert_eq!(init.auth_methods[0].id, "key");
    assert_eq!(init.auth_methods[0].name, "API key");
    assert_eq!(
        init.auth_methods[0].description.as_deref(),
        Some("use a key")
    );
    assert_eq!(init.auth_methods[1].description, None);
    assert_eq!(init.raw["agentCapabilities"]["loadSession"], false);
    client.authenticate("key").await.unwrap();

    let mcp = McpServerSpec {
        name: "enki".into(),
        command: "/usr/bin/enki".into(),
        args: vec!["mcp".into(), "--role".into(), "worker".into()],
        env: vec![
            ("ENKI_DIR".into(), "/p/.enki".into()),
            ("ENKI_SESSION_ID".into(), "sess-x".into()),
        ],
    };
    let session = client.new_session(&fx.cwd(), &[mcp]).await.unwrap();
    assert_eq!(session, "sess-1");

    let stop = client.prompt(&session, "do \"it\"\nnow").await.unwrap();
    assert_eq!(stop, StopReason::EndTurn);
    assert!(stop.is_success());
    // Every update was read before the response that ended the turn.
    let updates: Vec<SessionUpdate> = drain(&mut events)
        .into_iter()
        .map(|e| match e {
            AgentEvent::Update { session_id, update } => {
                assert_eq!(session_id, "sess-1");
                update
            }
            other => panic!("unexpected event {other:?}"),
        })
        .collect();
    assert_eq!(updates.len(), 7, "{updates:?}");
    assert_eq!(
        updates[0],
        SessionUpdate::UserMessageChunk {
            text: "echo".into()
        }
    );
    assert_eq!(
        updates[1],
        SessionUpdate::AgentThoughtChunk {
            text: "thinking".into()
        }
    );
    assert_eq!(
        updates[2],
        SessionUpdate::AgentMessageChunk {
            text: "Hello".into()
        }
    );
    assert!(
        matches!(&updates[3], SessionUpdate::ToolCall { id, title, kind: Some(kind), status: Some(status), raw }
            if id == "c1" && title == "Read a" && kind == "read" && status == "pending" && raw["rawInput"]["p"] == 1)
    );
    assert!(
        matches!(&updates[4], SessionUpdate::ToolCallUpdate { id, title: None, status: Some(status), raw }
            if id == "c1" && status == "completed" && raw["rawOutput"]["ok"] == true)
    );
    assert_eq!(
        updates[5],
        SessionUpdate::Plan {
            entries: vec![PlanEntry {
                content: "step one".into(),
                status: Some("in_progress".into()),
                priority: Some("high".into())
            }]
        }
    );
    assert!(
        matches!(&updates[6], SessionUpdate::Other { kind, .. } if kind == "available_commands_update")
    );

    client.cancel(&session).await.unwrap();
    let status = client.shutdown().await.expect("exit status");
    assert_eq!(status.code(), Some(0));
    assert_eq!(client.pid(), None);
    // Idempotent.
    assert_eq!(client.shutdown().await, Some(status));

    let rest = events_until_exit(&mut events).await;
    let [
        AgentEvent::Exited {
            status: Some(exit),
            stderr_tail,
        },
    ] = rest.as_slice()
    else {
        panic!("expected only Exited, got {rest:?}");
    };
    assert_eq!(exit.code(), Some(0));
    assert_eq!(stderr_tail, &["stdin closed, bye"]);
    assert!(
        fx.read("logs/agent.log").contains("stdin closed, bye"),
        "log: {:?}",
        fx.read("logs/agent.log")
    );
    // No process left behind.
    assert!(!pid_exists(pid));

    // What the agent received, line by line.
    let received: Vec<Value> = fx
        .read("received.log")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let methods: Vec<&str> = received
        .iter()
        .map(|m| m["method"].as_str().unwrap())
        .collect();
    assert_eq!(
        methods,
        [
            "initialize",
            "authenticate",
            "session/new",
            "session/prompt",
            "session/cancel"
        ]
    );
    assert_eq!(received[0]["id"], 1);
    assert_eq!(
        received[0]["params"],
        json!({"protocolVersion": 1, "clientCapabilities": {"fs": {"readTextFile": true, "writeTextFile": true}, "terminal": false}})
    );
    assert_eq!(received[1]["params"], json!({"methodId": "key"}));
    assert_eq!(
        received[2]["params"],
        json!({"cwd": fx.cwd(), "mcpServers": [{
            "name": "enki", "command": "/usr/bin/enki", "args": ["mcp", "--role", "worker"],
            "env": [{"name": "ENKI_DIR", "value": "/p/.enki"}, {"name": "ENKI_SESSION_ID", "value": "sess-x"}]
        }]})
    );
    assert_eq!(
        received[3]["params"],
        json!({"sessionId": "sess-1", "prompt": [{"type": "text", "text": "do \"it\"\nnow"}]})
    );
    assert_eq!(received[4]["params"], json!({"sessionId": "sess-1"}));
    assert!(received[4].get("id").is_none());
}

#[tokio::test]
async fn agent_that_exits_at_once_reports_status_and_stderr() {
    let fx = Fixture::new();
    let mut command = fx.agent(
        "dies.sh",
        "echo 'starting up' >&2\necho 'fatal: no API key configured' >&2\nexit 3\n",
    );
    command.stderr_log = Some(fx.path("agent.log"));
    let (client, mut events) = AcpClient::spawn(command, options()).await.unwrap();
    let err = client.initialize().await.unwrap_err();
    let AcpError::Exited {
        status: Some(status),
        stderr_tail,
    } = &err
    else {
        panic!("expected Exited, got {err:?}");
    };
    assert_eq!(status.code(), Some(3));
    assert_eq!(
        stderr_tail,
        &["starting up", "fatal: no API key configured"]
    );
    let text = err.to_string();
    assert!(text.contains("agent exited (status 3)"), "{text}");
    assert!(text.contains("fatal: no API key configured"), "{text}");
    assert_eq!(client.stderr_tail(), *stderr_tail);
    assert!(fx.read("agent.log").contains("fatal: no API key"));

    // Everything after that fails the same way, at once.
    assert!(matches!(
        client.new_session(&fx.cwd(), &[]).await,
        Err(AcpError::Exited { .. })
    ));
    assert!(matches!(
        client.cancel("s").await,
        Err(AcpError::Exited { .. })
    ));
    let all = events_until_exit(&mut events).await;
    assert!(
        matches!(all.as_slice(), [AgentEvent::Exited { status: Some(s), .. }] if s.code() == Some(3))
    );
    assert_eq!(client.shutdown().await.unwrap().code(), Some(3));
}

#[tokio::test]
async fn agent_dying_mid_turn_ends_the_prompt() {
    let fx = Fixture::new();
    let body = r#"
while IFS= read -r line; do
  id=$(idof "$line")
  case "$line" in
    *'"method":"initialize"'*) reply "$id" "$INIT" ;;
    *'"method":"session/new"'*) reply "$id" '{"sessionId":"sess-1"}' ;;
    *'"method":"session/prompt"'*)
      update '{"sessionUpdate":"agent_message_chunk","content":{"type":"text","text":"working"}}'
      echo "panic: out of memory" >&2
      exit 7 ;;
  esac
done
"#;
    let (client, mut events) = AcpClient::spawn(fx.agent("crash.sh", body), options())
        .await
        .unwrap();
    client.initialize().await.unwrap();
    let session = client.new_session(&fx.cwd(), &[]).await.unwrap();
    let err = client.prompt(&session, "go").await.unwrap_err();
    assert!(
        matches!(&err, AcpError::Exited { status: Some(s), stderr_tail } if s.code() == Some(7) && stderr_tail == &["panic: out of memory"]),
        "{err:?}"
    );
    let all = events_until_exit(&mut events).await;
    assert!(matches!(
        &all[0],
        AgentEvent::Update { update: SessionUpdate::AgentMessageChunk { text }, .. } if text == "working"
    ));
    assert_eq!(all.len(), 2, "{all:?}");
    client.shutdown().await;
}

#[tokio::test]
async fn silent_agent_times_out_with_stderr_tail() {
    let fx = Fixture::new();
    let body = "echo 'booting slowly' >&2\nwhile IFS= read -r line; do :; done\n";
    let mut opts = options();
    opts.request_timeout = Duration::from_millis(300);
    let (client, mut events) = AcpClient::spawn(fx.agent("silent.sh", body), opts)
        .await
        .unwrap();
    wait_until("the stderr line", || {
        client.stderr_tail() == ["booting slowly"]
    })
    .await;
    let err = client.initialize().await.unwrap_err();
    let AcpError::Timeout {
        method,
        after,
        stderr_tail,
        protocol_errors,
    } = &err
    else {
        panic!("expected Timeout, got {err:?}");
    };
    assert_eq!(method, "initialize");
    assert_eq!(*after, Duration::from_millis(300));
    assert_eq!(stderr_tail, &["booting slowly"]);
    assert!(protocol_errors.is_empty());
    assert_eq!(
        err.to_string(),
        "agent did not answer `initialize` within 300ms; stderr: booting slowly"
    );
    // The agent reads stdin, so closing it ends it.
    assert_eq!(client.shutdown().await.unwrap().code(), Some(0));
    assert!(matches!(
        events_until_exit(&mut events).await.as_slice(),
        [AgentEvent::Exited { .. }]
    ));
}

#[tokio::test]
async fn garbage_and_unknown_response_ids_are_reported_and_survived() {
    let fx = Fixture::new();
    let body = r#"
while IFS= read -r line; do
  id=$(idof "$line")
  case "$line" in
    *'"method":"initialize"'*)
      echo 'Loading model... this is not JSON'
      echo '{"jsonrpc":"2.0","id":4242,"result":{"late":true}}'
      echo '[1,2,3]'
      echo ''
      reply "$id" "$INIT" ;;
    *'"method":"session/new"'*) reply "$id" '{"sessionId":"sess-1"}' ;;
  esac
done
"#;
    let (client, mut events) = AcpClient::spawn(fx.agent("noisy.sh", body), options())
        .await
        .unwrap();
    client.initialize().await.unwrap();
    let errors: Vec<String> = drain(&mut events)
        .into_iter()
        .map(|e| match e {
            AgentEvent::ProtocolError(msg) => msg,
            other => panic!("unexpected event {other:?}"),
        })
        .collect();
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert!(errors[0].contains("Loading model"), "{}", errors[0]);
    assert!(errors[1].contains("4242"), "{}", errors[1]);
    assert!(errors[2].contains("batch"), "{}", errors[2]);
    assert_eq!(client.new_session(&fx.cwd(), &[]).await.unwrap(), "sess-1");
    assert_eq!(client.shutdown().await.unwrap().code(), Some(0));
}

/// Sends fs requests during the turn and logs our replies to ../replies.log.
const FS_AGENT: &str = r#"
ask() { printf '%s\n' "$1"; IFS= read -r answer; printf '%s\n' "$answer" >> ../replies.log; }
while IFS= read -r line; do
  id=$(idof "$line")
  case "$line" in
    *'"method":"initialize"'*) reply "$id" "$INIT" ;;
    *'"method":"session/new"'*) reply "$id" '{"sessionId":"sess-1"}' ;;
    *'"method":"session/prompt"'*)
      ask '{"jsonrpc":"2.0","id":"r1","method":"fs/read_text_file","params":{"sessionId":"sess-1","path":"'"$PWD"'/notes.txt","line":2,"limit":2,"_meta":{}}}'
      ask '{"jsonrpc":"2.0","id":"r2","method":"fs/read_text_file","params":{"sessionId":"sess-1","path":"'"$PWD"'/../secret.txt"}}'
      ask '{"jsonrpc":"2.0","id":"w1","method":"fs/write_text_file","params":{"sessionId":"sess-1","path":"'"$PWD"'/out/deep/new.txt","content":"written\nby agent"}}'
      ask '{"jsonrpc":"2.0","id":"w2","method":"fs/write_text_file","params":{"sessionId":"sess-1","path":"/tmp/../'"$PWD"'/../escape.txt","content":"nope"}}'
      ask '{"jsonrpc":"2.0","id":"w3","method":"fs/write_text_file","params":{"sessionId":"other","path":"'"$PWD"'/x.txt","content":"nope"}}'
      ask '{"jsonrpc":"2.0","id":99,"method":"terminal/create","params":{"sessionId":"sess-1","command":"ls"}}'
      reply "$id" '{"stopReason":"end_turn"}' ;;
  esac
done
"#;

#[tokio::test]
async fn fs_requests_are_served_inside_the_session_cwd_only() {
    let fx = Fixture::new();
    std::fs::write(fx.cwd().join("notes.txt"), "one\ntwo\nthree\nfour\n").unwrap();
    std::fs::write(fx.path("secret.txt"), "top secret").unwrap();
    let (client, mut events) = AcpClient::spawn(fx.agent("fs.sh", FS_AGENT), options())
        .await
        .unwrap();
    client.initialize().await.unwrap();
    let session = client.new_session(&fx.cwd(), &[]).await.unwrap();
    assert_eq!(
        client.prompt(&session, "edit").await.unwrap(),
        StopReason::EndTurn
    );

    let replies: Vec<Value> = fx
        .read("replies.log")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(replies.len(), 6, "{replies:?}");
    assert_eq!(
        replies[0],
        json!({"jsonrpc": "2.0", "id": "r1", "result": {"content": "two\nthree\n"}})
    );
    assert_eq!(replies[1]["id"], "r2");
    assert_eq!(replies[1]["error"]["code"], -32602);
    assert!(
        replies[1]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("leaves the worker's copy")
    );
    assert_eq!(
        replies[2],
        json!({"jsonrpc": "2.0", "id": "w1", "result": {}})
    );
    assert_eq!(replies[3]["error"]["code"], -32602);
    assert_eq!(replies[4]["error"]["code"], -32602);
    assert_eq!(replies[5]["id"], 99);
    assert_eq!(replies[5]["error"]["code"], -32601);

    assert_eq!(
        std::fs::read_to_string(fx.cwd().join("out/deep/new.txt")).unwrap(),
        "written\nby agent"
    );
    assert!(!fx.path("escape.txt").exists());
    assert!(!fx.cwd().join("x.txt").exists());

    let fs_events: Vec<(bool, bool, String)> = drain(&mut events)
        .into_iter()
        .map(|e| match e {
            AgentEvent::FsRead { path, allowed } => (false, allowed, path.display().to_string()),
            AgentEvent::FsWrite { path, allowed } => (true, allowed, path.display().to_string()),
            other => panic!("unexpected event {other:?}"),
        })
        .collect();
    assert_eq!(fs_events.len(), 5, "{fs_events:?}");
    let flags: Vec<(bool, bool)> = fs_events.iter().map(|(w, a, _)| (*w, *a)).collect();
    assert_eq!(
        flags,
        [
            (false, true),
            (false, false),
            (true, true),
            (true, false),
            (true, false)
        ]
    );
    assert!(fs_events[0].2.ends_with("copy/notes.txt"));
    assert!(fs_events[1].2.ends_with("copy/../secret.txt"));
    assert!(fs_events[2].2.ends_with("copy/out/deep/new.txt"));
    client.shutdown().await;
}

/// Asks permission twice during the turn (inside, then outside the cwd) and
/// logs our replies.
const PERMISSION_AGENT: &str = r#"
ask() { printf '%s\n' "$1"; IFS= read -r answer; printf '%s\n' "$answer" >> ../replies.log; }
OPTIONS='[{"optionId":"opt-allow","name":"Allow","kind":"allow_once"},{"optionId":"opt-always","name":"Always allow","kind":"allow_always"},{"optionId":"opt-reject","name":"Reject","kind":"reject_once"}]'
while IFS= read -r line; do
  id=$(idof "$line")
  case "$line" in
    *'"method":"initialize"'*) reply "$id" "$INIT" ;;
    *'"method":"session/new"'*) reply "$id" '{"sessionId":"sess-1"}' ;;
    *'"method":"session/prompt"'*)
      ask '{"jsonrpc":"2.0","id":"p1","method":"session/request_permission","params":{"sessionId":"sess-1","toolCall":{"toolCallId":"t1","title":"Edit src/main.rs","kind":"edit","locations":[{"path":"'"$PWD"'/src/main.rs","line":4}],"rawInput":{}},"options":'"$OPTIONS"',"_meta":{"k":1}}}'
      ask '{"jsonrpc":"2.0","id":"p2","method":"session/request_permission","params":{"sessionId":"sess-1","toolCall":{"toolCallId":"t2","title":"Edit /etc/passwd","kind":"edit","locations":[{"path":"/etc/passwd"}]},"options":'"$OPTIONS"'}}'
      reply "$id" '{"stopReason":"end_turn"}' ;;
  esac
done
"#;

async fn run_permission_agent(policy: Arc<dyn PermissionPolicy>) -> (Vec<Value>, Vec<AgentEvent>) {
    let fx = Fixture::new();
    let mut opts = options();
    opts.permission = policy;
    let (client, mut events) = AcpClient::spawn(fx.agent("permission.sh", PERMISSION_AGENT), opts)
        .await
        .unwrap();
    client.initialize().await.unwrap();
    let session = client.new_session(&fx.cwd(), &[]).await.unwrap();
    client.prompt(&session, "go").await.unwrap();
    client.shutdown().await;
    let replies = fx
        .read("replies.log")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (replies, drain(&mut events))
}

fn chosen(reply: &Value) -> &str {
    reply["result"]["outcome"]["optionId"].as_str().unwrap()
}

#[tokio::test]
async fn permission_requests_follow_the_policy() {
    let (replies, events) = run_permission_agent(Arc::new(WithinCwd)).await;
    assert_eq!(replies.len(), 2);
    assert_eq!(
        replies[0],
        json!({"jsonrpc": "2.0", "id": "p1", "result": {"outcome": {"outcome": "selected", "optionId": "opt-allow"}}})
    );
    assert_eq!(chosen(&replies[1]), "opt-reject");
    let decisions: Vec<(String, PermissionDecision)> = events
        .into_iter()
        .filter_map(|e| match e {
            AgentEvent::Permission {
                session_id,
                title,
                decision,
            } => {
                assert_eq!(session_id, "sess-1");
                Some((title, decision))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        decisions,
        [
            ("Edit src/main.rs".into(), PermissionDecision::AllowOnce),
            ("Edit /etc/passwd".into(), PermissionDecision::RejectOnce)
        ]
    );

    let (replies, _) = run_permission_agent(Arc::new(AllowAll)).await;
    assert_eq!(
        replies.iter().map(chosen).collect::<Vec<_>>(),
        ["opt-allow", "opt-allow"]
    );
    let (replies, _) = run_permission_agent(Arc::new(DenyAll)).await;
    assert_eq!(
        replies.iter().map(chosen).collect::<Vec<_>>(),
        ["opt-reject", "opt-reject"]
    );
}

/// Fires a permission question, an fs read and an fs write without waiting
/// for the answers, then ends the turn at once.
const EAGER_AGENT: &str = r#"
OPTIONS='[{"optionId":"yes","name":"Allow","kind":"allow_once"},{"optionId":"no","name":"Reject","kind":"reject_once"}]'
while IFS= read -r line; do
  id=$(idof "$line")
  case "$line" in
    *'"method":"initialize"'*) reply "$id" "$INIT" ;;
    *'"method":"session/new"'*) reply "$id" '{"sessionId":"sess-1"}' ;;
    *'"method":"session/prompt"'*)
      printf '%s\n' '{"jsonrpc":"2.0","id":"p'"$id"'","method":"session/request_permission","params":{"sessionId":"sess-1","toolCall":{"toolCallId":"t'"$id"'","title":"Edit notes '"$id"'","kind":"edit","locations":[{"path":"'"$PWD"'/notes.txt"}]},"options":'"$OPTIONS"'}}'
      printf '%s\n' '{"jsonrpc":"2.0","id":"r'"$id"'","method":"fs/read_text_file","params":{"sessionId":"sess-1","path":"'"$PWD"'/notes.txt"}}'
      printf '%s\n' '{"jsonrpc":"2.0","id":"w'"$id"'","method":"fs/write_text_file","params":{"sessionId":"sess-1","path":"'"$PWD"'/out.txt","content":"turn '"$id"'"}}'
      reply "$id" '{"stopReason":"end_turn"}' ;;
  esac
done
"#;

#[tokio::test]
async fn events_of_the_agents_requests_are_all_delivered_before_the_turn_ends() {
    let fx = Fixture::new();
    std::fs::write(fx.cwd().join("notes.txt"), "notes").unwrap();
    let (client, mut events) = AcpClient::spawn(fx.agent("eager.sh", EAGER_AGENT), options())
        .await
        .unwrap();
    client.initialize().await.unwrap();
    let session = client.new_session(&fx.cwd(), &[]).await.unwrap();
    for turn in 0..30 {
        let stop = client.prompt(&session, "go").await.unwrap();
        assert_eq!(stop, StopReason::EndTurn);
        // Drained at once, as agent-test and the coordinator do.
        let seen = drain(&mut events);
        assert_eq!(seen.len(), 3, "turn {turn}: {seen:?}");
        assert!(
            seen.iter().any(|e| matches!(e, AgentEvent::Permission { title, decision: PermissionDecision::AllowOnce, .. } if title.starts_with("Edit notes"))),
            "turn {turn}: {seen:?}"
        );
        assert!(
            seen.iter().any(|e| matches!(e, AgentEvent::FsRead { allowed: true, path } if path.ends_with("notes.txt"))),
            "turn {turn}: {seen:?}"
        );
        assert!(
            seen.iter().any(|e| matches!(e, AgentEvent::FsWrite { allowed: true, path } if path.ends_with("out.txt"))),
            "turn {turn}: {seen:?}"
        );
    }
    assert!(
        std::fs::read_to_string(fx.cwd().join("out.txt"))
            .unwrap()
            .starts_with("turn ")
    );
    client.shutdown().await;
}

#[tokio::test]
async fn an_agent_that_writes_only_garbage_fails_initialize_early() {
    let fx = Fixture::new();
    // Like an agent started without its ACP flag: prose on stdout.
    let body =
        "echo 'starting up' >&2\nwhile IFS= read -r line; do echo 'this is not json'; done\n";
    let mut opts = options();
    opts.not_acp_grace = Duration::from_millis(200);
    let (client, mut events) = AcpClient::spawn(fx.agent("garbage.sh", body), opts)
        .await
        .unwrap();
    let started = Instant::now();
    let err = client.initialize().await.unwrap_err();
    assert!(started.elapsed() < SAFETY, "failed early");
    let AcpError::NotAcp { method, line, .. } = &err else {
        panic!("expected NotAcp, got {err:?}");
    };
    assert_eq!(
        (method.as_str(), line.as_str()),
        ("initialize", "this is not json")
    );
    let text = err.to_string();
    assert!(
        text.starts_with(
            "agent did not answer `initialize`: its stdout is not ACP (it wrote `this is not json`"
        ),
        "{text}"
    );
    assert!(
        matches!(next_event(&mut events).await, AgentEvent::ProtocolError(m) if m.contains("this is not json"))
    );
    client.shutdown().await;
}

/// Never answers a prompt; answers `session/cancel` with `cancelled` only
/// when `$1` is `polite`.
const SLOW_AGENT: &str = r#"
prompt=
while IFS= read -r line; do
  id=$(idof "$line")
  case "$line" in
    *'"method":"initialize"'*) reply "$id" "$INIT" ;;
    *'"method":"session/new"'*) reply "$id" '{"sessionId":"sess-1"}' ;;
    *'"method":"session/prompt"'*) prompt=$id; echo "prompt received" >&2 ;;
    *'"method":"session/cancel"'*)
      if [ "$MODE" = polite ]; then reply "$prompt" '{"stopReason":"cancelled"}'; fi ;;
  esac
done
"#;

#[tokio::test]
async fn a_turn_with_a_time_limit_is_cancelled_when_it_runs_out() {
    for polite in [true, false] {
        let fx = Fixture::new();
        let mut command = fx.agent("slow.sh", SLOW_AGENT);
        command.env = vec![("MODE".into(), if polite { "polite" } else { "rude" }.into())];
        let mut opts = options();
        opts.shutdown_grace = Duration::from_millis(300);
        let (client, _events) = AcpClient::spawn(command, opts).await.unwrap();
        client.initialize().await.unwrap();
        let session = client.new_session(&fx.cwd(), &[]).await.unwrap();
        let limit = Duration::from_millis(300);
        let err = client
            .prompt_within(&session, "go", limit)
            .await
            .unwrap_err();
        let AcpError::TurnTimeout { after, stopped, .. } = &err else {
            panic!("expected TurnTimeout, got {err:?}");
        };
        assert_eq!(*after, limit);
        assert_eq!(*stopped, polite, "{err}");
        assert!(
            err.to_string().starts_with(
                "agent did not finish the turn within 300ms; enki sent session/cancel and "
            ),
            "{err}"
        );
        client.shutdown().await;
    }
}

#[tokio::test]
async fn stubborn_agent_is_killed_with_its_whole_process_group() {
    let fx = Fixture::new();
    let body = r#"
trap '' TERM
sleep 1000 &
printf '%s\n' "$!" > ../child.pid
IFS= read -r line
reply "$(idof "$line")" "$INIT"
while :; do sleep 1; done
"#;
    let grace = Duration::from_millis(200);
    let mut opts = options();
    opts.shutdown_grace = grace;
    let (client, mut events) = AcpClient::spawn(fx.agent("stubborn.sh", body), opts)
        .await
        .unwrap();
    client.initialize().await.unwrap();
    let leader = client.pid().unwrap();
    let child: u32 = fx.read("child.pid").trim().parse().unwrap();
    assert!(process_running(child), "the background child should run");
    assert_eq!(process_group(child), Some(leader));

    let started = Instant::now();
    let status = client.shutdown().await.expect("status");
    // Ignored stdin close, then ignored SIGTERM: SIGKILL after two graces.
    assert!(started.elapsed() >= grace * 2, "{:?}", started.elapsed());
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    assert!(!pid_exists(leader), "the leader was reaped");
    wait_until("the child to die", || !process_running(child)).await;

    let all = events_until_exit(&mut events).await;
    assert!(matches!(
        all.as_slice(),
        [AgentEvent::Exited { status: Some(s), .. }] if s.signal() == Some(libc::SIGKILL)
    ));
    assert!(matches!(
        client.prompt("sess", "x").await,
        Err(AcpError::Exited { .. })
    ));
}

#[tokio::test]
async fn environment_is_inherited_or_exactly_given() {
    let fx = Fixture::new();
    let body = r#"
export -p > ../env.txt
IFS= read -r line
reply "$(idof "$line")" "$INIT"
"#;
    let have_home = std::env::var_os("HOME").is_some();
    for clear_env in [false, true] {
        let mut command = fx.agent("env.sh", body);
        command.env = vec![("ENKI_TEST_VAR".into(), "va lue".into())];
        command.clear_env = clear_env;
        let (client, _events) = AcpClient::spawn(command, options()).await.unwrap();
        client.initialize().await.unwrap();
        let env = fx.read("env.txt");
        assert!(env.contains("ENKI_TEST_VAR='va lue'"), "{env}");
        if have_home {
            assert_eq!(env.contains("HOME="), !clear_env, "{env}");
        }
        client.shutdown().await;
    }
}

#[tokio::test]
async fn missing_program_and_bad_arguments_are_clear_errors() {
    let fx = Fixture::new();
    let err = AcpClient::spawn(
        AgentCommand::new("enki-no-such-agent-binary", fx.cwd()),
        options(),
    )
    .await
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot start agent `enki-no-such-agent-binary`: not found on PATH"
    );
    let err = AcpClient::spawn(
        AgentCommand::new("/bin/sh", fx.path("does-not-exist")),
        options(),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("does not exist"), "{err}");

    let (client, _events) = AcpClient::spawn(fx.agent("happy.sh", HAPPY), options())
        .await
        .unwrap();
    client.initialize().await.unwrap();
    let err = client
        .new_session(Path::new("relative/dir"), &[])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("must be absolute"), "{err}");
    client.shutdown().await;
}

#[tokio::test]
async fn dropping_the_client_kills_the_agent() {
    let fx = Fixture::new();
    let body = r#"
trap '' TERM
IFS= read -r line
reply "$(idof "$line")" "$INIT"
while :; do sleep 1; done
"#;
    let (client, mut events) = AcpClient::spawn(fx.agent("orphan.sh", body), options())
        .await
        .unwrap();
    client.initialize().await.unwrap();
    let pid = client.pid().unwrap();
    drop(client);
    let all = events_until_exit(&mut events).await;
    assert!(matches!(
        all.as_slice(),
        [AgentEvent::Exited { status: Some(s), .. }] if s.signal() == Some(libc::SIGKILL)
    ));
    assert!(!pid_exists(pid));
}

fn pid_exists(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Running (not gone, not a zombie waiting for init to reap it).
fn process_running(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat.rsplit(')').next().unwrap_or("").trim_start();
            !state.starts_with('Z') && !state.starts_with('X')
        }
        Err(_) => false,
    }
}

fn process_group(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command: state ppid pgrp ...
    let rest = stat.rsplit(')').next()?;
    rest.split_whitespace().nth(2)?.parse().ok()
}
