//! Requests from the agent: fs reads and writes confined to the session
//! cwd, permission questions answered by the policy, and their events
//! delivered before the turn that raised them ends.

use std::sync::Arc;

use enki_acp::{
    AcpClient, AgentEvent, AllowAll, DenyAll, PermissionDecision, PermissionPolicy, StopReason,
    WithinCwd,
};
use serde_json::{Value, json};

use crate::{Fixture, drain, options};

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
                reason,
            } => {
                assert_eq!(session_id, "sess-1");
                assert!(!reason.is_empty(), "{title}: no reason");
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
