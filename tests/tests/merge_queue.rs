//! The merge queue end to end: conflicts resolved by a `sim` merger, merger
//! failures, the verify hook, the user's uncommitted edits and restarts.

use std::time::Duration;

use enki_tests::{Project, git, wait_output};
use serde_json::Value;

fn describe(output: &std::process::Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn run_plan(project: &Project, plan: &str) -> std::process::Output {
    let plan = project.plan(plan);
    project.run_enki(&["run", "--plan", plan.to_str().unwrap()])
}

fn task_detail(project: &Project, step: &str) -> Value {
    let id = project.task_by_step(step)["id"]
        .as_str()
        .unwrap()
        .to_string();
    let output = project.enki(&["task", &id, "--json"]).output().unwrap();
    serde_json::from_slice(&output.stdout).unwrap()
}

fn event_kinds(detail: &Value) -> Vec<String> {
    detail["events"]
        .as_array()
        .map(|events| {
            events
                .iter()
                .filter_map(|e| e["kind"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Two parallel steps that write the same new file differently.
const CONFLICTING_PLAN: &str = r#"[[steps]]
id = "left"
title = "Left"
description = "[[sim:left]]"
[[steps]]
id = "right"
title = "Right"
description = "[[sim:right]]"
"#;

fn conflicting_writers(project: &Project) {
    project.writer_script("left", "shared.txt", "left version\n");
    project.writer_script("right", "shared.txt", "right version\n");
}

#[test]
fn a_textual_conflict_is_resolved_by_the_merger_agent() {
    let project = Project::with_sim("");
    conflicting_writers(&project);
    project.script(
        "merger",
        "[[turn]]\nsteps = [\n  { say = \"Keeping both versions.\" },\n  { write = \"shared.txt\", content = \"left version\\nright version\\n\" },\n  { say = \"[OUTPUT]kept both[/OUTPUT]\" },\n]\n",
    );
    let output = run_plan(&project, CONFLICTING_PLAN);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert_eq!(
        std::fs::read_to_string(project.root.join("shared.txt")).unwrap(),
        "left version\nright version\n"
    );
    let resolved: Vec<Value> = ["left", "right"]
        .iter()
        .map(|s| task_detail(&project, s))
        .collect();
    let conflicted = resolved
        .iter()
        .find(|d| event_kinds(d).contains(&"merge_conflict".to_string()))
        .expect("one of the two went through the merger");
    assert!(event_kinds(conflicted).contains(&"merge_resolved".to_string()));
    assert_eq!(conflicted["merge_requests"][0]["status"], "merged");
    assert!(
        git(&project.root, &["status", "--porcelain"])
            .trim()
            .is_empty()
    );
    // Scratch merge worktrees are gone after landing.
    assert!(git(&project.root, &["worktree", "list"]).lines().count() == 1);
}

#[test]
fn a_failing_merger_leaves_the_request_conflicted_with_the_branch_kept() {
    let project = Project::with_sim("");
    conflicting_writers(&project);
    project.script(
        "merger",
        "[[turn]]\nsteps = [ { fail = \"cannot decide\" } ]\n",
    );
    let output = run_plan(&project, CONFLICTING_PLAN);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let failed = ["left", "right"]
        .iter()
        .map(|s| task_detail(&project, s))
        .find(|d| d["task"]["status"] == "failed")
        .expect("the conflicting task failed");
    let request = &failed["merge_requests"][0];
    assert_eq!(request["status"], "conflicted");
    assert!(
        request["reason"]
            .as_str()
            .unwrap()
            .contains("cannot decide"),
        "{request}"
    );
    let branch = request["branch"].as_str().unwrap();
    assert!(
        !git(&project.root, &["branch", "--list", branch])
            .trim()
            .is_empty(),
        "the branch is kept"
    );
    // The other side landed untouched.
    let content = std::fs::read_to_string(project.root.join("shared.txt")).unwrap();
    assert!(
        content == "left version\n" || content == "right version\n",
        "{content}"
    );
}

#[test]
fn a_merger_that_leaves_conflict_markers_does_not_land() {
    let project = Project::with_sim("");
    conflicting_writers(&project);
    project.script(
        "merger",
        "[[turn]]\nsteps = [ { say = \"I looked at it.\" } ]\n",
    );
    let output = run_plan(&project, CONFLICTING_PLAN);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let failed = ["left", "right"]
        .iter()
        .map(|s| task_detail(&project, s))
        .find(|d| d["task"]["status"] == "failed")
        .unwrap();
    let reason = failed["merge_requests"][0]["reason"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        reason.contains("conflict markers in: shared.txt"),
        "{reason}"
    );
    let content = std::fs::read_to_string(project.root.join("shared.txt")).unwrap();
    assert!(
        !content.contains("<<<<<<<"),
        "markers never reach the project: {content}"
    );
}

#[test]
fn the_verify_hook_blocks_a_bad_merge_and_lets_a_good_one_through() {
    let project = Project::with_sim("[merge]\nverify = \"test ! -f bad.txt\"\n");
    project.writer_script("good", "good.txt", "fine\n");
    project.writer_script("bad", "bad.txt", "breaks the build\n");
    let output = run_plan(
        &project,
        "[[steps]]\nid = \"good\"\ntitle = \"Good\"\ndescription = \"[[sim:good]]\"\n[[steps]]\nid = \"bad\"\ntitle = \"Bad\"\ndescription = \"[[sim:bad]]\"\n",
    );
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert!(project.root.join("good.txt").exists());
    assert!(!project.root.join("bad.txt").exists());
    let bad = task_detail(&project, "bad");
    assert_eq!(bad["task"]["status"], "failed");
    let reason = bad["merge_requests"][0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("verify hook") && reason.contains("log:"),
        "{reason}"
    );
    assert!(project.enki_dir().join("logs/verify").is_dir());
}

#[test]
fn a_verify_hook_that_hangs_times_out_and_fails_the_merge() {
    let project = Project::with_sim("[merge]\nverify = \"sleep 30\"\nverify_timeout_secs = 1\n");
    project.writer_script("w", "w.txt", "w\n");
    let output = run_plan(
        &project,
        "[[steps]]\nid = \"w\"\ntitle = \"W\"\ndescription = \"[[sim:w]]\"\n",
    );
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let detail = task_detail(&project, "w");
    let reason = detail["merge_requests"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("did not finish within 1 s"), "{reason}");
    assert!(!project.root.join("w.txt").exists());
}

#[test]
fn uncommitted_user_edits_survive_and_block_only_what_they_touch() {
    let project = Project::with_sim("");
    std::fs::write(project.root.join("notes.txt"), "committed\n").unwrap();
    git(&project.root, &["add", "notes.txt"]);
    git(&project.root, &["commit", "-q", "-m", "notes"]);
    // The user edits README.md (untouched by the task): the merge lands.
    std::fs::write(project.root.join("README.md"), "# my unsaved edit\n").unwrap();
    project.writer_script("w", "w.txt", "w\n");
    let output = run_plan(
        &project,
        "[[steps]]\nid = \"w\"\ntitle = \"W\"\ndescription = \"[[sim:w]]\"\n",
    );
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert_eq!(
        std::fs::read_to_string(project.root.join("README.md")).unwrap(),
        "# my unsaved edit\n"
    );
    assert!(project.root.join("w.txt").exists());

    // Now the task edits notes.txt, which the user is also editing: the
    // merge waits, and lands once the user's edit is gone.
    std::fs::write(project.root.join("notes.txt"), "the user's unsaved notes\n").unwrap();
    project.writer_script("n", "notes.txt", "from the task\n");
    let plan = project.plan("[[steps]]\nid = \"n\"\ntitle = \"N\"\ndescription = \"[[sim:n]]\"\n");
    let child = project.spawn_enki(&["run", "--plan", plan.to_str().unwrap()]);
    project.wait_until("the merge to wait for the user", || {
        project
            .tasks_json()
            .iter()
            .any(|t| t["step_id"] == "n" && t["status"] == "worker_done")
            && task_detail(&project, "n")["merge_requests"][0]["reason"]
                .as_str()
                .is_some_and(|r| r.contains("uncommitted changes"))
    });
    assert_eq!(
        std::fs::read_to_string(project.root.join("notes.txt")).unwrap(),
        "the user's unsaved notes\n",
        "never overwritten"
    );
    git(&project.root, &["checkout", "--", "notes.txt"]);
    let output = wait_output(child, Duration::from_secs(60));
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert_eq!(
        std::fs::read_to_string(project.root.join("notes.txt")).unwrap(),
        "from the task\n"
    );
}

#[test]
fn a_coordinator_killed_during_a_merge_resumes_it_exactly_once() {
    let project = Project::with_sim(
        "[merge]\nverify = \"while [ ! -f \\\"$ENKI_DIR/verify-go\\\" ]; do sleep 0.02; done\"\n",
    );
    project.writer_script("w", "w.txt", "w\n");
    let plan = project.plan("[[steps]]\nid = \"w\"\ntitle = \"W\"\ndescription = \"[[sim:w]]\"\n");
    let mut child = project.spawn_enki(&["run", "--plan", plan.to_str().unwrap()]);
    project.wait_until("the merge to be verifying", || {
        project.tasks_json().iter().any(|t| t["step_id"] == "w")
            && task_detail(&project, "w")["merge_requests"][0]["status"] == "verifying"
    });
    child.kill().unwrap();
    child.wait().unwrap();
    std::fs::write(project.enki_dir().join("verify-go"), "").unwrap();
    let output = project.run_enki(&["run"]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let subjects = project.commit_subjects("main");
    assert_eq!(
        subjects
            .iter()
            .filter(|s| s.starts_with("W (task-"))
            .count(),
        1,
        "{subjects:?}"
    );
    let detail = task_detail(&project, "w");
    assert_eq!(detail["task"]["status"], "done");
    assert_eq!(detail["merge_requests"].as_array().unwrap().len(), 1);
    assert_eq!(detail["merge_requests"][0]["status"], "merged");
}
