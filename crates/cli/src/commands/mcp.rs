//! `enki mcp`: the MCP server agents talk to (see MCP.md).

pub fn run(role: &str, task_id: Option<String>, no_edit: bool) -> i32 {
    enki_mcp::run_cli(role, task_id, no_edit)
}
