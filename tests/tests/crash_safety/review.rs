//! Exactly-once landing of reviewed work under `kill -9`
//! (`[merge] review = "ask"`): a coordinator killed while a task awaits
//! review leaves it awaiting review, and one killed at each review crash
//! point (`enki_failpoint::REVIEW_POINTS`: right after it applied an
//! approval, before the merge queue had it) lands the approved work exactly
//! once after a restart, with nothing left behind.

use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use enki_core::landing::landed_round;
use enki_tests::{Project, describe, git, stdout, wait_output};

use super::landing::assert_nothing_left_behind;

/// One step `a` that writes `a.txt`, under review = "ask".
fn reviewed_project() -> (Project, std::path::PathBuf) {
    let project = Project::with_sim("[merge]\nreview = \"ask\"\nverify = \"test -f README.md\"\n");
    project.writer_script("a", "a.txt", "a\n");
    let plan =
        project.plan("[[steps]]\nid = \"a\"\ntitle = \"Write a\"\ndescription = \"[[sim:a]]\"\n");
    (project, plan)
}

fn approve(project: &Project) {
    let output = project.enki(&["approve", "a"]).output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
}

/// The task done, its commit on main exactly once, nothing left behind.
fn assert_landed_once(project: &Project, what: &str) {
    let id = project.task_id("a");
    assert_eq!(project.status_of("a"), "done", "{what}");
    let rounds: Vec<i64> = git(&project.root, &["log", "--format=%B%x00", "main"])
        .split('\0')
        .filter_map(|message| landed_round(message, &id))
        .collect();
    assert_eq!(rounds, [1], "{what}: landed exactly once");
    assert_eq!(git(&project.root, &["show", "main:a.txt"]), "a\n", "{what}");
    assert_nothing_left_behind(project, what);
}

fn killed_at(point: &str) {
    let (project, plan) = reviewed_project();
    let child = project
        .enki(&["run", "--plan", plan.to_str().unwrap()])
        .env("ENKI_FAILPOINTS", point)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    project.wait_until("a awaits review", || {
        project.status_of("a") == "awaiting_review"
    });
    // The running coordinator takes the approval and dies right after.
    approve(&project);
    let output = wait_output(child, Duration::from_secs(60));
    assert_eq!(
        output.status.signal(),
        Some(9),
        "{point}: {}",
        describe(&output)
    );
    assert!(
        String::from_utf8_lossy(&output.stderr).contains(&format!("crash point {point} reached")),
        "{}",
        describe(&output)
    );
    let output = project.run_enki(&["run"]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{point}: {}",
        describe(&output)
    );
    assert!(
        stdout(&output).contains("finished: 1 done"),
        "{}",
        describe(&output)
    );
    assert_landed_once(&project, point);
}

#[test]
fn every_review_crash_point_lands_the_approved_work_once() {
    for point in enki_failpoint::REVIEW_POINTS {
        killed_at(point);
    }
}

#[test]
fn a_coordinator_killed_while_work_awaits_review_leaves_it_awaiting_review() {
    let (project, plan) = reviewed_project();
    let mut child = project.spawn_enki(&["run", "--plan", plan.to_str().unwrap()]);
    project.wait_until("a awaits review", || {
        project.status_of("a") == "awaiting_review"
    });
    child.kill().unwrap();
    let output = wait_output(child, Duration::from_secs(30));
    assert_eq!(output.status.signal(), Some(9), "{}", describe(&output));
    // A restart still shows it awaiting review, and does not land it.
    let restarted = project.spawn_enki(&["run"]);
    project.wait_until("the restart runs", || {
        project.status_of("a") == "awaiting_review"
            && git(&project.root, &["ls-tree", "--name-only", "main"])
                .lines()
                .all(|f| f != "a.txt")
    });
    let status = project.enki(&["status"]).output().unwrap();
    assert!(
        stdout(&status).contains("awaiting_review"),
        "{}",
        describe(&status)
    );
    approve(&project);
    let output = wait_output(restarted, Duration::from_secs(60));
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert_landed_once(&project, "killed while awaiting review");
}
