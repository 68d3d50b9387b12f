//! What the configuration makes doctor and agent-test check: relative agent
//! paths, tier and role agents, config before `enki init`, duplicate keys.

use enki_tests::Project;

use crate::{checks, doctor_json, enki, one_check};

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
