//! `cargo xtask bench coordinator`: the latency from a signal file renamed
//! into place to its effect in the store, against a running release `enki`;
//! a 10 000-node DAG scheduled in-process; a 50-task `sim` execution from
//! submit to all merged; the coordinator's peak memory; and what an agent's
//! Landlock sandbox and its MCP token add to its start.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use enki_acp::AgentCommand;
use enki_coordinator::{McpHost, McpIdentity};
use enki_core::engine::{
    Command as Cmd, Edge, Event, ExecutionSnapshot, Limits, NodeSnapshot, Orchestrator, Settings,
    WorkResult,
};
use enki_core::{Condition, ExecutionStatus, TaskStatus, Tier};
use enki_store::{Store, TaskFilter};

use super::project::sim_project;
use super::stats::percentile;
use super::{Options, Verdict, build_release_binary, mark};

/// How often the signal bench reads `PRAGMA data_version`.
const POLL: Duration = Duration::from_micros(50);
/// How long a signal may take to show its effect before the bench gives up.
const SIGNAL_LIMIT: Duration = Duration::from_secs(5);
/// Signal latency targets, ms: p50, p95, and the maximum, which is the
/// coordinator's rescan period (a signal the watcher missed waits for it).
const SIGNAL_TARGETS_MS: [f64; 3] = [5.0, 50.0, 1000.0];

/// Target for what the sandbox and the MCP token add to an agent's start,
/// ms (p50 of each, summed).
const SETUP_TARGET_MS: f64 = 5.0;

/// An agent's start, spawn → exec, in milliseconds (p50): direct, and
/// sandboxed with a worker-like policy (a copy, a temp folder, state
/// folders and files, devices). Each sample builds the process the way the
/// coordinator does (`AgentCommand::to_process`, which also builds the
/// Landlock ruleset) and spawns it; std's `spawn` returns once the child
/// has exec'd, so the time covers the fork, the `pre_exec` hook (no-new-privs
/// and `landlock_restrict_self`) and the exec. The two kinds alternate so
/// that a busy machine slows both alike.
fn agent_start(samples: usize) -> Result<(f64, f64)> {
    let dir = tempfile::tempdir()?;
    let mut writable = Vec::new();
    for folder in ["copy", "tmp", ".cache", ".npm", ".claude"] {
        let path = dir.path().join(folder);
        std::fs::create_dir_all(&path)?;
        writable.push(path);
    }
    let file = dir.path().join(".claude.json");
    std::fs::write(&file, "{}")?;
    writable.push(file);
    writable.extend(
        [
            "/dev/null",
            "/dev/zero",
            "/dev/full",
            "/dev/tty",
            "/dev/ptmx",
            "/dev/pts",
        ]
        .map(PathBuf::from),
    );
    let direct = AgentCommand {
        clear_env: true,
        env: vec![("PATH".into(), "/usr/bin:/bin".into())],
        ..AgentCommand::new("/bin/true", dir.path().join("copy"))
    };
    let sandboxed = AgentCommand {
        sandbox: Some(enki_sandbox::Policy {
            writable,
            ..enki_sandbox::Policy::default()
        }),
        ..direct.clone()
    };
    let (mut plain, mut confined) = (Vec::new(), Vec::new());
    for i in 0..2 * samples {
        let (agent, times) = if i % 2 == 0 {
            (&direct, &mut plain)
        } else {
            (&sandboxed, &mut confined)
        };
        let started = Instant::now();
        let mut child = agent.to_process()?.spawn()?;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        let status = child.wait()?;
        if !status.success() {
            bail!("/bin/true failed: {status}");
        }
    }
    let p50 = |ms: &[f64]| percentile(ms, 50.0).unwrap_or(f64::NAN);
    Ok((p50(&plain), p50(&confined)))
}

/// A token's cost to an agent's start: `McpHost::grant` (a fresh token,
/// the whole table written to enki's HTTP MCP server, its acknowledgement
/// awaited) while eight other sessions hold theirs, as a busy
/// coordinator's would. The server itself starts once per coordinator, at
/// the first grant, which is not timed. p50, milliseconds.
fn token_grant(enki_bin: &Path, samples: usize) -> Result<f64> {
    let dir = project(enki_bin)?;
    let root = dir.path();
    let host = McpHost::new(
        enki_bin.to_path_buf(),
        root.join(".enki"),
        "sess-bench".into(),
        root.to_path_buf(),
    );
    let identity = |i: usize| McpIdentity {
        role: "worker",
        task_id: Some(format!("task-bench{i}")),
        no_edit: false,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let mut held = Vec::new();
        for i in 0..8 {
            held.push(host.grant(identity(i)).await.map_err(anyhow::Error::msg)?);
        }
        let mut ms = Vec::with_capacity(samples);
        for i in 0..samples {
            let started = Instant::now();
            let grant = host
                .grant(identity(held.len() + i))
                .await
                .map_err(anyhow::Error::msg)?;
            ms.push(started.elapsed().as_secs_f64() * 1000.0);
            drop(grant);
        }
        Ok(percentile(&ms, 50.0).unwrap_or(f64::NAN))
    })
}

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

/// Signal latency: a coordinator runs a worker that waits for a file. Each
/// sample pauses that step with a `pause` signal and times it from the
/// instant just after the signal file is renamed into place to the instant a
/// reader of the store sees the task `paused` (the coordinator's last write
/// for a pause); a `resume` signal then restarts the worker, and the next
/// sample waits until its script runs again. Milliseconds, one per sample.
fn signal_latency(enki_bin: &Path, samples: usize) -> Result<Vec<f64>> {
    let dir = project(enki_bin)?;
    let root = dir.path();
    let enki_dir = root.join(".enki");
    // The sandboxed worker writes only its copy and what the config grants:
    // here the folder of the gate files.
    let gate = enki_dir.join("gate");
    std::fs::create_dir(&gate)?;
    let mut config = std::fs::read_to_string(enki_dir.join("enki.toml"))?;
    config.push_str(&format!(
        "\n[sandbox]\nwritable = [{:?}]\n",
        gate.display().to_string()
    ));
    std::fs::write(enki_dir.join("enki.toml"), config)?;
    let up = gate.join("up");
    std::fs::write(
        enki_dir.join("sim/gate.toml"),
        "[[turn]]\nsteps = [ { run = \"touch \\\"$ENKI_DIR/gate/up\\\"; while [ ! -f \\\"$ENKI_DIR/gate/go\\\" ]; do sleep 0.05; done\" } ]\n",
    )?;
    std::fs::write(
        root.join("plan.toml"),
        "[[steps]]\nid = \"g\"\ntitle = \"gate\"\ndescription = \"[[sim:gate]]\"\n",
    )?;
    let mut child = enki(enki_bin, root, &["run", "--plan", "plan.toml"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let result = (|| -> Result<Vec<f64>> {
        wait_for_file(&up, "the gated worker to start")?;
        // This connection only reads: its `data_version` moves when the coordinator commits.
        let store = Store::open_existing(&enki_dir.join("db.sqlite"))?;
        let running = store.tasks(&TaskFilter {
            status: Some(TaskStatus::Running),
            ..TaskFilter::default()
        })?;
        let task = running.first().context("no running task in the store")?;
        let (task, execution) = (task.id.clone(), task.execution_id.clone());
        let events = enki_dir.join("events");
        let mut latencies = Vec::with_capacity(samples);
        for i in 0..samples {
            let renamed = drop_signal(&events, 2 * i, "pause", &execution)?;
            let seen = wait_for_status(&store, &task, TaskStatus::Paused)?;
            latencies.push(seen.duration_since(renamed).as_secs_f64() * 1000.0);
            std::fs::remove_file(&up)?;
            drop_signal(&events, 2 * i + 1, "resume", &execution)?;
            wait_for_file(&up, "the resumed worker to start")?;
        }
        Ok(latencies)
    })();
    std::fs::write(gate.join("go"), "")?;
    let _ = wait_child(&mut child, Duration::from_secs(30));
    result
}

/// Drops signal number `n`, a `pause` or `resume` of step `g` of
/// `execution`, the way `enki mcp` does (a hidden temporary file renamed into
/// place) and returns the instant just after the rename, from which on the
/// coordinator can see it.
fn drop_signal(events: &Path, n: usize, kind: &str, execution: &str) -> Result<Instant> {
    let body = serde_json::json!({
        "v": 1, "type": kind, "at": "2026-01-01T00:00:00Z", "session": null,
        "from": {"role": "bench", "task_id": null}, "execution_id": execution, "step_id": "g"
    });
    // Names sort in creation order, as the product's ULIDs do.
    let name = format!("sig-01BENCH{n:019}.json");
    let temp = events.join(format!(".{name}.tmp"));
    std::fs::write(&temp, body.to_string())?;
    std::fs::rename(&temp, events.join(&name))?;
    Ok(Instant::now())
}

/// Polls the store until `task` has `status`, reading the row only when
/// another connection has committed (`PRAGMA data_version` moved); returns
/// the instant the reader saw it.
fn wait_for_status(store: &Store, task: &str, status: TaskStatus) -> Result<Instant> {
    let started = Instant::now();
    let mut version = None;
    loop {
        let now = store.data_version()?;
        if version != Some(now) {
            version = Some(now);
            if store.task(task)?.is_some_and(|row| row.status == status) {
                return Ok(Instant::now());
            }
        }
        if started.elapsed() > SIGNAL_LIMIT {
            bail!("task {task} was not {status} in the store within {SIGNAL_LIMIT:?}");
        }
        std::thread::sleep(POLL);
    }
}

/// Waits until `path` exists, checking every 2 ms; fails after 30 s.
fn wait_for_file(path: &Path, what: &str) -> Result<()> {
    let started = Instant::now();
    while !path.exists() {
        if started.elapsed() > Duration::from_secs(30) {
            bail!("timed out waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    Ok(())
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
        api_retry_limit_ms: u64::MAX,
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
        Ok(ms) => {
            let [p50, p95, max] =
                [50.0, 95.0, 100.0].map(|p| percentile(&ms, p).unwrap_or(f64::NAN));
            let [t50, t95, tmax] = SIGNAL_TARGETS_MS;
            let ok = p50 <= t50 && p95 <= t95 && max <= tmax;
            println!(
                "  signal renamed into place → effect in the store (pause of a running step → task paused)   n={samples:<5} p50 {p50:>7.2} ms   p95 {p95:>7.2} ms   max {max:>7.2} ms   target p50 ≤ {t50} ms, p95 ≤ {t95} ms, max ≤ {tmax} ms  {}",
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
    let setup = agent_start(samples).and_then(|(direct, sandboxed)| {
        token_grant(&enki_bin, samples).map(|token| (direct, sandboxed, token))
    });
    match setup {
        Ok((direct, sandboxed, token)) => {
            let sandbox = sandboxed - direct;
            let added = sandbox + token;
            let ok = added <= SETUP_TARGET_MS;
            println!(
                "  sandbox and token setup added to an agent's start (p50: sandbox {sandbox:.2} ms, spawn → exec {direct:.2} ms direct, {sandboxed:.2} ms with its Landlock ruleset; token {token:.2} ms, granted and acknowledged by enki's MCP server)   n={samples:<5} {added:>7.2} ms   target ≤ {SETUP_TARGET_MS} ms  {}",
                mark(ok)
            );
            if !ok && verdict == Verdict::Pass {
                verdict = Verdict::TargetMissed;
            }
        }
        Err(e) => {
            println!("  sandbox and token setup: failed: {e:#}");
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
