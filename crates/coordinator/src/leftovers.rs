//! Processes that an interrupted attempt left behind.
//!
//! Where no PID namespace can be made (`enki_sandbox::containment`), a
//! coordinator killed with SIGKILL takes its agents with it (their
//! parent-death signal), but not the commands those agents started: a
//! build or a test run keeps going in the task's copy. Before the task runs
//! again in that kept copy (or a merger again in its merge folder), whatever
//! is left of the old agent's process group is stopped, so two runs never
//! edit the same folder at once.

use std::path::Path;

/// Kills process group `pgid` if any of its members still works inside
/// `copy`; returns how many such members there were. The working-directory
/// check keeps a recycled group id from ever hitting an unrelated program.
/// Linux only (`/proc`); elsewhere, and on any read error, nothing is done.
pub fn stop_leftover_group(pgid: u32, copy: &Path) -> usize {
    let Ok(copy) = copy.canonicalize() else {
        return 0;
    };
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    let members = entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| group_of(*pid) == Some(pgid))
        .filter(|pid| {
            std::fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|cwd| cwd.starts_with(&copy))
        })
        .count();
    let Ok(group) = libc::pid_t::try_from(pgid) else {
        return 0;
    };
    if members > 0 && group > 1 {
        // SAFETY: kill(2) with a negative pid signals a process group; it
        // touches no memory of ours.
        #[allow(unsafe_code)]
        let rc = unsafe { libc::kill(-group, libc::SIGKILL) };
        if rc == 0 {
            tracing::warn!(pgid, members, copy = %copy.display(), "stopped processes an interrupted attempt left running");
        }
    }
    members
}

/// The process group of `pid`, from `/proc/<pid>/stat`: the fifth field,
/// counted after the command name (which may hold spaces and parentheses).
fn group_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(2)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::CommandExt;
    use std::os::unix::process::ExitStatusExt;
    use std::process::Command;

    use super::*;

    fn spawn_group_in(dir: &Path) -> std::process::Child {
        Command::new("sh")
            .args(["-c", "sleep 60 & sleep 60; wait"])
            .current_dir(dir)
            .process_group(0)
            .spawn()
            .unwrap()
    }

    #[test]
    fn a_group_working_in_the_copy_is_killed() {
        let copy = tempfile::tempdir().unwrap();
        let mut child = spawn_group_in(copy.path());
        let pgid = child.id();
        assert!(stop_leftover_group(pgid, copy.path()) >= 1);
        let status = child.wait().unwrap();
        assert_eq!(status.signal(), Some(libc::SIGKILL));
    }

    #[test]
    fn a_group_working_elsewhere_is_left_alone() {
        let copy = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        let mut child = spawn_group_in(elsewhere.path());
        let pgid = child.id();
        assert_eq!(stop_leftover_group(pgid, copy.path()), 0);
        assert_eq!(child.try_wait().unwrap(), None, "still running");
        // SAFETY: signalling our own child's group.
        #[allow(unsafe_code)]
        unsafe {
            libc::kill(-(pgid as libc::pid_t), libc::SIGKILL)
        };
        child.wait().unwrap();
    }

    #[test]
    fn the_group_is_read_after_the_command_name() {
        // SAFETY: getpgrp has no preconditions and cannot fail.
        #[allow(unsafe_code)]
        let own = unsafe { libc::getpgrp() };
        assert_eq!(group_of(std::process::id()), Some(own as u32));
    }
}
