//! `cargo xtask bench coordinator`: signal latency against a running
//! release `enki`, from a signal file renamed into `.enki/events/` to its
//! effect in the store (`bench signal` runs that part alone); what an
//! agent's containment, Landlock sandbox and MCP token add to its start; a
//! 10 000-node DAG scheduled in-process; a 50-task `sim` execution from
//! submit to all merged; and the coordinator's peak memory.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use enki_acp::AgentCommand;
use enki_coordinator::ops::{self, Operation};
use enki_coordinator::{McpHost, McpIdentity};
use enki_core::engine::{
    Command as Cmd, Edge, Event, ExecutionSnapshot, Limits, NodeSnapshot, Orchestrator, Settings,
    WorkResult,
};
use enki_core::{Condition, ExecutionStatus, TaskStatus, Tier};
use enki_store::{Store, TaskFilter};

use super::project::{enki, sim_project};
use super::recording::thread_cpu_ms;
use super::stats::{median_by, percentile};
use super::{Options, Verdict, build_release_binary, mark};

/// How often the signal bench reads `PRAGMA data_version`.
const POLL: Duration = Duration::from_micros(50);
/// How long the coordinator may take to answer before the bench gives up.
const SIGNAL_LIMIT: Duration = Duration::from_secs(5);
/// Signal latency targets, ms: p50, p99, and the maximum, which is the
/// coordinator's rescan period (a change whose signal the watcher missed
/// waits for it).
const SIGNAL_TARGETS_MS: [f64; 3] = [5.0, 50.0, 1000.0];

/// `cargo xtask bench signal`: the signal latency of `coordinator` alone.
pub fn run_signal(opts: &Options) -> Result<Verdict> {
    let enki_bin: PathBuf = match &opts.bin {
        Some(bin) => bin.clone(),
        None => build_release_binary("enki", "enki")?,
    };
    println!("enki signal latency: {}\n", enki_bin.display());
    Ok(signal_part(&enki_bin, signal_samples(opts)))
}

fn signal_samples(opts: &Options) -> usize {
    if opts.quick { 20 } else { 100 }
}

/// Measures and prints the signal latency.
fn signal_part(enki_bin: &Path, samples: usize) -> Verdict {
    match signal_latency(enki_bin, samples) {
        Ok(ms) => {
            let [p50, p99, max] =
                [50.0, 99.0, 100.0].map(|p| percentile(&ms, p).unwrap_or(f64::NAN));
            let [t50, t99, tmax] = SIGNAL_TARGETS_MS;
            let ok = p50 <= t50 && p99 <= t99 && max <= tmax;
            println!(
                "  signal renamed into .enki/events/ → its effect in the store (`enki pause` of a running step: the attempt ended `paused`, its worker stopped; load {})   n={samples:<5} p50 {p50:>7.2} ms   p99 {p99:>7.2} ms   max {max:>7.2} ms   target p50 ≤ {t50} ms, p99 ≤ {t99} ms, max ≤ {tmax} ms  {}",
                load_average(),
                mark(ok)
            );
            if ok {
                Verdict::Pass
            } else {
                Verdict::TargetMissed
            }
        }
        Err(e) => {
            println!("  signal latency (`enki pause` of a running step): failed: {e:#}");
            Verdict::Failed
        }
    }
}

/// The machine's load averages over 1, 5 and 15 minutes, as printed.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|| "unknown".into())
}

/// Target for what containment, the sandbox and the MCP token add to an
/// agent's start, ms (p50 of each, summed).
const SETUP_TARGET_MS: f64 = 5.0;

/// Memory the agent-start bench holds (touched) while it spawns, as a
/// coordinator does: a fork copies the page tables of its parent's
/// resident memory, so a start grows with it. A coordinator's own peak
/// resident size is about 18 MiB in the 50-task run below (`VmHWM`, its
/// binary's file-backed pages included, which a fork does not copy), so
/// 16 MiB of written heap stands for it (this was 64 MiB, four times what
/// a coordinator holds, which made every extra fork look four times as
/// costly).
const BALLAST_MIB: usize = 16;

/// An agent's start, spawn → exec, in milliseconds (p50): bare (its own
/// process group and the parent-death signal, as before containment),
/// contained (the keeper, the PID namespace and its init sharing the
/// keeper's memory, the agent started vfork-style as pid 2), and contained
/// and sandboxed with a worker-like policy (a copy, a
/// temp folder, state folders and files, devices), and that sandbox in
/// loopback mode (a network namespace, `lo` up, one forwarded port's
/// listener received and relayed, as enki's MCP server's is). Each
/// contained sample
/// builds the process the way the coordinator does
/// (`AgentCommand::to_process`, which also builds the Landlock ruleset) and
/// spawns it; std's `spawn` returns once the agent has exec'd and the
/// keeper and init have let go of the exec-status pipe, so the time covers
/// the fork, the clones, the namespaces, no-new-privs,
/// `landlock_restrict_self` and the exec; the loopback one also the
/// listener's receipt and the relay's start. The four kinds alternate so
/// that a busy machine slows all alike.
fn agent_start(samples: usize) -> Result<AgentStart> {
    let ballast: Vec<u8> = (0..BALLAST_MIB << 20).map(|i| i as u8).collect();
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
            writable: writable.clone(),
            ..enki_sandbox::Policy::default()
        }),
        ..direct.clone()
    };
    let forwarded = std::net::TcpListener::bind("127.0.0.1:0")?;
    let loopback = AgentCommand {
        sandbox: Some(enki_sandbox::Policy {
            writable,
            network: enki_sandbox::Network::Loopback,
            loopback_ports: vec![forwarded.local_addr()?.port()],
            ..enki_sandbox::Policy::default()
        }),
        ..direct.clone()
    };
    let relaying = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let bare = || -> Result<Command> {
        let mut command = Command::new("/bin/true");
        command
            .current_dir(dir.path().join("copy"))
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        let no_namespace = enki_sandbox::Containment::ParentDeathOnly {
            reason: "the bare start the others are compared with".into(),
        };
        enki_sandbox::contain_as(
            &no_namespace,
            &mut command,
            enki_sandbox::Environment::Clear,
            None,
        )?;
        Ok(command)
    };
    let mut times: [Vec<f64>; 4] = Default::default();
    for i in 0..4 * samples {
        let kind = i % 4;
        let started = Instant::now();
        let mut relay = None;
        let mut child = match kind {
            0 => bare()?.spawn()?,
            1 => direct.to_process()?.0.spawn()?,
            2 => sandboxed.to_process()?.0.spawn()?,
            _ => {
                let (mut command, forwarding) = loopback.to_process()?;
                let child = command.spawn()?;
                let listeners = forwarding
                    .context("no forwarding in loopback mode")?
                    .receive()?;
                let _entered = relaying.enter();
                relay = Some(enki_sandbox::relay(listeners)?);
                child
            }
        };
        times[kind].push(started.elapsed().as_secs_f64() * 1000.0);
        drop(relay);
        let status = child.wait()?;
        if !status.success() {
            bail!("/bin/true failed: {status}");
        }
    }
    std::hint::black_box(&ballast);
    let p50 = |ms: &[f64]| percentile(ms, 50.0).unwrap_or(f64::NAN);
    Ok(AgentStart {
        bare: p50(&times[0]),
        contained: p50(&times[1]),
        sandboxed: p50(&times[2]),
        loopback: p50(&times[3]),
    })
}

/// p50 of an agent's start, spawn → exec, ms.
struct AgentStart {
    bare: f64,
    contained: f64,
    sandboxed: f64,
    /// Sandboxed in loopback mode, its relay started.
    loopback: f64,
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
pub(super) fn project(enki: &Path) -> Result<tempfile::TempDir> {
    sim_project(
        enki,
        "[agent]\ncommand = \"sim\"\n\n[sim]\nscripts = \"sim\"\n\n[workers]\nmax_workers = 4\n",
    )
}

/// Signal latency: a coordinator (`enki run`) runs a worker that waits for
/// a file. Each sample pauses that step as `enki pause` does, with the very
/// code it runs (`ops::steer_execution`: the store's change, then the
/// signal file written as a hidden temporary and renamed into
/// `.enki/events/`), and is timed from the instant that call returns, just
/// after the rename, to the instant a reader of the store sees the pause's
/// effect: the coordinator's first write for it, the running attempt ended
/// as `paused` (its worker stopped). The task's own `paused` cannot be the
/// mark: the change itself writes it before the signal exists. The reader
/// polls `PRAGMA data_version` every [`POLL`] and reads rows only when
/// another connection committed: a commit is visible there exactly when
/// any reader can see it, whereas a write to the WAL file (which a watch
/// would see) comes before its commit, once per page. Then the step is
/// resumed the same way, and the next sample waits until its script runs
/// again. Milliseconds, one per sample.
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
    let log = enki_dir.join("bench-run.log");
    let mut child = enki(enki_bin, root, &["run", "--plan", "plan.toml"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log)?)
        .spawn()?;
    let result = (|| -> Result<Vec<f64>> {
        wait_for_file(&up, "the gated worker to start")?;
        let layout = enki_project::Layout::new(&enki_dir);
        // The person's connection (`enki pause` opens one the same way).
        let mut person = Store::open_existing(&layout.db())?;
        // The clock's: it only reads, and its `data_version` moves when
        // another connection commits.
        let reader = Store::open_existing(&layout.db())?;
        let running = reader.tasks(&TaskFilter {
            status: Some(TaskStatus::Running),
            ..TaskFilter::default()
        })?;
        let task = running.first().context("no running task in the store")?;
        let (task, execution) = (task.id.clone(), task.execution_id.clone());
        let steer = |person: &mut Store, op: Operation| -> Result<Instant> {
            let done = ops::steer_execution(&layout, person, None, op, &execution, Some("g"))?;
            let renamed = Instant::now();
            if let Some(warning) = done.warning {
                bail!("{op:?} of step g: {warning}");
            }
            Ok(renamed)
        };
        let mut latencies = Vec::with_capacity(samples);
        for _ in 0..samples {
            let attempts = reader.attempts_of(&task)?.len();
            let renamed = steer(&mut person, Operation::Pause)?;
            let answered = wait_for_attempt_paused(&reader, &task, attempts)?;
            latencies.push(answered.duration_since(renamed).as_secs_f64() * 1000.0);
            std::fs::remove_file(&up)?;
            steer(&mut person, Operation::Resume)?;
            wait_for_file(&up, "the resumed worker to start").with_context(|| {
                format!(
                    "the step's last events: {}",
                    last_events(&reader, &task).unwrap_or_else(|e| e.to_string())
                )
            })?;
        }
        Ok(latencies)
    })();
    std::fs::write(gate.join("go"), "")?;
    let _ = wait_child(&mut child, Duration::from_secs(30));
    result.with_context(|| {
        format!(
            "enki run's stderr: {}",
            std::fs::read_to_string(&log).unwrap_or_default().trim()
        )
    })
}

/// The last few entries of a task's log, oldest first, for a failure's
/// message.
fn last_events(store: &Store, task: &str) -> Result<String> {
    let events = store.task_events(task, 0, None)?;
    Ok(events[events.len().saturating_sub(6)..]
        .iter()
        .map(|e| format!("{} {}", e.kind, e.data))
        .collect::<Vec<_>>()
        .join("; "))
}

/// Polls the store, reading rows only when another connection has
/// committed (`PRAGMA data_version` moved), until attempt number
/// `attempts` (the running one) of `task` has ended as `paused`; returns
/// the instant the reader saw it.
fn wait_for_attempt_paused(store: &Store, task: &str, attempts: usize) -> Result<Instant> {
    let started = Instant::now();
    let mut version = None;
    loop {
        let now = store.data_version()?;
        if version != Some(now) {
            version = Some(now);
            if store
                .attempts_of(task)?
                .get(attempts.wrapping_sub(1))
                .is_some_and(|a| a.outcome.as_deref() == Some("paused"))
            {
                return Ok(Instant::now());
            }
        }
        if started.elapsed() > SIGNAL_LIMIT {
            bail!("the pause of task {task} was not answered in the store within {SIGNAL_LIMIT:?}");
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

/// Schedules a DAG of `nodes` nodes to completion in-process; returns seconds.
/// The time one DAG took to schedule: on the wall clock, and on the CPU of
/// the thread that scheduled it (what the algorithm costs, whatever else
/// the machine runs).
#[derive(Debug, Clone, Copy)]
pub(super) struct Scheduled {
    pub wall: f64,
    pub cpu: f64,
}

/// Schedules a random `nodes`-node DAG to completion in-process, the
/// workers and merges answered at once.
pub(super) fn big_dag(nodes: usize) -> Result<Scheduled> {
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
                agent: "agent".into(),
            }
        })
        .collect();
    let started = Instant::now();
    let cpu_before = thread_cpu_ms();
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
    // The workers started, in start order, as the coordinator knows them:
    // from the StartWorker events.
    let mut workers = std::collections::VecDeque::new();
    let mut events = orch.handle(Cmd::Load(ExecutionSnapshot {
        id: "big".into(),
        order: 0,
        status: ExecutionStatus::Running,
        nodes: snapshot_nodes,
    }));
    loop {
        for event in events.drain(..) {
            match event {
                Event::QueueMerge { task } => merges.push(task),
                Event::StartWorker { task, .. } => workers.push_back(task),
                _ => {}
            }
        }
        if let Some(task) = merges.pop() {
            events = orch.handle(Cmd::MergeLanded { task });
            continue;
        }
        let Some(task) = workers.pop_front() else {
            break;
        };
        events = orch.handle(Cmd::WorkerFinished {
            task,
            result: WorkResult::Changes,
        });
    }
    let wall = started.elapsed().as_secs_f64();
    let cpu = (thread_cpu_ms() - cpu_before) / 1e3;
    if orch.graph().execution_status("big") != Some(ExecutionStatus::Done) {
        bail!("the big DAG did not finish");
    }
    Ok(Scheduled { wall, cpu })
}

/// What a 50-task sim run measured.
struct SimRun {
    seconds: f64,
    /// The coordinator's peak RSS, KiB.
    rss: i64,
    /// The coordinator's own CPU time (user + system, agents excluded), s.
    cpu: f64,
}

/// How many usage reports each worker of [`USAGE_STEPS`] sends.
const USAGE_REPORTS: usize = 2;
/// Two usage reports per worker, as claude-agent-acp sends them (a cost in
/// a `usage_update`, tokens with the end of the turn).
const USAGE_STEPS: &str = "{ usage = { input = 1200, output = 300, cache_read = 5000, cost = 0.01 } }, { usage = { input = 800, output = 200, cost = 0.01 } }, ";

/// A 50-task sim execution from submit to all merged, its workers
/// reporting usage or not.
fn sim_execution(enki_bin: &Path, tasks: usize, usage: bool) -> Result<SimRun> {
    let dir = project(enki_bin)?;
    let root = dir.path();
    let mut plan = String::from("title = \"bench\"\n");
    for i in 0..tasks {
        std::fs::write(
            root.join(format!(".enki/sim/w{i}.toml")),
            format!(
                "[[turn]]\nsteps = [ {}{{ write = \"f{i}.txt\", content = \"{i}\\n\" }}, {{ say = \"[OUTPUT]f{i}[/OUTPUT]\" }} ]\n",
                if usage { USAGE_STEPS } else { "" }
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
    let (code, rss, cpu) = wait_with_usage(child)?;
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
    Ok(SimRun {
        seconds: elapsed,
        rss,
        cpu,
    })
}

/// Waits for the child, sampling its own peak resident set size (`VmHWM`
/// in `/proc/<pid>/status`, KiB) and its own CPU time (`utime + stime` of
/// `/proc/<pid>/stat`, seconds) while it runs: the coordinator itself,
/// not its agents (`wait4`'s figures would include the agents it reaped).
/// Both only grow, so the last sample before exit is at most one sampling
/// period behind.
fn wait_with_usage(mut child: Child) -> Result<(i32, i64, f64)> {
    let status_file = format!("/proc/{}/status", child.id());
    let stat_file = format!("/proc/{}/stat", child.id());
    let mut peak_kib = 0i64;
    let mut cpu = 0.0f64;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok((status.code().unwrap_or(-1), peak_kib, cpu));
        }
        if let Some(seconds) = std::fs::read_to_string(&stat_file)
            .ok()
            .and_then(|stat| own_cpu_seconds(&stat))
        {
            cpu = cpu.max(seconds);
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

/// `utime + stime` of a `/proc/<pid>/stat` line, in seconds (fields 14
/// and 15 after the command name, in clock ticks of 1/100 s on Linux).
fn own_cpu_seconds(stat: &str) -> Option<f64> {
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i)?.parse::<f64>().ok();
    Some((ticks(11)? + ticks(12)?) / 100.0)
}

pub fn run(opts: &Options) -> Result<Verdict> {
    let enki_bin: PathBuf = match &opts.bin {
        Some(bin) => bin.clone(),
        None => build_release_binary("enki", "enki")?,
    };
    let samples = if opts.quick { 20 } else { 200 };
    let tasks = if opts.quick { 10 } else { 50 };
    println!("enki coordinator benchmark: {}\n", enki_bin.display());
    let mut verdict = signal_part(&enki_bin, signal_samples(opts));
    let setup = agent_start(samples)
        .and_then(|start| token_grant(&enki_bin, samples).map(|token| (start, token)));
    match setup {
        Ok((start, token)) => {
            let containment = start.contained - start.bare;
            let sandbox = start.sandboxed - start.contained;
            let added = containment + sandbox + token;
            let ok = added <= SETUP_TARGET_MS;
            println!(
                "  containment, sandbox and token added to an agent's start (p50, from a process holding {BALLAST_MIB} MiB: containment {containment:.2} ms ({}), sandbox {sandbox:.2} ms; spawn → exec {:.2} ms bare, {:.2} ms contained, {:.2} ms contained with its Landlock ruleset; token {token:.2} ms, granted and acknowledged by enki's MCP server)   n={samples:<5} {added:>7.2} ms   target ≤ {SETUP_TARGET_MS} ms  {}",
                if enki_sandbox::containment().is_complete() {
                    "PID namespace"
                } else {
                    "none here"
                },
                start.bare,
                start.contained,
                start.sandboxed,
                mark(ok)
            );
            if !ok && verdict == Verdict::Pass {
                verdict = Verdict::TargetMissed;
            }
            let loopback = start.loopback - start.sandboxed;
            let ok = added + loopback <= SETUP_TARGET_MS;
            println!(
                "  [sandbox] network = \"loopback\" added to a sandboxed agent's start (p50: a network namespace, lo up, one forwarded port's listener received and relayed; spawn → exec {:.2} ms): {loopback:.2} ms; containment, sandbox, token and loopback   n={samples:<5} {:>7.2} ms   target ≤ {SETUP_TARGET_MS} ms  {}",
                start.loopback,
                added + loopback,
                mark(ok)
            );
            if !ok && verdict == Verdict::Pass {
                verdict = Verdict::TargetMissed;
            }
        }
        Err(e) => {
            println!("  containment, sandbox and token setup: failed: {e:#}");
            verdict = Verdict::Failed;
        }
    }
    let scheduled = big_dag(10_000).context("10 000-node DAG")?;
    let ok = scheduled.cpu <= 1.0;
    println!(
        "  10 000-node DAG scheduled to completion in-process: {:.3} s of CPU ({:.3} s on the wall clock)   target ≤ 1 s  {}",
        scheduled.cpu,
        scheduled.wall,
        mark(ok)
    );
    if !ok && verdict == Verdict::Pass {
        verdict = Verdict::TargetMissed;
    }
    match super::scaling::run(&enki_bin, opts.quick) {
        Ok(true) => {}
        Ok(false) => {
            if verdict == Verdict::Pass {
                verdict = Verdict::TargetMissed;
            }
        }
        Err(e) => {
            println!("  scale: failed: {e:#}");
            verdict = Verdict::Failed;
        }
    }
    // Runs with and without usage reports, alternating; the medians compared.
    let rounds = if opts.quick { 1 } else { 5 };
    let mut plain = Vec::new();
    let mut reporting = Vec::new();
    for _ in 0..rounds {
        for (usage, into) in [(false, &mut plain), (true, &mut reporting)] {
            match sim_execution(&enki_bin, tasks, usage) {
                Ok(run) => into.push(run),
                Err(e) => {
                    println!("  {tasks}-task sim execution: failed: {e:#}");
                    return Ok(Verdict::Failed);
                }
            }
        }
    }
    let seconds = median_by(&plain, |r| r.seconds);
    let ok = seconds <= 60.0;
    println!(
        "  {tasks}-task sim execution, submit → all merged: {seconds:.2} s   target ≤ 60 s  {}",
        mark(ok)
    );
    println!(
        "  coordinator peak memory (its own VmHWM, agents excluded): {:.1} MiB",
        median_by(&plain, |r| r.rss as f64) / 1024.0
    );
    if !ok && verdict == Verdict::Pass {
        verdict = Verdict::TargetMissed;
    }
    let (without, with) = (
        median_by(&plain, |r| r.cpu),
        median_by(&reporting, |r| r.cpu),
    );
    let added = (with - without) / without * 100.0;
    println!(
        "  coordinator CPU of the {tasks}-task run (its own, median of {rounds}): {without:.2} s, {with:.2} s with {USAGE_REPORTS} usage reports per worker: {added:+.1} % (whole runs; this machine's run-to-run noise is about ±5 %, so the target is judged in process, below)"
    );
    // The recording path alone, in process: a run's reports, many times.
    let blocks = if opts.quick { 20 } else { 200 };
    match super::recording::usage_recording(tasks, USAGE_REPORTS, blocks) {
        Ok(samples) => {
            let [p5, p50, p95] =
                [5.0, 50.0, 95.0].map(|p| percentile(&samples, p).unwrap_or(f64::NAN));
            let reports = tasks * USAGE_REPORTS;
            let share = p50 / (without * 1000.0) * 100.0;
            let ok = share <= 1.0;
            println!(
                "  recording usage, in process (each of the run's {reports} reports: the store's upsert, the session's and the task's rows summed, the orchestrator's budget check; thread CPU, {blocks} runs' worth): p50 {p50:.2} ms per run (p5 {p5:.2}, p95 {p95:.2}), {:.1} µs per report = {share:.2} % of the coordinator's CPU for the run ({without:.2} s)   target ≤ 1 %  {}",
                p50 * 1000.0 / reports as f64,
                mark(ok)
            );
            if !ok && verdict == Verdict::Pass {
                verdict = Verdict::TargetMissed;
            }
        }
        Err(e) => {
            println!("  recording usage in process: failed: {e:#}");
            verdict = Verdict::Failed;
        }
    }
    Ok(verdict)
}
