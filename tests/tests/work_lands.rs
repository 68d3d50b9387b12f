//! A worker's commits land wherever in its copy it made them (a branch of
//! its own, a detached HEAD), or its task fails naming where they are; no
//! branch of a worker is left in the user's repository. The OS sandbox makes
//! an agent's own git writes fail, so these workers run without it.
// An integration test: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use enki_tests::{Project, describe, event_kinds, git};

const UNSANDBOXED: &str = "[sandbox]\nmode = \"off\"\n[workers]\nretries = 0\n";

/// A sim worker that runs `git` (as an agent would) then says it is done.
fn git_worker(project: &Project, name: &str, commands: &str) {
    project.script(
        name,
        &format!(
            "[[turn]]\nsteps = [\n  {{ run = {commands:?}, expect_status = 0 }},\n  {{ say = \"[OUTPUT]committed[/OUTPUT]\" }},\n]\n"
        ),
    );
}

/// Commits `file` as the worker, with an identity of its own.
fn commit(file: &str) -> String {
    format!(
        "echo {file} > {file} && git add {file} && git -c user.name=w -c user.email=w@w commit -q -m {file}"
    )
}

fn run_one_step(project: &Project, script: &str) -> std::process::Output {
    let plan = project.plan(&format!(
        "[[steps]]\nid = \"w\"\ntitle = \"W\"\ndescription = \"[[sim:{script}]]\"\n"
    ));
    project.run_enki(&["run", "--plan", plan.to_str().unwrap()])
}

fn branches(project: &Project) -> Vec<String> {
    git(
        &project.root,
        &["for-each-ref", "--format=%(refname:short)", "refs/heads/"],
    )
    .lines()
    .map(str::to_string)
    .collect()
}

#[test]
fn commits_on_a_branch_the_worker_made_land_and_the_branch_is_gone() {
    let project = Project::with_sim(UNSANDBOXED);
    git_worker(
        &project,
        "brancher",
        &format!(
            "git checkout -q -b feature && {} && echo loose > loose.txt",
            commit("f.txt")
        ),
    );
    let output = run_one_step(&project, "brancher");
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert!(project.root.join("f.txt").exists(), "{}", describe(&output));
    assert!(
        project.root.join("loose.txt").exists(),
        "{}",
        describe(&output)
    );
    assert_eq!(branches(&project), ["main"], "{}", describe(&output));
    let detail = project.step_detail("w");
    assert!(
        event_kinds(&detail).contains(&"work_gathered".to_string()),
        "{detail}"
    );
}

#[test]
fn commits_on_a_detached_head_land() {
    let project = Project::with_sim(UNSANDBOXED);
    git_worker(
        &project,
        "detacher",
        &format!("git checkout -q --detach && {}", commit("d.txt")),
    );
    let output = run_one_step(&project, "detacher");
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert!(project.root.join("d.txt").exists(), "{}", describe(&output));
    assert_eq!(branches(&project), ["main"], "{}", describe(&output));
}

#[test]
fn commits_left_on_another_branch_fail_the_task_naming_the_branch() {
    let project = Project::with_sim(UNSANDBOXED);
    git_worker(
        &project,
        "wanderer",
        &format!(
            "git checkout -q -b side && {} && git checkout -q -",
            commit("s.txt")
        ),
    );
    let output = run_one_step(&project, "wanderer");
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert_eq!(project.status_of("w"), "failed");
    assert!(!project.root.join("s.txt").exists());
    let detail = project.step_detail("w");
    let error = detail["attempt_history"][0]["error"]
        .as_str()
        .unwrap_or_default();
    assert!(
        error.contains("'side'") && error.contains("nothing landed"),
        "{detail}"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("1 task(s) failed"), "{}", describe(&output));
}
