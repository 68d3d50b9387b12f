//! `cargo xtask e2e-agents [--bin P] [--keep] [SCENARIO…]`: the real `enki`
//! driving the real Claude Code, through its ACP adapter installed from npm
//! ([`install`]), against a loopback fake of the model API ([`fake_api`])
//! that plays a script per agent ([`script`]). Each scenario
//! ([`scenarios`]) runs `enki run` headless in a scratch git project with its
//! own HOME, then checks the project, and prints one PASS or FAIL line.
//!
//! Not part of `cargo xtask ci`: the first run needs the npm registry.

mod fake_api;
mod install;
mod scenarios;
mod script;
mod supervision;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use fake_api::{FakeApi, Record};
use install::Installed;
use script::{Observed, Script};

/// How long one `enki run` may take before it is killed and fails.
const RUN_TIMEOUT: Duration = Duration::from_secs(600);

const USAGE: &str = "usage: cargo xtask e2e-agents [--bin PATH] [--keep] [SCENARIO...]";

pub fn run(args: &[String]) -> ExitCode {
    let mut bin = None;
    let mut keep = false;
    let mut only = Vec::new();
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "--bin" => match iter.next() {
                Some(path) => bin = Some(PathBuf::from(path)),
                None => return usage("--bin needs a path"),
            },
            "--keep" => keep = true,
            name if scenarios::ALL.iter().any(|(n, _)| *n == name) => only.push(name.to_owned()),
            other => return usage(&format!("unknown argument `{other}`")),
        }
    }
    let world = match World::prepare(bin, keep) {
        Ok(world) => world,
        Err(err) => {
            eprintln!("xtask e2e-agents: {err:#}");
            return ExitCode::FAILURE;
        }
    };
    let mut failed = 0;
    for (name, scenario) in scenarios::ALL {
        if !only.is_empty() && !only.iter().any(|o| o == name) {
            continue;
        }
        eprintln!("==> scenario {name}");
        let outcome = scenario(&world);
        if !outcome.passed() {
            failed += 1;
        }
        outcome.print(&world);
    }
    if failed > 0 {
        println!("e2e-agents: {failed} scenario(s) failed");
        ExitCode::FAILURE
    } else {
        println!("e2e-agents: every scenario passed");
        ExitCode::SUCCESS
    }
}

fn usage(why: &str) -> ExitCode {
    let names: Vec<&str> = scenarios::ALL.iter().map(|(n, _)| *n).collect();
    eprintln!(
        "xtask e2e-agents: {why}\n{USAGE}\nscenarios: {}",
        names.join(", ")
    );
    ExitCode::from(2)
}

/// What every scenario shares: the enki binary and the installed adapter.
pub struct World {
    enki: PathBuf,
    installed: Installed,
    /// Keep every scenario's folder (failed ones are always kept).
    keep: bool,
}

impl World {
    fn prepare(bin: Option<PathBuf>, keep: bool) -> Result<World> {
        let root = crate::workspace_root();
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map_or_else(|| root.join("target"), |dir| root.join(dir));
        let installed = install::ensure(&target.join("e2e-agents"))?;
        let enki = match bin {
            Some(bin) => std::path::absolute(bin).context("resolving --bin")?,
            None => crate::bench::build_release_binary("enki", "enki")?,
        };
        Ok(World {
            enki,
            installed,
            keep,
        })
    }
}

/// A scenario's scratch folder: a HOME, a git project, and a folder outside
/// both that no agent may write.
pub struct Scratch {
    dir: tempfile::TempDir,
    pub home: PathBuf,
    pub project: PathBuf,
    pub outside: PathBuf,
}

impl Scratch {
    /// A project holding `files` in one commit on `main`, `enki init`ed,
    /// with `config` as its `.enki/enki.toml`.
    pub fn new(world: &World, files: &[(&str, &str)], config: &str) -> Result<Scratch> {
        let dir = tempfile::Builder::new().prefix("enki-e2e-").tempdir()?;
        let (home, project, outside) = (
            dir.path().join("home"),
            dir.path().join("project"),
            dir.path().join("outside"),
        );
        for path in [&home, &project, &outside] {
            std::fs::create_dir(path)?;
        }
        for (name, text) in files {
            std::fs::write(project.join(name), text)?;
        }
        let scratch = Scratch {
            dir,
            home,
            project,
            outside,
        };
        scratch.git(&["init", "-q", "-b", "main"])?;
        scratch.git(&["config", "user.name", "e2e"])?;
        scratch.git(&["config", "user.email", "e2e@enki.invalid"])?;
        scratch.git(&["add", "."])?;
        scratch.git(&["commit", "-q", "-m", "initial"])?;
        let out = Command::new(&world.enki)
            .arg("init")
            .current_dir(&scratch.project)
            .env("HOME", &scratch.home)
            .stdin(Stdio::null())
            .output()?;
        if !out.status.success() {
            bail!("enki init failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        std::fs::write(scratch.project.join(".enki/enki.toml"), config)?;
        Ok(scratch)
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Runs git in the project; its standard output.
    pub fn git(&self, args: &[&str]) -> Result<String> {
        let out = Command::new("git")
            .arg("-C")
            .arg(&self.project)
            .args(args)
            .env("HOME", &self.home)
            .stdin(Stdio::null())
            .output()?;
        if !out.status.success() {
            bail!(
                "git {args:?} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// enki's log in the project (empty if there is none).
    pub fn enki_log(&self) -> String {
        std::fs::read_to_string(self.project.join(".enki/logs/enki.log")).unwrap_or_default()
    }

    /// A file of the project as it is on disk (`None`: it does not exist).
    pub fn read(&self, name: &str) -> Option<String> {
        std::fs::read_to_string(self.project.join(name)).ok()
    }
}

/// One `enki run`, as it ended.
pub struct Run {
    pub status: Option<ExitStatus>,
    /// Its stdout and stderr, in `run.log` of the scratch folder.
    pub output: String,
    pub record: Record,
    /// enki's answers to the agents' permission requests, from its log:
    /// `reject_once Write /tmp/…`.
    pub permissions: Vec<String>,
}

/// A scenario's fake model API and the key its agents send.
pub struct Model {
    fake: FakeApi,
    key: String,
}

impl Model {
    /// Serves `scripts` on loopback, logging every request to
    /// `api-requests.jsonl` in the scratch folder.
    pub fn start(scratch: &Scratch, scripts: Vec<Script>) -> Result<Model> {
        let key = crate::bench::http_server::random_token()?;
        let fake = FakeApi::start(scripts, &key, &scratch.path().join("api-requests.jsonl"))?;
        Ok(Model { fake, key })
    }
}

/// `enki ARGS` in the project with the environment of an agent run: the
/// scratch HOME, the adapter's folder first on `PATH`, every role on the
/// `claude` preset talking to `model`.
pub fn enki(world: &World, scratch: &Scratch, model: &Model, args: &[&str]) -> Result<Command> {
    let path = std::env::join_paths(std::iter::once(world.installed.bin_dir.clone()).chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))?;
    let mut command = Command::new(&world.enki);
    command
        .args(args)
        .current_dir(&scratch.project)
        .env_clear()
        .env("PATH", path)
        .env("HOME", &scratch.home)
        .env("LANG", "C.UTF-8")
        .env("USER", "e2e")
        // enki_acp logs each permission answer at debug level.
        .env("ENKI_LOG", "info,enki_acp=debug")
        // Claude Code refuses to run as root outside a sandbox it is told of.
        .env("IS_SANDBOX", "1")
        .env("ANTHROPIC_BASE_URL", model.fake.url())
        .env("ANTHROPIC_API_KEY", &model.key)
        // No update checks, telemetry or error reports: the fake is the
        // only server the agents reach.
        .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
        .env("DISABLE_AUTOUPDATER", "1")
        .stdin(Stdio::null());
    Ok(command)
}

/// Starts `enki run REQUEST` headless, its output going to `run.log` in the
/// scratch folder.
pub fn start_run(world: &World, scratch: &Scratch, model: &Model, request: &str) -> Result<Child> {
    let log = std::fs::File::create(scratch.path().join("run.log"))?;
    enki(world, scratch, model, &["run", request])?
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .with_context(|| format!("starting {}", world.enki.display()))
}

/// Waits for a started `enki run` (killing it after `limit`) and gathers
/// what happened.
pub fn finish_run(
    scratch: &Scratch,
    model: &Model,
    mut child: Child,
    limit: Duration,
) -> Result<Run> {
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        if Instant::now() >= deadline {
            // SIGKILL: the run is over either way; its folder is kept.
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let output = std::fs::read_to_string(scratch.path().join("run.log")).unwrap_or_default();
    Ok(Run {
        status,
        output,
        record: model.fake.take_record(),
        permissions: permission_answers(&scratch.enki_log()),
    })
}

/// `enki run REQUEST` in the project, headless, every role on the `claude`
/// preset, whose adapter talks to a fake API playing `scripts`.
pub fn enki_run(
    world: &World,
    scratch: &Scratch,
    scripts: Vec<Script>,
    request: &str,
) -> Result<Run> {
    let model = Model::start(scratch, scripts)?;
    let child = start_run(world, scratch, &model, request)?;
    finish_run(scratch, &model, child, RUN_TIMEOUT)
}

/// `decision title` of each "permission answered" line of enki's log.
fn permission_answers(log: &str) -> Vec<String> {
    log.lines()
        .filter(|line| line.contains("permission answered"))
        .filter_map(|line| {
            let title = &line[line.find(" title=")? + " title=".len()..];
            let (title, rest) = title.split_once(" decision=")?;
            let decision = rest.split_whitespace().next()?;
            Some(format!("{decision} {title}"))
        })
        .collect()
}

/// A scenario's result.
pub struct Outcome {
    pub name: &'static str,
    /// What the scenario proves, for its PASS line.
    pub claim: &'static str,
    pub failures: Vec<String>,
    /// The tool calls the agents made and what came back.
    pub observed: Vec<Observed>,
    pub permissions: Vec<String>,
    pub scratch: Option<Scratch>,
    pub output: String,
}

impl Outcome {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }

    /// An outcome from the scenario's body: its checks' failures, or the
    /// error that stopped it.
    pub fn of(
        name: &'static str,
        claim: &'static str,
        result: Result<(Scratch, Run, Vec<String>)>,
    ) -> Outcome {
        match result {
            Ok((scratch, run, failures)) => Outcome {
                name,
                claim,
                failures,
                observed: run.record.observed,
                permissions: run.permissions,
                scratch: Some(scratch),
                output: run.output,
            },
            Err(err) => Outcome {
                name,
                claim,
                failures: vec![format!("{err:#}")],
                observed: Vec::new(),
                permissions: Vec::new(),
                scratch: None,
                output: String::new(),
            },
        }
    }

    fn print(self, world: &World) {
        eprintln!("    the agents' tool calls, as the model saw their results:");
        for seen in self.observed.iter().filter(|o| o.tool != "ToolSearch") {
            let result = seen.result.lines().collect::<Vec<_>>().join(" | ");
            let result: String = result.chars().take(200).collect();
            eprintln!(
                "    {}: {} {} -> {}: {result}",
                seen.agent,
                seen.tool,
                summary(&seen.input),
                if seen.is_error { "error" } else { "ok" },
            );
        }
        eprintln!("    enki's answers to their permission requests:");
        for answer in &self.permissions {
            eprintln!("    {answer}");
        }
        if self.passed() {
            println!("e2e-agents: PASS {}: {}", self.name, self.claim);
        } else {
            println!("e2e-agents: FAIL {}: {}", self.name, self.claim);
            for failure in &self.failures {
                println!("    - {failure}");
            }
            let tail: Vec<&str> = self.output.lines().rev().take(30).collect();
            if !tail.is_empty() {
                eprintln!("    enki run's last lines:");
                for line in tail.iter().rev() {
                    eprintln!("      {line}");
                }
            }
        }
        let passed = self.passed();
        if let Some(scratch) = self.scratch
            && (world.keep || !passed)
        {
            let kept = scratch.dir.keep();
            eprintln!(
                "    kept {} (run.log, api-requests.jsonl, project/.enki/logs/)",
                kept.display()
            );
        }
    }
}

/// A tool input in a few words: its path or command.
fn summary(input: &serde_json::Value) -> String {
    ["file_path", "command", "path", "status", "query"]
        .iter()
        .find_map(|key| input[*key].as_str())
        .map_or_else(
            || "{…}".to_owned(),
            |s| format!("`{}`", s.chars().take(100).collect::<String>()),
        )
}
