//! The coordinator end to end: the real `enki` binary runs `sim` agents in
//! temporary git projects.
// An integration test: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::Duration;

use enki_tests::{Project, describe, git, is_alive, processes_in, stdout, wait_output};
use serde_json::Value;

/// Signal files still waiting to be applied by the coordinator.
fn signals_waiting(project: &Project) -> usize {
    project.signals().len()
}

#[test]
fn a_five_step_execution_with_mixed_conditions_merges_every_change_in_order() {
    let project = Project::with_sim("[workers]\nmax_workers = 2\n");
    for step in ["a", "b", "c", "d", "e"] {
        project.writer_script(
            &format!("w-{step}"),
            &format!("{step}.txt"),
            &format!("from {step}\n"),
        );
    }
    let plan = project.plan(
        r#"title = "Five files"
[[steps]]
id = "a"
title = "Write a"
description = "[[sim:w-a]]"
[[steps]]
id = "b"
title = "Write b"
description = "[[sim:w-b]]"
needs = ["a"]
[[steps]]
id = "c"
title = "Write c"
description = "[[sim:w-c]]"
needs = [{ step = "a", condition = "completed" }]
[[steps]]
id = "d"
title = "Write d"
description = "[[sim:w-d]]"
needs = [{ step = "b", condition = "started" }]
[[steps]]
id = "e"
title = "Write e"
description = "[[sim:w-e]]"
needs = ["b", "c", { step = "d", condition = "merged" }]
"#,
    );
    let output = project.run_enki(&["run", "--plan", plan.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));

    let subjects = project.commit_subjects("main");
    let position = |step: &str| {
        subjects
            .iter()
            .position(|s| s.starts_with(&format!("Write {step} (task-")))
            .unwrap_or_else(|| panic!("no commit for {step}: {subjects:?}"))
    };
    for step in ["a", "b", "c", "d", "e"] {
        assert_eq!(
            std::fs::read_to_string(project.root.join(format!("{step}.txt"))).unwrap(),
            format!("from {step}\n")
        );
        assert_eq!(project.status_of(step), "done");
        // Exactly one squash commit per step.
        assert_eq!(
            subjects
                .iter()
                .filter(|s| s.starts_with(&format!("Write {step} (")))
                .count(),
            1
        );
    }
    // `merged` edges land their dependency first.
    assert!(position("a") < position("b"));
    assert!(
        position("b") < position("e")
            && position("c") < position("e")
            && position("d") < position("e")
    );
    assert!(
        git(&project.root, &["status", "--porcelain"])
            .trim()
            .is_empty(),
        "the user's tree is clean"
    );
    // Landed copies and branches are cleaned up.
    assert!(
        git(&project.root, &["branch", "--list", "enki/*"])
            .trim()
            .is_empty()
    );
    // The output of each worker is stored.
    assert_eq!(project.task_by_step("a")["output"], "wrote a.txt");
}

#[test]
fn a_failing_worker_is_retried_then_its_dependents_are_blocked() {
    // Agents write only where their sandbox lets them: `.enki/flags/` here.
    let project =
        Project::with_sim("[workers]\nretries = 1\n\n[sandbox]\nwritable = [\"flags\"]\n");
    std::fs::create_dir_all(project.enki_dir().join("flags")).unwrap();
    project.script(
        "broken",
        "[[turn]]\nsteps = [ { fail = \"compiler exploded\" } ]\n",
    );
    // Fails on the first attempt only: the copy is kept between attempts.
    project.script(
        "flaky",
        "[[turn]]\nsteps = [\n  { run = \"test -f \\\"$ENKI_DIR/flags/flaky-once\\\" || { touch \\\"$ENKI_DIR/flags/flaky-once\\\"; exit 1; }\" },\n  { write = \"flaky.txt\", content = \"ok\\n\" },\n]\n",
    );
    project.writer_script("after", "after.txt", "after\n");
    let plan = project.plan(
        r#"[[steps]]
id = "broken"
title = "Broken"
description = "[[sim:broken]]"
[[steps]]
id = "dependent"
title = "Needs broken"
description = "[[sim:after]]"
needs = ["broken"]
[[steps]]
id = "flaky"
title = "Flaky"
description = "[[sim:flaky]]"
"#,
    );
    let output = project.run_enki(&["run", "--plan", plan.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let broken = project.task_by_step("broken");
    assert_eq!(broken["status"], "failed");
    assert_eq!(broken["attempts"], 2, "one retry within the budget");
    assert!(
        broken["last_error"]
            .as_str()
            .unwrap()
            .contains("compiler exploded"),
        "{broken}"
    );
    assert_eq!(project.status_of("dependent"), "blocked");
    let flaky = project.task_by_step("flaky");
    assert_eq!(flaky["status"], "done", "the retry succeeded");
    assert_eq!(flaky["attempts"], 2);
    assert!(project.root.join("flaky.txt").exists());
    assert!(!project.root.join("after.txt").exists());
    assert!(
        stdout(&output).contains("retrying"),
        "{}",
        describe(&output)
    );
}

/// The attempt history `enki task --json` shows: (outcome, error) per attempt.
fn attempt_history(project: &Project, step: &str) -> Vec<(String, String)> {
    let id = project.task_id(step);
    let output = project.run_enki(&["task", &id, "--json"]);
    assert!(output.status.success(), "{}", describe(&output));
    let detail: Value = serde_json::from_slice(&output.stdout).unwrap();
    detail["attempt_history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["outcome"].as_str().unwrap_or("").to_string(),
                a["error"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

/// Runs a plan whose steps each follow the sim script of the same name and
/// checks that each listed step failed twice with `expected` in its error.
fn assert_fails_twice(project: &Project, steps: &[(&str, &str)]) {
    let mut plan = String::new();
    for (step, _) in steps {
        plan.push_str(&format!(
            "[[steps]]\nid = \"{step}\"\ntitle = \"{step}\"\ndescription = \"[[sim:{step}]]\"\n"
        ));
    }
    plan.push_str("[[steps]]\nid = \"fine\"\ntitle = \"Works\"\ndescription = \"[[sim:fine]]\"\n");
    project.writer_script("fine", "fine.txt", "fine\n");
    let plan = project.plan(&plan);
    let output = project.run_enki(&["run", "--plan", plan.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert_eq!(project.status_of("fine"), "done", "the rest kept running");
    for (step, expected) in steps {
        let task = project.task_by_step(step);
        assert_eq!(task["status"], "failed", "{task}");
        assert_eq!(task["attempts"], 2, "{task}");
        assert_eq!(task["failures"], 2, "{task}");
        assert!(
            task["last_error"].as_str().unwrap_or("").contains(expected),
            "{task}"
        );
        let history = attempt_history(project, step);
        assert_eq!(history.len(), 2, "{step}: {history:?}");
        // A stall is a failed attempt recorded as such.
        let failed = if expected.starts_with("stalled:") {
            "stalled"
        } else {
            "failed"
        };
        for (outcome, error) in &history {
            assert_eq!(outcome, failed, "{step}: {history:?}");
            assert!(error.contains(expected), "{step}: {history:?}");
        }
    }
}

#[test]
fn a_stalled_worker_is_stopped_retried_and_every_attempt_recorded() {
    let project = Project::with_sim("[workers]\nretries = 1\nstall_timeout_secs = 1\n");
    project.script("hang", "[[turn]]\nsteps = [ { hang = true } ]\n");
    assert_fails_twice(&project, &[("hang", "stalled: no progress for 1 s")]);
}

#[test]
fn workers_ending_with_refusal_or_max_tokens_fail_and_are_retried() {
    let project = Project::with_sim("[workers]\nretries = 1\n");
    project.script("refuse", "[[turn]]\nsteps = [ { stop = \"refusal\" } ]\n");
    project.script(
        "truncated",
        "[[turn]]\nsteps = [ { stop = \"max_tokens\" } ]\n",
    );
    assert_fails_twice(
        &project,
        &[("refuse", "refusal"), ("truncated", "max_tokens")],
    );
}

#[test]
fn an_invalid_plan_is_rejected_before_anything_runs() {
    let project = Project::with_sim("");
    let plan = project.plan(
        "[[steps]]\nid = \"a\"\ntitle = \"A\"\nneeds = [\"b\"]\n\n[[steps]]\nid = \"b\"\ntitle = \"B\"\nneeds = [\"a\"]\n",
    );
    let output = project.run_enki(&["run", "--plan", plan.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("plan.toml:") && stderr.contains("cycle"),
        "{stderr}"
    );
    assert!(project.tasks_json().is_empty(), "nothing was written");

    let plan = project.plan("[[steps]]\nid = \"a\"\ntitle = \"A\"\nrole = \"wizard\"\n");
    let output = project.run_enki(&["run", "--plan", plan.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("plan.toml:1: step 'a': unknown role 'wizard'")
    );

    let output = project.run_enki(&["run"]);
    assert_eq!(output.status.code(), Some(2), "nothing to resume");
}

#[test]
fn pause_resume_and_cancel_from_the_cli_steer_a_running_coordinator() {
    let project = Project::with_sim("");
    project.gated_script("gate-a", "go-a", "a.txt");
    project.writer_script("w-b", "b.txt", "b\n");
    project.writer_script("w-c", "c.txt", "c\n");
    let plan = project.plan(
        r#"[[steps]]
id = "a"
title = "A"
description = "[[sim:gate-a]]"
[[steps]]
id = "b"
title = "B"
description = "[[sim:w-b]]"
needs = ["a"]
[[steps]]
id = "c"
title = "C"
description = "[[sim:w-c]]"
needs = ["b"]
"#,
    );
    let child = project.spawn_enki(&["run", "--plan", plan.to_str().unwrap()]);
    project.wait_until("step a running", || project.status_of("a") == "running");
    let execution = project.task_by_step("a")["execution_id"]
        .as_str()
        .unwrap()
        .to_string();

    let paused = project.enki(&["pause", &execution]).output().unwrap();
    assert!(paused.status.success(), "{}", describe(&paused));
    project.wait_until("the pause signal applied", || {
        signals_waiting(&project) == 0
    });
    std::fs::write(project.enki_dir().join("go-a"), "").unwrap();
    project.wait_until("step a merged", || project.status_of("a") == "done");
    assert_eq!(
        project.status_of("b"),
        "ready",
        "a paused execution starts nothing"
    );

    // Cancelling c leaves b; resuming runs b and the run ends.
    let cancelled = project.enki(&["cancel", &execution, "c"]).output().unwrap();
    assert!(cancelled.status.success(), "{}", describe(&cancelled));
    let resumed = project.enki(&["resume", &execution]).output().unwrap();
    assert!(resumed.status.success(), "{}", describe(&resumed));
    let output = wait_output(child, Duration::from_secs(60));
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert_eq!(project.status_of("b"), "done");
    assert_eq!(project.status_of("c"), "cancelled");
    assert!(project.root.join("b.txt").exists() && !project.root.join("c.txt").exists());
}

#[test]
fn a_second_coordinator_in_the_same_project_is_refused() {
    let project = Project::with_sim("");
    project.gated_script("gate", "go", "g.txt");
    let plan =
        project.plan("[[steps]]\nid = \"g\"\ntitle = \"G\"\ndescription = \"[[sim:gate]]\"\n");
    let child = project.spawn_enki(&["run", "--plan", plan.to_str().unwrap()]);
    project.wait_until("step g running", || project.status_of("g") == "running");
    let second = project.run_enki(&["run"]);
    // Nothing ran (exit status 3): the coordinator could not start.
    assert_eq!(second.status.code(), Some(3), "{}", describe(&second));
    assert!(
        String::from_utf8_lossy(&second.stderr).contains("another enki coordinator is running"),
        "{}",
        describe(&second)
    );
    std::fs::write(project.enki_dir().join("go"), "").unwrap();
    let output = wait_output(child, Duration::from_secs(60));
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
}

#[test]
fn a_coordinator_killed_mid_run_resumes_and_merges_each_task_exactly_once() {
    let project = Project::with_sim("");
    project.writer_script("w-a", "a.txt", "a\n");
    project.gated_script("gate-b", "go-b", "b.txt");
    project.writer_script("w-c", "c.txt", "c\n");
    let plan = project.plan(
        r#"[[steps]]
id = "a"
title = "A"
description = "[[sim:w-a]]"
[[steps]]
id = "b"
title = "B"
description = "[[sim:gate-b]]"
needs = ["a"]
[[steps]]
id = "c"
title = "C"
description = "[[sim:w-c]]"
needs = ["b"]
"#,
    );
    let mut child = project.spawn_enki(&["run", "--plan", plan.to_str().unwrap()]);
    // Kill once b's worker runs its gate loop: a command of the worker's own.
    let mut copy = String::new();
    project.wait_until("step b waiting at its gate", || {
        copy = project
            .tasks_json()
            .into_iter()
            .find(|t| t["step_id"] == "b")
            .and_then(|t| t["copy_path"].as_str().map(str::to_string))
            .unwrap_or_default();
        !copy.is_empty()
            && processes_in(Path::new(&copy)).iter().any(|pid| {
                std::fs::read(format!("/proc/{pid}/cmdline"))
                    .is_ok_and(|c| String::from_utf8_lossy(&c).contains("go-b"))
            })
    });
    child.kill().unwrap(); // SIGKILL: no clean-up at all
    child.wait().unwrap();
    assert_eq!(project.status_of("a"), "done");

    let contained = enki_sandbox::containment().is_complete();
    let left = processes_in(Path::new(&copy));
    if contained {
        // The dead worker's command died with it: its PID namespace ended
        // with the coordinator.
        project.wait_until("the old worker's command to end", || {
            left.iter().all(|pid| !is_alive(*pid))
        });
    } else {
        // Without a PID namespace, the command outlives it in the copy.
        assert!(
            !left.is_empty(),
            "the old worker's command should still run"
        );
    }

    // A restart (which would stop a leftover) runs b again in the same copy.
    let second = project.spawn_enki(&["run"]);
    project.wait_until("no leftover command", || {
        left.iter().all(|pid| !is_alive(*pid))
    });
    std::fs::write(project.enki_dir().join("go-b"), "").unwrap();
    let output = wait_output(second, Duration::from_secs(60));
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert_eq!(
        stdout(&output).contains("left running in its copy"),
        !contained,
        "{}",
        describe(&output)
    );
    assert!(
        stdout(&output).contains("interrupted"),
        "{}",
        describe(&output)
    );
    let subjects = project.commit_subjects("main");
    for step in ["A", "B", "C"] {
        assert_eq!(
            subjects
                .iter()
                .filter(|s| s.starts_with(&format!("{step} (task-")))
                .count(),
            1,
            "{subjects:?}"
        );
    }
    let b = project.task_by_step("b");
    assert_eq!(b["status"], "done");
    assert!(
        b["attempts"].as_i64().unwrap() >= 2,
        "the interrupted attempt counts: {b}"
    );
    let detail: Value = serde_json::from_slice(
        &project
            .enki(&["task", b["id"].as_str().unwrap(), "--json"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let merged = detail["merge_requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["status"] == "merged")
        .count();
    assert_eq!(merged, 1, "{detail}");
}

#[test]
fn a_planner_reaches_a_checkpoint_adds_steps_and_resumes() {
    let project = Project::with_sim("");
    project.writer_script("w-a", "a.txt", "a\n");
    project.writer_script("w-b", "b.txt", "b\n");
    // The planner: plan one checkpoint step, then (told about the
    // checkpoint) add a step and resume, then just acknowledge.
    project.script(
        "planner",
        r#"[[turn]]
steps = [
  { say = "Planning the first step." },
  { tool = "enki_execution_create", args = { title = "Checkpointed", steps = [ { id = "a", title = "Write a", description = "[[sim:w-a]]", checkpoint = true } ] } },
]

[[turn]]
steps = [
  { say = "Checkpoint reviewed; adding the next step." },
  { tool = "enki_execution_add_steps", args = { execution_id = "exec-01", steps = [ { id = "b", title = "Write b", description = "[[sim:w-b]]", needs = ["a"] } ] } },
  { tool = "enki_resume", args = { execution_id = "exec-01" } },
]

[[turn]]
steps = [ { say = "Noted." } ]
"#,
    );
    let output = project.run_enki(&["run", "write two files"]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let text = stdout(&output);
    assert!(text.contains("checkpoint"), "{text}");
    assert!(text.contains("planner: Checkpoint reviewed"), "{text}");
    assert!(project.root.join("a.txt").exists() && project.root.join("b.txt").exists());
    assert_eq!(project.status_of("b"), "done");
    let subjects = project.commit_subjects("main");
    let a = subjects
        .iter()
        .position(|s| s.starts_with("Write a ("))
        .unwrap();
    let b = subjects
        .iter()
        .position(|s| s.starts_with("Write b ("))
        .unwrap();
    assert!(a < b, "{subjects:?}");
}

#[test]
fn stop_pauses_everything_and_logs_show_what_happened() {
    let project = Project::with_sim("");
    project.gated_script("gate", "go", "g.txt");
    let plan =
        project.plan("[[steps]]\nid = \"g\"\ntitle = \"G\"\ndescription = \"[[sim:gate]]\"\n");
    let child = project.spawn_enki(&["run", "--plan", plan.to_str().unwrap()]);
    project.wait_until("step g running", || project.status_of("g") == "running");
    let stopped = project.enki(&["stop"]).output().unwrap();
    assert!(stopped.status.success(), "{}", describe(&stopped));
    project.wait_until("the worker stopped", || project.status_of("g") == "paused");
    let execution = project.task_by_step("g")["execution_id"]
        .as_str()
        .unwrap()
        .to_string();
    // The gate opens while the worker is stopped; resuming runs it again.
    std::fs::write(project.enki_dir().join("go"), "").unwrap();
    let resumed = project.enki(&["resume", &execution]).output().unwrap();
    assert!(resumed.status.success(), "{}", describe(&resumed));
    let output = wait_output(child, Duration::from_secs(60));
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert!(project.root.join("g.txt").exists());

    let id = project.task_id("g");
    let logs = project.enki(&["logs", &id]).output().unwrap();
    assert!(logs.status.success());
    let text = stdout(&logs);
    for kind in [
        "created",
        "attempt_started",
        "attempt_ended",
        "tool_call",
        "report",
        "merge_queued",
    ] {
        assert!(text.contains(kind), "no {kind} in the log:\n{text}");
    }
    assert!(text.contains("outcome=stopped"), "{text}");
    // `-f` on a finished task prints the log and returns.
    let followed = project.enki(&["logs", "-f", &id[..15]]).output().unwrap();
    assert!(followed.status.success());
    assert_eq!(stdout(&followed), text);
}

/// `enki run` stopped by `signal` (as Ctrl-C, `kill`, or a closed terminal
/// would): its worker is stopped cleanly, no process of the project is
/// left, the store says nothing runs, and the next start runs the task again.
fn a_stop_signal_stops_workers_cleanly(signal: &str) {
    let project = Project::with_sim("");
    project.gated_script("gate", "go", "g.txt");
    let plan =
        project.plan("[[steps]]\nid = \"g\"\ntitle = \"G\"\ndescription = \"[[sim:gate]]\"\n");
    let child = project.spawn_enki(&["run", "--plan", plan.to_str().unwrap()]);
    project.wait_until("step g running", || project.status_of("g") == "running");
    let sent = std::process::Command::new("kill")
        .args([format!("-{signal}"), child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let output = wait_output(child, Duration::from_secs(30));
    assert!(
        stdout(&output).contains("stopped 1 worker(s)"),
        "{signal}: {}",
        describe(&output)
    );
    assert!(
        String::from_utf8_lossy(&output.stderr).contains(&format!("SIG{signal}")),
        "{signal}: {}",
        describe(&output)
    );
    // No agent, MCP server or command of the project outlives the run.
    let left = processes_in(&project.enki_dir());
    assert!(left.is_empty(), "{signal}: left running: {left:?}");
    // Nothing claims to run any more.
    assert_eq!(project.status_of("g"), "ready");
    let status: Value =
        serde_json::from_slice(&project.enki(&["status", "--json"]).output().unwrap().stdout)
            .unwrap();
    assert_eq!(status["counts"]["running_workers"], 0, "{status}");
    assert_eq!(status["coordinator"]["running"], false, "{status}");
    let id = project.task_id("g");
    let detail: Value = serde_json::from_slice(
        &project
            .enki(&["task", &id, "--json"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert_eq!(
        detail["attempt_history"][0]["outcome"], "interrupted",
        "{detail}"
    );

    std::fs::write(project.enki_dir().join("go"), "").unwrap();
    let output = project.run_enki(&["run"]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert!(project.root.join("g.txt").exists());
}

#[test]
fn ctrl_c_stops_workers_cleanly_and_the_next_start_runs_them_again() {
    a_stop_signal_stops_workers_cleanly("INT");
}

#[test]
fn sigterm_stops_workers_cleanly_as_ctrl_c_does() {
    a_stop_signal_stops_workers_cleanly("TERM");
}

#[test]
fn sighup_stops_workers_cleanly_as_ctrl_c_does() {
    a_stop_signal_stops_workers_cleanly("HUP");
}

#[test]
fn a_change_whose_signal_was_lost_is_applied_from_the_store() {
    let project = Project::with_sim("");
    project.gated_script("gate", "never", "g.txt");
    let plan = project.plan(
        "[[steps]]\nid = \"g\"\ntitle = \"G\"\ndescription = \"[[sim:gate]]\"\n[[steps]]\nid = \"h\"\ntitle = \"H\"\ndescription = \"[[sim:gate]]\"\nneeds = [\"g\"]\n",
    );
    let child = project.spawn_enki(&["run", "--plan", plan.to_str().unwrap()]);
    project.wait_until("step g running", || project.status_of("g") == "running");
    // Cancel in the store only, as if the signal file had been lost.
    let execution = project.task_by_step("g")["execution_id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut store = enki_store::Store::open_existing(&project.db_path()).unwrap();
    store.cancel(&execution, None).unwrap();
    drop(store);
    // The store alone changed: no cancel signal (the worker's own signals
    // may be waiting for the coordinator meanwhile).
    let signals = project.signals();
    assert!(
        !signals.iter().any(|s| s["type"] == "cancel"),
        "a cancel signal was written: {signals:?}"
    );
    // The coordinator notices at its next look at the store and stops g.
    let output = wait_output(child, Duration::from_secs(60));
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert_eq!(project.status_of("g"), "cancelled");
    assert_eq!(project.status_of("h"), "cancelled");
    assert!(!project.root.join("g.txt").exists());
}

#[test]
fn a_role_agent_named_relative_to_the_project_is_found_from_the_copy() {
    // Agents write only where their sandbox lets them: `.enki/flags/` here.
    let project = Project::with_sim("[sandbox]\nwritable = [\"flags\"]\n");
    std::fs::create_dir_all(project.enki_dir().join("flags")).unwrap();
    project.writer_script("w", "w.txt", "w\n");
    // The role's agent is a wrapper kept under .enki/ (never copied into a
    // worker's copy), named relative to the project root.
    let agents = project.enki_dir().join("agents");
    std::fs::create_dir_all(&agents).unwrap();
    let wrapper = agents.join("wrap.sh");
    std::fs::write(
        &wrapper,
        "#!/bin/sh\ntouch \"$ENKI_DIR/flags/wrapper-used\"\nexec \"$ENKI_BIN\" sim-agent \"$@\"\n",
    )
    .unwrap();
    std::fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    std::fs::write(
        project.enki_dir().join("roles/wrapped.toml"),
        "name = \"wrapped\"\ndescription = \"Runs through a wrapper.\"\nsystem_prompt = \"Work.\"\nagent = \".enki/agents/wrap.sh\"\n",
    )
    .unwrap();
    let plan = project.plan(
        "[[steps]]\nid = \"w\"\ntitle = \"W\"\nrole = \"wrapped\"\ndescription = \"[[sim:w]]\"\n",
    );
    let output = project.run_enki(&["run", "--plan", plan.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert!(project.enki_dir().join("flags/wrapper-used").exists());
    assert!(project.root.join("w.txt").exists());
}

#[test]
fn a_planner_that_cannot_start_fails_the_run_with_a_clear_message() {
    let project = Project::with_sim("");
    let output = project.run_enki(&["run", "--agent", "/no/such/agent", "do something"]);
    // Nothing was planned, so nothing ran: exit status 3, never 0.
    assert_eq!(output.status.code(), Some(3), "{}", describe(&output));
    let text = stdout(&output);
    assert!(
        text.contains("the planner agent") && text.contains("/no/such/agent"),
        "{}",
        describe(&output)
    );

    // A planner that crashes mid-turn fails the run too.
    project.script(
        "planner",
        "[[turn]]\nsteps = [ { say = \"thinking\" }, { crash = true } ]\n",
    );
    let output = project.run_enki(&["run", "plan something"]);
    assert_eq!(output.status.code(), Some(3), "{}", describe(&output));
    assert!(stdout(&output).contains("⚠"), "{}", describe(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("the planner made no task"),
        "{}",
        describe(&output)
    );
}

#[test]
fn json_progress_is_one_event_object_per_line() {
    let project = Project::with_sim("");
    project.writer_script("w", "w.txt", "w\n");
    let plan = project.plan("[[steps]]\nid = \"w\"\ntitle = \"W\"\ndescription = \"[[sim:w]]\"\n");
    let output = project.run_enki(&["run", "--json", "--plan", plan.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let events: Vec<Value> = stdout(&output)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect();
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["event"].as_str()).collect();
    assert_eq!(kinds.len(), events.len(), "every line names its event");
    let mut last = String::new();
    for event in &events {
        let at = event["at"]
            .as_str()
            .unwrap_or_else(|| panic!("no `at`: {event}"));
        assert!(at.ends_with('Z') && at.len() == 27, "RFC 3339 UTC: {event}");
        assert!(at >= last.as_str(), "in order: {event}");
        last = at.to_string();
    }
    for expected in [
        "session_started",
        "execution_loaded",
        "worker_started",
        "merge_queued",
        "merge_landed",
        "finished",
    ] {
        assert!(kinds.contains(&expected), "no {expected} in {kinds:?}");
    }
    let finished = events.last().unwrap();
    assert_eq!(finished["event"], "finished");
    assert_eq!(finished["done"], 1);
}

#[test]
fn the_coordinator_keeps_its_own_log_with_its_warnings() {
    let project = Project::with_sim("");
    project.writer_script("w", "w.txt", "w\n");
    let plan = project.plan("[[steps]]\nid = \"w\"\ntitle = \"W\"\ndescription = \"[[sim:w]]\"\n");
    // A bad signal file waiting at the start: the coordinator warns about it.
    std::fs::write(
        project
            .events_dir()
            .join("sig-01ARZ3NDEKTSV4RRFFQ69G5FAV.json"),
        "this is {not json",
    )
    .unwrap();
    let output = project
        .enki(&["run", "--plan", plan.to_str().unwrap()])
        .env("ENKI_LOG", "info,enki_acp=loud")
        .output()
        .expect("enki run");
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));

    let log = std::fs::read_to_string(project.enki_dir().join("logs/enki.log"))
        .expect(".enki/logs/enki.log exists after a run");
    // The coordinator's warning reaches the file …
    assert!(
        log.lines()
            .any(|l| l.contains("WARN") && l.contains("rejected signal file")),
        "{log}"
    );
    // … with what happened, as `enki run --json` would print it.
    assert!(log.contains(r#""event":"merge_landed""#), "{log}");
    // Shown once as progress on stdout, not again on stderr.
    assert!(
        stdout(&output).contains("⚠ rejected signal file"),
        "{}",
        describe(&output)
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("rejected signal file"), "{stderr}");
    // A warning that is not progress goes to stderr and to the file.
    assert!(
        stderr.contains("enki: warning: ENKI_LOG=\"info,enki_acp=loud\" is not a log level"),
        "{stderr}"
    );
    assert!(log.contains("is not a log level"), "{log}");
    // The agents' enki mcp servers keep their own log beside it.
    let mcp_log = std::fs::read_to_string(project.enki_dir().join("logs/mcp.log"))
        .expect(".enki/logs/mcp.log exists after a run");
    assert!(mcp_log.contains("enki mcp starts"), "{mcp_log}");
}
