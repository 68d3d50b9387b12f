//! Review before landing (`[merge] review = "ask"`, or a role's `review`),
//! end to end with the `sim` agent: finished work waits in
//! `awaiting_review` while a headless `enki run` says how to decide and
//! keeps waiting; `enki review` shows the diff against the base; `enki
//! approve` lands it exactly once; `enki reject` fails the task with the
//! note, keeps its branch and blocks its dependents; `enki followup` on
//! waiting work (request changes) runs the agent's next turn in the same
//! session and copy and brings the work back for review; `review = "auto"`
//! lands at once; and a task still awaiting review after its coordinator
//! stopped is approved from the command line and landed by the next start.
// An integration test: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use enki_core::landing::landed_round;
use enki_tests::{BOTH_VERSIONS, Project, describe, git, stdout, wait_output};

const ASK: &str = "[merge]\nreview = \"ask\"\n";

/// Step `a` writes `a.txt` (and, at its session's second turn, `b.txt`);
/// step `d` needs a merged and writes `d.txt`.
fn project(config: &str) -> (Project, std::path::PathBuf) {
    let project = Project::with_sim(config);
    project.script(
        "two",
        r#"[[turn]]
steps = [
  { write = "a.txt", content = "a\n" },
  { say = "[OUTPUT]wrote a.txt[/OUTPUT]" },
]
[[turn]]
steps = [
  { write = "b.txt", content = "b\n" },
  { say = "[OUTPUT]wrote b.txt as asked[/OUTPUT]" },
]
"#,
    );
    project.writer_script("d", "d.txt", "d\n");
    let plan = project.plan(
        "[[steps]]\nid = \"a\"\ntitle = \"Write a\"\ndescription = \"[[sim:two]]\"\n\n\
         [[steps]]\nid = \"d\"\ntitle = \"Write d\"\ndescription = \"[[sim:d]]\"\nneeds = [\"a\"]\n",
    );
    (project, plan)
}

/// The rounds of `id`'s commits on main, newest first.
fn landed_rounds(project: &Project, id: &str) -> Vec<i64> {
    git(&project.root, &["log", "--format=%B%x00", "main"])
        .split('\0')
        .filter_map(|message| landed_round(message, id))
        .collect()
}

fn on_main(project: &Project, file: &str) -> bool {
    git(&project.root, &["ls-tree", "--name-only", "main"])
        .lines()
        .any(|l| l == file)
}

fn enki_ok(project: &Project, args: &[&str]) -> String {
    let output = project.enki(args).output().unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{args:?}: {}",
        describe(&output)
    );
    stdout(&output)
}

#[test]
fn approved_work_lands_exactly_once_and_nothing_lands_before() {
    let (project, plan) = project(ASK);
    let child = project.spawn_enki(&["run", "--plan", plan.to_str().unwrap()]);
    project.wait_until("a awaits review", || {
        project.status_of("a") == "awaiting_review"
    });
    let a = project.task_id("a");
    assert!(!on_main(&project, "a.txt"), "nothing lands before approval");
    assert_eq!(project.status_of("d"), "pending");
    let task = project.task_by_step("a");
    assert_eq!(task["agent_state"], "waiting_user", "{task}");

    // The diff against the base, per file, with the task's output.
    let text = enki_ok(&project, &["review"]);
    let header = format!("task {a} (step `a`, \"Write a\") awaits your review, round 1");
    for part in [
        header.as_str(),
        "lands on main from enki/",
        "[OUTPUT] wrote a.txt",
        "1 file(s) changed, +1 -0",
        "  A  a.txt  +1 -0",
        "+a",
        "next: enki approve a",
    ] {
        assert!(text.contains(part), "missing {part:?} in\n{text}");
    }
    assert!(
        !text.contains("\x1b["),
        "no colour when stdout is not a terminal"
    );
    let json: serde_json::Value =
        serde_json::from_str(&enki_ok(&project, &["review", "a", "--json"])).unwrap();
    assert_eq!(json["task"]["id"], a.as_str());
    assert_eq!(json["output"], "wrote a.txt");
    assert_eq!(json["diff"]["files"][0]["path"], "a.txt");
    assert_eq!(json["diff"]["files"][0]["change"], "added");
    assert_eq!(json["diff"]["files"][0]["added"], 1);

    // The planner's views show it too.
    let mut planner = project.mcp(&["--role", "planner"]);
    for tool in ["enki_status", "enki_task_list"] {
        let result = planner.call_ok(tool, serde_json::json!({}));
        assert!(
            result.to_string().contains("awaiting_review"),
            "{tool}: {result}"
        );
    }
    let listed = planner.call_ok(
        "enki_task_list",
        serde_json::json!({"status": "awaiting_review"}),
    );
    assert!(listed.to_string().contains("Write a"), "{listed}");
    drop(planner);

    let said = enki_ok(&project, &["approve", "a"]);
    assert!(said.contains(&format!("approved task {a}")), "{said}");
    assert!(!said.contains("no coordinator runs"), "{said}");
    // d, which needs a merged, runs once a landed, and waits for review too.
    project.wait_until("d awaits review", || {
        project.status_of("d") == "awaiting_review"
    });
    assert!(on_main(&project, "a.txt"));
    enki_ok(&project, &["approve", "d"]);
    let output = wait_output(child, Duration::from_secs(60));
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let printed = stdout(&output);
    assert!(
        printed.contains("⏸ [a] Write a: its work awaits your review"),
        "{printed}"
    );
    assert!(printed.contains("enki approve a"), "{printed}");
    assert!(printed.contains("finished: 2 done"), "{printed}");
    assert_eq!(landed_rounds(&project, &a), [1], "landed exactly once");
    assert_eq!(git(&project.root, &["show", "main:a.txt"]), "a\n");
    assert_eq!(project.events_of(&a, "review")[0]["decision"], "approved");
    let review = enki_ok(&project, &["review"]);
    assert_eq!(review.trim(), "no task awaits review");
}

#[test]
fn rejected_work_does_not_land_keeps_its_branch_and_blocks_its_dependents() {
    let (project, plan) = project(ASK);
    let child = project.spawn_enki(&["run", "--plan", plan.to_str().unwrap()]);
    project.wait_until("a awaits review", || {
        project.status_of("a") == "awaiting_review"
    });
    let a = project.task_id("a");
    let said = enki_ok(&project, &["reject", "a", "--note", "not this way"]);
    assert!(said.contains(&format!("rejected task {a}")), "{said}");
    assert!(said.contains("branch enki/"), "{said}");
    let output = wait_output(child, Duration::from_secs(60));
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let task = project.task_by_step("a");
    assert_eq!(task["status"], "failed");
    assert_eq!(task["last_error"], "rejected in review: not this way");
    assert_eq!(project.status_of("d"), "blocked");
    assert!(!on_main(&project, "a.txt"));
    assert!(landed_rounds(&project, &a).is_empty());
    // The branch is kept, with the work on it.
    let branch = task["branch"].as_str().unwrap().to_string();
    assert_eq!(
        git(&project.root, &["show", &format!("{branch}:a.txt")]),
        "a\n"
    );
    let review = &project.events_of(&a, "review")[0];
    assert_eq!(
        (&review["decision"], &review["note"]),
        (&"rejected".into(), &"not this way".into())
    );
    // Only work awaiting review is approved or rejected, and the refusal says why.
    let output = project.enki(&["approve", "a"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let error = String::from_utf8_lossy(&output.stderr);
    assert!(
        error.contains("cannot be reviewed: it is failed, not awaiting_review"),
        "{error}"
    );
}

#[test]
fn requested_changes_run_in_the_same_session_come_back_for_review_and_land_once() {
    let (project, plan) = project(ASK);
    let child = project.spawn_enki(&["run", "--plan", plan.to_str().unwrap()]);
    project.wait_until("a awaits review", || {
        project.status_of("a") == "awaiting_review"
    });
    let a = project.task_id("a");
    let said = enki_ok(&project, &["followup", "a", "Also write b.txt"]);
    assert!(
        said.contains("runs again as round 2 with your requested changes"),
        "{said}"
    );
    project.wait_until("a's round 2 awaits review", || {
        let task = project.task_by_step("a");
        task["round"] == 2 && task["status"] == "awaiting_review"
    });
    assert!(!on_main(&project, "a.txt"), "nothing landed in between");
    // The review holds both rounds' work, and the second round's output.
    let text = enki_ok(&project, &["review", "a"]);
    for part in [
        "round 2",
        "[OUTPUT] wrote b.txt as asked",
        "2 file(s) changed",
        "  A  a.txt",
        "  A  b.txt",
    ] {
        assert!(text.contains(part), "missing {part:?} in\n{text}");
    }
    // The same session took the request: the script's second turn ran.
    let sessions = project.events_of(&a, "session");
    assert_eq!(sessions.len(), 2, "{sessions:?}");
    assert_eq!(sessions[1]["session"], sessions[0]["session"]);
    enki_ok(&project, &["approve", "a"]);
    project.wait_until("d awaits review", || {
        project.status_of("d") == "awaiting_review"
    });
    enki_ok(&project, &["approve", "d"]);
    let output = wait_output(child, Duration::from_secs(60));
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert_eq!(
        landed_rounds(&project, &a),
        [2],
        "both rounds land as one commit, once"
    );
    assert_eq!(git(&project.root, &["show", "main:a.txt"]), "a\n");
    assert_eq!(git(&project.root, &["show", "main:b.txt"]), "b\n");
    assert_eq!(project.task_by_step("d")["attempts"], 1);
}

#[test]
fn review_auto_lands_at_once_and_a_roles_review_asks_for_its_tasks_only() {
    // Explicitly auto: nothing waits.
    let (project, plan) = project("[merge]\nreview = \"auto\"\n");
    let output = project.run_enki(&["run", "--plan", plan.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert!(
        !stdout(&output).contains("awaits your review"),
        "{}",
        describe(&output)
    );
    assert!(on_main(&project, "a.txt") && on_main(&project, "d.txt"));

    // A role that asks: only its task waits; the project's default lands d.
    let project = Project::with_sim("");
    std::fs::create_dir_all(project.enki_dir().join("roles")).unwrap();
    std::fs::write(
        project.enki_dir().join("roles/careful.toml"),
        "name = \"careful\"\nreview = \"ask\"\n",
    )
    .unwrap();
    project.writer_script("a", "a.txt", "a\n");
    project.writer_script("d", "d.txt", "d\n");
    let plan = project.plan(
        "[[steps]]\nid = \"a\"\ntitle = \"A\"\nrole = \"careful\"\ndescription = \"[[sim:a]]\"\n\n\
         [[steps]]\nid = \"d\"\ntitle = \"D\"\ndescription = \"[[sim:d]]\"\n",
    );
    let child = project.spawn_enki(&["run", "--plan", plan.to_str().unwrap()]);
    project.wait_until("a awaits review and d landed", || {
        project.status_of("a") == "awaiting_review" && project.status_of("d") == "done"
    });
    assert!(on_main(&project, "d.txt") && !on_main(&project, "a.txt"));
    enki_ok(&project, &["approve", "a"]);
    let output = wait_output(child, Duration::from_secs(60));
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert!(on_main(&project, "a.txt"));
}

#[test]
fn work_awaiting_review_outlives_its_coordinator_and_the_next_start_lands_the_approval() {
    let (project, plan) = project(ASK);
    let child = project.spawn_enki(&["run", "--plan", plan.to_str().unwrap()]);
    project.wait_until("a awaits review", || {
        project.status_of("a") == "awaiting_review"
    });
    // A clean stop: the run ends, the work still awaits review.
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let output = wait_output(child, Duration::from_secs(60));
    assert_ne!(output.status.code(), Some(0), "{}", describe(&output));
    assert_eq!(project.status_of("a"), "awaiting_review");
    let a = project.task_id("a");
    let said = enki_ok(&project, &["approve", &a]);
    assert!(
        said.contains("no coordinator runs in this project"),
        "{said}"
    );
    let child = project.spawn_enki(&["run"]);
    project.wait_until("d awaits review", || {
        project.status_of("d") == "awaiting_review"
    });
    enki_ok(&project, &["approve", "d"]);
    let output = wait_output(child, Duration::from_secs(60));
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert_eq!(landed_rounds(&project, &a), [1]);
}

/// Two parallel steps that write `shared.txt` differently (`right`, at its
/// session's second turn, also `extra.txt`), and a merger that keeps both
/// versions, under review = "ask".
fn conflicting_project() -> (Project, std::path::PathBuf) {
    let project = Project::with_sim(ASK);
    project.writer_script("left", "shared.txt", "left version\n");
    project.script(
        "right",
        r#"[[turn]]
steps = [
  { write = "shared.txt", content = "right version\n" },
  { say = "[OUTPUT]wrote the right version[/OUTPUT]" },
]
[[turn]]
steps = [
  { write = "extra.txt", content = "extra\n" },
  { say = "[OUTPUT]wrote extra.txt as asked[/OUTPUT]" },
]
"#,
    );
    project.merger_keeping_both("");
    let plan = project.conflicting_plan();
    (project, plan)
}

/// Runs the conflicting project until `left` landed and the merger's
/// resolution of `right`'s conflict awaits review; returns the run.
fn resolution_awaiting_review(project: &Project, plan: &std::path::Path) -> std::process::Child {
    let child = project.spawn_enki(&["run", "--plan", plan.to_str().unwrap()]);
    project.wait_until("both await review", || {
        project.status_of("left") == "awaiting_review"
            && project.status_of("right") == "awaiting_review"
    });
    enki_ok(project, &["approve", "left"]);
    project.wait_until("left landed", || project.status_of("left") == "done");
    enki_ok(project, &["approve", "right"]);
    let right = project.task_id("right");
    project.wait_until("the merger's resolution awaits review", || {
        project.status_of("right") == "awaiting_review"
            && !project.events_of(&right, "resolution_held").is_empty()
    });
    child
}

#[test]
fn a_mergers_resolution_waits_for_review_and_lands_exactly_once_when_approved() {
    let (project, plan) = conflicting_project();
    let child = resolution_awaiting_review(&project, &plan);
    let right = project.task_id("right");
    let base_tip = git(&project.root, &["rev-parse", "main"])
        .trim()
        .to_string();
    assert_eq!(
        git(&project.root, &["show", "main:shared.txt"]),
        "left version\n",
        "nothing of the resolution lands before approval"
    );
    // `enki review` shows the resolution against the tip it was made on.
    let text = enki_ok(&project, &["review", "right"]);
    for part in [
        format!(
            "the merger's resolution of the conflict of task {right} (step `right`, \"Right\") awaits your review"
        ),
        format!("as the merger resolved it on {}", &base_tip[..8]),
        "[OUTPUT] worker: wrote the right version".to_string(),
        "[OUTPUT] merger: kept both".to_string(),
        "1 file(s) changed, +1 -0".to_string(),
        "  M  shared.txt  +1 -0".to_string(),
        "+right version".to_string(),
        "next: enki approve right".to_string(),
    ] {
        assert!(text.contains(&part), "missing {part:?} in\n{text}");
    }
    let json: serde_json::Value =
        serde_json::from_str(&enki_ok(&project, &["review", "right", "--json"])).unwrap();
    let held = &json["resolution"];
    assert_eq!(held["base"], base_tip.as_str(), "{json}");
    assert_eq!(held["output"], "kept both", "{json}");
    let status = enki_ok(&project, &["status"]);
    assert!(status.contains("awaiting_review"), "{status}");

    let said = enki_ok(&project, &["approve", "right"]);
    assert!(said.contains("the merger's resolution"), "{said}");
    let output = wait_output(child, Duration::from_secs(60));
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert!(
        stdout(&output).contains("the merger's resolution of its conflict awaits your review"),
        "{}",
        describe(&output)
    );
    // Exactly the reviewed commit landed, once, without a second merger run.
    assert_eq!(
        git(&project.root, &["rev-parse", "main"]).trim(),
        held["commit"].as_str().unwrap()
    );
    assert_eq!(landed_rounds(&project, &right), [1]);
    assert_eq!(project.events_of(&right, "merger_started").len(), 1);
    assert_eq!(
        git(&project.root, &["show", "main:shared.txt"]),
        BOTH_VERSIONS
    );
    assert_eq!(project.status_of("right"), "done");
}

#[test]
fn a_rejected_resolution_lands_nothing_and_keeps_the_branch() {
    let (project, plan) = conflicting_project();
    let child = resolution_awaiting_review(&project, &plan);
    let right = project.task_id("right");
    let said = enki_ok(&project, &["reject", "right", "--note", "keep only left"]);
    assert!(said.contains(&format!("rejected task {right}")), "{said}");
    let output = wait_output(child, Duration::from_secs(60));
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let task = project.task_by_step("right");
    assert_eq!(task["status"], "failed");
    assert_eq!(task["last_error"], "rejected in review: keep only left");
    assert!(landed_rounds(&project, &right).is_empty());
    assert_eq!(
        git(&project.root, &["show", "main:shared.txt"]),
        "left version\n"
    );
    let branch = task["branch"].as_str().unwrap().to_string();
    assert_eq!(
        git(&project.root, &["show", &format!("{branch}:shared.txt")]),
        "right version\n"
    );
    let review = &project.events_of(&right, "review")[1];
    assert_eq!(review["resolution"], true, "{review}");
}

#[test]
fn changes_asked_of_a_resolution_run_the_worker_again_and_come_back_through_the_queue() {
    let (project, plan) = conflicting_project();
    let child = resolution_awaiting_review(&project, &plan);
    let right = project.task_id("right");
    enki_ok(&project, &["followup", "right", "Also write extra.txt"]);
    // The worker's round 2 comes back for review first, then the merger's
    // new resolution of it.
    project.wait_until("right's round 2 awaits review", || {
        let task = project.task_by_step("right");
        task["round"] == 2 && task["status"] == "awaiting_review"
    });
    enki_ok(&project, &["approve", "right"]);
    project.wait_until("the second resolution awaits review", || {
        project.status_of("right") == "awaiting_review"
            && project.events_of(&right, "resolution_held").len() == 2
    });
    let text = enki_ok(&project, &["review", "right"]);
    assert!(text.contains("the merger's resolution"), "{text}");
    assert!(text.contains("  A  extra.txt"), "{text}");
    enki_ok(&project, &["approve", "right"]);
    let output = wait_output(child, Duration::from_secs(60));
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert_eq!(landed_rounds(&project, &right), [2], "landed once, round 2");
    assert_eq!(git(&project.root, &["show", "main:extra.txt"]), "extra\n");
    assert_eq!(
        git(&project.root, &["show", "main:shared.txt"]),
        BOTH_VERSIONS
    );
}
