//! Limits of an agent's account end to end (issue 16, item 5): a `sim`
//! worker answers its prompt as claude-agent-acp or codex-acp do when a
//! quota, a rate limit or an overloaded API stops them; the real `enki run`
//! holds the agent until the reset (or a backoff), puts the task back to
//! ready without spending an attempt, never fails it for that, keeps the
//! hold across a restart and says until when in `enki run` and `enki status`.
// An integration test: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use enki_tests::{Project, describe, json_lines, wait_output};
use serde_json::Value;

fn outcomes(detail: &Value) -> Vec<String> {
    detail["attempt_history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["outcome"].as_str().unwrap_or("").to_string())
        .collect()
}

const ONE_STEP: &str = "[[steps]]\nid = \"t\"\ntitle = \"T\"\ndescription = \"[[sim:limited]]\"\n";

#[test]
fn a_quota_holds_the_agent_until_its_reset_and_the_task_goes_on_without_spending_an_attempt() {
    // No retry at all: a limit counted as a failure would fail the task.
    let project = Project::with_sim("[workers]\nmax_workers = 1\nretries = 0\n");
    project.script(
        "limited",
        "[[turn]]\nsteps = [{ limit = \"quota\", resets_in_secs = 1 }]\n\
         [[turn]]\nsteps = [{ write = \"work.txt\", content = \"done\\n\" }, { say = \"[OUTPUT]done[/OUTPUT]\" }]\n",
    );
    let plan = project.plan(ONE_STEP);
    let output = project.run_enki(&["run", "--plan", plan.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let held = stdout
        .lines()
        .find(|l| l.starts_with("⏸ agent sim waits for its usage limit until "))
        .unwrap_or_else(|| panic!("no hold line: {}", describe(&output)));
    assert!(
        held.contains("UTC (the agent's reset time): Claude AI usage limit reached|"),
        "{held}"
    );
    assert!(
        stdout.contains("▶ agent sim's limit has reset: its tasks start again"),
        "{}",
        describe(&output)
    );
    assert_eq!(
        std::fs::read_to_string(project.root.join("work.txt")).unwrap(),
        "done\n"
    );
    let id = project.task_id("t");
    let detail = project.task_detail(&id);
    assert_eq!(detail["task"]["status"], "done", "{detail}");
    assert_eq!(detail["task"]["failures"], 0, "{detail}");
    assert_eq!(outcomes(&detail), ["limited", "succeeded"], "{detail}");
    // The second attempt went on in the session the limit interrupted.
    let sessions = project.events_of(&id, "session");
    assert_eq!(sessions[1]["taken_up_for"], "limited", "{sessions:?}");
    // A turn that ended well forgets the agent's limits.
    let status: Value =
        serde_json::from_slice(&project.enki(&["status", "--json"]).output().unwrap().stdout)
            .unwrap();
    assert_eq!(status["held_agents"], serde_json::json!([]), "{status}");
}

#[test]
fn account_wide_limits_never_fail_a_task_with_one_attempt_and_back_off_without_a_reset_time() {
    let project = Project::with_sim(
        "[workers]\nmax_workers = 1\nretries = 0\nlimit_backoff_secs = 1\nlimit_backoff_max_secs = 2\n",
    );
    // A rate limit, an overloaded API (as codex-acp reports it, in `data`)
    // and a quota in local time: none names a reset enki can read.
    project.script(
        "limited",
        "[[turn]]\nsteps = [{ limit = \"rate_limit\" }]\n\
         [[turn]]\nsteps = [{ limit = \"overloaded\", like = \"codex\" }]\n\
         [[turn]]\nsteps = [{ limit = \"quota\" }]\n\
         [[turn]]\nsteps = [{ say = \"[OUTPUT]made it[/OUTPUT]\" }]\n",
    );
    let plan = project.plan(ONE_STEP);
    let output = project.run_enki(&["run", "--plan", plan.to_str().unwrap(), "--json"]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let holds: Vec<Value> = json_lines(&output)
        .into_iter()
        .filter(|l| l["event"] == "agent_held")
        .map(|l| l["hold"].clone())
        .collect();
    let seen: Vec<(&str, u64, bool)> = holds
        .iter()
        .map(|h| {
            (
                h["kind"].as_str().unwrap(),
                h["streak"].as_u64().unwrap(),
                h["reset_given"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("rate_limit", 1, false),
            ("overloaded", 2, false),
            ("quota", 3, false)
        ],
        "{}",
        describe(&output)
    );
    assert_eq!(
        holds[1]["message"],
        "The model is overloaded. Please try again later."
    );
    let detail = project.step_detail("t");
    assert_eq!(detail["task"]["status"], "done", "{detail}");
    assert_eq!(
        outcomes(&detail),
        ["limited", "limited", "limited", "succeeded"],
        "{detail}"
    );
}

#[test]
fn a_restart_keeps_waiting_for_the_reset_and_status_says_until_when() {
    let project = Project::with_sim("[workers]\nmax_workers = 1\n");
    project.script(
        "limited",
        "[[turn]]\nsteps = [{ limit = \"quota\", resets_in_secs = 3600 }]\n",
    );
    let plan = project.plan(ONE_STEP);
    let first = project.spawn_enki(&["run", "--plan", plan.to_str().unwrap()]);
    let held = || {
        let output = project.enki(&["status", "--json"]).output().unwrap();
        let status: Value = serde_json::from_slice(&output.stdout).unwrap();
        status["held_agents"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
    };
    project.wait_until("the agent is held", held);
    let stop = |child: &std::process::Child| {
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
    };
    stop(&first);
    let output = wait_output(first, Duration::from_secs(30));
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("⏸ agent sim waits for its usage limit"),
        "{}",
        describe(&output)
    );
    let text = project.enki(&["status"]).output().unwrap();
    let text = String::from_utf8_lossy(&text.stdout).into_owned();
    assert!(
        text.contains("⏸ agent sim waits for its usage limit until ")
            && text.contains("(the agent's reset time): Claude AI usage limit reached|")
            && text.contains("Claude AI usage limit reached|")
            && text
                .lines()
                .any(|l| l.starts_with("⏸ ") && l.ends_with("m)")),
        "{text}"
    );
    let id = project.task_id("t");
    assert_eq!(project.status_of("t"), "ready");

    // The next coordinator adopts the task and holds the agent before any
    // task can start: no attempt, no agent started.
    let session_before = execution_session(&project);
    let second = project.spawn_enki(&["run", "--json"]);
    project.wait_until("the execution is adopted", || {
        execution_session(&project) != session_before
    });
    stop(&second);
    let output = wait_output(second, Duration::from_secs(30));
    let lines = json_lines(&output);
    let restored = lines
        .iter()
        .find(|l| l["event"] == "agent_held")
        .unwrap_or_else(|| panic!("the hold was not restored: {}", describe(&output)));
    assert_eq!(restored["met_by"]["role"], "earlier", "{restored}");
    assert_eq!(restored["hold"]["reset_given"], true, "{restored}");
    assert!(
        !lines.iter().any(|l| l["event"] == "worker_started"),
        "{}",
        describe(&output)
    );
    let detail = project.task_detail(&id);
    assert_eq!(outcomes(&detail), ["limited"], "{detail}");
    assert_eq!(detail["task"]["failures"], 0, "{detail}");
}

fn execution_session(project: &Project) -> Value {
    let output = project.enki(&["status", "--json"]).output().unwrap();
    let status: Value = serde_json::from_slice(&output.stdout).unwrap();
    status["executions"][0]["session_id"].clone()
}
