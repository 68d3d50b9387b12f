//! Supervised sessions: a `sim` agent that starts in a mode where it
//! approves its own actions (as Claude's `auto`) is switched to one that
//! asks, so enki's policy refuses its write outside the copy; one that
//! refuses to switch is not started, unless `[permissions] agent_decides`.

use std::path::Path;

use enki_tests::{Project, describe, one_turn};

const ONE_STEP: &str = "title = \"Modes\"\n[[steps]]\nid = \"w\"\ntitle = \"Write\"\ndescription = \"[[sim:asker]]\"\n";

/// A worker that asks to write outside its copy (going on when refused)
/// and then writes inside it.
fn project(set_mode: &str, extra_config: &str) -> Project {
    let project = Project::with_sim(&format!("[workers]\nretries = 0\n{extra_config}"));
    std::fs::write(
        project.enki_dir().join("sim/modes.toml"),
        format!(
            "available = [\"auto\", \"default\"]\ncurrent = \"auto\"\nset_mode = \"{set_mode}\"\n"
        ),
    )
    .unwrap();
    project.script(
        "asker",
        &one_turn(
            "  { permission = \"Write outside\", kind = \"edit\", path = \"../../outside.txt\", on_deny = \"continue\" },\n  { write = \"inside.txt\", content = \"ok\\n\" },\n  { say = \"[OUTPUT]done[/OUTPUT]\" },",
        ),
    );
    project
}

/// Every log under `.enki/logs/`, concatenated.
fn logs(project: &Project) -> String {
    fn walk(dir: &Path, out: &mut String) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else if let Ok(text) = std::fs::read_to_string(&path) {
                out.push_str(&text);
            }
        }
    }
    let mut out = String::new();
    walk(&project.enki_dir().join("logs"), &mut out);
    out
}

fn run(project: &Project) -> std::process::Output {
    let plan = project.plan(ONE_STEP);
    project.run_enki(&["run", "--plan", plan.to_str().unwrap()])
}

#[test]
fn an_agent_starting_in_auto_is_switched_to_asking_and_the_policy_refuses_its_escape() {
    let project = project("accept", "");
    let output = run(&project);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let logs = logs(&project);
    assert!(
        logs.contains("mode default (asked for default)"),
        "the worker was not switched:\n{logs}"
    );
    assert!(
        logs.contains("Permission denied for \"Write outside\""),
        "the policy was not asked, or allowed it:\n{logs}"
    );
    assert_eq!(
        std::fs::read_to_string(project.root.join("inside.txt")).unwrap(),
        "ok\n"
    );
}

#[test]
fn an_agent_that_will_not_ask_is_not_started() {
    let project = project("refuse", "");
    let output = run(&project);
    assert_ne!(output.status.code(), Some(0), "{}", describe(&output));
    let tasks = serde_json::to_string(&project.tasks_json()).unwrap();
    let said = format!("{}\n{tasks}", describe(&output));
    assert!(said.contains("stays in mode `auto`"), "{said}");
    assert!(said.contains("agent_decides = true"), "{said}");
    assert!(!project.root.join("inside.txt").exists());
    assert!(!logs(&project).contains("Approved \"Write outside\" myself"));
}

#[test]
fn agent_decides_starts_it_anyway_and_says_so() {
    let project = project("refuse", "[permissions]\nagent_decides = true\n");
    let output = run(&project);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let logs = logs(&project);
    assert!(
        logs.contains("Approved \"Write outside\" myself (mode auto)"),
        "{logs}"
    );
    assert!(
        format!("{}\n{logs}", describe(&output)).contains("agent_decides = true"),
        "no warning:\n{}",
        describe(&output)
    );
    assert!(project.root.join("inside.txt").exists());
}
