//! `enki mcp`: the MCP server agents talk to (see MCP.md), on stdio or over
//! Streamable HTTP (`docs/MCP.md`).

use std::path::PathBuf;

use clap::{Args, ValueEnum};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum Transport {
    /// JSON-RPC lines on stdin/stdout (what enki's agents use).
    #[default]
    Stdio,
    /// MCP Streamable HTTP on one endpoint, /mcp, with bearer tokens.
    Http,
}

#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct McpArgs {
    /// stdio, or http for MCP Streamable HTTP.
    #[arg(long, value_enum, default_value_t = Transport::Stdio)]
    pub transport: Transport,
    /// Which tool set to serve: planner (the default), worker or merger. Not with
    /// --token-table, whose tokens carry their role.
    #[arg(long)]
    pub role: Option<String>,
    /// The calling worker's or merger's task id.
    #[arg(long)]
    pub task_id: Option<String>,
    /// Leave out the file-editing tool (for read-only worker roles).
    #[arg(long)]
    pub no_edit: bool,
    /// HTTP: the address to listen on (default 127.0.0.1:8765; port 0 picks a free one,
    /// printed on stderr).
    #[arg(long, value_name = "IP:PORT")]
    pub addr: Option<String>,
    /// HTTP: the bearer token every request must carry. Prefer the ENKI_MCP_TOKEN
    /// environment variable: other users can read command lines.
    #[arg(long, value_name = "TOKEN")]
    pub auth_token: Option<String>,
    /// HTTP: allow an --addr that is not loopback (a token is still required).
    #[arg(long)]
    pub allow_remote: bool,
    /// HTTP: a JSON or TOML file (mode 600) mapping each token to a role, task id and
    /// no-edit flag; read again when it changes. `-` reads whole JSON tables from stdin,
    /// one per line, acknowledged on stdout; the end of stdin ends the server.
    #[arg(long, value_name = "FILE")]
    pub token_table: Option<PathBuf>,
    /// HTTP: end a session unused for this many seconds (default 1800).
    #[arg(long, value_name = "SECONDS")]
    pub idle_timeout: Option<u64>,
}

pub fn run(args: McpArgs) -> i32 {
    // Its own log file, never stdout (that is protocol); warnings also go to
    // stderr, and to the clients that asked for them with logging/setLevel.
    // A server outside a project has no log: the server itself says why it
    // cannot work there.
    let _log = enki_project::Layout::locate_from_env().ok().map(|layout| {
        enki_log::init(enki_log::LogOptions {
            file: layout.mcp_log_file(),
            warnings: Some(enki_log::stderr_and(enki_mcp::logging::forward)),
            // A stdio server is short-lived and quiet; an HTTP one serves
            // many sessions for long.
            buffered_lines: match args.transport {
                Transport::Stdio => enki_log::SHORT_RUN_BUFFERED_LINES,
                Transport::Http => enki_log::LONG_RUN_BUFFERED_LINES,
            },
        })
    });
    match args.transport {
        Transport::Stdio => {
            let http_only = [
                ("--addr", args.addr.is_some()),
                ("--auth-token", args.auth_token.is_some()),
                ("--allow-remote", args.allow_remote),
                ("--token-table", args.token_table.is_some()),
                ("--idle-timeout", args.idle_timeout.is_some()),
            ];
            if let Some((flag, _)) = http_only.iter().find(|(_, given)| *given) {
                eprintln!(
                    "enki mcp: {flag} is for the HTTP transport: add --transport http, or leave it out for stdio"
                );
                return 2;
            }
            let role = args.role.as_deref().unwrap_or("planner");
            enki_mcp::run_cli(role, args.task_id, args.no_edit)
        }
        Transport::Http => enki_mcp::http::run_cli(enki_mcp::http::HttpArgs {
            role: args.role,
            task_id: args.task_id,
            no_edit: args.no_edit,
            addr: args.addr,
            auth_token: args.auth_token,
            allow_remote: args.allow_remote,
            token_table: args.token_table,
            idle_timeout: args.idle_timeout,
        }),
    }
}
