//! `cargo xtask bench [NAME] [--quick] [--check]`.
//!
//! Every figure comes from a release build: `cargo xtask` runs a dev-profile
//! xtask, which builds itself with `--release` and runs the benchmark in that
//! binary (the in-process figures, the clients' clocks), and the end-to-end
//! figures time a release `enki`.

pub mod client;
mod coordinator;
pub mod http_server;
mod mcp;
mod mcp_http;
mod merge;
mod merge_scale;
pub mod project;
mod recording;
mod scaling;
mod stats;
mod tui;

use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// A benchmark's entry point.
type Bench = fn(&Options) -> Result<Verdict>;

/// Every benchmark: (name, what it measures, entry point).
const BENCHES: &[(&str, &str, Bench)] = &[
    (
        "mcp",
        "`enki mcp` server: startup, request latency, concurrent throughput",
        mcp::run,
    ),
    (
        "mcp-http",
        "`enki mcp --transport http` alone: latency and 64-client throughput (mcp's HTTP part)",
        mcp::run_http,
    ),
    (
        "coordinator",
        "coordinator: signal latency, 10 000-node DAG, 50-task sim run, peak memory, git processes per task, per-task time at 10/100/500 tasks, 100 000-node DAG, what recording usage costs",
        coordinator::run,
    ),
    (
        "signal",
        "coordinator's signal latency alone: a signal file renamed into place → its effect in the store (`enki pause` of a running step)",
        coordinator::run_signal,
    ),
    (
        "scale",
        "coordinator at scale alone: git processes per task, per-task time at 10/100/500 tasks, the 100 000-node DAG (the projects go in TMPDIR)",
        scaling::run_scale,
    ),
    (
        "dag",
        "coordinator's scheduling alone: the 10 000- and 100 000-node DAGs of `coordinator`",
        scaling::run_dag,
    ),
    (
        "merge",
        "merge queue: merges per second for 50 small branches; --files N: one landing in an N-file repository against the git floor",
        merge::run,
    ),
    (
        "tui",
        "TUI: one frame with 50 workers and a 10 000-line transcript, idle CPU",
        tui::run,
    ),
];

#[derive(Debug, Clone, Default)]
pub struct Options {
    /// About 10x fewer iterations, for smoke tests.
    pub quick: bool,
    /// Exit non-zero when a target is missed.
    pub check: bool,
    /// Use this binary instead of building the release one.
    pub bin: Option<PathBuf>,
    /// `--files N`: the size of the synthetic repository (merge).
    pub files: Option<usize>,
}

pub fn run(args: &[String]) -> ExitCode {
    let mut opts = Options::default();
    let mut name = None;
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "--quick" => opts.quick = true,
            "--bin" => match iter.next() {
                // Absolute: benchmarks start it from scratch folders.
                Some(path) => {
                    let path = PathBuf::from(path);
                    opts.bin = Some(std::path::absolute(&path).unwrap_or(path));
                }
                None => {
                    eprintln!("xtask bench: --bin needs a path");
                    return ExitCode::from(2);
                }
            },
            "--check" => opts.check = true,
            "--files" => match iter.next().and_then(|n| n.parse().ok()) {
                Some(files) => opts.files = Some(files),
                None => {
                    eprintln!("xtask bench: --files needs a number of files");
                    return ExitCode::from(2);
                }
            },
            flag if flag.starts_with('-') => {
                eprintln!("xtask bench: unknown option `{flag}` (see `cargo xtask help`)");
                return ExitCode::from(2);
            }
            other if name.is_none() => name = Some(other),
            other => {
                eprintln!("xtask bench: unexpected argument `{other}`");
                return ExitCode::from(2);
            }
        }
    }
    let Some(name) = name else {
        list();
        return ExitCode::SUCCESS;
    };
    let Some((_, _, bench)) = BENCHES.iter().find(|(n, _, _)| *n == name) else {
        eprintln!("xtask bench: unknown benchmark `{name}` (run `cargo xtask bench` for the list)");
        return ExitCode::from(2);
    };
    if cfg!(debug_assertions) {
        return run_release_build(args);
    }
    let exe = std::env::current_exe().unwrap_or_default();
    println!(
        "every figure below is from a release build (this harness: {})\n",
        exe.display()
    );
    match bench(&opts) {
        Ok(verdict) => verdict.exit_code(&opts),
        Err(err) => {
            eprintln!("xtask bench {name}: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Set for the release-built xtask that [`run_release_build`] starts, so one
/// that still has debug assertions refuses instead of starting itself again.
const RELEASE_CHILD: &str = "ENKI_XTASK_BENCH_RELEASE_CHILD";

/// This xtask is unoptimised (`cargo xtask` uses the dev profile), so its
/// timings would be several times too slow: builds xtask with `--release` and
/// runs `bench ARGS` there, exiting as it does.
fn run_release_build(args: &[String]) -> ExitCode {
    if std::env::var_os(RELEASE_CHILD).is_some() {
        eprintln!(
            "xtask bench: refusing to time an unoptimised build: the xtask built with --release has debug assertions on (see [profile.release] in Cargo.toml)"
        );
        return ExitCode::FAILURE;
    }
    let exe = match build_release_binary("xtask", "xtask") {
        Ok(exe) => exe,
        Err(err) => {
            eprintln!("xtask bench: {err:#}");
            return ExitCode::FAILURE;
        }
    };
    match Command::new(&exe)
        .arg("bench")
        .args(args)
        .env(RELEASE_CHILD, "1")
        .status()
    {
        Ok(status) => status
            .code()
            .and_then(|code| u8::try_from(code).ok())
            .map_or(ExitCode::FAILURE, ExitCode::from),
        Err(err) => {
            eprintln!("xtask bench: cannot run {}: {err}", exe.display());
            ExitCode::FAILURE
        }
    }
}

fn list() {
    println!("available benchmarks (cargo xtask bench <name> [--quick] [--check]):");
    for (name, what, _) in BENCHES {
        println!("  {name:<12} {what}");
    }
}

/// Outcome of a benchmark run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Everything ran and every target was met.
    Pass,
    /// Everything ran, some target was missed.
    TargetMissed,
    /// Some measurement could not be completed.
    Failed,
}

impl Verdict {
    fn exit_code(self, opts: &Options) -> ExitCode {
        match self {
            Verdict::Pass => ExitCode::SUCCESS,
            Verdict::TargetMissed if !opts.check => ExitCode::SUCCESS,
            Verdict::TargetMissed | Verdict::Failed => ExitCode::FAILURE,
        }
    }
}

/// `✔` for a met target, `✘` for a missed one.
pub fn mark(ok: bool) -> &'static str {
    if ok { "✔" } else { "✘" }
}

/// `cargo build --release -p <package>` and return the path of binary `bin`.
pub fn build_release_binary(package: &str, bin: &str) -> Result<PathBuf> {
    let root = crate::workspace_root();
    eprintln!("==> cargo build --release -p {package}");
    let output = Command::new(crate::cargo())
        .args([
            "build",
            "--release",
            "-p",
            package,
            "--message-format=json-render-diagnostics",
        ])
        .current_dir(&root)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .output()
        .context("running cargo build")?;
    if !output.status.success() {
        bail!(
            "`cargo build --release -p {package}` failed ({})",
            output.status
        );
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let exe = stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|msg| msg["reason"] == "compiler-artifact" && msg["target"]["name"] == bin)
        .filter_map(|msg| msg["executable"].as_str().map(PathBuf::from))
        .next_back();
    let exe = exe.unwrap_or_else(|| {
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map_or_else(|| root.join("target"), |dir| root.join(dir));
        target.join("release").join(bin)
    });
    if !exe.is_file() {
        bail!("built `{package}` but found no binary at {}", exe.display());
    }
    Ok(exe)
}
