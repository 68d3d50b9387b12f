//! A minimal blocking ACP client for `enki sim-agent`: it serves the agent's
//! fs and permission requests and collects each turn's updates.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use enki_tests::{TIMEOUT, enki_command};
use serde_json::{Value, json};

/// What the client answers to `session/request_permission`.
#[derive(Clone, Copy)]
pub(crate) enum Permission {
    Select(&'static str),
    Cancelled,
}

/// One prompt's outcome: the response and everything streamed before it.
pub(crate) struct TurnResult {
    pub(crate) response: Value,
    pub(crate) updates: Vec<Value>,
    pub(crate) garbage: Vec<String>,
}

impl TurnResult {
    /// The concatenated agent_message_chunk texts.
    pub(crate) fn text(&self) -> String {
        self.of_kind("agent_message_chunk")
            .iter()
            .map(|u| u["content"]["text"].as_str().unwrap_or_default())
            .collect()
    }

    pub(crate) fn of_kind(&self, kind: &str) -> Vec<&Value> {
        self.updates
            .iter()
            .filter(|u| u["sessionUpdate"] == kind)
            .collect()
    }

    pub(crate) fn stop_reason(&self) -> &str {
        self.response["result"]["stopReason"]
            .as_str()
            .unwrap_or_else(|| panic!("no stopReason in {}", self.response))
    }

    pub(crate) fn error_message(&self) -> &str {
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

pub(crate) struct AcpClient {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    stderr: Arc<Mutex<String>>,
    stderr_reader: Option<std::thread::JoinHandle<()>>,
    next_id: i64,
    pub(crate) permission: Permission,
    /// Requests the agent made (method, params), in order.
    pub(crate) served: Vec<(String, Value)>,
}

impl AcpClient {
    pub(crate) fn spawn(args: &[&str]) -> AcpClient {
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
    pub(crate) fn start(scripts: &Path, fs: bool) -> AcpClient {
        let mut agent = AcpClient::spawn(&["--scripts-dir", scripts.to_str().unwrap()]);
        agent.initialize(fs);
        agent
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    pub(crate) fn send(&mut self, message: &Value) {
        let mut line = serde_json::to_vec(message).unwrap();
        line.push(b'\n');
        self.send_raw(&line);
    }

    pub(crate) fn send_raw(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin.write_all(bytes).expect("write to the agent");
        stdin.flush().expect("flush");
    }

    /// The next line the agent writes, raw.
    pub(crate) fn read_line(&mut self) -> String {
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
    pub(crate) fn wait_response(&mut self, id: i64) -> TurnResult {
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

    pub(crate) fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.send_request(method, params);
        let result = self.wait_response(id);
        assert!(result.updates.is_empty() && result.garbage.is_empty());
        result.response
    }

    pub(crate) fn initialize(&mut self, fs: bool) -> Value {
        let response = self.request(
            "initialize",
            json!({"protocolVersion": 1,
                   "clientCapabilities": {"fs": {"readTextFile": fs, "writeTextFile": fs},
                                          "terminal": false}}),
        );
        response["result"].clone()
    }

    pub(crate) fn new_session(&mut self, cwd: &Path, servers: Value) -> String {
        let response = self.request("session/new", json!({"cwd": cwd, "mcpServers": servers}));
        response["result"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no sessionId: {response}"))
            .to_string()
    }

    pub(crate) fn send_prompt(&mut self, session: &str, text: &str) -> i64 {
        self.send_request(
            "session/prompt",
            json!({"sessionId": session, "prompt": [{"type": "text", "text": text}]}),
        )
    }

    pub(crate) fn prompt(&mut self, session: &str, text: &str) -> TurnResult {
        let id = self.send_prompt(session, text);
        self.wait_response(id)
    }

    /// Waits for the process to exit (stdin left as is).
    pub(crate) fn wait_exit(&mut self) -> ExitStatus {
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
    pub(crate) fn finish(mut self) -> ExitStatus {
        drop(self.stdin.take());
        self.wait_exit()
    }

    /// Closes stdin, waits for the exit status and for all of stderr.
    pub(crate) fn finish_with_stderr(mut self) -> (ExitStatus, String) {
        drop(self.stdin.take());
        let status = self.wait_exit();
        if let Some(reader) = self.stderr_reader.take() {
            reader.join().expect("stderr reader");
        }
        (status, self.stderr())
    }

    /// After the agent exited: every line it still wrote.
    pub(crate) fn remaining_lines(&mut self) -> Vec<String> {
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
