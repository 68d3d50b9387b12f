//! Which tools each `enki mcp --role` may use. Each list is one constant;
//! the test suite asserts every list exactly.

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum McpRole {
    Planner,
    Worker,
    Merger,
}

impl McpRole {
    pub const fn as_str(self) -> &'static str {
        match self {
            McpRole::Planner => "planner",
            McpRole::Worker => "worker",
            McpRole::Merger => "merger",
        }
    }
}

impl fmt::Display for McpRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for McpRole {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "planner" => Ok(McpRole::Planner),
            "worker" => Ok(McpRole::Worker),
            "merger" => Ok(McpRole::Merger),
            other => Err(format!(
                "unknown role '{other}' (expected planner, worker or merger)"
            )),
        }
    }
}

pub const PLANNER_TOOLS: &[&str] = &[
    "enki_status",
    "enki_task_list",
    "enki_task_show",
    "enki_dag",
    "enki_task_create",
    "enki_execution_create",
    "enki_execution_add_steps",
    "enki_task_retry",
    "enki_pause",
    "enki_resume",
    "enki_cancel",
    "enki_stop_all",
    "enki_mail_send",
    "enki_mail_check",
    "enki_mail_read",
    "enki_mail_inbox",
    "enki_mail_reply",
    "enki_mail_thread",
];

pub const WORKER_TOOLS: &[&str] = &[
    "enki_status",
    "enki_task_list",
    "enki_task_show",
    "enki_dag",
    "enki_worker_report",
    "enki_read_file",
    "enki_edit_file",
    "enki_mail_send",
    "enki_mail_check",
    "enki_mail_read",
    "enki_mail_inbox",
    "enki_mail_reply",
    "enki_mail_thread",
];

pub const WORKER_NO_EDIT_TOOLS: &[&str] = &[
    "enki_status",
    "enki_task_list",
    "enki_task_show",
    "enki_dag",
    "enki_worker_report",
    "enki_read_file",
    "enki_mail_send",
    "enki_mail_check",
    "enki_mail_read",
    "enki_mail_inbox",
    "enki_mail_reply",
    "enki_mail_thread",
];

pub const MERGER_TOOLS: &[&str] = &[
    "enki_status",
    "enki_task_list",
    "enki_task_show",
    "enki_dag",
];

/// The tools a server started with this role and flag offers.
pub fn tools_for(role: McpRole, no_edit: bool) -> &'static [&'static str] {
    match (role, no_edit) {
        (McpRole::Planner, _) => PLANNER_TOOLS,
        (McpRole::Worker, false) => WORKER_TOOLS,
        (McpRole::Worker, true) => WORKER_NO_EDIT_TOOLS,
        (McpRole::Merger, _) => MERGER_TOOLS,
    }
}
