//! The OS sandbox around every agent's whole process tree: a Landlock
//! [`Policy`] (the only places the agent may write, which TCP it may use),
//! whose ruleset the coordinator builds before it forks the agent
//! ([`prepare`]) and enforces in the child right before `exec`
//! ([`Prepared::enforce`]), so everything the agent runs inherits it.
//!
//! Landlock restricts what a ruleset *handles*: here every write right on
//! the file system (reads and execution stay allowed everywhere), TCP bind
//! and connect when the network is off, and (ABI ≥ 6) signals and abstract
//! unix sockets reaching outside the sandbox. Landlock's TCP rules match
//! ports, never addresses, so the loopback-only network is a network
//! namespace instead ([`loopback`]).

mod apply;
mod contain;
pub mod loopback;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use apply::{Prepared, prepare};
pub use contain::{Containment, Environment, contain, contain_as, containment};
pub use loopback::{Forwarding, Relay, loopback_support, relay};

/// What an agent may use of the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Network {
    /// Not restricted.
    #[default]
    Any,
    /// Only the agent's own loopback, in a network namespace of its own,
    /// plus [`Policy::loopback_ports`] relayed to the host's 127.0.0.1:
    /// nothing else of the host's loopback, no outside network (UDP and DNS
    /// included).
    Loopback,
    /// No TCP bind or connect, except [`Policy::connect_ports`] (ABI ≥ 4;
    /// UDP and unix sockets are not covered by Landlock).
    None,
}

impl Network {
    pub const fn as_str(self) -> &'static str {
        match self {
            Network::Any => "any",
            Network::Loopback => "loopback",
            Network::None => "none",
        }
    }
}

/// What one agent may do.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Policy {
    /// Folders (with everything beneath) and files the agent may change.
    /// Paths that do not exist are skipped: Landlock rules name open files.
    pub writable: Vec<PathBuf>,
    pub network: Network,
    /// TCP ports the agent may still connect to when `network` is `none`.
    pub connect_ports: Vec<u16>,
    /// Ports of the host's 127.0.0.1 the agent reaches at the same port of
    /// its own loopback when `network` is `loopback` (at most
    /// [`loopback::MAX_FORWARDED`]).
    pub loopback_ports: Vec<u16>,
}

/// The Landlock ABI version of the running kernel, or why there is none.
pub fn landlock_abi() -> Result<u32, String> {
    // Tests of what enki does on such a kernel (test builds only).
    if enki_failpoint::pretending("no_landlock") {
        return Err("this kernel has no Landlock (pretended: ENKI_PRETEND=no_landlock)".into());
    }
    #[cfg(target_os = "linux")]
    {
        // LANDLOCK_CREATE_RULESET_VERSION: asks the version, creates nothing.
        // The crate keeps its own probe private, hence the one system call.
        const VERSION: libc::c_uint = 1;
        // SAFETY: with a null attribute pointer, size 0 and the VERSION flag
        // the kernel reads no memory and returns a number or -1 with errno.
        #[allow(unsafe_code)]
        let v = unsafe {
            libc::syscall(
                libc::SYS_landlock_create_ruleset,
                std::ptr::null::<libc::c_void>(),
                0usize,
                VERSION,
            )
        };
        if v > 0 {
            return u32::try_from(v).map_err(|_| format!("unexpected Landlock ABI {v}"));
        }
        let err = std::io::Error::last_os_error();
        Err(match err.raw_os_error() {
            Some(libc::EOPNOTSUPP) => "Landlock is built into this kernel but not enabled \
                 (add `landlock` to the `lsm=` boot parameter)"
                .to_string(),
            Some(libc::ENOSYS) => "this kernel has no Landlock (Linux 5.13 or newer with \
                 CONFIG_SECURITY_LANDLOCK is needed)"
                .to_string(),
            _ => format!("cannot query Landlock: {err}"),
        })
    }
    #[cfg(not(target_os = "linux"))]
    Err("Landlock exists only on Linux".to_string())
}

/// One line on what a policy enforces with the running kernel's ABI, for
/// `enki doctor`.
pub fn describe(abi: u32, network: Network) -> String {
    let mut parts = vec!["writes only to the agent's folders (reads are not restricted)"];
    parts.push(match (network, abi >= 4) {
        (Network::Any, _) => "network not restricted",
        (Network::Loopback, _) => {
            "network: only the agent's own loopback (a network namespace of its own) and the \
             ports enki forwards"
        }
        (Network::None, true) => "no TCP bind or connect",
        (Network::None, false) => "network NOT restricted (TCP rules need ABI 4)",
    });
    parts.push(if abi >= 6 {
        "no signals or abstract unix sockets outside the sandbox"
    } else {
        "signals and abstract unix sockets NOT scoped (ABI 6)"
    });
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_description_says_what_the_abi_cannot_do() {
        assert!(describe(3, Network::None).contains("NOT restricted"));
        assert!(describe(7, Network::None).contains("no TCP"));
        assert!(describe(5, Network::Any).contains("NOT scoped"));
    }
}
