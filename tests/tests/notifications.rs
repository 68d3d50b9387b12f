//! Notifications (`[notify]`): what `enki run` sends when it ends, checked
//! at a loopback webhook.
// An integration test: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::Duration;

use enki_tests::{Project, describe};
use serde_json::Value;

/// Reads one HTTP request from `listener` (a net of 60 s against a run
/// that never sends), answers 204, returns its JSON body.
fn receive_webhook(listener: std::net::TcpListener) -> Value {
    use std::io::{BufRead, BufReader, Read, Write};
    let (stream, _) = listener.accept().unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut length = 0;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        if line == "\r\n" || line.is_empty() {
            break;
        }
        if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = value.trim().parse().unwrap();
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    let mut stream = stream;
    stream
        .write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
        .unwrap();
    serde_json::from_slice(&body).unwrap()
}

#[test]
fn the_end_of_a_run_is_posted_to_the_webhook() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let project = Project::with_sim(&format!(
        "[notify]\nwebhook = \"http://127.0.0.1:{port}/enki\"\ndesktop = \"off\"\n"
    ));
    project.writer_script("w", "w.txt", "w\n");
    let plan = project.plan("[[steps]]\nid = \"w\"\ntitle = \"W\"\ndescription = \"[[sim:w]]\"\n");
    let received = std::thread::spawn(move || receive_webhook(listener));
    let output = project.run_enki(&["run", "--plan", plan.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let note = received.join().unwrap();
    assert_eq!(note["source"], "enki", "{note}");
    assert_eq!(note["title"], "enki: run finished", "{note}");
    assert!(
        note["body"]
            .as_str()
            .unwrap()
            .starts_with("1 done, 0 failed"),
        "{note}"
    );
    assert_eq!(note["needs_you"], false, "{note}");
    assert_eq!(
        note["project"].as_str().map(Path::new),
        Some(project.root.as_path()),
        "{note}"
    );
}
