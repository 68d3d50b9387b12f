//! The supervision scenarios of `cargo xtask e2e-agents`: Claude Code's
//! session is switched from its own `auto` mode to one that asks, and enki
//! says so (`mode`); `enki run` stopped by SIGTERM or SIGHUP, or killed by
//! SIGKILL, while a real Claude worker runs a command and a daemon, leaves
//! no process of the project behind and a truthful `enki status`
//! (`kill-term`, `kill-hup`, `kill-kill`).

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use super::script::{CWD, Role, Script, Step};
use super::{Model, Outcome, Run, Scratch, World, enki, finish_run, start_run};

/// Every role on the `claude` preset; no retry.
const CONFIG: &str = r#"
[agent]
command = "claude"
init_timeout_secs = 120

[workers]
max_workers = 1
retries = 0
"#;

/// How long the kernel may take to end what was contained once enki ended.
const GONE_WITHIN: Duration = Duration::from_secs(2);
/// How long the worker may take to reach its command.
const BUSY_WITHIN: Duration = Duration::from_secs(300);
/// How long `enki run` may take to stop after SIGTERM or SIGHUP.
const STOP_WITHIN: Duration = Duration::from_secs(60);

fn tool(name: &'static str, input: Value) -> Step {
    Step::Tool { name, input }
}

fn script(role: Role, marker: &str, steps: Vec<Step>) -> Script {
    Script {
        role,
        marker: marker.to_owned(),
        steps,
    }
}

/// A planner that makes one task whose description names `worker`'s script.
fn planner(marker: &str, worker: &str) -> Script {
    script(
        Role::Planner,
        marker,
        vec![
            tool(
                "mcp__enki__enki_task_create",
                json!({"title": "Write notes",
                       "description": format!("Write notes.txt. [[e2e:{worker}]]")}),
            ),
            Step::Answer("Created one task.".into()),
        ],
    )
}

/// The mode every session should end in, as enki words it.
const SWITCHED: &str = "`default` (asks before acting; switched from `auto`)";

/// 4. Claude Code 0.101 starts its sessions in `auto`; enki switches them
///    to `default`, where Claude asks before acting, and reports the mode.
pub fn mode(world: &World) -> Outcome {
    Outcome::of(
        "mode",
        "Claude's sessions were switched from `auto` to `default` and enki reported it (doctor, agent-test, the run's log); the worker's Write asked enki",
        mode_run(world),
    )
}

fn mode_run(world: &World) -> Result<(Scratch, Run, Vec<String>)> {
    let scratch = Scratch::new(world, &[("README.md", "e2e\n")], CONFIG)?;
    let scripts = vec![
        planner("mode", "mode-worker"),
        script(
            Role::Worker,
            "mode-worker",
            vec![
                tool(
                    "Write",
                    json!({"file_path": format!("{CWD}/notes.txt"), "content": "notes\n"}),
                ),
                Step::Answer("[OUTPUT]\nWrote notes.txt.\n[/OUTPUT]".into()),
            ],
        ),
    ];
    let model = Model::start(&scratch, scripts)?;
    let mut failures = Vec::new();
    let doctor = output_of(enki(world, &scratch, &model, &["doctor"])?)?;
    if !doctor
        .lines()
        .any(|l| l.contains("session mode of agent claude") && l.contains(SWITCHED))
    {
        failures.push(format!(
            "`enki doctor` does not report the session mode {SWITCHED}:\n{doctor}"
        ));
    }
    let agent_test = output_of(enki(world, &scratch, &model, &["agent-test"])?)?;
    for expected in [
        "→ session/set_mode default (the agent starts in `auto`".to_owned(),
        format!("worker mode: {SWITCHED}"),
    ] {
        if !agent_test.contains(&expected) {
            failures.push(format!(
                "`enki agent-test` does not say `{expected}`:\n{agent_test}"
            ));
        }
    }
    let child = start_run(world, &scratch, &model, "Write notes. [[e2e:mode]]")?;
    let run = finish_run(&scratch, &model, child, super::RUN_TIMEOUT)?;
    failures.extend(super::scenarios::run_failures(&scratch, &run, 0));
    let log = scratch.enki_log();
    // enki's name for the planner's role is `coordinator`.
    for role in ["coordinator", "worker"] {
        let reported = log.lines().any(|l| {
            l.contains("session opened")
                && l.contains(&format!("role={role}"))
                && l.contains(SWITCHED)
        });
        if !reported {
            failures.push(format!(
                "enki's log has no `session opened` of the {role} in mode {SWITCHED}"
            ));
        }
    }
    // In `auto` Claude would have written without asking.
    if !run.permissions.iter().any(|p| p.contains("Write")) {
        failures.push(format!(
            "the worker's Write did not ask enki; enki's answers: {:?}",
            run.permissions
        ));
    }
    if scratch.git(&["show", "main:notes.txt"]).unwrap_or_default() != "notes\n" {
        failures.push("the worker's notes.txt did not land on main".into());
    }
    Ok((scratch, run, failures))
}

/// `command`'s standard output and error, whatever its exit status.
fn output_of(mut command: std::process::Command) -> Result<String> {
    let out = command.output().context("running enki")?;
    Ok(format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    ))
}

/// 5–7. `enki run` ended by `signal` while its Claude worker runs a command
///    in the foreground and a daemon (`setsid`, out of the worker's process
///    group and out of `.enki/`): within 2 s of enki's end nothing of the
///    project runs, and `enki status` says no coordinator runs.
pub fn kill_term(world: &World) -> Outcome {
    kill(world, "kill-term", libc::SIGTERM)
}

pub fn kill_hup(world: &World) -> Outcome {
    kill(world, "kill-hup", libc::SIGHUP)
}

pub fn kill_kill(world: &World) -> Outcome {
    kill(world, "kill-kill", libc::SIGKILL)
}

fn kill(world: &World, name: &'static str, signal: libc::c_int) -> Outcome {
    let claim = match signal {
        libc::SIGKILL => {
            "enki run killed by SIGKILL mid-command: within 2 s no process of the project was left (Claude, its command, its daemon, enki's MCP server), and enki status said no coordinator runs"
        }
        libc::SIGTERM => {
            "enki run stopped by SIGTERM mid-command: it stopped its worker, within 2 s no process of the project was left, and enki status said no coordinator runs"
        }
        _ => {
            "enki run stopped by SIGHUP mid-command: it stopped its worker, within 2 s no process of the project was left, and enki status said no coordinator runs"
        }
    };
    Outcome::of(name, claim, kill_run(world, name, signal))
}

fn kill_run(world: &World, name: &str, signal: libc::c_int) -> Result<(Scratch, Run, Vec<String>)> {
    let scratch = Scratch::new(world, &[("README.md", "e2e\n")], CONFIG)?;
    // Only this scenario's processes carry it (as `$0` of their shells).
    let marker = format!("e2e-{name}-{}", std::process::id());
    let command = format!(
        "setsid sh -c 'cd /; while :; do sleep 1; done' {marker}-daemon > /dev/null 2>&1 < /dev/null & \
         sh -c 'while :; do sleep 1; done' {marker}-busy"
    );
    let worker = format!("{name}-worker");
    let scripts = vec![
        planner(name, &worker),
        script(
            Role::Worker,
            &worker,
            vec![
                tool(
                    "Bash",
                    json!({"command": command, "description": "Work for a long time",
                           "timeout": 600_000}),
                ),
                Step::Answer("[OUTPUT]\nDone.\n[/OUTPUT]".into()),
            ],
        ),
    ];
    let model = Model::start(&scratch, scripts)?;
    let request = format!("Write notes. [[e2e:{name}]]");
    let mut child = start_run(world, &scratch, &model, &request)?;
    let busy = wait_until_busy(&mut child, &marker);
    if let Err(e) = busy {
        let run = finish_run(&scratch, &model, child, Duration::ZERO)?;
        return Ok((scratch, run, vec![format!("{e:#}")]));
    }
    let mut failures = Vec::new();
    let sent = std::process::Command::new("kill")
        .args([format!("-{signal}"), child.id().to_string()])
        .status()
        .context("running kill")?;
    if !sent.success() {
        bail!("kill -{signal} {} failed ({sent})", child.id());
    }
    let run = finish_run(&scratch, &model, child, STOP_WITHIN)?;
    let ended = Instant::now();
    failures.extend(
        run.record
            .anomalies
            .iter()
            .map(|a| format!("fake API: {a}")),
    );
    match run.status {
        None => failures.push(format!(
            "enki run did not stop within {} s of the signal",
            STOP_WITHIN.as_secs()
        )),
        Some(status) if signal == libc::SIGKILL => {
            if status.signal() != Some(libc::SIGKILL) {
                failures.push(format!("enki run ended with {status}, not killed"));
            }
        }
        Some(status) => {
            if status.success() {
                failures.push("enki run exited 0 although it was stopped".into());
            }
            if !run.output.contains("stopping the workers") {
                failures.push("enki run did not say it was stopping its workers".into());
            }
        }
    }
    let left = wait_until_gone(&scratch.project, &marker, ended);
    if !left.is_empty() {
        failures.push(format!(
            "{} s after enki ended, still running: {}",
            GONE_WITHIN.as_secs(),
            left.join("; ")
        ));
    }
    failures.extend(status_failures(world, &scratch, &model)?);
    Ok((scratch, run, failures))
}

/// Waits until the worker's two marked shells run (and enki still does).
fn wait_until_busy(child: &mut Child, marker: &str) -> Result<()> {
    let started = Instant::now();
    loop {
        if carrying(marker).len() >= 2 {
            return Ok(());
        }
        if let Some(status) = child.try_wait()? {
            bail!("enki run ended ({status}) before the worker ran its command");
        }
        if started.elapsed() > BUSY_WITHIN {
            bail!(
                "the worker's command did not start within {} s",
                BUSY_WITHIN.as_secs()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// What still runs [`GONE_WITHIN`] after `ended`: processes working in the
/// project (its `.enki/` copies included) and the worker's marked shells.
fn wait_until_gone(project: &Path, marker: &str, ended: Instant) -> Vec<String> {
    loop {
        let mut left: Vec<u32> = in_folder(project);
        left.extend(carrying(marker));
        left.sort_unstable();
        left.dedup();
        if left.is_empty() {
            return Vec::new();
        }
        if ended.elapsed() > GONE_WITHIN {
            return left.into_iter().map(describe_process).collect();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `enki status` after the end: no coordinator, and the text says so.
fn status_failures(world: &World, scratch: &Scratch, model: &Model) -> Result<Vec<String>> {
    let mut failures = Vec::new();
    let out = enki(world, scratch, model, &["status", "--json"])?
        .output()
        .context("running enki status --json")?;
    let status: Value = serde_json::from_slice(&out.stdout).with_context(|| {
        format!(
            "enki status --json printed no JSON: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })?;
    if status["coordinator"]["running"] != false {
        failures.push(format!(
            "enki status --json claims a coordinator: {}",
            status["coordinator"]
        ));
    }
    if status["counts"]["running_workers"] != 0 || status["workers"] != json!([]) {
        failures.push(format!(
            "enki status --json claims running workers: {} in counts, workers {}",
            status["counts"]["running_workers"], status["workers"]
        ));
    }
    let text = output_of(enki(world, scratch, model, &["status"])?)?;
    if !text.contains("coordinator: none is running") || !text.contains("0 running workers") {
        failures.push(format!(
            "enki status does not say that no coordinator and no worker runs:\n{text}"
        ));
    }
    Ok(failures)
}

/// Live processes whose working directory is `dir` or beneath it.
fn in_folder(dir: &Path) -> Vec<u32> {
    let Ok(dir) = dir.canonicalize() else {
        return Vec::new();
    };
    live_processes()
        .filter(|pid| {
            std::fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|cwd| cwd.starts_with(&dir))
        })
        .collect()
}

/// Live processes whose command line holds `marker`.
fn carrying(marker: &str) -> Vec<u32> {
    live_processes()
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|cmdline| String::from_utf8_lossy(&cmdline).contains(marker))
        })
        .collect()
}

/// Every process that exists and is not a zombie.
fn live_processes() -> impl Iterator<Item = u32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
                stat.rsplit_once(')')
                    .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z'))
            })
        })
}

/// `pid (command line) in cwd`.
fn describe_process(pid: u32) -> String {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .unwrap_or_default();
    let cwd = std::fs::read_link(format!("/proc/{pid}/cwd"))
        .map(|c| c.display().to_string())
        .unwrap_or_default();
    format!("{pid} ({}) in {cwd}", cmdline.trim())
}
