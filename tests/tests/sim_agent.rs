//! `enki sim-agent`, the built-in scripted ACP agent, driven over its stdio
//! by a minimal blocking ACP client: handshake, script selection (marker,
//! role, --script, built-in), every observable step kind, ACP fs requests,
//! permission requests, cancellation, crashes and exits, and a tool call
//! through a real `enki mcp` server that lands in the project's database
//! (WORKERS.md, "Built-in simulated agent").
//!
//! Choice documented here: a permission step denied with `on_deny = "fail"`
//! ends the turn with stopReason `refusal` (not a JSON-RPC error).

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use enki_store::Store;
use enki_tests::{Project, TIMEOUT, enki_bin, enki_command, one_turn};
use serde_json::{Value, json};

// ----- a minimal ACP client ----------------------------------------------------

/// What the client answers to `session/request_permission`.
#[derive(Clone, Copy)]
enum Permission {
    Select(&'static str),
    Cancelled,
}

/// One prompt's outcome: the response and everything streamed before it.
struct TurnResult {
    response: Value,
    updates: Vec<Value>,
    garbage: Vec<String>,
}

impl TurnResult {
    /// The concatenated agent_message_chunk texts.
    fn text(&self) -> String {
        self.of_kind("agent_message_chunk")
            .iter()
            .map(|u| u["content"]["text"].as_str().unwrap_or_default())
            .collect()
    }

    fn of_kind(&self, kind: &str) -> Vec<&Value> {
        self.updates
            .iter()
            .filter(|u| u["sessionUpdate"] == kind)
            .collect()
    }

    fn stop_reason(&self) -> &str {
        self.response["result"]["stopReason"]
            .as_str()
            .unwrap_or_else(|| panic!("no stopReason in {}", self.response))
    }

    fn error_message(&self) -> &str {
        assert_eq!(
            self.response["error"]["code"], -32603,
            "expected an internal error: {}",
            self.response
        );
        self.response["error"]["message"]
            .as_str()
            .unwrap_or_default()
    }
}

struct AcpClient {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    stderr: Arc<Mutex<String>>,
    stderr_reader: Option<std::thread::JoinHandle<()>>,
    next_id: i64,
    permission: Permission,
    /// Requests the agent made (method, params), in order.
    served: Vec<(String, Value)>,
}

impl AcpClient {
    fn spawn(args: &[&str]) -> AcpClient {
        let mut cmd = enki_command();
        cmd.arg("sim-agent")
            .args(args)
            .env_remove("ENKI_SIM_SCRIPTS")
            .env("SIM_TEST_WHO", "tester")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn enki sim-agent");
        let stdout = child.stdout.take().expect("stdout piped");
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut pipe = child.stderr.take().expect("stderr piped");
        let sink = Arc::clone(&stderr);
        let stderr_reader = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let stdin = child.stdin.take();
        AcpClient {
            child,
            stdin,
            lines,
            stderr,
            stderr_reader: Some(stderr_reader),
            next_id: 1,
            permission: Permission::Select("allow-once"),
            served: Vec::new(),
        }
    }

    /// An agent with a scripts dir, initialized (fs offered or not).
    fn start(scripts: &Path, fs: bool) -> AcpClient {
        let mut agent = AcpClient::spawn(&["--scripts-dir", scripts.to_str().unwrap()]);
        agent.initialize(fs);
        agent
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    fn send(&mut self, message: &Value) {
        let mut line = serde_json::to_vec(message).unwrap();
        line.push(b'\n');
        self.send_raw(&line);
    }

    fn send_raw(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin.write_all(bytes).expect("write to the agent");
        stdin.flush().expect("flush");
    }

    /// The next line the agent writes, raw.
    fn read_line(&mut self) -> String {
        match self.lines.recv_timeout(TIMEOUT) {
            Ok(line) => line,
            Err(RecvTimeoutError::Timeout) => {
                panic!(
                    "the agent wrote nothing within {TIMEOUT:?}; stderr:\n{}",
                    self.stderr()
                )
            }
            Err(RecvTimeoutError::Disconnected) => {
                panic!("the agent closed stdout; stderr:\n{}", self.stderr())
            }
        }
    }

    fn send_request(&mut self, method: &str, params: Value) -> i64 {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        id
    }

    /// Reads until the response to `id`, serving the agent's requests and
    /// collecting its updates and non-JSON lines.
    fn wait_response(&mut self, id: i64) -> TurnResult {
        let mut updates = Vec::new();
        let mut garbage = Vec::new();
        loop {
            let line = self.read_line();
            let Ok(message) = serde_json::from_str::<Value>(&line) else {
                garbage.push(line);
                continue;
            };
            assert_eq!(message["jsonrpc"], "2.0", "{message}");
            if message.get("method").is_none() {
                assert_eq!(message["id"], json!(id), "unexpected response: {message}");
                return TurnResult {
                    response: message,
                    updates,
                    garbage,
                };
            }
            let method = message["method"].as_str().unwrap().to_string();
            let params = message["params"].clone();
            match message.get("id") {
                None => {
                    assert_eq!(method, "session/update", "{message}");
                    updates.push(params["update"].clone());
                }
                Some(request_id) => {
                    let request_id = request_id.clone();
                    let reply = self.serve(&method, &params);
                    self.served.push((method, params));
                    let mut response = json!({"jsonrpc": "2.0", "id": request_id});
                    match reply {
                        Ok(result) => response["result"] = result,
                        Err(message) => {
                            response["error"] = json!({"code": -32603, "message": message})
                        }
                    }
                    self.send(&response);
                }
            }
        }
    }

    /// What a real client does for the agent's requests.
    fn serve(&mut self, method: &str, params: &Value) -> Result<Value, String> {
        match method {
            "fs/write_text_file" => {
                let path = PathBuf::from(params["path"].as_str().unwrap());
                assert!(path.is_absolute(), "ACP paths are absolute: {params}");
                std::fs::write(&path, params["content"].as_str().unwrap())
                    .map_err(|e| e.to_string())?;
                Ok(Value::Null)
            }
            "fs/read_text_file" => {
                let path = PathBuf::from(params["path"].as_str().unwrap());
                let content = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
                Ok(json!({"content": content}))
            }
            "session/request_permission" => Ok(match self.permission {
                Permission::Select(option) => {
                    json!({"outcome": {"outcome": "selected", "optionId": option}})
                }
                Permission::Cancelled => json!({"outcome": {"outcome": "cancelled"}}),
            }),
            other => panic!("unexpected agent request {other}: {params}"),
        }
    }

    fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.send_request(method, params);
        let result = self.wait_response(id);
        assert!(result.updates.is_empty() && result.garbage.is_empty());
        result.response
    }

    fn initialize(&mut self, fs: bool) -> Value {
        let response = self.request(
            "initialize",
            json!({"protocolVersion": 1,
                   "clientCapabilities": {"fs": {"readTextFile": fs, "writeTextFile": fs},
                                          "terminal": false}}),
        );
        response["result"].clone()
    }

    fn new_session(&mut self, cwd: &Path, servers: Value) -> String {
        let response = self.request("session/new", json!({"cwd": cwd, "mcpServers": servers}));
        response["result"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no sessionId: {response}"))
            .to_string()
    }

    fn send_prompt(&mut self, session: &str, text: &str) -> i64 {
        self.send_request(
            "session/prompt",
            json!({"sessionId": session, "prompt": [{"type": "text", "text": text}]}),
        )
    }

    fn prompt(&mut self, session: &str, text: &str) -> TurnResult {
        let id = self.send_prompt(session, text);
        self.wait_response(id)
    }

    /// Waits for the process to exit (stdin left as is).
    fn wait_exit(&mut self) -> ExitStatus {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("wait on the agent") {
                return status;
            }
            assert!(
                started.elapsed() < TIMEOUT,
                "the agent did not exit; stderr:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Closes stdin and waits for the exit status.
    fn finish(mut self) -> ExitStatus {
        drop(self.stdin.take());
        self.wait_exit()
    }

    /// Closes stdin, waits for the exit status and for all of stderr.
    fn finish_with_stderr(mut self) -> (ExitStatus, String) {
        drop(self.stdin.take());
        let status = self.wait_exit();
        if let Some(reader) = self.stderr_reader.take() {
            reader.join().expect("stderr reader");
        }
        (status, self.stderr())
    }

    /// After the agent exited: every line it still wrote.
    fn remaining_lines(&mut self) -> Vec<String> {
        let mut lines = Vec::new();
        loop {
            match self.lines.recv_timeout(TIMEOUT) {
                Ok(line) => lines.push(line),
                Err(RecvTimeoutError::Disconnected) => return lines,
                Err(RecvTimeoutError::Timeout) => panic!("stdout stayed open after exit"),
            }
        }
    }
}

impl Drop for AcpClient {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ----- fixtures -------------------------------------------------------------------

/// A temporary dir of scripts, and a canonical temporary working dir.
struct Fixture {
    scripts: tempfile::TempDir,
    cwd_dir: tempfile::TempDir,
}

impl Fixture {
    fn new(scripts: &[(&str, &str)]) -> Fixture {
        let fixture = Fixture {
            scripts: tempfile::tempdir().unwrap(),
            cwd_dir: tempfile::tempdir().unwrap(),
        };
        for (name, text) in scripts {
            std::fs::write(fixture.scripts.path().join(name), text).unwrap();
        }
        fixture
    }

    fn dir(&self) -> &Path {
        self.scripts.path()
    }

    fn cwd(&self) -> PathBuf {
        self.cwd_dir.path().canonicalize().unwrap()
    }

    /// An initialized agent with one session in the working dir.
    fn agent(&self, fs: bool) -> (AcpClient, String) {
        let mut agent = AcpClient::start(self.dir(), fs);
        let session = agent.new_session(&self.cwd(), json!([]));
        (agent, session)
    }
}

// ----- handshake and protocol ----------------------------------------------------

#[test]
fn handshake_answers_acp_version_1_and_capabilities() {
    let fixture = Fixture::new(&[]);
    let mut agent = AcpClient::spawn(&["--scripts-dir", fixture.dir().to_str().unwrap()]);
    let result = agent.initialize(true);
    assert_eq!(result["protocolVersion"], 1);
    assert_eq!(
        result["agentCapabilities"],
        json!({"loadSession": false,
               "promptCapabilities": {"image": false, "audio": false, "embeddedContext": false},
               "mcpCapabilities": {"http": false, "sse": false}})
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
    assert_eq!(response["error"]["code"], -32601, "{response}");
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

// ----- a real enki mcp server --------------------------------------------------------

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

// ----- selection ---------------------------------------------------------------------

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

// ----- steps -----------------------------------------------------------------------

#[test]
fn say_think_plan_and_templating() {
    let fixture = Fixture::new(&[(
        "s.toml",
        &one_turn(
            "{ say = \"Prompt was: {{prompt}}; who: {{env.SIM_TEST_WHO}}; cwd: {{cwd}}\" },\n\
             { think = \"thinking about {{session}}\" },\n\
             { plan = [\"read\", \"edit\", \"test\"] },",
        ),
    )]);
    let (mut agent, session) = fixture.agent(false);
    let turn = agent.prompt(&session, "[[sim:s]] hello");
    assert_eq!(turn.stop_reason(), "end_turn");
    assert_eq!(
        turn.text(),
        format!(
            "Prompt was: [[sim:s]] hello; who: tester; cwd: {}",
            fixture.cwd().display()
        )
    );
    assert!(
        turn.of_kind("agent_message_chunk").len() > 1,
        "long text is streamed in chunks"
    );
    let thought = turn.of_kind("agent_thought_chunk")[0];
    assert_eq!(
        thought["content"]["text"],
        format!("thinking about {session}")
    );
    let plan = turn.of_kind("plan")[0];
    let entries: Vec<&str> = plan["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["content"].as_str().unwrap())
        .collect();
    assert_eq!(entries, ["read", "edit", "test"]);
    assert_eq!(plan["entries"][0]["status"], "pending");
    assert_eq!(agent.finish().code(), Some(0));
}

#[test]
fn files_directly_when_the_client_offers_no_fs() {
    let fixture = Fixture::new(&[(
        "files.toml",
        &one_turn(
            "{ write = \"sub/a.txt\", content = \"one\\n\" },\n\
             { append = \"sub/a.txt\", content = \"two\\n\" },\n\
             { read = \"sub/a.txt\" },\n\
             { delete = \"old.txt\" },\n\
             { delete = \"never-existed.txt\" },",
        ),
    )]);
    std::fs::write(fixture.cwd().join("old.txt"), "bye").unwrap();
    let (mut agent, session) = fixture.agent(false);
    let turn = agent.prompt(&session, "[[sim:files]]");
    assert_eq!(turn.stop_reason(), "end_turn", "{}", turn.response);
    assert!(
        agent.served.is_empty(),
        "no fs requests: {:?}",
        agent.served
    );
    assert_eq!(
        std::fs::read_to_string(fixture.cwd().join("sub/a.txt")).unwrap(),
        "one\ntwo\n"
    );
    assert!(!fixture.cwd().join("old.txt").exists());
    assert!(
        turn.text().contains("one"),
        "read is echoed: {}",
        turn.text()
    );
    let kinds: Vec<&str> = turn
        .of_kind("tool_call")
        .iter()
        .map(|c| c["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["edit", "edit", "read", "delete", "delete"]);
    assert_eq!(agent.finish().code(), Some(0));
}

#[test]
fn files_through_acp_fs_when_offered_and_never_outside_cwd() {
    let fixture = Fixture::new(&[
        (
            "files.toml",
            &one_turn(
                "{ append = \"notes.md\", content = \"more\\n\" },\n\
                 { read = \"notes.md\" },",
            ),
        ),
        (
            "escape.toml",
            &one_turn("{ write = \"../outside.txt\", content = \"x\" }"),
        ),
    ]);
    let cwd = fixture.cwd();
    std::fs::write(cwd.join("notes.md"), "first\n").unwrap();
    let (mut agent, session) = fixture.agent(true);
    let turn = agent.prompt(&session, "[[sim:files]]");
    assert_eq!(turn.stop_reason(), "end_turn", "{}", turn.response);
    let methods: Vec<&str> = agent.served.iter().map(|(m, _)| m.as_str()).collect();
    assert_eq!(
        methods,
        [
            "fs/read_text_file",
            "fs/write_text_file",
            "fs/read_text_file"
        ]
    );
    assert_eq!(agent.served[1].1["content"], "first\nmore\n");
    assert_eq!(
        std::fs::read_to_string(cwd.join("notes.md")).unwrap(),
        "first\nmore\n"
    );
    assert!(turn.text().contains("first"), "{}", turn.text());

    agent.served.clear();
    let turn = agent.prompt(&session, "[[sim:escape]]");
    assert!(turn.error_message().contains("leaves"), "{}", turn.response);
    assert!(agent.served.is_empty(), "nothing was asked of the client");
    assert!(!cwd.parent().unwrap().join("outside.txt").exists());
    assert_eq!(agent.finish().code(), Some(0));
}

#[test]
fn run_reports_output_and_checks_the_exit_status() {
    let fixture = Fixture::new(&[
        (
            "ok.toml",
            &one_turn(
                "{ run = \"echo out-text; echo err-text >&2; pwd; exit 3\", expect_status = 3 }",
            ),
        ),
        (
            "bad.toml",
            &one_turn("{ run = \"exit 1\" },\n{ say = \"never\" }"),
        ),
    ]);
    let (mut agent, session) = fixture.agent(false);
    let turn = agent.prompt(&session, "[[sim:ok]]");
    assert_eq!(turn.stop_reason(), "end_turn", "{}", turn.response);
    let call = turn.of_kind("tool_call")[0];
    assert_eq!(call["kind"], "execute");
    let update = turn.of_kind("tool_call_update")[0];
    assert_eq!(update["status"], "completed");
    let text = update["content"][0]["content"]["text"].as_str().unwrap();
    for expected in ["exit status 3", "out-text", "err-text"] {
        assert!(text.contains(expected), "{expected} in {text}");
    }
    assert!(
        text.contains(&fixture.cwd().display().to_string()),
        "runs in the session cwd: {text}"
    );
    assert_eq!(update["rawOutput"]["exit_code"], 3);

    let turn = agent.prompt(&session, "[[sim:bad]]");
    assert!(
        turn.error_message().contains("exit status 1"),
        "{}",
        turn.response
    );
    assert!(!turn.text().contains("never"));
    assert_eq!(turn.of_kind("tool_call_update")[0]["status"], "failed");
    assert_eq!(agent.finish().code(), Some(0));
}

#[test]
fn permission_allowed_rejected_and_continue() {
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
                "{ permission = \"Edit src/lib.rs\", on_deny = \"continue\" },\n{ say = \"after\" }",
            ),
        ),
    ]);
    let (mut agent, session) = fixture.agent(false);

    agent.permission = Permission::Select("allow-once");
    let turn = agent.prompt(&session, "[[sim:strict]]");
    assert_eq!(turn.stop_reason(), "end_turn");
    assert_eq!(turn.text(), "permitted");
    let (method, params) = &agent.served[0];
    assert_eq!(method, "session/request_permission");
    assert_eq!(params["sessionId"], session.as_str());
    assert_eq!(params["toolCall"]["title"], "Edit src/lib.rs");
    assert!(params["toolCall"]["toolCallId"].is_string());
    let kinds: Vec<&str> = params["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["allow_once", "allow_always", "reject_once", "reject_always"]
    );

    // Denied with on_deny = "fail": stopReason refusal, the rest is skipped.
    agent.permission = Permission::Select("reject-once");
    let turn = agent.prompt(&session, "[[sim:strict]]");
    assert_eq!(turn.stop_reason(), "refusal", "{}", turn.response);
    assert!(!turn.text().contains("permitted"));
    assert!(turn.text().contains("denied"), "{}", turn.text());

    agent.permission = Permission::Select("reject-always");
    let turn = agent.prompt(&session, "[[sim:lenient]]");
    assert_eq!(turn.stop_reason(), "end_turn");
    assert!(turn.text().ends_with("after"), "{}", turn.text());

    // A cancelled permission request cancels the turn.
    agent.permission = Permission::Cancelled;
    let turn = agent.prompt(&session, "[[sim:strict]]");
    assert_eq!(turn.stop_reason(), "cancelled");
    assert_eq!(agent.finish().code(), Some(0));
}

#[test]
fn hang_then_session_cancel_ends_with_cancelled() {
    let fixture = Fixture::new(&[
        (
            "hang.toml",
            &one_turn("{ say = \"hanging\" },\n{ hang = true },\n{ say = \"never\" }"),
        ),
        (
            "sleepy.toml",
            &one_turn("{ say = \"sleeping\" },\n{ sleep_ms = 600000 }"),
        ),
    ]);
    let (mut agent, session) = fixture.agent(false);
    for (script, said) in [("hang", "hanging"), ("sleepy", "sleeping")] {
        let id = agent.send_prompt(&session, &format!("[[sim:{script}]]"));
        // Wait until the turn is under way, then cancel it.
        let line: Value = serde_json::from_str(&agent.read_line()).unwrap();
        assert_eq!(line["params"]["update"]["content"]["text"], said, "{line}");
        // A second prompt while one runs is refused.
        let busy = agent.send_prompt(&session, "[[sim:hang]]");
        let refused = agent.wait_response(busy);
        assert_eq!(
            refused.response["error"]["code"], -32602,
            "{}",
            refused.response
        );
        agent.send(&json!({"jsonrpc": "2.0", "method": "session/cancel",
                           "params": {"sessionId": session}}));
        let turn = agent.wait_response(id);
        assert_eq!(turn.stop_reason(), "cancelled", "{}", turn.response);
        assert!(!turn.text().contains("never"));
    }
    // The session takes prompts again.
    let turn = agent.prompt(&session, "hello");
    assert_eq!(turn.stop_reason(), "end_turn");
    assert_eq!(agent.finish().code(), Some(0));
}

#[test]
fn fail_is_a_json_rpc_error_on_the_prompt() {
    let fixture = Fixture::new(&[(
        "f.toml",
        &one_turn(
            "{ say = \"trying\" },\n{ fail = \"something broke in {{session}}\" },\n{ say = \"never\" }",
        ),
    )]);
    let (mut agent, session) = fixture.agent(false);
    let turn = agent.prompt(&session, "[[sim:f]]");
    assert_eq!(
        turn.error_message(),
        format!("something broke in {session}")
    );
    assert_eq!(turn.text(), "trying");
    assert_eq!(agent.finish().code(), Some(0));
}

#[test]
fn stop_ends_the_turn_with_that_reason() {
    let fixture = Fixture::new(&[(
        "s.toml",
        &one_turn("{ say = \"partial\" },\n{ stop = \"max_tokens\" },\n{ say = \"never\" }"),
    )]);
    let (mut agent, session) = fixture.agent(false);
    let turn = agent.prompt(&session, "[[sim:s]]");
    assert_eq!(turn.stop_reason(), "max_tokens");
    assert_eq!(turn.text(), "partial");
    assert_eq!(agent.finish().code(), Some(0));
}

#[test]
fn garbage_writes_a_non_json_line_and_goes_on() {
    let fixture = Fixture::new(&[(
        "g.toml",
        &one_turn("{ garbage = \"this is not json\" },\n{ say = \"still here\" }"),
    )]);
    let (mut agent, session) = fixture.agent(false);
    let turn = agent.prompt(&session, "[[sim:g]]");
    assert_eq!(turn.garbage, ["this is not json"]);
    assert_eq!(turn.stop_reason(), "end_turn");
    assert_eq!(turn.text(), "still here");
    assert_eq!(agent.finish().code(), Some(0));
}

#[test]
fn crash_exits_non_zero_without_answering() {
    let fixture = Fixture::new(&[(
        "c.toml",
        &one_turn("{ say = \"about to crash\" },\n{ crash = true }"),
    )]);
    let (mut agent, session) = fixture.agent(false);
    let id = agent.send_prompt(&session, "[[sim:c]]");
    let status = agent.wait_exit();
    assert_eq!(status.code(), Some(3));
    let lines = agent.remaining_lines();
    assert_eq!(lines.len(), 1, "only the chunk before the crash: {lines:?}");
    let answered = lines
        .iter()
        .any(|l| serde_json::from_str::<Value>(l).is_ok_and(|v| v["id"] == json!(id)));
    assert!(!answered, "{lines:?}");
}

#[test]
fn exit_step_exits_with_its_code_mid_turn() {
    let fixture = Fixture::new(&[("e.toml", &one_turn("{ exit = 0 }"))]);
    let (mut agent, session) = fixture.agent(false);
    agent.send_prompt(&session, "[[sim:e]]");
    assert_eq!(agent.wait_exit().code(), Some(0));
    assert!(
        agent.remaining_lines().is_empty(),
        "no answer to the prompt"
    );

    let fixture = Fixture::new(&[("e.toml", &one_turn("{ exit = 42 }"))]);
    let (mut agent, session) = fixture.agent(false);
    agent.send_prompt(&session, "[[sim:e]]");
    assert_eq!(agent.wait_exit().code(), Some(42));
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
