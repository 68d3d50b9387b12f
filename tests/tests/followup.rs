//! `enki followup`, end to end: a done task runs again as its next round in
//! the ACP session its first round ended in (the sim keeps a per-session
//! turn counter, so the script's second turn runs only in that session),
//! its change lands on main through the merge queue with its round's
//! trailers, dependents that ran are not run again, a running coordinator
//! takes the follow-up at once, an agent that cannot continue sessions gets
//! a fresh one with the task, the request and the history, and every status
//! but `done` is refused with what to do instead.
// An integration test: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use enki_core::landing::landed_round;
use enki_tests::{Project, describe, git, stdout, wait_output};

/// Turn 1 writes `a.txt`; turn 2 (run only by a second prompt in the same
/// session) writes `b.txt`.
fn two_turn_script(project: &Project) {
    project.script(
        "two",
        r#"[[turn]]
steps = [
  { write = "a.txt", content = "a\n" },
  { say = "[OUTPUT]wrote a.txt[/OUTPUT]" },
]
[[turn]]
steps = [
  { tool = "enki_worker_report", args = { status = "following up" } },
  { write = "b.txt", content = "b\n" },
  { say = "[OUTPUT]followed up with b.txt[/OUTPUT]" },
]
"#,
    );
}

/// Step `a` (the two-turn script) and step `d`, which needs a merged.
const PLAN: &str = "[[steps]]\nid = \"a\"\ntitle = \"Write a\"\ndescription = \"[[sim:two]]\"\n\n\
                    [[steps]]\nid = \"d\"\ntitle = \"Write d\"\ndescription = \"[[sim:d]]\"\nneeds = [\"a\"]\n";

/// A project whose plan ran to the end: `a` and `d` done, on main.
fn finished_project(extra_config: &str) -> Project {
    let project = Project::with_sim(extra_config);
    two_turn_script(&project);
    project.writer_script("d", "d.txt", "d\n");
    let plan = project.plan(PLAN);
    let output = project.run_enki(&["run", "--plan", plan.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert_eq!(project.status_of("a"), "done");
    project
}

/// The rounds of the task's commits on main, newest first.
fn landed_rounds(project: &Project, id: &str) -> Vec<i64> {
    git(&project.root, &["log", "--format=%B%x00", "main"])
        .split('\0')
        .filter_map(|message| landed_round(message, id))
        .collect()
}

fn follow_up(project: &Project, task: &str, request: &str) -> std::process::Output {
    project.enki(&["followup", task, request]).output().unwrap()
}

#[test]
fn a_done_task_takes_its_follow_up_in_its_session_and_the_change_lands() {
    let project = finished_project("");
    let (a, d) = (project.task_id("a"), project.task_id("d"));
    // The step's name works as for every command that takes a task.
    let output = follow_up(&project, "a", "Also write b.txt");
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let said = stdout(&output);
    assert!(said.contains(&format!("task {a}")), "{said}");
    assert!(said.contains("runs again as round 2"), "{said}");
    assert!(
        said.contains(
            "1 dependent(s) already ran on its earlier work and are not run again: `d` (done)"
        ),
        "{said}"
    );
    assert!(
        said.contains("no coordinator runs in this project: `enki run` (headless) or `enki` (TUI) carries on from here"),
        "{said}"
    );
    let task = project.task_by_step("a");
    assert_eq!(
        (&task["status"], &task["round"], &task["followup"]),
        (&"pending".into(), &2.into(), &"Also write b.txt".into())
    );

    // No coordinator ran: the next start takes it.
    let output = project.run_enki(&["run"]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert!(
        stdout(&output).contains("finished: 2 done"),
        "{}",
        describe(&output)
    );

    // Only the script's second turn, in the same session, writes b.txt.
    assert_eq!(git(&project.root, &["show", "main:b.txt"]), "b\n");
    assert_eq!(
        std::fs::read_to_string(project.root.join("b.txt")).unwrap(),
        "b\n"
    );
    assert_eq!(landed_rounds(&project, &a), [2, 1]);
    let subjects = project.commit_subjects("main");
    assert!(
        subjects.contains(&format!("Write a ({a}, round 2)")),
        "{subjects:?}"
    );
    let sessions = project.events_of(&a, "session");
    assert_eq!(sessions.len(), 2, "{sessions:?}");
    assert_eq!(sessions[1]["session"], sessions[0]["session"]);
    assert_eq!(sessions[1]["earlier"], sessions[0]["session"]);
    assert_eq!(sessions[1]["taken_up_for"], "followup");
    assert_eq!(sessions[1]["continued"], "session/resume");
    // The session got the request, not the task again.
    let prompts = project.sim_prompts();
    let turn = prompts
        .iter()
        .find(|p| p.contains("Also write b.txt"))
        .unwrap_or_else(|| panic!("no prompt with the request: {prompts:?}"));
    assert!(turn.contains("round 2"), "{turn}");
    assert!(!turn.contains("# Your task"), "{turn}");

    let task = project.task_by_step("a");
    assert_eq!(task["status"], "done");
    assert_eq!(task["output"], "followed up with b.txt");
    // d ran once, on a's first round, and was not run again.
    assert_eq!(project.task_by_step("d")["attempts"], 1);
    assert_eq!(project.events_of(&d, "attempt_started").len(), 1);
    // Nothing left behind.
    let branches = git(&project.root, &["branch", "--list", "enki/*"]);
    assert!(branches.trim().is_empty(), "{branches}");
    let worktrees = git(&project.root, &["worktree", "list"]);
    assert_eq!(worktrees.lines().count(), 1, "{worktrees}");
}

#[test]
fn a_running_coordinator_takes_the_follow_up_at_once() {
    let project = Project::with_sim("");
    two_turn_script(&project);
    project.gated_script("gate", "go", "g.txt");
    let plan = project.plan(
        "[[steps]]\nid = \"a\"\ntitle = \"Write a\"\ndescription = \"[[sim:two]]\"\n\n\
         [[steps]]\nid = \"g\"\ntitle = \"Gate\"\ndescription = \"[[sim:gate]]\"\n",
    );
    let child = project.spawn_enki(&["run", "--plan", plan.to_str().unwrap()]);
    project.wait_until("a done while g waits", || {
        project.status_of("a") == "done" && project.status_of("g") == "running"
    });
    let a = project.task_id("a");
    let output = follow_up(&project, &a, "Also write b.txt");
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert!(
        !stdout(&output).contains("no coordinator runs"),
        "{}",
        describe(&output)
    );
    project.wait_until("the follow-up landed", || {
        let task = project.task_by_step("a");
        task["round"] == 2 && task["status"] == "done"
    });
    assert_eq!(git(&project.root, &["show", "main:b.txt"]), "b\n");
    std::fs::write(project.enki_dir().join("go"), "").unwrap();
    let output = wait_output(child, Duration::from_secs(60));
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert!(
        stdout(&output).contains("finished: 2 done"),
        "{}",
        describe(&output)
    );
    assert_eq!(landed_rounds(&project, &a), [2, 1]);
}

#[test]
fn an_agent_that_cannot_continue_gets_the_task_the_request_and_the_history() {
    let project = finished_project("");
    std::fs::write(
        project.enki_dir().join("sim/capabilities.toml"),
        "load_session = false\nresume = false\n",
    )
    .unwrap();
    let a = project.task_id("a");
    let output = follow_up(&project, &a, "Also write b.txt");
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let output = project.run_enki(&["run"]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));

    let sessions = project.events_of(&a, "session");
    assert_eq!(sessions.len(), 2, "{sessions:?}");
    assert_ne!(sessions[1]["session"], sessions[0]["session"]);
    assert_eq!(sessions[1]["taken_up_for"], "followup");
    assert!(
        sessions[1]["not_continued"]
            .as_str()
            .is_some_and(|why| why.contains("loadSession")),
        "{sessions:?}"
    );
    let prompts = project.sim_prompts();
    let fresh = prompts
        .iter()
        .find(|p| p.contains("# Follow-up"))
        .unwrap_or_else(|| panic!("no prompt with the follow-up: {prompts:?}"));
    for part in [
        "# Your task: Write a",
        "## Round 2 (the request now)\n\nAlso write b.txt",
        "# Earlier attempts at this task",
        "- attempt 1: succeeded",
    ] {
        assert!(fresh.contains(part), "missing {part:?} in {fresh}");
    }
    // A fresh sim session runs its script from the start: nothing new to land.
    assert_eq!(project.status_of("a"), "done");
    assert_eq!(landed_rounds(&project, &a), [1]);
}

#[test]
fn only_a_done_task_gets_a_follow_up_and_a_refusal_says_what_to_do() {
    let project = Project::with_sim("[workers]\nretries = 0\n");
    project.script(
        "broken",
        &enki_tests::one_turn("  { fail = \"broken on purpose\" },"),
    );
    project.writer_script("after", "after.txt", "after\n");
    let plan = project.plan(
        "[[steps]]\nid = \"f\"\ntitle = \"F\"\ndescription = \"[[sim:broken]]\"\n\n\
         [[steps]]\nid = \"h\"\ntitle = \"H\"\ndescription = \"[[sim:after]]\"\nneeds = [\"f\"]\n",
    );
    let output = project.run_enki(&["run", "--plan", plan.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let (f, h) = (project.task_id("f"), project.task_id("h"));
    let signals_before = project.signals().len();

    for (task, says) in [
        (&f, "cannot get a follow-up: it is failed"),
        (&h, "cannot get a follow-up: it is blocked"),
    ] {
        let output = follow_up(&project, task, "try harder");
        assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
        let error = String::from_utf8_lossy(&output.stderr);
        assert!(error.contains(says), "{error}");
        assert!(error.contains("`enki retry`"), "{error}");
    }
    let output = project
        .enki(&["followup", "task-00000000000000000000000000", "x"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    // No request at all is a usage error.
    let output = project.enki(&["followup", &f]).output().unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));

    // Nothing changed, and no coordinator was told anything.
    let task = project.task_by_step("f");
    assert_eq!(
        (&task["status"], &task["round"]),
        (&"failed".into(), &1.into())
    );
    assert_eq!(project.status_of("h"), "blocked");
    assert_eq!(project.signals().len(), signals_before);
}
