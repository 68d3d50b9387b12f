//! Coordinator flows end to end, each with the real `enki` binary and `sim`
//! agents in a temporary git project: early starts through `started` and
//! `completed` edges, `enki retry`, rejected signal files, `--agent`,
//! artifact roles, upstream outputs in worker prompts and the planner's
//! batched notes.
//!
//! Workers wait on flag files under `$ENKI_DIR` and the tests wait on what
//! the store shows; the timeouts are only safety nets.
//!
//! What an agent was prompted with is observed on the wire: the prompt tests
//! run the sim agent behind a small wrapper that copies everything the
//! coordinator writes to the agent's stdin (the ACP requests, `session/prompt`
//! included) into `.enki/acp-in/<pid>.jsonl`. The sim agent itself only
//! exposes the first 200 characters of a prompt to its scripts.
// An integration test: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use enki_tests::{Project, describe, git, stdout, wait_output};
use serde_json::Value;

/// Statuses of several steps read from one `enki tasks --json`, so they
/// describe the same moment.
fn statuses(project: &Project, steps: &[&str]) -> Vec<String> {
    let tasks = project.tasks_json();
    steps
        .iter()
        .map(|step| {
            tasks
                .iter()
                .find(|t| t["step_id"] == *step)
                .and_then(|t| t["status"].as_str())
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

/// Creates `$ENKI_DIR/<flag>`.
fn open_gate(project: &Project, flag: &str) {
    assert!(GATES.contains(&flag), "{flag} is not in GATES");
    std::fs::write(project.enki_dir().join(flag), "").expect("write flag");
}

/// A plan step in TOML.
fn step(id: &str, script: &str, extra: &str) -> String {
    format!(
        "[[steps]]\nid = \"{id}\"\ntitle = \"Step {id}\"\ndescription = \"[[sim:{script}]]\"\n{extra}\n"
    )
}

/// Every flag file a test here gates an agent or hook on.
const GATES: &[&str] = &["go", "go-b", "go-verify", "planner-go"];

/// An `enki run` in the background. Dropped before [`Running::finish`] (a
/// failed assertion), it opens every gate and kills the coordinator, so no
/// worker is left waiting at a gate.
struct Running {
    child: Option<std::process::Child>,
    enki_dir: PathBuf,
}

impl Running {
    fn start(project: &Project, args: &[&str]) -> Running {
        Running {
            child: Some(project.spawn_enki(args)),
            enki_dir: project.enki_dir(),
        }
    }

    /// Waits for the run to end (with a safety timeout).
    fn finish(mut self) -> std::process::Output {
        wait_output(
            self.child.take().expect("running"),
            Duration::from_secs(120),
        )
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            for gate in GATES {
                let _ = std::fs::write(self.enki_dir.join(gate), "");
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `enki run --plan <plan>` in the background.
fn spawn_plan(project: &Project, plan: &Path) -> Running {
    Running::start(project, &["run", "--plan", plan.to_str().unwrap()])
}

// ---------------------------------------------------------------------------
// Recording what the coordinator sends to its agents.

/// A git project whose agents are the sim agent behind a wrapper that
/// records the coordinator's side of the ACP conversation. `extra_config`
/// is appended to `.enki/enki.toml`.
fn recorded_project(extra_config: &str) -> Project {
    let project = Project::new();
    std::fs::create_dir_all(project.enki_dir().join("sim")).expect("create sim dir");
    let wrapper = project.enki_dir().join("acp-recorder.sh");
    std::fs::write(
        &wrapper,
        "#!/bin/sh\n# Copies what enki writes to the agent into acp-in/, then hands it on.\n# Named by the pid the host's /proc gives (every agent is pid 2 in its own namespace).\nread -r pid rest < /proc/self/stat\nmkdir -p \"$ENKI_DIR/acp-in\"\ntee \"$ENKI_DIR/acp-in/$pid.jsonl\" | \"$ENKI_BIN\" sim-agent \"$@\"\n",
    )
    .expect("write wrapper");
    make_executable(&wrapper);
    // The sandbox lets agents write `acp-in/`, which must exist beforehand.
    std::fs::create_dir_all(project.enki_dir().join("acp-in")).expect("create acp-in");
    let config = format!(
        "[agent]\ncommand = \"{}\"\n\n[sim]\nscripts = \"sim\"\n\n[sandbox]\nwritable = [\"acp-in\"]\n\n{extra_config}\n",
        wrapper.display()
    );
    std::fs::write(project.enki_dir().join("enki.toml"), config).expect("write enki.toml");
    project
}

fn make_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mut permissions = std::fs::metadata(path).expect("stat").permissions();
    permissions.set_mode(0o755);
    std::fs::set_permissions(path, permissions).expect("chmod");
}

/// One agent process's side of the conversation as enki wrote it.
struct Recorded {
    /// The `--role` of the `enki` MCP server given in `session/new`.
    role: String,
    /// The `--task-id` of that server (workers only).
    task: Option<String>,
    /// All the arguments of that server.
    args: Vec<String>,
    /// Every `session/prompt` text, in order.
    prompts: Vec<String>,
}

/// Every recorded agent conversation (see [`recorded_project`]).
fn recorded(project: &Project) -> Vec<Recorded> {
    let dir = project.enki_dir().join("acp-in");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|entries| entries.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    files
        .iter()
        .map(|file| {
            let text = std::fs::read_to_string(file).unwrap_or_default();
            let mut agent = Recorded {
                role: String::new(),
                task: None,
                args: Vec::new(),
                prompts: Vec::new(),
            };
            // A line still being written is skipped: it does not parse yet.
            for message in text
                .lines()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            {
                match message["method"].as_str() {
                    Some("session/new") => {
                        let args: Vec<&str> = message["params"]["mcpServers"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter(|s| s["name"] == "enki")
                            .flat_map(|s| s["args"].as_array().into_iter().flatten())
                            .filter_map(Value::as_str)
                            .collect();
                        let after = |flag: &str| {
                            args.iter()
                                .position(|a| *a == flag)
                                .and_then(|i| args.get(i + 1))
                                .map(|v| v.to_string())
                        };
                        agent.role = after("--role").unwrap_or_default();
                        agent.task = after("--task-id");
                        agent.args = args.iter().map(|a| a.to_string()).collect();
                    }
                    Some("session/prompt") => {
                        let text: String = message["params"]["prompt"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|b| b["text"].as_str())
                            .collect();
                        agent.prompts.push(text);
                    }
                    _ => {}
                }
            }
            agent
        })
        .collect()
}

/// The prompts the workers of `task` were sent, every attempt.
fn worker_prompts(project: &Project, task: &str) -> Vec<String> {
    recorded(project)
        .into_iter()
        .filter(|a| a.role == "worker" && a.task.as_deref() == Some(task))
        .flat_map(|a| a.prompts)
        .collect()
}

// ---------------------------------------------------------------------------
// 1. `started` and `completed` edges.

#[test]
fn started_and_completed_edges_start_dependents_before_their_dependency_lands() {
    // Every merge waits at the verify hook until go-verify exists, so a
    // finished worker's task stays `worker_done` with its merge queued.
    let project = Project::with_sim(
        "[workers]\nmax_workers = 2\n\n[merge]\nverify = \"while [ ! -f \\\"$ENKI_DIR/go-verify\\\" ]; do sleep 0.02; done\"\n",
    );
    project.gated_script("gate-b", "go-b", "b.txt");
    for name in ["c", "d", "e", "f"] {
        project.writer_script(
            &format!("w-{name}"),
            &format!("{name}.txt"),
            &format!("{name}\n"),
        );
    }
    let plan = project.plan(
        &[
            step("b", "gate-b", ""),
            step("c", "w-c", ""),
            step(
                "d",
                "w-d",
                "needs = [{ step = \"b\", condition = \"started\" }]",
            ),
            step(
                "e",
                "w-e",
                "needs = [{ step = \"c\", condition = \"completed\" }]",
            ),
            step("f", "w-f", "needs = [\"c\"]"),
        ]
        .concat(),
    );
    let child = spawn_plan(&project, &plan);

    // d needs b only started: its worker runs and finishes while b's worker
    // still waits at its gate (and holds one of the two slots).
    project.wait_until("d's worker finished while b runs", || {
        statuses(&project, &["b", "d"]) == ["running", "worker_done"]
    });
    // e needs c completed: its worker finishes while c's merge is still held
    // at the verify hook. f needs c merged and has not started.
    project.wait_until("e's worker finished while c is not merged", || {
        statuses(&project, &["c", "e"]) == ["worker_done", "worker_done"]
    });
    assert_eq!(
        statuses(&project, &["b", "c", "f"]),
        ["running", "worker_done", "pending"],
        "b still runs, c has not landed, and f waits for c's merge"
    );
    assert!(!project.root.join("c.txt").exists(), "c has not landed");

    open_gate(&project, "go-verify");
    open_gate(&project, "go-b");
    let output = child.finish();
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    for name in ["b", "c", "d", "e", "f"] {
        assert_eq!(project.status_of(name), "done", "{}", describe(&output));
        // The gated script writes the file's name, the others the step's.
        let expected = if name == "b" {
            "b.txt\n"
        } else {
            &format!("{name}\n")
        };
        assert_eq!(
            std::fs::read_to_string(project.root.join(format!("{name}.txt"))).unwrap(),
            expected
        );
    }
    let subjects = project.commit_subjects("main");
    let position = |name: &str| {
        subjects
            .iter()
            .position(|s| s.starts_with(&format!("Step {name} (task-")))
            .unwrap_or_else(|| panic!("no commit for {name}: {subjects:?}"))
    };
    assert!(position("c") < position("f"), "{subjects:?}");
}

// ---------------------------------------------------------------------------
// 2. `enki retry` from the command line.

#[test]
fn a_failed_task_retried_from_the_cli_runs_again_and_unblocks_its_dependents() {
    let project = Project::with_sim("[workers]\nretries = 0\n");
    project.script(
        "fragile",
        "[[turn]]\nsteps = [ { fail = \"not ready yet\" } ]\n",
    );
    project.writer_script("w-after", "after.txt", "after\n");
    let plan = project.plan(
        &[
            step("fragile", "fragile", ""),
            step("after", "w-after", "needs = [\"fragile\"]"),
        ]
        .concat(),
    );
    let output = project.run_enki(&["run", "--plan", plan.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let fragile = project.task_by_step("fragile");
    assert_eq!(fragile["status"], "failed", "{fragile}");
    assert_eq!(fragile["attempts"], 1, "no automatic retry: {fragile}");
    assert!(
        fragile["last_error"]
            .as_str()
            .unwrap_or_default()
            .contains("not ready yet"),
        "{fragile}"
    );
    assert_eq!(project.status_of("after"), "blocked");

    // The cause is fixed; retry by the short id `enki tasks` prints.
    project.writer_script("fragile", "fragile.txt", "fixed\n");
    let id = fragile["id"].as_str().unwrap();
    let short = &id[..id.find('-').unwrap() + 1 + 14];
    let retried = project.enki(&["retry", short]).output().unwrap();
    assert!(retried.status.success(), "{}", describe(&retried));
    assert!(
        stdout(&retried).contains("pending again"),
        "{}",
        describe(&retried)
    );
    assert!(
        stdout(&retried).contains("no coordinator runs in this project: `enki run`"),
        "says how to carry on: {}",
        describe(&retried)
    );
    assert_eq!(project.status_of("fragile"), "pending");
    assert_eq!(project.status_of("after"), "pending", "unblocked");

    let output = project.run_enki(&["run"]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let fragile = project.task_by_step("fragile");
    assert_eq!(fragile["status"], "done", "{fragile}");
    assert_eq!(fragile["attempts"], 2, "{fragile}");
    assert_eq!(project.status_of("after"), "done");
    assert_eq!(
        std::fs::read_to_string(project.root.join("fragile.txt")).unwrap(),
        "fixed\n"
    );
    assert_eq!(
        std::fs::read_to_string(project.root.join("after.txt")).unwrap(),
        "after\n"
    );
    let subjects = project.commit_subjects("main");
    let fragile_at = subjects
        .iter()
        .position(|s| s.starts_with("Step fragile ("))
        .unwrap_or_else(|| panic!("{subjects:?}"));
    let after_at = subjects
        .iter()
        .position(|s| s.starts_with("Step after ("))
        .unwrap_or_else(|| panic!("{subjects:?}"));
    assert!(fragile_at < after_at, "{subjects:?}");
}

#[test]
fn a_failed_task_retried_while_the_coordinator_runs_is_picked_up_at_once() {
    let project = Project::with_sim("[workers]\nretries = 0\n");
    // g keeps the run alive until the test is done with the retry.
    project.gated_script("gate", "go", "g.txt");
    project.script(
        "fragile",
        "[[turn]]\nsteps = [ { fail = \"not ready yet\" } ]\n",
    );
    project.writer_script("w-after", "after.txt", "after\n");
    let plan = project.plan(
        &[
            step("g", "gate", ""),
            step("fragile", "fragile", ""),
            step("after", "w-after", "needs = [\"fragile\"]"),
        ]
        .concat(),
    );
    let child = spawn_plan(&project, &plan);
    project.wait_until("fragile failed and after blocked", || {
        statuses(&project, &["fragile", "after"]) == ["failed", "blocked"]
    });
    project.writer_script("fragile", "fragile.txt", "fixed\n");
    let retried = project.enki(&["retry", "fragile"]).output().unwrap();
    assert!(retried.status.success(), "{}", describe(&retried));
    assert!(
        !stdout(&retried).contains("no coordinator runs"),
        "{}",
        describe(&retried)
    );
    project.wait_until("fragile and after done", || {
        statuses(&project, &["fragile", "after"]) == ["done", "done"]
    });
    assert_eq!(project.status_of("g"), "running", "the run went on");
    open_gate(&project, "go");
    let output = child.finish();
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    for (file, content) in [
        ("fragile.txt", "fixed\n"),
        ("after.txt", "after\n"),
        ("g.txt", "g.txt\n"),
    ] {
        assert_eq!(
            std::fs::read_to_string(project.root.join(file)).unwrap(),
            content
        );
    }
}

// ---------------------------------------------------------------------------
// 3. Rejected signal files.

/// Writes a file into `.enki/events/` the way signals are written: under a
/// hidden name first, then renamed, so the coordinator never reads half of it.
fn drop_signal_file(project: &Project, name: &str, content: &str) {
    let events = project.events_dir();
    let temp = events.join(format!(".{name}.tmp"));
    std::fs::write(&temp, content).expect("write temp signal");
    std::fs::rename(&temp, events.join(name)).expect("rename signal");
}

#[test]
fn bad_signal_files_are_moved_aside_with_a_warning_and_the_run_goes_on() {
    let project = Project::with_sim("");
    project.gated_script("gate", "go", "g.txt");
    let plan = project.plan(&step("g", "gate", ""));
    let child = spawn_plan(&project, &plan);
    project.wait_until("step g running", || project.status_of("g") == "running");

    let garbage = "sig-01ARZ3NDEKTSV4RRFFQ69G5FAV.json";
    let unknown = "sig-01ARZ3NDEKTSV4RRFFQ69G5FAW.json";
    drop_signal_file(&project, garbage, "this is {not json");
    drop_signal_file(
        &project,
        unknown,
        r#"{"v": 1, "type": "launch_missiles", "at": "2025-01-01T00:00:00Z", "session": null, "from": {"role": "planner", "task_id": null}}"#,
    );
    let rejected = project.events_dir().join("rejected");
    project.wait_until("both files moved to rejected/", || {
        rejected.join(garbage).is_file() && rejected.join(unknown).is_file()
    });
    assert!(!project.events_dir().join(garbage).exists());
    assert!(!project.events_dir().join(unknown).exists());
    assert_eq!(
        std::fs::read_to_string(rejected.join(garbage)).unwrap(),
        "this is {not json",
        "moved as it was"
    );

    // The run is unaffected: the worker goes on and everything lands.
    open_gate(&project, "go");
    let output = child.finish();
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert_eq!(project.status_of("g"), "done");
    assert!(project.root.join("g.txt").exists());
    let text = stdout(&output);
    for name in [garbage, unknown] {
        assert!(
            text.lines()
                .any(|l| l.starts_with('⚠') && l.contains("rejected") && l.contains(name)),
            "no warning naming {name}:\n{}",
            describe(&output)
        );
    }
    let unknown_warning = text.lines().find(|l| l.contains(unknown)).unwrap();
    assert!(
        unknown_warning.contains("launch_missiles"),
        "the warning says why: {unknown_warning}"
    );
}

// ---------------------------------------------------------------------------
// 4. `--agent` over configuration.

#[test]
fn the_agent_option_overrides_the_configured_agent() {
    let project = Project::new();
    std::fs::create_dir_all(project.enki_dir().join("sim")).unwrap();
    std::fs::write(
        project.enki_dir().join("enki.toml"),
        "[agent]\ncommand = \"no-such-agent-xyz\"\n\n[sim]\nscripts = \"sim\"\n\n[workers]\nretries = 0\n",
    )
    .unwrap();
    project.writer_script("w", "w.txt", "w\n");
    let plan = project.plan(&step("w", "w", ""));
    let output = project.run_enki(&["run", "--agent", "sim", "--plan", plan.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert!(
        stdout(&output).contains("· agent sim ·"),
        "{}",
        describe(&output)
    );
    assert_eq!(project.status_of("w"), "done");
    assert_eq!(
        std::fs::read_to_string(project.root.join("w.txt")).unwrap(),
        "w\n"
    );

    // Without the option the configured agent is used, and it does not exist.
    project.writer_script("v", "v.txt", "v\n");
    let plan = project.plan(&step("v", "v", ""));
    let output = project.run_enki(&["run", "--plan", plan.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let v = project.task_by_step("v");
    assert_eq!(v["status"], "failed", "{v}");
    assert!(
        v["last_error"]
            .as_str()
            .unwrap_or_default()
            .contains("no-such-agent-xyz"),
        "the error names the configured agent: {v}"
    );
    assert!(!project.root.join("v.txt").exists());
}

// ---------------------------------------------------------------------------
// 5. Artifact roles.

#[test]
fn an_artifact_role_saves_its_report_discards_its_edits_and_later_steps_are_told() {
    let project = recorded_project("");
    project.script(
        "research",
        r##"[[turn]]
steps = [
  { write = "ARTIFACT.md", content = "# Findings\n\nresearch-note-4711\n" },
  { write = "README.md", content = "overwritten by the researcher\n" },
  { write = "stray.txt", content = "should not land\n" },
  { say = "[OUTPUT]researched[/OUTPUT]" },
]
"##,
    );
    project.writer_script("w-use", "use.txt", "use\n");
    let plan = project.plan(
        &[
            step("r", "research", "role = \"researcher\""),
            step("use", "w-use", "needs = [\"r\"]"),
        ]
        .concat(),
    );
    let head_before = git(&project.root, &["rev-parse", "main"]);
    let output = project.run_enki(&["run", "--plan", plan.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));

    let r = project.task_by_step("r");
    assert_eq!(r["status"], "done", "{r}");
    let execution = r["execution_id"].as_str().unwrap();
    let artifact = project
        .enki_dir()
        .join("artifacts")
        .join(execution)
        .join("r.md");
    assert_eq!(
        std::fs::read_to_string(&artifact).unwrap_or_else(|e| panic!(
            "no artifact at {}: {e}\n{}",
            artifact.display(),
            describe(&output)
        )),
        "# Findings\n\nresearch-note-4711\n"
    );
    // The researcher's edits to the project were discarded, not merged.
    assert_eq!(
        std::fs::read_to_string(project.root.join("README.md")).unwrap(),
        "# scratch project\n"
    );
    assert!(!project.root.join("stray.txt").exists());
    assert!(!project.root.join("ARTIFACT.md").exists());
    let subjects = project.commit_subjects("main");
    assert!(
        !subjects.iter().any(|s| s.starts_with("Step r (")),
        "nothing of r was committed: {subjects:?}"
    );
    assert_eq!(
        git(&project.root, &["rev-parse", "main~1"]),
        head_before,
        "only use's commit landed: {subjects:?}"
    );
    assert!(
        git(&project.root, &["branch", "--list", "enki/*"])
            .trim()
            .is_empty()
    );

    // The researcher was read-only, and the step after it was told where
    // the artifact is.
    let r_id = r["id"].as_str().unwrap();
    let researcher = recorded(&project)
        .into_iter()
        .find(|a| a.task.as_deref() == Some(r_id))
        .expect("the researcher's conversation was recorded");
    assert!(
        researcher.args.iter().any(|a| a == "--no-edit"),
        "a read-only role's MCP server cannot edit: {:?}",
        researcher.args
    );
    assert_eq!(researcher.prompts.len(), 1);
    let use_prompts = worker_prompts(&project, &project.task_id("use"));
    assert_eq!(use_prompts.len(), 1, "one attempt");
    let prompt = &use_prompts[0];
    let listed = format!("# Artifacts you can read\n\n- {}\n", artifact.display());
    assert!(prompt.contains(&listed), "no artifact list in:\n{prompt}");
    assert_eq!(project.status_of("use"), "done");
    assert!(project.root.join("use.txt").exists());
}

// ---------------------------------------------------------------------------
// 6. Upstream outputs in prompts.

#[test]
fn a_dependent_is_prompted_with_the_output_of_the_step_it_needs() {
    let project = recorded_project("");
    project.script(
        "speaker",
        "[[turn]]\nsteps = [\n  { write = \"a.txt\", content = \"a\\n\" },\n  { say = \"Done.\\n[OUTPUT]a-said-this[/OUTPUT]\" },\n]\n",
    );
    project.writer_script("listener", "b.txt", "b\n");
    let plan = project.plan(
        &[
            step("a", "speaker", ""),
            step("b", "listener", "needs = [\"a\"]"),
        ]
        .concat(),
    );
    let output = project.run_enki(&["run", "--plan", plan.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert_eq!(project.task_by_step("a")["output"], "a-said-this");

    let a_prompts = worker_prompts(&project, &project.task_id("a"));
    assert_eq!(a_prompts.len(), 1);
    assert!(
        !a_prompts[0].contains("What the steps you depend on produced"),
        "a needs nothing:\n{}",
        a_prompts[0]
    );
    let b_prompts = worker_prompts(&project, &project.task_id("b"));
    assert_eq!(b_prompts.len(), 1, "one attempt");
    let prompt = &b_prompts[0];
    let section = prompt
        .split_once("# What the steps you depend on produced")
        .map(|(_, rest)| rest)
        .unwrap_or_else(|| panic!("no upstream section in:\n{prompt}"));
    assert!(
        section.contains("## a — Step a (done, needed merged)\na-said-this\n"),
        "a's output is not in b's prompt:\n{prompt}"
    );
}

// ---------------------------------------------------------------------------
// 7. The planner's batched notes.

/// How many signal files wait in `.enki/events/` (names only: the
/// coordinator may delete one while we look).
fn signal_files(project: &Project) -> usize {
    std::fs::read_dir(project.events_dir())
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| {
                    e.file_name()
                        .to_str()
                        .is_some_and(|n| n.starts_with("sig-") && n.ends_with(".json"))
                })
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn the_planner_gets_finished_and_failed_steps_and_mail_in_one_batch_between_turns() {
    let project = recorded_project("[workers]\nretries = 0\n");
    project.script(
        "broken",
        "[[turn]]\nsteps = [ { fail = \"disk on fire\" } ]\n",
    );
    // The worker mails the coordinator, then finishes.
    project.script(
        "mailer",
        r#"[[turn]]
steps = [
  { tool = "enki_mail_send", args = { to = "coordinator", subject = "subject-q42 which API?", body = "Should I use v1 or v2?", kind = "request" } },
  { write = "m.txt", content = "m\n" },
  { say = "[OUTPUT]m is written[/OUTPUT]" },
]
"#,
    );
    // The planner plans one step and keeps its first turn open until the
    // test lets it go, so everything that happens meanwhile is batched.
    project.script(
        "planner",
        r#"[[turn]]
steps = [
  { tool = "enki_execution_create", args = { title = "Mail and finish", steps = [ { id = "m", title = "Write m", description = "[[sim:mailer]]" }, { id = "x", title = "Break x", description = "[[sim:broken]]" } ] } },
  { run = "while [ ! -f \"$ENKI_DIR/planner-go\" ]; do sleep 0.02; done" },
  { say = "Waiting for news." },
]

[[turn]]
steps = [ { say = "Noted the news." } ]
"#,
    );
    let child = Running::start(&project, &["run", "write m and ask"]);
    project.wait_until("m merged, x failed and the mail signal applied", || {
        statuses(&project, &["m", "x"]) == ["done", "failed"] && signal_files(&project) == 0
    });
    open_gate(&project, "planner-go");
    let output = child.finish();
    assert_eq!(
        output.status.code(),
        Some(1),
        "x failed: {}",
        describe(&output)
    );
    let text = stdout(&output);
    assert!(text.contains("planner: Noted the news."), "{text}");

    let planner: Vec<Recorded> = recorded(&project)
        .into_iter()
        .filter(|a| a.role == "planner")
        .collect();
    assert_eq!(planner.len(), 1, "one planner process");
    let prompts = &planner[0].prompts;
    assert!(
        prompts.len() >= 2,
        "the planner had a second turn: {prompts:#?}"
    );
    assert!(prompts[0].contains("# The user's request\n\nwrite m and ask"));
    let batch = &prompts[1];
    let m = project.task_id("m");
    assert!(
        batch.starts_with("Events since your last turn:\n"),
        "{batch}"
    );
    let notes: Vec<&str> = batch.lines().skip(1).collect();
    assert!(
        notes
            .iter()
            .any(|n| n.starts_with("- mail ") && n.contains("subject-q42 which API?")),
        "no mail note in the batch:\n{batch}"
    );
    assert!(
        notes
            .iter()
            .any(|n| n.starts_with("- finished: step `m` (Write m, ")
                && n.contains(&m)
                && n.contains("Output: m is written")),
        "no finished note in the batch:\n{batch}"
    );
    let x = project.task_id("x");
    assert!(
        notes
            .iter()
            .any(|n| n.starts_with("- failed: step `x` (Break x, ")
                && n.contains(&x)
                && n.contains("disk on fire")),
        "no failed note in the batch:\n{batch}"
    );
    // Nothing was delivered twice.
    for later in &prompts[2..] {
        assert!(
            !later.contains("subject-q42")
                && !later.contains("finished: step `m`")
                && !later.contains("failed: step `x`"),
            "delivered again: {later}"
        );
    }
}
