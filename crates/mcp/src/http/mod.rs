//! `enki mcp --transport http`: the MCP Streamable HTTP transport (one
//! endpoint, `/mcp`) over hyper and tokio, beside the stdio loop.
//!
//! Every message still goes through [`crate::Server::handle`], one MCP
//! session per `Server` (each owns its SQLite connection, so each sits behind
//! its own mutex and runs on tokio's blocking pool). What is HTTP's own lives
//! here: bearer tokens ([`auth`], [`table`]), the address, `Host` and
//! `Origin` guards ([`guard`]), sessions and their expiry ([`sessions`]),
//! their event streams ([`stream`]), the stateless revision's headers
//! ([`modern`]) and its `subscriptions/listen` streams ([`listen`]),
//! requests of the server to the client ([`link`]) and the answer to one
//! request ([`service`]).

mod auth;
mod feed;
mod guard;
mod link;
mod listen;
mod modern;
mod service;
mod sessions;
mod stream;
mod table;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;

use crate::roles::McpRole;

/// Where `--addr` points when it is not given.
pub const DEFAULT_ADDR: &str = "127.0.0.1:8765";

/// How long a session may stay unused before it ends, unless
/// `--idle-timeout` says otherwise.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// The environment variable that may carry the single bearer token (better
/// than `--auth-token`, which other users can read in the process list).
pub const TOKEN_ENV: &str = "ENKI_MCP_TOKEN";

/// Who the caller of a session is: its tool set and task. With a token
/// table it comes from the token; with a single token from `--role`,
/// `--task-id` and `--no-edit`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub role: McpRole,
    pub task_id: Option<String>,
    pub no_edit: bool,
}

/// `enki mcp --transport http` as typed on the command line.
#[derive(Debug, Default, Clone)]
pub struct HttpArgs {
    /// `--role`, `--task-id`, `--no-edit`: only without a token table.
    pub role: Option<String>,
    pub task_id: Option<String>,
    pub no_edit: bool,
    pub addr: Option<String>,
    pub auth_token: Option<String>,
    pub allow_remote: bool,
    pub token_table: Option<PathBuf>,
    /// Seconds.
    pub idle_timeout: Option<u64>,
}

/// What the server runs with, every argument checked.
pub(crate) struct Config {
    pub addr: SocketAddr,
    pub auth: auth::Auth,
    pub idle_timeout: Duration,
    /// With `--token-table -`: resolves when stdin ends, which ends the
    /// server.
    pub stdin_ended: Option<tokio::sync::oneshot::Receiver<()>>,
}

impl Config {
    /// Checks the arguments; `token_env` is `ENKI_MCP_TOKEN`'s value. The
    /// error says what is wrong and what to do.
    fn from_args(args: HttpArgs, token_env: Option<String>) -> Result<Config, String> {
        let addr_text = args.addr.as_deref().unwrap_or(DEFAULT_ADDR);
        let addr: SocketAddr = addr_text.parse().map_err(|_| {
            format!(
                "--addr {addr_text}: not an IP address and port (use e.g. 127.0.0.1:8765, or 127.0.0.1:0 for any free port)"
            )
        })?;
        if !addr.ip().is_loopback() && !args.allow_remote {
            return Err(format!(
                "--addr {addr}: not a loopback address; anyone who can reach it could try tokens. Bind 127.0.0.1 or [::1], or pass --allow-remote if you mean it (a token is still required)"
            ));
        }
        let idle_timeout = match args.idle_timeout {
            None => DEFAULT_IDLE_TIMEOUT,
            Some(0) => return Err("--idle-timeout must be at least 1 second".to_string()),
            Some(seconds) => Duration::from_secs(seconds),
        };
        let single = args.auth_token.or(token_env);
        let mut stdin_ended = None;
        let auth = match (&args.token_table, single) {
            (Some(_), Some(_)) => {
                return Err(format!(
                    "--token-table and a single token (--auth-token or {TOKEN_ENV}) exclude each other: with a table every token is in the table"
                ));
            }
            (Some(path), None) => {
                if args.role.is_some() || args.task_id.is_some() || args.no_edit {
                    return Err(
                        "--role, --task-id and --no-edit cannot be used with --token-table: each token of the table carries its own role, task and no-edit flag"
                            .to_string(),
                    );
                }
                if path.as_os_str() == feed::STDIN {
                    let (table, ended) = feed::from_stdin();
                    stdin_ended = Some(ended);
                    auth::Auth::Table(table)
                } else {
                    auth::Auth::Table(table::TokenTable::load(path)?)
                }
            }
            (None, Some(token)) => {
                let role = args
                    .role
                    .as_deref()
                    .unwrap_or("planner")
                    .parse::<McpRole>()?;
                let identity = Identity {
                    role,
                    task_id: args.task_id.filter(|t| !t.trim().is_empty()),
                    no_edit: args.no_edit,
                };
                auth::Auth::single(token, identity)?
            }
            (None, None) => {
                return Err(format!(
                    "the HTTP transport needs a bearer token: set {TOKEN_ENV}, pass --auth-token TOKEN, or give a --token-table FILE"
                ));
            }
        };
        Ok(Config {
            addr,
            auth,
            idle_timeout,
            stdin_ended,
        })
    }
}

/// Entry point of `enki mcp --transport http`. Returns the exit code: 0
/// when stopped by SIGINT or SIGTERM, 2 for a usage error, 1 when the
/// address cannot be bound.
pub fn run_cli(args: HttpArgs) -> i32 {
    let token_env = std::env::var(TOKEN_ENV).ok().filter(|t| !t.is_empty());
    let config = match Config::from_args(args, token_env) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("enki mcp: {e}");
            return 2;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("enki mcp: cannot start the HTTP runtime: {e}");
            return 1;
        }
    };
    runtime.block_on(serve(config))
}

async fn serve(mut config: Config) -> i32 {
    let listener = match TcpListener::bind(config.addr).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!(
                "enki mcp: cannot listen on {}: {e} (pick another port, or 127.0.0.1:0 for any free one)",
                config.addr
            );
            return 1;
        }
    };
    let bound = match listener.local_addr() {
        Ok(bound) => bound,
        Err(e) => {
            eprintln!("enki mcp: cannot read the bound address: {e}");
            return 1;
        }
    };
    tracing::info!(
        %bound,
        auth = config.auth.describe(),
        idle_timeout_s = config.idle_timeout.as_secs(),
        pid = std::process::id(),
        "enki mcp starts over HTTP"
    );
    // The one line tests and the coordinator read to find the port.
    eprintln!("enki mcp: listening on http://{bound}/mcp");

    let stdin_ended = config.stdin_ended.take();
    let state = Arc::new(service::State::new(config));
    tokio::spawn(sessions::sweep_forever(Arc::clone(&state.sessions)));
    let shutdown = shutdown_signal(stdin_ended);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _peer) = match accepted {
                    Ok(pair) => pair,
                    Err(e) => {
                        // Out of file descriptors, say: wait a little, keep serving.
                        tracing::warn!("enki mcp: accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let local = stream.local_addr().unwrap_or(bound);
                let state = Arc::clone(&state);
                tokio::spawn(async move {
                    let service = service_fn(move |request| {
                        service::answer(Arc::clone(&state), local, request)
                    });
                    let served = http1::Builder::new()
                        .timer(TokioTimer::new())
                        .header_read_timeout(Duration::from_secs(10))
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                    if let Err(e) = served {
                        tracing::debug!("enki mcp: connection ended: {e}");
                    }
                });
            }
            () = &mut shutdown => break,
        }
    }
    tracing::info!(
        pid = std::process::id(),
        "enki mcp ends: stopped by a signal or the end of its token table's stdin"
    );
    0
}

/// Resolves at SIGINT or SIGTERM, or when the token table's stdin ends.
async fn shutdown_signal(stdin_ended: Option<tokio::sync::oneshot::Receiver<()>>) {
    use tokio::signal::unix::{SignalKind, signal};
    let stdin_ended = async {
        match stdin_ended {
            // A dropped sender (no reader thread) ends the server too.
            Some(ended) => {
                let _ = ended.await;
            }
            None => std::future::pending().await,
        }
    };
    match (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) {
        (Ok(mut interrupt), Ok(mut terminate)) => {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
                () = stdin_ended => {}
            }
        }
        // Without signal handlers the default action (exit) still applies.
        _ => stdin_ended.await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(addr: &str) -> HttpArgs {
        HttpArgs {
            addr: Some(addr.to_string()),
            auth_token: Some("secret-token".to_string()),
            ..HttpArgs::default()
        }
    }

    #[test]
    fn a_non_loopback_address_needs_allow_remote_and_still_a_token() {
        let err = Config::from_args(args("0.0.0.0:0"), None)
            .err()
            .expect("refused");
        assert!(err.contains("--allow-remote"), "{err}");
        let mut remote = args("0.0.0.0:0");
        remote.allow_remote = true;
        assert!(Config::from_args(remote.clone(), None).is_ok());
        remote.auth_token = None;
        let err = Config::from_args(remote, None).err().expect("no token");
        assert!(err.contains(TOKEN_ENV), "{err}");
        assert!(Config::from_args(args("[::1]:0"), None).is_ok());
    }

    #[test]
    fn the_token_comes_from_the_flag_or_the_environment_and_flags_fit_the_mode() {
        let mut from_env = args("127.0.0.1:0");
        from_env.auth_token = None;
        assert!(Config::from_args(from_env.clone(), Some("from-env".into())).is_ok());
        from_env.token_table = Some(PathBuf::from("/nonexistent/tokens.json"));
        let err = Config::from_args(from_env.clone(), Some("from-env".into()))
            .err()
            .expect("both");
        assert!(err.contains("exclude each other"), "{err}");
        from_env.role = Some("worker".into());
        let err = Config::from_args(from_env, None).err().expect("role");
        assert!(err.contains("--role"), "{err}");
        let mut bad_role = args("127.0.0.1:0");
        bad_role.role = Some("wizard".into());
        assert!(Config::from_args(bad_role, None).is_err());
        let mut zero = args("127.0.0.1:0");
        zero.idle_timeout = Some(0);
        assert!(Config::from_args(zero, None).is_err());
        assert!(Config::from_args(args("localhost:80"), None).is_err());
    }
}
