//! Building the Landlock ruleset of a [`Policy`] and restricting the calling
//! thread (and everything it later execs or forks) with it.

use std::path::Path;

use landlock::{
    ABI, Access, AccessFs, AccessNet, CompatLevel, Compatible, NetPort, PathBeneath, PathFd,
    Ruleset, RulesetAttr, RulesetCreatedAttr, RulesetStatus, Scope,
};

use crate::{Network, Policy};

/// The newest ABI whose rights enki asks for; older kernels get what they
/// have (best effort), a kernel without Landlock is refused.
const TARGET: ABI = ABI::V6;

/// How completely the kernel enforced the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enforced {
    Fully,
    /// An older ABI: some rights (e.g. TCP rules, scopes) are not enforced.
    Partially,
}

/// Restricts the calling thread to `policy`, with `PR_SET_NO_NEW_PRIVS`.
/// Call it single-threaded, right before `exec`: Landlock applies to the
/// calling thread and what it starts afterwards.
pub fn restrict_self(policy: &Policy) -> Result<Enforced, String> {
    let fail = |what: &str, e: &dyn std::fmt::Display| format!("cannot {what}: {e}");
    let mut ruleset = Ruleset::default()
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(AccessFs::from_write(TARGET))
        .map_err(|e| fail("handle file-system writes", &e))?
        .scope(Scope::AbstractUnixSocket | Scope::Signal)
        .map_err(|e| fail("scope signals and abstract sockets", &e))?;
    if policy.network == Network::None {
        ruleset = ruleset
            .handle_access(AccessNet::from_all(TARGET))
            .map_err(|e| fail("handle TCP", &e))?;
    }
    let mut created = ruleset
        .create()
        .map_err(|e| fail("create the Landlock ruleset", &e))?;
    for path in &policy.writable {
        let Some(rule) = writable_rule(path)? else {
            continue;
        };
        created = created
            .add_rule(rule)
            .map_err(|e| fail(&format!("allow writes to {}", path.display()), &e))?;
    }
    if policy.network == Network::None {
        for &port in &policy.connect_ports {
            created = created
                .add_rule(NetPort::new(port, AccessNet::ConnectTcp))
                .map_err(|e| fail(&format!("allow TCP port {port}"), &e))?;
        }
    }
    let status = created
        .restrict_self()
        .map_err(|e| fail("enforce the Landlock ruleset", &e))?;
    if !status.no_new_privs {
        return Err("cannot set PR_SET_NO_NEW_PRIVS, which Landlock needs".into());
    }
    match status.ruleset {
        RulesetStatus::FullyEnforced => Ok(Enforced::Fully),
        RulesetStatus::PartiallyEnforced => Ok(Enforced::Partially),
        _ => Err(format!(
            "the kernel enforced no Landlock rule ({}); set `[sandbox] mode = \"off\"` in \
             enki.toml to run agents without a sandbox",
            crate::landlock_abi()
                .err()
                .unwrap_or_else(|| "unknown reason".into())
        )),
    }
}

/// Every write right beneath a folder, the file rights on a file; `None`
/// for a path that does not exist.
fn writable_rule(path: &Path) -> Result<Option<PathBeneath<PathFd>>, String> {
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot open {}: {e}", path.display())),
    };
    // Rules may only grant handled rights: the write ones.
    let access = if meta.is_dir() {
        AccessFs::from_write(TARGET)
    } else {
        AccessFs::from_write(TARGET) & AccessFs::from_file(TARGET)
    };
    let fd = PathFd::new(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    Ok(Some(PathBeneath::new(fd, access)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `f` in a forked child (Landlock cannot be lifted, and the test
    /// harness is multi-threaded) and returns its exit code.
    fn in_child(f: impl FnOnce() -> i32) -> i32 {
        // SAFETY: the child only makes system calls and file operations,
        // then `_exit`s without returning into the harness.
        #[allow(unsafe_code)]
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            let code = f();
            // SAFETY: ends the forked child at once.
            #[allow(unsafe_code)]
            unsafe {
                libc::_exit(code)
            };
        }
        let mut status = 0;
        // SAFETY: waits for the child forked above.
        #[allow(unsafe_code)]
        unsafe {
            libc::waitpid(pid, &mut status, 0)
        };
        libc::WEXITSTATUS(status)
    }

    #[test]
    fn writes_land_only_in_the_writable_folders() {
        if crate::landlock_abi().is_err() {
            eprintln!("skipped: no Landlock here");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let (inside, outside) = (dir.path().join("in"), dir.path().join("out"));
        std::fs::create_dir(&inside).unwrap();
        std::fs::create_dir(&outside).unwrap();
        std::fs::write(outside.join("read-me"), "x").unwrap();
        let policy = Policy {
            writable: vec![inside.clone(), dir.path().join("missing")],
            ..Policy::default()
        };
        let code = in_child(|| {
            if let Err(e) = restrict_self(&policy) {
                eprintln!("{e}");
                return 10;
            }
            if std::fs::write(inside.join("a"), "ok").is_err() {
                return 11;
            }
            if std::fs::write(outside.join("b"), "no").is_ok() {
                return 12;
            }
            if std::fs::read_to_string(outside.join("read-me")).is_err() {
                return 13;
            }
            0
        });
        assert_eq!(code, 0);
        assert!(inside.join("a").exists());
        assert!(!outside.join("b").exists());
    }

    #[test]
    fn network_none_refuses_tcp_connect_except_to_allowed_ports() {
        if !crate::landlock_abi().is_ok_and(|abi| abi >= 4) {
            eprintln!("skipped: no Landlock TCP rules here");
            return;
        }
        let open = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let (open, closed) = (open.local_addr().unwrap(), closed.local_addr().unwrap());
        let policy = Policy {
            network: Network::None,
            connect_ports: vec![open.port()],
            ..Policy::default()
        };
        let code = in_child(|| {
            if restrict_self(&policy).is_err() {
                return 10;
            }
            if std::net::TcpStream::connect(open).is_err() {
                return 11;
            }
            match std::net::TcpStream::connect(closed) {
                Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => 0,
                _ => 12,
            }
        });
        assert_eq!(code, 0);
    }
}
