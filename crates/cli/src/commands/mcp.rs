//! `enki mcp`: the MCP server agents talk to (see MCP.md).

pub fn run(role: &str, task_id: Option<String>, no_edit: bool) -> i32 {
    // Its own log file, never stdout (that is protocol); warnings also go to
    // stderr, and to the clients that asked for them with logging/setLevel.
    // A server outside a project has no log: the server itself says why it
    // cannot work there.
    let _log = enki_project::Layout::locate_from_env().ok().map(|layout| {
        enki_log::init(enki_log::LogOptions {
            file: layout.mcp_log_file(),
            warnings: Some(enki_log::stderr_and(enki_mcp::logging::forward)),
        })
    });
    enki_mcp::run_cli(role, task_id, no_edit)
}
