//! `cargo xtask bench mcp`: drives the release `enki mcp` binary over stdio,
//! then over HTTP (`mcp_http.rs`).
//!
//! 1. spawn → `initialize` response, a fresh process per run;
//! 2. the first `tools/list` of a fresh process against its later ones;
//! 3. `tools/list` latency on one warm process;
//! 4. `tools/call enki_status` latency;
//! 5. `tools/call enki_task_create` latency;
//! 6. throughput: many concurrent processes released together by a barrier;
//! 7. over HTTP: `tools/call` latency and 64 concurrent clients.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use super::client::{Client, outcome};
use super::stats::Summary;
use super::{Options, Verdict, mark};

/// Per-response timeout: the client never hangs longer than this.
const TIMEOUT: Duration = Duration::from_secs(10);
/// Un-timed calls made on a fresh process before the latency samples.
const WARMUP_CALLS: usize = 10;

const TARGET_SPAWN_INIT_MS: f64 = 2.0;
const TARGET_TASK_CREATE_MS: f64 = 1.4;
const TARGET_CALLS_PER_SEC: f64 = 2000.0;
/// How much slower the first `tools/list` of a process may be than a later one.
const TARGET_FIRST_LIST_EXTRA_MS: f64 = 0.2;
/// The `tools/list` calls after the first that are timed on each fresh process.
const LATER_LISTS: usize = 4;

struct Sizes {
    spawn_runs: usize,
    latency_calls: usize,
    procs: usize,
    calls_per_proc: usize,
}

impl Sizes {
    fn new(quick: bool) -> Sizes {
        if quick {
            Sizes {
                spawn_runs: 5,
                latency_calls: 20,
                procs: 64,
                calls_per_proc: 10,
            }
        } else {
            Sizes {
                spawn_runs: 50,
                latency_calls: 200,
                procs: 64,
                calls_per_proc: 100,
            }
        }
    }
}

/// How to start `enki mcp --role planner` against the bench project.
struct Server {
    bin: PathBuf,
    project: PathBuf,
    enki_dir: PathBuf,
}

impl Server {
    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.args(["mcp", "--role", "planner"])
            .env("ENKI_DIR", &self.enki_dir)
            .env_remove("ENKI_SESSION_ID")
            .current_dir(&self.project);
        cmd
    }

    fn start(&self) -> Result<Client> {
        let mut client = Client::spawn(self.command(), TIMEOUT)?;
        client.handshake()?;
        Ok(client)
    }
}

pub fn run(opts: &Options) -> Result<Verdict> {
    let bin = match &opts.bin {
        Some(bin) => std::path::absolute(bin).context("resolving --bin")?,
        None => super::build_release_binary("enki", "enki")?,
    };
    let tmp = tempfile::Builder::new()
        .prefix("enki-bench-mcp-")
        .tempdir()
        .context("creating a temporary directory")?;
    let project = tmp.path().to_path_buf();
    let enki_dir = init_project(&bin, &project)?;
    let server = Server {
        bin: bin.clone(),
        project,
        enki_dir,
    };
    let sizes = Sizes::new(opts.quick);

    let mut rows = Vec::new();

    progress(&format!(
        "spawn → initialize, {} fresh processes",
        sizes.spawn_runs
    ));
    rows.push(Row {
        name: "spawn → initialize",
        target_ms: Some(TARGET_SPAWN_INIT_MS),
        result: spawn_to_initialize(&server, sizes.spawn_runs),
    });

    progress(&format!(
        "first tools/list against later ones, {} fresh processes",
        sizes.spawn_runs
    ));
    let first = first_tools_list(&server, sizes.spawn_runs);
    let first_extra = match &first {
        Ok((first, later)) => Some(first.median - later.median),
        Err(_) => None,
    };
    let (first, later) = match first {
        Ok((first, later)) => (Ok(first), Ok(later)),
        Err(err) => (Err(anyhow::anyhow!("{err:#}")), Err(err)),
    };
    rows.push(Row {
        name: "tools/list, first of a process",
        target_ms: None,
        result: first,
    });
    rows.push(Row {
        name: "tools/list, 2nd to 5th",
        target_ms: None,
        result: later,
    });

    let latency: [(&'static str, &'static str, Option<f64>); 3] = [
        ("tools/list", "tools/list", None),
        ("tools/call enki_status", "enki_status", None),
        (
            "tools/call enki_task_create",
            "enki_task_create",
            Some(TARGET_TASK_CREATE_MS),
        ),
    ];
    for (name, what, target_ms) in latency {
        progress(&format!(
            "{name}, {} calls on one warm process",
            sizes.latency_calls
        ));
        let result = latency_bench(&server, sizes.latency_calls, |i| request_for(what, i));
        rows.push(Row {
            name,
            target_ms,
            result,
        });
    }

    progress(&format!(
        "throughput, {} processes × {} tools/call",
        sizes.procs, sizes.calls_per_proc
    ));
    let tput = throughput(&server, sizes.procs, sizes.calls_per_proc);

    // A project of its own, as fresh as the stdio figures' was: what a
    // call costs grows with the tasks the throughput run left behind.
    let http_tmp = tempfile::Builder::new()
        .prefix("enki-bench-mcp-http-")
        .tempdir()
        .context("creating a temporary directory")?;
    init_project(&bin, http_tmp.path())?;
    let http = super::mcp_http::measure(&bin, http_tmp.path(), opts.quick);

    let verdict = report(&bin, opts, &rows, first_extra, &tput, &http);
    drop(tmp);
    Ok(verdict)
}

/// The HTTP figures of [`run`] alone, in a fresh project: quicker to repeat
/// back to back when comparing two builds of the HTTP transport.
pub fn run_http(opts: &Options) -> Result<Verdict> {
    let bin = match &opts.bin {
        Some(bin) => std::path::absolute(bin).context("resolving --bin")?,
        None => super::build_release_binary("enki", "enki")?,
    };
    let tmp = tempfile::Builder::new()
        .prefix("enki-bench-mcp-http-")
        .tempdir()
        .context("creating a temporary directory")?;
    init_project(&bin, tmp.path())?;
    let http = super::mcp_http::measure(&bin, tmp.path(), opts.quick)?;
    println!();
    println!(
        "enki mcp benchmark, HTTP only: {}{}",
        bin.display(),
        if opts.quick { " (--quick)" } else { "" }
    );
    println!();
    let (missed, failed) = http.report();
    Ok(if failed {
        Verdict::Failed
    } else if missed {
        Verdict::TargetMissed
    } else {
        Verdict::Pass
    })
}

/// `git init` (best effort) and `enki init <dir>`; returns the `.enki/` directory.
fn init_project(bin: &Path, project: &Path) -> Result<PathBuf> {
    // A real project is a git repository; enki may rely on it.
    let _ = Command::new("git")
        .args(["init", "-q"])
        .current_dir(project)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    progress(&format!("enki init {}", project.display()));
    let out = Command::new(bin)
        .arg("init")
        .arg(project)
        .current_dir(project)
        .env_remove("ENKI_DIR")
        .env_remove("ENKI_SESSION_ID")
        .stdin(Stdio::null())
        .output()
        .context("running `enki init`")?;
    if !out.status.success() {
        bail!(
            "`enki init {}` failed ({}): {}",
            project.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let enki_dir = project.join(".enki");
    let db = enki_dir.join("db.sqlite");
    if !db.is_file() {
        bail!("`enki init` succeeded but did not create {}", db.display());
    }
    // The bench measures the server, not its rate limit: lift it far above
    // what one process can do.
    std::fs::write(
        enki_dir.join("enki.toml"),
        "[mcp]\nrate_limit = { per_second = 1000000, burst = 1000000 }\n",
    )
    .context("writing the bench's enki.toml")?;
    Ok(enki_dir)
}

fn progress(what: &str) {
    eprintln!("==> {what}");
}

/// The `i`-th request of a latency bench: (method, params).
fn request_for(what: &str, i: usize) -> (&'static str, Value) {
    match what {
        "tools/list" => ("tools/list", json!({})),
        "enki_task_create" => (
            "tools/call",
            json!({"name": "enki_task_create", "arguments": {"title": format!("bench task {i}")}}),
        ),
        _ => (
            "tools/call",
            json!({"name": "enki_status", "arguments": {}}),
        ),
    }
}

/// Spawn → `initialize` response read, one fresh process per run.
fn spawn_to_initialize(server: &Server, runs: usize) -> Result<Summary> {
    let mut samples = Vec::with_capacity(runs);
    for run in 0..runs {
        let mut client = Client::spawn(server.command(), TIMEOUT)?;
        client
            .initialize()
            .with_context(|| format!("run {}", run + 1))?;
        samples.push(client.spawned_at.elapsed());
        client.notify("notifications/initialized", json!({}))?;
        client.close().with_context(|| format!("run {}", run + 1))?;
    }
    Summary::of_durations(&samples).context("no samples")
}

/// The first `tools/list` of each of `runs` fresh processes (after the
/// handshake), and the [`LATER_LISTS`] that follow it on the same process.
fn first_tools_list(server: &Server, runs: usize) -> Result<(Summary, Summary)> {
    let mut first = Vec::with_capacity(runs);
    let mut later = Vec::with_capacity(runs * LATER_LISTS);
    for run in 0..runs {
        let mut client = server.start()?;
        for i in 0..=LATER_LISTS {
            let start = Instant::now();
            let resp = client.request("tools/list", json!({}))?;
            let elapsed = start.elapsed();
            if resp.get("result").is_none() {
                bail!("run {}: tools/list failed: {resp}", run + 1);
            }
            if i == 0 {
                first.push(elapsed);
            } else {
                later.push(elapsed);
            }
        }
        client.close().with_context(|| format!("run {}", run + 1))?;
    }
    Ok((
        Summary::of_durations(&first).context("no samples")?,
        Summary::of_durations(&later).context("no samples")?,
    ))
}

/// Latency of `calls` requests on one warm process; any error aborts the measurement.
fn latency_bench(
    server: &Server,
    calls: usize,
    request: impl Fn(usize) -> (&'static str, Value),
) -> Result<Summary> {
    let mut client = server.start()?;
    let mut samples = Vec::with_capacity(calls);
    for i in 0..WARMUP_CALLS + calls {
        let (method, params) = request(i);
        let start = Instant::now();
        let resp = client.request(method, params)?;
        let elapsed = start.elapsed();
        if let Err(text) = outcome(&resp) {
            bail!("call {}: {text}", i + 1);
        }
        if i >= WARMUP_CALLS {
            samples.push(elapsed);
        }
    }
    client.close()?;
    Summary::of_durations(&samples).context("no samples")
}

#[derive(Default)]
struct Throughput {
    procs: usize,
    calls_per_proc: usize,
    /// Responses received (successful or not).
    responses: usize,
    /// JSON-RPC errors, `isError` results and transport failures.
    errors: usize,
    first_error: Option<String>,
    /// Clients that could not be set up or lost their server.
    failed_clients: usize,
    wall: Duration,
}

impl Throughput {
    fn calls_per_sec(&self) -> f64 {
        let secs = self.wall.as_secs_f64();
        if secs > 0.0 {
            self.responses as f64 / secs
        } else {
            0.0
        }
    }
}

/// What one throughput client did.
#[derive(Default)]
struct ClientRun {
    responses: usize,
    errors: usize,
    first_error: Option<String>,
    failed: bool,
    end: Option<Instant>,
}

impl ClientRun {
    fn error(&mut self, text: String) {
        self.errors += 1;
        self.first_error.get_or_insert(text);
    }
}

/// `procs` processes, each set up (spawn + handshake), then released together; each makes
/// `calls` `tools/call`s alternating `enki_task_create` and `enki_status`. Wall time runs from
/// the release to the last response.
fn throughput(server: &Server, procs: usize, calls: usize) -> Throughput {
    let barrier = Barrier::new(procs + 1);
    let (release, runs) = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..procs)
            .map(|p| {
                let barrier = &barrier;
                std::thread::Builder::new()
                    .stack_size(256 * 1024)
                    .spawn_scoped(scope, move || {
                        let setup = server.start();
                        // Every thread reaches the barrier exactly once, set up or not.
                        barrier.wait();
                        throughput_client(p, setup, calls)
                    })
                    .expect("spawning a bench thread")
            })
            .collect();
        barrier.wait();
        let release = Instant::now();
        let runs: Vec<ClientRun> = handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| ClientRun {
                    failed: true,
                    first_error: Some("bench thread panicked".into()),
                    errors: 1,
                    ..ClientRun::default()
                })
            })
            .collect();
        (release, runs)
    });

    let mut t = Throughput {
        procs,
        calls_per_proc: calls,
        ..Throughput::default()
    };
    let mut last = release;
    for run in runs {
        t.responses += run.responses;
        t.errors += run.errors;
        t.failed_clients += usize::from(run.failed);
        if t.first_error.is_none() {
            t.first_error = run.first_error;
        }
        if let Some(end) = run.end {
            last = last.max(end);
        }
    }
    t.wall = last - release;
    t
}

fn throughput_client(p: usize, setup: Result<Client>, calls: usize) -> ClientRun {
    let mut run = ClientRun::default();
    let mut client = match setup {
        Ok(client) => client,
        Err(err) => {
            run.failed = true;
            run.error(format!("process {p}: setup failed: {err:#}"));
            return run;
        }
    };
    for i in 0..calls {
        let (name, args) = if i % 2 == 0 {
            (
                "enki_task_create",
                json!({"title": format!("bench task {p}-{i}")}),
            )
        } else {
            ("enki_status", json!({}))
        };
        match client.call_tool(name, args) {
            Ok(resp) => {
                run.responses += 1;
                if let Err(text) = outcome(&resp) {
                    run.error(format!("process {p}, call {} ({name}): {text}", i + 1));
                }
            }
            Err(err) => {
                run.failed = true;
                run.error(format!("process {p}, call {} ({name}): {err:#}", i + 1));
                break;
            }
        }
    }
    run.end = Some(Instant::now());
    if let Err(err) = client.close() {
        run.failed = true;
        run.error(format!("process {p}: {err:#}"));
    }
    run
}

struct Row {
    name: &'static str,
    /// Target for the median, in ms.
    target_ms: Option<f64>,
    result: Result<Summary>,
}

/// Print the results table; return the overall verdict.
fn report(
    bin: &Path,
    opts: &Options,
    rows: &[Row],
    first_extra: Option<f64>,
    t: &Throughput,
    http: &Result<super::mcp_http::HttpFigures>,
) -> Verdict {
    let mut failed = false;
    let mut missed = false;
    println!();
    println!(
        "enki mcp benchmark: {}{}",
        bin.display(),
        if opts.quick { " (--quick)" } else { "" }
    );
    println!();
    println!(
        "  {:<32} {:>5} {:>10} {:>10} {:>10}   target (median)",
        "benchmark", "n", "median", "p99", "max"
    );
    println!("  {}", "─".repeat(88));
    for row in rows {
        match &row.result {
            Ok(s) => {
                let target = match row.target_ms {
                    Some(target) => {
                        let ok = s.median <= target;
                        missed |= !ok;
                        format!("≤ {target} ms  {}", mark(ok))
                    }
                    None => "—".to_owned(),
                };
                println!(
                    "  {:<32} {:>5} {:>7.3} ms {:>7.3} ms {:>7.3} ms   {target}",
                    row.name, s.n, s.median, s.p99, s.max
                );
            }
            Err(err) => {
                failed = true;
                println!("  {:<32} FAILED: {err:#}", row.name);
            }
        }
    }
    if let Some(extra) = first_extra {
        let ok = extra <= TARGET_FIRST_LIST_EXTRA_MS;
        missed |= !ok;
        println!(
            "  first tools/list of a process is {extra:+.3} ms against a later one (medians)   target ≤ +{TARGET_FIRST_LIST_EXTRA_MS} ms  {}",
            mark(ok)
        );
    }
    println!();
    let total = t.procs * t.calls_per_proc;
    let rate = t.calls_per_sec();
    let rate_ok = rate >= TARGET_CALLS_PER_SEC;
    let errors_ok = t.errors == 0;
    missed |= !rate_ok || !errors_ok;
    failed |= t.failed_clients > 0;
    println!(
        "  throughput: {} processes × {} tools/call (enki_task_create / enki_status alternating)",
        t.procs, t.calls_per_proc
    );
    println!(
        "    {} of {total} responses in {:.1} ms wall (release → last response)",
        t.responses,
        t.wall.as_secs_f64() * 1e3
    );
    println!(
        "    {:<10.0} calls/s   target ≥ {TARGET_CALLS_PER_SEC:.0} calls/s  {}",
        rate,
        mark(rate_ok)
    );
    println!(
        "    {:<10} errors    target 0  {}",
        t.errors,
        mark(errors_ok)
    );
    if t.failed_clients > 0 {
        println!(
            "    {} client(s) failed or lost their server",
            t.failed_clients
        );
    }
    if let Some(first) = &t.first_error {
        println!("    first error: {first}");
    }
    println!();
    match http {
        Ok(http) => {
            let (http_missed, http_failed) = http.report();
            missed |= http_missed;
            failed |= http_failed;
        }
        Err(err) => {
            failed = true;
            println!("  over HTTP: FAILED: {err:#}");
            println!();
        }
    }
    let verdict = if failed {
        Verdict::Failed
    } else if missed {
        Verdict::TargetMissed
    } else {
        Verdict::Pass
    };
    let summary = match verdict {
        Verdict::Pass => "all targets met",
        Verdict::TargetMissed => "some targets missed",
        Verdict::Failed => "some measurements failed",
    };
    println!("  result: {summary}");
    verdict
}
