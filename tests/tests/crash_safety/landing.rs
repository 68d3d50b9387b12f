//! Exactly-once landing under `kill -9`: the coordinator is killed at each
//! named crash point of a landing (and at seeded random points), restarted,
//! and the project must hold every task's work exactly once, with nothing
//! left behind. The crash points are compiled into the `enki` that
//! `cargo test --workspace` builds (see `crates/failpoint`).

use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use enki_tests::{Project, describe, git, stdout, wait_output};

/// Four steps: two clean ones (one after the other) and two that write the
/// same file differently, so one of them goes through the merger.
const PLAN: &str = r#"title = "Crash"
[[steps]]
id = "a"
title = "Write a"
description = "[[sim:a]]"
[[steps]]
id = "d"
title = "Write d"
description = "[[sim:d]]"
needs = ["a"]
[[steps]]
id = "left"
title = "Left"
description = "[[sim:left]]"
[[steps]]
id = "right"
title = "Right"
description = "[[sim:right]]"
"#;

const STEPS: [&str; 4] = ["a", "d", "left", "right"];

/// What the base branch must hold at the end.
const FILES: [(&str, &str); 3] = [
    ("a.txt", "a\n"),
    ("d.txt", "d\n"),
    ("shared.txt", "left version\nright version\n"),
];

fn crash_project() -> Project {
    let project = Project::with_sim("[merge]\nverify = \"test -f README.md\"\n");
    project.writer_script("a", "a.txt", "a\n");
    project.writer_script("d", "d.txt", "d\n");
    project.conflicting_writers();
    project.merger_keeping_both("");
    project
}

/// Runs the plan with `ENKI_FAILPOINTS=spec`; true when it died there.
fn run_until_crash(project: &Project, spec: &str) -> bool {
    let plan = project.plan(PLAN);
    enki_until_crash(project, &["run", "--plan", plan.to_str().unwrap()], spec)
}

/// Runs `enki args` with `ENKI_FAILPOINTS=spec`; true when it died there
/// (SIGKILL), else it must have finished with 0.
pub(super) fn enki_until_crash(project: &Project, args: &[&str], spec: &str) -> bool {
    died_at_crash_point(spawn_with_failpoints(project, args, spec))
}

/// Starts `enki args` with `ENKI_FAILPOINTS=spec` (no stdin, output piped).
pub(super) fn spawn_with_failpoints(
    project: &Project,
    args: &[&str],
    spec: &str,
) -> std::process::Child {
    project
        .enki(args)
        .env("ENKI_FAILPOINTS", spec)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits for `child`: true when it died at its crash point (SIGKILL),
/// else it must have finished with 0.
pub(super) fn died_at_crash_point(child: std::process::Child) -> bool {
    let output = wait_output(child, Duration::from_secs(120));
    match output.status.signal() {
        Some(9) => true,
        _ => {
            assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
            false
        }
    }
}

/// Restarts enki until the work is finished (one restart must do).
fn resume(project: &Project) {
    restart(project, 4, "");
}

/// Restarts `enki run` after a kill. It finishes the work (`tasks` done),
/// or, when the last task was recorded done before the kill, only its
/// clean-up, or, killed after even that, finds nothing left to do; the
/// checks that follow prove which was right.
pub(super) fn restart(project: &Project, tasks: usize, what: &str) {
    let output = project.run_enki(&["run"]);
    let said = stdout(&output);
    let finished = output.status.code() == Some(0)
        && (said.contains(&format!("finished: {tasks} done"))
            || said.contains(
                "nothing to resume; removed the copies and branches that 1 landed task(s)",
            )
            || said.contains("nothing to resume; removed the copies kept for reuse"));
    let nothing_left = output.status.code() == Some(2)
        && String::from_utf8_lossy(&output.stderr).contains("enki run: nothing to resume");
    assert!(finished || nothing_left, "{what}: {}", describe(&output));
}

/// Every task done, each task's work on `main` exactly once with the right
/// content, and nothing left behind in git, the checkout or `.enki/`.
fn assert_landed_exactly_once(project: &Project, what: &str) {
    assert_done_and_landed_once(project, &STEPS, what);
    for (file, content) in FILES {
        let on_main = git(&project.root, &["show", &format!("main:{file}")]);
        assert_eq!(on_main, content, "{what}: {file} on main");
        let checked_out = std::fs::read_to_string(project.root.join(file)).unwrap();
        assert_eq!(checked_out, content, "{what}: {file} in the checkout");
    }
    assert_nothing_left_behind(project, what);
}

/// The tasks of `steps` done, each one's commit (by its `Enki-Task`
/// trailer) on `main` exactly once.
pub(super) fn assert_done_and_landed_once(project: &Project, steps: &[&str], what: &str) {
    for step in steps {
        let task = project.task_by_step(step);
        assert_eq!(task["status"], "done", "{what}: step {step}: {task}");
        let id = task["id"].as_str().unwrap();
        let commits = git(
            &project.root,
            &[
                "log",
                "--format=%H",
                "--fixed-strings",
                &format!("--grep=Enki-Task: {id}"),
                "main",
            ],
        );
        assert_eq!(
            commits.lines().count(),
            1,
            "{what}: step {step} landed {commits:?}"
        );
    }
}

/// A clean checkout, no worktree, task branch, `refs/enki` ref or
/// scratch folder left, `git fsck` and `PRAGMA integrity_check` clean.
pub(crate) fn assert_nothing_left_behind(project: &Project, what: &str) {
    let status = git(&project.root, &["status", "--porcelain"]);
    assert!(status.trim().is_empty(), "{what}: stray files: {status}");
    let worktrees = git(&project.root, &["worktree", "list"]);
    assert_eq!(worktrees.lines().count(), 1, "{what}: {worktrees}");
    let branches = git(&project.root, &["branch", "--list", "enki/*"]);
    assert!(
        branches.trim().is_empty(),
        "{what}: task branches left: {branches}"
    );
    let refs = git(&project.root, &["for-each-ref", "refs/enki"]);
    assert!(refs.trim().is_empty(), "{what}: enki refs left: {refs}");
    for dir in ["copies", "merges", "pool"] {
        let left: Vec<_> = std::fs::read_dir(project.enki_dir().join(dir))
            .map(|entries| entries.flatten().map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "{what}: .enki/{dir} still holds {left:?}");
    }
    let fsck = std::process::Command::new("git")
        .args([
            "-C",
            project.root.to_str().unwrap(),
            "fsck",
            "--no-dangling",
        ])
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .unwrap();
    assert!(
        fsck.status.success(),
        "{what}: git fsck: {}",
        describe(&fsck)
    );
    let db = rusqlite::Connection::open(project.db_path()).unwrap();
    let integrity: String = db
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap();
    assert_eq!(integrity, "ok", "{what}");
}

/// Kills the coordinator at `spec`, restarts it, checks the invariants.
fn crash_and_recover(spec: &str) {
    let project = crash_project();
    let crashed = run_until_crash(&project, spec);
    assert!(
        crashed,
        "enki never reached crash point {spec}: was it built without the `failpoints` feature? \
         `cargo test --workspace` builds it with them"
    );
    resume(&project);
    assert_landed_exactly_once(&project, spec);
}

macro_rules! crash_at {
    ($($test:ident => $point:literal,)+) => {
        $(
            #[test]
            fn $test() {
                crash_and_recover($point);
            }
        )+

        #[test]
        fn every_named_crash_point_has_a_test() {
            let tested = [$($point),+];
            for point in enki_failpoint::POINTS {
                assert!(tested.contains(point), "no crash test for {point}");
            }
        }
    };
}

crash_at! {
    killed_when_a_copy_was_created => "copy:created",
    killed_before_a_worker_had_its_task => "worker:session_opened",
    killed_when_a_worker_committed => "worker:committed",
    killed_when_the_squash_was_computed => "land:computed",
    killed_while_the_merger_works => "merger:started",
    killed_when_the_merger_resolved => "merger:resolved",
    killed_when_verify_passed => "verify:passed",
    killed_when_the_intent_was_recorded => "land:intent_recorded",
    killed_between_checkout_and_ref => "land:checkout_moved",
    killed_when_the_ref_moved => "land:ref_moved",
    killed_when_the_landing_was_recorded => "land:merged_recorded",
    killed_when_the_task_was_recorded_done => "land:task_done",
    killed_when_the_copy_was_removed => "cleanup:copy_removed",
    killed_when_the_clean_up_was_done => "cleanup:done",
    killed_at_the_third_ref_move => "land:ref_moved@3",
}

/// The clean-up runs after the task is recorded done, off the merge queue:
/// a coordinator killed in between leaves a done task with its copy, and
/// the next start removes it.
#[test]
fn a_clean_up_cut_short_after_done_is_finished_at_the_next_start() {
    let project = Project::with_sim("");
    project.writer_script("a", "a.txt", "a\n");
    let plan =
        project.plan("[[steps]]\nid = \"a\"\ntitle = \"Write a\"\ndescription = \"[[sim:a]]\"\n");
    let run = ["run", "--plan", plan.to_str().unwrap()];
    assert!(enki_until_crash(&project, &run, "land:task_done"));
    let task = project.task_by_step("a");
    assert_eq!(task["status"], "done", "{task}");
    let id = task["id"].as_str().unwrap();
    assert!(
        project.enki_dir().join("copies").join(id).is_dir(),
        "the copy is still there before the restart"
    );
    // The task branch went with the landing's move of main, in one
    // transaction; the copy's files are what is left to remove.
    let refs = git(&project.root, &["for-each-ref", "--format=%(refname)"]);
    assert!(
        !refs.contains(&format!("refs/heads/enki/{id}")),
        "the branch went as main moved: {refs}"
    );

    let output = project.run_enki(&["run"]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert_eq!(git(&project.root, &["show", "main:a.txt"]), "a\n");
    assert_nothing_left_behind(&project, "restarted after land:task_done");
}

/// A seeded choice of passages: `any@N` kills at the N-th crash point passed.
fn random_points(seed: u64, trials: usize) -> Vec<u64> {
    // xorshift64*: deterministic, no dependency.
    let mut state = seed.max(1);
    (0..trials)
        .map(|_| {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            // A full run passes about 50 crash points; a few draws land past its end.
            1 + state.wrapping_mul(0x2545_F491_4F6C_DD1D) % 50
        })
        .collect()
}

/// A few seeded random points on every test run.
#[test]
fn killed_at_seeded_random_points() {
    for n in random_points(0x5eed, 4) {
        let spec = format!("any@{n}");
        let project = crash_project();
        // A passage beyond the run's last crash point finishes the run.
        if run_until_crash(&project, &spec) {
            resume(&project);
        }
        assert_landed_exactly_once(&project, &spec);
    }
}

/// A hundred seeded random points: `cargo xtask stress` runs it.
#[test]
#[ignore = "slow: run by `cargo xtask stress`"]
fn killed_at_a_hundred_random_points() {
    let seed = std::env::var("ENKI_STRESS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_2026);
    for n in random_points(seed, 100) {
        let spec = format!("any@{n}");
        let project = crash_project();
        if run_until_crash(&project, &spec) {
            resume(&project);
        }
        assert_landed_exactly_once(&project, &format!("{spec} (seed {seed})"));
    }
}
