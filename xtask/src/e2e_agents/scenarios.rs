//! The scenarios of `cargo xtask e2e-agents`: each builds a project, scripts
//! the agents (the planner from the request's marker, workers and mergers
//! from markers in the step descriptions the planner writes), runs enki and
//! checks what happened on disk and in git.

use anyhow::Result;
use serde_json::json;

use super::script::{CWD, Role, Script, Step};
use super::supervision;
use super::{Outcome, Run, Scratch, World, enki_run};

/// A scenario: sets up, runs enki, checks.
pub type Scenario = fn(&World) -> Outcome;

/// Every scenario, by name.
pub const ALL: &[(&str, Scenario)] = &[
    ("conflict", conflict),
    ("worker-escape", worker_escape),
    ("planner-writes", planner_writes),
    ("mode", supervision::mode),
    ("kill-term", supervision::kill_term),
    ("kill-hup", supervision::kill_hup),
    ("kill-kill", supervision::kill_kill),
];

/// Every role on the `claude` preset; no retry, so a failed worker shows.
const CONFIG: &str = r#"
[agent]
command = "claude"
init_timeout_secs = 120

[workers]
max_workers = 2
retries = 0

[merge]
resolve_timeout_secs = 300
"#;

const SHAPES: &str = "shapes:\n- circle\n";
const RESOLVED: &str = "shapes:\n- circle\n- square\n- triangle\n";
const SUMMARY: &str = "# Shapes\n\nA circle, a square and a triangle.\n";

fn tool(name: &'static str, input: serde_json::Value) -> Step {
    Step::Tool { name, input }
}

fn report(status: &str) -> Step {
    tool("mcp__enki__enki_worker_report", json!({"status": status}))
}

fn script(role: Role, marker: &str, steps: Vec<Step>) -> Script {
    Script {
        role,
        marker: marker.to_owned(),
        steps,
    }
}

fn cwd(name: &str) -> String {
    format!("{CWD}/{name}")
}

/// Failures common to every run: how enki ended (`exit_code` expected),
/// turns no script knew, and whether Claude Code could keep its state
/// (sessions, settings) in the scratch HOME's `~/.claude`, in the sandbox.
pub fn run_failures(scratch: &Scratch, run: &Run, exit_code: i32) -> Vec<String> {
    let mut failures = Vec::new();
    match run.status {
        None => failures.push(format!(
            "enki run did not end within {} s",
            super::RUN_TIMEOUT.as_secs()
        )),
        Some(status) if status.code() != Some(exit_code) => {
            failures.push(format!("enki run ended with {status}, not {exit_code}"));
        }
        Some(_) => {}
    }
    failures.extend(
        run.record
            .anomalies
            .iter()
            .map(|a| format!("fake API: {a}")),
    );
    // Claude's own `auto` mode would approve everything itself; enki must
    // have been asked.
    if run.permissions.is_empty() {
        failures.push(
            "enki answered no permission request: the agents never asked (a session left in a \
             mode that approves by itself?)"
                .into(),
        );
    }
    let state = scratch.home.join(".claude");
    if !std::fs::read_dir(&state).is_ok_and(|mut entries| entries.next().is_some()) {
        failures.push(format!("Claude Code kept nothing in {}", state.display()));
    }
    failures
}

/// The result the agent got for the call to `tool` on something containing
/// `target`, if it made that call.
fn result_of<'a>(
    run: &'a Run,
    agent: &str,
    tool: &str,
    target: &str,
) -> Option<&'a super::Observed> {
    run.record
        .observed
        .iter()
        .find(|o| o.agent == agent && o.tool == tool && o.input.to_string().contains(target))
}

/// 1. A plan of three steps where two conflict: the merger (Claude too)
///    keeps both sides, and everything lands on main; the tokens each role
///    used are recorded.
fn conflict(world: &World) -> Outcome {
    Outcome::of(
        "conflict",
        "a plan of three steps, two of them conflicting, landed on main; the merger resolved the conflict; enki usage recorded every role's tokens",
        conflict_run(world),
    )
}

fn conflict_run(world: &World) -> Result<(Scratch, Run, Vec<String>)> {
    let scratch = Scratch::new(world, &[("shapes.txt", SHAPES)], CONFIG)?;
    let plan = json!({
        "title": "Shapes",
        "steps": [
            {"id": "square", "title": "Add a square",
             "description": "Add `- square` to shapes.txt. [[e2e:conflict-square]]"},
            {"id": "triangle", "title": "Add a triangle",
             "description": "Add `- triangle` to shapes.txt. [[e2e:conflict-triangle]]"},
            {"id": "summary", "title": "Summarise the shapes",
             "description": "Write SUMMARY.md about the shapes. [[e2e:conflict-summary]]",
             "needs": ["square", "triangle"]},
        ],
    });
    let merger = vec![
        tool("Read", json!({"file_path": cwd("shapes.txt")})),
        tool(
            "Write",
            json!({"file_path": cwd("shapes.txt"), "content": RESOLVED}),
        ),
        Step::Answer(
            "Kept both shapes.\n[OUTPUT]\nKept the square and the triangle.\n[/OUTPUT]".into(),
        ),
    ];
    let scripts = vec![
        script(
            Role::Planner,
            "conflict",
            vec![
                tool("mcp__enki__enki_execution_create", plan),
                Step::Answer("Planned three steps.".into()),
            ],
        ),
        script(
            Role::Worker,
            "conflict-square",
            vec![
                report("adding a square"),
                tool("Read", json!({"file_path": cwd("shapes.txt")})),
                tool(
                    "Edit",
                    json!({"file_path": cwd("shapes.txt"),
                "old_string": "- circle\n", "new_string": "- circle\n- square\n"}),
                ),
                Step::Answer("[OUTPUT]\nAdded a square.\n[/OUTPUT]".into()),
            ],
        ),
        script(
            Role::Worker,
            "conflict-triangle",
            vec![
                report("adding a triangle"),
                tool(
                    "Bash",
                    json!({"command": "printf -- '- triangle\\n' >> shapes.txt",
                "description": "Append a triangle"}),
                ),
                Step::Answer("[OUTPUT]\nAdded a triangle.\n[/OUTPUT]".into()),
            ],
        ),
        script(
            Role::Worker,
            "conflict-summary",
            vec![
                tool("Read", json!({"file_path": cwd("shapes.txt")})),
                tool(
                    "Write",
                    json!({"file_path": cwd("SUMMARY.md"), "content": SUMMARY}),
                ),
                report("summary written"),
                Step::Answer("[OUTPUT]\nWrote SUMMARY.md.\n[/OUTPUT]".into()),
            ],
        ),
        script(Role::Merger, "conflict-square", merger.clone()),
        script(Role::Merger, "conflict-triangle", merger),
    ];
    let run = enki_run(
        world,
        &scratch,
        scripts,
        "Add a square and a triangle to shapes.txt, then summarise them. [[e2e:conflict]]",
    )?;
    let mut failures = run_failures(&scratch, &run, 0);
    let subjects = scratch.git(&["log", "--format=%s", "main"])?;
    for title in ["Add a square", "Add a triangle", "Summarise the shapes"] {
        if !subjects.lines().any(|s| s.starts_with(title)) {
            failures.push(format!(
                "main has no commit `{title} (…)`; its log:\n{subjects}"
            ));
        }
    }
    if subjects.lines().count() != 4 {
        failures.push(format!(
            "main should hold the initial commit and three steps; its log:\n{subjects}"
        ));
    }
    let shapes = scratch
        .git(&["show", "main:shapes.txt"])
        .unwrap_or_default();
    if shapes != RESOLVED {
        failures.push(format!(
            "main's shapes.txt is {shapes:?}, not both sides {RESOLVED:?}"
        ));
    }
    let summary = scratch
        .git(&["show", "main:SUMMARY.md"])
        .unwrap_or_default();
    if summary != SUMMARY {
        failures.push(format!("main's SUMMARY.md is {summary:?}"));
    }
    if !run
        .record
        .turns
        .iter()
        .flatten()
        .any(|a| a.starts_with("merger "))
    {
        failures.push("no merger turn reached the fake API".into());
    }
    let merged = ["conflict-square", "conflict-triangle"]
        .iter()
        .filter_map(|m| result_of(&run, &format!("merger {m}"), "Write", "shapes.txt"))
        .any(|o| !o.is_error);
    if !merged {
        failures.push("the merger's Write of shapes.txt did not succeed".into());
    }
    match result_of(&run, "worker conflict-summary", "Read", "shapes.txt") {
        Some(read) if read.result.contains("square") && read.result.contains("triangle") => {}
        other => failures.push(format!(
            "the summary step did not start from both shapes: its Read gave {:?}",
            other.map(|o| &o.result)
        )),
    }
    let status = scratch.git(&["status", "--porcelain"])?;
    if !status.is_empty() {
        failures.push(format!(
            "the project's working tree is not clean:\n{status}"
        ));
    }
    failures.extend(usage_failures(
        world,
        &scratch,
        &["planner", "worker", "merger"],
    )?);
    Ok((scratch, run, failures))
}

/// What `enki usage --by role --json` recorded of each of `roles`: the
/// input and output tokens the fake API reported to Claude Code, which its
/// ACP adapter passed on in its prompt responses, must be there and not
/// zero (issue 16: usage recorded from a real agent).
fn usage_failures(world: &World, scratch: &Scratch, roles: &[&str]) -> Result<Vec<String>> {
    let out = std::process::Command::new(&world.enki)
        .args(["usage", "--by", "role", "--json"])
        .current_dir(&scratch.project)
        .env("HOME", &scratch.home)
        .stdin(std::process::Stdio::null())
        .output()?;
    if !out.status.success() {
        return Ok(vec![format!(
            "enki usage --json failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )]);
    }
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let mut failures = Vec::new();
    for role in roles {
        let group = report["groups"]
            .as_array()
            .and_then(|groups| groups.iter().find(|g| g["key"] == *role));
        let tokens = group.map(|g| &g["totals"]["tokens"]);
        let counted = |kind: &str| tokens.and_then(|t| t[kind].as_u64()).unwrap_or(0);
        if counted("input") == 0 || counted("output") == 0 {
            failures.push(format!(
                "enki usage recorded no input and output tokens for the {role}: {report}"
            ));
        }
    }
    Ok(failures)
}

/// 2. A worker's Write and Bash outside its copy are refused, and nothing
///    appears outside it; its legitimate work still lands.
fn worker_escape(world: &World) -> Outcome {
    Outcome::of(
        "worker-escape",
        "a worker's Write and Bash outside its copy were refused and wrote nothing there; its own work landed",
        worker_escape_run(world),
    )
}

fn worker_escape_run(world: &World) -> Result<(Scratch, Run, Vec<String>)> {
    let scratch = Scratch::new(world, &[("README.md", "e2e\n")], CONFIG)?;
    let targets = [
        scratch.outside.join("by-write.txt"),
        scratch.project.join("by-write.txt"),
        scratch.outside.join("by-bash.txt"),
        scratch.project.join("by-bash.txt"),
        scratch.home.join("by-bash.txt"),
        scratch.project.join("by-bash-cd.txt"),
        scratch.home.join("by-sh.txt"),
    ];
    let [
        outside_write,
        project_write,
        outside_bash,
        project_bash,
        home_bash,
        ..,
    ] = targets.each_ref().map(|p| p.display().to_string());
    let bash = |target: &str| {
        tool(
            "Bash",
            json!({"command": format!("echo escaped > {target}"),
            "description": "Write outside the copy"}),
        )
    };
    let scripts = vec![
        script(
            Role::Planner,
            "escape",
            vec![
                tool(
                    "mcp__enki__enki_task_create",
                    json!({"title": "Add notes",
                "description": "Write notes.txt. [[e2e:escape-worker]]"}),
                ),
                Step::Answer("Created one task.".into()),
            ],
        ),
        script(
            Role::Worker,
            "escape-worker",
            vec![
                report("trying the walls"),
                tool(
                    "Write",
                    json!({"file_path": outside_write, "content": "escaped\n"}),
                ),
                tool(
                    "Write",
                    json!({"file_path": project_write, "content": "escaped\n"}),
                ),
                bash(&outside_bash),
                bash(&project_bash),
                bash(&home_bash),
                // Commands whose targets no permission request can name: only
                // the OS sandbox stops these.
                tool(
                    "Bash",
                    json!({"command": "cd ../../.. && echo escaped > by-bash-cd.txt",
                "description": "Write into the project from its root"}),
                ),
                tool(
                    "Bash",
                    json!({"command": "sh -c 'echo escaped > \"$HOME/by-sh.txt\"'",
                "description": "Write into HOME"}),
                ),
                tool(
                    "Write",
                    json!({"file_path": cwd("notes.txt"), "content": "notes\n"}),
                ),
                Step::Answer("[OUTPUT]\nWrote notes.txt.\n[/OUTPUT]".into()),
            ],
        ),
    ];
    let run = enki_run(world, &scratch, scripts, "Add notes. [[e2e:escape]]")?;
    let mut failures = run_failures(&scratch, &run, 0);
    for (tool, target) in [
        ("Write", outside_write.as_str()),
        ("Write", &project_write),
        ("Bash", &outside_bash),
        ("Bash", &project_bash),
        ("Bash", &home_bash),
        ("Bash", "by-bash-cd.txt"),
        ("Bash", "by-sh.txt"),
    ] {
        if result_of(&run, "worker escape-worker", tool, target).is_none() {
            failures.push(format!(
                "the worker's {tool} of {target} never came back to the model"
            ));
        }
    }
    for target in &targets {
        if target.exists() {
            failures.push(format!(
                "{} exists: the worker wrote outside its copy",
                target.display()
            ));
        }
    }
    let outside: Vec<_> = std::fs::read_dir(&scratch.outside)?
        .flatten()
        .map(|e| e.path())
        .collect();
    if !outside.is_empty() {
        failures.push(format!("the folder outside the project holds {outside:?}"));
    }
    let status = scratch.git(&["status", "--porcelain"])?;
    if !status.is_empty() {
        failures.push(format!(
            "the project's working tree has changes no step made:\n{status}"
        ));
    }
    if scratch.git(&["show", "main:notes.txt"]).unwrap_or_default() != "notes\n" {
        failures.push("the worker's notes.txt did not land on main".into());
    }
    Ok((scratch, run, failures))
}

/// 3. The planner cannot change the project: not by Write, Edit, a shell
///    command, or git.
fn planner_writes(world: &World) -> Outcome {
    Outcome::of(
        "planner-writes",
        "the planner's Write, Edit, Bash and git commit in the project were refused and changed nothing",
        planner_writes_run(world),
    )
}

fn planner_writes_run(world: &World) -> Result<(Scratch, Run, Vec<String>)> {
    let scratch = Scratch::new(world, &[("README.md", "e2e\n")], CONFIG)?;
    let head = scratch.git(&["rev-parse", "HEAD"])?;
    let scripts = vec![script(
        Role::Planner,
        "planner-writes",
        vec![
            tool(
                "Write",
                json!({"file_path": cwd("planner-write.txt"), "content": "planner\n"}),
            ),
            tool("Read", json!({"file_path": cwd("README.md")})),
            tool(
                "Edit",
                json!({"file_path": cwd("README.md"),
            "old_string": "e2e", "new_string": "the planner was here"}),
            ),
            tool(
                "Bash",
                json!({"command": "echo planner > planner-bash.txt",
            "description": "Write into the project"}),
            ),
            tool(
                "Bash",
                json!({"command": "git commit -q --allow-empty -m planner-commit",
            "description": "Commit in the project"}),
            ),
            Step::Answer("I may not change the project.".into()),
        ],
    )];
    let run = enki_run(
        world,
        &scratch,
        scripts,
        "Change the project yourself. [[e2e:planner-writes]]",
    )?;
    // The planner made no task: `enki run` says nothing ran.
    let mut failures = run_failures(&scratch, &run, 3);
    for (tool, target) in [
        ("Write", "planner-write.txt"),
        ("Edit", "README.md"),
        ("Bash", "planner-bash.txt"),
        ("Bash", "planner-commit"),
    ] {
        if result_of(&run, "planner planner-writes", tool, target).is_none() {
            failures.push(format!(
                "the planner's {tool} of {target} never came back to the model"
            ));
        }
    }
    for name in ["planner-write.txt", "planner-bash.txt"] {
        if scratch.read(name).is_some() {
            failures.push(format!("the planner wrote {name} into the project"));
        }
    }
    if scratch.read("README.md").as_deref() != Some("e2e\n") {
        failures.push(format!(
            "the planner changed README.md: {:?}",
            scratch.read("README.md")
        ));
    }
    if scratch.git(&["rev-parse", "HEAD"])? != head {
        failures.push("the planner moved HEAD".into());
    }
    let status = scratch.git(&["status", "--porcelain"])?;
    if !status.is_empty() {
        failures.push(format!("the project's working tree changed:\n{status}"));
    }
    Ok((scratch, run, failures))
}
