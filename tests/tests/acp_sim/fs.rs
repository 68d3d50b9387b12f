//! The client's fs: requests inside the session's cwd are served, paths
//! outside it and writes in a read-only session are refused.

use std::path::PathBuf;
use std::sync::Arc;

use enki_acp::{AcpClient, AcpError, AgentEvent, AllowAll, ClientOptions, DenyAll, StopReason};
use enki_tests::one_turn;
use serde_json::{Value, json};

use crate::{Fixture, Sim, message_text, options, trace, within};

#[tokio::test]
async fn fs_requests_inside_the_cwd_are_served() {
    let fixture = Fixture::new(&[
        (
            "files.toml",
            &one_turn(
                "{ write = \"sub/hello.txt\", content = \"hello\\n\" },\n\
                 { append = \"sub/hello.txt\", content = \"world\\n\" },\n\
                 { read = \"sub/hello.txt\" },",
            ),
        ),
        (
            "escape.toml",
            &one_turn("{ write = \"../escape.txt\", content = \"nope\" }"),
        ),
    ]);
    let mut sim = Sim::start(&fixture, Arc::new(DenyAll)).await;
    let file = fixture.cwd().join("sub/hello.txt");
    assert_eq!(
        sim.prompt("[[sim:files]]").await.unwrap(),
        StopReason::EndTurn
    );
    let events = sim.drain();
    let fs: Vec<AgentEvent> = events
        .iter()
        .filter(|e| matches!(e, AgentEvent::FsRead { .. } | AgentEvent::FsWrite { .. }))
        .cloned()
        .collect();
    // write; append = read + write; read. The fs policy is not the
    // permission policy: DenyAll does not stop them.
    assert_eq!(
        fs,
        [
            AgentEvent::FsWrite {
                path: file.clone(),
                allowed: true
            },
            AgentEvent::FsRead {
                path: file.clone(),
                allowed: true
            },
            AgentEvent::FsWrite {
                path: file.clone(),
                allowed: true
            },
            AgentEvent::FsRead {
                path: file.clone(),
                allowed: true
            },
        ]
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "hello\nworld\n");
    let text = message_text(&events);
    assert!(
        text.contains("Read sub/hello.txt (2 lines): hello\nworld"),
        "{text}"
    );

    // The sim refuses a path leaving its cwd itself: the client is never
    // asked, and the turn fails with a clear error.
    let err = sim.prompt("[[sim:escape]]").await.unwrap_err();
    let AcpError::Rpc {
        method,
        code,
        message,
        ..
    } = &err
    else {
        panic!("expected an RPC error, got {err:?}");
    };
    assert_eq!((method.as_str(), *code), ("session/prompt", -32603));
    assert!(message.contains("'../escape.txt' leaves"), "{message}");
    let events = sim.drain();
    assert_eq!(
        trace(&events),
        ["tool_call Write ../escape.txt", "tool_update failed"]
    );
    assert!(!fixture.outside("escape.txt").exists());
    sim.finish().await;
}

/// Asks to write and read outside its cwd, then to write inside it, and
/// logs our answers to ../replies.log.
const OUTSIDE_AGENT: &str = r#"
while IFS= read -r line; do
  id=$(idof "$line")
  case "$line" in
    *'"method":"initialize"'*) reply "$id" '{"protocolVersion":1}' ;;
    *'"method":"session/new"'*) reply "$id" '{"sessionId":"fake-1"}' ;;
    *'"method":"session/prompt"'*)
      ask '{"jsonrpc":"2.0","id":"w1","method":"fs/write_text_file","params":{"sessionId":"fake-1","path":"'"$PWD"'/../escape.txt","content":"nope"}}'
      ask '{"jsonrpc":"2.0","id":"r1","method":"fs/read_text_file","params":{"sessionId":"fake-1","path":"'"$PWD"'/../secret.txt"}}'
      ask '{"jsonrpc":"2.0","id":"w2","method":"fs/write_text_file","params":{"sessionId":"fake-1","path":"inside.txt","content":"yes"}}'
      reply "$id" '{"stopReason":"end_turn"}' ;;
  esac
done
"#;

#[tokio::test]
async fn fs_requests_outside_the_cwd_are_refused_by_the_client() {
    let fixture = Fixture::new(&[]);
    std::fs::write(fixture.outside("secret.txt"), "top secret").unwrap();
    let (client, mut events) = AcpClient::spawn(
        fixture.fake("outside.sh", OUTSIDE_AGENT),
        options(Arc::new(AllowAll)),
    )
    .await
    .unwrap();
    within("initialize", client.initialize()).await.unwrap();
    let session = within("session/new", client.new_session(&fixture.cwd(), &[]))
        .await
        .unwrap();
    let stop = within("the turn", client.prompt(&session, "go"))
        .await
        .unwrap();
    assert_eq!(stop, StopReason::EndTurn);

    let replies: Vec<Value> = std::fs::read_to_string(fixture.outside("replies.log"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(replies.len(), 3, "{replies:?}");
    for (reply, id) in replies[..2].iter().zip(["w1", "r1"]) {
        assert_eq!(reply["id"], id, "{reply}");
        assert_eq!(reply["error"]["code"], -32602, "{reply}");
        let message = reply["error"]["message"].as_str().unwrap();
        assert!(message.starts_with("refused: path '"), "{message}");
        assert!(message.contains("leaves the worker's copy"), "{message}");
        assert!(
            !message.contains("top secret"),
            "no content leaks: {message}"
        );
    }
    assert_eq!(
        replies[2],
        json!({"jsonrpc": "2.0", "id": "w2", "result": {}})
    );
    assert!(!fixture.outside("escape.txt").exists());
    assert_eq!(
        std::fs::read_to_string(fixture.cwd().join("inside.txt")).unwrap(),
        "yes"
    );

    let seen: Vec<AgentEvent> = std::iter::from_fn(|| events.try_recv().ok()).collect();
    let cwd = fixture.cwd().display().to_string();
    assert_eq!(
        seen,
        [
            AgentEvent::FsWrite {
                path: PathBuf::from(format!("{cwd}/../escape.txt")),
                allowed: false
            },
            AgentEvent::FsRead {
                path: PathBuf::from(format!("{cwd}/../secret.txt")),
                allowed: false
            },
            AgentEvent::FsWrite {
                path: fixture.cwd().join("inside.txt"),
                allowed: true
            },
        ]
    );
    within("shutdown", client.shutdown()).await;
}

#[tokio::test]
async fn a_read_only_session_refuses_every_write() {
    let fixture = Fixture::new(&[]);
    let options = ClientOptions {
        read_only: true,
        ..options(Arc::new(AllowAll))
    };
    let (client, _events) = AcpClient::spawn(fixture.fake("outside.sh", OUTSIDE_AGENT), options)
        .await
        .unwrap();
    let init = within("initialize", client.initialize()).await.unwrap();
    let _ = init;
    let session = within("session/new", client.new_session(&fixture.cwd(), &[]))
        .await
        .unwrap();
    let stop = within("the turn", client.prompt(&session, "go"))
        .await
        .unwrap();
    assert_eq!(stop, StopReason::EndTurn);
    let replies: Vec<Value> = std::fs::read_to_string(fixture.outside("replies.log"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let inside = replies
        .iter()
        .find(|r| r["id"] == "w2")
        .expect("the inside write was answered");
    assert_eq!(inside["error"]["code"], -32602, "{inside}");
    assert!(
        inside["error"]["message"]
            .as_str()
            .unwrap()
            .contains("read-only"),
        "{inside}"
    );
    assert!(
        !fixture.cwd().join("inside.txt").exists(),
        "nothing was written"
    );
    within("shutdown", client.shutdown()).await;
}
