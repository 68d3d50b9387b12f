//! `enki doctor`: checks git, the configured agents, reflink support,
//! file-watch limits and the database, and says how to fix what is wrong.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::Result;
use serde::Serialize;

use super::agents::{
    Launch, Project, anchor_agent_arg, configured_agents, enki_bin, find_program, program_missing,
    runtime,
};
use super::doctor_agent::{Probe, check_agent};
use super::{print_json, print_text};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Ok,
    Warning,
    Error,
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: String,
    pub level: Level,
    pub detail: String,
    /// How to fix it, when something is wrong.
    pub fix: Option<String>,
}

pub(super) fn check(
    name: impl Into<String>,
    level: Level,
    detail: impl Into<String>,
    fix: Option<&str>,
) -> Check {
    Check {
        name: name.into(),
        level,
        detail: detail.into(),
        fix: fix.map(str::to_string),
    }
}

/// The Landlock ABI and what the sandbox enforces with it.
fn check_sandbox(sandbox: &enki_config::SandboxConfig) -> Check {
    let abi = enki_sandbox::landlock_abi();
    match (sandbox.mode, abi) {
        (enki_config::SandboxMode::Enforce, Ok(abi)) => check(
            "sandbox",
            Level::Ok,
            format!(
                "Landlock ABI {abi}: {}",
                enki_sandbox::describe(abi, sandbox.network)
            ),
            None,
        ),
        (enki_config::SandboxMode::Enforce, Err(why)) => check(
            "sandbox",
            Level::Error,
            format!("agents cannot start: {why}"),
            Some("use a kernel with Landlock, or set `[sandbox] mode = \"off\"` in enki.toml"),
        ),
        (enki_config::SandboxMode::Off, abi) => check(
            "sandbox",
            Level::Warning,
            format!(
                "off: agents' shell commands are not confined, so `execute` requests are asked ({})",
                match abi {
                    Ok(abi) => format!("Landlock ABI {abi} is available"),
                    Err(why) => why,
                }
            ),
            Some("remove `[sandbox] mode = \"off\"` to confine agents"),
        ),
    }
}

/// What agents may reach of the network, each mode in a few words, and
/// whether this kernel can enforce the chosen one.
fn check_network(sandbox: &enki_config::SandboxConfig) -> Check {
    use enki_sandbox::Network;
    let tcp_rules = enki_sandbox::landlock_abi().is_ok_and(|abi| abi >= 4);
    let loopback = enki_sandbox::loopback_support();
    let available = |ok: bool| {
        if ok {
            "available"
        } else {
            "NOT available here"
        }
    };
    let ports = if sandbox.loopback_ports.is_empty() {
        String::new()
    } else {
        let ports: Vec<String> = sandbox.loopback_ports.iter().map(u16::to_string).collect();
        format!(" and ports {} of the host's 127.0.0.1", ports.join(", "))
    };
    let modes = format!(
        "modes: any (not restricted); loopback (only the agent's own loopback, in a network \
         namespace of its own, plus enki's MCP server and `loopback_ports` relayed from the \
         host; no other host port, no outside network, no UDP or DNS: {}); none (no TCP bind \
         or connect but enki's MCP server, by Landlock; UDP not covered: {})",
        match &loopback {
            Ok(()) => "available".to_string(),
            Err(why) => format!("NOT available: {why}"),
        },
        available(tcp_rules),
    );
    let chosen = sandbox.network.as_str();
    if sandbox.mode == enki_config::SandboxMode::Off {
        let level = if sandbox.network == Network::Any {
            Level::Ok
        } else {
            Level::Warning
        };
        return check(
            "network",
            level,
            format!(
                "not restricted: the sandbox is off (network = \"{chosen}\" needs it); {modes}"
            ),
            (level == Level::Warning).then_some("remove `[sandbox] mode = \"off\"` to apply it"),
        );
    }
    let (level, what, fix) = match (sandbox.network, &loopback) {
        (Network::Any, _) => (Level::Ok, "not restricted".to_string(), None),
        (Network::Loopback, Ok(())) => (
            Level::Ok,
            format!(
                "only the agent's own loopback, enki's MCP server{ports} (an agent that calls a \
                 remote model API cannot reach it: forward a local server or proxy)"
            ),
            None,
        ),
        (Network::Loopback, Err(_)) => (
            Level::Error,
            "agents cannot start: no network namespace can be made".to_string(),
            Some(
                "allow unprivileged user namespaces (e.g. `sysctl -w user.max_user_namespaces=10000` or `kernel.unprivileged_userns_clone=1`, or on Ubuntu `kernel.apparmor_restrict_unprivileged_userns=0`), or set `network = \"none\"`",
            ),
        ),
        (Network::None, _) if tcp_rules => {
            (Level::Ok, "no TCP but enki's MCP server".to_string(), None)
        }
        (Network::None, _) => (
            Level::Warning,
            "NOT restricted: Landlock's TCP rules need ABI 4".to_string(),
            Some("use Linux 6.7 or newer, or `network = \"loopback\"`"),
        ),
    };
    check(
        "network",
        level,
        format!("network = \"{chosen}\": {what}; {modes}"),
        fix,
    )
}

/// Whether what agents and hooks start dies with enki.
fn check_containment() -> Check {
    let containment = enki_sandbox::containment();
    if containment.is_complete() {
        check("containment", Level::Ok, containment.describe(), None)
    } else {
        check(
            "containment",
            Level::Warning,
            containment.describe(),
            Some(
                "allow unprivileged user namespaces (e.g. `sysctl -w kernel.unprivileged_userns_clone=1`, or on Ubuntu `kernel.apparmor_restrict_unprivileged_userns=0`), or run enki where it may make PID namespaces",
            ),
        )
    }
}

/// git must exist and be new enough for `merge-tree --write-tree` (2.38).
fn check_git() -> Check {
    let output = Command::new("git").arg("--version").output().ok();
    let Some(output) = output.filter(|o| o.status.success()) else {
        return check(
            "git",
            Level::Error,
            "git is not installed",
            Some("install git 2.38 or newer"),
        );
    };
    let text = String::from_utf8_lossy(&output.stdout).trim().to_string();
    let version: Vec<u32> = text
        .split_whitespace()
        .nth(2)
        .unwrap_or_default()
        .split('.')
        .take(2)
        .filter_map(|p| p.parse().ok())
        .collect();
    if version.len() == 2 && (version[0], version[1]) < (2, 38) {
        return check(
            "git",
            Level::Error,
            format!("{text} is too old"),
            Some("install git 2.38 or newer"),
        );
    }
    check("git", Level::Ok, text, None)
}

/// Whether `dir`'s file system clones files (reflinks), as worker copies
/// find out (`enki_workspace::clones_files`).
fn check_reflink(dir: &Path) -> Check {
    if enki_workspace::clones_files(dir) {
        check(
            "reflink",
            Level::Ok,
            format!(
                "{} supports reflink copies: worker copies get every ignored file (build outputs) at no cost",
                dir.display()
            ),
            None,
        )
    } else {
        check(
            "reflink",
            Level::Warning,
            format!(
                "{} does not support reflink copies: worker copies get only the ignored files .worktreeinclude and [workers] include list",
                dir.display()
            ),
            Some(
                "put the project on btrfs or XFS for copies with warm build outputs, or list what copies need in .worktreeinclude",
            ),
        )
    }
}

fn read_number(path: &str) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

fn check_inotify() -> Vec<Check> {
    let mut checks = Vec::new();
    match read_number("/proc/sys/fs/inotify/max_user_watches") {
        Some(n) if n < 8192 => checks.push(check(
            "inotify watches",
            Level::Warning,
            format!("max_user_watches is {n}; enki falls back to its 1-second rescan when watches run out"),
            Some("sudo sysctl fs.inotify.max_user_watches=524288"),
        )),
        Some(n) => checks.push(check("inotify watches", Level::Ok, format!("max_user_watches is {n}"), None)),
        None => checks.push(check(
            "inotify watches",
            Level::Warning,
            "cannot read /proc/sys/fs/inotify/max_user_watches; enki relies on its periodic rescan",
            None,
        )),
    }
    if let Some(n) = read_number("/proc/sys/fs/inotify/max_user_instances")
        && n < 16
    {
        checks.push(check(
            "inotify instances",
            Level::Warning,
            format!("max_user_instances is {n}"),
            Some("sudo sysctl fs.inotify.max_user_instances=256"),
        ));
    }
    checks
}

fn check_database(project: &Project) -> Check {
    if let Some(dir) = project.uninitialised() {
        let config = dir.join(enki_config::CONFIG_FILE_NAME);
        let read = if config.is_file() {
            format!("; its {} was read for these checks", config.display())
        } else {
            String::new()
        };
        return check(
            "database",
            Level::Warning,
            format!("{} has no database yet{read}", dir.display()),
            Some("run `enki init` in the project"),
        );
    }
    let Some(layout) = project.layout.as_ref() else {
        return check(
            "database",
            Level::Warning,
            "no initialised .enki/ here",
            Some("run `enki init` in the project"),
        );
    };
    match enki_store::Store::open_existing(&layout.db()) {
        Ok(store) => {
            let result: Result<String, _> =
                store
                    .connection()
                    .query_row("PRAGMA quick_check", [], |r| r.get(0));
            match result {
                Ok(ok) if ok == "ok" => check(
                    "database",
                    Level::Ok,
                    format!(
                        "{} (schema {})",
                        layout.db().display(),
                        enki_store::SCHEMA_VERSION
                    ),
                    None,
                ),
                Ok(problem) => check(
                    "database",
                    Level::Error,
                    format!("{}: {problem}", layout.db().display()),
                    Some("restore the database from a backup, or move it away and run `enki init`"),
                ),
                Err(e) => check("database", Level::Error, e.to_string(), None),
            }
        }
        Err(e) => check(
            "database",
            Level::Error,
            e.to_string(),
            Some("see the message; `enki init` creates a missing database"),
        ),
    }
}

/// How the project's changes are tracked: its own git repository, or
/// enki's hidden metadata when the folder is not the root of one. Only
/// reports; the hidden repository is created by the first run.
fn check_tracking(layout: &enki_project::Layout) -> Check {
    let root = layout.project_root();
    if enki_workspace::is_repository_root(root) {
        return check(
            "project",
            Level::Ok,
            format!("{} is a git repository", root.display()),
            None,
        );
    }
    let hidden = enki_workspace::hidden_git_dir(&layout.dir);
    let state = if hidden.join("HEAD").is_file() {
        "in"
    } else {
        "created on the first run in"
    };
    check(
        "project",
        Level::Ok,
        format!(
            "{} is not a git repository; enki tracks its changes with its own hidden metadata ({state} {}) and leaves no repository in the project",
            root.display(),
            hidden.display()
        ),
        None,
    )
}

/// The project's own repository needs a commit: work lands on a branch,
/// and a repository whose branch has none yet has nothing to land on.
/// Checked in the project, else in the current folder when it is the root
/// of a repository (before `enki init`).
fn check_first_commit(project: &Project) -> Option<Check> {
    let root = match project.root() {
        Some(root) => root.to_path_buf(),
        None => std::env::current_dir().ok()?,
    };
    if !enki_workspace::is_repository_root(&root) {
        return None;
    }
    let has_commit = Command::new("git")
        .arg("-C")
        .arg(&root)
        .args(["rev-parse", "--verify", "--quiet", "HEAD^{commit}"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    Some(if has_commit {
        check(
            "first commit",
            Level::Ok,
            format!("{} has a commit to land work on", root.display()),
            None,
        )
    } else {
        check(
            "first commit",
            Level::Error,
            format!(
                "{} is a git repository with no commit yet, so there is no branch to land work on; runs refuse to start",
                root.display()
            ),
            Some("commit once: `git commit --allow-empty -m init` (or add and commit your files)"),
        )
    })
}

/// Where doctor probes for reflink support: the project's `.enki/` (the
/// worker copies live in it), else the folder `enki init` would use.
fn reflink_probe_dir(project: &Project) -> PathBuf {
    project
        .enki_dir
        .clone()
        .filter(|dir| dir.is_dir())
        .or_else(|| std::env::current_dir().ok())
        .unwrap_or_else(|| PathBuf::from("."))
}

/// `--agent <name>` as the user can type it again.
fn agent_option(name: &str) -> String {
    format!("--agent {}", enki_config::quote_word(name))
}

pub fn run(agent: Option<String>, json: bool) -> Result<bool> {
    let agent = anchor_agent_arg(agent);
    let mut checks = vec![check_git()];
    let project = Project::find();
    let config = match project.load_config() {
        Ok(config) => config,
        Err(e) => {
            checks.push(check(
                "configuration",
                Level::Error,
                format!("{e:#}"),
                Some("fix the file and line named"),
            ));
            enki_config::Config::default()
        }
    };
    checks.push(check_sandbox(&config.sandbox));
    checks.push(check_network(&config.sandbox));
    checks.push(check_containment());
    let (role_agents, role_errors) = project.role_agents();
    for error in role_errors {
        checks.push(check(
            "roles",
            Level::Warning,
            format!("skipped {error}"),
            Some("fix the role file; a run skips it too"),
        ));
    }
    let bin = enki_bin()?;
    let timeout = Duration::from_secs(config.agent.init_timeout_secs.min(10));
    let runtime = runtime()?;
    let scratch = tempfile::tempdir()?;
    let config_file = match &project.enki_dir {
        Some(dir) => dir
            .join(enki_config::CONFIG_FILE_NAME)
            .display()
            .to_string(),
        None => "enki.toml".to_string(),
    };
    for configured in configured_agents(&config, agent.as_deref(), &bin, &role_agents) {
        let resolved = &configured.agent;
        let name = format!("agent {} ({})", resolved.name, configured.uses.join(", "));
        let again = agent_option(&resolved.name);
        if find_program(&resolved.program).is_none() {
            let fix = match &agent {
                Some(given) => format!(
                    "install the agent, or give another with {} (a program path is relative to the current directory)",
                    agent_option(given)
                ),
                None => format!(
                    "install the agent, or choose another with --agent or the [agent] `command` in {config_file} (a program path there is relative to that file's folder)"
                ),
            };
            checks.push(Check {
                name,
                level: Level::Error,
                detail: program_missing(&resolved.program),
                fix: Some(fix),
            });
            continue;
        }
        let probe = Probe {
            config: &config,
            launch: Launch {
                agent: resolved,
                cwd: scratch.path(),
                enki_dir: project.layout.as_ref().map(|l| l.dir.as_path()),
                timeout,
                sim_scripts: config.sim.scripts.as_deref(),
                stderr_log: None,
            },
            again,
        };
        checks.extend(check_agent(&runtime, &configured, &probe));
    }
    checks.push(check_reflink(&reflink_probe_dir(&project)));
    checks.extend(check_inotify());
    checks.push(check_database(&project));
    if let Some(layout) = &project.layout {
        checks.push(check_tracking(layout));
    }
    checks.extend(check_first_commit(&project));

    let healthy = checks.iter().all(|c| c.level != Level::Error);
    if json {
        print_json(&serde_json::json!({"healthy": healthy, "checks": checks}))?;
    } else {
        for c in &checks {
            let mark = match c.level {
                Level::Ok => "✔",
                Level::Warning => "!",
                Level::Error => "✘",
            };
            print_text(&format!("{mark} {}: {}", c.name, c.detail))?;
            if let Some(fix) = &c.fix {
                print_text(&format!("    fix: {fix}"))?;
            }
        }
        print_text(if healthy {
            "everything enki needs is in place"
        } else {
            "some checks failed; see the fixes above"
        })?;
    }
    Ok(healthy)
}
