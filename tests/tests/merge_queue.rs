//! The merge queue end to end: conflicts resolved by a `sim` merger, merger
//! failures, the verify hook, the user's uncommitted edits and restarts.
// An integration test: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use enki_tests::{
    BOTH_VERSIONS, CONFLICTING_PLAN, Project, describe, event_kinds, git, wait_output,
};
use serde_json::Value;

fn run_plan(project: &Project, plan: &str) -> std::process::Output {
    let plan = project.plan(plan);
    project.run_enki(&["run", "--plan", plan.to_str().unwrap()])
}

/// The merger's entries of a task's log (`enki logs --json`), each as its
/// kind and its main text (a message's text, a permission's title, an
/// ending's outcome).
fn merger_log(project: &Project, task: &str) -> Vec<String> {
    let output = project.enki(&["logs", task, "--json"]).output().unwrap();
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .filter(|e| e["kind"].as_str().unwrap().starts_with("merger_"))
        .map(|e| {
            let data = &e["data"];
            let text = ["text", "title", "outcome"]
                .iter()
                .find_map(|k| data[k].as_str())
                .map(|t| format!(" {t}"))
                .unwrap_or_default();
            format!("{}{text}", e["kind"].as_str().unwrap())
        })
        .collect()
}

#[test]
fn a_textual_conflict_is_resolved_by_the_merger_agent() {
    let project = Project::with_sim("");
    project.conflicting_writers();
    project.merger_keeping_both(
        "{ say = \"Keeping both versions.\" },\n  { permission = \"Edit shared.txt\", kind = \"edit\", path = \"shared.txt\" },\n  ",
    );
    let output = run_plan(&project, CONFLICTING_PLAN);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert_eq!(
        std::fs::read_to_string(project.root.join("shared.txt")).unwrap(),
        BOTH_VERSIONS
    );
    let resolved: Vec<Value> = ["left", "right"]
        .iter()
        .map(|s| project.step_detail(s))
        .collect();
    let conflicted = resolved
        .iter()
        .find(|d| event_kinds(d).contains(&"merge_conflict".to_string()))
        .expect("one of the two went through the merger");
    assert!(event_kinds(conflicted).contains(&"merge_resolved".to_string()));
    assert_eq!(conflicted["merge_requests"][0]["status"], "merged");
    // The merger's run is recorded like a worker's attempt.
    let run = &conflicted["merger_runs"][0];
    assert_eq!(run["number"], 1, "{run}");
    assert_eq!(run["outcome"], "resolved", "{run}");
    assert_eq!(run["output"], "kept both", "{run}");
    assert_eq!(run["files"], serde_json::json!(["shared.txt"]), "{run}");
    assert_eq!(
        run["merge_request_id"],
        conflicted["merge_requests"][0]["id"]
    );
    let task = conflicted["task"]["id"].as_str().unwrap();
    let log = merger_log(&project, task);
    assert_eq!(log[0], "merger_started", "{log:?}");
    assert!(
        log.contains(&"merger_permission Edit shared.txt".to_string()),
        "{log:?}"
    );
    // Its two messages (a permission between them) are two entries.
    let messages: Vec<&String> = log
        .iter()
        .filter(|l| l.starts_with("merger_message "))
        .collect();
    assert_eq!(
        messages,
        [
            "merger_message Keeping both versions.",
            "merger_message [OUTPUT]kept both[/OUTPUT]"
        ],
        "{log:?}"
    );
    assert_eq!(log.last().unwrap(), "merger_ended resolved", "{log:?}");
    let shown = project.enki(&["task", task]).output().unwrap();
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert!(shown.contains("merger runs:\n    #1  "), "{shown}");
    assert!(
        shown.contains("resolved  (shared.txt)\n      kept both"),
        "{shown}"
    );
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
    project.conflicting_writers();
    project.script(
        "merger",
        "[[turn]]\nsteps = [ { fail = \"cannot decide\" } ]\n",
    );
    let output = run_plan(&project, CONFLICTING_PLAN);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let failed = ["left", "right"]
        .iter()
        .map(|s| project.step_detail(s))
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
    let run = &failed["merger_runs"][0];
    assert_eq!(run["outcome"], "failed", "{run}");
    assert!(
        run["error"].as_str().unwrap().contains("cannot decide"),
        "{run}"
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
    project.conflicting_writers();
    project.script(
        "merger",
        "[[turn]]\nsteps = [ { say = \"I looked at it.\" } ]\n",
    );
    let output = run_plan(&project, CONFLICTING_PLAN);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let failed = ["left", "right"]
        .iter()
        .map(|s| project.step_detail(s))
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
    // What the merger said is kept with its failed run.
    let run = &failed["merger_runs"][0];
    assert_eq!(run["outcome"], "failed", "{run}");
    let log = merger_log(&project, failed["task"]["id"].as_str().unwrap());
    assert!(
        log.contains(&"merger_message I looked at it.".to_string()),
        "{log:?}"
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
    let bad = project.step_detail("bad");
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
    let detail = project.step_detail("w");
    let reason = detail["merge_requests"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("did not finish within 1 s"), "{reason}");
    assert!(!project.root.join("w.txt").exists());
}

#[test]
fn uncommitted_user_edits_survive_and_block_only_what_they_touch() {
    let project = Project::with_sim("");
    project.commit_file("notes.txt", "committed\n", "notes");
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
            && project.step_detail("n")["merge_requests"][0]["reason"]
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
            && project.step_detail("w")["merge_requests"][0]["status"] == "verifying"
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
    let detail = project.step_detail("w");
    assert_eq!(detail["task"]["status"], "done");
    assert_eq!(detail["merge_requests"].as_array().unwrap().len(), 1);
    assert_eq!(detail["merge_requests"][0]["status"], "merged");
}

fn one_writer(project: &Project, step: &str, file: &str) -> std::process::Output {
    project.writer_script(step, file, &format!("{step}\n"));
    run_plan(
        project,
        &format!(
            "[[steps]]\nid = \"{step}\"\ntitle = \"{}\"\ndescription = \"[[sim:{step}]]\"\n",
            step.to_uppercase()
        ),
    )
}

fn worktree_count(project: &Project) -> usize {
    git(&project.root, &["worktree", "list"]).lines().count()
}

fn user_commit(project: &Project, file: &str) -> String {
    project.commit_file(file, "the user's work\n", "the user's commit");
    git(&project.root, &["rev-parse", "HEAD"])
        .trim()
        .to_string()
}

fn is_ancestor(project: &Project, commit: &str, of: &str) -> bool {
    std::process::Command::new("git")
        .arg("-C")
        .arg(&project.root)
        .args(["merge-base", "--is-ancestor", commit, of])
        .status()
        .unwrap()
        .success()
}

/// Agents run without the OS sandbox (which refuses their git writes).
const UNSANDBOXED: &str = "[sandbox]\nmode = \"off\"\n";

fn lines_in(path: &std::path::Path) -> usize {
    std::fs::read_to_string(path)
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

#[test]
fn a_merger_that_detaches_head_to_an_older_commit_cannot_drop_the_users_commit() {
    // The sandbox makes a merger's own git writes fail; without it enki
    // still keeps what they may do from the base branch.
    let project = Project::with_sim(UNSANDBOXED);
    let users = user_commit(&project, "user.txt");
    project.conflicting_writers();
    // The merge worktree starts at the base tip: initial, the user's commit,
    // the first side's landing. HEAD~2 is before the user's commit.
    project.script(
        "merger",
        "[[turn]]\nsteps = [\n  { run = \"git checkout -q -f --detach HEAD~2\" },\n  { write = \"shared.txt\", content = \"left version\\nright version\\n\" },\n  { say = \"[OUTPUT]done[/OUTPUT]\" },\n]\n",
    );
    let output = run_plan(&project, CONFLICTING_PLAN);
    assert!(
        is_ancestor(&project, &users, "main"),
        "the user's commit is still on main\n{}",
        describe(&output)
    );
    assert_eq!(
        std::fs::read_to_string(project.root.join("user.txt")).unwrap(),
        "the user's work\n"
    );
    let content = std::fs::read_to_string(project.root.join("shared.txt")).unwrap();
    let conflicted = ["left", "right"]
        .iter()
        .map(|s| project.step_detail(s))
        .find(|d| event_kinds(d).contains(&"merge_conflict".to_string()))
        .expect("one side went through the merger");
    let request = &conflicted["merge_requests"][0];
    if request["status"] == "merged" {
        assert_eq!(content, "left version\nright version\n");
    } else {
        assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
        assert_eq!(request["status"], "conflicted", "{request}");
        let reason = request["reason"].as_str().unwrap();
        assert!(
            reason.contains("moved the merge worktree's HEAD"),
            "{reason}"
        );
        assert!(
            content == "left version\n" || content == "right version\n",
            "{content}"
        );
    }
    assert!(
        git(&project.root, &["status", "--porcelain"])
            .trim()
            .is_empty()
    );
}

#[test]
fn a_merger_that_commits_itself_lands_one_squash_commit() {
    // The sandbox makes a merger's own git writes fail; without it enki
    // still keeps what they may do from the base branch.
    let project = Project::with_sim(UNSANDBOXED);
    project.conflicting_writers();
    project.script(
        "merger",
        "[[turn]]\nsteps = [\n  { write = \"shared.txt\", content = \"left version\\nright version\\n\" },\n  { run = \"git add -A && git -c user.name=m -c user.email=m@m commit -q -m 'the merger commits'\", expect_status = 0 },\n  { say = \"[OUTPUT]kept both[/OUTPUT]\" },\n]\n",
    );
    let output = run_plan(&project, CONFLICTING_PLAN);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert_eq!(
        std::fs::read_to_string(project.root.join("shared.txt")).unwrap(),
        BOTH_VERSIONS
    );
    let subjects = project.commit_subjects("main");
    assert_eq!(
        subjects.len(),
        3,
        "initial + one commit per task: {subjects:?}"
    );
    assert!(
        !subjects.iter().any(|s| s.contains("the merger commits")),
        "{subjects:?}"
    );
    assert_eq!(worktree_count(&project), 1);
}

#[test]
fn retry_after_a_failed_verify_lands_the_work() {
    let project = Project::with_sim("[merge]\nverify = \"test -f \\\"$ENKI_DIR/allow\\\"\"\n");
    let output = one_writer(&project, "w", "w.txt");
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert!(!project.root.join("w.txt").exists());
    let id = project.task_id("w");
    assert_eq!(
        project.step_detail("w")["merge_requests"][0]["status"],
        "failed"
    );

    std::fs::write(project.enki_dir().join("allow"), "").unwrap();
    let retry = project.enki(&["retry", &id]).output().unwrap();
    assert!(retry.status.success(), "{}", describe(&retry));
    let output = project.run_enki(&["run"]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert_eq!(
        std::fs::read_to_string(project.root.join("w.txt")).unwrap(),
        "w\n"
    );
    let detail = project.step_detail("w");
    assert_eq!(detail["task"]["status"], "done");
    let requests = detail["merge_requests"].as_array().unwrap();
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert_eq!(requests[1]["status"], "merged");
    assert!(requests[1]["merged_commit"].is_string(), "{requests:?}");
    assert_eq!(
        worktree_count(&project),
        1,
        "no copy or merge worktree is left"
    );
    assert!(
        git(&project.root, &["branch", "--list", "enki/*"])
            .trim()
            .is_empty()
    );
}

#[test]
fn retry_after_a_conflicted_merge_keeps_the_work_and_leaves_no_stale_worktree() {
    let project = Project::with_sim("");
    project.conflicting_writers();
    project.script(
        "merger",
        "[[turn]]\nsteps = [ { fail = \"cannot decide\" } ]\n",
    );
    let output = run_plan(&project, CONFLICTING_PLAN);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let failed = ["left", "right"]
        .iter()
        .map(|s| project.step_detail(s))
        .find(|d| d["task"]["status"] == "failed")
        .expect("the conflicting task failed");
    assert!(worktree_count(&project) > 1, "the conflicted merge is kept");
    let id = failed["task"]["id"].as_str().unwrap().to_string();
    let retry = project.enki(&["retry", &id]).output().unwrap();
    assert!(retry.status.success(), "{}", describe(&retry));
    // The next merger resolves it.
    project.script(
        "merger",
        "[[turn]]\nsteps = [\n  { write = \"shared.txt\", content = \"left version\\nright version\\n\" },\n  { say = \"[OUTPUT]kept both[/OUTPUT]\" },\n]\n",
    );
    let output = project.run_enki(&["run"]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert_eq!(
        std::fs::read_to_string(project.root.join("shared.txt")).unwrap(),
        BOTH_VERSIONS
    );
    let detail = project.step_detail(failed["task"]["step_id"].as_str().unwrap());
    assert_eq!(detail["task"]["status"], "done");
    assert_eq!(
        worktree_count(&project),
        1,
        "{}",
        git(&project.root, &["worktree", "list"])
    );
}

#[test]
fn a_verify_hook_writing_200_kb_to_stderr_passes() {
    let project = Project::with_sim(
        "[merge]\nverify = \"head -c 200000 /dev/zero | tr '\\\\0' x >&2; echo; echo done-on-stdout\"\nverify_timeout_secs = 60\n",
    );
    let output = one_writer(&project, "w", "w.txt");
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert!(project.root.join("w.txt").exists());
    let logs = project.enki_dir().join("logs/verify");
    let log = std::fs::read_dir(&logs)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let text = std::fs::read_to_string(log).unwrap();
    assert!(text.len() > 200_000 && text.contains("done-on-stdout"));
}

#[test]
fn a_hung_verify_hooks_output_is_kept_and_its_process_group_killed() {
    let project = Project::with_sim(
        "[merge]\nverify = \"echo partial-output-before-hanging; sh -c 'read -r p r < /proc/self/stat; echo $p > \\\"$ENKI_DIR/hook-child\\\"; exec sleep 30' & wait\"\nverify_timeout_secs = 2\n",
    );
    let output = one_writer(&project, "w", "w.txt");
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let detail = project.step_detail("w");
    let reason = detail["merge_requests"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("did not finish within 2 s"), "{reason}");
    assert!(reason.contains("partial-output-before-hanging"), "{reason}");
    let id = detail["merge_requests"][0]["id"].as_str().unwrap();
    let log =
        std::fs::read_to_string(project.enki_dir().join(format!("logs/verify/{id}.log"))).unwrap();
    assert!(log.contains("partial-output-before-hanging"), "{log}");
    // The hook's background child went with it (gone, or a zombie not yet
    // reaped). It wrote its pid as the host's `/proc` names it: `$!` would
    // count inside the hook's PID namespace.
    let pid = std::fs::read_to_string(project.enki_dir().join("hook-child")).unwrap();
    let status = std::path::Path::new("/proc")
        .join(pid.trim())
        .join("status");
    project.wait_until("the hook's child to die", || {
        std::fs::read_to_string(&status)
            .map(|s| s.contains("State:\tZ"))
            .unwrap_or(true)
    });
}

#[test]
fn waiting_on_uncommitted_user_edits_runs_the_verify_hook_once() {
    let project =
        Project::with_sim("[merge]\nverify = \"echo run >> \\\"$ENKI_DIR/verify-runs\\\"\"\n");
    project.commit_file("notes.txt", "committed\n", "notes");
    std::fs::write(project.root.join("notes.txt"), "the user's unsaved notes\n").unwrap();
    project.writer_script("n", "notes.txt", "from the task\n");
    let plan = project.plan("[[steps]]\nid = \"n\"\ntitle = \"N\"\ndescription = \"[[sim:n]]\"\n");
    let child = project.spawn_enki(&["run", "--plan", plan.to_str().unwrap()]);
    let runs = project.enki_dir().join("verify-runs");
    let mut waiting = Value::Null;
    project.wait_until("the merge to wait for the user", || {
        if !project.tasks_json().iter().any(|t| t["step_id"] == "n") {
            return false;
        }
        waiting = project.step_detail("n")["merge_requests"][0].clone();
        waiting["reason"]
            .as_str()
            .is_some_and(|r| r.contains("uncommitted changes"))
    });
    assert_eq!(waiting["status"], "queued", "{waiting}");
    assert_eq!(
        lines_in(&runs),
        0,
        "nothing is verified while the landing must wait"
    );
    git(&project.root, &["checkout", "--", "notes.txt"]);
    let output = wait_output(child, Duration::from_secs(60));
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert_eq!(
        std::fs::read_to_string(project.root.join("notes.txt")).unwrap(),
        "from the task\n"
    );
    assert_eq!(lines_in(&runs), 1);
}

#[test]
fn a_base_that_moves_during_the_verify_hook_is_recomputed_and_said() {
    // The hook commits on main the first time it runs (an empty commit: the
    // recomputed tree is the same, so it is not verified again).
    let project = Project::with_sim(
        "[merge]\nverify = \"echo run >> \\\"$ENKI_DIR/verify-runs\\\"; if [ ! -f \\\"$ENKI_DIR/moved\\\" ]; then touch \\\"$ENKI_DIR/moved\\\"; git -C \\\"$ENKI_PROJECT\\\" -c user.name=u -c user.email=u@u commit -q --allow-empty -m 'the user moved main'; fi\"\n",
    );
    let output = one_writer(&project, "w", "w.txt");
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let subjects = project.commit_subjects("main");
    assert_eq!(subjects.len(), 3, "{subjects:?}");
    assert_eq!(subjects[1], "the user moved main");
    assert!(subjects[2].starts_with("W (task-"), "{subjects:?}");
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        printed.contains("the base branch 'main' moved from"),
        "{printed}"
    );
    assert!(event_kinds(&project.step_detail("w")).contains(&"merge_base_moved".to_string()));
    assert_eq!(lines_in(&project.enki_dir().join("verify-runs")), 1);
}

#[test]
fn landing_while_another_branch_is_checked_out_is_noted_once() {
    let project = Project::with_sim("[git]\nbase_branch = \"main\"\n");
    git(&project.root, &["checkout", "-q", "-b", "feature"]);
    project.writer_script("a", "a.txt", "a\n");
    project.writer_script("b", "b.txt", "b\n");
    let output = run_plan(
        &project,
        "[[steps]]\nid = \"a\"\ntitle = \"A\"\ndescription = \"[[sim:a]]\"\n[[steps]]\nid = \"b\"\ntitle = \"B\"\ndescription = \"[[sim:b]]\"\n",
    );
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        printed.matches("while 'feature' is checked out").count(),
        1,
        "{printed}"
    );
    assert!(
        !project.root.join("a.txt").exists(),
        "the feature checkout is untouched"
    );
    assert_eq!(git(&project.root, &["show", "main:b.txt"]), "b\n");
}

#[test]
fn the_enki_verify_sh_fallback_runs() {
    let project = Project::with_sim("");
    std::fs::write(
        project.enki_dir().join("verify.sh"),
        "echo ran > \"$ENKI_DIR/verify-ran\"\ntest -f w.txt\n",
    )
    .unwrap();
    let output = one_writer(&project, "w", "w.txt");
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert!(project.enki_dir().join("verify-ran").is_file());
    assert!(project.root.join("w.txt").exists());
}

#[test]
fn a_merger_that_times_out_leaves_the_request_conflicted() {
    let project = Project::with_sim("[merge]\nresolve_timeout_secs = 1\n");
    project.conflicting_writers();
    project.script(
        "merger",
        "[[turn]]\nsteps = [ { say = \"Still weighing both sides\" }, { hang = true } ]\n",
    );
    let output = run_plan(&project, CONFLICTING_PLAN);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let failed = ["left", "right"]
        .iter()
        .map(|s| project.step_detail(s))
        .find(|d| d["task"]["status"] == "failed")
        .expect("the conflicting task failed");
    let request = &failed["merge_requests"][0];
    assert_eq!(request["status"], "conflicted", "{request}");
    assert!(
        request["reason"]
            .as_str()
            .unwrap()
            .contains("did not finish within 1 s"),
        "{request}"
    );
    // What the merger said before its time ran out is kept.
    let log = merger_log(&project, failed["task"]["id"].as_str().unwrap());
    assert!(
        log.contains(&"merger_message Still weighing both sides".to_string()),
        "{log:?}"
    );
    assert_eq!(log.last().unwrap(), "merger_ended failed", "{log:?}");
}

#[test]
fn starting_mid_rebase_lands_on_the_rebased_branch_once_the_rebase_ends() {
    let project = Project::with_sim("");
    user_commit(&project, "user.txt");
    // An interactive rebase stopped at a `break`: HEAD is detached.
    let stopped = std::process::Command::new("git")
        .arg("-C")
        .arg(&project.root)
        .args(["rebase", "-q", "-i", "HEAD~1"])
        .env("GIT_SEQUENCE_EDITOR", "sed -i '1i break'")
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@t")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@t")
        .output()
        .unwrap();
    assert!(stopped.status.success(), "{}", describe(&stopped));
    assert!(project.root.join(".git/rebase-merge").is_dir());
    project.writer_script("w", "w.txt", "w\n");
    let plan = project.plan("[[steps]]\nid = \"w\"\ntitle = \"W\"\ndescription = \"[[sim:w]]\"\n");
    let child = project.spawn_enki(&["run", "--plan", plan.to_str().unwrap()]);
    project.wait_until("the merge to wait for the rebase", || {
        project.tasks_json().iter().any(|t| t["step_id"] == "w")
            && project.step_detail("w")["merge_requests"][0]["reason"]
                .as_str()
                .is_some_and(|r| r.contains("a rebase is in progress"))
    });
    git(&project.root, &["rebase", "--continue"]);
    let output = wait_output(child, Duration::from_secs(60));
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert_eq!(git(&project.root, &["show", "main:w.txt"]), "w\n");
    assert!(project.root.join("w.txt").exists() && project.root.join("user.txt").exists());
}

#[test]
fn a_task_cancelled_while_its_merge_is_verified_does_not_land() {
    let project = Project::with_sim(
        "[merge]\nverify = \"while [ ! -f \\\"$ENKI_DIR/verify-go\\\" ]; do sleep 0.02; done\"\n",
    );
    project.writer_script("w", "w.txt", "w\n");
    let plan = project.plan("[[steps]]\nid = \"w\"\ntitle = \"W\"\ndescription = \"[[sim:w]]\"\n");
    let child = project.spawn_enki(&["run", "--plan", plan.to_str().unwrap()]);
    project.wait_until("the merge to be verifying", || {
        project.tasks_json().iter().any(|t| t["step_id"] == "w")
            && project.step_detail("w")["merge_requests"][0]["status"] == "verifying"
    });
    project.cancel_step("w");
    std::fs::write(project.enki_dir().join("verify-go"), "").unwrap();
    let output = wait_output(child, Duration::from_secs(60));
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));

    assert!(!project.root.join("w.txt").exists(), "nothing landed");
    let detail = project.step_detail("w");
    assert_eq!(detail["task"]["status"], "cancelled");
    assert_eq!(detail["merge_requests"][0]["status"], "failed");
    let reason = detail["merge_requests"][0]["reason"].as_str().unwrap_or("");
    assert!(reason.contains("cancelled"), "{reason}");
    let branch = detail["task"]["branch"].as_str().unwrap().to_string();
    assert!(
        !git(&project.root, &["branch", "--list", &branch])
            .trim()
            .is_empty(),
        "the branch is kept"
    );
}
