//! `[budget]` end to end (issue 16, item 4): `sim` workers report cost in
//! their `usage_update`s and tokens at the end of their turns; the real
//! `enki run` stops the work a spent budget covers (its work kept in its
//! copy), pauses the execution with the reason, refuses to start a task with
//! less than the floor left, and exits with status 4.
// An integration test: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use enki_tests::{Project, describe, one_turn};
use serde_json::Value;

fn json_of(project: &Project, args: &[&str]) -> Value {
    let output = project.enki(args).output().unwrap();
    assert!(output.status.success(), "{}", describe(&output));
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn a_spent_budget_stops_the_turn_keeps_the_work_pauses_with_the_reason_and_exits_4() {
    let project = Project::with_sim(
        "[workers]\nmax_workers = 1\nretries = 0\n\n[budget]\nper_execution = { cost = 1.0 }\n",
    );
    // It writes, reports 0.60 then 1.20 USD (the session's cost so far),
    // then would work on for ever: the budget ends its turn.
    project.script(
        "big",
        &one_turn(
            "  { write = \"work.txt\", content = \"kept\\n\" },\n  { usage = { input = 100, output = 10, cost = 0.6 } },\n  { usage = { input = 100, output = 10, cost = 0.6 } },\n  { hang = true },",
        ),
    );
    project.script("later", &one_turn("  { say = \"never\" },"));
    let plan = project.plan(
        "[[steps]]\nid = \"big\"\ntitle = \"Big\"\ndescription = \"[[sim:big]]\"\n\n\
         [[steps]]\nid = \"later\"\ntitle = \"Later\"\ndescription = \"[[sim:later]]\"\nneeds = [\"big\"]\n",
    );
    let output = project.run_enki(&["run", "--plan", &plan.display().to_string()]);
    assert_eq!(output.status.code(), Some(4), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let why =
        "the execution's budget of 1.00 USD ([budget] per_execution.cost) is spent: 1.20 USD used";
    assert!(stderr.contains(why), "{}", describe(&output));

    let big = project.task_by_step("big");
    assert_eq!(big["status"], "paused", "{big}");
    let copy = big["copy_path"].as_str().unwrap();
    assert_eq!(
        std::fs::read_to_string(std::path::Path::new(copy).join("work.txt")).unwrap(),
        "kept\n",
        "its work stays in its copy"
    );
    let detail = json_of(&project, &["task", big["id"].as_str().unwrap(), "--json"]);
    assert_eq!(
        detail["attempt_history"][0]["outcome"], "budget",
        "{detail}"
    );
    assert_eq!(project.task_by_step("later")["status"], "pending");
    let status = json_of(&project, &["status", "--json"]);
    let execution = &status["executions"][0];
    assert_eq!(execution["status"], "paused", "{status}");
    assert_eq!(execution["paused_reason"], why, "{status}");
    let text =
        String::from_utf8_lossy(&project.enki(&["status"]).output().unwrap().stdout).into_owned();
    assert!(text.contains(why), "{text}");
}

#[test]
fn a_task_does_not_start_with_less_than_the_floor_left_of_a_token_budget() {
    let project = Project::with_sim(
        "[workers]\nmax_workers = 1\n\n[budget]\nper_session = { tokens = 1000 }\nfloor = { tokens = 500 }\n",
    );
    // Tokens come with the end of the turn, as claude-agent-acp reports them.
    project.script(
        "first",
        &one_turn("  { usage = { input = 500, output = 100, cache_read = 9000 } },"),
    );
    project.script("second", &one_turn("  { say = \"never\" },"));
    let plan = project.plan(
        "[[steps]]\nid = \"first\"\ntitle = \"First\"\ndescription = \"[[sim:first]]\"\n\n\
         [[steps]]\nid = \"second\"\ntitle = \"Second\"\ndescription = \"[[sim:second]]\"\nneeds = [\"first\"]\n",
    );
    let output = project.run_enki(&["run", "--plan", &plan.display().to_string(), "--json"]);
    assert_eq!(output.status.code(), Some(4), "{}", describe(&output));
    let lines: Vec<Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let spent = lines
        .iter()
        .find(|l| l["event"] == "budget_spent")
        .unwrap_or_else(|| panic!("no budget_spent event: {}", describe(&output)));
    let reason = spent["reason"].as_str().unwrap();
    assert!(
        reason.contains("has 400 work tokens left, below the floor of 500"),
        "{reason}"
    );
    assert_eq!(spent["standing"]["scope"], "session", "{spent}");
    let finished = lines.last().unwrap();
    assert_eq!(finished["event"], "finished", "{finished}");
    assert_eq!(finished["outcome"], "budget_spent", "{finished}");
    assert_eq!(project.task_by_step("first")["status"], "done");
    assert_eq!(project.task_by_step("second")["status"], "ready");
}
