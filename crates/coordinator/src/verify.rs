//! The verify hook: `[merge] verify` from configuration, else
//! `.enki/verify.sh`, run on the merged result before the user's branch
//! moves. A non-zero exit (or the timeout) fails the merge; the output is
//! kept in `.enki/logs/verify/<merge request>.log`. The hook runs contained
//! (`enki_sandbox::contain`): whatever it starts dies with it and with enki.
//! [`run_hook`] runs `[workers] setup` in a new copy the same way.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use crate::context::Shared;

/// The command to run, if any.
pub fn verify_command(ctx: &Shared) -> Option<String> {
    if let Some(command) = &ctx.config.merge.verify {
        return Some(command.clone());
    }
    let script = ctx.layout.dir.join("verify.sh");
    script.is_file().then(|| {
        format!(
            "sh '{}'",
            script.display().to_string().replace('\'', "'\\''")
        )
    })
}

/// Runs the hook in `worktree`. `Ok(())` when it passed; otherwise the
/// reason, with the tail of its output.
pub async fn run_verify(
    ctx: &Shared,
    command: &str,
    worktree: &Path,
    merge_id: &str,
) -> Result<(), String> {
    let log = ctx
        .layout
        .logs()
        .join("verify")
        .join(format!("{merge_id}.log"));
    let limit = Duration::from_secs(ctx.config.merge.verify_timeout_secs);
    run_hook(ctx, "the verify hook", command, worktree, &log, limit).await
}

/// Runs `command` (`sh -c`, contained) in `dir`, its output in `log`, for
/// at most `limit`. `Ok(())` when it exited 0; otherwise the reason (`what`
/// names the hook), with the tail of its output.
///
/// stdout and stderr both go straight to the log file (one open file, so
/// they interleave as written): nothing is buffered in enki, a hook can
/// write any amount to either, and what a hook that hangs wrote before it
/// was killed is kept. On the timeout the hook's whole process group is
/// killed, so its children go too.
pub async fn run_hook(
    ctx: &Shared,
    what: &str,
    command: &str,
    dir: &Path,
    log: &Path,
    limit: Duration,
) -> Result<(), String> {
    let out = open_log(log)?;
    let err = out
        .try_clone()
        .map_err(|e| format!("cannot share the log {}: {e}", log.display()))?;
    let mut hook = tokio::process::Command::new("sh");
    hook.arg("-c")
        .arg(command)
        .current_dir(dir)
        .env("ENKI_DIR", &ctx.layout.dir)
        .env("ENKI_PROJECT", &ctx.project_root)
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .process_group(0)
        .kill_on_drop(true);
    // Nothing the hook starts outlives enki, even killed by SIGKILL.
    enki_sandbox::contain(hook.as_std_mut(), enki_sandbox::Environment::Inherit, None)
        .map_err(|e| format!("cannot run {what} `{command}`: {e}"))?;
    let mut child = hook
        .spawn()
        .map_err(|e| format!("cannot run {what} `{command}`: {e}"))?;
    // Kills the group if this future is dropped before the hook ends.
    let mut group = Group(child.id().and_then(|p| libc::pid_t::try_from(p).ok()));
    let verdict = match tokio::time::timeout(limit, child.wait()).await {
        Ok(Ok(status)) if status.success() => Ok(()),
        Ok(Ok(status)) => Err(format!("{what} `{command}` failed ({status})")),
        Ok(Err(e)) => Err(format!("{what} `{command}` could not be waited for: {e}")),
        Err(_) => {
            group.kill();
            let _ = child.wait().await;
            let reason = format!(
                "{what} `{command}` did not finish within {} s",
                limit.as_secs()
            );
            append_line(log, &format!("enki: {reason}; killed"));
            Err(reason)
        }
    };
    group.disarm();
    verdict.map_err(|reason| {
        let tail = log_tail(log, 15);
        if tail.is_empty() {
            format!("{reason}; log: {}", log.display())
        } else {
            format!("{reason}; log: {}\n{tail}", log.display())
        }
    })
}

fn open_log(log: &Path) -> Result<std::fs::File, String> {
    if let Some(parent) = log.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| format!("cannot create the log folder {}: {e}", parent.display()))?;
    }
    std::fs::File::create(log).map_err(|e| format!("cannot create the log {}: {e}", log.display()))
}

fn append_line(log: &Path, line: &str) {
    use std::io::Write;
    if let Ok(mut file) = std::fs::OpenOptions::new().append(true).open(log) {
        let _ = writeln!(file, "\n{line}");
    }
}

/// The last `lines` lines of the log (read from its last 64 KiB).
fn log_tail(log: &Path, lines: usize) -> String {
    use std::io::{Read, Seek, SeekFrom};
    const WINDOW: u64 = 64 * 1024;
    let Ok(mut file) = std::fs::File::open(log) else {
        return String::new();
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    if file
        .seek(SeekFrom::Start(len.saturating_sub(WINDOW)))
        .is_err()
    {
        return String::new();
    }
    let mut bytes = Vec::new();
    let _ = file.read_to_end(&mut bytes);
    let text = String::from_utf8_lossy(&bytes);
    let all: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// The hook's process group, killed on [`Group::kill`] or when dropped
/// while armed.
struct Group(Option<libc::pid_t>);

impl Group {
    fn kill(&mut self) {
        if let Some(pid) = self.0.take() {
            // SAFETY: signals the hook's own process group (its pid is the
            // group id, `process_group(0)`), which has not been reaped yet.
            #[allow(unsafe_code)]
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
            }
        }
    }

    fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.kill();
    }
}
