//! `enki demo` as a test: the whole demonstration runs in a temporary folder
//! and leaves the project it promises.
// An integration test: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::Duration;

use enki_tests::{describe, enki_command, event_kinds, git, wait_output};
use serde_json::Value;

/// `enki <args> --json` in `dir`, parsed.
fn enki_json(dir: &Path, args: &[&str]) -> Value {
    let output = enki_command()
        .args(args)
        .arg("--json")
        .current_dir(dir)
        .output()
        .expect("enki runs");
    assert!(output.status.success(), "{}", describe(&output));
    serde_json::from_slice(&output.stdout).expect("JSON output")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn the_demo_runs_every_step_resolves_the_conflict_and_lands_every_change() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let root = tmp.path().canonicalize().unwrap().join("demo");
    let child = enki_command()
        .args(["demo", "--dir"])
        .arg(&root)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn enki demo");
    let output = wait_output(child, Duration::from_secs(120));
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let text = String::from_utf8_lossy(&output.stdout);
    for expected in [
        "── 2. enki run",
        "finished: 5 done, 0 failed or blocked, 0 cancelled, 0 unfinished",
        "── 3. What happened",
        "the merger resolved the conflict",
        "The verify hook ran 4 time(s)",
        "── 4. Where to look",
        "── 5. The project now",
        "$ git log --oneline",
        "12 passed, 0 failed",
        "The demo finished",
    ] {
        assert!(text.contains(expected), "missing {expected:?}:\n{text}");
    }

    // Every step is done.
    let tasks = enki_json(&root, &["tasks"])["tasks"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let steps: Vec<&str> = tasks.iter().filter_map(|t| t["step_id"].as_str()).collect();
    assert_eq!(steps, ["survey", "mul", "div", "docs", "release"]);
    for task in &tasks {
        assert_eq!(task["status"], "done", "{task}");
    }
    let id_of = |step: &str| {
        tasks
            .iter()
            .find(|t| t["step_id"] == step)
            .and_then(|t| t["id"].as_str())
            .unwrap()
            .to_string()
    };

    // The researcher's artifact.
    let survey = enki_json(&root, &["task", &id_of("survey")]);
    let artifact = root
        .join(".enki/artifacts")
        .join(survey["task"]["execution_id"].as_str().unwrap())
        .join("survey.md");
    assert!(
        read(&artifact).starts_with("# How calc is built and tested"),
        "{}",
        artifact.display()
    );
    assert!(
        survey["merge_requests"]
            .as_array()
            .is_none_or(|m| m.is_empty()),
        "a read-only step merges nothing: {survey}"
    );

    // Exactly one of the parallel pair conflicted; its merge request went
    // through the merger (`resolving`) and landed.
    let details: Vec<Value> = ["mul", "div"]
        .iter()
        .map(|step| enki_json(&root, &["task", &id_of(step)]))
        .collect();
    let conflicted: Vec<&Value> = details
        .iter()
        .filter(|d| event_kinds(d).contains(&"merge_conflict".to_string()))
        .collect();
    assert_eq!(conflicted.len(), 1, "{details:?}");
    let kinds = event_kinds(conflicted[0]);
    let position = |kind: &str| kinds.iter().position(|k| k == kind);
    assert!(
        position("merge_conflict") < position("merge_resolved"),
        "{kinds:?}"
    );
    assert_eq!(conflicted[0]["merge_requests"][0]["status"], "merged");
    let merger_log = root.join(".enki/logs/agents").join(format!(
        "merger-{}.log",
        conflicted[0]["task"]["id"].as_str().unwrap()
    ));
    assert!(merger_log.is_file(), "{}", merger_log.display());

    // The verify hook ran on each of the four merges and passed.
    let verify_logs: Vec<String> = std::fs::read_dir(root.join(".enki/logs/verify"))
        .expect("verify logs")
        .map(|e| read(&e.expect("entry").path()))
        .collect();
    assert_eq!(verify_logs.len(), 4, "{verify_logs:?}");
    for log in &verify_logs {
        assert!(
            log.contains("verify: sh test.sh") && log.contains(", 0 failed"),
            "{log}"
        );
    }

    // The final project holds every change: the resolution keeps both
    // operations, then docs and the release landed on top.
    let calc = read(&root.join("calc.sh"));
    assert!(
        calc.contains("usage: sh calc.sh add|sub|mul|div|version [A B]"),
        "{calc}"
    );
    assert!(
        calc.contains("    mul) echo $(($2 * $3)) ;;\n    div)\n"),
        "{calc}"
    );
    assert!(calc.contains("VERSION=\"0.2.0\""), "{calc}");
    assert!(
        !calc.contains("<<<<<<<") && !calc.contains(">>>>>>>"),
        "{calc}"
    );
    for file in ["tests/test_mul.sh", "tests/test_div.sh", "CHANGELOG.md"] {
        assert!(root.join(file).is_file(), "{file} is missing");
    }
    assert!(read(&root.join("README.md")).contains("sh calc.sh div 7 2"));
    assert!(read(&root.join("tests/test_version.sh")).contains("calc 0.2.0"));

    // One commit per step that changed files, on main, in dependency order.
    let subjects: Vec<String> = git(&root, &["log", "--reverse", "--format=%s", "main"])
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(subjects.len(), 5, "{subjects:?}");
    assert_eq!(subjects[0], "calc 0.1.0: add and sub");
    let at = |title: &str| {
        subjects
            .iter()
            .position(|s| s.starts_with(&format!("{title} (task-")))
            .unwrap_or_else(|| panic!("no commit for {title}: {subjects:?}"))
    };
    assert!(at("Add mul") < at("Document every operation in the README"));
    assert!(at("Add div") < at("Document every operation in the README"));
    assert!(at("Document every operation in the README") < at("Release calc 0.2.0"));
    assert!(
        git(&root, &["status", "--porcelain"]).trim().is_empty(),
        "the working tree is clean"
    );
    let tests = std::process::Command::new("sh")
        .arg("test.sh")
        .current_dir(&root)
        .output()
        .unwrap();
    assert!(tests.status.success(), "{}", describe(&tests));
}

#[test]
fn the_demo_refuses_a_folder_that_is_not_empty() {
    let tmp = tempfile::tempdir().expect("temp dir");
    std::fs::write(tmp.path().join("keep.txt"), "mine\n").unwrap();
    let output = enki_command()
        .args(["demo", "--dir"])
        .arg(tmp.path())
        .output()
        .expect("enki demo runs");
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("is not empty"), "{stderr}");
    assert_eq!(read(&tmp.path().join("keep.txt")), "mine\n");
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 1);
}
