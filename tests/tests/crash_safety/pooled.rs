//! Landed copies kept for the next task (`.enki/pool`): the next task's copy
//! is made from one and holds nothing the last task left in it; killed at
//! each crash point of parking a copy, taking one and renewing it, then
//! restarted, the coordinator lands every task exactly once and leaves no
//! copy behind.

use enki_tests::{Project, git};

use super::landing::{
    assert_done_and_landed_once, assert_nothing_left_behind, enki_until_crash, restart,
};

const FIRST: &str = "[[steps]]\nid = \"a\"\ntitle = \"Write a\"\ndescription = \"[[sim:a]]\"\n";
const SECOND: &str = "[[steps]]\nid = \"b\"\ntitle = \"Write b\"\ndescription = \"[[sim:b]]\"\n";

/// Task `a` writes `a.txt` and leaves an ignored build output behind;
/// task `b` records what its copy holds (`seen.txt`) and which folder it is
/// (`inode.txt`) and writes `b.txt`.
fn pooled_project() -> Project {
    let project = Project::with_sim("");
    project.commit_file(".gitignore", "build/\n", "ignore build outputs");
    project.script(
        "a",
        "[[turn]]\nsteps = [\n  { write = \"a.txt\", content = \"a\\n\" },\n  { write = \"build/left-by-a\", content = \"a\\n\" },\n  { say = \"[OUTPUT]wrote a[/OUTPUT]\" },\n]\n",
    );
    project.script(
        "b",
        "[[turn]]\nsteps = [\n  { run = \"ls -A > seen.txt; stat -c %i . > inode.txt\" },\n  { write = \"b.txt\", content = \"b\\n\" },\n  { say = \"[OUTPUT]wrote b[/OUTPUT]\" },\n]\n",
    );
    project
}

/// Runs `a`, killed right after its landing was cleaned up: its copy is
/// parked (a run that ends normally would remove it), so `b`'s copy is made
/// from it; returns the parked folder's inode.
fn leave_a_parked_copy(project: &Project) -> String {
    let plan = project.plan(FIRST);
    let run = ["run", "--plan", plan.to_str().unwrap()];
    assert!(enki_until_crash(project, &run, "cleanup:done"));
    let pool: Vec<_> = std::fs::read_dir(project.enki_dir().join("pool"))
        .map(|entries| entries.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert_eq!(pool.len(), 1, "a's copy is parked: {pool:?}");
    std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&pool[0]).unwrap()).to_string()
}

/// `b` ran in a copy with only the project's files, and both landed once.
fn assert_b_started_clean(project: &Project, what: &str) {
    assert_done_and_landed_once(project, &["a", "b"], what);
    let seen = git(&project.root, &["show", "main:seen.txt"]);
    let mut names: Vec<&str> = seen.lines().collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [".git", ".gitignore", "README.md", "a.txt", "seen.txt"],
        "{what}"
    );
    assert_eq!(git(&project.root, &["show", "main:b.txt"]), "b\n");
    assert_nothing_left_behind(project, what);
}

#[test]
fn the_next_tasks_copy_is_a_parked_one_with_nothing_of_the_last_task() {
    let project = pooled_project();
    let parked = leave_a_parked_copy(&project);
    let plan = project.plan(SECOND);
    let output = project.run_enki(&["run", "--plan", plan.to_str().unwrap()]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        enki_tests::describe(&output)
    );
    assert_eq!(
        git(&project.root, &["show", "main:inode.txt"]).trim(),
        parked,
        "b worked in a's parked folder"
    );
    assert_b_started_clean(&project, "b's copy from the pool");
}

#[test]
fn killed_at_each_pool_crash_point_every_task_lands_once_and_no_copy_is_left() {
    for point in enki_failpoint::POOL_POINTS {
        let project = pooled_project();
        if *point == "pool:parked" {
            // Parking happens in the clean-up of a landing.
            crash_and_restart(&project, FIRST, point);
            assert_done_and_landed_once(&project, &["a"], point);
            assert_nothing_left_behind(&project, point);
            continue;
        }
        leave_a_parked_copy(&project);
        crash_and_restart(&project, SECOND, point);
        assert_b_started_clean(&project, point);
    }
}

/// Runs `plan` killed at `point`, then restarts it.
fn crash_and_restart(project: &Project, plan: &str, point: &str) {
    let plan = project.plan(plan);
    let run = ["run", "--plan", plan.to_str().unwrap()];
    assert!(
        enki_until_crash(project, &run, point),
        "{point} not reached"
    );
    restart(project, 1, point);
}
