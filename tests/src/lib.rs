//! Shared harness for the integration and end-to-end tests: temporary
//! projects and a blocking MCP client that drives the real `enki` binary.
//!
//! The binary is found next to the test executable (`target/<profile>/enki`);
//! `cargo test --workspace` builds it (the `enki` package has an integration
//! test of its own, which makes cargo build the binary before any test runs).

use std::ffi::{OsStr, OsString};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

mod conflict;
mod inspect;

pub use conflict::{BOTH_VERSIONS, CONFLICTING_PLAN};
pub use inspect::{event_kinds, json_lines};

/// Safety net for every wait on a child process; tests never sleep to race.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// Path of the `enki` binary built for this test run.
pub fn enki_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> -> target/<profile>/enki
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test executable lives in target/<profile>/deps");
    let bin = profile_dir.join(format!("enki{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.is_file(),
        "{} is missing: run `cargo build -p enki` (or `cargo test --workspace`) first",
        bin.display()
    );
    bin
}

/// A fake home for one test: `HOME` and the XDG folders live inside it, so
/// the developer's own `~/.config/enki/`, `~/.enki/roles/` and git
/// configuration never change what a test does. Removed when dropped.
pub struct TestHome {
    dir: tempfile::TempDir,
}

impl TestHome {
    pub fn new() -> TestHome {
        let dir = tempfile::Builder::new()
            .prefix("enki-test-home-")
            .tempdir()
            .expect("temp home");
        let home = TestHome { dir };
        for (_, path) in home.xdg_dirs() {
            std::fs::create_dir_all(path).expect("create fake XDG folder");
        }
        home
    }

    /// `HOME`.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `XDG_CONFIG_HOME`: a user configuration goes in `enki/enki.toml` here.
    pub fn config_dir(&self) -> PathBuf {
        self.path().join(".config")
    }

    fn xdg_dirs(&self) -> [(&'static str, PathBuf); 3] {
        [
            ("XDG_CONFIG_HOME", self.config_dir()),
            ("XDG_DATA_HOME", self.path().join(".local/share")),
            ("XDG_CACHE_HOME", self.path().join(".cache")),
        ]
    }

    /// The environment changes that make a process hermetic: `Some` sets a
    /// variable, `None` removes it. Every inherited `ENKI_*` variable is
    /// removed (a test sets the ones it wants after this); git reads no
    /// global or system configuration and commits as a fixed test identity.
    pub fn env(&self) -> Vec<(OsString, Option<OsString>)> {
        let mut env: Vec<(OsString, Option<OsString>)> = std::env::vars_os()
            .filter(|(name, _)| {
                name.to_str()
                    .is_some_and(|n| n.starts_with("ENKI_") || n == "CLAUDECODE")
            })
            .map(|(name, _)| (name, None))
            .collect();
        let set = |name: &str, value: &OsStr| (OsString::from(name), Some(value.to_os_string()));
        env.push(set("HOME", self.path().as_os_str()));
        for (name, path) in self.xdg_dirs() {
            env.push(set(name, path.as_os_str()));
        }
        for (name, value) in GIT_ENV {
            env.push(set(name, OsStr::new(value)));
        }
        env
    }

    /// The whole environment of a process started with a cleared one (an
    /// ACP agent with `clear_env`): `PATH` and what [`TestHome::env`] sets.
    pub fn clean_env(&self) -> Vec<(String, String)> {
        let path = std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into());
        let mut env = vec![("PATH".to_string(), path)];
        env.extend(self.env().into_iter().filter_map(|(name, value)| {
            Some((name.into_string().ok()?, value?.into_string().ok()?))
        }));
        env
    }

    /// Applies [`TestHome::env`] to a command.
    pub fn apply(&self, cmd: &mut Command) {
        for (name, value) in self.env() {
            match value {
                Some(value) => cmd.env(name, value),
                None => cmd.env_remove(name),
            };
        }
    }
}

impl Default for TestHome {
    fn default() -> Self {
        TestHome::new()
    }
}

/// Git without the machine's or the developer's configuration, committing
/// as a fixed identity.
const GIT_ENV: [(&str, &str); 6] = [
    ("GIT_CONFIG_GLOBAL", "/dev/null"),
    ("GIT_CONFIG_NOSYSTEM", "1"),
    ("GIT_AUTHOR_NAME", "enki test"),
    ("GIT_AUTHOR_EMAIL", "test@enki.invalid"),
    ("GIT_COMMITTER_NAME", "enki test"),
    ("GIT_COMMITTER_EMAIL", "test@enki.invalid"),
];

thread_local! {
    /// Each test runs on its own thread, so this is each test's own home,
    /// removed when the test ends.
    static THREAD_HOME: TestHome = TestHome::new();
}

/// A hermetic `Command` for `enki` (see [`TestHome::env`]), with the
/// running test's own fake home.
pub fn enki_command() -> Command {
    THREAD_HOME.with(enki_command_in)
}

/// A hermetic `Command` for `enki` whose home is `home`.
pub fn enki_command_in(home: &TestHome) -> Command {
    let mut cmd = Command::new(enki_bin());
    home.apply(&mut cmd);
    cmd
}

/// Runs a git command in `dir`, panicking with its output on failure.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .envs(GIT_ENV)
        .output()
        .expect("git runs");
    assert!(
        output.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A temporary git project with `enki init` done, and the fake home every
/// `enki` it runs gets.
pub struct Project {
    _dir: tempfile::TempDir,
    pub root: PathBuf,
    pub home: TestHome,
}

impl Project {
    /// A git repository with one commit, initialised for enki.
    pub fn new() -> Project {
        Project::initialised(Project::bare())
    }

    /// [`Project::new`] in `root`, an existing empty folder the caller owns
    /// (a small file system, say).
    pub fn new_at(root: &Path) -> Project {
        let mut project = Project::bare();
        project.root = root.canonicalize().expect("canonical project root");
        Project::initialised(project)
    }

    fn initialised(project: Project) -> Project {
        git(&project.root, &["init", "-q", "-b", "main"]);
        std::fs::write(project.root.join("README.md"), "# scratch project\n")
            .expect("write README");
        git(&project.root, &["add", "."]);
        git(&project.root, &["commit", "-q", "-m", "initial"]);
        project.init();
        project
    }

    /// An empty temporary folder, not initialised.
    pub fn bare() -> Project {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().canonicalize().expect("canonical temp dir");
        Project {
            _dir: dir,
            root,
            home: TestHome::new(),
        }
    }

    /// Writes `file` in the project and commits it (the user's own work).
    pub fn commit_file(&self, file: &str, content: &str, message: &str) {
        std::fs::write(self.root.join(file), content).expect("write a project file");
        git(&self.root, &["add", file]);
        git(&self.root, &["commit", "-q", "-m", message]);
    }

    /// Runs `enki init` in the project and asserts it succeeded.
    pub fn init(&self) {
        let output = self.enki(&["init"]).output().expect("enki init runs");
        assert!(
            output.status.success(),
            "enki init failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    pub fn enki_dir(&self) -> PathBuf {
        self.root.join(".enki")
    }

    pub fn db_path(&self) -> PathBuf {
        self.enki_dir().join("db.sqlite")
    }

    pub fn events_dir(&self) -> PathBuf {
        self.enki_dir().join("events")
    }

    /// `enki <args>` run in the project root.
    pub fn enki(&self, args: &[&str]) -> Command {
        let mut cmd = enki_command_in(&self.home);
        cmd.args(args).current_dir(&self.root);
        cmd
    }

    /// Starts `enki mcp <args>` for this project (ENKI_DIR set) and
    /// initializes it.
    pub fn mcp(&self, args: &[&str]) -> McpClient {
        let mut client = self.mcp_uninitialized(args, &[]);
        client.initialize();
        client
    }

    /// Starts `enki mcp <args>` with extra environment, without initializing.
    pub fn mcp_uninitialized(&self, args: &[&str], env: &[(&str, &str)]) -> McpClient {
        let mut cmd = self.enki(&["mcp"]);
        cmd.args(args).env("ENKI_DIR", self.enki_dir());
        for (k, v) in env {
            cmd.env(k, v);
        }
        McpClient::spawn(cmd)
    }

    /// Signal files currently waiting, parsed, in name order.
    pub fn signals(&self) -> Vec<Value> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(self.events_dir())
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| {
                        p.file_name()
                            .and_then(|n| n.to_str())
                            .is_some_and(|n| n.starts_with("sig-") && n.ends_with(".json"))
                    })
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
            .iter()
            // A running coordinator may take (delete) a file between the
            // listing and the read: it is no longer waiting.
            .filter_map(|p| std::fs::read(p).ok())
            .map(|bytes| serde_json::from_slice(&bytes).expect("signal is JSON"))
            .collect()
    }

    /// Deletes every waiting signal file (to look at the next call's only).
    pub fn clear_signals(&self) {
        for entry in std::fs::read_dir(self.events_dir())
            .into_iter()
            .flatten()
            .flatten()
        {
            if entry.path().is_file() {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }

    /// Lines of `.enki/logs/audit.jsonl`.
    pub fn audit_lines(&self) -> Vec<Value> {
        std::fs::read_to_string(self.enki_dir().join("logs/audit.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("audit line is JSON"))
            .collect()
    }
}

impl Default for Project {
    fn default() -> Self {
        Project::new()
    }
}

/// A blocking MCP client over the child's stdio. Every read has a timeout.
/// Notifications that arrive while it waits for a response are kept, in
/// order, for [`McpClient::take_notifications`] and
/// [`McpClient::wait_notification`].
pub struct McpClient {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    next_id: i64,
    notifications: std::collections::VecDeque<Value>,
}

impl McpClient {
    pub fn spawn(mut cmd: Command) -> McpClient {
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn enki mcp");
        let stdout = child.stdout.take().expect("stdout piped");
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stdin = child.stdin.take();
        McpClient {
            child,
            stdin,
            lines,
            next_id: 1,
            notifications: std::collections::VecDeque::new(),
        }
    }

    /// Writes raw bytes (a newline is not added).
    pub fn send_raw(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin.write_all(bytes).expect("write to enki mcp");
        stdin.flush().expect("flush enki mcp stdin");
    }

    pub fn send(&mut self, message: &Value) {
        let mut line = serde_json::to_vec(message).expect("encode");
        line.push(b'\n');
        self.send_raw(&line);
    }

    /// The next line the server writes, parsed.
    pub fn read(&mut self) -> Value {
        match self.lines.recv_timeout(TIMEOUT) {
            Ok(line) => serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("enki mcp wrote a non-JSON line ({e}): {line}")),
            Err(RecvTimeoutError::Timeout) => panic!("enki mcp did not answer within {TIMEOUT:?}"),
            Err(RecvTimeoutError::Disconnected) => {
                panic!("enki mcp closed stdout: {}", self.stderr_now())
            }
        }
    }

    /// Sends a request and returns the whole response object.
    pub fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        let mut response = self.read();
        while is_notification(&response) {
            self.notifications.push_back(response);
            response = self.read();
        }
        assert_eq!(
            response["id"],
            json!(id),
            "response out of order: {response}"
        );
        response
    }

    /// The notifications kept so far (taking them).
    pub fn take_notifications(&mut self) -> Vec<Value> {
        self.notifications.drain(..).collect()
    }

    /// The first notification with this method that `matches`, kept or yet
    /// to come (others are kept); panics after `within`.
    pub fn wait_notification(
        &mut self,
        method: &str,
        within: Duration,
        mut matches: impl FnMut(&Value) -> bool,
    ) -> Value {
        let fits = |n: &Value, matches: &mut dyn FnMut(&Value) -> bool| {
            n["method"] == method && matches(n)
        };
        if let Some(index) = self
            .notifications
            .iter()
            .position(|n| fits(n, &mut matches))
        {
            return self.notifications.remove(index).unwrap_or_default();
        }
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match self.lines.recv_timeout(left) {
                Ok(line) => line,
                Err(RecvTimeoutError::Timeout) => panic!(
                    "no {method} notification within {within:?}; kept: {:?}",
                    self.notifications
                ),
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("enki mcp closed stdout: {}", self.stderr_now())
                }
            };
            let message: Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("enki mcp wrote a non-JSON line ({e}): {line}"));
            assert!(
                is_notification(&message),
                "a message nobody asked for: {message}"
            );
            if fits(&message, &mut matches) {
                return message;
            }
            self.notifications.push_back(message);
        }
    }

    pub fn initialize(&mut self) -> Value {
        let response = self.request(
            "initialize",
            json!({"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "enki-tests", "version": "0"}}),
        );
        self.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        response["result"].clone()
    }

    /// Names of the tools `tools/list` returns, in order.
    pub fn tool_names(&mut self) -> Vec<String> {
        let response = self.request("tools/list", json!({}));
        response["result"]["tools"]
            .as_array()
            .expect("tools array")
            .iter()
            .map(|t| t["name"].as_str().expect("tool name").to_string())
            .collect()
    }

    /// Calls a tool and returns its result object (with `isError`).
    pub fn call(&mut self, tool: &str, arguments: Value) -> Value {
        let response = self.request("tools/call", json!({"name": tool, "arguments": arguments}));
        assert!(
            response.get("error").is_none(),
            "tools/call {tool} failed: {response}"
        );
        response["result"].clone()
    }

    /// Calls a tool that must succeed; returns the result.
    pub fn call_ok(&mut self, tool: &str, arguments: Value) -> Value {
        let result = self.call(tool, arguments.clone());
        assert_eq!(
            result["isError"],
            json!(false),
            "{tool}({arguments}) failed: {result}"
        );
        result
    }

    /// Calls a tool that must fail; returns the error text.
    pub fn call_err(&mut self, tool: &str, arguments: Value) -> String {
        let result = self.call(tool, arguments.clone());
        assert_eq!(
            result["isError"],
            json!(true),
            "{tool}({arguments}) should fail: {result}"
        );
        text_of(&result)
    }

    /// Closes stdin and waits for the exit status.
    pub fn finish(mut self) -> (ExitStatus, String) {
        drop(self.stdin.take());
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("wait on enki mcp") {
                let stderr = self.stderr_now();
                return (status, stderr);
            }
            assert!(
                started.elapsed() < TIMEOUT,
                "enki mcp did not exit after stdin closed"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn stderr_now(&mut self) -> String {
        let mut text = String::new();
        if let Some(mut stderr) = self.child.stderr.take() {
            use std::io::Read;
            let _ = stderr.read_to_string(&mut text);
        }
        text
    }
}

impl Drop for McpClient {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether a message is a notification (a method and no id).
pub fn is_notification(message: &Value) -> bool {
    message.get("method").is_some() && message.get("id").is_none()
}

/// The text of a tool result's first content item.
pub fn text_of(result: &Value) -> String {
    result["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

impl Project {
    /// A git project configured to run the built-in `sim` agent for every
    /// role, with scripts in `.enki/sim/` and the given extra configuration.
    pub fn with_sim(extra_config: &str) -> Project {
        let project = Project::new();
        std::fs::create_dir_all(project.enki_dir().join("sim")).expect("create sim dir");
        let config =
            format!("[agent]\ncommand = \"sim\"\n\n[sim]\nscripts = \"sim\"\n\n{extra_config}\n");
        std::fs::write(project.enki_dir().join("enki.toml"), config).expect("write enki.toml");
        project
    }

    /// Writes `.enki/sim/<name>.toml`.
    pub fn script(&self, name: &str, toml: &str) {
        std::fs::write(
            self.enki_dir().join("sim").join(format!("{name}.toml")),
            toml,
        )
        .expect("write script");
    }

    /// A script that writes one file and reports an output.
    pub fn writer_script(&self, name: &str, file: &str, content: &str) {
        self.script(
            name,
            &format!(
                "[[turn]]\nsteps = [\n  {{ tool = \"enki_worker_report\", args = {{ status = \"writing {file}\" }} }},\n  {{ write = \"{file}\", content = {content:?} }},\n  {{ say = \"[OUTPUT]wrote {file}[/OUTPUT]\" }},\n]\n"
            ),
        );
    }

    /// Writes a plan file outside `.enki/` and returns its path.
    pub fn plan(&self, toml: &str) -> PathBuf {
        let path = self.enki_dir().join("plan.toml");
        std::fs::write(&path, toml).expect("write plan");
        path
    }

    /// Runs `enki <args>` to completion (with a generous safety timeout).
    pub fn run_enki(&self, args: &[&str]) -> std::process::Output {
        wait_output(self.spawn_enki(args), Duration::from_secs(120))
    }

    /// Starts `enki <args>` in the background (no stdin, output piped; read
    /// it with [`wait_output`]).
    pub fn spawn_enki(&self, args: &[&str]) -> Child {
        self.enki(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn enki")
    }

    /// Subjects of the commits on a branch, oldest first.
    pub fn commit_subjects(&self, branch: &str) -> Vec<String> {
        git(&self.root, &["log", "--reverse", "--format=%s", branch])
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Waits until `check` holds, looking again whenever the project's
    /// `.enki/` changes would be visible; `TIMEOUT` is only a safety net.
    pub fn wait_until(&self, what: &str, mut check: impl FnMut() -> bool) {
        let started = Instant::now();
        while !check() {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "timed out waiting for {what}\n{}",
                self.what_it_was_doing()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// For a test that timed out: `enki status` and the end of the
    /// coordinator's log, which the project's removal would otherwise take.
    pub fn what_it_was_doing(&self) -> String {
        let status = self
            .enki(&["status"])
            .output()
            .map(|output| describe(&output))
            .unwrap_or_else(|e| format!("enki status: {e}"));
        let log =
            std::fs::read_to_string(self.enki_dir().join("logs/enki.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(60)..].join("\n");
        format!("enki status:\n{status}\nthe end of .enki/logs/enki.log:\n{tail}")
    }
}

/// Waits for a child with a safety timeout and collects its output.
pub fn wait_output(mut child: Child, limit: Duration) -> std::process::Output {
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let out_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut s) = stdout {
            use std::io::Read;
            let _ = s.read_to_end(&mut buf);
        }
        buf
    });
    let err_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut s) = stderr {
            use std::io::Read;
            let _ = s.read_to_end(&mut buf);
        }
        buf
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait on enki") {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("enki did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    std::process::Output {
        status,
        stdout: out_reader.join().unwrap_or_default(),
        stderr: err_reader.join().unwrap_or_default(),
    }
}

/// A finished command's stdout, as text.
pub fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A finished command's exit status, stdout and stderr, for assertion messages.
pub fn describe(output: &std::process::Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        output.status.code(),
        stdout(output),
        String::from_utf8_lossy(&output.stderr)
    )
}

impl Project {
    /// A sim script whose worker reports, waits until `$ENKI_DIR/<flag>`
    /// exists, then writes `file` and ends with an `[OUTPUT]`.
    pub fn gated_script(&self, name: &str, flag: &str, file: &str) {
        self.script(
            name,
            &format!(
                "[[turn]]\nsteps = [\n  {{ tool = \"enki_worker_report\", args = {{ status = \"waiting for {flag}\" }} }},\n  {{ run = \"while [ ! -f \\\"$ENKI_DIR/{flag}\\\" ]; do sleep 0.02; done\" }},\n  {{ write = \"{file}\", content = \"{file}\\n\" }},\n  {{ say = \"[OUTPUT]wrote {file}[/OUTPUT]\" }},\n]\n"
            ),
        );
    }
}

/// A sim script of one turn with these steps (TOML inline tables, one per line).
pub fn one_turn(steps: &str) -> String {
    format!("[[turn]]\nsteps = [\n{steps}\n]\n")
}

/// Live processes whose working directory is inside `dir` (Linux `/proc`).
pub fn processes_in(dir: &Path) -> Vec<u32> {
    let Ok(dir) = dir.canonicalize() else {
        return Vec::new();
    };
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| is_alive(*pid))
        .filter(|pid| {
            std::fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|cwd| cwd.starts_with(&dir))
        })
        .collect()
}

/// Whether `pid` exists and is not a zombie.
pub fn is_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z'))
    })
}
