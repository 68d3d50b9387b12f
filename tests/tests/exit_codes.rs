//! `enki run`'s exit status, one test per way a run can end: 0 every task
//! done, 1 a task failed, 2 a usage error, 3 nothing ran (with why on stderr
//! and in the `finished` event of `--json`).
// An integration test: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use enki_tests::{Project, describe, stdout};
use serde_json::Value;

const EXIT_NOTHING_RAN: i32 = 3;

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The `finished` event of a `--json` run.
fn finished(output: &std::process::Output) -> Value {
    stdout(output)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|event| event["event"] == "finished")
        .unwrap_or_else(|| panic!("no finished event\n{}", describe(output)))
}

/// Runs the planner with `script` on a request, in JSON, and checks that
/// nothing ran, that stderr and the `finished` event say why, and that the
/// reason holds every one of `words`.
fn assert_nothing_ran(project: &Project, words: &[&str]) -> String {
    let output = project.run_enki(&["run", "--json", "do something"]);
    assert_eq!(
        output.status.code(),
        Some(EXIT_NOTHING_RAN),
        "{}",
        describe(&output)
    );
    let event = finished(&output);
    assert_eq!(event["outcome"], "nothing_ran", "{event}");
    assert_eq!(event["done"], 0, "{event}");
    let reason = event["reason"].as_str().unwrap_or_default().to_string();
    for word in words {
        assert!(reason.contains(word), "{word:?} not in {reason:?}");
    }
    assert!(
        stderr(&output).contains(&format!("enki run: {reason}")),
        "{}",
        describe(&output)
    );
    assert!(project.tasks_json().is_empty());
    reason
}

#[test]
fn every_task_done_is_0() {
    let project = Project::with_sim("");
    project.writer_script("w", "w.txt", "w\n");
    project.script(
        "planner",
        r#"[[turn]]
steps = [ { tool = "enki_task_create", args = { title = "W", description = "[[sim:w]]" } } ]

[[turn]]
steps = [ { say = "Noted." } ]
"#,
    );
    let output = project.run_enki(&["run", "--json", "write w"]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let event = finished(&output);
    assert_eq!(event["outcome"], "done", "{event}");
    assert_eq!(event["reason"], Value::Null, "{event}");
    assert!(project.root.join("w.txt").exists());
}

#[test]
fn a_failed_task_is_1_and_says_so() {
    let project = Project::with_sim("[workers]\nretries = 0\n");
    project.script(
        "broken",
        "[[turn]]\nsteps = [ { fail = \"the build broke\" } ]\n",
    );
    let plan = project.plan(
        "[[steps]]\nid = \"a\"\ntitle = \"A\"\ndescription = \"[[sim:broken]]\"\n[[steps]]\nid = \"b\"\ntitle = \"B\"\ndescription = \"[[sim:broken]]\"\nneeds = [\"a\"]\n",
    );
    let output = project.run_enki(&["run", "--json", "--plan", plan.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let event = finished(&output);
    assert_eq!(event["outcome"], "failed", "{event}");
    assert_eq!(event["failed"], 2, "a failed and b blocked: {event}");
    assert!(
        stderr(&output).contains("2 task(s) failed or were blocked"),
        "{}",
        describe(&output)
    );
}

#[test]
fn usage_errors_are_2_and_start_nothing() {
    let project = Project::with_sim("");
    let output = project.run_enki(&["run", "--plan", "/no/such/plan.toml"]);
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    let output = project.run_enki(&["run", "--no-such-flag"]);
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    let output = project.run_enki(&["run", "--agent", "'unclosed", "x"]);
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    assert!(stderr(&output).contains("--agent"), "{}", describe(&output));

    std::fs::write(
        project.enki_dir().join("enki.toml"),
        "[workers]\nmax_workers = 0\n",
    )
    .unwrap();
    let output = project.run_enki(&["run", "x"]);
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    assert!(
        stderr(&output).contains("workers.max_workers"),
        "{}",
        describe(&output)
    );

    let elsewhere = tempfile::tempdir().unwrap();
    let output = project
        .enki(&["run", "x"])
        .current_dir(elsewhere.path())
        .env_remove("ENKI_DIR")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    assert!(project.tasks_json().is_empty());
}

#[test]
fn a_planner_that_only_answers_is_3_and_quoted() {
    let project = Project::with_sim("");
    project.script(
        "planner",
        "[[turn]]\nsteps = [ { say = \"Which file do you mean?\" } ]\n",
    );
    assert_nothing_ran(&project, &["made no task", "Which file do you mean?"]);
}

#[test]
fn a_planner_whose_execution_create_fails_is_3_with_the_tools_error() {
    let project = Project::with_sim("");
    project.script(
        "planner",
        r#"[[turn]]
steps = [
  { tool = "enki_execution_create", args = { title = "X", steps = [ { id = "a", title = "A", description = "d", needs = ["zz"] } ] }, allow_error = true },
  { say = "The plan was refused." },
]
"#,
    );
    assert_nothing_ran(&project, &["enki_execution_create failed", "zz"]);
}

#[test]
fn a_planner_refused_its_tools_under_ask_headless_is_3_and_told_why() {
    let project = Project::with_sim("[permissions]\npolicy = \"ask\"\n");
    project.script(
        "planner",
        r#"[[turn]]
steps = [
  { permission = "mcp__enki__enki_execution_create", on_deny = "continue" },
  { say = "I was not allowed to plan." },
]
"#,
    );
    assert_nothing_ran(
        &project,
        &[
            "mcp__enki__enki_execution_create was refused",
            "no person to ask in a headless run",
            "policy = \"ask\"",
            "nobody to ask",
        ],
    );
}

#[test]
fn a_planner_that_does_not_start_is_3() {
    let project = Project::with_sim("[agent.coordinator]\ncommand = \"/no/such/agent\"\n");
    assert_nothing_ran(&project, &["did not start", "/no/such/agent"]);
}

#[test]
fn a_planner_turn_past_its_time_limit_is_cancelled_and_3() {
    let project = Project::with_sim("[agent.coordinator]\nturn_timeout_secs = 1\n");
    project.script(
        "planner",
        "[[turn]]\nsteps = [ { say = \"Thinking hard.\" }, { hang = true } ]\n",
    );
    assert_nothing_ran(&project, &["took longer than 1 s", "turn_timeout_secs"]);
}
