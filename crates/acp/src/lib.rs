//! The ACP client: runs a coding agent as a child process and speaks the
//! Agent Client Protocol (JSON-RPC 2.0 over newline-delimited stdio,
//! protocol version 1) to it.
//!
//! [`AcpClient::spawn`] starts the agent in its own process group and returns
//! the client plus a stream of [`AgentEvent`]s (session updates, permission
//! answers, fs accesses, protocol errors, exit). The client serves the
//! agent's `session/request_permission` (through a [`PermissionPolicy`]) and
//! `fs/read_text_file` / `fs/write_text_file` (confined to the session's
//! cwd); any other agent request is answered "method not found".
//!
//! Nothing an agent sends makes the client panic: bad lines become
//! [`AgentEvent::ProtocolError`], a dead agent becomes [`AcpError::Exited`].
//! Diagnostics go to `tracing`, never stdout.

mod auth;
mod client;
mod connection;
mod error;
mod framing;
mod fs;
mod mcp;
mod modes;
mod permission;
mod process;
mod updates;

pub use auth::{AUTH_STATUS_UPDATE, AuthStatus};
pub use client::{
    AcpClient, AgentCommand, AuthMethod, ClientOptions, Continuation, InitializeResult, NewSession,
    PROTOCOL_VERSION, StopReason,
};
pub use error::{AUTH_REQUIRED, AcpError, describe_status, telling_stderr};
pub use framing::AsyncLineReader;
pub use fs::RESOURCE_NOT_FOUND;
pub use mcp::{HttpMcpServerSpec, McpServer, McpServerSpec};
pub use modes::{ModeControl, SessionMode, SessionModes};
pub use permission::{
    AllowAll, DenyAll, PermissionDecision, PermissionOption, PermissionPolicy, PermissionRequest,
    PermissionVerdict, WithinCwd, choose_option,
};
pub use process::STDERR_TAIL_LINES;
pub use updates::{
    AgentEvent, PlanEntry, SessionUpdate, parse_session_update, session_model, tool_call_text,
    turn_usage,
};
