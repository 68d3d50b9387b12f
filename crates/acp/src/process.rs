//! The agent child process: spawned in its own process group, contained so
//! that nothing it starts outlives enki (`enki_sandbox::contain`) and in its
//! Landlock sandbox (both set up between fork and exec), stderr copied to a log
//! file and kept as an in-memory tail, reaped by a background task, and
//! killed as a whole group.

use std::collections::VecDeque;
use std::io;
use std::os::unix::process::CommandExt;
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{ChildStderr, ChildStdin, ChildStdout, Command};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::client::AgentCommand;
use crate::error::AcpError;

/// How many stderr lines are kept in memory.
pub const STDERR_TAIL_LINES: usize = 40;
/// Longest stderr line kept in the tail, in bytes (the log file has it all).
const TAIL_LINE_BYTES: usize = 2000;
/// How long to wait for the leader to be reaped after SIGKILL.
const REAP_AFTER_KILL: Duration = Duration::from_secs(5);
/// Poll interval while waiting for the rest of the process group to go.
const GROUP_POLL: Duration = Duration::from_millis(20);

/// The last lines the agent wrote to stderr.
#[derive(Debug, Default)]
pub(crate) struct StderrTail {
    state: Mutex<TailState>,
}

#[derive(Debug, Default)]
struct TailState {
    lines: VecDeque<String>,
    partial: Vec<u8>,
    partial_cut: bool,
}

impl TailState {
    fn end_line(&mut self) {
        let mut line = String::from_utf8_lossy(&self.partial).into_owned();
        if line.ends_with('\r') {
            line.pop();
        }
        if self.partial_cut {
            line.push('…');
        }
        self.partial.clear();
        self.partial_cut = false;
        if self.lines.len() == STDERR_TAIL_LINES {
            self.lines.pop_front();
        }
        self.lines.push_back(line);
    }
}

impl StderrTail {
    fn lock(&self) -> std::sync::MutexGuard<'_, TailState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn push(&self, mut bytes: &[u8]) {
        let mut state = self.lock();
        while !bytes.is_empty() {
            let newline = bytes.iter().position(|&b| b == b'\n');
            let segment = &bytes[..newline.unwrap_or(bytes.len())];
            let room = TAIL_LINE_BYTES.saturating_sub(state.partial.len());
            if segment.len() > room {
                state.partial_cut = true;
            }
            state
                .partial
                .extend_from_slice(&segment[..segment.len().min(room)]);
            match newline {
                Some(at) => {
                    state.end_line();
                    bytes = &bytes[at + 1..];
                }
                None => break,
            }
        }
    }

    /// Ends an unterminated last line.
    pub(crate) fn finish(&self) {
        let mut state = self.lock();
        if !state.partial.is_empty() || state.partial_cut {
            state.end_line();
        }
    }

    /// The kept lines, plus the current unterminated line if any.
    pub(crate) fn snapshot(&self) -> Vec<String> {
        let state = self.lock();
        let mut lines: Vec<String> = state.lines.iter().cloned().collect();
        if !state.partial.is_empty() {
            lines.push(String::from_utf8_lossy(&state.partial).into_owned());
        }
        lines
    }
}

impl AgentCommand {
    /// The process that starts this agent, ready to spawn: piped stdio, its
    /// own process group, its containment (`enki_sandbox::contain`), and
    /// with [`AgentCommand::sandbox`] its Landlock ruleset enforced between
    /// fork and exec. The ruleset and the program's path, arguments and
    /// environment are prepared here, before the fork, so that the child
    /// only makes system calls, which is all a child forked from a
    /// multi-threaded process may safely do. In loopback mode it also gives
    /// the [`enki_sandbox::Forwarding`] whose listeners arrive once the
    /// spawn returned. Public so that `cargo xtask bench coordinator` times
    /// the very start the coordinator makes.
    pub fn to_process(
        &self,
    ) -> Result<(std::process::Command, Option<enki_sandbox::Forwarding>), AcpError> {
        let mut sandbox = self
            .sandbox
            .as_ref()
            .map(enki_sandbox::prepare)
            .transpose()
            .map_err(|reason| AcpError::Sandbox {
                program: self.program.clone(),
                reason,
            })?;
        let forwarding = sandbox
            .as_mut()
            .and_then(enki_sandbox::Prepared::take_forwarding);
        let mut command = std::process::Command::new(&self.program);
        command
            .args(&self.args)
            .current_dir(&self.cwd)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        if self.clear_env {
            command.env_clear();
        }
        command.envs(self.env.iter().map(|(k, v)| (k, v)));
        // The agent and everything it starts die with the coordinator, even
        // if it is killed outright (SIGKILL): in a PID namespace whose init
        // dies with the spawning thread (agents are spawned from runtime
        // worker threads, which live as long as the coordinator). Where no
        // namespace can be made, the agent alone has the parent-death
        // signal.
        let environment = if self.clear_env {
            enki_sandbox::Environment::Clear
        } else {
            enki_sandbox::Environment::Inherit
        };
        enki_sandbox::contain(&mut command, environment, sandbox).map_err(|source| {
            AcpError::Spawn {
                program: self.program.clone(),
                source,
            }
        })?;
        Ok((command, forwarding))
    }
}

/// Whether the agent process (the group leader) has been reaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ProcState {
    Running,
    /// `None` when waiting for it failed.
    Exited(Option<ExitStatus>),
}

/// Observes the end of the process without owning it (for the task that
/// closes the connection when the agent dies).
#[derive(Debug, Clone)]
pub(crate) struct ExitWatch {
    state: watch::Receiver<ProcState>,
    stderr_done: watch::Receiver<bool>,
    tail: Arc<StderrTail>,
}

impl ExitWatch {
    pub(crate) fn state(&self) -> ProcState {
        *self.state.borrow()
    }

    pub(crate) fn stderr_tail(&self) -> Vec<String> {
        self.tail.snapshot()
    }

    pub(crate) fn tail_handle(&self) -> Arc<StderrTail> {
        self.tail.clone()
    }

    /// Waits until the process has been reaped.
    pub(crate) async fn wait_exit(&self) -> Option<ExitStatus> {
        let mut rx = self.state.clone();
        let state = match rx.wait_for(|s| *s != ProcState::Running).await {
            Ok(state) => *state,
            // The reaper task is gone (runtime shutting down).
            Err(_) => ProcState::Exited(None),
        };
        match state {
            ProcState::Exited(status) => status,
            ProcState::Running => None,
        }
    }

    /// Like [`Self::wait_exit`], giving up after `limit` (`None`).
    pub(crate) async fn wait_exit_for(&self, limit: Duration) -> Option<Option<ExitStatus>> {
        tokio::time::timeout(limit, self.wait_exit()).await.ok()
    }

    /// Waits (at most `limit`) until stderr reached EOF, so the tail is
    /// complete. A grandchild holding stderr open makes this time out.
    pub(crate) async fn wait_stderr_drained(&self, limit: Duration) {
        let mut rx = self.stderr_done.clone();
        let _ = tokio::time::timeout(limit, rx.wait_for(|done| *done)).await;
    }
}

/// A running (or finished) agent process. Dropping it without a completed
/// [`AgentProcess::terminate`] SIGKILLs the whole process group.
#[derive(Debug)]
pub(crate) struct AgentProcess {
    pid: u32,
    watch: ExitWatch,
    /// Set once `terminate` has made sure the group is gone.
    released: AtomicBool,
}

pub(crate) struct Spawned {
    pub process: AgentProcess,
    pub stdin: ChildStdin,
    pub stdout: ChildStdout,
}

impl AgentProcess {
    /// Starts the agent in its own process group with piped stdio and starts
    /// the reaper and stderr tasks. Must run inside a tokio runtime.
    pub(crate) async fn spawn(cmd: &AgentCommand) -> Result<Spawned, AcpError> {
        if !cmd.cwd.is_dir() {
            return Err(AcpError::Io(io::Error::new(
                io::ErrorKind::NotFound,
                format!(
                    "agent working directory {} does not exist",
                    cmd.cwd.display()
                ),
            )));
        }
        let (command, forwarding) = cmd.to_process()?;
        let mut command = Command::from(command);
        command.kill_on_drop(true);
        let mut child = command.spawn().map_err(|source| AcpError::Spawn {
            program: cmd.program.clone(),
            source,
        })?;
        // Loopback mode: the agent's own listeners, relayed to the host's
        // loopback until it exits (the reaper below drops the relay).
        let relay = forwarding
            .map(|f| f.receive().and_then(enki_sandbox::relay))
            .transpose()
            .map_err(|e| AcpError::Sandbox {
                program: cmd.program.clone(),
                reason: format!("cannot relay the agent's loopback ports: {e}"),
            })?;
        let (Some(pid), Some(stdin), Some(stdout), Some(stderr)) = (
            child.id(),
            child.stdin.take(),
            child.stdout.take(),
            child.stderr.take(),
        ) else {
            // Unreachable with piped stdio; the child is killed on drop.
            return Err(AcpError::Io(io::Error::other(
                "agent started without its stdio pipes",
            )));
        };
        tracing::debug!(program = %cmd.program, pid, "agent started");

        let log = match &cmd.stderr_log {
            Some(path) => open_log(path).await,
            None => None,
        };
        let tail = Arc::new(StderrTail::default());
        let (done_tx, stderr_done) = watch::channel(false);
        tokio::spawn(pump_stderr(stderr, log, tail.clone(), done_tx));

        let (state_tx, state) = watch::channel(ProcState::Running);
        tokio::spawn(async move {
            let status = match child.wait().await {
                Ok(status) => Some(status),
                Err(e) => {
                    tracing::warn!(pid, "cannot wait for the agent: {e}");
                    None
                }
            };
            tracing::debug!(pid, ?status, "agent exited");
            drop(relay);
            state_tx.send_replace(ProcState::Exited(status));
        });

        Ok(Spawned {
            process: AgentProcess {
                pid,
                watch: ExitWatch {
                    state,
                    stderr_done,
                    tail,
                },
                released: AtomicBool::new(false),
            },
            stdin,
            stdout,
        })
    }

    /// The pid while the process runs; `None` once it has been reaped.
    pub(crate) fn pid(&self) -> Option<u32> {
        match self.watch.state() {
            ProcState::Running => Some(self.pid),
            ProcState::Exited(_) => None,
        }
    }

    pub(crate) fn exit_watch(&self) -> &ExitWatch {
        &self.watch
    }

    fn pgid(&self) -> Option<libc::pid_t> {
        libc::pid_t::try_from(self.pid).ok().filter(|&p| p > 1)
    }

    /// Whether any process is left in the group (zombies included).
    fn group_alive(&self) -> bool {
        let Some(pgid) = self.pgid() else {
            return false;
        };
        // SAFETY: kill(2) with signal 0 only checks for existence; the
        // negative pid names our child's own process group (never 0 or -1).
        #[allow(unsafe_code)]
        let rc = unsafe { libc::kill(-pgid, 0) };
        rc == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
    }

    fn signal_group(&self, signal: libc::c_int) {
        let Some(pgid) = self.pgid() else {
            return;
        };
        // SAFETY: as above; the group is the one the child leads.
        #[allow(unsafe_code)]
        let rc = unsafe { libc::kill(-pgid, signal) };
        if rc != 0 {
            let err = io::Error::last_os_error();
            if err.raw_os_error() != Some(libc::ESRCH) {
                tracing::warn!(
                    pgid,
                    signal,
                    "cannot signal the agent's process group: {err}"
                );
            }
        } else {
            tracing::debug!(pgid, signal, "signalled the agent's process group");
        }
    }

    /// Ends the process and its whole group. The caller has closed stdin.
    /// Waits up to `grace` for the agent to exit by itself; if it (or
    /// anything else in its group) is still there, SIGTERMs the group, waits
    /// up to `grace` again, then SIGKILLs it. Returns the leader's status.
    pub(crate) async fn terminate(&self, grace: Duration) -> Option<ExitStatus> {
        let watch = &self.watch;
        let exited = watch.wait_exit_for(grace).await.is_some();
        if !exited || self.group_alive() {
            self.signal_group(libc::SIGTERM);
            let deadline = Instant::now() + grace;
            loop {
                if watch.state() != ProcState::Running && !self.group_alive() {
                    break;
                }
                let now = Instant::now();
                if now >= deadline {
                    self.signal_group(libc::SIGKILL);
                    break;
                }
                let pause = GROUP_POLL.min(deadline - now);
                if watch.state() == ProcState::Running {
                    // Wakes early when the leader exits.
                    let _ = watch.wait_exit_for(pause).await;
                } else {
                    tokio::time::sleep(pause).await;
                }
            }
        }
        let status = match watch.wait_exit_for(REAP_AFTER_KILL).await {
            Some(status) => status,
            None => {
                tracing::warn!(pid = self.pid, "agent not reaped after SIGKILL");
                None
            }
        };
        self.released.store(true, Ordering::SeqCst);
        status
    }
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        if self.released.load(Ordering::SeqCst) {
            return;
        }
        // While the leader is unreaped, or any group member is left, the
        // pgid cannot have been reused.
        if self.watch.state() == ProcState::Running || self.group_alive() {
            self.signal_group(libc::SIGKILL);
        }
    }
}

async fn open_log(path: &std::path::Path) -> Option<tokio::fs::File> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
        && let Err(e) = tokio::fs::create_dir_all(parent).await
    {
        tracing::warn!(path = %path.display(), "cannot create the agent stderr log folder: {e}");
        return None;
    }
    match tokio::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .await
    {
        Ok(file) => Some(file),
        Err(e) => {
            tracing::warn!(path = %path.display(), "cannot open the agent stderr log: {e}");
            None
        }
    }
}

async fn pump_stderr(
    mut stderr: ChildStderr,
    mut log: Option<tokio::fs::File>,
    tail: Arc<StderrTail>,
    done: watch::Sender<bool>,
) {
    let mut buf = vec![0u8; 8192];
    loop {
        let n = match stderr.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                tracing::warn!("cannot read the agent's stderr: {e}");
                break;
            }
        };
        tail.push(&buf[..n]);
        if let Some(file) = log.as_mut() {
            let written = async {
                file.write_all(&buf[..n]).await?;
                file.flush().await
            };
            if let Err(e) = written.await {
                tracing::warn!("cannot write the agent stderr log: {e}");
                log = None;
            }
        }
    }
    tail.finish();
    done.send_replace(true);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_last_lines_and_partial() {
        let tail = StderrTail::default();
        tail.push(b"one\r\ntw");
        assert_eq!(tail.snapshot(), ["one", "tw"]);
        tail.push(b"o\n\nthree");
        assert_eq!(tail.snapshot(), ["one", "two", "", "three"]);
        tail.finish();
        assert_eq!(tail.snapshot(), ["one", "two", "", "three"]);
        tail.finish();
        assert_eq!(tail.snapshot().len(), 4);

        for i in 0..100 {
            tail.push(format!("line {i}\n").as_bytes());
        }
        let lines = tail.snapshot();
        assert_eq!(lines.len(), STDERR_TAIL_LINES);
        assert_eq!(lines.last().unwrap(), "line 99");
        assert_eq!(lines[0], format!("line {}", 100 - STDERR_TAIL_LINES));
    }

    #[test]
    fn tail_cuts_long_lines_and_survives_bad_utf8() {
        let tail = StderrTail::default();
        tail.push(&vec![b'x'; TAIL_LINE_BYTES + 10]);
        tail.push(b"yyy\n\xff\xfe ok\n");
        let lines = tail.snapshot();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].len(), TAIL_LINE_BYTES + '…'.len_utf8());
        assert!(lines[0].ends_with("x…"));
        assert!(lines[1].ends_with(" ok"));
    }
}
