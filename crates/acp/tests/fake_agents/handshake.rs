//! The happy path: handshake, a session, a prompt with every kind of
//! update, cancel and a clean shutdown, checked on both sides of the pipe.

use enki_acp::{AcpClient, AgentEvent, McpServerSpec, PlanEntry, SessionUpdate, StopReason};
use serde_json::{Value, json};

use crate::{Fixture, HAPPY, drain, events_until_exit, options, pid_exists};

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
    let session = client.new_session(&fx.cwd(), &[mcp.into()]).await.unwrap();
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
