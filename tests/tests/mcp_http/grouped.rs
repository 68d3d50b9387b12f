//! The writes of concurrent sessions share commits (group commit,
//! `crates/mcp/src/pool.rs`): each call still answers its own outcome (a
//! call that fails is undone alone while the others land), and a call is
//! answered only once its write is committed, so a server killed among
//! writers keeps every change it reported done.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use enki_tests::{Project, TIMEOUT};

use super::HttpServer;

/// The titles of the tasks and of the executions the database holds.
fn titles(project: &Project) -> (Vec<String>, Vec<String>) {
    let db = rusqlite::Connection::open(project.db_path()).unwrap();
    let column = |sql: &str| -> Vec<String> {
        let mut stmt = db.prepare(sql).unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    (
        column("SELECT title FROM tasks ORDER BY title"),
        column("SELECT title FROM executions ORDER BY title"),
    )
}

#[test]
fn writers_queued_together_each_get_their_own_outcome_and_a_failed_one_is_undone_alone() {
    let project = Project::new();
    let server = HttpServer::start(&project);
    // Another process holds the write lock, so the calls below queue for
    // the write turn and go into the same transactions once it is freed.
    let lock = rusqlite::Connection::open(project.db_path()).unwrap();
    lock.execute_batch("BEGIN IMMEDIATE").unwrap();
    let (sending, sent) = mpsc::channel();
    let writers: Vec<_> = (0..8)
        .map(|n| {
            let mut client = server.client();
            client.initialize();
            let sending = sending.clone();
            std::thread::spawn(move || {
                // The fourth one needs a task that does not exist: its
                // write fails after its execution row was inserted.
                let arguments = if n == 3 {
                    json!({"title": "grouped 3", "needs": [{"task": "no-such-task"}]})
                } else {
                    json!({"title": format!("grouped {n}")})
                };
                sending.send(()).unwrap();
                (n, client.call("enki_task_create", arguments))
            })
        })
        .collect();
    for _ in 0..writers.len() {
        sent.recv_timeout(TIMEOUT).unwrap();
    }
    lock.execute_batch("ROLLBACK").unwrap();
    for writer in writers {
        let (n, result) = writer.join().unwrap();
        let text = result["content"][0]["text"].as_str().unwrap_or_default();
        if n == 3 {
            assert_eq!(result["isError"], true, "{result}");
            assert!(text.contains("no-such-task"), "{text}");
        } else {
            assert_eq!(result["isError"], false, "{result}");
            assert!(text.contains(&format!("grouped {n}")), "{text}");
        }
    }
    let landed: Vec<String> = [0, 1, 2, 4, 5, 6, 7]
        .iter()
        .map(|n| format!("grouped {n}"))
        .collect();
    let (tasks, executions) = titles(&project);
    assert_eq!(tasks, landed);
    assert_eq!(
        executions, landed,
        "the failed call's execution is undone too"
    );
}

#[test]
fn a_server_killed_among_writers_keeps_every_change_it_answered() {
    let project = Project::new();
    let mut server = HttpServer::start(&project);
    let answered = Arc::new(Mutex::new(Vec::new()));
    let (progress, progressed) = mpsc::channel();
    let writers: Vec<_> = (0..8)
        .map(|s| {
            let mut client = server.client();
            client.initialize();
            let (answered, progress) = (Arc::clone(&answered), progress.clone());
            std::thread::spawn(move || {
                for n in 0.. {
                    let title = format!("kept {s}-{n}");
                    let Ok(result) = client.try_call("enki_task_create", json!({"title": title}))
                    else {
                        // The server is gone.
                        return;
                    };
                    assert_eq!(result["isError"], false, "{result}");
                    answered.lock().unwrap().push(title);
                    let _ = progress.send(());
                }
            })
        })
        .collect();
    // Killed (SIGKILL) in the middle of the writes, once 80 were answered.
    for _ in 0..80 {
        progressed.recv_timeout(TIMEOUT).unwrap();
    }
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    for writer in writers {
        writer.join().unwrap();
    }
    let db = rusqlite::Connection::open(project.db_path()).unwrap();
    let check: String = db
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let (tasks, executions) = titles(&project);
    let answered = answered.lock().unwrap().clone();
    let missing: Vec<&String> = answered.iter().filter(|t| !tasks.contains(t)).collect();
    assert!(missing.is_empty(), "answered but not kept: {missing:?}");
    // Each call's writes are whole: no execution without its task.
    assert_eq!(tasks, executions);
    let unanswered: Vec<Value> = tasks
        .iter()
        .filter(|t| !answered.contains(t))
        .map(|t| json!(t))
        .collect();
    // A call that was not answered may or may not have landed, at most one
    // per session.
    assert!(unanswered.len() <= 8, "{unanswered:?}");
}
