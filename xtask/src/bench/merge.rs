//! `cargo xtask bench merge`: merges per second for 50 small
//! non-conflicting branches, landed one by one the way the merge queue does
//! (squash onto the current base, then a compare-and-swap of the branch).

use std::time::Instant;

use anyhow::{Result, bail};
use enki_workspace::{
    Advance, CopyRequest, Git, Squash, advance_branch, commit_all, create_copy, squash_onto,
};

use super::{Options, Verdict};

pub fn run(opts: &Options) -> Result<Verdict> {
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
            include_ignored: false,
        })?;
        std::fs::write(copy.path.join(format!("file-{i:03}.txt")), format!("{i}\n"))?;
        commit_all(&copy.path, &task)?;
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
                Advance::WouldOverwrite { detail } => bail!("{branch}: {detail}"),
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
    Ok(Verdict::Pass)
}
