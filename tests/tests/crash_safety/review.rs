//! Exactly-once landing of reviewed work under `kill -9`
//! (`[merge] review = "ask"`): a coordinator killed while a task awaits
//! review leaves it awaiting review, and one killed at each review crash
//! point (`enki_failpoint::REVIEW_POINTS`: right after it applied an
//! approval, before the merge queue had it) lands the approved work exactly
//! once after a restart, with nothing left behind. The same holds for a
//! merger's resolution awaiting review (`RESOLUTION_REVIEW_POINTS`): killed
//! right after it was held, and again right after its approval, the next
//! start lands exactly the held commit once, without a second merger run.

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
    let child = spawn_dying_at(&project, &["run", "--plan", plan.to_str().unwrap()], point);
    project.wait_until("a awaits review", || {
        project.status_of("a") == "awaiting_review"
    });
    // The running coordinator takes the approval and dies right after.
    approve(&project);
    assert_died_at(child, point);
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

/// Two parallel steps that write `shared.txt` differently and a merger
/// that keeps both versions, under review = "ask".
fn conflicting_project() -> (Project, std::path::PathBuf) {
    let project = Project::with_sim("[merge]\nreview = \"ask\"\nverify = \"test -f README.md\"\n");
    project.conflicting_writers();
    project.merger_keeping_both("");
    let plan = project.conflicting_plan();
    (project, plan)
}

/// Starts `enki args` dying at crash point `point`.
fn spawn_dying_at(project: &Project, args: &[&str], point: &str) -> std::process::Child {
    project
        .enki(args)
        .env("ENKI_FAILPOINTS", point)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

fn assert_died_at(child: std::process::Child, point: &str) {
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
}

fn enki_ok(project: &Project, args: &[&str]) {
    let output = project.enki(args).output().unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{args:?}: {}",
        describe(&output)
    );
}

/// Approves `left`, then `right`'s work, and waits until `left` landed
/// and (unless the coordinator dies first) `right`'s resolution is held.
fn approve_both(project: &Project) {
    project.wait_until("both await review", || {
        project.status_of("left") == "awaiting_review"
            && project.status_of("right") == "awaiting_review"
    });
    enki_ok(project, &["approve", "left"]);
    project.wait_until("left landed", || project.status_of("left") == "done");
    enki_ok(project, &["approve", "right"]);
}

/// The held resolution `commit` landed exactly once, as it was, after one
/// merger run, with nothing left behind.
fn assert_resolution_landed_once(project: &Project, commit: &str, what: &str) {
    let right = project.task_id("right");
    assert_eq!(project.status_of("right"), "done", "{what}");
    assert_eq!(
        git(&project.root, &["rev-parse", "main"]).trim(),
        commit,
        "{what}"
    );
    let rounds: Vec<i64> = git(&project.root, &["log", "--format=%B%x00", "main"])
        .split('\0')
        .filter_map(|message| landed_round(message, &right))
        .collect();
    assert_eq!(rounds, [1], "{what}: landed exactly once");
    assert_eq!(
        project.events_of(&right, "merger_started").len(),
        1,
        "{what}"
    );
    assert_eq!(
        git(&project.root, &["show", "main:shared.txt"]),
        "left version\nright version\n",
        "{what}"
    );
    assert_nothing_left_behind(project, what);
}

fn held_commit(project: &Project) -> String {
    let held = project.events_of(&project.task_id("right"), "resolution_held");
    assert_eq!(held.len(), 1, "{held:?}");
    held[0]["commit"].as_str().unwrap().to_string()
}

#[test]
fn a_coordinator_killed_right_after_holding_a_resolution_keeps_it_for_review() {
    for point in enki_failpoint::RESOLUTION_REVIEW_POINTS {
        let (project, plan) = conflicting_project();
        let child = spawn_dying_at(&project, &["run", "--plan", plan.to_str().unwrap()], point);
        approve_both(&project);
        assert_died_at(child, point);
        assert_eq!(project.status_of("right"), "awaiting_review", "{point}");
        let commit = held_commit(&project);
        // A restart keeps it waiting: nothing lands, the merger does not run again.
        let restarted = project.spawn_enki(&["run"]);
        project.wait_until("the restart holds the project", || {
            let status = project.enki(&["status", "--json"]).output().unwrap();
            serde_json::from_slice::<serde_json::Value>(&status.stdout)
                .is_ok_and(|s| s["coordinator"]["running"] == true)
        });
        assert_eq!(project.status_of("right"), "awaiting_review", "{point}");
        assert_eq!(
            git(&project.root, &["show", "main:shared.txt"]),
            "left version\n"
        );
        enki_ok(&project, &["approve", "right"]);
        let output = wait_output(restarted, Duration::from_secs(60));
        assert_eq!(
            output.status.code(),
            Some(0),
            "{point}: {}",
            describe(&output)
        );
        assert_resolution_landed_once(&project, &commit, point);
    }
}

#[test]
fn a_coordinator_killed_right_after_approving_a_resolution_lands_it_once() {
    let (project, plan) = conflicting_project();
    // The third approval is the resolution's (left's work, right's work, right's resolution).
    let point = "review:approved@3";
    let child = spawn_dying_at(&project, &["run", "--plan", plan.to_str().unwrap()], point);
    approve_both(&project);
    let right = project.task_id("right");
    project.wait_until("the merger's resolution awaits review", || {
        project.status_of("right") == "awaiting_review"
            && !project.events_of(&right, "resolution_held").is_empty()
    });
    let commit = held_commit(&project);
    enki_ok(&project, &["approve", "right"]);
    assert_died_at(child, "review:approved");
    let output = project.run_enki(&["run"]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert!(
        stdout(&output).contains("finished: 2 done"),
        "{}",
        describe(&output)
    );
    assert_resolution_landed_once(&project, &commit, point);
}
