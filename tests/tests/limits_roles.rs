//! Limits of an agent's account met by roles other than a worker's turn
//! (issue 16): a merger whose turn meets a limit, a planner whose turn or
//! whose `session/new` meets one, and a worker whose `session/new` does. The
//! real `enki run` drives `sim` agents that answer as claude-agent-acp or
//! codex-acp do; nothing fails for an account's limit: the merge waits and
//! is tried again, the planner's turn is tried again after the reset, the
//! task's attempt is not spent. A headless run waits for the reset and
//! says until when.
// An integration test: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use enki_tests::{BOTH_VERSIONS, Project, describe, json_lines};
use serde_json::Value;

fn outcomes(list: &Value, key: &str) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|a| a[key].as_str().unwrap_or("").to_string())
        .collect()
}

fn held_lines(output: &std::process::Output) -> Vec<Value> {
    json_lines(output)
        .into_iter()
        .filter(|l| l["event"] == "agent_held")
        .collect()
}

/// `session/new` answers `limit` once (then the account's limit has passed).
fn session_new_limited_once(project: &Project, limit: &str) {
    std::fs::write(
        project.enki_dir().join("sim").join("session_limit.toml"),
        format!("{limit}\ntimes = 1\n"),
    )
    .unwrap();
}

/// A planner that meets nothing and makes one task `W` writing `w.txt`.
fn planner_making_one_task(project: &Project, first_turns: &str) {
    project.writer_script("w", "w.txt", "w\n");
    project.script(
        "planner",
        &format!(
            "{first_turns}[[turn]]\nsteps = [ {{ say = \"{{{{prompt}}}}\" }}, {{ tool = \"enki_task_create\", args = {{ title = \"W\", description = \"[[sim:w]]\" }} }} ]\n\n[[turn]]\nsteps = [ {{ say = \"Noted.\" }} ]\n"
        ),
    );
}

#[test]
fn a_merger_that_meets_a_limit_waits_for_the_reset_and_the_merge_lands_without_a_failure() {
    let project = Project::with_sim("[workers]\nretries = 0\n");
    project.conflicting_writers();
    // The first merger run meets the account's usage limit (reset in a
    // second); the next one, after the reset, resolves.
    project.merger_keeping_both("{ limit = \"quota\", resets_in_secs = 1, times = 1 },\n  ");
    let plan = project.conflicting_plan();
    let output = project.run_enki(&["run", "--json", "--plan", plan.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert_eq!(
        std::fs::read_to_string(project.root.join("shared.txt")).unwrap(),
        BOTH_VERSIONS
    );
    let held = held_lines(&output);
    assert_eq!(held.len(), 1, "{}", describe(&output));
    assert_eq!(held[0]["met_by"]["role"], "merger", "{}", held[0]);
    assert_eq!(held[0]["hold"]["reset_given"], true, "{}", held[0]);
    let conflicted = ["left", "right"]
        .iter()
        .map(|s| project.step_detail(s))
        .find(|d| !d["merger_runs"].as_array().unwrap().is_empty())
        .expect("one side went through the merger");
    assert_eq!(conflicted["task"]["status"], "done", "{conflicted}");
    assert_eq!(conflicted["task"]["failures"], 0, "{conflicted}");
    // One worker attempt: the merger's limit spent none.
    assert_eq!(
        outcomes(&conflicted["attempt_history"], "outcome"),
        ["succeeded"],
        "{conflicted}"
    );
    let runs = &conflicted["merger_runs"];
    assert_eq!(outcomes(runs, "outcome"), ["limited", "resolved"], "{runs}");
    assert!(
        runs[0]["error"]
            .as_str()
            .unwrap()
            .starts_with("Claude AI usage limit reached|"),
        "{runs}"
    );
    assert_eq!(conflicted["merge_requests"][0]["status"], "merged");
    // The request said why it waited, and until when.
    let waits: Vec<String> = json_lines(&output)
        .iter()
        .filter(|l| l["event"] == "merge_waiting")
        .filter_map(|l| l["reason"].as_str().map(str::to_string))
        .collect();
    assert!(
        waits.iter().any(|w| w
            .starts_with("waiting: the merger's agent sim is held for its usage limit until ")
            && w.ends_with("UTC; the merge is tried again then")),
        "{}",
        describe(&output)
    );
}

#[test]
fn a_planner_turn_that_meets_a_limit_is_told_and_tried_again_after_the_backoff() {
    let project =
        Project::with_sim("[workers]\nlimit_backoff_secs = 1\nlimit_backoff_max_secs = 1\n");
    planner_making_one_task(
        &project,
        "[[turn]]\nsteps = [ { limit = \"rate_limit\" } ]\n\n",
    );
    let output = project.run_enki(&["run", "write w"]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let held = stdout
        .lines()
        .find(|l| l.starts_with("⏸ the planner's agent sim hit its rate limit until "))
        .unwrap_or_else(|| panic!("no hold line: {}", describe(&output)));
    assert!(
        held.contains("UTC (no reset time given: backoff, limit 1 in a row): API Error: 429")
            && held.ends_with("; its turn is tried again then"),
        "{held}"
    );
    // The turn tried again was told why. The planner's text streams in
    // pieces, and a progress line printed meanwhile splits it over lines.
    let planner_said: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("planner: "))
        .flat_map(str::split_whitespace)
        .collect();
    assert!(
        planner_said.join(" ").contains(
            "Your account's rate limit or usage limit (it has reset since) ended your previous turn"
        ),
        "{}",
        describe(&output)
    );
    assert!(
        !stdout.contains("turn failed") && !stdout.contains("⚠"),
        "{}",
        describe(&output)
    );
    let tasks = project.tasks_json();
    assert_eq!(outcomes(&Value::from(tasks), "status"), ["done"]);
    assert!(project.root.join("w.txt").exists());
}

#[test]
fn a_planner_whose_session_cannot_open_for_a_limit_starts_after_the_reset() {
    let project = Project::with_sim("");
    // As codex-acp words a spent quota: its reset is "in N seconds".
    session_new_limited_once(
        &project,
        "limit = \"quota\"\nresets_in_secs = 1\nlike = \"codex\"",
    );
    planner_making_one_task(&project, "");
    let output = project.run_enki(&["run", "--json", "write w"]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let held = held_lines(&output);
    assert_eq!(held.len(), 1, "{}", describe(&output));
    assert_eq!(held[0]["met_by"]["role"], "planner", "{}", held[0]);
    assert_eq!(held[0]["hold"]["kind"], "quota", "{}", held[0]);
    assert_eq!(held[0]["hold"]["reset_given"], true, "{}", held[0]);
    assert!(
        json_lines(&output)
            .iter()
            .any(|l| l["event"] == "agent_free"),
        "{}",
        describe(&output)
    );
    let tasks = project.tasks_json();
    assert_eq!(outcomes(&Value::from(tasks), "status"), ["done"]);
    assert!(project.root.join("w.txt").exists());
}

#[test]
fn a_worker_whose_session_cannot_open_for_a_limit_waits_without_spending_an_attempt() {
    let project = Project::with_sim("[workers]\nretries = 0\n");
    session_new_limited_once(&project, "limit = \"quota\"\nresets_in_secs = 1");
    project.writer_script("w", "w.txt", "w\n");
    let plan = project.plan("[[steps]]\nid = \"w\"\ntitle = \"W\"\ndescription = \"[[sim:w]]\"\n");
    let output = project.run_enki(&["run", "--plan", plan.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert!(
        String::from_utf8_lossy(&output.stdout)
            .contains("⏸ agent sim waits for its usage limit until "),
        "{}",
        describe(&output)
    );
    let detail = project.step_detail("w");
    assert_eq!(detail["task"]["status"], "done", "{detail}");
    assert_eq!(detail["task"]["failures"], 0, "{detail}");
    assert_eq!(
        outcomes(&detail["attempt_history"], "outcome"),
        ["limited", "succeeded"],
        "{detail}"
    );
}
