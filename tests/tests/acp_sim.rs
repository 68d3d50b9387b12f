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

use std::future::Future;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use enki_acp::{
    AcpClient, AcpError, AgentCommand, AgentEvent, AllowAll, ClientOptions, DenyAll, McpServerSpec,
    PROTOCOL_VERSION, PermissionDecision, PermissionPolicy, PermissionRequest, SessionUpdate,
    StopReason, WithinCwd,
};
use enki_store::Store;
use enki_tests::{Project, enki_bin, one_turn};
use serde_json::{Value, json};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

/// Safety net for every wait; never reached when things work.
const SAFETY: Duration = Duration::from_secs(30);

async fn within<F: Future>(what: &str, future: F) -> F::Output {
    tokio::time::timeout(SAFETY, future)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

// ----- fixtures -----------------------------------------------------------------

/// A scripts dir for the sim, and a work dir whose `copy/` is the agent's
/// (and the session's) cwd, so that `../` has somewhere to point.
struct Fixture {
    scripts: tempfile::TempDir,
    work: tempfile::TempDir,
}

impl Fixture {
    fn new(scripts: &[(&str, &str)]) -> Fixture {
        let fixture = Fixture {
            scripts: tempfile::tempdir().unwrap(),
            work: tempfile::tempdir().unwrap(),
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
            env: Vec::new(),
            clear_env: false,
            cwd: self.cwd(),
            stderr_log: Some(self.log()),
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
        servers: &[McpServerSpec],
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
            AgentEvent::Permission { decision, .. } => format!("permission {decision}"),
            AgentEvent::FsRead { allowed: a, .. } => format!("fs_read {}", allowed(*a)),
            AgentEvent::FsWrite { allowed: a, .. } => format!("fs_write {}", allowed(*a)),
            AgentEvent::ProtocolError(_) => "protocol_error".to_string(),
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

// ----- handshake ------------------------------------------------------------------

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
    assert_eq!(init.raw["agentCapabilities"]["loadSession"], false);
    assert_eq!(
        init.raw["agentCapabilities"]["mcpCapabilities"],
        json!({"http": false, "sse": false})
    );
    within("authenticate", client.authenticate("none"))
        .await
        .unwrap();

    let session = within("session/new", client.new_session(&fixture.cwd(), &[]))
        .await
        .unwrap();
    assert!(session.starts_with(&format!("sim-{pid}-")), "{session}");
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

// ----- a prompt through a real enki mcp ---------------------------------------------

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
    let mut sim = Sim::start_with(&fixture, Arc::new(WithinCwd), &[enki]).await;
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

// ----- cancel -------------------------------------------------------------------------

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

/// A policy that never decides and reports each question on a channel.
struct Undecided(UnboundedSender<PermissionRequest>);

impl PermissionPolicy for Undecided {
    fn decide(
        &self,
        request: PermissionRequest,
    ) -> Pin<Box<dyn Future<Output = PermissionDecision> + Send>> {
        let _ = self.0.send(request);
        Box::pin(std::future::pending())
    }
}

#[tokio::test]
async fn cancel_while_a_permission_question_is_pending() {
    let fixture = Fixture::new(&[(
        "ask.toml",
        &one_turn("{ permission = \"Run the migrations\" },\n{ say = \"never\" }"),
    )]);
    let (asked_tx, mut asked) = unbounded_channel();
    let mut sim = Sim::start(&fixture, Arc::new(Undecided(asked_tx))).await;
    let turn = tokio::spawn({
        let client = sim.client.clone();
        let session = sim.session.clone();
        async move { client.prompt(&session, "[[sim:ask]]").await }
    });
    let request = within("the permission question", asked.recv())
        .await
        .unwrap();
    assert_eq!(request.session_id, sim.session);
    assert_eq!(request.session_cwd, fixture.cwd());
    assert_eq!(request.title, "Run the migrations");
    assert_eq!(request.kind.as_deref(), Some("other"));
    let kinds: Vec<&str> = request.raw["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["allow_once", "allow_always", "reject_once", "reject_always"]
    );

    within("cancel", sim.client.cancel(&sim.session))
        .await
        .unwrap();
    let stop = within("the cancelled turn", turn).await.unwrap().unwrap();
    assert_eq!(stop, StopReason::Cancelled);
    let events = sim.drain();
    assert_eq!(
        events,
        [AgentEvent::Permission {
            session_id: sim.session.clone(),
            title: "Run the migrations".into(),
            decision: PermissionDecision::Cancelled,
        }]
    );
    sim.finish().await;
}

// ----- permissions ----------------------------------------------------------------------

/// Always answers the same decision.
struct Always(PermissionDecision);

impl PermissionPolicy for Always {
    fn decide(
        &self,
        _request: PermissionRequest,
    ) -> Pin<Box<dyn Future<Output = PermissionDecision> + Send>> {
        Box::pin(std::future::ready(self.0))
    }
}

#[tokio::test]
async fn permission_requests_allowed_and_denied_by_the_policy() {
    let fixture = Fixture::new(&[
        (
            "strict.toml",
            &one_turn(
                "{ permission = \"Edit src/lib.rs\", on_deny = \"fail\" },\n{ say = \"permitted\" }",
            ),
        ),
        (
            "lenient.toml",
            &one_turn(
                "{ permission = \"Delete the cache\", on_deny = \"continue\" },\n{ say = \" after\" }",
            ),
        ),
    ]);
    use PermissionDecision::*;
    let cases: [(
        Arc<dyn PermissionPolicy>,
        &str,
        PermissionDecision,
        StopReason,
    ); 7] = [
        (Arc::new(AllowAll), "strict", AllowOnce, StopReason::EndTurn),
        // No locations: inside the cwd.
        (
            Arc::new(WithinCwd),
            "strict",
            AllowOnce,
            StopReason::EndTurn,
        ),
        (
            Arc::new(Always(AllowAlways)),
            "strict",
            AllowAlways,
            StopReason::EndTurn,
        ),
        (Arc::new(DenyAll), "strict", RejectOnce, StopReason::Refusal),
        (
            Arc::new(Always(RejectAlways)),
            "strict",
            RejectAlways,
            StopReason::Refusal,
        ),
        (
            Arc::new(DenyAll),
            "lenient",
            RejectOnce,
            StopReason::EndTurn,
        ),
        (
            Arc::new(AllowAll),
            "lenient",
            AllowOnce,
            StopReason::EndTurn,
        ),
    ];
    for (policy, script, decision, expected_stop) in cases {
        let what = format!("{script} with {decision}");
        let mut sim = Sim::start(&fixture, policy).await;
        let stop = sim.prompt(&format!("[[sim:{script}]]")).await.unwrap();
        assert_eq!(stop, expected_stop, "{what}");
        let events = sim.drain();
        let title = if script == "strict" {
            "Edit src/lib.rs"
        } else {
            "Delete the cache"
        };
        assert_eq!(
            events[0],
            AgentEvent::Permission {
                session_id: sim.session.clone(),
                title: title.into(),
                decision,
            },
            "{what}"
        );
        assert_eq!(
            trace(&events),
            [format!("permission {decision}"), "message".to_string()],
            "{what}"
        );
        let text = message_text(&events);
        match (script, decision.is_allowed()) {
            ("strict", true) => assert_eq!(text, "permitted", "{what}"),
            ("strict", false) => {
                let reason = if decision == RejectOnce {
                    "reject-once"
                } else {
                    "reject-always"
                };
                assert_eq!(
                    text,
                    format!(
                        "Permission denied for \"Edit src/lib.rs\" (the client chose {reason}); stopping."
                    ),
                    "{what}"
                );
            }
            (_, true) => assert_eq!(text, " after", "{what}"),
            (_, false) => {
                assert!(text.contains("going on"), "{what}: {text}");
                assert!(text.ends_with(" after"), "{what}: {text}");
            }
        }
        sim.finish().await;
    }
}

// ----- fs -------------------------------------------------------------------------------

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

/// Helpers every `/bin/sh` fake agent starts with. Our request ids are
/// plain numbers; `idof` extracts them.
const SH_PRELUDE: &str = r#"
reply() { printf '{"jsonrpc":"2.0","id":%s,"result":%s}\n' "$1" "$2"; }
idof() { printf '%s\n' "$1" | sed -n 's/.*"id":\([0-9][0-9]*\).*/\1/p'; }
ask() { printf '%s\n' "$1"; IFS= read -r answer; printf '%s\n' "$answer" >> ../replies.log; }
"#;

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

// ----- fault modes ------------------------------------------------------------------------

#[tokio::test]
async fn a_missing_agent_is_a_spawn_error() {
    let fixture = Fixture::new(&[]);
    let err = AcpClient::spawn(
        AgentCommand::new("/no/such/dir/enki-agent", fixture.cwd()),
        options(Arc::new(WithinCwd)),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&err, AcpError::Spawn { program, .. } if program == "/no/such/dir/enki-agent"),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "cannot start agent `/no/such/dir/enki-agent`: no such file"
    );

    let err = AcpClient::spawn(
        AgentCommand::new("enki-no-such-agent-on-path", fixture.cwd()),
        options(Arc::new(WithinCwd)),
    )
    .await
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot start agent `enki-no-such-agent-on-path`: not found on PATH"
    );

    let not_executable = fixture.outside("agent.txt");
    std::fs::write(&not_executable, "not a program").unwrap();
    std::fs::set_permissions(&not_executable, std::fs::Permissions::from_mode(0o644)).unwrap();
    let program = not_executable.display().to_string();
    let err = AcpClient::spawn(
        AgentCommand::new(program.clone(), fixture.cwd()),
        options(Arc::new(WithinCwd)),
    )
    .await
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("cannot start agent `{program}`: permission denied (is it executable?)")
    );
}

#[tokio::test]
async fn an_agent_that_exits_at_once_reports_its_status_and_stderr() {
    let fixture = Fixture::new(&[]);
    let missing = fixture.outside("missing.toml");
    let command = fixture.sim(&["--script", &missing.display().to_string()]);
    let (client, mut events) = AcpClient::spawn(command, options(Arc::new(WithinCwd)))
        .await
        .unwrap();
    let err = within("initialize", client.initialize()).await.unwrap_err();
    let AcpError::Exited {
        status: Some(status),
        stderr_tail,
    } = &err
    else {
        panic!("expected Exited, got {err:?}");
    };
    assert_eq!(status.code(), Some(2));
    assert!(
        stderr_tail
            .iter()
            .any(|l| l.starts_with("enki sim-agent: ") && l.contains("missing.toml")),
        "{stderr_tail:?}"
    );
    let text = err.to_string();
    assert!(
        text.starts_with("agent exited (status 2); stderr: enki sim-agent: "),
        "{text}"
    );
    assert!(text.contains(&missing.display().to_string()), "{text}");
    assert_eq!(client.stderr_tail(), *stderr_tail);
    let log = std::fs::read_to_string(fixture.log()).unwrap();
    assert!(log.contains("missing.toml"), "{log}");

    // Everything after that fails the same way, at once.
    assert!(matches!(
        client.new_session(&fixture.cwd(), &[]).await,
        Err(AcpError::Exited { .. })
    ));
    assert!(matches!(
        client.prompt("sim-1", "hello").await,
        Err(AcpError::Exited { .. })
    ));
    assert!(matches!(
        client.cancel("sim-1").await,
        Err(AcpError::Exited { .. })
    ));
    let all = events_until_exit(&mut events).await;
    assert_eq!(trace(&all), ["exited"]);
    let status = within("shutdown", client.shutdown()).await;
    assert_eq!(status.and_then(|s| s.code()), Some(2));
}

#[tokio::test]
async fn garbage_is_a_protocol_error_and_the_turn_still_completes() {
    let fixture = Fixture::new(&[(
        "g.toml",
        &one_turn(
            "{ say = \"before\" },\n\
             { garbage = \"Loading model... this is not json\" },\n\
             { say = \" still here\" }",
        ),
    )]);
    let mut sim = Sim::start(&fixture, Arc::new(WithinCwd)).await;
    assert_eq!(sim.prompt("[[sim:g]]").await.unwrap(), StopReason::EndTurn);
    let events = sim.drain();
    assert_eq!(trace(&events), ["message", "protocol_error", "message"]);
    let AgentEvent::ProtocolError(message) = &events[1] else {
        unreachable!()
    };
    assert!(
        message.starts_with("invalid message from agent (")
            && message.ends_with("): Loading model... this is not json"),
        "{message}"
    );
    assert_eq!(message_text(&events), "before still here");
    // The connection still works.
    assert_eq!(sim.prompt("[[sim:g]]").await.unwrap(), StopReason::EndTurn);
    sim.finish().await;
}

#[tokio::test]
async fn an_agent_that_never_answers_initialize_times_out_and_is_killed() {
    let fixture = Fixture::new(&[]);
    let command = AgentCommand {
        program: "/bin/sh".into(),
        args: vec![
            "-c".into(),
            "echo 'warming up the model' >&2; exec sleep 30".into(),
        ],
        cwd: fixture.cwd(),
        ..AgentCommand::default()
    };
    let grace = Duration::from_millis(300);
    let options = ClientOptions {
        request_timeout: Duration::from_millis(500),
        shutdown_grace: grace,
        permission: Arc::new(WithinCwd),
        ..ClientOptions::default()
    };
    let (client, mut events) = AcpClient::spawn(command, options).await.unwrap();
    let pid = client.pid().expect("running");
    // Wait (bounded) for its stderr line, so the tail below is known.
    let started = Instant::now();
    while client.stderr_tail().is_empty() {
        assert!(started.elapsed() < SAFETY, "no stderr from the agent");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let err = within("initialize", client.initialize()).await.unwrap_err();
    let AcpError::Timeout {
        method,
        after,
        stderr_tail,
        ..
    } = &err
    else {
        panic!("expected Timeout, got {err:?}");
    };
    assert_eq!(method, "initialize");
    assert_eq!(*after, Duration::from_millis(500));
    assert_eq!(stderr_tail, &["warming up the model"]);
    assert_eq!(
        err.to_string(),
        "agent did not answer `initialize` within 500ms; stderr: warming up the model"
    );
    assert_eq!(client.pid(), Some(pid), "a timeout alone kills nothing");

    // It ignores stdin closing: shutdown SIGTERMs its group after the grace.
    let started = Instant::now();
    let status = within("shutdown", client.shutdown()).await.expect("status");
    let took = started.elapsed();
    assert_eq!(status.signal(), Some(15), "SIGTERM: {status:?}");
    assert!(took >= grace, "{took:?}");
    assert!(took < Duration::from_secs(10), "{took:?}");
    assert!(!pid_exists(pid));
    let all = events_until_exit(&mut events).await;
    assert_eq!(trace(&all), ["exited"]);
    let AgentEvent::Exited { status, .. } = &all[0] else {
        unreachable!()
    };
    assert_eq!(status.and_then(|s| s.signal()), Some(15));
}

#[tokio::test]
async fn responses_to_unknown_ids_are_reported_and_survived() {
    let fixture = Fixture::new(&[(
        "stray.toml",
        &one_turn(
            "{ garbage = '{\"jsonrpc\":\"2.0\",\"id\":4242,\"result\":{\"late\":true}}' },\n\
             { garbage = '{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32000,\"message\":\"lost\"}}' },\n\
             { say = \"survived\" }",
        ),
    )]);
    let mut sim = Sim::start(&fixture, Arc::new(WithinCwd)).await;
    assert_eq!(
        sim.prompt("[[sim:stray]]").await.unwrap(),
        StopReason::EndTurn
    );
    let events = sim.drain();
    assert_eq!(
        trace(&events),
        ["protocol_error", "protocol_error", "message"]
    );
    assert_eq!(
        events[0],
        AgentEvent::ProtocolError(
            "agent answered request id 4242, which is not pending (unknown or timed out)".into()
        )
    );
    let AgentEvent::ProtocolError(message) = &events[1] else {
        unreachable!()
    };
    assert!(
        message.starts_with("agent sent a response with a null id") && message.contains("lost"),
        "{message}"
    );
    assert_eq!(message_text(&events), "survived");
    // The pending prompt was not confused with the stray response: the next
    // request works too.
    within("session/new", sim.client.new_session(&fixture.cwd(), &[]))
        .await
        .unwrap();
    sim.finish().await;
}

#[tokio::test]
async fn a_crash_mid_turn_ends_the_prompt_promptly() {
    let fixture = Fixture::new(&[(
        "c.toml",
        &one_turn("{ say = \"about to crash\" },\n{ crash = true },\n{ say = \"never\" }"),
    )]);
    let mut sim = Sim::start(&fixture, Arc::new(WithinCwd)).await;
    let started = Instant::now();
    let err = sim.prompt("[[sim:c]]").await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(10), "{err}");
    let AcpError::Exited {
        status: Some(status),
        stderr_tail,
    } = &err
    else {
        panic!("expected Exited, got {err:?}");
    };
    assert_eq!(status.code(), Some(3));
    assert_eq!(
        stderr_tail.last().map(String::as_str),
        Some("enki sim-agent: exiting with status 3 mid-turn, as scripted")
    );
    let text = err.to_string();
    assert!(
        text.starts_with("agent exited (status 3); stderr: ")
            && text.ends_with("enki sim-agent: exiting with status 3 mid-turn, as scripted"),
        "{text}"
    );
    let all = events_until_exit(&mut sim.events).await;
    assert_eq!(trace(&all), ["message", "exited"]);
    assert_eq!(message_text(&all), "about to crash");
    // Later requests fail at once with the same error.
    let again = sim.prompt("[[sim:c]]").await.unwrap_err();
    assert_eq!(again.to_string(), text);
    let status = within("shutdown", sim.client.shutdown()).await;
    assert_eq!(status.and_then(|s| s.code()), Some(3));
}

#[tokio::test]
async fn an_exit_step_mid_turn_ends_the_prompt_with_its_status() {
    for code in [0, 42] {
        let fixture = Fixture::new(&[("e.toml", &one_turn(&format!("{{ exit = {code} }}")))]);
        let mut sim = Sim::start(&fixture, Arc::new(WithinCwd)).await;
        let err = sim.prompt("[[sim:e]]").await.unwrap_err();
        let AcpError::Exited {
            status: Some(status),
            ..
        } = &err
        else {
            panic!("expected Exited, got {err:?}");
        };
        assert_eq!(status.code(), Some(code));
        let text = err.to_string();
        assert!(
            text.starts_with(&format!("agent exited (status {code}); stderr: "))
                && text.ends_with(&format!("exiting with status {code} mid-turn, as scripted")),
            "{text}"
        );
        let all = events_until_exit(&mut sim.events).await;
        assert_eq!(trace(&all), ["exited"]);
        within("shutdown", sim.client.shutdown()).await;
    }
}

#[tokio::test]
async fn a_failing_turn_is_an_rpc_error_and_the_agent_goes_on() {
    let fixture = Fixture::new(&[
        (
            "f.toml",
            &one_turn(
                "{ say = \"trying\" },\n{ fail = \"something broke in {{session}}\" },\n{ say = \"never\" }",
            ),
        ),
        ("ok.toml", &one_turn("{ stop = \"max_tokens\" }")),
    ]);
    let mut sim = Sim::start(&fixture, Arc::new(WithinCwd)).await;
    let err = sim.prompt("[[sim:f]]").await.unwrap_err();
    // The agent's message, then what it wrote on stderr.
    let text = err.to_string();
    let expected = format!(
        "agent answered `session/prompt` with error -32603: something broke in {}; stderr: ",
        sim.session
    );
    assert!(text.starts_with(&expected), "{text}");
    assert!(!err.stderr_tail().is_empty(), "{err:?}");
    assert_eq!(message_text(&sim.drain()), "trying");
    assert_eq!(
        sim.prompt("[[sim:ok]]").await.unwrap(),
        StopReason::MaxTokens
    );
    sim.finish().await;
}
