//! The handshake, bad input, EOF and startup errors, and how a prompt picks
//! its script (marker, role, `--script`) with turns advancing per session.

use std::process::Stdio;

use enki_tests::{enki_command, one_turn};
use serde_json::json;

use crate::Fixture;
use crate::client::AcpClient;

#[test]
fn handshake_answers_acp_version_1_and_capabilities() {
    let fixture = Fixture::new(&[]);
    let mut agent = AcpClient::spawn(&["--scripts-dir", fixture.dir().to_str().unwrap()]);
    let result = agent.initialize(true);
    assert_eq!(result["protocolVersion"], 1);
    assert_eq!(
        result["agentCapabilities"],
        json!({"loadSession": true,
               "sessionCapabilities": {"resume": {}},
               "promptCapabilities": {"image": false, "audio": false, "embeddedContext": false},
               "mcpCapabilities": {"http": true, "sse": false}})
    );
    assert_eq!(result["authMethods"], json!([]));
    let auth = agent.request("authenticate", json!({"methodId": "none"}));
    assert_eq!(auth["result"], json!({}));
    let session = agent.new_session(&fixture.cwd(), json!([]));
    assert!(!session.is_empty());
    assert!(agent.finish().success());
}

#[test]
fn bad_input_unknown_methods_and_sessions() {
    let fixture = Fixture::new(&[("s.toml", &one_turn("{ say = \"ok\" }"))]);
    let (mut agent, session) = fixture.agent(false);

    // Invalid JSON is ignored (diagnosed on stderr): the next request is
    // answered normally.
    agent.send_raw(b"this is not json\n{\"broken\":\n");
    let response = agent.request("session/load", json!({"sessionId": session}));
    assert_eq!(response["error"]["code"], -32602, "{response}");
    assert!(
        response["error"]["message"]
            .as_str()
            .unwrap()
            .contains("session/load needs `cwd`"),
        "{response}"
    );
    let response = agent.request("frobnicate", json!({}));
    assert_eq!(response["error"]["code"], -32601, "{response}");

    let response = agent.request(
        "session/prompt",
        json!({"sessionId": "sim-nope", "prompt": [{"type": "text", "text": "hi"}]}),
    );
    assert_eq!(response["error"]["code"], -32602, "{response}");
    assert!(
        response["error"]["message"]
            .as_str()
            .unwrap()
            .contains("sim-nope"),
        "{response}"
    );
    let response = agent.request("session/prompt", json!({"sessionId": session}));
    assert_eq!(response["error"]["code"], -32602, "{response}");
    let response = agent.request("session/new", json!({"cwd": "relative/dir"}));
    assert_eq!(response["error"]["code"], -32602, "{response}");
    let response = agent.request(
        "session/new",
        json!({"cwd": fixture.cwd(), "mcpServers": [{"name": "x"}]}),
    );
    assert_eq!(response["error"]["code"], -32602, "{response}");

    // Still serving.
    let turn = agent.prompt(&session, "[[sim:s]]");
    assert_eq!(turn.stop_reason(), "end_turn");
    assert_eq!(turn.text(), "ok");
    let (status, stderr) = agent.finish_with_stderr();
    assert!(status.success());
    assert!(stderr.contains("invalid line"), "{stderr}");
}

#[test]
fn eof_on_stdin_exits_0() {
    let fixture = Fixture::new(&[]);
    let (agent, _session) = fixture.agent(false);
    let status = agent.finish();
    assert_eq!(status.code(), Some(0));
}

#[test]
fn a_missing_script_file_is_a_startup_error() {
    let fixture = Fixture::new(&[]);
    let missing = fixture.dir().join("missing.toml");
    let output = enki_command()
        .args(["sim-agent", "--script"])
        .arg(&missing)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("missing.toml"), "{stderr}");
    assert!(output.stdout.is_empty(), "stdout carries ACP only");

    let bad = fixture.dir().join("bad.toml");
    std::fs::write(&bad, "[[turn]]\nsteps = [\n  { say = 1 },\n]\n").unwrap();
    let output = enki_command()
        .args(["sim-agent", "--script"])
        .arg(&bad)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("bad.toml:3: turn 1, step 1"), "{stderr}");
}

#[test]
fn markers_select_scripts_and_turns_advance_per_script_per_session() {
    let fixture = Fixture::new(&[
        (
            "alpha.toml",
            "[[turn]]\nsteps = [{ say = \"alpha one\" }]\n[[turn]]\nsteps = [{ say = \"alpha two\" }]\n",
        ),
        (
            "beta.json",
            r#"{"turn": [{"steps": [{"say": "beta"}, {"stop": "max_tokens"}]}]}"#,
        ),
    ]);
    let (mut agent, session) = fixture.agent(false);
    let said = |agent: &mut AcpClient, session: &str, prompt: &str| agent.prompt(session, prompt);

    assert_eq!(
        said(&mut agent, &session, "do it [[sim:alpha]]").text(),
        "alpha one"
    );
    let beta = said(&mut agent, &session, "[[sim:beta]] please");
    assert_eq!(beta.text(), "beta");
    assert_eq!(beta.stop_reason(), "max_tokens");
    assert_eq!(
        said(&mut agent, &session, "[[sim:alpha]]").text(),
        "alpha two"
    );
    // The last turn repeats.
    assert_eq!(
        said(&mut agent, &session, "[[sim:alpha]]").text(),
        "alpha two"
    );

    // Counters are per session.
    let other = agent.new_session(&fixture.cwd(), json!([]));
    assert_eq!(
        said(&mut agent, &other, "[[sim:alpha]]").text(),
        "alpha one"
    );

    // A marker naming a missing script is an error turn naming it.
    let turn = said(&mut agent, &session, "[[sim:ghost]]");
    assert!(
        turn.error_message().contains("ghost.toml"),
        "{}",
        turn.response
    );
    assert_eq!(agent.finish().code(), Some(0));
}

#[test]
fn role_selects_a_script_and_script_option_is_the_fallback() {
    let fixture = Fixture::new(&[
        ("planner.toml", &one_turn("{ say = \"planner script\" }")),
        ("other.toml", &one_turn("{ say = \"other script\" }")),
    ]);
    let default = fixture.dir().join("other.toml");
    let mut agent = AcpClient::spawn(&[
        "--scripts-dir",
        fixture.dir().to_str().unwrap(),
        "--script",
        default.to_str().unwrap(),
    ]);
    agent.initialize(false);
    // The server is never called, only named: `true` stands in for enki.
    let server = |role: &str| json!([{"name": "enki", "command": "true", "args": ["mcp", "--role", role], "env": []}]);
    let planner = agent.new_session(&fixture.cwd(), server("planner"));
    let worker = agent.new_session(&fixture.cwd(), server("worker"));
    assert_eq!(agent.prompt(&planner, "plan it").text(), "planner script");
    // No worker.toml: the --script file.
    assert_eq!(agent.prompt(&worker, "work").text(), "other script");
    assert_eq!(agent.finish().code(), Some(0));
}
