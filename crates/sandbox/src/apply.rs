//! Building the Landlock ruleset of a [`Policy`] before a fork
//! ([`prepare`]) and restricting the forked child with it between fork and
//! exec ([`Prepared::enforce`]), so the agent and everything it later execs
//! or forks inherit it.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

use landlock::{
    ABI, Access, AccessFs, AccessNet, CompatLevel, Compatible, NetPort, PathBeneath, PathFd,
    Ruleset, RulesetAttr, RulesetCreatedAttr, Scope,
};

use crate::loopback::{Forwarding, InNamespace};
use crate::{Network, Policy};

/// The newest ABI whose rights enki asks for; older kernels get what they
/// have (best effort), a kernel without Landlock is refused.
const TARGET: ABI = ABI::V6;

/// A policy's ruleset, built and held open (close-on-exec) by the parent,
/// ready to be enforced in a child between `fork` and `exec`; in loopback
/// mode also both halves of the link that brings the child's listeners to
/// the parent.
#[derive(Debug)]
pub struct Prepared {
    ruleset: OwnedFd,
    in_namespace: Option<InNamespace>,
    forwarding: Option<Forwarding>,
}

/// Builds `policy`'s ruleset: every allocation, path lookup and check
/// happens here, in the parent, so that [`Prepared::enforce`] is two
/// system calls.
pub fn prepare(policy: &Policy) -> Result<Prepared, String> {
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
    // Best effort yields no ruleset (no descriptor) only where the kernel
    // has no Landlock at all.
    let ruleset = Option::<OwnedFd>::from(created).ok_or_else(|| {
        format!(
            "the kernel enforces no Landlock rule ({}); set `[sandbox] mode = \"off\"` in \
             enki.toml to run agents without a sandbox",
            crate::landlock_abi()
                .err()
                .unwrap_or_else(|| "unknown reason".into())
        )
    })?;
    let (in_namespace, forwarding) = match policy.network {
        Network::Loopback => {
            let (child, parent) = crate::loopback::link(&policy.loopback_ports)?;
            (Some(child), Some(parent))
        }
        Network::Any | Network::None => (None, None),
    };
    Ok(Prepared {
        ruleset,
        in_namespace,
        forwarding,
    })
}

impl Prepared {
    /// Whether the policy puts the agent in a loopback-only network
    /// namespace (made by [`crate::contain`], which refuses it where no
    /// namespace can be made).
    pub fn is_loopback(&self) -> bool {
        self.in_namespace.is_some()
    }

    /// The coordinator's half of loopback mode, taken before the spawn:
    /// once it returned, [`Forwarding::receive`] gives the listeners to
    /// [`crate::relay`].
    pub fn take_forwarding(&mut self) -> Option<Forwarding> {
        self.forwarding.take()
    }

    pub(crate) fn in_namespace(&self) -> Option<&InNamespace> {
        self.in_namespace.as_ref()
    }

    /// Sets `PR_SET_NO_NEW_PRIVS` (Landlock requires it of an unprivileged
    /// process) and restricts the calling thread with the ruleset.
    ///
    /// Made for a `pre_exec` hook: it only makes two system calls on data
    /// prepared before the fork and reads `errno` on failure, all of which
    /// is async-signal-safe (no allocation, no lock), as a child forked from
    /// a multi-threaded parent requires. Landlock restricts only the
    /// calling thread, the only one such a child has.
    pub fn enforce(&self) -> io::Result<()> {
        // SAFETY: prctl with PR_SET_NO_NEW_PRIVS and constant arguments
        // reads no memory of ours.
        #[allow(unsafe_code)]
        let rc = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: landlock_restrict_self(2) takes the ruleset descriptor,
        // which `self` keeps open, and flags 0; it reads no memory of ours.
        #[allow(unsafe_code)]
        let rc = unsafe {
            libc::syscall(
                libc::SYS_landlock_restrict_self,
                self.ruleset.as_raw_fd(),
                0 as libc::c_uint,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
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
        let prepared = prepare(&policy).unwrap();
        let code = in_child(|| {
            if prepared.enforce().is_err() {
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
        let prepared = prepare(&policy).unwrap();
        let code = in_child(|| {
            if prepared.enforce().is_err() {
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

    #[test]
    fn a_program_started_with_the_ruleset_enforced_before_exec_is_confined() {
        use std::os::unix::process::CommandExt;
        if crate::landlock_abi().is_err() {
            eprintln!("skipped: no Landlock here");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let (inside, outside) = (dir.path().join("in"), dir.path().join("out"));
        std::fs::create_dir(&inside).unwrap();
        std::fs::create_dir(&outside).unwrap();
        let prepared = prepare(&Policy {
            writable: vec![inside.clone()],
            ..Policy::default()
        })
        .unwrap();
        let mut command = std::process::Command::new("/bin/sh");
        command
            .arg("-c")
            .arg("echo in > in/a; echo out > out/b; grep NoNewPrivs /proc/self/status > in/status");
        command.current_dir(dir.path());
        // SAFETY: `enforce` is async-signal-safe (two system calls).
        #[allow(unsafe_code)]
        unsafe {
            command.pre_exec(move || prepared.enforce());
        }
        let output = command.output().unwrap();
        assert!(
            String::from_utf8_lossy(&output.stderr).contains("out/b"),
            "{output:?}"
        );
        assert_eq!(std::fs::read_to_string(inside.join("a")).unwrap(), "in\n");
        assert!(!outside.join("b").exists());
        let status = std::fs::read_to_string(inside.join("status")).unwrap();
        assert_eq!(status, "NoNewPrivs:\t1\n");
    }
}
