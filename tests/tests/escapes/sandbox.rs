//! The OS sandbox (Landlock) around every agent, with real `sim` agents
//! whose `run` steps are real shell commands: a worker's writes outside its
//! copy and its temporary folder, and a planner's writes into the project,
//! never land, while the legitimate work does. With `[sandbox] mode = "off"`
//! the same command does land, so these tests see an escape when there is one.

use std::path::{Path, PathBuf};

use enki_tests::{Project, describe, is_alive, one_turn, processes_in};

/// Shell commands that each try to write somewhere a worker must not; each
/// ends in `true` so the turn goes on.
fn escapes(root: &Path, outside_tmp: &Path) -> Vec<String> {
    vec![
        "echo x > ../../outside.txt".into(),
        format!("echo x > {}", outside_tmp.display()),
        format!("echo x > {}/escaped.txt", root.display()),
        format!("echo x >> {}/.git/config", root.display()),
        format!("echo x >> {}/.enki/enki.toml", root.display()),
        format!("mkdir {}/.enki/planted", root.display()),
    ]
    .into_iter()
    .map(|c| format!("{c}; true"))
    .collect()
}

fn run_steps(commands: &[String]) -> String {
    commands
        .iter()
        .map(|c| format!("  {{ run = '{c}' }},"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A file under the system temp folder, outside every agent's `TMPDIR`.
fn outside_tmp(project: &Project) -> PathBuf {
    let name = project.root.file_name().unwrap().to_string_lossy();
    std::env::temp_dir().join(format!("enki-escape-{name}.txt"))
}

fn escaped(project: &Project, outside_tmp: &Path) -> Vec<PathBuf> {
    [
        project.enki_dir().join("outside.txt"),
        outside_tmp.to_path_buf(),
        project.root.join("escaped.txt"),
        project.enki_dir().join("planted"),
    ]
    .into_iter()
    .filter(|p| p.exists())
    .collect()
}

fn worker_project(extra_config: &str) -> (Project, PathBuf, String, String) {
    let project = Project::with_sim(&format!("[workers]\nretries = 0\n{extra_config}"));
    let tmp = outside_tmp(&project);
    let legit = [
        "  { write = \"inside.txt\", content = \"legit\\n\" },",
        "  { run = 'echo shell > by-shell.txt' },",
        "  { run = 'echo t > \"$TMPDIR/t\" && cp \"$TMPDIR/t\" from-tmp.txt' },",
    ]
    .join("\n");
    let steps = format!(
        "{legit}\n{}\n  {{ say = \"[OUTPUT]done[/OUTPUT]\" }},",
        run_steps(&escapes(&project.root, &tmp))
    );
    project.script("escaper", &one_turn(&steps));
    let git_config = std::fs::read_to_string(project.root.join(".git/config")).unwrap();
    let enki_toml = std::fs::read_to_string(project.enki_dir().join("enki.toml")).unwrap();
    (project, tmp, git_config, enki_toml)
}

const ONE_STEP: &str = "title = \"Escape\"\n[[steps]]\nid = \"w\"\ntitle = \"Write\"\ndescription = \"[[sim:escaper]]\"\n";

#[test]
fn a_worker_writes_its_copy_and_temp_folder_and_nothing_else() {
    let (project, tmp, git_config, enki_toml) = worker_project("");
    let plan = project.plan(ONE_STEP);
    let output = project.run_enki(&["run", "--plan", plan.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));

    for (file, content) in [
        ("inside.txt", "legit\n"),
        ("by-shell.txt", "shell\n"),
        ("from-tmp.txt", "t\n"),
    ] {
        assert_eq!(
            std::fs::read_to_string(project.root.join(file)).unwrap(),
            content,
            "{file} landed"
        );
    }
    assert_eq!(escaped(&project, &tmp), Vec::<PathBuf>::new());
    assert_eq!(
        std::fs::read_to_string(project.root.join(".git/config")).unwrap(),
        git_config
    );
    assert_eq!(
        std::fs::read_to_string(project.enki_dir().join("enki.toml")).unwrap(),
        enki_toml
    );
    // The agent's temporary folder is gone once it ended.
    let tmp_root = project.enki_dir().join("tmp");
    let left: Vec<_> = std::fs::read_dir(&tmp_root)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "left in .enki/tmp: {left:?}");
}

#[test]
fn a_file_step_outside_the_copy_is_refused() {
    let project = Project::with_sim("[workers]\nretries = 0\n");
    project.script(
        "escaper",
        &one_turn("  { write = \"../../outside.txt\", content = \"x\" },"),
    );
    let plan = project.plan(ONE_STEP);
    let output = project.run_enki(&["run", "--plan", plan.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert_eq!(project.status_of("w"), "failed");
    assert!(!project.enki_dir().join("outside.txt").exists());
}

#[test]
fn the_planner_cannot_write_the_project() {
    let project = Project::with_sim("");
    project.writer_script("writer", "planned.txt", "planned\n");
    let attempt = format!(
        "echo x > {}/by-planner.txt; echo x > by-planner-here.txt; true",
        project.root.display()
    );
    project.script(
        "planner",
        &format!(
            "{}\n[[turn]]\nsteps = [ {{ say = \"Noted.\" }} ]\n",
            one_turn(&format!(
                "  {{ run = '{attempt}' }},\n  {{ tool = \"enki_execution_create\", args = {{ title = \"Plan\", steps = [ {{ id = \"p\", title = \"Write p\", description = \"[[sim:writer]]\" }} ] }} }},\n  {{ say = \"Planned.\" }},"
            ))
        ),
    );
    let output = project.run_enki(&["run", "write planned.txt"]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert_eq!(
        std::fs::read_to_string(project.root.join("planned.txt")).unwrap(),
        "planned\n"
    );
    assert!(!project.root.join("by-planner.txt").exists());
    assert!(!project.root.join("by-planner-here.txt").exists());
}

#[test]
fn without_the_sandbox_the_same_command_escapes() {
    let project = Project::with_sim("[sandbox]\nmode = \"off\"\n");
    let command = &escapes(&project.root, &outside_tmp(&project))[2];
    project.script(
        "escaper",
        &one_turn(&format!(
            "{}\n  {{ say = \"[OUTPUT]done[/OUTPUT]\" }},",
            run_steps(std::slice::from_ref(command))
        )),
    );
    let plan = project.plan(ONE_STEP);
    let output = project.run_enki(&["run", "--plan", plan.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert!(project.root.join("escaped.txt").exists());
}

#[test]
fn a_sandboxed_agent_still_dies_with_the_coordinator() {
    let project = Project::with_sim("");
    project.script("escaper", &one_turn("  { hang = true },"));
    let plan = project.plan(ONE_STEP);
    let mut child = project.spawn_enki(&["run", "--plan", plan.to_str().unwrap()]);
    let copies = project.enki_dir().join("copies");
    let mut agent = None;
    project.wait_until("the sandboxed agent runs in its copy", || {
        // The agent itself, once exec'd (before that, the forked child is
        // still a copy of `enki run`, not yet sandboxed).
        agent = processes_in(&copies).into_iter().find(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains("sim-agent"))
        });
        agent.is_some()
    });
    let agent = agent.unwrap();
    // Confined between fork and exec: privileges frozen.
    let status = std::fs::read_to_string(format!("/proc/{agent}/status")).unwrap();
    assert!(status.contains("NoNewPrivs:\t1"), "{status}");
    child.kill().unwrap(); // SIGKILL: only PR_SET_PDEATHSIG can end the agent
    child.wait().unwrap();
    project.wait_until("the agent is gone", || !is_alive(agent));
}

#[test]
fn an_agents_state_folders_are_made_before_it_starts() {
    // A fresh home has no ~/.npm; inside the sandbox the agent could not
    // make it, so enki does before the agent starts.
    let project = Project::with_sim("[workers]\nretries = 0\n");
    let npm = project.home.path().join(".npm");
    assert!(!npm.exists());
    project.script(
        "escaper",
        &one_turn(
            "  { run = 'mkdir -p \"$HOME/.npm/_cacache\" && echo x > \"$HOME/.npm/_cacache/f\"' },\n  { say = \"[OUTPUT]done[/OUTPUT]\" },",
        ),
    );
    let plan = project.plan(ONE_STEP);
    let output = project.run_enki(&["run", "--plan", plan.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert_eq!(
        std::fs::read_to_string(npm.join("_cacache/f")).unwrap(),
        "x\n"
    );
}

/// `enki run --plan` with the kernel pretending to have no Landlock (test
/// builds only: `ENKI_PRETEND`).
fn run_without_landlock(project: &Project, plan: &Path) -> std::process::Output {
    let child = project
        .enki(&["run", "--plan", plan.to_str().unwrap()])
        .env("ENKI_PRETEND", "no_landlock")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    enki_tests::wait_output(child, std::time::Duration::from_secs(120))
}

#[test]
fn without_landlock_no_agent_starts_until_the_sandbox_is_turned_off() {
    let project = Project::with_sim("[workers]\nretries = 0\n");
    project.writer_script("escaper", "inside.txt", "legit\n");
    let plan = project.plan(ONE_STEP);
    let output = run_without_landlock(&project, &plan);
    assert_ne!(output.status.code(), Some(0), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("inside a Landlock sandbox, but this kernel has no Landlock"),
        "{stderr}"
    );
    assert!(stderr.contains("`[sandbox] mode = \"off\"`"), "{stderr}");
    assert!(project.tasks_json().is_empty(), "nothing was planned");
    assert!(!project.root.join("inside.txt").exists());

    // Turned off as the message says, the same run lands.
    let config = project.enki_dir().join("enki.toml");
    let mut toml = std::fs::read_to_string(&config).unwrap();
    toml.push_str("\n[sandbox]\nmode = \"off\"\n");
    std::fs::write(&config, toml).unwrap();
    let output = run_without_landlock(&project, &plan);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert_eq!(
        std::fs::read_to_string(project.root.join("inside.txt")).unwrap(),
        "legit\n"
    );
}

#[test]
fn with_the_sandbox_off_an_execute_request_is_asked_not_allowed() {
    // Headless, nobody answers: an asked `execute` is refused. With the
    // sandbox on, the policy allows it (the OS confines the command).
    for (mode, decision) in [("off", "reject_once"), ("enforce", "allow_once")] {
        let project = Project::with_sim(&format!(
            "[workers]\nretries = 0\n[sandbox]\nmode = \"{mode}\"\n"
        ));
        project.script(
            "escaper",
            &one_turn(
                "  { permission = \"Run make\", kind = \"execute\", on_deny = \"continue\" },\n  { write = \"inside.txt\", content = \"legit\\n\" },\n  { say = \"[OUTPUT]done[/OUTPUT]\" },",
            ),
        );
        let plan = project.plan(ONE_STEP);
        let output = project.run_enki(&["run", "--plan", plan.to_str().unwrap()]);
        assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
        assert!(
            project.root.join("inside.txt").exists(),
            "{mode}: work lands"
        );
        let task = project.task_id("w");
        let asked = project.events_of(&task, "permission");
        assert_eq!(asked.len(), 1, "{mode}: {asked:?}");
        assert_eq!(asked[0]["title"], "Run make", "{mode}");
        assert_eq!(asked[0]["decision"], decision, "{mode}: {asked:?}");
        let reason = asked[0]["reason"].as_str().unwrap();
        assert_eq!(
            reason.contains("a person decides"),
            mode == "off",
            "{mode}: {reason}"
        );
    }
}
