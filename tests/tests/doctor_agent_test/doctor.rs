//! `enki doctor` with the sim, with a missing agent, with an agent that fails
//! `initialize`, and with the sim's configured scripts dir gone.

use enki_tests::{Project, enki_bin};

use crate::{checks, doctor_json, doctor_json_with, enki, one_check};

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
    // It reaches enki's tools over HTTP, with a token fixing its role.
    let tools = one_check(&report, "enki's tools for agent sim");
    assert_eq!(tools["level"], "ok", "{tools}");
    assert!(
        tools["detail"].as_str().unwrap().starts_with("over HTTP"),
        "{tools}"
    );
    let detail = agent["detail"].as_str().unwrap();
    assert!(
        detail.starts_with(&format!(
            "`{} sim-agent` opened a session in ",
            enki_bin().display()
        )),
        "{detail}"
    );
    assert!(detail.ends_with("ms (protocol 1)"), "{detail}");
    // Each role's session mode, and its login as far as the agent tells.
    let mode = one_check(&report, "session mode of agent sim");
    assert_eq!(
        mode["name"],
        "session mode of agent sim (coordinator, worker, merger)"
    );
    assert_eq!(mode["detail"], "none declared (used as it is)", "{mode}");
    let login = one_check(&report, "login of agent sim");
    assert_eq!(login["level"], "ok", "{login}");
    assert!(
        login["detail"]
            .as_str()
            .unwrap()
            .contains("it reports no login status"),
        "{login}"
    );
    let commit = one_check(&report, "first commit");
    assert_eq!(commit["level"], "ok", "{commit}");

    // Containment depends on the machine too: a PID namespace, or a warning
    // that says why not and how to allow it.
    let containment = one_check(&report, "containment");
    let detail = containment["detail"].as_str().unwrap();
    if containment["level"] == "ok" {
        assert!(detail.contains("own PID namespace"), "{containment}");
    } else {
        assert_eq!(containment["level"], "warning", "{containment}");
        assert!(
            detail.contains("no PID namespace can be made here"),
            "{containment}"
        );
        assert!(containment["fix"].as_str().is_some(), "{containment}");
    }

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
    assert_eq!(
        agent["detail"],
        "initialize failed: agent exited (status 3); stderr: boom"
    );
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
        detail.starts_with(
            "initialize failed: agent exited (status 2); stderr: enki sim-agent: scripts dir "
        ) && detail.contains(&scripts.display().to_string())
            && detail.ends_with("(ENKI_SIM_SCRIPTS) is not a directory"),
        "{detail}"
    );
}

#[test]
fn doctor_fails_a_repository_with_no_commit_and_says_how_to_make_one() {
    let project = Project::with_sim("");
    // A branch with no commit yet, as in a freshly `git init`ed folder.
    enki_tests::git(&project.root, &["checkout", "-q", "--orphan", "fresh"]);
    let (code, report) = doctor_json(&project, &[]);
    assert_eq!(code, Some(1), "{report:#}");
    assert_eq!(report["healthy"], false);
    let commit = one_check(&report, "first commit");
    assert_eq!(commit["level"], "error", "{commit}");
    assert_eq!(
        commit["detail"],
        format!(
            "{} is a git repository with no commit yet, so there is no branch to land work on; runs refuse to start",
            project.root.display()
        )
    );
    assert_eq!(
        commit["fix"],
        "commit once: `git commit --allow-empty -m init` (or add and commit your files)"
    );
    // What the fix says is enough.
    enki_tests::git(
        &project.root,
        &["commit", "--allow-empty", "-q", "-m", "init"],
    );
    let (code, report) = doctor_json(&project, &[]);
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(one_check(&report, "first commit")["level"], "ok");
}

#[test]
fn without_landlock_doctor_says_agents_cannot_start_and_how_to_run_them() {
    let project = Project::with_sim("");
    let pretend = [("ENKI_PRETEND", "no_landlock")];
    let (code, report) = doctor_json_with(&project, &[], &pretend);
    assert_ne!(code, Some(0), "{report:#}");
    let sandbox = one_check(&report, "sandbox");
    assert_eq!(sandbox["level"], "error", "{sandbox}");
    assert_eq!(
        sandbox["detail"],
        "agents cannot start: this kernel has no Landlock (pretended: ENKI_PRETEND=no_landlock)"
    );
    assert!(
        sandbox["fix"]
            .as_str()
            .unwrap()
            .contains("set `[sandbox] mode = \"off\"`"),
        "{sandbox}"
    );
    // Turned off, doctor warns that commands run unconfined, and is healthy.
    std::fs::write(
        project.enki_dir().join("enki.toml"),
        "[agent]\ncommand = \"sim\"\n\n[sim]\nscripts = \"sim\"\n\n[sandbox]\nmode = \"off\"\n",
    )
    .unwrap();
    let (code, report) = doctor_json_with(&project, &[], &pretend);
    assert_eq!(code, Some(0), "{report:#}");
    let sandbox = one_check(&report, "sandbox");
    assert_eq!(sandbox["level"], "warning", "{sandbox}");
    let detail = sandbox["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("off: agents' shell commands are not confined")
            && detail.contains("this kernel has no Landlock"),
        "{detail}"
    );
}

#[test]
fn doctor_warns_that_an_agent_on_stdio_mcp_has_a_weaker_boundary() {
    // The sim named by its command, not its preset: enki cannot know it
    // takes MCP over HTTP, so it gets a stdio `enki mcp` it starts itself.
    let project = Project::with_sim("");
    let agent = format!("{} sim-agent", enki_bin().display());
    let (_, report) = doctor_json(&project, &["--agent", &agent]);
    let tools = one_check(&report, "enki's tools for agent");
    assert_eq!(tools["level"], "warning", "{tools}");
    let detail = tools["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("over stdio") && detail.contains("a weaker boundary than HTTP"),
        "{detail}"
    );
    assert!(
        tools["fix"].as_str().unwrap().contains("MCP over HTTP"),
        "{tools}"
    );
}

#[test]
fn doctor_says_what_each_network_mode_means_and_whether_loopback_works_here() {
    let project =
        Project::with_sim("[sandbox]\nnetwork = \"loopback\"\nloopback_ports = [11434]\n");
    let (code, report) = doctor_json(&project, &[]);
    let network = one_check(&report, "network");
    let detail = network["detail"].as_str().unwrap();
    for mode in ["any (", "loopback (", "none ("] {
        assert!(detail.contains(mode), "{network}");
    }
    match enki_sandbox::loopback_support() {
        Ok(()) => {
            assert_eq!(code, Some(0), "{report:#}");
            assert_eq!(network["level"], "ok", "{network}");
            assert!(
                detail.starts_with(
                    "network = \"loopback\": only the agent's own loopback, enki's MCP server and ports 11434"
                ),
                "{network}"
            );
        }
        Err(why) => {
            assert_eq!(network["level"], "error", "{network}");
            assert!(detail.contains(&why), "{network}");
            assert!(
                network["fix"].as_str().unwrap().contains("user namespaces"),
                "{network}"
            );
        }
    }
}
