//! Tool steps through a real `enki mcp` server: reports land in the
//! project's database, tool errors fail the turn, children die at EOF.

use std::process::Stdio;
use std::time::{Duration, Instant};

use enki_store::Store;
use enki_tests::{Project, TIMEOUT, enki_bin, one_turn};
use serde_json::{Value, json};

use crate::Fixture;
use crate::client::AcpClient;

#[test]
fn worker_script_reports_through_a_real_enki_mcp_and_writes_via_acp_fs() {
    let project = Project::new();
    let mut planner = project.mcp(&["--role", "planner"]);
    let created = planner.call_ok("enki_task_create", json!({"title": "greet"}));
    let task = created["structuredContent"]["task_id"]
        .as_str()
        .unwrap()
        .to_string();
    drop(planner);

    // worker.toml is selected by the role in the enki server's args.
    let fixture = Fixture::new(&[(
        "worker.toml",
        r#"
[[turn]]
steps = [
  { say = "Working on: {{prompt}}" },
  { tool = "enki_worker_report", args = { status = "editing hello.txt" } },
  { write = "hello.txt", content = "hello from {{session}}\n" },
  { tool = "enki_worker_report", args = { status = "done", output = "[OUTPUT] wrote hello.txt [/OUTPUT]" } },
]
"#,
    )]);
    let cwd = fixture.cwd();
    let mut agent = AcpClient::start(fixture.dir(), true);
    let servers = json!([{
        "name": "enki",
        "command": enki_bin(),
        "args": ["mcp", "--role", "worker", "--task-id", task],
        "env": [{"name": "ENKI_DIR", "value": project.enki_dir()}],
    }]);
    let session = agent.new_session(&cwd, servers);

    let turn = agent.prompt(&session, "Implement the greeting");
    assert_eq!(turn.stop_reason(), "end_turn", "{}", turn.response);
    assert_eq!(turn.text(), "Working on: Implement the greeting");

    // Tool calls are reported as tool_call + tool_call_update.
    let calls: Vec<&Value> = turn
        .of_kind("tool_call")
        .into_iter()
        .filter(|c| c["title"] == "enki_worker_report")
        .collect();
    assert_eq!(calls.len(), 2, "{:?}", turn.updates);
    assert_eq!(calls[0]["rawInput"], json!({"status": "editing hello.txt"}));
    assert!(
        ["pending", "in_progress"].contains(&calls[0]["status"].as_str().unwrap()),
        "{}",
        calls[0]
    );
    for call in &calls {
        let id = &call["toolCallId"];
        let done = turn
            .of_kind("tool_call_update")
            .into_iter()
            .find(|u| u["toolCallId"] == *id)
            .unwrap_or_else(|| panic!("no update for {call}"));
        assert_eq!(done["status"], "completed", "{done}");
        assert_eq!(done["rawOutput"]["isError"], false, "{done}");
        assert!(done["content"][0]["content"]["text"].is_string(), "{done}");
    }

    // The write went through ACP fs, inside the session's cwd.
    let writes: Vec<&Value> = agent
        .served
        .iter()
        .filter(|(m, _)| m == "fs/write_text_file")
        .map(|(_, p)| p)
        .collect();
    assert_eq!(writes.len(), 1, "{:?}", agent.served);
    assert_eq!(writes[0]["sessionId"], session.as_str());
    assert_eq!(writes[0]["path"], json!(cwd.join("hello.txt")));
    assert_eq!(writes[0]["content"], format!("hello from {session}\n"));
    assert!(cwd.join("hello.txt").is_file());

    // The reports reached the database.
    let store = Store::open(&project.db_path()).unwrap();
    let row = store.task(&task).unwrap().expect("task row");
    assert_eq!(row.activity.as_deref(), Some("done"));
    assert_eq!(
        row.output.as_deref(),
        Some("[OUTPUT] wrote hello.txt [/OUTPUT]")
    );

    assert_eq!(agent.finish().code(), Some(0));
}

#[test]
fn tool_errors_fail_the_turn_unless_allowed_and_the_builtin_calls_status() {
    let project = Project::new();
    let fixture = Fixture::new(&[
        (
            "strict.toml",
            &one_turn(
                "{ tool = \"enki_worker_report\", args = { status = \" \" } },\n{ say = \"never\" }",
            ),
        ),
        (
            "lenient.toml",
            &one_turn(
                "{ tool = \"enki_worker_report\", args = { status = \" \" }, allow_error = true },\n\
                 { say = \"went on\" }",
            ),
        ),
        (
            "noserver.toml",
            &one_turn("{ tool = \"enki_status\", server = \"files\" }"),
        ),
    ]);
    let mut agent = AcpClient::start(fixture.dir(), false);
    let servers = json!([{
        "name": "enki",
        "command": enki_bin(),
        "args": ["mcp", "--role", "worker", "--task-id", "task-01ZZZZ"],
        "env": [{"name": "ENKI_DIR", "value": project.enki_dir()}],
    }]);
    let session = agent.new_session(&fixture.cwd(), servers);

    let turn = agent.prompt(&session, "[[sim:strict]]");
    let message = turn.error_message();
    assert!(message.contains("enki_worker_report"), "{message}");
    assert!(!turn.text().contains("never"));
    let update = turn.of_kind("tool_call_update")[0];
    assert_eq!(update["status"], "failed", "{update}");

    let turn = agent.prompt(&session, "[[sim:lenient]]");
    assert_eq!(turn.stop_reason(), "end_turn", "{}", turn.response);
    assert_eq!(turn.text(), "went on");

    let turn = agent.prompt(&session, "[[sim:noserver]]");
    assert!(turn.error_message().contains("files"), "{}", turn.response);

    // No marker, no worker.toml, no --script: the built-in script.
    let turn = agent.prompt(&session, "hello");
    assert_eq!(turn.stop_reason(), "end_turn", "{}", turn.response);
    assert!(turn.text().contains("sim-agent"), "{}", turn.text());
    let call = turn.of_kind("tool_call")[0];
    assert_eq!(call["title"], "enki_status");
    let update = turn.of_kind("tool_call_update")[0];
    assert_eq!(update["status"], "completed", "{update}");
    assert_eq!(agent.finish().code(), Some(0));
}

#[test]
fn mcp_children_are_killed_at_eof() {
    let fixture = Fixture::new(&[]);
    let cwd = fixture.cwd();
    let mut agent = AcpClient::start(fixture.dir(), false);
    // A "server" that never answers and ignores stdin closing: only a kill
    // ends it. It runs in the session cwd and writes its pid there.
    agent.new_session(
        &cwd,
        json!([{"name": "stubborn", "command": "sh",
                "args": ["-c", "echo $$ > server.pid.tmp && mv server.pid.tmp server.pid && exec sleep 600"],
                "env": []}]),
    );
    let pid_file = cwd.join("server.pid");
    let started = Instant::now();
    while !pid_file.is_file() {
        assert!(started.elapsed() < TIMEOUT, "the server never started");
        std::thread::sleep(Duration::from_millis(5));
    }
    let pid = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .to_string();
    let alive = |pid: &str| {
        std::process::Command::new("kill")
            .args(["-0", pid])
            .stderr(Stdio::null())
            .status()
            .unwrap()
            .success()
    };
    assert!(alive(&pid));
    assert_eq!(agent.finish().code(), Some(0));
    // The agent killed and reaped it before exiting.
    assert!(!alive(&pid), "MCP server {pid} survived the agent");
}
