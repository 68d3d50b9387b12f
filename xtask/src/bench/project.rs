//! Scratch projects for the benchmarks that run the real `enki` binary.

use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Result, bail};

/// Sets the fixed identity the benchmarks commit as.
pub fn bench_identity(cmd: &mut Command) -> &mut Command {
    cmd.env("GIT_AUTHOR_NAME", "bench")
        .env("GIT_AUTHOR_EMAIL", "bench@enki.invalid")
        .env("GIT_COMMITTER_NAME", "bench")
        .env("GIT_COMMITTER_EMAIL", "bench@enki.invalid")
}

/// `enki <args>` in `root`, outside any enki session, committing as the
/// benchmarks' identity.
pub fn enki(enki: &Path, root: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(enki);
    cmd.args(args)
        .current_dir(root)
        .env_remove("ENKI_DIR")
        .env_remove("ENKI_SESSION_ID");
    bench_identity(&mut cmd);
    cmd
}

/// Runs git in `dir` with a fixed identity, quietly.
pub fn git(dir: &Path, args: &[&str]) -> Result<()> {
    let status = bench_identity(Command::new("git").arg("-C").arg(dir).args(args))
        .stdout(Stdio::null())
        .status()?;
    if !status.success() {
        bail!("git {args:?} failed");
    }
    Ok(())
}

/// A temporary git project with one commit, `enki init` done, `config` as
/// its `.enki/enki.toml` and an empty `.enki/sim/` for scripts.
pub fn sim_project(enki: &Path, config: &str) -> Result<tempfile::TempDir> {
    let dir = tempfile::tempdir()?;
    let root = dir.path();
    std::fs::write(root.join("README.md"), "bench\n")?;
    git(root, &["init", "-q", "-b", "main"])?;
    git(root, &["add", "."])?;
    git(root, &["commit", "-q", "-m", "initial"])?;
    let status = Command::new(enki)
        .arg("init")
        .current_dir(root)
        .stdout(Stdio::null())
        .status()?;
    if !status.success() {
        bail!("enki init failed");
    }
    std::fs::create_dir_all(root.join(".enki/sim"))?;
    std::fs::write(root.join(".enki/enki.toml"), config)?;
    Ok(dir)
}
