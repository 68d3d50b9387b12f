//! Requests waiting together in the merge queue land in one move of the
//! base branch, each as its own commit with its own trailer; killed at each
//! crash point of that move and restarted, the coordinator leaves every
//! task's work on the base exactly once.

use std::time::Duration;

use enki_tests::{Project, describe, git, wait_output};

use super::landing::{
    assert_done_and_landed_once, assert_nothing_left_behind, died_at_crash_point, restart,
    spawn_with_failpoints,
};

const PLAN: &str = r#"title = "Together"
[[steps]]
id = "x"
title = "Write x"
description = "[[sim:x]]"
[[steps]]
id = "y"
title = "Write y"
description = "[[sim:y]]"
[[steps]]
id = "z"
title = "Write z"
description = "[[sim:z]]"
"#;

const STEPS: [&str; 3] = ["x", "y", "z"];

fn grouped_project() -> Project {
    let project = Project::with_sim("");
    for step in STEPS {
        project.writer_script(step, &format!("{step}.txt"), &format!("{step}\n"));
    }
    project
}

/// Runs the plan with `ENKI_FAILPOINTS=spec` while a merge seems to be in
/// progress in the project (the queue waits for it), and ends that merge
/// once all three requests are queued, so that they land together. True
/// when enki died at `spec`; otherwise it must have finished with 0.
fn run_grouped(project: &Project, spec: &str) -> bool {
    let (child, marker) = start_held(project, spec);
    std::fs::remove_file(&marker).unwrap();
    died_at_crash_point(child)
}

/// Starts the plan while a merge seems to be in progress in the project
/// (`.git/MERGE_HEAD`, returned: removing it lets the queue go on) and
/// returns once all three requests wait in the queue.
fn start_held(project: &Project, spec: &str) -> (std::process::Child, std::path::PathBuf) {
    let marker = project.root.join(".git/MERGE_HEAD");
    std::fs::write(&marker, git(&project.root, &["rev-parse", "HEAD"])).unwrap();
    let plan = project.plan(PLAN);
    let child = spawn_with_failpoints(project, &["run", "--plan", plan.to_str().unwrap()], spec);
    project.wait_until("the three requests to wait together", || {
        project.tasks_json().len() == STEPS.len()
            && STEPS
                .iter()
                .all(|step| project.step_detail(step)["merge_requests"][0]["status"] == "queued")
    });
    (child, marker)
}

/// Every task done and its work on `main` exactly once, in the checkout
/// too, nothing left behind.
fn assert_landed_exactly_once(project: &Project, what: &str) {
    assert_done_and_landed_once(project, &STEPS, what);
    for step in STEPS {
        let file = format!("{step}.txt");
        assert_eq!(
            git(&project.root, &["show", &format!("main:{file}")]),
            format!("{step}\n")
        );
        assert!(
            project.root.join(&file).is_file(),
            "{what}: {file} checked out"
        );
    }
    assert_nothing_left_behind(project, what);
}

#[test]
fn requests_waiting_together_land_in_one_move_each_as_its_own_commit() {
    let project = grouped_project();
    assert!(!run_grouped(&project, ""));
    assert_landed_exactly_once(&project, "no crash");
    // One move of `main` for the three: its reflog has one landing.
    let moves = git(&project.root, &["reflog", "--format=%gs", "main"]);
    let landings = moves.lines().filter(|m| *m == "enki: land task").count();
    assert_eq!(landings, 1, "{moves}");
    assert_eq!(project.commit_subjects("main").len(), 1 + STEPS.len());
}

#[test]
fn a_task_cancelled_while_its_request_waits_with_others_does_not_land() {
    let project = grouped_project();
    let (child, marker) = start_held(&project, "");
    project.cancel_step("y");
    std::fs::remove_file(&marker).unwrap();
    let output = wait_output(child, Duration::from_secs(120));
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));

    for step in ["x", "z"] {
        assert_eq!(project.status_of(step), "done");
        assert_eq!(
            git(&project.root, &["show", &format!("main:{step}.txt")]),
            format!("{step}\n")
        );
    }
    let detail = project.step_detail("y");
    assert_eq!(detail["task"]["status"], "cancelled");
    assert_eq!(detail["merge_requests"][0]["status"], "failed", "{detail}");
    assert!(
        !project.root.join("y.txt").exists(),
        "y's work did not land"
    );
    assert_eq!(project.commit_subjects("main").len(), 3, "x and z only");
}

macro_rules! crash_in_the_group_at {
    ($($test:ident => $point:literal,)+) => {
        $(
            #[test]
            fn $test() {
                let project = grouped_project();
                assert!(run_grouped(&project, $point), "enki never reached {}", $point);
                restart(&project, STEPS.len(), $point);
                assert_landed_exactly_once(&project, $point);
            }
        )+
    };
}

crash_in_the_group_at! {
    a_group_killed_once_its_intents_are_recorded_lands_once => "land:intent_recorded",
    a_group_killed_once_the_checkout_moved_lands_once => "land:checkout_moved",
    a_group_killed_once_the_base_moved_lands_once => "land:ref_moved",
    a_group_killed_once_its_landing_is_recorded_lands_once => "land:merged_recorded",
}
