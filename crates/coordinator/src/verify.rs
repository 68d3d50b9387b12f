//! The verify hook: `[merge] verify` from configuration, else
//! `.enki/verify.sh`, run on the merged result before the user's branch
//! moves. A non-zero exit (or the timeout) fails the merge; the output is
//! kept in `.enki/logs/verify/<merge request>.log`.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncReadExt;

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
    if let Some(parent) = log.parent() {
        let _ = tokio::fs::create_dir_all(parent).await;
    }
    let mut child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .current_dir(worktree)
        .env("ENKI_DIR", &ctx.layout.dir)
        .env("ENKI_PROJECT", &ctx.project_root)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot run the verify hook `{command}`: {e}"))?;
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let collect = async {
        let mut out = Vec::new();
        let mut err = Vec::new();
        if let Some(s) = stdout.as_mut() {
            let _ = s.read_to_end(&mut out).await;
        }
        if let Some(s) = stderr.as_mut() {
            let _ = s.read_to_end(&mut err).await;
        }
        out.extend(err);
        out
    };
    let limit = Duration::from_secs(ctx.config.merge.verify_timeout_secs);
    let outcome = tokio::time::timeout(limit, async {
        let output = collect.await;
        let status = child.wait().await;
        (output, status)
    })
    .await;
    let (output, verdict) = match outcome {
        Ok((output, Ok(status))) if status.success() => (output, Ok(())),
        Ok((output, Ok(status))) => (
            output,
            Err(format!("the verify hook `{command}` failed ({status})")),
        ),
        Ok((output, Err(e))) => (
            output,
            Err(format!(
                "the verify hook `{command}` could not be waited for: {e}"
            )),
        ),
        Err(_) => {
            if let Some(pid) = child.id().and_then(|p| libc::pid_t::try_from(p).ok()) {
                // SAFETY: signals the hook's own process group.
                unsafe {
                    libc::kill(-pid, libc::SIGKILL);
                }
            }
            let _ = child.wait().await;
            (
                Vec::new(),
                Err(format!(
                    "the verify hook `{command}` did not finish within {} s",
                    limit.as_secs()
                )),
            )
        }
    };
    let _ = tokio::fs::write(&log, &output).await;
    verdict.map_err(|reason| {
        let text = String::from_utf8_lossy(&output);
        let tail: Vec<&str> = text
            .lines()
            .rev()
            .take(15)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        if tail.is_empty() {
            format!("{reason}; log: {}", log.display())
        } else {
            format!("{reason}; log: {}\n{}", log.display(), tail.join("\n"))
        }
    })
}
