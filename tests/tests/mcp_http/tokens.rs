//! Token tables (`--token-table FILE`): each token carries a role, a task id
//! and the no-edit flag, whatever the caller asks; the file must be its
//! owner's alone, is read again when it changes, and a session belongs to
//! the token that opened it.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use enki_tests::{Project, text_of};
use serde_json::{Value, json};

use crate::{Client, HttpServer, refused_start};

const PLANNER: &str = "planner-token-7d1e";
const WORKER: &str = "worker-token-93ab";

/// Writes the table as the coordinator would: a private file renamed into
/// place.
fn write_table(project: &Project, tokens: Value) -> PathBuf {
    let path = project.enki_dir().join("mcp-tokens.json");
    let next = project.enki_dir().join(".mcp-tokens.json.next");
    std::fs::write(&next, json!({"tokens": tokens}).to_string()).unwrap();
    std::fs::set_permissions(&next, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::rename(&next, &path).unwrap();
    path
}

fn start(project: &Project, table: &Path) -> HttpServer {
    HttpServer::start_with(project, &["--token-table", table.to_str().unwrap()], &[])
}

fn create_task(planner: &mut Client, title: &str) -> String {
    let created = planner.call("enki_task_create", json!({"title": title}));
    assert_eq!(created["isError"], false, "{created}");
    created["structuredContent"]["task_id"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn a_worker_token_is_a_worker_of_its_tables_task_whatever_it_asks() {
    let project = Project::new();
    let table = write_table(&project, json!([{"token": PLANNER, "role": "planner"}]));
    let server = start(&project, &table);
    let mut planner = Client::new(server.addr, PLANNER);
    planner.initialize();
    let task = create_task(&mut planner, "the worker's task");
    let other_task = create_task(&mut planner, "someone else's task");

    write_table(
        &project,
        json!([
            {"token": PLANNER, "role": "planner"},
            {"token": WORKER, "role": "worker", "task_id": task, "no_edit": true},
        ]),
    );
    let mut worker = Client::new(server.addr, WORKER);
    let reply = worker.initialize();
    let instructions = reply.json()["result"]["instructions"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(instructions.contains("enki worker"), "{instructions}");
    assert!(
        instructions.contains("read-only"),
        "no_edit from the table: {instructions}"
    );

    let tools = worker.tool_names();
    assert!(
        tools.contains(&"enki_worker_report".to_string()),
        "{tools:?}"
    );
    assert!(!tools.contains(&"enki_edit_file".to_string()), "{tools:?}");
    assert!(
        !tools.contains(&"enki_task_create".to_string()),
        "{tools:?}"
    );

    for planner_tool in ["enki_task_create", "enki_stop_all", "enki_execution_create"] {
        let refused = worker.call(planner_tool, json!({"title": "sneaky"}));
        assert_eq!(refused["isError"], true, "{refused}");
        assert!(
            text_of(&refused).contains("not available for role 'worker'"),
            "{}",
            text_of(&refused)
        );
    }

    // Its reports land on the table's task, not on one it could name.
    let report = worker.call(
        "enki_worker_report",
        json!({"status": "reporting over http"}),
    );
    assert_eq!(report["isError"], false, "{report}");
    let store = enki_store::Store::open(&project.db_path()).unwrap();
    let activity = |id: &str| store.task(id).unwrap().and_then(|row| row.activity);
    assert_eq!(activity(&task).as_deref(), Some("reporting over http"));
    assert_eq!(activity(&other_task), None);

    let audit = project.audit_lines();
    let last = audit.last().unwrap();
    assert_eq!(last["role"], "worker", "{last}");
    assert_eq!(last["task"], task.as_str(), "{last}");
    assert!(
        audit.iter().any(|l| l["tool"] == "enki_stop_all"
            && l["outcome"] == "refused"
            && l["role"] == "worker"),
        "{audit:#?}"
    );
}

#[test]
fn a_table_rewritten_while_running_grants_and_revokes_tokens() {
    let project = Project::new();
    let table = write_table(&project, json!([{"token": PLANNER, "role": "planner"}]));
    let server = start(&project, &table);
    let mut planner = Client::new(server.addr, PLANNER);
    planner.initialize();
    let mut late = Client::new(server.addr, "late-token-51");
    let ping = late.message("ping", json!({}));
    assert_eq!(late.post(&ping).status, 401, "not granted yet");

    write_table(
        &project,
        json!([{"token": "late-token-51", "role": "planner"}]),
    );
    late.initialize();
    assert!(!late.tool_names().is_empty());
    let ping = planner.message("ping", json!({}));
    assert_eq!(planner.post(&ping).status, 401, "revoked, its session too");

    // A table that can no longer be trusted refuses everything.
    std::fs::set_permissions(&table, std::fs::Permissions::from_mode(0o644)).unwrap();
    let ping = late.message("ping", json!({}));
    let reply = late.post(&ping);
    assert_eq!(reply.status, 503, "{}", reply.text());
    std::fs::set_permissions(&table, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert_eq!(late.post(&ping).status, 200);
}

#[test]
fn a_session_belongs_to_the_token_that_opened_it() {
    let project = Project::new();
    let table = write_table(
        &project,
        json!([
            {"token": PLANNER, "role": "planner"},
            {"token": "second-planner-2", "role": "planner"},
        ]),
    );
    let server = start(&project, &table);
    let mut first = Client::new(server.addr, PLANNER);
    first.initialize();
    let mut thief = Client::new(server.addr, "second-planner-2");
    thief.session = first.session.clone();
    thief.version = first.version.clone();
    let ping = thief.message("ping", json!({}));
    assert_eq!(thief.post(&ping).status, 404);
    assert_eq!(thief.method("DELETE", &[]).status, 404);
    assert_eq!(first.request("ping", json!({}))["result"], json!({}));
}

#[test]
fn flags_that_would_choose_an_identity_are_refused_beside_a_table() {
    let project = Project::new();
    let table = write_table(&project, json!([{"token": PLANNER, "role": "planner"}]));
    let table = table.to_str().unwrap();
    for flags in [
        vec!["--role", "planner"],
        vec!["--task-id", "task-01"],
        vec!["--no-edit"],
    ] {
        let mut args = vec!["--token-table", table];
        args.extend(flags.iter().copied());
        let (code, stderr) = refused_start(&project, &args, &[]);
        assert_eq!(code, 2, "{flags:?}: {stderr}");
        assert!(
            stderr.contains("each token of the table carries"),
            "{stderr}"
        );
    }
    let (code, stderr) = refused_start(
        &project,
        &["--token-table", table, "--auth-token", "x"],
        &[],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("exclude each other"), "{stderr}");
}

#[test]
fn a_table_other_users_could_read_or_change_is_refused_at_start() {
    let project = Project::new();
    let table = write_table(&project, json!([{"token": PLANNER, "role": "planner"}]));
    for mode in [0o644, 0o660] {
        std::fs::set_permissions(&table, std::fs::Permissions::from_mode(mode)).unwrap();
        let (code, stderr) =
            refused_start(&project, &["--token-table", table.to_str().unwrap()], &[]);
        assert_eq!(code, 2, "{mode:o}: {stderr}");
        assert!(stderr.contains("chmod 600"), "{stderr}");
        assert!(!stderr.contains(PLANNER), "{stderr}");
    }
    std::fs::write(&table, r#"{"tokens": [{"token": "t", "role": "worker"}]}"#).unwrap();
    std::fs::set_permissions(&table, std::fs::Permissions::from_mode(0o600)).unwrap();
    let (code, stderr) = refused_start(&project, &["--token-table", table.to_str().unwrap()], &[]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("tokens[0]") && stderr.contains("task_id"),
        "{stderr}"
    );
}

#[test]
fn a_listen_stream_ends_when_its_token_is_revoked() {
    let project = Project::new();
    let table = write_table(&project, json!([{"token": PLANNER, "role": "planner"}]));
    let server = start(&project, &table);
    let mut client = Client::new(server.addr, PLANNER);
    let meta = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
    });
    let listen = client.message(
        "subscriptions/listen",
        json!({"notifications": {"promptsListChanged": true}, "_meta": meta}),
    );
    let stream = client.post_stream(
        &listen,
        &[
            ("mcp-protocol-version", "2026-07-28"),
            ("mcp-method", "subscriptions/listen"),
        ],
    );
    assert_eq!(stream.status, 200);
    let ack = stream.next_where(|_| true);
    assert_eq!(
        ack["method"], "notifications/subscriptions/acknowledged",
        "{ack}"
    );

    write_table(&project, json!([{"token": WORKER, "role": "planner"}]));
    let closing = stream.next_where(|m| m.get("result").is_some());
    assert_eq!(closing["id"], listen["id"], "{closing}");
    assert_eq!(closing["result"]["resultType"], "complete");
    assert_eq!(
        closing["result"]["_meta"]["io.modelcontextprotocol/subscriptionId"],
        listen["id"]
    );
    assert!(stream.ends(), "then the stream ends");
}
