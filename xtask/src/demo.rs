//! `cargo xtask demo`: builds enki and shows what works today, end to end,
//! in a scratch git project: a planner plans an execution through the real
//! `enki mcp`, a worker reads, edits and reports through its own server,
//! mail goes both ways, bad input is refused, and the inspection commands
//! show the result. Needs no network and no API key.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::bench::build_release_binary;
use crate::bench::client::{Client, outcome};

const TIMEOUT: Duration = Duration::from_secs(10);

pub fn run() -> ExitCode {
    match demo() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("demo failed: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn section(title: &str) {
    println!("\n\x1b[1m── {title} ──\x1b[0m");
}

fn git(dir: &Path, args: &[&str]) -> Result<()> {
    let status = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "enki demo")
        .env("GIT_AUTHOR_EMAIL", "demo@enki.invalid")
        .env("GIT_COMMITTER_NAME", "enki demo")
        .env("GIT_COMMITTER_EMAIL", "demo@enki.invalid")
        .stdout(Stdio::null())
        .status()
        .with_context(|| format!("running git {args:?}"))?;
    if !status.success() {
        bail!("git {args:?} failed");
    }
    Ok(())
}

/// Runs `enki <args>` in the project and prints its output, indented.
fn show(enki: &Path, project: &Path, args: &[&str]) -> Result<()> {
    println!("$ enki {}", args.join(" "));
    let output = Command::new(enki)
        .args(args)
        .current_dir(project)
        .env_remove("ENKI_DIR")
        .env_remove("ENKI_SESSION_ID")
        .output()
        .with_context(|| format!("running enki {args:?}"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    for line in text.lines() {
        println!("  {line}");
    }
    if !output.status.success() {
        bail!(
            "enki {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

fn mcp(enki: &Path, project: &Path, args: &[&str]) -> Result<Client> {
    let mut cmd = Command::new(enki);
    cmd.arg("mcp")
        .args(args)
        .current_dir(project)
        .env("ENKI_DIR", project.join(".enki"))
        .env("ENKI_SESSION_ID", "sess-demo");
    let mut client = Client::spawn(cmd, TIMEOUT)?;
    client.handshake()?;
    Ok(client)
}

/// Calls a tool, prints the call and the first lines of its answer.
fn call(client: &mut Client, who: &str, tool: &str, arguments: Value) -> Result<Value> {
    let response = client.call_tool(tool, arguments)?;
    let result = outcome(&response).map_err(|e| anyhow::anyhow!("{tool}: {e}"))?;
    print_result(who, tool, result);
    Ok(result.clone())
}

fn print_result(who: &str, tool: &str, result: &Value) {
    let text = result["content"][0]["text"].as_str().unwrap_or_default();
    println!("{who} → {tool}");
    for line in text.lines().take(14) {
        println!("    {line}");
    }
}

fn demo() -> Result<()> {
    let enki = build_release_binary("enki", "enki")?;
    let project: PathBuf = crate::workspace_root().join("target/enki-demo");
    if project.exists() {
        std::fs::remove_dir_all(&project).context("clearing the previous demo project")?;
    }
    std::fs::create_dir_all(project.join("src"))?;
    std::fs::write(project.join("README.md"), "# calc\n\nA tiny calculator.\n")?;
    std::fs::write(
        project.join("src/calc.py"),
        "def add(a, b):\n    return a + b\n",
    )?;
    git(&project, &["init", "-q", "-b", "main"])?;
    git(&project, &["add", "."])?;
    git(&project, &["commit", "-q", "-m", "initial"])?;

    section("1. enki init in a scratch git project");
    show(&enki, &project, &["init"])?;

    section("2. the planner plans through `enki mcp --role planner`");
    let mut planner = mcp(&enki, &project, &["--role", "planner"])?;
    let tools = planner.request("tools/list", json!({}))?;
    let count = tools["result"]["tools"].as_array().map_or(0, Vec::len);
    println!("planner sees {count} tools");
    let created = call(
        &mut planner,
        "planner",
        "enki_execution_create",
        json!({
            "title": "Add subtraction to calc",
            "steps": [
                {"id": "research", "title": "Survey how calc is tested", "role": "researcher", "tier": "light"},
                {"id": "implement", "title": "Add sub(a, b)", "needs": [{"step": "research", "condition": "completed"}]},
                {"id": "tests", "title": "Test add and sub", "needs": ["implement"]},
                {"id": "docs", "title": "Document sub in README", "role": "documenter", "needs": [{"step": "implement", "condition": "started"}]},
                {"id": "review", "title": "Review the change", "needs": ["tests", "docs"], "checkpoint": true}
            ]
        }),
    )?;
    let implement_task = created["structuredContent"]["steps"][1]["task_id"]
        .as_str()
        .context("task id of step implement")?
        .to_string();
    call(
        &mut planner,
        "planner",
        "enki_task_create",
        json!({"title": "Tidy imports", "tier": "light", "needs": [{"task": implement_task.clone(), "condition": "merged"}]}),
    )?;

    section("3. bad input is refused, and nothing is written");
    let response = planner.call_tool(
        "enki_execution_create",
        json!({"steps": [{"id": "a", "title": "A", "needs": ["b"]}, {"id": "b", "title": "B", "needs": ["a"]}]}),
    )?;
    if let Err(text) = outcome(&response) {
        println!("planner → enki_execution_create (cyclic)\n    {text}");
    }
    let response = planner.call_tool("enki_task_create", json!({"title": "x", "tier": "huge"}))?;
    if let Err(text) = outcome(&response) {
        println!("planner → enki_task_create (bad tier)\n    {text}");
    }

    section("4. a worker reads, edits and reports through its own server");
    let copy = project.join(".enki/copies").join(&implement_task);
    std::fs::create_dir_all(copy.join("src"))?;
    std::fs::copy(project.join("src/calc.py"), copy.join("src/calc.py"))?;
    let mut worker = mcp(
        &enki,
        &project,
        &["--role", "worker", "--task-id", &implement_task],
    )?;
    call(
        &mut worker,
        "worker",
        "enki_worker_report",
        json!({"status": "reading calc.py"}),
    )?;
    let read = call(
        &mut worker,
        "worker",
        "enki_read_file",
        json!({"path": "src/calc.py"}),
    )?;
    let last_anchor = read["content"][0]["text"]
        .as_str()
        .and_then(|t| t.lines().last())
        .and_then(|l| l.split('|').next())
        .context("anchor of the last line")?
        .to_string();
    call(
        &mut worker,
        "worker",
        "enki_edit_file",
        json!({"path": "src/calc.py", "edits": [{"op": "insert_after", "anchor": last_anchor, "lines": ["", "", "def sub(a, b):", "    return a - b"]}]}),
    )?;
    let response = worker.call_tool(
        "enki_edit_file",
        json!({"path": "../../../README.md", "edits": [{"op": "append", "lines": ["pwned"]}]}),
    )?;
    if let Err(text) = outcome(&response) {
        println!("worker → enki_edit_file (outside its copy)\n    {text}");
    }
    call(
        &mut worker,
        "worker",
        "enki_mail_send",
        json!({"to": "coordinator", "subject": "Name of the function?", "body": "sub or subtract?", "kind": "request", "priority": "high"}),
    )?;

    section("5. the planner answers its mail");
    let inbox = call(&mut planner, "planner", "enki_mail_check", json!({}))?;
    let message = inbox["structuredContent"]["messages"][0]["id"]
        .as_str()
        .context("the worker's message")?
        .to_string();
    call(
        &mut planner,
        "planner",
        "enki_mail_reply",
        json!({"message_id": message, "body": "sub, like the other short names", "status": "accepted"}),
    )?;
    call(
        &mut worker,
        "worker",
        "enki_worker_report",
        json!({"status": "added sub()", "output": "calc.sub(a, b) returns a - b"}),
    )?;
    planner.close()?;
    worker.close()?;

    section("6. what the coordinator will pick up: signal files in .enki/events/");
    let mut signals: Vec<PathBuf> = std::fs::read_dir(project.join(".enki/events"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    signals.sort();
    for path in &signals {
        let signal: Value = serde_json::from_slice(&std::fs::read(path)?)?;
        println!(
            "  {}  {}",
            path.file_name().and_then(|n| n.to_str()).unwrap_or("?"),
            signal["type"].as_str().unwrap_or("?")
        );
    }

    section("7. inspecting the project from another terminal");
    show(&enki, &project, &["status"])?;
    show(&enki, &project, &["dag"])?;
    show(&enki, &project, &["task", &implement_task[..19]])?;
    show(&enki, &project, &["mail"])?;

    section("done");
    println!("The scratch project is {}.", project.display());
    println!(
        "Look at .enki/logs/mcp/ (every message in and out) and .enki/logs/audit.jsonl (every tool call)."
    );
    println!(
        "Running agents on these tasks and merging their work is the coordinator's job, which is not built yet."
    );
    Ok(())
}
