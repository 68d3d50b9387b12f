//! `cargo xtask bench coordinator`: signal-written → applied latency, a
//! 10 000-node DAG scheduled in-process, a 50-task `sim` execution from
//! submit to all merged, and the coordinator's peak memory.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use enki_core::engine::{
    Command as Cmd, Edge, Event, ExecutionSnapshot, Limits, NodeSnapshot, Orchestrator, Settings,
    WorkResult,
};
use enki_core::{Condition, ExecutionStatus, TaskStatus, Tier};

use super::project::sim_project;
use super::stats::percentile;
use super::{Options, Verdict, build_release_binary};

/// A scratch git project set up for the sim agent.
fn project(enki: &Path) -> Result<tempfile::TempDir> {
    sim_project(
        enki,
        "[agent]\ncommand = \"sim\"\n\n[sim]\nscripts = \"sim\"\n\n[workers]\nmax_workers = 4\n",
    )
}

fn enki(enki: &Path, root: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(enki);
    cmd.args(args)
        .current_dir(root)
        .env_remove("ENKI_DIR")
        .env_remove("ENKI_SESSION_ID")
        .env("GIT_AUTHOR_NAME", "bench")
        .env("GIT_AUTHOR_EMAIL", "bench@enki.invalid")
        .env("GIT_COMMITTER_NAME", "bench")
        .env("GIT_COMMITTER_EMAIL", "bench@enki.invalid");
    cmd
}

/// Waits for `path` to disappear, checking often; `None` after `limit`.
fn wait_gone(path: &Path, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    while path.exists() {
        if started.elapsed() > limit {
            return None;
        }
        std::thread::sleep(Duration::from_micros(100));
    }
    Some(started.elapsed())
}

fn running_task(root: &Path, enki_bin: &Path) -> Result<Option<String>> {
    let output = enki(enki_bin, root, &["tasks", "--status", "running", "--json"]).output()?;
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_default();
    Ok(value["tasks"][0]["id"].as_str().map(str::to_string))
}

/// Signal latency: a coordinator runs a worker that waits for a file; we
/// drop `worker_report` signals one at a time and time their application
/// (the coordinator deletes a signal once applied).
fn signal_latency(enki_bin: &Path, samples: usize) -> Result<(f64, f64)> {
    let dir = project(enki_bin)?;
    let root = dir.path();
    std::fs::write(
        root.join(".enki/sim/gate.toml"),
        "[[turn]]\nsteps = [ { run = \"while [ ! -f \\\"$ENKI_DIR/go\\\" ]; do sleep 0.05; done\" } ]\n",
    )?;
    std::fs::write(
        root.join("plan.toml"),
        "[[steps]]\nid = \"g\"\ntitle = \"gate\"\ndescription = \"[[sim:gate]]\"\n",
    )?;
    let mut child = enki(enki_bin, root, &["run", "--plan", "plan.toml"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let result = (|| -> Result<(f64, f64)> {
        let started = Instant::now();
        let task = loop {
            if let Some(task) = running_task(root, enki_bin)? {
                break task;
            }
            if started.elapsed() > Duration::from_secs(30) {
                bail!("the gated task never started");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let events = root.join(".enki/events");
        let mut latencies = Vec::with_capacity(samples);
        for i in 0..samples {
            let ulid = format!("{:026}", 10_000_000 + i);
            let name = format!(
                "sig-{}.json",
                ulid.replace('0', "A").chars().take(26).collect::<String>()
            );
            let body = serde_json::json!({
                "v": 1, "type": "worker_report", "at": "2026-01-01T00:00:00Z", "session": null,
                "from": {"role": "bench", "task_id": task}, "task_id": task, "status": format!("ping {i}")
            });
            let temp = events.join(format!(".{name}.tmp"));
            std::fs::write(&temp, body.to_string())?;
            let path = events.join(&name);
            std::fs::rename(&temp, &path)?;
            let written = Instant::now();
            match wait_gone(&path, Duration::from_secs(5)) {
                Some(_) => latencies.push(written.elapsed().as_secs_f64() * 1000.0),
                None => bail!("signal {name} was not applied within 5 s"),
            }
        }
        Ok((
            percentile(&latencies, 50.0).unwrap_or(f64::NAN),
            percentile(&latencies, 99.0).unwrap_or(f64::NAN),
        ))
    })();
    std::fs::write(root.join(".enki/go"), "")?;
    let _ = wait_child(&mut child, Duration::from_secs(30));
    result
}

fn wait_child(child: &mut Child, limit: Duration) -> Result<std::process::ExitStatus> {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            bail!("timed out after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Schedules a 10 000-node DAG to completion in-process; returns seconds.
fn big_dag(nodes: usize) -> Result<f64> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let conditions = [Condition::Merged, Condition::Completed, Condition::Started];
    let tiers = [Tier::Light, Tier::Standard, Tier::Heavy];
    let snapshot_nodes: Vec<NodeSnapshot> = (0..nodes)
        .map(|i| {
            let needs = if i == 0 {
                Vec::new()
            } else {
                (0..(next() % 3))
                    .map(|_| Edge {
                        target: format!("t{}", next() as usize % i),
                        condition: conditions[(next() % 3) as usize],
                    })
                    .fold(Vec::new(), |mut acc: Vec<Edge>, e| {
                        if !acc.iter().any(|x| x.target == e.target) {
                            acc.push(e);
                        }
                        acc
                    })
            };
            NodeSnapshot {
                id: format!("t{i}"),
                step_id: format!("s{i}"),
                step_index: i as i64,
                tier: tiers[(next() % 3) as usize],
                checkpoint: false,
                status: TaskStatus::Pending,
                failures: 0,
                needs,
            }
        })
        .collect();
    let started = Instant::now();
    let mut orch = Orchestrator::new(Settings {
        limits: Limits {
            max_workers: 8,
            max_heavy: Some(2),
            ..Limits::default()
        },
        retries: 2,
        stall_timeout_ms: u64::MAX,
    });
    let mut merges = Vec::new();
    let mut events = orch.handle(Cmd::Load(ExecutionSnapshot {
        id: "big".into(),
        order: 0,
        status: ExecutionStatus::Running,
        nodes: snapshot_nodes,
    }));
    loop {
        for event in events.drain(..) {
            if let Event::QueueMerge { task } = event {
                merges.push(task);
            }
        }
        if let Some(task) = merges.pop() {
            events = orch.handle(Cmd::MergeLanded { task });
            continue;
        }
        let Some(task) = orch.running().into_iter().next() else {
            break;
        };
        events = orch.handle(Cmd::WorkerFinished {
            task,
            result: WorkResult::Changes,
        });
    }
    let elapsed = started.elapsed().as_secs_f64();
    if orch.graph().execution_status("big") != Some(ExecutionStatus::Done) {
        bail!("the big DAG did not finish");
    }
    Ok(elapsed)
}

/// A 50-task sim execution from submit to all merged; returns seconds and
/// the peak RSS (KiB) of the coordinator.
fn sim_execution(enki_bin: &Path, tasks: usize) -> Result<(f64, i64)> {
    let dir = project(enki_bin)?;
    let root = dir.path();
    let mut plan = String::from("title = \"bench\"\n");
    for i in 0..tasks {
        std::fs::write(
            root.join(format!(".enki/sim/w{i}.toml")),
            format!(
                "[[turn]]\nsteps = [ {{ write = \"f{i}.txt\", content = \"{i}\\n\" }}, {{ say = \"[OUTPUT]f{i}[/OUTPUT]\" }} ]\n"
            ),
        )?;
        let needs = if i >= 5 {
            format!("needs = [\"s{}\"]\n", i - 5)
        } else {
            String::new()
        };
        plan.push_str(&format!(
            "\n[[steps]]\nid = \"s{i}\"\ntitle = \"file {i}\"\ndescription = \"[[sim:w{i}]]\"\n{needs}"
        ));
    }
    std::fs::write(root.join("plan.toml"), plan)?;
    let started = Instant::now();
    let child = enki(enki_bin, root, &["run", "--plan", "plan.toml"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let (code, rss) = wait_with_usage(child)?;
    let elapsed = started.elapsed().as_secs_f64();
    if code != 0 {
        bail!("the 50-task run failed (exit status {code})");
    }
    let files = (0..tasks)
        .filter(|i| root.join(format!("f{i}.txt")).exists())
        .count();
    if files != tasks {
        bail!("only {files} of {tasks} files were merged");
    }
    Ok((elapsed, rss))
}

/// Waits for the child, sampling its own peak resident set size (`VmHWM`
/// in `/proc/<pid>/status`, KiB) while it runs: the coordinator itself,
/// not its agents (`wait4`'s `ru_maxrss` would be the largest of them all).
/// The high-water mark only grows, so the last sample before exit is at
/// most one sampling period behind the true peak.
fn wait_with_usage(mut child: Child) -> Result<(i32, i64)> {
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak_kib = 0i64;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok((status.code().unwrap_or(-1), peak_kib));
        }
        if let Ok(text) = std::fs::read_to_string(&status_file)
            && let Some(kib) = text
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<i64>().ok())
        {
            peak_kib = peak_kib.max(kib);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn mark(ok: bool) -> &'static str {
    if ok { "✔" } else { "✘" }
}

pub fn run(opts: &Options) -> Result<Verdict> {
    let enki_bin: PathBuf = match &opts.bin {
        Some(bin) => bin.clone(),
        None => build_release_binary("enki", "enki")?,
    };
    let samples = if opts.quick { 20 } else { 200 };
    let tasks = if opts.quick { 10 } else { 50 };
    println!("enki coordinator benchmark: {}\n", enki_bin.display());
    let mut verdict = Verdict::Pass;

    match signal_latency(&enki_bin, samples) {
        Ok((p50, p99)) => {
            let ok = p50 <= 5.0 && p99 <= 50.0;
            println!(
                "  signal written → applied (worker_report: scan, validate, apply, delete)   n={samples:<5} p50 {p50:>7.2} ms   p99 {p99:>7.2} ms   target p50 ≤ 5 ms, p99 ≤ 50 ms  {}",
                mark(ok)
            );
            if !ok {
                verdict = Verdict::TargetMissed;
            }
        }
        Err(e) => {
            println!("  signal latency: failed: {e:#}");
            verdict = Verdict::Failed;
        }
    }
    let seconds = big_dag(10_000).context("10 000-node DAG")?;
    let ok = seconds <= 1.0;
    println!(
        "  10 000-node DAG scheduled to completion in-process: {:.3} s   target ≤ 1 s  {}",
        seconds,
        mark(ok)
    );
    if !ok && verdict == Verdict::Pass {
        verdict = Verdict::TargetMissed;
    }
    match sim_execution(&enki_bin, tasks) {
        Ok((seconds, rss)) => {
            let ok = seconds <= 60.0;
            println!(
                "  {tasks}-task sim execution, submit → all merged: {seconds:.2} s   target ≤ 60 s  {}",
                mark(ok)
            );
            println!(
                "  coordinator peak memory (its own VmHWM, agents excluded): {:.1} MiB",
                rss as f64 / 1024.0
            );
            if !ok && verdict == Verdict::Pass {
                verdict = Verdict::TargetMissed;
            }
        }
        Err(e) => {
            println!("  {tasks}-task sim execution: failed: {e:#}");
            verdict = Verdict::Failed;
        }
    }
    Ok(verdict)
}
