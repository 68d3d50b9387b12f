//! A busy database never silences `enki mcp`: while another process holds
//! the write lock, `initialize`, `ping` and `tools/list` answer at once,
//! reads still work, and a write answers within `[mcp] busy_timeout_ms`
//! with a tool error that says the database is busy and to try again.

use std::time::{Duration, Instant};

use enki_tests::{McpClient, Project};
use serde_json::json;

use crate::{configure, create_task};

/// Far below the busy budgets used here: these requests do not wait for it.
const AT_ONCE: Duration = Duration::from_millis(1500);

/// Another process's write transaction, held until dropped.
struct WriteLock(rusqlite::Connection);

impl WriteLock {
    fn take(project: &Project) -> WriteLock {
        let conn = rusqlite::Connection::open(project.db_path()).expect("open the database");
        conn.execute_batch("BEGIN IMMEDIATE")
            .expect("take the write lock");
        WriteLock(conn)
    }

    fn release(self) {
        self.0.execute_batch("ROLLBACK").expect("release the lock");
    }
}

fn timed<T>(what: &str, limit: Duration, f: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let value = f();
    let took = started.elapsed();
    assert!(took < limit, "{what} took {took:?}");
    value
}

#[test]
fn the_protocol_answers_at_once_while_another_process_holds_the_write_lock() {
    let project = Project::new();
    configure(&project, "[mcp]\nbusy_timeout_ms = 4000\n");
    let task = create_task(&mut project.mcp(&["--role", "planner"]), "a task");
    let lock = WriteLock::take(&project);

    // A worker named by a prefix of its task id (resolved at start) too.
    for args in [
        vec!["--role", "planner"],
        vec!["--role", "worker", "--task-id", &task[..16]],
    ] {
        let mut client: McpClient = project.mcp_uninitialized(&args, &[]);
        let init = timed("initialize", AT_ONCE, || client.initialize());
        assert!(init["protocolVersion"].is_string(), "{init}");
        let pong = timed("ping", AT_ONCE, || client.request("ping", json!({})));
        assert_eq!(pong["result"], json!({}));
        let tools = timed("tools/list", AT_ONCE, || client.tool_names());
        assert!(tools.contains(&"enki_status".to_string()), "{tools:?}");
        // Reads do not wait for a writer.
        timed("a read", AT_ONCE, || {
            client.call_ok("enki_task_list", json!({}))
        });
    }
    lock.release();
}

#[test]
fn a_write_answers_busy_within_the_budget_and_works_once_the_lock_is_free() {
    let project = Project::new();
    configure(&project, "[mcp]\nbusy_timeout_ms = 1000\n");
    let mut client = project.mcp(&["--role", "planner"]);
    client.call_ok("enki_status", json!({}));
    let before = project.audit_lines().len();
    let lock = WriteLock::take(&project);

    let started = Instant::now();
    let text = client.call_err("enki_task_create", json!({"title": "blocked"}));
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(6),
        "answered after {took:?}"
    );
    assert!(
        text.contains("the database is busy")
            && text.contains("nothing was changed")
            && text.contains("try again"),
        "{text}"
    );
    // The server was not blocked: it answers the next request at once.
    timed("ping after a busy call", AT_ONCE, || {
        client.request("ping", json!({}))
    });
    let audit = project.audit_lines();
    assert_eq!(audit.len(), before + 1);
    assert_eq!(audit[before]["outcome"], "tool error");

    lock.release();
    let id = create_task(&mut client, "free again");
    assert!(id.starts_with("task-"), "{id}");
}
