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
            .starts_with(&format!("{} ", project.enki_dir().display())),
        "probes the project's .enki/: {reflink}"
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
        lines[at + 1].starts_with(
            "    fix: install the agent, or give another with --agent /no/such/agent "
        ),
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
        agent["fix"]
            .as_str()
            .unwrap()
            .starts_with(r"run `enki agent-test --agent 'sh -c '\''echo boom >&2; exit 3'\'''` for the full transcript"),
        "the fix repeats the agent: {agent}"
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

// ----- fake agents ----------------------------------------------------------------------

/// Shell helpers every fake agent starts with. enki's request ids are
/// plain numbers; `idof` extracts them.
const PRELUDE: &str = r#"
reply() { printf '{"jsonrpc":"2.0","id":%s,"result":%s}\n' "$1" "$2"; }
idof() { printf '%s\n' "$1" | sed -n 's/.*"id":\([0-9][0-9]*\).*/\1/p'; }
INIT='{"protocolVersion":1,"agentCapabilities":{},"authMethods":[]}'
"#;

/// Writes a fake agent script into the project and returns the `--agent`
/// that runs it with `/bin/sh` (never exec'd directly, so no "text file
/// busy" race with other tests writing files).
fn fake_agent(project: &Project, name: &str, body: &str) -> String {
    let path = project.root.join(name);
    std::fs::write(&path, format!("{PRELUDE}\n{body}")).unwrap();
    format!("/bin/sh {}", path.display())
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

/// Whether a process is still alive (not gone, not a zombie).
fn process_running(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat.rsplit(')').next().unwrap_or("").trim_start();
            !state.starts_with('Z') && !state.starts_with('X')
        }
        Err(_) => false,
    }
}

/// Answers the handshake, never the prompt; ignores SIGTERM, stdin closing
/// and `session/cancel`, and keeps a child in its process group.
const NEVER_ANSWERS: &str = r#"
trap '' TERM
sleep 1000 &
printf '%s\n' "$!" > never-child.pid
while IFS= read -r line; do
  id=$(idof "$line")
  case "$line" in
    *'"method":"initialize"'*) reply "$id" "$INIT" ;;
    *'"method":"session/new"'*) reply "$id" '{"sessionId":"s1"}' ;;
    *'"method":"session/prompt"'*) echo "prompt received" >&2 ;;
  esac
done
while :; do sleep 1; done
"#;

#[test]
fn agent_test_gives_up_on_a_turn_that_never_ends() {
    let project = Project::with_sim("");
    let agent = fake_agent(&project, "never.sh", NEVER_ANSWERS);
    // The agent's cwd is a scratch folder; have it write its child's pid
    // into the project.
    let agent = format!("sh -c 'cd {} && exec {agent}'", project.root.display());
    let run = enki(
        &project,
        &["agent-test", "--agent", &agent, "--timeout", "1"],
    );
    assert_eq!(run.code, Some(1), "{}{}", run.stdout, run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with("✘ "))
        .unwrap_or_else(|| panic!("no error in\n{}", run.stdout));
    assert!(
        lines[at].starts_with(
            "✘ agent did not finish the turn within 1s; enki sent session/cancel and the agent did not end the turn within the grace period; stderr: "
        ),
        "{}",
        run.stdout
    );
    assert_eq!(
        lines[at + 1],
        "  the agent was stopped (its whole process group)"
    );
    let log = agent_test_log(&project, &run.stdout);
    assert_eq!(
        lines[at + 2],
        format!("  the agent's stderr is in {}", log.display())
    );
    assert!(
        std::fs::read_to_string(&log)
            .unwrap()
            .contains("prompt received")
    );
    // The whole group is gone, even the child that ignores SIGTERM.
    let child: u32 = std::fs::read_to_string(project.root.join("never-child.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let started = std::time::Instant::now();
    while process_running(child) {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the agent's child {child} survived"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
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

/// Starts the built-in sim agent through `$ENKI_BIN`.
const SIM_WRAPPER: &str = "#!/bin/sh\nexec \"$ENKI_BIN\" sim-agent\n";

fn executable(path: &std::path::Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn relative_agent_paths_mean_the_invoking_directory_or_the_config_folder() {
    let project = Project::with_sim("");
    executable(&project.root.join("myagent.sh"), SIM_WRAPPER);

    // `--agent ./x` is relative to where enki was started, not to the
    // scratch folder the agent runs in.
    let run = enki(&project, &["agent-test", "--agent", "./myagent.sh"]);
    assert_eq!(run.code, Some(0), "{}{}", run.stdout, run.stderr);
    let anchored = project.root.join("myagent.sh");
    assert!(
        run.stdout
            .starts_with(&format!("agent {0}: {0}\n", anchored.display())),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.ends_with("← stopReason end_turn\n"),
        "{}",
        run.stdout
    );
    // An argument naming a file there is anchored too.
    let run = enki(&project, &["agent-test", "--agent", "sh ./myagent.sh"]);
    assert_eq!(run.code, Some(0), "{}{}", run.stdout, run.stderr);
    let (code, report) = doctor_json(&project, &["--agent", "./myagent.sh"]);
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(
        one_check(&report, "agent ")["name"],
        format!("agent {} (coordinator, worker, merger)", anchored.display())
    );

    // A config `command` path is relative to the config file's folder.
    executable(&project.enki_dir().join("bin/agent.sh"), SIM_WRAPPER);
    std::fs::write(
        project.enki_dir().join("enki.toml"),
        "[agent]\ncommand = \"bin/agent.sh\"\n\n[sim]\nscripts = \"sim\"\n",
    )
    .unwrap();
    let run = enki(&project, &["agent-test"]);
    assert_eq!(run.code, Some(0), "{}{}", run.stdout, run.stderr);
    let configured = project.enki_dir().join("bin/agent.sh");
    assert!(
        run.stdout
            .starts_with(&format!("agent {0}: {0}\n", configured.display())),
        "{}",
        run.stdout
    );
    let (code, report) = doctor_json(&project, &[]);
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(one_check(&report, "agent ")["level"], "ok");
}

#[test]
fn doctor_checks_tier_and_custom_role_agents_once_each() {
    let project = Project::with_sim(
        "[agent.heavy]\ncommand = \"/no/such/heavy-agent\"\n[agent.light]\nargs = []\n",
    );
    let roles = project.enki_dir().join("roles");
    std::fs::create_dir_all(&roles).unwrap();
    std::fs::write(
        roles.join("auditor.toml"),
        "name = \"auditor\"\ndescription = \"audits\"\nagent = \"./tools/audit-agent --fast\"\n",
    )
    .unwrap();
    std::fs::write(
        roles.join("helper.toml"),
        "name = \"helper\"\ndescription = \"helps\"\ntier = \"heavy\"\nagent = \"sim\"\n",
    )
    .unwrap();
    std::fs::write(roles.join("broken.toml"), "name = \n").unwrap();

    let (code, report) = doctor_json(&project, &[]);
    assert_eq!(code, Some(1), "{report:#}");
    let agents: Vec<(String, String)> = checks(&report, "agent ")
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c["level"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let role_agent = project.root.join("tools/audit-agent");
    assert_eq!(
        agents,
        [
            (
                "agent sim (coordinator, worker, merger, worker (light), role helper)".to_string(),
                "ok".to_string()
            ),
            (
                "agent /no/such/heavy-agent (worker (heavy))".to_string(),
                "error".to_string()
            ),
            (
                format!("agent {} --fast (role auditor)", role_agent.display()),
                "error".to_string()
            ),
        ],
        "{report:#}"
    );
    let heavy = one_check(&report, "agent /no/such/heavy-agent");
    assert!(
        heavy["fix"].as_str().unwrap().contains(&format!(
            "[agent] `command` in {}",
            project.enki_dir().join("enki.toml").display()
        )),
        "{heavy}"
    );
    let broken = one_check(&report, "roles");
    assert_eq!(broken["level"], "warning");
    assert!(
        broken["detail"].as_str().unwrap().contains("broken.toml:1"),
        "{broken}"
    );

    // `--agent` replaces every one of them, as in a run.
    let (code, report) = doctor_json(&project, &["--agent", "sim"]);
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(
        one_check(&report, "agent ")["name"],
        "agent sim (coordinator, worker, merger, worker (light), worker (heavy), role auditor, role helper)"
    );
}

#[test]
fn doctor_reads_the_project_config_before_enki_init() {
    let project = Project::bare();
    std::fs::create_dir_all(project.enki_dir().join("sim")).unwrap();
    std::fs::write(
        project.enki_dir().join("enki.toml"),
        "[agent]\ncommand = \"sim\"\n\n[sim]\nscripts = \"sim\"\n",
    )
    .unwrap();
    let (code, report) = doctor_json(&project, &[]);
    assert_eq!(code, Some(0), "{report:#}");
    let agent = one_check(&report, "agent ");
    assert_eq!(agent["name"], "agent sim (coordinator, worker, merger)");
    assert_eq!(agent["level"], "ok", "{agent}");
    let database = one_check(&report, "database");
    assert_eq!(database["level"], "warning");
    assert_eq!(
        database["detail"],
        format!(
            "{} has no database yet; its {} was read for these checks",
            project.enki_dir().display(),
            project.enki_dir().join("enki.toml").display()
        )
    );
    assert!(
        one_check(&report, "reflink")["detail"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{} ", project.enki_dir().display()))
    );
}

#[test]
fn doctor_outside_a_project_probes_the_current_folder() {
    let project = Project::bare();
    let (_, report) = doctor_json(&project, &["--agent", "sim"]);
    let reflink = one_check(&report, "reflink");
    assert!(
        reflink["detail"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{} ", project.root.display())),
        "{reflink}"
    );
}

#[test]
fn a_duplicate_config_key_is_named() {
    let project = Project::with_sim("[workers]\nretries = 1\nretries = 2\n");
    let (code, report) = doctor_json(&project, &["--agent", "sim"]);
    assert_eq!(code, Some(1), "{report:#}");
    let config = one_check(&report, "configuration");
    let detail = config["detail"].as_str().unwrap();
    assert!(
        detail.starts_with(&project.enki_dir().join("enki.toml").display().to_string())
            && detail.ends_with(": `workers.retries`: duplicate key"),
        "{detail}"
    );
}

/// Prose on stdout: not an ACP agent.
const GARBAGE: &str = r#"
echo "starting up" >&2
while IFS= read -r line; do echo "this is not json"; done
"#;

#[test]
fn agent_test_says_when_stdout_is_not_acp() {
    let project = Project::with_sim("");
    let agent = fake_agent(&project, "garbage.sh", GARBAGE);
    let run = enki(&project, &["agent-test", "--agent", &agent]);
    assert_eq!(run.code, Some(1), "{}{}", run.stdout, run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with("→ initialize"))
        .unwrap();
    assert!(
        lines[at + 1].starts_with("  protocol error: invalid message from agent")
            && lines[at + 1].ends_with("this is not json"),
        "{}",
        run.stdout
    );
    assert_eq!(
        lines[at + 2],
        "✘ agent did not answer `initialize`: its stdout is not ACP (it wrote `this is not json` and no JSON-RPC message within 5s; an ACP agent's stdout carries only protocol); stderr: starting up"
    );
}

/// Asks permission, reads and writes a file without waiting for the
/// answers, then ends the turn at once.
const EAGER: &str = r#"
OPTIONS='[{"optionId":"yes","name":"Allow","kind":"allow_once"},{"optionId":"no","name":"Reject","kind":"reject_once"}]'
while IFS= read -r line; do
  id=$(idof "$line")
  case "$line" in
    *'"method":"initialize"'*) reply "$id" "$INIT" ;;
    *'"method":"session/new"'*) cwd=$(printf '%s\n' "$line" | sed -n 's/.*"cwd":"\([^"]*\)".*/\1/p'); reply "$id" '{"sessionId":"s1"}' ;;
    *'"method":"session/prompt"'*)
      printf '%s\n' '{"jsonrpc":"2.0","id":"p1","method":"session/request_permission","params":{"sessionId":"s1","toolCall":{"toolCallId":"t1","title":"Run the tests","kind":"execute"},"options":'"$OPTIONS"'}}'
      printf '%s\n' '{"jsonrpc":"2.0","id":"r1","method":"fs/read_text_file","params":{"sessionId":"s1","path":"'"$cwd"'/missing.txt"}}'
      printf '%s\n' '{"jsonrpc":"2.0","id":"w1","method":"fs/write_text_file","params":{"sessionId":"s1","path":"'"$cwd"'/hello.txt","content":"hi"}}'
      reply "$id" '{"stopReason":"end_turn"}' ;;
  esac
done
"#;

#[test]
fn agent_test_shows_every_request_the_agent_made_in_its_turn() {
    let project = Project::with_sim("");
    let agent = fake_agent(&project, "eager.sh", EAGER);
    for round in 0..8 {
        let run = enki(&project, &["agent-test", "--agent", &agent]);
        assert_eq!(run.code, Some(0), "{}{}", run.stdout, run.stderr);
        let lines: Vec<&str> = run.stdout.lines().collect();
        let prompt = lines
            .iter()
            .position(|l| l.starts_with("→ session/prompt"))
            .unwrap();
        let mut turn: Vec<&str> = lines[prompt + 1..lines.len() - 1].to_vec();
        turn.sort();
        assert_eq!(turn.len(), 3, "round {round}:\n{}", run.stdout);
        assert!(
            turn[0].starts_with("  fs read ") && turn[0].ends_with("/missing.txt (served)"),
            "round {round}:\n{}",
            run.stdout
        );
        assert!(
            turn[1].starts_with("  fs write ") && turn[1].ends_with("/hello.txt (served)"),
            "round {round}:\n{}",
            run.stdout
        );
        assert_eq!(turn[2], "  permission asked: Run the tests → reject_once");
        assert_eq!(lines.last(), Some(&"← stopReason end_turn"));
    }
}

/// Advertises an API-key method and refuses `session/new` until
/// `authenticate` was called.
const NEEDS_AUTH: &str = r#"
authed=no
while IFS= read -r line; do
  id=$(idof "$line")
  case "$line" in
    *'"method":"initialize"'*) reply "$id" '{"protocolVersion":1,"authMethods":[{"id":"key","name":"API key"},{"id":"oauth","name":"oauth"}]}' ;;
    *'"method":"authenticate"'*) authed=yes; reply "$id" '{}' ;;
    *'"method":"session/new"'*)
      if [ "$authed" = yes ]; then reply "$id" '{"sessionId":"s1"}'
      else printf '{"jsonrpc":"2.0","id":%s,"error":{"code":-32000,"message":"Authentication required"}}\n' "$id"; fi ;;
    *'"method":"session/prompt"'*) reply "$id" '{"stopReason":"end_turn"}' ;;
  esac
done
"#;

#[test]
fn agent_test_authenticates_only_with_an_advertised_method_and_says_how_to_set_one() {
    let project = Project::with_sim("");
    let agent = fake_agent(&project, "auth.sh", NEEDS_AUTH);
    let run = enki(&project, &["agent-test", "--agent", &agent]);
    assert_eq!(run.code, Some(1), "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("\n← protocol 1; auth methods: key (API key), oauth\n"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.ends_with(
            "✘ agent answered `session/new` with error -32000: Authentication required\n  \
             the agent needs authentication: set `auth_method` in the [agent] section of enki.toml to one the agent advertised: key (API key), oauth\n"
        ),
        "{}",
        run.stdout
    );

    // A configured method the agent does not offer is not used.
    let config = project.enki_dir().join("enki.toml");
    let base = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        base.replace("[agent]\n", "[agent]\nauth_method = \"token\"\n"),
    )
    .unwrap();
    let run = enki(&project, &["agent-test", "--agent", &agent]);
    assert_eq!(run.code, Some(1), "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains(
            "\n  not authenticating: the configured auth_method `token` is not one the agent advertised\n"
        ),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("→ authenticate"), "{}", run.stdout);
    assert!(
        run.stdout.contains(
            "the configured auth_method `token` is not one it advertised: set `auth_method`"
        ),
        "{}",
        run.stdout
    );

    // An advertised one is.
    std::fs::write(
        &config,
        base.replace("[agent]\n", "[agent]\nauth_method = \"key\"\n"),
    )
    .unwrap();
    let run = enki(&project, &["agent-test", "--agent", &agent]);
    assert_eq!(run.code, Some(0), "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("\n→ authenticate key\n→ session/new in "),
        "{}",
        run.stdout
    );
}
