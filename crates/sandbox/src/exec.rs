//! `enki sandbox-exec --policy <json-or-file> -- <program> <args…>`: restrict
//! this process, then become the agent. `exec` keeps the pid, the process
//! group, the parent-death signal and the environment the coordinator set.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;

use crate::Policy;

/// Applies `policy` and execs `command`; returns only with the reason it
/// could not (the caller prints it and exits non-zero).
pub fn sandbox_exec(policy: &str, command: &[OsString]) -> String {
    let Some((program, args)) = command.split_first() else {
        return "sandbox-exec needs a program to run after `--`".into();
    };
    let policy = match Policy::parse_arg(policy) {
        Ok(policy) => policy,
        Err(e) => return e,
    };
    if let Err(e) = crate::restrict_self(&policy) {
        return format!("cannot sandbox the agent: {e}");
    }
    let err = std::process::Command::new(program).args(args).exec();
    format!(
        "cannot start the agent {}: {err}",
        program.to_string_lossy()
    )
}
