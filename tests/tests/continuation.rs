//! Continuing instead of starting over, end to end: a worker interrupted by
//! a stop continues its ACP session at the next start when the agent can
//! take it up (the sim keeps a per-session turn counter, so the script's
//! second turn runs only in the same session), and an agent that cannot is
//! given a fresh session whose prompt tells what happened before.
// An integration test: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use enki_tests::{Project, describe, wait_output};

/// Turn 1 waits for `$ENKI_DIR/go`, then writes `first.txt`; turn 2 (run
/// only by a second prompt in the same session) writes `second.txt`.
fn two_turn_script(project: &Project) {
    project.script(
        "two",
        r#"[[turn]]
steps = [
  { tool = "enki_worker_report", args = { status = "waiting for go" } },
  { run = "while [ ! -f \"$ENKI_DIR/go\" ]; do sleep 0.02; done" },
  { write = "first.txt", content = "first\n" },
  { say = "[OUTPUT]wrote first.txt[/OUTPUT]" },
]
[[turn]]
steps = [
  { write = "second.txt", content = "second\n" },
  { say = "[OUTPUT]continued and wrote second.txt[/OUTPUT]" },
]
"#,
    );
}

/// Waits until step t's worker waits for `go`.
fn wait_for_go(project: &Project) {
    project.wait_until("the worker waits for go", || {
        project
            .tasks_json()
            .iter()
            .find(|t| t["step_id"] == "t")
            .and_then(|t| t["activity"].as_str().map(str::to_string))
            .is_some_and(|a| a.contains("waiting for go"))
    });
}

/// Starts a one-step plan running `two`, stops it with SIGTERM while its
/// worker waits, and returns the task id.
fn interrupt_a_worker(project: &Project) -> String {
    two_turn_script(project);
    let plan =
        project.plan("[[steps]]\nid = \"t\"\ntitle = \"T\"\ndescription = \"[[sim:two]]\"\n");
    let child = project.spawn_enki(&["run", "--plan", plan.to_str().unwrap()]);
    wait_for_go(project);
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let output = wait_output(child, Duration::from_secs(30));
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("stopped 1 worker(s)"),
        "{}",
        describe(&output)
    );
    assert_eq!(project.status_of("t"), "ready");
    project.task_id("t")
}

#[test]
fn a_worker_stopped_by_sigterm_continues_its_session_at_the_next_start() {
    let project = Project::with_sim("");
    let id = interrupt_a_worker(&project);

    // No `go`: only the script's second turn, in the same session, can finish.
    let output = project.run_enki(&["run"]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert_eq!(
        std::fs::read_to_string(project.root.join("second.txt")).unwrap(),
        "second\n"
    );
    assert!(!project.root.join("first.txt").exists());

    let detail = project.task_detail(&id);
    assert_eq!(detail["task"]["status"], "done", "{detail}");
    let sessions = project.events_of(&id, "session");
    assert_eq!(sessions.len(), 2, "{detail}");
    assert_eq!(sessions[1]["session"], sessions[0]["session"], "{detail}");
    assert_eq!(sessions[1]["earlier"], sessions[0]["session"], "{detail}");
    // The sim declares both; enki prefers resume (no replay).
    assert_eq!(sessions[1]["continued"], "session/resume", "{detail}");
    assert_eq!(detail["task"]["output"], "continued and wrote second.txt");
}

#[test]
fn a_session_is_loaded_when_the_agent_offers_only_session_load() {
    let project = Project::with_sim("");
    std::fs::write(
        project.enki_dir().join("sim/capabilities.toml"),
        "resume = false\n",
    )
    .unwrap();
    let id = interrupt_a_worker(&project);

    let output = project.run_enki(&["run"]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert!(project.root.join("second.txt").exists());
    let detail = project.task_detail(&id);
    let sessions = project.events_of(&id, "session");
    assert_eq!(sessions[1]["continued"], "session/load", "{detail}");
    // The replayed prompt is the earlier attempt's and is not recorded again.
    let replies = project.events_of(&id, "message");
    assert!(
        replies
            .iter()
            .all(|e| !e["text"].as_str().unwrap_or("").contains("# Your task")),
        "{replies:?}"
    );
}

#[test]
fn an_agent_that_cannot_continue_gets_a_fresh_session_with_the_history() {
    let project = Project::with_sim("");
    std::fs::write(
        project.enki_dir().join("sim/capabilities.toml"),
        "load_session = false\nresume = false\n",
    )
    .unwrap();
    let id = interrupt_a_worker(&project);

    std::fs::write(project.enki_dir().join("go"), "").unwrap();
    let output = project.run_enki(&["run"]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    // A fresh session runs the script's first turn again.
    assert!(project.root.join("first.txt").exists());
    assert!(!project.root.join("second.txt").exists());

    let detail = project.task_detail(&id);
    let sessions = project.events_of(&id, "session");
    assert_eq!(sessions.len(), 2, "{detail}");
    assert_ne!(sessions[1]["session"], sessions[0]["session"], "{detail}");
    assert!(
        sessions[1]["not_continued"]
            .as_str()
            .is_some_and(|why| why.contains("loadSession")),
        "{detail}"
    );
    let prompts = project.sim_prompts();
    let second = prompts
        .iter()
        .find(|p| p.contains("# Earlier attempts at this task"))
        .unwrap_or_else(|| panic!("no prompt with the history: {prompts:?}"));
    assert!(second.contains("This is attempt 2."), "{second}");
    assert!(
        second.contains("- attempt 1: interrupted (the coordinator stopped)"),
        "{second}"
    );
}

#[test]
fn a_paused_step_continues_its_session_when_resumed() {
    let project = Project::with_sim("");
    two_turn_script(&project);
    // g keeps the run going while t is paused.
    project.gated_script("gate", "go-g", "g.txt");
    let plan = project.plan(
        "[[steps]]\nid = \"t\"\ntitle = \"T\"\ndescription = \"[[sim:two]]\"\n\
         [[steps]]\nid = \"g\"\ntitle = \"G\"\ndescription = \"[[sim:gate]]\"\n",
    );
    let child = project.spawn_enki(&["run", "--plan", plan.to_str().unwrap()]);
    wait_for_go(&project);
    let id = project.task_id("t");
    let execution = project.task_by_step("t")["execution_id"]
        .as_str()
        .unwrap()
        .to_string();
    let paused = project.enki(&["pause", &execution, "t"]).output().unwrap();
    assert!(paused.status.success(), "{}", describe(&paused));
    project.wait_until("t paused", || project.status_of("t") == "paused");
    let resumed = project.enki(&["resume", &execution, "t"]).output().unwrap();
    assert!(resumed.status.success(), "{}", describe(&resumed));
    // No `go`: only the script's second turn, in the same session, can finish.
    project.wait_until("t done", || project.status_of("t") == "done");
    assert_eq!(
        std::fs::read_to_string(project.root.join("second.txt")).unwrap(),
        "second\n"
    );
    assert!(!project.root.join("first.txt").exists());
    let sessions = project.events_of(&id, "session");
    assert_eq!(sessions.len(), 2, "{sessions:?}");
    assert_eq!(
        sessions[1]["session"], sessions[0]["session"],
        "{sessions:?}"
    );
    let prompts = project.sim_prompts();
    assert!(
        prompts
            .iter()
            .any(|p| p.starts_with("The person paused your work on the task \"T\"")),
        "{prompts:?}"
    );

    std::fs::write(project.enki_dir().join("go-g"), "").unwrap();
    let output = wait_output(child, Duration::from_secs(60));
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
}
