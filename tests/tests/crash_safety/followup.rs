//! Exactly-once landing of a follow-up round under `kill -9`: a done task
//! whose first round landed (its commit carries `Enki-Task: <id>`) gets
//! `enki followup`; the coordinator running the follow-up is killed at each
//! crash point the round passes, restarted, and main must hold the first
//! round's commit and the follow-up's exactly once each. Without rounds a
//! restart would take the first round's merged request or trailer for the
//! follow-up's and drop its work, or land it twice.

use enki_core::landing::landed_round;
use enki_tests::{Project, describe, git};

use super::landing::{assert_nothing_left_behind, enki_until_crash, restart};

const PLAN: &str = "[[steps]]\nid = \"a\"\ntitle = \"Write a\"\ndescription = \"[[sim:two]]\"\n";

/// A project whose one task landed `a.txt` and then got a follow-up; the
/// task's session writes `b.txt` at its second turn.
fn followed_up_project() -> (Project, String) {
    let project = Project::with_sim("[merge]\nverify = \"test -f README.md\"\n");
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
  { say = "[OUTPUT]wrote b.txt[/OUTPUT]" },
]
"#,
    );
    let plan = project.plan(PLAN);
    let output = project.run_enki(&["run", "--plan", plan.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let id = project.task_id("a");
    let output = project
        .enki(&["followup", &id, "Also write b.txt"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    (project, id)
}

/// The task done in round 2; main holds both rounds' work, each round's
/// commit exactly once, and nothing is left behind (`landing`'s check).
fn assert_each_round_landed_once(project: &Project, id: &str, what: &str) {
    let task = project.task_by_step("a");
    assert_eq!(
        (&task["status"], &task["round"]),
        (&"done".into(), &2.into()),
        "{what}: {task}"
    );
    let rounds: Vec<i64> = git(&project.root, &["log", "--format=%B%x00", "main"])
        .split('\0')
        .filter_map(|message| landed_round(message, id))
        .collect();
    assert_eq!(rounds, [2, 1], "{what}: the rounds landed on main");
    for (file, content) in [("a.txt", "a\n"), ("b.txt", "b\n")] {
        let on_main = git(&project.root, &["show", &format!("main:{file}")]);
        assert_eq!(on_main, content, "{what}: {file} on main");
        let checked_out = std::fs::read_to_string(project.root.join(file)).unwrap();
        assert_eq!(checked_out, content, "{what}: {file} in the checkout");
    }
    assert_nothing_left_behind(project, what);
}

/// Kills the follow-up's coordinator at `spec`, restarts it, checks.
fn crash_follow_up(spec: &str) {
    let (project, id) = followed_up_project();
    assert!(
        enki_until_crash(&project, &["run"], spec),
        "the follow-up never reached crash point {spec}"
    );
    restart(&project, 1, spec);
    assert_each_round_landed_once(&project, &id, spec);
}

macro_rules! follow_up_crash_at {
    ($($test:ident => $point:literal,)+) => {
        $(
            #[test]
            fn $test() {
                crash_follow_up($point);
            }
        )+
    };
}

// Every crash point a follow-up round without conflicts passes (the
// merger's need a conflict: `landing` covers them).
follow_up_crash_at! {
    follow_up_killed_when_its_copy_was_created => "copy:created",
    follow_up_killed_before_its_session_had_the_request => "worker:session_opened",
    follow_up_killed_when_its_worker_committed => "worker:committed",
    follow_up_killed_when_its_squash_was_computed => "land:computed",
    follow_up_killed_when_verify_passed => "verify:passed",
    follow_up_killed_when_its_intent_was_recorded => "land:intent_recorded",
    follow_up_killed_between_checkout_and_ref => "land:checkout_moved",
    follow_up_killed_when_the_ref_moved => "land:ref_moved",
    follow_up_killed_when_its_landing_was_recorded => "land:merged_recorded",
    follow_up_killed_when_it_was_recorded_done => "land:task_done",
    follow_up_killed_when_its_copy_was_removed => "cleanup:copy_removed",
    follow_up_killed_when_its_clean_up_was_done => "cleanup:done",
}
