//! Claude Code's ACP adapter and a Node.js new enough to run it, installed
//! from the npm registry into `target/e2e-agents/` (kept between runs).
//!
//! The adapter (`@agentclientprotocol/claude-agent-acp`) needs Node 22 or
//! newer; the npm registry's `node` package carries the official binary for
//! this platform, so the system's npm installs both into one folder and the
//! agents get that folder's `.bin` first on `PATH`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

/// The adapter's package and the release checked (0.101 starts its sessions
/// in Claude's `auto` mode, which enki must switch to `default`).
pub const ADAPTER: &str = "@agentclientprotocol/claude-agent-acp";
pub const ADAPTER_VERSION: &str = "0.101.0";
/// The `node` package's release (Node 24 LTS; the adapter wants >= 22).
const NODE_VERSION: &str = "24.21.0";
/// The adapter's program, in `node_modules/.bin`.
pub const ADAPTER_BIN: &str = "claude-agent-acp";

/// An installed adapter.
pub struct Installed {
    /// `node_modules/.bin`: `claude-agent-acp` and `node`, to put first on
    /// `PATH`.
    pub bin_dir: PathBuf,
}

/// The cache folder's adapter and Node, installed first when missing or of
/// another version.
pub fn ensure(cache: &Path) -> Result<Installed> {
    let bin_dir = cache.join("node_modules").join(".bin");
    let current = installed_version(cache, ADAPTER).as_deref() == Some(ADAPTER_VERSION)
        && installed_version(cache, "node").as_deref() == Some(NODE_VERSION)
        && bin_dir.join(ADAPTER_BIN).is_file();
    if !current {
        install(cache)?;
    }
    let node = node_version(&bin_dir)?;
    let major: u32 = node
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .with_context(|| format!("`node --version` in {} said {node:?}", bin_dir.display()))?;
    if major < 22 {
        bail!(
            "{} has Node {node}; the adapter needs 22 or newer",
            bin_dir.display()
        );
    }
    eprintln!(
        "==> {ADAPTER} {ADAPTER_VERSION} with Node {node} in {}",
        cache.display()
    );
    Ok(Installed { bin_dir })
}

fn install(cache: &Path) -> Result<()> {
    std::fs::create_dir_all(cache).with_context(|| format!("creating {}", cache.display()))?;
    let manifest = json!({
        "name": "enki-e2e-agents",
        "private": true,
        "description": "Installed by `cargo xtask e2e-agents`; safe to delete.",
        "dependencies": { ADAPTER: ADAPTER_VERSION, "node": NODE_VERSION },
    });
    std::fs::write(
        cache.join("package.json"),
        serde_json::to_string_pretty(&manifest)?,
    )?;
    eprintln!(
        "==> npm install {ADAPTER}@{ADAPTER_VERSION} node@{NODE_VERSION} (into {})",
        cache.display()
    );
    // The system's npm runs on the system's Node, which may be older than
    // the adapter wants: `engine-strict` stays off so that npm only warns.
    let out = Command::new("npm")
        .args([
            "install",
            "--no-audit",
            "--no-fund",
            "--engine-strict=false",
        ])
        .current_dir(cache)
        .stdin(Stdio::null())
        .output()
        .context(
            "running npm (install Node.js and npm, from your system's packages or nodejs.org)",
        )?;
    if !out.status.success() {
        bail!(
            "npm install failed ({}); it needs the npm registry:\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    for (package, version) in [(ADAPTER, ADAPTER_VERSION), ("node", NODE_VERSION)] {
        let got = installed_version(cache, package);
        if got.as_deref() != Some(version) {
            bail!("npm installed {package} {got:?}, not {version}");
        }
    }
    Ok(())
}

/// The version in `node_modules/<package>/package.json`, if installed.
fn installed_version(cache: &Path, package: &str) -> Option<String> {
    let path = cache
        .join("node_modules")
        .join(package)
        .join("package.json");
    let text = std::fs::read_to_string(path).ok()?;
    let manifest: Value = serde_json::from_str(&text).ok()?;
    manifest["version"].as_str().map(str::to_owned)
}

fn node_version(bin_dir: &Path) -> Result<String> {
    let node = bin_dir.join("node");
    let out = Command::new(&node)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .with_context(|| {
            format!(
                "running {} (the `node` package's install script puts the binary there; \
                 did npm skip install scripts?)",
                node.display()
            )
        })?;
    if !out.status.success() {
        bail!("{} --version failed ({})", node.display(), out.status);
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}
