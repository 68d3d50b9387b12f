//! `cargo xtask bench merge`: merges per second for 50 small
//! non-conflicting branches, measured twice:
//!
//! - the git steps alone, landed one by one the way the merge queue does
//!   (squash onto the current base, then a compare-and-swap of the branch);
//! - the real queue: a release `enki run` resumes 50 finished tasks and lands
//!   them through the coordinator (every state transition in SQLite, the
//!   checkout update, the clean-up of branches and copies).
//!
//! With `--files N`, one landing in an N-file repository instead
//! (`merge_scale`).

use std::path::Path;
use std::process::Stdio;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use enki_core::{TaskStatus, Tier};
use enki_store::{NewStep, Store};
use enki_workspace::{
    Advance, CopyRequest, Git, Squash, advance_branch, commit_all, create_copy, squash_onto,
};

use super::project::{enki, sim_project};
use super::{Options, Verdict, build_release_binary};

/// The queue should land at least this many merges per second.
const QUEUE_TARGET_PER_SECOND: f64 = 10.0;

pub fn run(opts: &Options) -> Result<Verdict> {
    if let Some(files) = opts.files {
        let enki_bin = match &opts.bin {
            Some(bin) => bin.clone(),
            None => build_release_binary("enki", "enki")?,
        };
        return super::merge_scale::run(opts, &enki_bin, files);
    }
    let branches = if opts.quick { 10 } else { 50 };
    let dir = tempfile::tempdir()?;
    let root = dir.path().canonicalize()?;
    let git = Git::new(&root);
    git.run(&["init", "-q", "-b", "main"])?;
    git.run(&["config", "user.name", "bench"])?;
    git.run(&["config", "user.email", "bench@enki.invalid"])?;
    std::fs::write(root.join("README.md"), "bench\n")?;
    std::fs::write(root.join(".gitignore"), "/.enki/\n")?;
    git.run(&["add", "."])?;
    git.run(&["commit", "-q", "-m", "initial"])?;
    let copies = root.join(".enki/copies");
    let prepare = Instant::now();
    for i in 0..branches {
        let task = format!("task-{i:03}");
        let copy = create_copy(&CopyRequest {
            project: &git,
            copies_dir: &copies,
            task_id: &task,
            base: "main",
            ignored: enki_workspace::Ignored::Nothing,
            pool: None,
        })?;
        std::fs::write(copy.path.join(format!("file-{i:03}.txt")), format!("{i}\n"))?;
        commit_all(&git, &copy.path, &task)?;
    }
    let prepared_in = prepare.elapsed();

    let started = Instant::now();
    for i in 0..branches {
        let branch = format!("enki/task-{i:03}");
        loop {
            let old = git.rev_parse("refs/heads/main")?;
            let commit = match squash_onto(&git, &old, &branch, &format!("task {i}"))? {
                Squash::Clean { commit } => commit,
                other => bail!("{branch}: unexpected {other:?}"),
            };
            match advance_branch(&git, "main", &old, &commit)? {
                Advance::Moved => break,
                Advance::BaseMoved => continue,
                Advance::WouldOverwrite { detail } | Advance::WriteFailed { detail } => {
                    bail!("{branch}: {detail}")
                }
            }
        }
    }
    let elapsed = started.elapsed();
    let per_second = branches as f64 / elapsed.as_secs_f64();
    let landed = (0..branches)
        .filter(|i| root.join(format!("file-{i:03}.txt")).exists())
        .count();
    if landed != branches {
        bail!("only {landed} of {branches} files reached the checkout");
    }
    println!("enki merge benchmark ({branches} small non-conflicting branches)\n");
    println!(
        "  copies + commits prepared in {:.2} s",
        prepared_in.as_secs_f64()
    );
    println!(
        "  landed {branches} squash merges in {:.2} s: {per_second:.1} merges/s",
        elapsed.as_secs_f64()
    );

    let enki_bin = match &opts.bin {
        Some(bin) => bin.clone(),
        None => build_release_binary("enki", "enki")?,
    };
    let (seconds, prepared) = queue(&enki_bin, branches).context("the merge queue")?;
    let per_second = branches as f64 / seconds;
    let ok = per_second >= QUEUE_TARGET_PER_SECOND;
    println!(
        "  the real queue (enki run, {branches} finished tasks prepared in {prepared:.2} s): {seconds:.2} s, {per_second:.1} merges/s   target ≥ {QUEUE_TARGET_PER_SECOND} merges/s  {}",
        if ok { "✔" } else { "✘" }
    );
    Ok(if ok {
        Verdict::Pass
    } else {
        Verdict::TargetMissed
    })
}

/// Prepares `tasks` finished tasks (one execution, each with a branch adding
/// one file), then times `enki run` resuming them until all have landed.
/// Returns (seconds to land, seconds to prepare).
fn queue(enki_bin: &Path, tasks: usize) -> Result<(f64, f64)> {
    let prepare = Instant::now();
    let dir = sim_project(enki_bin, "[agent]\ncommand = \"sim\"\n")?;
    let root = dir.path().canonicalize()?;
    let mut store = Store::open_existing(&root.join(".enki/db.sqlite"))?;
    let steps: Vec<NewStep> = (0..tasks)
        .map(|i| NewStep {
            tier: Tier::Light,
            ..NewStep::new(format!("s{i}"), format!("file {i}"))
        })
        .collect();
    let created = store.create_execution(None, "merge bench", false, &steps)?;
    let git = Git::new(&root);
    for (i, (_, task)) in created.steps.iter().enumerate() {
        let copy = create_copy(&CopyRequest {
            project: &git,
            copies_dir: &root.join(".enki/copies"),
            task_id: task,
            base: "main",
            ignored: enki_workspace::Ignored::Nothing,
            pool: None,
        })?;
        std::fs::write(copy.path.join(format!("file-{i:03}.txt")), format!("{i}\n"))?;
        commit_all(&git, &copy.path, task)?;
        store.set_task_status(task, TaskStatus::WorkerDone)?;
    }
    drop(store);
    let prepared = prepare.elapsed().as_secs_f64();

    let started = Instant::now();
    let status = enki(enki_bin, &root, &["run"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()?;
    let seconds = started.elapsed().as_secs_f64();
    if !status.success() {
        bail!("enki run exited with {status}");
    }
    let landed = (0..tasks)
        .filter(|i| root.join(format!("file-{i:03}.txt")).exists())
        .count();
    if landed != tasks {
        bail!("only {landed} of {tasks} files reached the checkout");
    }
    Ok((seconds, prepared))
}
