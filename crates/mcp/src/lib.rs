//! `enki mcp`: the MCP server every agent enki spawns talks to (MCP.md).
//!
//! Plain blocking code: one request at a time from stdin, responses on
//! stdout in request order. stdout carries the protocol and nothing else;
//! diagnostics go to stderr and the log files.

mod batch;
mod completion;
mod confirm;
mod context;
mod frames;
pub mod http;
mod limits;
mod link;
mod listen;
pub mod logging;
mod logs;
mod pool;
mod prompts;
pub mod protocol;
mod redact;
mod resources;
pub mod roles;
mod server;
pub mod stateless;
pub mod tools;
pub mod watch;

use std::io::{BufReader, BufWriter};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use enki_config::Config;
use enki_core::TaskId;
use enki_project::Layout;

pub use context::Context;
pub use pool::StorePool;
pub use roles::McpRole;
pub use server::Server;

use crate::logs::TrafficLog;

/// Builds a server for this process: identity from the arguments, project
/// and session from the environment.
pub fn server_from_env(role: McpRole, task_id: Option<String>, no_edit: bool) -> Server {
    server_sharing(role, task_id, no_edit, None)
}

/// [`server_from_env`] whose store connections come from `pool` (the
/// sessions of one HTTP server) instead of one of its own.
pub fn server_sharing(
    role: McpRole,
    task_id: Option<String>,
    no_edit: bool,
    pool: Option<Arc<StorePool>>,
) -> Server {
    let session = std::env::var("ENKI_SESSION_ID")
        .ok()
        .filter(|s| !s.is_empty());
    let layout = Layout::locate_from_env().map_err(|e| e.to_string());
    let log_dir = match &layout {
        Ok(layout) => Some(layout.mcp_logs()),
        Err(e) => {
            eprintln!("enki mcp: {e}");
            None
        }
    };
    let config = config(layout.as_ref().ok());
    let limits = config.mcp;
    let mut ctx = Context::new(role, task_id, no_edit, session, layout);
    ctx.set_busy_budget(Duration::from_millis(limits.busy_timeout_ms));
    ctx.prices = config.prices;
    if let Some(pool) = pool {
        ctx.share(pool);
    }
    let log = match log_dir {
        Some(dir) => {
            let task = log_task_name(&mut ctx);
            TrafficLog::open(
                &dir,
                ctx.session.as_deref(),
                role,
                task.as_deref(),
                limits.traffic_log_max_bytes,
            )
        }
        None => TrafficLog::disabled(),
    };
    // The task id was resolved on a connection the next message may need.
    ctx.release();
    let mut server = Server::new(ctx, log);
    server.set_rate_limit(limits.rate_limit);
    server
}

/// The configuration cascade (its `[mcp]` limits and `[prices]`). A
/// configuration that cannot be read is logged and the defaults are kept:
/// the server still serves (the coordinator reports the same error where a
/// person sees it).
fn config(layout: Option<&Layout>) -> Config {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    match Config::load(home.as_deref(), layout.map(|l| l.dir.as_path())) {
        Ok(config) => config,
        Err(e) => {
            tracing::warn!("{e}; enki mcp keeps its default limits until it is fixed");
            Config::default()
        }
    }
}

/// The task part of the traffic log's name: the full task id, so that a
/// prefix and the full id given to two servers of one worker share a file.
/// A complete id is used as it is; a prefix is resolved in the store (and
/// kept as typed when it does not resolve, so the log still has a name).
fn log_task_name(ctx: &mut Context) -> Option<String> {
    let typed = ctx.task_label()?.to_string();
    if let Ok(full) = TaskId::parse(&typed) {
        return Some(full.into_string());
    }
    Some(ctx.my_task().unwrap_or(typed))
}

/// Entry point of `enki mcp`. Returns the process exit code: 0 at EOF, 2 for
/// a usage error, 1 when stdout is gone.
pub fn run_cli(role: &str, task_id: Option<String>, no_edit: bool) -> i32 {
    let role = match role.parse::<McpRole>() {
        Ok(role) => role,
        Err(e) => {
            eprintln!("enki mcp: {e}");
            return 2;
        }
    };
    let task_id = task_id.filter(|t| !t.trim().is_empty());
    tracing::info!(%role, task = ?task_id, no_edit, pid = std::process::id(), "enki mcp starts");
    let mut server = server_from_env(role, task_id, no_edit);
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    // Read on a thread of its own (`frames.rs`), so not through a lock.
    let input = BufReader::with_capacity(64 * 1024, stdin);
    let output = BufWriter::new(stdout.lock());
    match server.serve(input, output) {
        Ok(()) => {
            tracing::info!(
                pid = std::process::id(),
                "enki mcp ends: its client closed the connection"
            );
            0
        }
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => 0,
        Err(e) => {
            tracing::info!(pid = std::process::id(), "enki mcp ends with an error: {e}");
            eprintln!("enki mcp: {e}");
            1
        }
    }
}
