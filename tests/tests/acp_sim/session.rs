//! A session from start to finish: the full handshake, a prompt whose tool
//! calls go through a real `enki mcp` server, and cancelling a turn.

use std::path::Path;
use std::sync::Arc;

use enki_acp::{
    AcpClient, AcpError, AgentEvent, McpServerSpec, PROTOCOL_VERSION, SessionUpdate, StopReason,
    WithinCwd,
};
use enki_store::Store;
use enki_tests::{Project, enki_bin, one_turn};
use serde_json::{Value, json};

use crate::{Fixture, Sim, events_until_exit, message_text, options, pid_exists, trace, within};

#[tokio::test]
async fn full_handshake_initialize_authenticate_and_session_new() {
    let fixture = Fixture::new(&[]);
    let (client, mut events) = AcpClient::spawn(fixture.sim(&[]), options(Arc::new(WithinCwd)))
        .await
        .unwrap();
    let pid = client.pid().expect("running");

    let init = within("initialize", client.initialize()).await.unwrap();
    assert_eq!(PROTOCOL_VERSION, 1);
    assert_eq!(init.protocol_version, 1);
    assert!(init.auth_methods.is_empty(), "{:?}", init.auth_methods);
    assert_eq!(init.raw["agentInfo"]["name"], "enki-sim");
    // It keeps sessions in its home folder, so it can take them up.
    assert_eq!(init.raw["agentCapabilities"]["loadSession"], true);
    assert_eq!(
        init.raw["agentCapabilities"]["sessionCapabilities"]["resume"],
        json!({})
    );
    assert_eq!(
        init.raw["agentCapabilities"]["mcpCapabilities"],
        json!({"http": true, "sse": false})
    );
    within("authenticate", client.authenticate("none"))
        .await
        .unwrap();

    let session = within("session/new", client.new_session(&fixture.cwd(), &[]))
        .await
        .unwrap();
    // Named by the sim's own pid, as the host sees it: a process of the
    // agent's group, which the process enki started leads.
    let sim_pid = session
        .strip_prefix("sim-")
        .and_then(|rest| rest.split('-').next())
        .unwrap_or_default();
    let stat = std::fs::read_to_string(format!("/proc/{sim_pid}/stat")).unwrap_or_default();
    let group = stat
        .rsplit(')')
        .next()
        .and_then(|rest| rest.split_whitespace().nth(2))
        .unwrap_or_default();
    assert_eq!(group, pid.to_string(), "{session}: {stat}");
    let other = within("session/new", client.new_session(&fixture.cwd(), &[]))
        .await
        .unwrap();
    assert_ne!(other, session, "every session gets its own id");

    // A relative cwd is refused by the client before anything is sent; a
    // missing one by the agent, as a JSON-RPC error naming it.
    let err = client
        .new_session(Path::new("relative/dir"), &[])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("must be absolute"), "{err}");
    let missing = fixture.cwd().join("missing");
    let err = within("session/new", client.new_session(&missing, &[]))
        .await
        .unwrap_err();
    let AcpError::Rpc {
        method,
        code,
        message,
        ..
    } = &err
    else {
        panic!("expected an RPC error, got {err:?}");
    };
    assert_eq!((method.as_str(), *code), ("session/new", -32602));
    assert!(message.contains("is not a directory"), "{message}");
    assert!(
        err.to_string()
            .starts_with("agent answered `session/new` with error -32602: "),
        "{err}"
    );

    // The handshake streams nothing.
    assert!(events.try_recv().is_err());

    let status = within("shutdown", client.shutdown()).await.expect("status");
    assert_eq!(status.code(), Some(0));
    assert_eq!(client.pid(), None);
    let rest = events_until_exit(&mut events).await;
    let [
        AgentEvent::Exited {
            status,
            stderr_tail,
        },
    ] = rest.as_slice()
    else {
        panic!("expected only Exited, got {rest:?}");
    };
    assert_eq!(status.and_then(|s| s.code()), Some(0));
    assert!(
        stderr_tail.iter().any(|l| l.contains(&session)),
        "{stderr_tail:?}"
    );
    // The agent's stderr also went to its log file.
    let log = std::fs::read_to_string(fixture.log()).unwrap();
    assert!(
        log.contains(&format!("session {session} in {}", fixture.cwd().display())),
        "{log}"
    );
    assert!(!pid_exists(pid), "the agent was reaped");
}

const WORKER_SCRIPT: &str = r#"
[[turn]]
steps = [
  { say = "Working on: {{prompt}}" },
  { tool = "enki_worker_report", args = { status = "editing hello.txt" } },
  { write = "hello.txt", content = "hello from {{session}}\n" },
  { tool = "enki_worker_report", args = { status = "done", output = "[OUTPUT] wrote hello.txt [/OUTPUT]" } },
  { say = " All done." },
]
"#;

#[tokio::test]
async fn prompt_streams_chunks_and_tool_calls_through_a_real_enki_mcp() {
    const SESSION: &str = "01ACPSIMTESTSESSION";
    let project = Project::new();
    // The task is created the way a planner would: through its MCP server.
    let mut planner =
        project.mcp_uninitialized(&["--role", "planner"], &[("ENKI_SESSION_ID", SESSION)]);
    planner.initialize();
    let created = planner.call_ok("enki_task_create", json!({"title": "greet"}));
    let task = created["structuredContent"]["task_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no task_id in {created}"))
        .to_string();
    drop(planner);

    // worker.toml is selected by the `--role worker` of the enki server.
    let fixture = Fixture::new(&[("worker.toml", WORKER_SCRIPT)]);
    let enki = McpServerSpec {
        name: "enki".into(),
        command: enki_bin().display().to_string(),
        args: ["mcp", "--role", "worker", "--task-id", &task]
            .map(String::from)
            .to_vec(),
        env: vec![
            ("ENKI_DIR".into(), project.enki_dir().display().to_string()),
            ("ENKI_SESSION_ID".into(), SESSION.into()),
        ],
    };
    let mut sim = Sim::start_with(&fixture, Arc::new(WithinCwd), &[enki.into()]).await;
    let stop = sim.prompt("Implement the greeting").await.unwrap();
    assert_eq!(stop, StopReason::EndTurn);

    let events = sim.drain();
    assert_eq!(
        message_text(&events),
        "Working on: Implement the greeting All done."
    );
    assert_eq!(
        trace(&events),
        [
            "message",
            "tool_call enki_worker_report",
            "tool_update completed",
            "tool_call Write hello.txt",
            "fs_write allowed",
            "tool_update completed",
            "tool_call enki_worker_report",
            "tool_update completed",
            "message",
        ]
    );
    for event in &events {
        if let AgentEvent::Update { session_id, .. } = event {
            assert_eq!(session_id, &sim.session);
        }
    }

    // Each MCP tool call: a tool_call, then its completed update.
    let updates: Vec<&SessionUpdate> = events
        .iter()
        .filter_map(|e| match e {
            AgentEvent::Update { update, .. } => Some(update),
            _ => None,
        })
        .collect();
    let calls: Vec<(&String, &Value)> = updates
        .iter()
        .filter_map(|u| match u {
            SessionUpdate::ToolCall {
                id,
                title,
                kind,
                status,
                raw,
            } if title == "enki_worker_report" => {
                assert_eq!(kind.as_deref(), Some("other"));
                assert_eq!(status.as_deref(), Some("in_progress"));
                Some((id, &raw["rawInput"]))
            }
            _ => None,
        })
        .collect();
    assert_eq!(calls.len(), 2, "{updates:?}");
    assert_eq!(calls[0].1, &json!({"status": "editing hello.txt"}));
    assert_eq!(
        calls[1].1,
        &json!({"status": "done", "output": "[OUTPUT] wrote hello.txt [/OUTPUT]"})
    );
    assert_ne!(calls[0].0, calls[1].0, "tool call ids are unique");
    for (id, _) in &calls {
        let done = updates
            .iter()
            .find_map(|u| match u {
                SessionUpdate::ToolCallUpdate {
                    id: update_id,
                    status,
                    raw,
                    ..
                } if update_id == *id => Some((status, raw)),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no update for tool call {id}"));
        assert_eq!(done.0.as_deref(), Some("completed"), "{}", done.1);
        assert_eq!(done.1["rawOutput"]["isError"], false, "{}", done.1);
    }

    // The write went through the client's fs, inside the cwd.
    let write = events.iter().find_map(|e| match e {
        AgentEvent::FsWrite { path, allowed } => Some((path.clone(), *allowed)),
        _ => None,
    });
    assert_eq!(write, Some((fixture.cwd().join("hello.txt"), true)));
    assert_eq!(
        std::fs::read_to_string(fixture.cwd().join("hello.txt")).unwrap(),
        format!("hello from {}\n", sim.session)
    );

    // The reports landed in the database.
    let store = Store::open(&project.db_path()).unwrap();
    let row = store.task(&task).unwrap().expect("task row");
    assert_eq!(row.session_id.as_deref(), Some(SESSION));
    assert_eq!(row.activity.as_deref(), Some("done"));
    assert!(row.activity_at.is_some());
    assert_eq!(
        row.output.as_deref(),
        Some("[OUTPUT] wrote hello.txt [/OUTPUT]")
    );

    let rest = sim.finish().await;
    assert_eq!(trace(&rest), ["exited"]);
}

#[tokio::test]
async fn cancel_in_the_middle_of_a_turn_ends_it_cancelled() {
    let fixture = Fixture::new(&[
        (
            "hang.toml",
            &one_turn("{ say = \"hanging\" },\n{ hang = true },\n{ say = \"never\" }"),
        ),
        ("ok.toml", &one_turn("{ say = \"back\" }")),
    ]);
    let mut sim = Sim::start(&fixture, Arc::new(WithinCwd)).await;
    let turn = tokio::spawn({
        let client = sim.client.clone();
        let session = sim.session.clone();
        async move { client.prompt(&session, "[[sim:hang]]").await }
    });
    // The turn is under way once its first chunk arrived.
    let first = sim.next_event().await;
    assert_eq!(message_text(&[first]), "hanging");
    within("cancel", sim.client.cancel(&sim.session))
        .await
        .unwrap();
    let stop = within("the cancelled turn", turn).await.unwrap().unwrap();
    assert_eq!(stop, StopReason::Cancelled);
    assert!(
        sim.drain().is_empty(),
        "nothing after the cancelled step ran"
    );

    // The session takes prompts again.
    assert_eq!(sim.prompt("[[sim:ok]]").await.unwrap(), StopReason::EndTurn);
    assert_eq!(message_text(&sim.drain()), "back");
    sim.finish().await;
}
