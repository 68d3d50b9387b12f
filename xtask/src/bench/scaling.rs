//! The parts of `cargo xtask bench coordinator` about scale: the per-task
//! wall time of runs of 10, 100 and 500 independent `sim` tasks at the same
//! concurrency, the git processes each task starts, and how long scheduling
//! a DAG takes as it grows to 100 000 nodes.

use std::path::Path;
use std::process::Stdio;
use std::time::Instant;

use anyhow::{Result, bail};

use super::coordinator::{big_dag, project};
use super::mark;
use super::project::{enki, git};
use super::stats::median_by;

/// Per-task time at the largest run may be at most this many times that
/// at the smallest.
const SCALING_TARGET: f64 = 1.1;
/// git processes per task, at most.
const GIT_TARGET: f64 = 12.0;
/// Seconds to schedule the 100 000-node DAG, at most.
const DAG_TARGET_SECONDS: f64 = 0.5;
/// Runs of each DAG size; the median counts.
const DAG_RUNS: usize = 5;

/// Runs `tasks` independent one-file `sim` tasks to the end; returns the
/// wall time in seconds. Task `i` rewrites `f<i>.txt`; the project starts
/// with `f0.txt` to `f<files - 1>.txt` committed (`files` 0: each task adds
/// its file, and the repository grows with the run). With `count_git`,
/// every git the run starts goes through a counting `git` first on `PATH`;
/// returns also how many ran.
fn independent_run(
    enki_bin: &Path,
    tasks: usize,
    files: usize,
    count_git: bool,
) -> Result<(f64, u64)> {
    let dir = project(enki_bin)?;
    let root = dir.path();
    if files > 0 {
        for i in 0..files {
            std::fs::write(root.join(format!("f{i}.txt")), "before\n")?;
        }
        git(root, &["add", "."])?;
        git(root, &["commit", "-q", "-m", "the files the tasks rewrite"])?;
    }
    let mut plan = String::from("title = \"scale\"\n");
    for i in 0..tasks {
        std::fs::write(
            root.join(format!(".enki/sim/w{i}.toml")),
            format!(
                "[[turn]]\nsteps = [ {{ write = \"f{i}.txt\", content = \"{i}\\n\" }}, {{ say = \"[OUTPUT]f{i}[/OUTPUT]\" }} ]\n"
            ),
        )?;
        plan.push_str(&format!(
            "\n[[steps]]\nid = \"s{i}\"\ntitle = \"file {i}\"\ndescription = \"[[sim:w{i}]]\"\n"
        ));
    }
    std::fs::write(root.join("plan.toml"), plan)?;
    let mut command = enki(enki_bin, root, &["run", "--plan", "plan.toml"]);
    let counter = tempfile::tempdir()?;
    let log = counter.path().join("calls");
    if count_git {
        let real = which_git()?;
        let wrapper = counter.path().join("git");
        std::fs::write(
            &wrapper,
            format!(
                "#!/bin/sh\necho >> '{}'\nexec '{}' \"$@\"\n",
                log.display(),
                real.display()
            ),
        )?;
        std::fs::set_permissions(
            &wrapper,
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )?;
        let path = std::env::var("PATH").unwrap_or_default();
        command.env("PATH", format!("{}:{path}", counter.path().display()));
    }
    let started = Instant::now();
    let status = command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()?;
    let seconds = started.elapsed().as_secs_f64();
    if !status.success() {
        bail!("the {tasks}-task run failed ({status})");
    }
    let landed = (0..tasks)
        .filter(|i| {
            std::fs::read_to_string(root.join(format!("f{i}.txt")))
                .is_ok_and(|text| text == format!("{i}\n"))
        })
        .count();
    if landed != tasks {
        bail!("only {landed} of {tasks} files were merged");
    }
    let calls = std::fs::read_to_string(&log)
        .map(|text| text.lines().count() as u64)
        .unwrap_or(0);
    Ok((seconds, calls))
}

/// The `git` on `PATH`.
fn which_git() -> Result<std::path::PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("git"))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| anyhow::anyhow!("no git on PATH"))
}

/// Prints the scale figures; `Ok(false)` when a target is missed.
pub fn run(enki_bin: &Path, quick: bool) -> Result<bool> {
    let mut met = true;
    let tasks = if quick { 20 } else { 50 };
    let (_, calls) = independent_run(enki_bin, tasks, 0, true)?;
    let per_task = calls as f64 / tasks as f64;
    let ok = per_task <= GIT_TARGET;
    met &= ok;
    println!(
        "  git processes per task ({tasks} independent sim tasks, every git enki starts, the run's own included): {per_task:.1}   target ≤ {GIT_TARGET}  {}",
        mark(ok)
    );

    let sizes: &[usize] = if quick { &[10, 50] } else { &[10, 100, 500] };
    let largest = sizes[sizes.len() - 1];
    // Judged with the repository the same size in every run (each task
    // rewrites one of `largest` files): only the number of tasks changes.
    // Printed also as each task adding a file, the repository growing with
    // the run: every copy is a checkout of it.
    for (files, judged) in [(largest, true), (0, false)] {
        let mut per_task = Vec::new();
        for &size in sizes {
            let (seconds, _) = independent_run(enki_bin, size, files, false)?;
            per_task.push(seconds / size as f64 * 1000.0);
        }
        let ratio = per_task[per_task.len() - 1] / per_task[0];
        let figures: Vec<String> = sizes
            .iter()
            .zip(&per_task)
            .map(|(size, ms)| format!("{size}: {ms:.1} ms"))
            .collect();
        let verdict = if judged {
            let ok = ratio <= SCALING_TARGET;
            met &= ok;
            format!("target ≤ {SCALING_TARGET}×  {}", mark(ok))
        } else {
            "(information)".to_string()
        };
        let repository = if judged {
            format!("a repository of {files} files, one rewritten per task")
        } else {
            "each task adding a file to the repository".to_string()
        };
        println!(
            "  per-task wall time of independent sim runs (4 workers), submit → all merged, {repository}: {}   {largest} tasks cost {ratio:.2}× per task what {} do   {verdict}",
            figures.join(", "),
            sizes[0],
        );
    }

    met &= dag()?;
    Ok(met)
}

/// Prints how long scheduling the 10 000- and 100 000-node DAGs takes and
/// how that grows; `Ok(false)` when the target is missed. Each size runs
/// [`DAG_RUNS`] times and the median counts. The target is judged on the
/// scheduling thread's CPU time: on this shared 2-core machine the wall
/// clock also counts whatever else runs (both are printed).
fn dag() -> Result<bool> {
    if let Some(nodes) = std::env::var(ONE_DAG).ok().and_then(|n| n.parse().ok()) {
        big_dag(nodes)?;
        return Ok(true);
    }
    let nodes: &[usize] = &[10_000, 100_000];
    let mut medians = Vec::new();
    for &n in nodes {
        let mut runs = Vec::with_capacity(DAG_RUNS);
        for _ in 0..DAG_RUNS {
            runs.push(big_dag(n)?);
        }
        medians.push((median_by(&runs, |r| r.cpu), median_by(&runs, |r| r.wall)));
    }
    let (small, large) = (medians[0], medians[1]);
    let growth = (large.0 / small.0).ln() / 10f64.ln();
    let ok = large.0 <= DAG_TARGET_SECONDS;
    println!(
        "  DAG scheduled to completion in-process (median of {DAG_RUNS}, CPU time; wall clock in brackets): 10 000 nodes {:.3} s ({:.3} s), 100 000 nodes {:.3} s ({:.3} s), time grows as N^{growth:.2}   target ≤ {DAG_TARGET_SECONDS} s at 100 000  {}",
        small.0,
        small.1,
        large.0,
        large.1,
        mark(ok)
    );
    Ok(ok & linear_work()?)
}

/// Set for the xtask that [`scheduling_instructions`] starts under
/// callgrind: it schedules one DAG of that many nodes and exits.
const ONE_DAG: &str = "ENKI_BENCH_ONE_DAG";
/// The most the instructions may grow with N for the work to count linear.
const LINEAR_EXPONENT: f64 = 1.05;

/// Prints how the instructions scheduling executes grow from 10 000 to
/// 100 000 nodes: unlike the time, this does not depend on where the data
/// lives (a core's own cache or the L3 every process shares) or on what
/// else runs. `Ok(false)` when it grows faster than linearly.
fn linear_work() -> Result<bool> {
    let (Some(small), Some(large)) = (
        scheduling_instructions(10_000)?,
        scheduling_instructions(100_000)?,
    ) else {
        println!(
            "  instructions executed scheduling the DAGs: not counted (needs valgrind on PATH)"
        );
        return Ok(true);
    };
    let growth = (large as f64 / small as f64).ln() / 10f64.ln();
    let ok = growth <= LINEAR_EXPONENT;
    println!(
        "  instructions executed scheduling the DAGs (callgrind, inside the orchestrator): 10 000 nodes {:.1} M, 100 000 nodes {:.1} M, growing as N^{growth:.2}   target linear (≤ N^{LINEAR_EXPONENT})  {}",
        small as f64 / 1e6,
        large as f64 / 1e6,
        mark(ok)
    );
    Ok(ok)
}

/// The instructions executed inside `Orchestrator::handle` (building the
/// snapshot is not scheduling) while one DAG of `nodes` nodes is
/// scheduled, counted by callgrind; `None` without valgrind.
fn scheduling_instructions(nodes: usize) -> Result<Option<u64>> {
    let out = tempfile::tempdir()?;
    let ran = std::process::Command::new("valgrind")
        .arg("--tool=callgrind")
        .arg("--toggle-collect=*Orchestrator*handle*")
        .arg(format!(
            "--callgrind-out-file={}",
            out.path().join("callgrind.out").display()
        ))
        .arg(std::env::current_exe()?)
        .args(["bench", "dag"])
        .env(ONE_DAG, nodes.to_string())
        .stdout(Stdio::null())
        .output();
    let output = match ran {
        Ok(output) => output,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let said = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        bail!("callgrind failed on the {nodes}-node DAG: {said}");
    }
    // "==123== Collected : 88153459"
    said.lines()
        .find_map(|line| line.split_once("Collected :"))
        .and_then(|(_, count)| count.trim().replace(',', "").parse().ok())
        .map(Some)
        .ok_or_else(|| anyhow::anyhow!("callgrind gave no count for the {nodes}-node DAG: {said}"))
}

/// `cargo xtask bench scale`: the scale figures of `bench coordinator`
/// alone. The scratch projects go in the system's temporary folder
/// (`TMPDIR`), so the file system they are measured on can be chosen.
pub fn run_scale(opts: &super::Options) -> Result<super::Verdict> {
    let enki_bin = match &opts.bin {
        Some(bin) => bin.clone(),
        None => super::build_release_binary("enki", "enki")?,
    };
    println!(
        "enki at scale: {} (projects in {})\n",
        enki_bin.display(),
        std::env::temp_dir().display()
    );
    Ok(if run(&enki_bin, opts.quick)? {
        super::Verdict::Pass
    } else {
        super::Verdict::TargetMissed
    })
}

/// `cargo xtask bench dag`: the DAG figures of `bench coordinator` alone
/// (no `enki` build, no sim runs).
pub fn run_dag(_: &super::Options) -> Result<super::Verdict> {
    Ok(if dag()? {
        super::Verdict::Pass
    } else {
        super::Verdict::TargetMissed
    })
}
