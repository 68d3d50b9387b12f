//! `enki agent-test` with the sim (the transcript, configured scripts), with
//! an agent that exits at once, and with a zero timeout.

use enki_tests::{Project, enki_bin};

use crate::{agent_test_log, enki};

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
        // enki's MCP server, as a run's worker gets it, with its tools.
        position("  with enki's MCP server over HTTP at http://127.0.0.1:"),
        position("  enki's tools for a worker: enki_status, enki_task_list, "),
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
    let log = agent_test_log(&project, &run.stdout);
    assert_eq!(
        run.stdout,
        format!(
            "agent sh -c 'echo boom >&2; exit 3': sh -c 'echo boom >&2; exit 3'\n  \
             the agent's stderr goes to {log}\n\
             → initialize (protocol 1; client offers fs read/write)\n\
             ✘ agent exited (status 3); stderr: boom\n  \
             the agent's stderr is in {log}\n",
            log = log.display()
        )
    );
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "boom\n");

    let run = enki(&project, &["agent-test", "--agent", "/no/such/agent"]);
    assert_eq!(run.code, Some(1), "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .ends_with("✘ `/no/such/agent` does not exist or is not a file\n"),
        "{}",
        run.stdout
    );
}

#[test]
fn agent_test_rejects_a_zero_timeout() {
    let project = Project::with_sim("");
    let run = enki(
        &project,
        &["agent-test", "--agent", "sim", "--timeout", "0"],
    );
    assert_eq!(run.code, Some(2), "{}{}", run.stdout, run.stderr);
}

#[test]
fn agent_test_gives_the_agent_enkis_tools_on_a_scratch_project() {
    let project = Project::with_sim("");
    project.script(
        "tools",
        "[[turn]]\nsteps = [\n  { tool = \"enki_worker_report\", args = { status = \"checking the tools\" } },\n  { tool = \"enki_task_list\" },\n  { say = \"both tools answered\" },\n]\n",
    );
    let run = enki(
        &project,
        &["agent-test", "--agent", "sim", "--prompt", "[[sim:tools]]"],
    );
    assert_eq!(run.code, Some(0), "{}{}", run.stdout, run.stderr);
    let calls: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("  tool "))
        .collect();
    assert_eq!(
        calls,
        [
            "  tool call: enki_worker_report (in_progress)",
            "  tool update: sim-call-1 completed",
            "  tool call: enki_task_list (in_progress)",
            "  tool update: sim-call-2 completed",
        ],
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("\n  message: both tools answered\n"),
        "{}",
        run.stdout
    );
    // The report went to the scratch project, not to the user's.
    let tasks = project.enki(&["tasks", "--json"]).output().unwrap();
    let tasks: serde_json::Value = serde_json::from_slice(&tasks.stdout).unwrap();
    assert_eq!(tasks["tasks"], serde_json::json!([]), "{tasks}");
}
