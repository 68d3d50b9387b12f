//! `cargo xtask bench merge --files N`: one landing in a synthetic
//! repository of N files, through the real queue, against the git floor.
//!
//! - the floor: the four git commands a landing cannot do without, run by
//!   hand on the same repository (`merge-tree --write-tree`, `commit-tree`,
//!   `update-ref` from the old tip, `read-tree -m -u` to update the
//!   checkout);
//! - the queue: a release `enki run --json` resumes one finished task and
//!   lands it; the time is from its `merge_queued` event to its
//!   `merge_landed` event, both stamped by enki (the clean-up of the copy
//!   follows, off the queue's path, and is not counted).
//!
//! Each is sampled several times, one new branch per sample, and the medians
//! are compared. Both sides start from written-back files (`sync` before
//! each timed landing), so that neither pays for the preparation's writes.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use enki_core::{TaskStatus, Tier};
use enki_store::{NewStep, Store};
use enki_workspace::{CopyRequest, Git, commit_all, create_copy};

use super::project::{bench_identity, enki, git, sim_project};
use super::stats::median_by;
use super::{Options, Verdict, mark};

/// The queue's landing may cost at most this many times the git floor.
const TARGET_RATIO: f64 = 1.2;

pub fn run(opts: &Options, enki_bin: &Path, files: usize) -> Result<Verdict> {
    // Each landing takes some 40 ms, of which a busy shared machine can
    // take 10: enough samples for the medians to settle.
    let samples = if opts.quick { 3 } else { 15 };
    let prepare = Instant::now();
    let dir = sim_project(enki_bin, "[agent]\ncommand = \"sim\"\n")?;
    let root = dir.path().canonicalize()?;
    write_files(&root, files)?;
    git(&root, &["add", "."])?;
    git(&root, &["commit", "-q", "-m", "the synthetic files"])?;
    println!(
        "enki merge benchmark at scale: one landing in a repository of {files} files (made in {:.1} s)\n",
        prepare.elapsed().as_secs_f64()
    );

    let mut floor = Vec::new();
    let mut queue = Vec::new();
    // Alternating, so that a busy machine slows both alike.
    for sample in 0..samples {
        floor.push(floor_landing(&root, sample).context("the git floor")?);
        queue.push(queue_landing(enki_bin, &root, sample).context("the real queue")?);
    }
    let (floor, queue) = (median_by(&floor, |x| *x), median_by(&queue, |x| *x));
    let ratio = queue / floor;
    let ok = ratio <= TARGET_RATIO;
    println!(
        "  git floor by hand (merge-tree, commit-tree, update-ref, read-tree -m -u)   n={samples}  median {:>7.1} ms",
        floor * 1000.0
    );
    println!(
        "  the real queue (enki run: merge_queued → merge_landed)                     n={samples}  median {:>7.1} ms   {ratio:.2}× the floor   target ≤ {TARGET_RATIO}×  {}",
        queue * 1000.0,
        mark(ok)
    );
    Ok(if ok {
        Verdict::Pass
    } else {
        Verdict::TargetMissed
    })
}

/// `files` small files, a hundred to a folder.
fn write_files(root: &Path, files: usize) -> Result<()> {
    for i in 0..files {
        let folder = root.join(format!("src/d{:03}", i / 100));
        if i % 100 == 0 {
            std::fs::create_dir_all(&folder)?;
        }
        std::fs::write(
            folder.join(format!("f{i:05}.txt")),
            format!("file {i}\nsome content to hash\n"),
        )?;
    }
    Ok(())
}

/// Runs plain git in `root` and returns its trimmed output.
fn plain_git(root: &Path, args: &[&str]) -> Result<String> {
    let output = bench_identity(Command::new("git").arg("-C").arg(root).args(args))
        .stdin(Stdio::null())
        .output()?;
    if !output.status.success() {
        bail!(
            "git {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// A branch off `main` that adds one file, made without a checkout.
fn branch_adding_file(root: &Path, branch: &str, file: &str) -> Result<()> {
    let blob = {
        let mut child = Command::new("git")
            .arg("-C")
            .arg(root)
            .args(["hash-object", "-w", "--stdin"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        use std::io::Write;
        child
            .stdin
            .take()
            .context("git's stdin")?
            .write_all(format!("{file}\n").as_bytes())?;
        let output = child.wait_with_output()?;
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    };
    let index = root.join(".git").join(format!("bench-index-{branch}"));
    let with_index = |args: &[&str]| -> Result<String> {
        let output = bench_identity(Command::new("git").arg("-C").arg(root).args(args))
            .env("GIT_INDEX_FILE", &index)
            .output()?;
        if !output.status.success() {
            bail!(
                "git {args:?} failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
    };
    with_index(&["read-tree", "main"])?;
    with_index(&[
        "update-index",
        "--add",
        "--cacheinfo",
        &format!("100644,{blob},{file}"),
    ])?;
    let tree = with_index(&["write-tree"])?;
    let commit = with_index(&["commit-tree", &tree, "-p", "main", "-m", file])?;
    std::fs::remove_file(&index)?;
    plain_git(
        root,
        &["update-ref", &format!("refs/heads/{branch}"), &commit],
    )?;
    Ok(())
}

/// One landing by hand: seconds for the four commands.
fn floor_landing(root: &Path, sample: usize) -> Result<f64> {
    let (branch, file) = (format!("floor-{sample}"), format!("floor-{sample}.txt"));
    branch_adding_file(root, &branch, &file)?;
    let old = plain_git(root, &["rev-parse", "refs/heads/main"])?;
    settle_writes()?;
    let started = Instant::now();
    let merged = plain_git(root, &["merge-tree", "--write-tree", &old, &branch])?;
    let tree = merged.lines().next().unwrap_or_default().to_string();
    let commit = plain_git(root, &["commit-tree", &tree, "-p", &old, "-m", &file])?;
    plain_git(root, &["update-ref", "refs/heads/main", &commit, &old])?;
    plain_git(root, &["read-tree", "-m", "-u", &old, &commit])?;
    let seconds = started.elapsed().as_secs_f64();
    if !root.join(&file).is_file() {
        bail!("{file} did not reach the checkout");
    }
    plain_git(root, &["branch", "-D", &branch])?;
    Ok(seconds)
}

/// One landing through the queue: a finished task whose copy adds one
/// file, resumed by `enki run --json`; seconds from queued to landed.
fn queue_landing(enki_bin: &Path, root: &Path, sample: usize) -> Result<f64> {
    let file = format!("queue-{sample}.txt");
    let mut store = Store::open_existing(&root.join(".enki/db.sqlite"))?;
    let step = NewStep {
        tier: Tier::Light,
        ..NewStep::new(format!("s{sample}"), file.clone())
    };
    let created = store.create_execution(None, &file, false, &[step])?;
    let task = &created.steps[0].1;
    let project = Git::new(root);
    let copy = create_copy(&CopyRequest {
        project: &project,
        copies_dir: &root.join(".enki/copies"),
        task_id: task,
        base: "main",
        ignored: enki_workspace::Ignored::Nothing,
        pool: None,
    })?;
    std::fs::write(copy.path.join(&file), format!("{file}\n"))?;
    commit_all(&project, &copy.path, task)?;
    store.set_task_status(task, TaskStatus::WorkerDone)?;
    drop(store);
    settle_writes()?;

    let mut child = enki(enki_bin, root, &["run", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let (mut queued, mut landed) = (None, None);
    for line in BufReader::new(child.stdout.take().context("enki's stdout")?).lines() {
        let event: serde_json::Value = serde_json::from_str(&line?)?;
        let at = event["at"].as_str().and_then(seconds_of_day);
        match event["event"].as_str() {
            Some("merge_queued") => queued = queued.or(at),
            Some("merge_landed") => landed = landed.or(at),
            _ => {}
        }
    }
    let status = child.wait()?;
    if !status.success() {
        bail!("enki run exited with {status}");
    }
    if !root.join(&file).is_file() {
        bail!("{file} did not reach the checkout");
    }
    match (queued, landed) {
        (Some(queued), Some(landed)) => Ok((landed - queued).rem_euclid(86_400.0)),
        _ => bail!("enki run reported no merge_queued and merge_landed events"),
    }
}

/// Writes the file system's dirty pages back before a timed landing, so
/// that neither side pays for the preparation's writes (the queue's copy of
/// every file, made just before, would otherwise still be on its way to the
/// disk while git renames the new index and refs into place).
fn settle_writes() -> Result<()> {
    let status = Command::new("sync").status().context("running sync")?;
    if !status.success() {
        bail!("sync exited with {status}");
    }
    Ok(())
}

/// Seconds since midnight of an RFC 3339 time as enki stamps its events
/// (`2026-12-07T05:41:00.123456Z`).
fn seconds_of_day(at: &str) -> Option<f64> {
    let time = at.split_once('T')?.1.trim_end_matches('Z');
    let mut parts = time.split(':');
    let hours: f64 = parts.next()?.parse().ok()?;
    let minutes: f64 = parts.next()?.parse().ok()?;
    let seconds: f64 = parts.next()?.parse().ok()?;
    Some(hours * 3600.0 + minutes * 60.0 + seconds)
}
