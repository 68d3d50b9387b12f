//! What a coordinator withstands: being stopped (`kill -STOP`, as a suspended
//! VM is) while its workers go on, and an agent whose reply is far larger
//! than a database row should be.
// An integration test: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::time::Duration;

use enki_store::Store;
use enki_tests::{Project, describe, one_turn, wait_output};
use serde_json::{Value, json};

fn signal(pid: u32, name: &str) -> bool {
    Command::new("kill")
        .args([name, &pid.to_string()])
        .status()
        .is_ok_and(|s| s.success())
}

/// A process stopped with SIGSTOP until this is dropped (also when the
/// test fails), then continued with SIGCONT.
struct Stopped(u32);

impl Stopped {
    fn new(pid: u32) -> Stopped {
        assert!(signal(pid, "-STOP"), "cannot stop process {pid}");
        Stopped(pid)
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        signal(self.0, "-CONT");
    }
}

/// The events of a step's task with this kind, read from the store.
fn events_of(project: &Project, step: &str, kind: &str) -> Vec<Value> {
    let Some(task) = project
        .tasks_json()
        .into_iter()
        .find(|t| t["step_id"] == step)
    else {
        return Vec::new();
    };
    let store = Store::open_existing(&project.db_path()).unwrap();
    store
        .task_events(task["id"].as_str().unwrap(), 0, None)
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == kind)
        .map(|e| e.data)
        .collect()
}

#[test]
fn a_coordinator_stopped_longer_than_the_stall_timeout_keeps_its_reporting_worker() {
    let project = Project::with_sim("[workers]\nretries = 0\nstall_timeout_secs = 2\n");
    // The worker reports about every 100 ms until the gate file exists, then
    // runs through its remaining rounds at once.
    let round = |i: usize| {
        format!(
            "  {{ tool = \"enki_worker_report\", args = {{ status = \"round {i}\" }} }},\n  {{ run = \"test -f \\\"$ENKI_DIR/go\\\" || sleep 0.1\" }},\n"
        )
    };
    let mut steps: String = (0..150).map(round).collect();
    steps.push_str("  { say = \"[OUTPUT]kept working[/OUTPUT]\" },");
    project.script("busy", &one_turn(&steps));
    let plan = project
        .plan("[[steps]]\nid = \"busy\"\ntitle = \"Busy\"\ndescription = \"[[sim:busy]]\"\n");
    let child = project.spawn_enki(&["run", "--plan", plan.to_str().unwrap()]);
    let reports = || events_of(&project, "busy", "report").len();
    project.wait_until("the worker reports", || reports() >= 2);
    {
        let _stopped = Stopped::new(child.id());
        // Frozen for more than twice the stall timeout while the worker goes on.
        std::thread::sleep(Duration::from_secs(5));
    }
    // Awake again for longer than a stall timeout (25 rounds of at least
    // 100 ms) while the worker still runs, before it is let finish.
    let woke = reports();
    project.wait_until("25 more rounds", || reports() >= woke + 25);
    std::fs::write(project.enki_dir().join("go"), "").unwrap();

    let output = wait_output(child, Duration::from_secs(120));
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let detail = project.step_detail("busy");
    assert_eq!(detail["task"]["status"], "done", "{detail}");
    let history = detail["attempt_history"].as_array().unwrap();
    assert_eq!(history.len(), 1, "no attempt failed as stalled: {detail}");
    assert_eq!(history[0]["outcome"], "succeeded", "{detail}");
    assert_eq!(detail["task"]["output"], "kept working");
}

/// What `enki_coordinator`'s reply module keeps: 1 MiB per event row.
const ROW_LIMIT: usize = 1024 * 1024;

#[test]
fn a_huge_reply_is_stored_capped_the_whole_text_kept_in_a_file_and_its_output_found() {
    let project = Project::with_sim("");
    // 20 MiB said in 1 MiB steps (the sim streams each in three chunks, each
    // well inside a protocol line), the [OUTPUT] block at the very end.
    let mut line = 0;
    let mut pieces: Vec<String> = (0..20)
        .map(|_| {
            let mut piece = String::new();
            while piece.len() < ROW_LIMIT {
                piece.push_str(&format!("line {line:08} of a reply far too long to keep\n"));
                line += 1;
            }
            piece
        })
        .collect();
    pieces.push("[OUTPUT]\nthe summary of a huge reply\n[/OUTPUT]\n".to_string());
    let whole: String = pieces.concat();
    let steps: Vec<Value> = pieces.iter().map(|p| json!({ "say": p })).collect();
    std::fs::write(
        project.enki_dir().join("sim/huge.json"),
        json!({"turn": [{"steps": steps}]}).to_string(),
    )
    .unwrap();
    let plan = project
        .plan("[[steps]]\nid = \"huge\"\ntitle = \"Huge\"\ndescription = \"[[sim:huge]]\"\n");

    let output = project.run_enki(&["run", "--plan", plan.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    // A clean stop leaves the WAL empty (read before this test opens the database).
    let wal = project.enki_dir().join("db.sqlite-wal");
    let wal_len = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    assert_eq!(wal_len, 0, "{} after a clean stop", wal.display());

    let task = project.task_by_step("huge");
    assert_eq!(task["status"], "done", "{task}");
    assert_eq!(task["output"], "the summary of a huge reply");
    let messages = events_of(&project, "huge", "message");
    assert_eq!(messages.len(), 1, "one message event");
    let message = &messages[0];
    assert_eq!(message["truncated"], true, "the row says it is cut");
    assert_eq!(message["bytes"], whole.len() as u64);
    let kept = message["text"].as_str().unwrap();
    assert!(kept.len() <= ROW_LIMIT && whole.starts_with(kept));
    let file = message["file"].as_str().unwrap();
    assert!(
        file.starts_with(project.enki_dir().join("logs/replies").to_str().unwrap()),
        "{file}"
    );
    assert!(
        std::fs::read_to_string(file).unwrap() == whole,
        "the file holds the whole reply"
    );
    // No row of the log comes near the reply's size.
    let store = Store::open_existing(&project.db_path()).unwrap();
    let largest: i64 = store
        .connection()
        .query_row("SELECT max(length(data)) FROM task_events", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert!(
        largest <= ROW_LIMIT as i64,
        "largest event row: {largest} bytes"
    );
}
