//! `cargo xtask interop-mcp [--bin P]`: `enki mcp` against the official MCP
//! Python SDK (`mcp` on PyPI), over stdio and Streamable HTTP.
//!
//! 1. a virtual environment in `target/interop/venv` (`python3 -m venv`,
//!    or `$ENKI_PYTHON`) with exactly the SDK release that
//!    `xtask/interop/mcp_client.py` pins (`SDK_VERSION = "…"`), installed
//!    with pip the first time (this needs the network, so it is not part of
//!    `cargo xtask ci`);
//! 2. a release `enki` (or `--bin P`), a scratch git project `enki init`ed,
//!    and `enki mcp --transport http` in it with a random token;
//! 3. the script, run with the venv's Python: the SDK's stdio client starts
//!    `enki mcp --role planner` itself, its Streamable HTTP client talks to
//!    the server above, each in the handshake era and in the SDK's default
//!    `auto` mode (2026-07-28); see the script for what it checks;
//! 4. the HTTP server stopped with SIGTERM, which must end it with exit 0.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::bench::http_server::{HttpServer, random_token};
use crate::bench::project::sim_project;

/// The client script, relative to the workspace root.
const SCRIPT: &str = "xtask/interop/mcp_client.py";
/// How long the server may take to say where it listens, and to stop.
const SERVER_TIMEOUT: Duration = Duration::from_secs(30);

pub fn run(args: &[String]) -> ExitCode {
    let mut bin = None;
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        match (arg.as_str(), iter.next()) {
            ("--bin", Some(path)) => bin = Some(PathBuf::from(path)),
            _ => {
                eprintln!("xtask interop-mcp: usage: cargo xtask interop-mcp [--bin PATH]");
                return ExitCode::from(2);
            }
        }
    }
    match interop(bin) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask interop-mcp: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn interop(bin: Option<PathBuf>) -> Result<()> {
    let root = crate::workspace_root();
    let script = root.join(SCRIPT);
    let pinned = pinned_version(&script)?;
    let python = venv_with_sdk(&root, &pinned)?;
    let enki = match bin {
        Some(bin) => std::path::absolute(bin).context("resolving --bin")?,
        None => crate::bench::build_release_binary("enki", "enki")?,
    };
    let project = sim_project(&enki, "")?;
    let token = random_token()?;
    let server = HttpServer::start(&enki, project.path(), &token, SERVER_TIMEOUT)?;
    eprintln!("==> enki mcp --transport http at {}", server.url());
    eprintln!("==> {} (MCP Python SDK {pinned})", SCRIPT);
    let status = Command::new(&python)
        .arg(&script)
        .arg("--enki")
        .arg(&enki)
        .arg("--project")
        .arg(project.path())
        .args(["--url", &server.url(), "--token", &token])
        .current_dir(project.path())
        .stdin(Stdio::null())
        .status()
        .with_context(|| format!("running {}", python.display()))?;
    let stderr = server.stderr();
    let stopped = server.stop(SERVER_TIMEOUT)?;
    if !status.success() {
        bail!("the SDK client failed ({status}); the HTTP server's stderr:\n{stderr}");
    }
    if !stopped.success() {
        bail!("SIGTERM ended `enki mcp --transport http` with {stopped}, not 0; stderr:\n{stderr}");
    }
    println!("interop-mcp: enki mcp works with the MCP Python SDK {pinned} over stdio and HTTP");
    Ok(())
}

/// The SDK release the script pins: its `SDK_VERSION = "…"` line.
fn pinned_version(script: &Path) -> Result<String> {
    let text =
        std::fs::read_to_string(script).with_context(|| format!("reading {}", script.display()))?;
    text.lines()
        .find_map(|line| {
            let value = line.strip_prefix("SDK_VERSION = \"")?.strip_suffix('"')?;
            Some(value.to_owned())
        })
        .with_context(|| format!("{} has no `SDK_VERSION = \"…\"` line", script.display()))
}

/// The venv's Python, with `mcp==pinned` installed (created and installed
/// when missing or another version).
fn venv_with_sdk(root: &Path, pinned: &str) -> Result<PathBuf> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| root.join("target"), |dir| root.join(dir));
    let venv = target.join("interop").join("venv");
    let python = venv.join("bin").join("python");
    if !python.is_file() {
        let base = std::env::var("ENKI_PYTHON").unwrap_or_else(|_| "python3".to_owned());
        eprintln!("==> {base} -m venv {}", venv.display());
        run_quietly(Command::new(&base).arg("-m").arg("venv").arg(&venv)).with_context(|| {
            format!("creating a venv with {base} (set ENKI_PYTHON to another Python 3.10+)")
        })?;
    }
    if installed_version(&python).as_deref() != Some(pinned) {
        eprintln!("==> pip install mcp=={pinned} (into {})", venv.display());
        run_quietly(
            Command::new(&python)
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                ])
                .arg(format!("mcp=={pinned}")),
        )
        .context("installing the MCP Python SDK from PyPI (this needs the network)")?;
        let now = installed_version(&python);
        if now.as_deref() != Some(pinned) {
            bail!("pip installed mcp {now:?}, not {pinned}");
        }
    }
    eprintln!("==> MCP Python SDK: mcp {pinned} in {}", venv.display());
    Ok(python)
}

/// The `mcp` release installed for `python`, if any.
fn installed_version(python: &Path) -> Option<String> {
    let out = Command::new(python)
        .args([
            "-c",
            "import importlib.metadata as m; print(m.version('mcp'))",
        ])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Runs `cmd`; its output is shown only when it fails.
fn run_quietly(cmd: &mut Command) -> Result<()> {
    let out = cmd.stdin(Stdio::null()).output()?;
    if !out.status.success() {
        bail!(
            "{cmd:?} ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}
