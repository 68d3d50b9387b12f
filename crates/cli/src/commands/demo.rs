//! `enki demo [--dir PATH]`: a complete run of enki in a scratch git project,
//! with enki's scripted `sim` agent playing the planner, the workers and the
//! merger. No network, no API key.
//!
//! The project is a tiny shell calculator. The scripted planner creates an
//! execution of five dependent steps: a read-only researcher writes a report
//! (an artifact), two workers add `mul` and `div` in parallel and change the
//! same lines of `calc.sh`, so the second merge conflicts and the scripted
//! merger resolves it, then a documenter and a release step follow. Every
//! merge passes the verify hook (the project's tests) before `main` moves.
//! The coordinator runs in this process exactly as `enki run "<request>"`
//! does; then the demo prints what happened, where to look, and the final
//! state of the project.
//!
//! The scripts are `.enki-example/sim/` of enki's repository, built into the
//! binary; the verify hook is `.enki-example/verify.sh`.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, Result, bail};
use enki_core::TaskStatus;
use enki_project::Layout;
use enki_store::{ExecutionRow, Store, TaskFilter, TaskRow};
use enki_workspace::Git;

use super::run::{EXIT_FAILED, EXIT_OK, RunArgs, run_in};

/// `println!` that never panics: a closed stdout (`enki demo | head`) is
/// ignored and the demo runs to the end.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, $($arg)*);
        let _ = stdout.flush();
    }};
}

/// What the user asks the (scripted) planner.
pub const REQUEST: &str =
    "Add multiplication and division to calc, document every operation, and release 0.2.0.";

/// The sim scripts, written to `.enki/sim/`.
const SCRIPTS: &[(&str, &str)] = &[
    (
        "planner.toml",
        include_str!("../../../../.enki-example/sim/planner.toml"),
    ),
    (
        "survey.toml",
        include_str!("../../../../.enki-example/sim/survey.toml"),
    ),
    (
        "mul.toml",
        include_str!("../../../../.enki-example/sim/mul.toml"),
    ),
    (
        "div.toml",
        include_str!("../../../../.enki-example/sim/div.toml"),
    ),
    (
        "merger.toml",
        include_str!("../../../../.enki-example/sim/merger.toml"),
    ),
    (
        "docs.toml",
        include_str!("../../../../.enki-example/sim/docs.toml"),
    ),
    (
        "release.toml",
        include_str!("../../../../.enki-example/sim/release.toml"),
    ),
    (
        "meet.sh",
        include_str!("../../../../.enki-example/sim/meet.sh"),
    ),
];

/// The verify hook, written to `.enki/verify.sh`.
const VERIFY_SH: &str = include_str!("../../../../.enki-example/verify.sh");

/// `.enki/enki.toml` of the demo project.
const CONFIG: &str = r#"# enki.toml of `enki demo`. .enki-example/enki.toml in enki's repository
# documents every setting.

[agent]
# The planner, the workers and the merger all run `enki sim-agent`, which
# follows the scripts in [sim] scripts instead of asking a model.
command = "sim"

[sim]
scripts = "sim"

[workers]
# mul and div run at the same time.
max_workers = 2

[git]
base_branch = "main"

[sandbox]
# Agents write only their own copy and temp folder; the two parallel workers
# also meet in .enki/demo-meet (see sim/meet.sh).
writable = ["demo-meet"]

[merge]
# Runs on the merged result of every merge request (in a scratch checkout,
# with ENKI_DIR set) before main moves. Without this line enki would run
# .enki/verify.sh anyway; it is here to show the setting.
verify = 'sh "$ENKI_DIR/verify.sh"'
"#;

/// The starting project: calc 0.1.0.
const PROJECT: &[(&str, &str)] = &[
    (
        "README.md",
        "# calc\n\nA tiny command-line calculator in POSIX sh: `sh calc.sh add 2 3`.\n\n\
         Run the tests with `sh test.sh`.\n",
    ),
    (
        "calc.sh",
        r#"#!/bin/sh
# calc: a tiny command-line calculator (integers only).
VERSION="0.1.0"

usage() {
    echo "usage: sh calc.sh add|sub|version [A B]" >&2
    exit 2
}

case "$1" in
    add) echo $(($2 + $3)) ;;
    sub) echo $(($2 - $3)) ;;
    version) echo "calc $VERSION" ;;
    *) usage ;;
esac
"#,
    ),
    (
        "test.sh",
        r#"#!/bin/sh
# Runs every tests/*.sh file. A test calls `check NAME EXPECTED ACTUAL`;
# `calc ARGS` runs calc.sh and captures what it prints (stderr included).
cd "$(dirname "$0")" || exit 1
passed=0
failed=0
check() {
    if [ "$2" = "$3" ]; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "FAIL $1: expected '$2', got '$3'" >&2
    fi
}
calc() { sh ./calc.sh "$@" 2>&1; }
for test in tests/*.sh; do
    . "./$test"
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
"#,
    ),
    (
        "tests/test_basic.sh",
        r#"check "add" 5 "$(calc add 2 3)"
check "add negative" -1 "$(calc add 2 -3)"
check "sub" -1 "$(calc sub 2 3)"
sh ./calc.sh pow 2 3 2>/dev/null
check "unknown operation exits 2" 2 "$?"
"#,
    ),
    (
        "tests/test_version.sh",
        "check \"version\" \"calc 0.1.0\" \"$(calc version)\"\n",
    ),
];

/// The files shown at the end.
const KEY_FILES: &[&str] = &["calc.sh", "README.md", "CHANGELOG.md"];

/// Runs the demo; the exit code is `enki run`'s (0 when every step is done).
pub fn run(dir: Option<PathBuf>) -> Result<u8> {
    if std::env::var_os(enki_sim::SCRIPTS_ENV).is_some() {
        bail!(
            "{} is set in this shell and would replace the demo's scripts; run `env -u {} enki demo`",
            enki_sim::SCRIPTS_ENV,
            enki_sim::SCRIPTS_ENV
        );
    }
    let git_works = Command::new("git")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !git_works {
        bail!("enki demo needs git: install git 2.38 or newer and run it again");
    }
    let root = project_dir(dir)?;
    let style = Style::detect();
    say!(
        "{}",
        style.bold(
            "enki demo: a whole run with enki's scripted `sim` agent (no network, no API key)"
        )
    );

    style.section("1. A scratch project");
    write_project(&root)?;
    say!(
        "{}: calc 0.1.0, a tiny calculator in POSIX sh (calc.sh, test.sh, tests/, README.md),\n\
         one commit on main.\n",
        root.display()
    );
    say!("$ enki init");
    super::init::run(Some(root.clone()), false)?;
    let layout = Layout::for_project(&root);
    write_enki_files(&layout)?;
    say!(
        "\n.enki/enki.toml   every agent is `sim`, following the scripts in .enki/sim/; 2 workers at once\n\
         .enki/verify.sh   the verify hook: runs the project's tests on every merged result before main moves\n\
         .enki/sim/        the planner's, the workers' and the merger's scripts (.enki-example/sim/ in enki's repository)"
    );

    style.section(&format!("2. enki run \"{REQUEST}\""));
    let code = run_in(
        RunArgs {
            request: Some(REQUEST.to_string()),
            plan: None,
            agent: Some("sim".to_string()),
            json: false,
        },
        Some(&layout.dir),
    )
    .context("running the coordinator")?;

    let store = Store::open_existing(&layout.db())?;
    style.section("3. What happened");
    let story = account(&store, &layout)?;
    style.section("4. Where to look");
    where_to_look(&root, &story);
    style.section("5. The project now");
    final_state(&root)?;

    if code == EXIT_OK {
        say!(
            "\n{}",
            style.bold("The demo finished: every step is done and main holds every change.")
        );
        Ok(EXIT_OK)
    } else {
        say!(
            "\n{}",
            style.bold(&format!(
                "The demo did not finish cleanly (enki run exited with {code}); the project is kept in {} for a look.",
                root.display()
            ))
        );
        Ok(code.max(EXIT_FAILED))
    }
}

/// The folder to use: `dir` (created if missing, refused unless empty), or
/// a new folder in the system's temporary directory, kept afterwards.
fn project_dir(dir: Option<PathBuf>) -> Result<PathBuf> {
    let path = match dir {
        Some(dir) => {
            if dir.exists() {
                if !dir.is_dir() {
                    bail!("'{}' exists and is not a folder", dir.display());
                }
                let mut entries = std::fs::read_dir(&dir)
                    .with_context(|| format!("cannot read '{}'", dir.display()))?;
                if entries.next().is_some() {
                    bail!(
                        "'{}' is not empty; give a new or empty folder with --dir",
                        dir.display()
                    );
                }
            } else {
                std::fs::create_dir_all(&dir)
                    .with_context(|| format!("cannot create '{}'", dir.display()))?;
            }
            dir
        }
        None => tempfile::Builder::new()
            .prefix("enki-demo-")
            .tempdir()
            .context("cannot create a folder in the temporary directory")?
            .keep(),
    };
    path.canonicalize()
        .with_context(|| format!("cannot resolve '{}'", path.display()))
}

fn write_file(path: &Path, content: &str) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create '{}'", parent.display()))?;
    }
    std::fs::write(path, content).with_context(|| format!("cannot write '{}'", path.display()))
}

/// calc 0.1.0, committed on `main`.
fn write_project(root: &Path) -> Result<()> {
    for (name, content) in PROJECT {
        write_file(&root.join(name), content)?;
    }
    let git = Git::new(root);
    git.run(&["init", "--quiet"])?;
    git.run(&["symbolic-ref", "HEAD", "refs/heads/main"])?;
    // A scratch repository: never ask for a signing key.
    git.run(&["config", "commit.gpgsign", "false"])?;
    git.run(&["add", "--all"])?;
    git.run(&["commit", "--quiet", "-m", "calc 0.1.0: add and sub"])?;
    Ok(())
}

/// `.enki/enki.toml`, `.enki/verify.sh` and the scripts in `.enki/sim/`.
fn write_enki_files(layout: &Layout) -> Result<()> {
    write_file(&layout.config(), CONFIG)?;
    let verify = layout.dir.join("verify.sh");
    write_file(&verify, VERIFY_SH)?;
    make_executable(&verify)?;
    for (name, content) in SCRIPTS {
        write_file(&layout.dir.join("sim").join(name), content)?;
    }
    // Made here: the sandbox lets agents write in it, not create it.
    let meet = layout.dir.join("demo-meet");
    std::fs::create_dir_all(&meet)
        .with_context(|| format!("cannot create '{}'", meet.display()))?;
    Ok(())
}

#[cfg(unix)]
fn make_executable(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .with_context(|| format!("cannot make '{}' executable", path.display()))
}

#[cfg(not(unix))]
fn make_executable(_path: &Path) -> Result<()> {
    Ok(())
}

/// What the account found, for the "where to look" section.
#[derive(Default)]
struct Story {
    execution: Option<ExecutionRow>,
    tasks: Vec<TaskRow>,
    /// The task whose merge went through the merger.
    resolved: Option<String>,
}

/// Prints the execution step by step from the database, with the conflict,
/// the artifact and the verify runs.
fn account(store: &Store, layout: &Layout) -> Result<Story> {
    let mut story = Story::default();
    let Some(execution) = store.executions(None)?.into_iter().next() else {
        say!("The planner created no execution; see .enki/logs/agents/planner.log.");
        return Ok(story);
    };
    let tasks = store.tasks(&TaskFilter {
        execution_id: Some(execution.id.clone()),
        ..TaskFilter::default()
    })?;
    say!(
        "The planner created execution {} \"{}\" ({} steps); it is {}.",
        enki_core::id::short(&execution.id),
        execution.title,
        tasks.len(),
        execution.status
    );
    let dags = enki_views::gather_dag(store, Some(&execution.id), None)?;
    say!("\n$ enki dag\n{}", indent(&enki_views::dag_text(&dags)));
    say!("\nStep by step:");
    let width = tasks.iter().map(|t| t.step_id.len()).max().unwrap_or(0);
    for task in &tasks {
        let mut notes = Vec::new();
        let events = store.task_events(&task.id, 0, None)?;
        for event in &events {
            match event.kind.as_str() {
                "merge_conflict" => {
                    let files = event.data["files"]
                        .as_array()
                        .map(|f| {
                            f.iter()
                                .filter_map(|x| x.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        })
                        .unwrap_or_default();
                    notes.push(format!(
                        "its merge conflicted in {files} with work that landed first: \
                         the merge request went to `resolving` and enki ran the merger agent"
                    ));
                    story.resolved = Some(task.id.clone());
                }
                "merge_resolved" => notes.push(
                    "the merger resolved the conflict (no markers left); enki committed the \
                     resolution"
                        .to_string(),
                ),
                "merge_failed" | "verify_failed" => {
                    let why = event.data["error"]
                        .as_str()
                        .or(event.data["reason"].as_str())
                        .unwrap_or_default();
                    notes.push(format!("{}: {why}", event.kind.replace('_', " ")));
                }
                _ => {}
            }
        }
        let artifact = layout
            .artifacts()
            .join(&task.execution_id)
            .join(format!("{}.md", task.step_id));
        if artifact.is_file() {
            notes.push(format!(
                "read-only ({}): its report is the artifact {}",
                task.role.as_deref().unwrap_or("worker"),
                relative(layout.project_root(), &artifact)
            ));
        }
        for request in store.merge_requests_for(&task.id)? {
            match (&request.merged_commit, request.status.as_str()) {
                (Some(commit), "merged") => notes.push(format!(
                    "verified and merged into main as {}",
                    commit.chars().take(8).collect::<String>()
                )),
                (_, status) => notes.push(format!(
                    "merge request {status}{}",
                    request
                        .reason
                        .as_deref()
                        .map(|r| format!(": {r}"))
                        .unwrap_or_default()
                )),
            }
        }
        if task.status != TaskStatus::Done
            && let Some(error) = &task.last_error
        {
            notes.push(format!("last error: {error}"));
        }
        if let Some(output) = &task.output {
            notes.push(format!("output: {}", one_line(output)));
        }
        for (i, note) in notes.iter().enumerate() {
            let step = if i == 0 { task.step_id.as_str() } else { "" };
            say!("  {step:width$}  · {note}");
        }
    }
    let verify_logs = count_files(&layout.logs().join("verify"));
    say!(
        "\nThe verify hook ran {verify_logs} time(s), once per merge, before main moved \
         (its output: .enki/logs/verify/)."
    );
    let mail = store.messages(&enki_store::MailFilter::default())?;
    if !mail.is_empty() {
        say!("{} message(s) were sent by mail (enki mail).", mail.len());
    }
    story.execution = Some(execution);
    story.tasks = tasks;
    Ok(story)
}

fn where_to_look(root: &Path, story: &Story) {
    let id_of = |step: &str| {
        story
            .tasks
            .iter()
            .find(|t| t.step_id == step)
            .map(|t| enki_core::id::short(&t.id).to_string())
            .unwrap_or_else(|| "<task>".to_string())
    };
    let resolved = story
        .resolved
        .as_deref()
        .map(|id| enki_core::id::short(id).to_string())
        .unwrap_or_else(|| id_of("div"));
    let execution = story
        .execution
        .as_ref()
        .map(|e| e.id.clone())
        .unwrap_or_else(|| "<execution>".to_string());
    say!("cd {}, then:", root.display());
    // Right after `cargo run … demo` there is no `enki` on PATH yet.
    if super::agents::find_program("enki").is_none() {
        let this = std::env::current_exe()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| "target/release/enki".into());
        say!("  (`enki` is not on your PATH: install it with `cargo install --path crates/cli`");
        say!("   from enki's checkout, or type {this} for `enki` below)");
    }
    let commands = [
        (
            "enki status",
            "task counts, workers, the merge queue".to_string(),
        ),
        ("enki tasks", "every task with its status".to_string()),
        (
            "enki dag",
            "the execution as a dependency graph".to_string(),
        ),
        (
            "enki task ID",
            format!(
                "one task in full: dependencies, attempts, output, merge requests (try {resolved})"
            ),
        ),
        (
            "enki logs ID",
            format!(
                "one task's event log: tool calls, replies, merge_conflict, merge_resolved (try {resolved})"
            ),
        ),
        ("enki mail", "the mail the agents sent".to_string()),
        (
            "git log --stat",
            "one squash commit per step that changed files".to_string(),
        ),
    ];
    for (command, what) in commands {
        say!("  {command:16} {what}");
    }
    say!("and in .enki/:");
    say!("  artifacts/{execution}/survey.md");
    say!("  {:18} the researcher's report", "");
    let files = [
        (
            "logs/verify/",
            "the verify hook's output, one file per merge",
        ),
        (
            "logs/agents/",
            "each agent's stderr: planner, <task>-<attempt>, merger-<task>",
        ),
        (
            "logs/enki.log",
            "the coordinator's own log: what happened, warnings",
        ),
        ("logs/mcp/", "every MCP message of every agent"),
        ("logs/mcp.log", "the MCP servers' own log"),
        ("logs/audit.jsonl", "every MCP tool call"),
        ("sim/", "the scripts the agents followed"),
        ("enki.toml", "the configuration"),
    ];
    for (path, what) in files {
        say!("  {path:18} {what}");
    }
    say!(
        "To run the same with a real agent, see the README: `enki run --agent claude \"...\"` in any git project."
    );
}

/// `git log --oneline`, the key files, and the tests.
fn final_state(root: &Path) -> Result<()> {
    let git = Git::new(root);
    say!("$ git log --oneline");
    say!("{}", indent(&git.run(&["log", "--oneline", "main"])?));
    for file in KEY_FILES {
        let path = root.join(file);
        if let Ok(text) = std::fs::read_to_string(&path) {
            say!("\n$ cat {file}");
            say!("{}", indent(text.trim_end()));
        }
    }
    say!("\n$ sh test.sh");
    let output = Command::new("sh")
        .arg("test.sh")
        .current_dir(root)
        .output()
        .context("running sh test.sh")?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    say!("{}", indent(text.trim_end()));
    Ok(())
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("  {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

fn count_files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| entries.filter_map(Result::ok).count())
        .unwrap_or(0)
}

/// Bold headings when stdout is a terminal, plain text otherwise.
struct Style {
    color: bool,
}

impl Style {
    fn detect() -> Style {
        Style {
            color: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
        }
    }

    fn bold(&self, text: &str) -> String {
        if self.color {
            format!("\x1b[1m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    fn section(&self, title: &str) {
        say!("\n{}", self.bold(&format!("── {title} ──")));
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn example(path: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../.enki-example")
            .join(path)
    }

    #[test]
    fn the_example_config_parses_with_every_key() {
        let file = example("enki.toml");
        let config = enki_config::Config::load_files(std::slice::from_ref(&file))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config, {
            let mut defaults = enki_config::Config::default();
            defaults.agent.base.command = Some("claude".into());
            defaults
        });
        // Every commented-out `key = value` line and table is valid too.
        let text = std::fs::read_to_string(&file).unwrap();
        let uncommented: String = text
            .lines()
            .map(|line| match line.strip_prefix("# ") {
                Some(rest) if looks_like_setting(rest) => rest,
                _ => line,
            })
            .collect::<Vec<_>>()
            .join("\n");
        let mut config = enki_config::Config::default();
        config
            .apply_str(&file, &uncommented)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.workers.max_heavy, Some(1));
        assert_eq!(config.agent.merger.args.as_deref().map(<[_]>::len), Some(2));
        assert_eq!(config.git.base_branch.as_deref(), Some("main"));
        assert_eq!(config.merge.verify.as_deref(), Some("cargo test"));
        assert!(config.sim.scripts.is_some());
        assert_eq!(config.prices.of("sim").map(|p| p.output), Some(2.0));
        assert_eq!(config.budget.per_task.cost, Some(5.0));
        assert_eq!(config.budget.floor.tokens, Some(50_000));
    }

    /// `key = value` with a lowercase key: an example setting, not prose.
    fn looks_like_setting(line: &str) -> bool {
        line.split_once(" = ").is_some_and(|(key, _)| {
            !key.is_empty() && key.chars().all(|c| c.is_ascii_lowercase() || c == '_')
        })
    }

    #[test]
    fn the_example_roles_parse() {
        for name in ["auditor", "test_writer"] {
            let path = example(&format!("roles/{name}.toml"));
            let text = std::fs::read_to_string(&path).unwrap();
            let role = enki_core::role::Role::parse_toml(&path.display().to_string(), &text)
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(role.name, name);
            assert!(!role.description.is_empty() && !role.system_prompt.is_empty());
        }
    }

    #[test]
    fn the_demo_scripts_parse() {
        for (name, text) in SCRIPTS {
            if let Some(stem) = name.strip_suffix(".toml") {
                let script =
                    enki_sim::script::parse(text, enki_sim::script::Format::Toml, Path::new(name))
                        .unwrap_or_else(|e| panic!("{e}"));
                assert!(!script.turns.is_empty(), "{stem}");
            }
        }
        let config = enki_config::Config::default();
        let mut config = config;
        config
            .apply_str(Path::new("/demo/.enki/enki.toml"), CONFIG)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.workers.max_workers, 2);
        assert_eq!(config.agent.base.command.as_deref(), Some("sim"));
    }

    #[test]
    fn the_demo_refuses_a_folder_that_is_not_empty() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("x"), "").unwrap();
        let err = project_dir(Some(dir.path().to_path_buf())).unwrap_err();
        assert!(err.to_string().contains("is not empty"), "{err}");
        let file = dir.path().join("x");
        let err = project_dir(Some(file)).unwrap_err();
        assert!(err.to_string().contains("not a folder"), "{err}");
        let fresh = dir.path().join("new/demo");
        assert_eq!(
            project_dir(Some(fresh.clone())).unwrap(),
            fresh.canonicalize().unwrap()
        );
    }
}
