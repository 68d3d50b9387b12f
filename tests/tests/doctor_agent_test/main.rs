//! `enki doctor` and `enki agent-test` against the built-in sim agent and
//! against agents that are missing or die at once.
//!
//! Every run gets its own empty HOME, so no user configuration leaks in.
//!
//! This file holds the helpers the groups below share.
// An integration test: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod agent_test;
mod config;
mod doctor;
mod fake_agents;
mod login;

use std::process::Stdio;
use std::time::Duration;

use enki_tests::{Project, wait_output};
use serde_json::Value;

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// `enki <args>` in the project, with an empty HOME.
fn enki(project: &Project, args: &[&str]) -> Run {
    enki_with(project, args, &[])
}

/// `enki <args>` in the project, with an empty HOME and these variables.
fn enki_with(project: &Project, args: &[&str], env: &[(&str, &str)]) -> Run {
    let home = tempfile::tempdir().unwrap();
    let child = project
        .enki(args)
        .envs(env.iter().copied())
        .env("HOME", home.path())
        .env_remove("ENKI_SIM_SCRIPTS")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn enki");
    let output = wait_output(child, Duration::from_secs(60));
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// `enki doctor --json <args>`, parsed.
fn doctor_json(project: &Project, args: &[&str]) -> (Option<i32>, Value) {
    doctor_json_with(project, args, &[])
}

/// `enki doctor --json <args>` with these variables, parsed.
fn doctor_json_with(
    project: &Project,
    args: &[&str],
    env: &[(&str, &str)],
) -> (Option<i32>, Value) {
    let mut all = vec!["doctor", "--json"];
    all.extend_from_slice(args);
    let run = enki_with(project, &all, env);
    let report: Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("doctor --json is not JSON ({e}): {}", run.stdout));
    (run.code, report)
}

/// The checks whose name starts with `prefix`.
fn checks<'a>(report: &'a Value, prefix: &str) -> Vec<&'a Value> {
    report["checks"]
        .as_array()
        .expect("checks array")
        .iter()
        .filter(|c| c["name"].as_str().unwrap().starts_with(prefix))
        .collect()
}

fn one_check<'a>(report: &'a Value, prefix: &str) -> &'a Value {
    let found = checks(report, prefix);
    assert_eq!(found.len(), 1, "one `{prefix}` check in {report:#}");
    found[0]
}

/// The stderr log agent-test named in its output (checked to lie in the
/// project's `.enki/logs/agents/`).
fn agent_test_log(project: &Project, stdout: &str) -> std::path::PathBuf {
    let log = stdout
        .lines()
        .find_map(|l| l.strip_prefix("  the agent's stderr goes to "))
        .unwrap_or_else(|| panic!("no stderr log named in\n{stdout}"));
    let log = std::path::PathBuf::from(log);
    assert!(
        log.starts_with(project.enki_dir().join("logs/agents")),
        "{}",
        log.display()
    );
    log
}
