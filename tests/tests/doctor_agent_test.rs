//! `enki doctor` and `enki agent-test` against the built-in sim agent and
//! against agents that are missing or die at once.
//!
//! Every run gets its own empty HOME, so no user configuration leaks in.

use std::process::Stdio;
use std::time::Duration;

use enki_tests::{Project, enki_bin, wait_output};
use serde_json::Value;

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// `enki <args>` in the project, with an empty HOME.
fn enki(project: &Project, args: &[&str]) -> Run {
    let home = tempfile::tempdir().unwrap();
    let child = project
        .enki(args)
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
    let mut all = vec!["doctor", "--json"];
    all.extend_from_slice(args);
    let run = enki(project, &all);
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

// ----- enki doctor ------------------------------------------------------------------

#[test]
fn doctor_with_the_sim_agent_is_healthy_and_checks_every_area() {
    let project = Project::with_sim("");
    let (code, report) = doctor_json(&project, &[]);
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(report["healthy"], true, "{report:#}");

    for check in report["checks"].as_array().unwrap() {
        let level = check["level"].as_str().unwrap();
        assert!(["ok", "warning"].contains(&level), "{check}");
        assert!(check["detail"].as_str().is_some_and(|d| !d.is_empty()));
        if level == "ok" {
            assert!(check["fix"].is_null(), "{check}");
        }
    }
    let git = one_check(&report, "git");
    assert_eq!(git["level"], "ok");
    assert!(
        git["detail"].as_str().unwrap().starts_with("git version "),
        "{git}"
    );

    // One agent for every role (the config names `sim` once).
    let agent = one_check(&report, "agent ");
    assert_eq!(
        agent["name"], "agent sim (coordinator, worker, merger)",
        "{agent}"
    );
    assert_eq!(agent["level"], "ok", "{agent}");
    let detail = agent["detail"].as_str().unwrap();
    assert!(
        detail.starts_with(&format!(
            "`{} sim-agent` answered initialize in ",
            enki_bin().display()
        )),
        "{detail}"
    );
    assert!(detail.ends_with("ms (protocol 1)"), "{detail}");

    // Reflink and inotify depend on the machine: reported either way.
    let reflink = one_check(&report, "reflink");
    assert!(
        reflink["detail"]
            .as_str()
            .unwrap()
            .contains(&project.enki_dir().join("copies").display().to_string()),
        "probes the copies folder: {reflink}"
    );
    if reflink["level"] == "warning" {
        assert!(reflink["fix"].is_string(), "{reflink}");
    }
    one_check(&report, "inotify watches");

    let database = one_check(&report, "database");
    assert_eq!(database["level"], "ok", "{database}");
    assert!(
        database["detail"]
            .as_str()
            .unwrap()
            .starts_with(&project.db_path().display().to_string()),
        "{database}"
    );
    assert!(checks(&report, "configuration").is_empty(), "{report:#}");

    // The text form says the same.
    let run = enki(&project, &["doctor"]);
    assert_eq!(run.code, Some(0), "{}{}", run.stdout, run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(
        lines[0].starts_with("✔ git: git version "),
        "{}",
        run.stdout
    );
    assert!(
        lines.iter().any(|l| l.starts_with("✔ database: ")),
        "{}",
        run.stdout
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("✔ agent sim (coordinator, worker, merger): `")),
        "{}",
        run.stdout
    );
    assert_eq!(lines.last(), Some(&"everything enki needs is in place"));
    assert!(!run.stdout.contains('✘'), "{}", run.stdout);
}

#[test]
fn doctor_with_a_missing_agent_fails_with_the_error_and_a_fix() {
    let project = Project::with_sim("");
    let run = enki(&project, &["doctor", "--agent", "/no/such/agent"]);
    assert_eq!(run.code, Some(1), "{}{}", run.stdout, run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with("✘ agent /no/such/agent"))
        .unwrap_or_else(|| panic!("no agent error in {}", run.stdout));
    assert_eq!(
        lines[at],
        "✘ agent /no/such/agent (coordinator, worker, merger): `/no/such/agent` does not exist or is not a file"
    );
    assert!(
        lines[at + 1].starts_with("    fix: install the agent, or choose another with --agent"),
        "{}",
        run.stdout
    );
    assert_eq!(
        lines.last(),
        Some(&"some checks failed; see the fixes above")
    );
    // The other areas are still checked.
    assert!(
        lines.iter().any(|l| l.starts_with("✔ database: ")),
        "{}",
        run.stdout
    );

    let (code, report) = doctor_json(&project, &["--agent", "/no/such/agent"]);
    assert_eq!(code, Some(1));
    assert_eq!(report["healthy"], false);
    let agent = one_check(&report, "agent ");
    assert_eq!(agent["level"], "error");
    assert_eq!(
        agent["detail"],
        "`/no/such/agent` does not exist or is not a file"
    );
    assert!(
        agent["fix"].as_str().unwrap().contains("--agent"),
        "{agent}"
    );
    assert_eq!(one_check(&report, "git")["level"], "ok");
    assert_eq!(one_check(&report, "database")["level"], "ok");

    // A bare name is looked up on PATH.
    let (code, report) = doctor_json(&project, &["--agent", "enki-no-such-agent-anywhere"]);
    assert_eq!(code, Some(1));
    assert_eq!(
        one_check(&report, "agent ")["detail"],
        "`enki-no-such-agent-anywhere` is not on PATH"
    );
}

#[test]
fn doctor_reports_an_agent_that_fails_initialize_with_its_stderr() {
    let project = Project::with_sim("");
    let (code, report) = doctor_json(&project, &["--agent", "sh -c 'echo boom >&2; exit 3'"]);
    assert_eq!(code, Some(1), "{report:#}");
    assert_eq!(report["healthy"], false);
    let agent = one_check(&report, "agent ");
    assert_eq!(agent["level"], "error", "{agent}");
    assert_eq!(agent["detail"], "agent exited (status 3); stderr: boom");
    assert!(
        agent["fix"].as_str().unwrap().contains("enki agent-test"),
        "{agent}"
    );
}

#[test]
fn doctor_gives_the_sim_its_configured_scripts_dir() {
    // `[sim] scripts = "sim"` names .enki/sim; without it, every agent a run
    // starts would exit at once, and doctor must say so.
    let project = Project::with_sim("");
    let scripts = project.enki_dir().join("sim");
    std::fs::remove_dir(&scripts).unwrap();
    let (code, report) = doctor_json(&project, &[]);
    assert_eq!(code, Some(1), "{report:#}");
    let agent = one_check(&report, "agent sim");
    assert_eq!(agent["level"], "error", "{agent}");
    let detail = agent["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("agent exited (status 2); stderr: enki sim-agent: scripts dir ")
            && detail.contains(&scripts.display().to_string())
            && detail.ends_with("(ENKI_SIM_SCRIPTS) is not a directory"),
        "{detail}"
    );
}

// ----- enki agent-test ----------------------------------------------------------------

#[test]
fn agent_test_with_the_sim_prints_the_whole_transcript() {
    let project = Project::with_sim("");
    let run = enki(&project, &["agent-test", "--agent", "sim"]);
    assert_eq!(run.code, Some(0), "{}{}", run.stdout, run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    let position = |prefix: &str| {
        lines
            .iter()
            .position(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no line starting with {prefix:?} in\n{}", run.stdout))
    };
    assert_eq!(
        lines[0],
        format!("agent sim: {} sim-agent", enki_bin().display())
    );
    let order = [
        position("→ initialize (protocol 1"),
        position("← protocol 1; auth methods: none"),
        position("→ session/new in "),
        position("← session sim-"),
        position("→ session/prompt: This is a connection test from enki."),
        position("  message: "),
        position("← stopReason end_turn"),
    ];
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{}", run.stdout);
    assert_eq!(lines.last(), Some(&"← stopReason end_turn"));
    let message: String = lines
        .iter()
        .filter_map(|l| l.strip_prefix("  message: "))
        .collect();
    assert!(
        message.starts_with("I am enki's simulated agent (enki sim-agent).")
            && message.ends_with("Done."),
        "{message}"
    );
}

#[test]
fn agent_test_runs_the_configured_sim_scripts() {
    let project = Project::with_sim("");
    project.script(
        "hello",
        "[[turn]]\nsteps = [\n  { say = \"Hello from the script\" },\n  { stop = \"max_tokens\" },\n]\n",
    );
    let run = enki(
        &project,
        &[
            "agent-test",
            "--agent",
            "sim",
            "--prompt",
            "[[sim:hello]] hi",
        ],
    );
    // max_tokens is not a successful turn.
    assert_eq!(run.code, Some(1), "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("\n  message: Hello from the script\n"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.ends_with("← stopReason max_tokens\n"),
        "{}",
        run.stdout
    );
}

#[test]
fn agent_test_with_an_agent_that_exits_at_once_is_a_clear_error() {
    let project = Project::with_sim("");
    let run = enki(
        &project,
        &["agent-test", "--agent", "sh -c 'echo boom >&2; exit 3'"],
    );
    assert_eq!(run.code, Some(1), "{}{}", run.stdout, run.stderr);
    assert_eq!(
        run.stdout,
        "agent sh -c 'echo boom >&2; exit 3': sh -c 'echo boom >&2; exit 3'\n\
         → initialize (protocol 1; client offers fs read/write)\n\
         ✘ agent exited (status 3); stderr: boom\n"
    );

    let run = enki(&project, &["agent-test", "--agent", "/no/such/agent"]);
    assert_eq!(run.code, Some(1), "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .ends_with("✘ `/no/such/agent` does not exist or is not a file\n"),
        "{}",
        run.stdout
    );
}
