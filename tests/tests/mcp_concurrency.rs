//! Many `enki mcp` processes writing to one project at the same time: every
//! call succeeds (SQLite contention never reaches a client) and every write
//! lands exactly once, with the signals that wake the coordinator for it
//! (STATE.md "Persistence", SIGNALS.md).
// An integration test: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::sync::Barrier;

use enki_store::{MailFilter, Store, TaskFilter};
use enki_tests::{McpClient, Project, text_of};
use serde_json::{Value, json};

const CLIENTS: usize = 16;
const TASKS_PER_CLIENT: usize = 10;
const MAILS_PER_CLIENT: usize = 10;

/// Fails the test if a tool call did not succeed cleanly.
fn assert_clean(result: &Value, what: &str) {
    let text = text_of(result);
    assert_eq!(result["isError"], json!(false), "{what} failed: {text}");
    let lower = text.to_lowercase();
    assert!(
        !lower.contains("busy") && !lower.contains("locked"),
        "{what}: database contention reached the client: {text}"
    );
}

/// One client's share of the work, interleaving task creation and mail.
fn run_client(client: &mut McpClient, index: usize) {
    for n in 0..TASKS_PER_CLIENT.max(MAILS_PER_CLIENT) {
        if n < TASKS_PER_CLIENT {
            let result = client.call(
                "enki_task_create",
                json!({"title": format!("task {n} of client {index}"), "tier": "light"}),
            );
            assert_clean(&result, &format!("client {index}: enki_task_create #{n}"));
        }
        if n < MAILS_PER_CLIENT {
            let result = client.call(
                "enki_mail_send",
                json!({"to": "coordinator", "subject": format!("mail {n} of client {index}"), "body": "hi"}),
            );
            assert_clean(&result, &format!("client {index}: enki_mail_send #{n}"));
        }
    }
}

/// Runs every client at once: all spawn and warm up, then a barrier
/// releases them together.
fn race(project: &Project) {
    let barrier = Barrier::new(CLIENTS);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..CLIENTS)
            .map(|index| {
                let barrier = &barrier;
                scope.spawn(move || {
                    let mut client = project.mcp(&["--role", "planner"]);
                    // Open the store before the race so every process is warm.
                    assert_clean(&client.call("enki_status", json!({})), "enki_status");
                    barrier.wait();
                    run_client(&mut client, index);
                    let (status, stderr) = client.finish();
                    assert!(
                        status.success(),
                        "client {index} exited with {status}: {stderr}"
                    );
                })
            })
            .collect();
        for (index, handle) in workers.into_iter().enumerate() {
            if let Err(panic) = handle.join() {
                let message = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                panic!("client {index} failed: {message}");
            }
        }
    });
}

#[test]
fn sixteen_servers_write_at_once_and_nothing_is_lost() {
    let project = Project::new();
    project.clear_signals();
    race(&project);

    let store = Store::open(&project.db_path()).expect("open the database");
    let tasks = store.tasks(&TaskFilter::default()).expect("tasks");
    assert_eq!(tasks.len(), CLIENTS * TASKS_PER_CLIENT);
    let mut titles: Vec<&str> = tasks.iter().map(|t| t.title.as_str()).collect();
    titles.sort_unstable();
    titles.dedup();
    assert_eq!(
        titles.len(),
        CLIENTS * TASKS_PER_CLIENT,
        "every task exactly once"
    );
    assert_eq!(
        store.executions(None).expect("executions").len(),
        CLIENTS * TASKS_PER_CLIENT
    );

    let messages = store
        .messages(&MailFilter {
            include_expired: true,
            ..MailFilter::default()
        })
        .expect("messages");
    assert_eq!(messages.len(), CLIENTS * MAILS_PER_CLIENT);
    assert!(
        messages
            .iter()
            .all(|m| m.to == "coordinator" && m.from == "coordinator")
    );

    // Every mail has its signal; the tasks of each process are announced by
    // one waiting file that each new task renamed (`enki_signals::write_signal`).
    let signals = project.signals();
    assert_eq!(signals.len(), CLIENTS * (1 + MAILS_PER_CLIENT));
    let count = |kind: &str| signals.iter().filter(|s| s["type"] == kind).count();
    assert_eq!(count("task_created"), CLIENTS);
    assert_eq!(count("mail"), CLIENTS * MAILS_PER_CLIENT);
    let leftovers: Vec<String> = std::fs::read_dir(project.events_dir())
        .expect("events dir")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with('.'))
        .collect();
    assert!(
        leftovers.is_empty(),
        "no temporary signal files are left: {leftovers:?}"
    );
}

/// The lines of a JSON-lines file that do not parse, with the line count.
fn broken_lines(path: &std::path::Path) -> (usize, Vec<String>) {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let broken = text
        .lines()
        .filter(|line| serde_json::from_str::<Value>(line).is_err())
        .map(|line| line.chars().take(160).collect())
        .collect();
    (text.lines().count(), broken)
}

#[test]
fn concurrent_servers_keep_every_log_line_whole() {
    let project = Project::new();
    race(&project);
    let calls = CLIENTS * (1 + TASKS_PER_CLIENT + MAILS_PER_CLIENT);

    // Every server appends to the shared audit log, and the 16 planners
    // (same session, role and no task) share one traffic log file.
    let audit = project.enki_dir().join("logs/audit.jsonl");
    let traffic = project.enki_dir().join("logs/mcp/nosession-planner.jsonl");
    let (audit_total, audit_broken) = broken_lines(&audit);
    let (traffic_total, traffic_broken) = broken_lines(&traffic);
    assert!(
        audit_broken.is_empty() && traffic_broken.is_empty(),
        "log lines from concurrent writers interleaved: audit.jsonl {} of {audit_total} broken (e.g. {:?}); \
         mcp/nosession-planner.jsonl {} of {traffic_total} broken (e.g. {:?})",
        audit_broken.len(),
        audit_broken.first(),
        traffic_broken.len(),
        traffic_broken.first(),
    );
    assert_eq!(audit_total, calls, "one audit line per call");
    let ok = project
        .audit_lines()
        .iter()
        .filter(|l| l["outcome"] == "ok")
        .count();
    assert_eq!(ok, calls);
}
