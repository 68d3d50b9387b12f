//! The sessions of one HTTP server share its database connections and take
//! turns to write (`crates/mcp/src/pool.rs`): concurrent writers all land,
//! with a signal that wakes the coordinator for them; while another process holds the write lock, other
//! sessions still answer the protocol and reads at once, and writers queued
//! behind one another each answer busy within their own budget.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use enki_tests::Project;

use super::{Client, HttpServer};

/// Far below the busy budget used here: these requests do not wait for it.
const AT_ONCE: Duration = Duration::from_millis(1500);

fn call(client: &mut Client, tool: &str, arguments: Value) -> Value {
    client.request("tools/call", json!({"name": tool, "arguments": arguments}))["result"].clone()
}

fn text(result: &Value) -> &str {
    result["content"][0]["text"].as_str().unwrap_or_default()
}

#[test]
fn concurrent_sessions_writing_all_land_and_one_waiting_signal_announces_them() {
    let project = Project::new();
    let server = HttpServer::start(&project);
    let (sessions, each) = (8, 5);
    let writers: Vec<_> = (0..sessions)
        .map(|s| {
            let mut client = server.client();
            std::thread::spawn(move || {
                client.initialize();
                for n in 0..each {
                    let title = format!("task {s}-{n}");
                    let result = call(&mut client, "enki_task_create", json!({"title": title}));
                    assert_eq!(result["isError"], false, "{result}");
                    // Its own read sees its own write.
                    let status = call(&mut client, "enki_status", json!({}));
                    assert_eq!(status["isError"], false, "{status}");
                }
            })
        })
        .collect();
    for writer in writers {
        writer.join().unwrap();
    }
    let mut client = server.client();
    client.initialize();
    let status = call(&mut client, "enki_status", json!({}));
    let total = sessions * each;
    assert_eq!(
        status["structuredContent"]["total"],
        total,
        "{}",
        text(&status)
    );
    // One file wakes the coordinator for all of them: each new task renamed
    // the one still waiting (`enki_signals::write_signal`), which names a
    // task the store shows.
    let created: Vec<Value> = project
        .signals()
        .into_iter()
        .filter(|s| s["type"] == "task_created")
        .collect();
    assert_eq!(created.len(), 1, "{created:#?}");
    let named = created[0]["task_id"].as_str().unwrap_or_default();
    let list = call(&mut client, "enki_task_list", json!({}));
    let listed = list["structuredContent"]["tasks"].as_array().cloned();
    assert!(
        listed.unwrap_or_default().iter().any(|t| t["id"] == named),
        "{named} is not a task of the store: {list}"
    );
}

#[test]
fn while_another_process_writes_sessions_answer_at_once_and_queued_writers_in_their_budget() {
    let project = Project::new();
    std::fs::write(
        project.enki_dir().join("enki.toml"),
        "[mcp]\nbusy_timeout_ms = 1500\n",
    )
    .unwrap();
    let server = HttpServer::start(&project);
    let mut reader = server.client();
    reader.initialize();
    call(&mut reader, "enki_task_create", json!({"title": "before"}));
    let lock = rusqlite::Connection::open(project.db_path()).unwrap();
    lock.execute_batch("BEGIN IMMEDIATE").unwrap();

    // Two writers of two sessions: one waits for the lock, the other for
    // the turn behind it; both answer busy within their own budget.
    let writers: Vec<_> = (0..2)
        .map(|n| {
            let mut client = server.client();
            client.initialize();
            std::thread::spawn(move || {
                let started = Instant::now();
                let result = call(
                    &mut client,
                    "enki_task_create",
                    json!({"title": format!("blocked {n}")}),
                );
                (started.elapsed(), result)
            })
        })
        .collect();
    // Meanwhile, a new session, the protocol and a read answer at once.
    let started = Instant::now();
    let mut fresh = server.client();
    fresh.initialize();
    assert_eq!(fresh.request("ping", json!({}))["result"], json!({}));
    assert!(fresh.tool_names().contains(&"enki_status".to_string()));
    let listed = call(&mut reader, "enki_task_list", json!({}));
    assert!(text(&listed).contains("before"), "{}", text(&listed));
    assert!(started.elapsed() < AT_ONCE, "{:?}", started.elapsed());
    for writer in writers {
        let (took, result) = writer.join().unwrap();
        assert_eq!(result["isError"], true, "{result}");
        let message = text(&result);
        assert!(
            message.contains("the database is busy")
                && message.contains("nothing was changed")
                && message.contains("try again"),
            "{message}"
        );
        assert!(
            took >= Duration::from_millis(1400) && took < Duration::from_secs(6),
            "answered after {took:?}"
        );
    }

    lock.execute_batch("ROLLBACK").unwrap();
    let result = call(
        &mut fresh,
        "enki_task_create",
        json!({"title": "free again"}),
    );
    assert_eq!(result["isError"], false, "{result}");
    let status = call(&mut reader, "enki_status", json!({}));
    assert_eq!(status["structuredContent"]["total"], 2, "{}", text(&status));
}
