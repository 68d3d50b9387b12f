//! Agent states and the stall rules end to end (issue 14): the real `enki`
//! runs `sim` workers that hang, loop on retries of a dead model API, or
//! wait for an answer to a question they mailed; the store and
//! `enki tasks --json` / `enki status --json` are read while they run.
// An integration test: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use enki_store::{Store, now_rfc3339, seconds_between};
use enki_tests::{Project, describe, one_turn, stdout, wait_output};
use serde_json::{Value, json};

/// A one-step plan running script `script`.
fn plan(project: &Project, script: &str) -> String {
    project
        .plan(&format!(
            "[[steps]]\nid = \"w\"\ntitle = \"Worker\"\ndescription = \"[[sim:{script}]]\"\n"
        ))
        .display()
        .to_string()
}

/// The data of the task's events of this kind, oldest first.
fn events_of(project: &Project, kind: &str) -> Vec<Value> {
    let Some(task) = project
        .tasks_json()
        .into_iter()
        .find(|t| t["step_id"] == "w")
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

fn states_seen(project: &Project) -> Vec<String> {
    events_of(project, "agent_state")
        .iter()
        .map(|e| e["state"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn a_hung_worker_stalls_in_its_own_words_and_keeps_them_in_its_history() {
    let project = Project::with_sim("[workers]\nretries = 0\nstall_timeout_secs = 2\n");
    // It says something, then only sends keep-alives (which are not
    // progress), then hangs.
    project.script(
        "hang",
        &one_turn(
            "  { say = \"Running the whole test suite now.\" },\n  { keepalive = 40, every_ms = 50 },\n  { hang = true },",
        ),
    );
    let output = project.run_enki(&["run", "--plan", &plan(&project, "hang")]);
    assert_ne!(output.status.code(), Some(0), "{}", describe(&output));
    let detail = project.step_detail("w");
    assert_eq!(detail["task"]["status"], "failed", "{detail}");
    assert_eq!(detail["task"]["agent_state"], "failed", "{detail}");
    let history = detail["attempt_history"].as_array().unwrap();
    assert_eq!(history.len(), 1, "{detail}");
    assert_eq!(history[0]["outcome"], "stalled", "{detail}");
    let error = history[0]["error"].as_str().unwrap();
    assert!(
        error.starts_with("stalled: no progress for 2 s")
            && error.contains("«Running the whole test suite now.»"),
        "{error}"
    );
    assert_eq!(
        history[0]["last_message"], "Running the whole test suite now.",
        "{detail}"
    );
    // Before it was stopped it showed as stalled, in its words.
    let seen = events_of(&project, "agent_state");
    let stalled = seen
        .iter()
        .find(|e| e["state"] == "stalled")
        .unwrap_or_else(|| panic!("never shown stalled: {seen:?}"));
    assert_eq!(
        stalled["reason"],
        "no progress since it said «Running the whole test suite now.»"
    );
    assert!(stdout(&output).contains("stalled"), "{}", describe(&output));
}

#[test]
fn a_worker_retrying_a_dead_api_fails_within_the_bound_in_its_words() {
    let project = Project::with_sim(
        "[workers]\nretries = 0\nstall_timeout_secs = 600\napi_retry_limit_secs = 2\n",
    );
    // codex-acp's notice, again and again, as an unreachable API makes it.
    project.script(
        "retry",
        &one_turn(
            "  { say = \"Let me look at the code.\" },\n  { retry = \"Reconnecting... 1/5\", times = 1000000, every_ms = 100 },",
        ),
    );
    let output = project.run_enki(&["run", "--plan", &plan(&project, "retry")]);
    assert_ne!(output.status.code(), Some(0), "{}", describe(&output));
    let detail = project.step_detail("w");
    let history = detail["attempt_history"].as_array().unwrap();
    assert_eq!(history.len(), 1, "{detail}");
    assert_eq!(history[0]["outcome"], "failed", "{detail}");
    let error = history[0]["error"].as_str().unwrap();
    assert!(
        error.contains("kept retrying its model API") && error.ends_with("«Reconnecting... 1/5»"),
        "{error}"
    );
    // Within the bound, far before the stall timeout.
    let took = seconds_between(
        history[0]["started_at"].as_str().unwrap(),
        history[0]["ended_at"].as_str().unwrap(),
    )
    .unwrap();
    assert!(took < 60, "took {took} s");
    assert!(states_seen(&project).contains(&"retrying".to_string()));
    // The notice is logged once, not at every repetition.
    assert_eq!(
        events_of(&project, "agent_retrying"),
        [json!({"message": "Reconnecting... 1/5"})]
    );
}

/// The worker's agent state and how long it has been in it.
fn worker_state(project: &Project) -> (String, u64) {
    let task = project.task_by_step("w");
    let state = task["agent_state"].as_str().unwrap_or_default().to_string();
    let since = task["agent_state_since"].as_str().unwrap_or_default();
    (state, seconds_between(since, &now_rfc3339()).unwrap_or(0))
}

#[test]
fn a_worker_waiting_for_an_answer_is_never_stalled_and_goes_on_once_answered() {
    let stall = 2;
    let project = Project::with_sim(&format!(
        "[workers]\nretries = 0\nstall_timeout_secs = {stall}\n"
    ));
    project.script(
        "ask",
        &one_turn(
            "  { tool = \"enki_mail_send\", args = { to = \"coordinator\", kind = \"request\", subject = \"Which database?\", body = \"Postgres or SQLite?\" } },\n  { run = \"while [ ! -f \\\"$ENKI_DIR/answered\\\" ]; do sleep 0.02; done\" },\n  { write = \"db.txt\", content = \"sqlite\\n\" },\n  { say = \"[OUTPUT]chose sqlite[/OUTPUT]\" },",
        ),
    );
    let child = project.spawn_enki(&["run", "--plan", &plan(&project, "ask")]);
    project.wait_until("the worker waits for its answer", || {
        project.status_of("w") == "running" && worker_state(&project).0 == "waiting_user"
    });
    let task = project.task_by_step("w");
    assert_eq!(task["agent_state_reason"], "Which database?");
    // Waiting far longer than the stall timeout does not stop it.
    project.wait_until("three stall timeouts", || {
        worker_state(&project).1 > 3 * stall
    });
    assert_eq!(worker_state(&project).0, "waiting_user");
    assert_eq!(project.task_by_step("w")["attempts"], 1);
    let status: Value =
        serde_json::from_slice(&project.enki(&["status", "--json"]).output().unwrap().stdout)
            .unwrap();
    assert_eq!(
        status["workers"][0]["agent_state"], "waiting_user",
        "{status}"
    );

    // The planner answers: the worker works again and finishes.
    let question = Store::open_existing(&project.db_path())
        .unwrap()
        .messages(&enki_store::MailFilter {
            to: Some("coordinator".into()),
            ..Default::default()
        })
        .unwrap()
        .into_iter()
        .find(|m| m.subject == "Which database?")
        .unwrap();
    let mut planner = project.mcp(&["--role", "planner"]);
    planner.call_ok(
        "enki_mail_reply",
        json!({"message_id": question.id, "body": "SQLite."}),
    );
    project.wait_until("the answer is seen", || {
        worker_state(&project).0 != "waiting_user"
    });
    std::fs::write(project.enki_dir().join("answered"), "").unwrap();
    let output = wait_output(child, Duration::from_secs(120));
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let detail = project.step_detail("w");
    assert_eq!(detail["task"]["status"], "done", "{detail}");
    assert_eq!(detail["attempt_history"].as_array().unwrap().len(), 1);
    let seen = states_seen(&project);
    let waited = seen.iter().position(|s| s == "waiting_user").unwrap();
    assert!(
        seen[waited + 1..].iter().any(|s| s == "working"),
        "{seen:?}"
    );
}
