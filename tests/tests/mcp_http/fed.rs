//! `--token-table -`: the coordinator's way to run the server. Whole tables
//! arrive on stdin, one per line, each acknowledged on stdout before its
//! tokens are handed out; a bad line fails closed; the end of stdin (the
//! coordinator gone, however it died) ends the server.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{ChildStdin, ChildStdout, Stdio};

use enki_tests::{Project, TIMEOUT, wait_output};
use serde_json::json;

use crate::{Client, stderr_lines};

const PLANNER: &str = "fed-planner-token-51c0";

struct Fed {
    child: Option<std::process::Child>,
    stdin: Option<ChildStdin>,
    acks: BufReader<ChildStdout>,
    addr: SocketAddr,
}

impl Fed {
    fn start(project: &Project) -> Fed {
        let mut child = project
            .enki(&[
                "mcp",
                "--transport",
                "http",
                "--addr",
                "127.0.0.1:0",
                "--token-table",
                "-",
            ])
            .env("ENKI_DIR", project.enki_dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = stderr_lines(&mut child);
        let addr = loop {
            let line = lines.recv_timeout(TIMEOUT).expect("the server listens");
            if let Some(url) = line.strip_prefix("enki mcp: listening on http://") {
                break url.strip_suffix("/mcp").unwrap().parse().unwrap();
            }
        };
        // Keep draining stderr so the server never blocks on it.
        std::thread::spawn(move || while lines.recv().is_ok() {});
        Fed {
            stdin: child.stdin.take(),
            acks: BufReader::new(child.stdout.take().unwrap()),
            child: Some(child),
            addr,
        }
    }

    /// Sends one line and returns the server's answer to it.
    fn feed(&mut self, line: &str) -> String {
        let stdin = self.stdin.as_mut().unwrap();
        stdin.write_all(format!("{line}\n").as_bytes()).unwrap();
        stdin.flush().unwrap();
        let mut answer = String::new();
        self.acks.read_line(&mut answer).unwrap();
        answer.trim_end().to_string()
    }

    fn initialize_status(&self, token: &str) -> u16 {
        let mut client = Client::new(self.addr, token);
        let message = client.message(
            "initialize",
            json!({"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "enki-tests", "version": "0"}}),
        );
        client.post(&message).status
    }
}

impl Drop for Fed {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[test]
fn tables_fed_on_stdin_grant_and_revoke_and_the_end_of_stdin_ends_the_server() {
    let project = Project::new();
    let mut server = Fed::start(&project);
    // Nothing is granted before a table arrives.
    assert_eq!(server.initialize_status(PLANNER), 401);

    let granted = json!({"tokens": [{"token": PLANNER, "role": "planner"}]}).to_string();
    assert_eq!(server.feed(&granted), "applied 1");
    assert_eq!(server.initialize_status(PLANNER), 200);

    // A line that is not a table fails closed, and says why without the token.
    let answer = server.feed(&format!("{{\"tokens\": [{{\"token\": \"{PLANNER}\"}}]}}"));
    assert!(answer.starts_with("refused 2: "), "{answer}");
    assert!(!answer.contains(PLANNER), "the token leaked: {answer}");
    assert_eq!(server.initialize_status(PLANNER), 503, "an unusable table");

    assert_eq!(server.feed(&granted), "applied 3");
    assert_eq!(server.initialize_status(PLANNER), 200);
    assert_eq!(server.feed(r#"{"tokens": []}"#), "applied 4");
    assert_eq!(server.initialize_status(PLANNER), 401, "revoked");

    // The feeder goes away: the server ends, cleanly.
    drop(server.stdin.take());
    let child = server.child.take().unwrap();
    let output = wait_output(child, TIMEOUT);
    assert_eq!(output.status.code(), Some(0));
}
