//! What a new copy gets before its agent starts: the project's ignored
//! files (all where the file system clones files, else the listed ones:
//! `.worktreeinclude` and `[workers] include`), then `[workers] setup` run
//! in it (install dependencies, copy `.env`). A setup that fails fails the
//! attempt, with the tail of its output; its log is
//! `.enki/logs/setup/<task>.log`. A copy kept for a later attempt is set
//! up again until a setup passed in it (`<task>.ok` beside the log).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use enki_config::CopyIgnored;
use enki_workspace::Ignored;

use crate::context::Shared;

/// Which ignored files a new copy gets, by `[workers] copy_ignored`.
pub fn ignored_files(ctx: &Shared) -> Ignored<'_> {
    // One file system for every copy of a run: probed once.
    static CLONES: OnceLock<bool> = OnceLock::new();
    let listed = Ignored::Listed(&ctx.config.workers.include);
    match ctx.config.workers.copy_ignored {
        CopyIgnored::All => Ignored::All,
        CopyIgnored::Listed => listed,
        CopyIgnored::Auto => {
            let copies = ctx.layout.copies();
            let _ = std::fs::create_dir_all(&copies);
            if *CLONES.get_or_init(|| enki_workspace::clones_files(&copies)) {
                Ignored::All
            } else {
                listed
            }
        }
    }
}

/// Where landed copies wait to become the next task's copy, and how many
/// wait at most (one per worker, and one more for the clean-up's lag).
/// `None` where something an agent started could outlive its session (no
/// PID namespace): it could go on writing in a copy serving another task.
pub fn copy_pool(ctx: &Shared) -> Option<(PathBuf, usize)> {
    enki_sandbox::containment()
        .is_complete()
        .then(|| (ctx.layout.pool(), ctx.config.workers.max_workers + 1))
}

fn setup_log(ctx: &Shared, task_id: &str) -> PathBuf {
    ctx.layout
        .logs()
        .join("setup")
        .join(format!("{task_id}.log"))
}

/// Runs `[workers] setup` in the task's copy unless a setup passed in this
/// copy already (`fresh`: the copy was just made, so none did).
pub async fn set_up_copy(
    ctx: &Shared,
    task_id: &str,
    copy: &Path,
    fresh: bool,
) -> Result<(), String> {
    let Some(command) = ctx.config.workers.setup.as_deref() else {
        return Ok(());
    };
    let log = setup_log(ctx, task_id);
    let passed = log.with_extension("ok");
    if fresh {
        let _ = std::fs::remove_file(&passed);
    } else if passed.exists() {
        return Ok(());
    }
    let limit = Duration::from_secs(ctx.config.workers.setup_timeout_secs);
    crate::verify::run_hook(ctx, "the setup command", command, copy, &log, limit)
        .await
        .map_err(|e| {
            format!(
                "{e}\n([workers] setup in enki.toml runs in each new copy before its agent starts)"
            )
        })?;
    std::fs::write(&passed, b"").map_err(|e| format!("cannot record the setup of {task_id}: {e}"))
}
