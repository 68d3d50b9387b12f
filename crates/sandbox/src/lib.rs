//! The OS sandbox around every agent's whole process tree: a Landlock
//! [`Policy`] (the only places the agent may write, which TCP it may use)
//! that `enki sandbox-exec` applies to itself before it execs the agent, so
//! everything the agent runs inherits it.
//!
//! Landlock restricts what a ruleset *handles*: here every write right on
//! the file system (reads and execution stay allowed everywhere), TCP bind
//! and connect when the network is off, and (ABI ≥ 6) signals and abstract
//! unix sockets reaching outside the sandbox.

mod apply;
mod exec;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use apply::{Enforced, restrict_self};
pub use exec::sandbox_exec;

/// The hidden subcommand that applies a policy and execs the agent.
pub const SUBCOMMAND: &str = "sandbox-exec";

/// What an agent may use of the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Network {
    /// Not restricted.
    #[default]
    Any,
    /// No TCP bind or connect, except [`Policy::connect_ports`] (ABI ≥ 4;
    /// UDP and unix sockets are not covered by Landlock).
    None,
}

impl Network {
    pub const fn as_str(self) -> &'static str {
        match self {
            Network::Any => "any",
            Network::None => "none",
        }
    }
}

/// What one agent may do, handed to `enki sandbox-exec --policy`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Folders (with everything beneath) and files the agent may change.
    /// Paths that do not exist are skipped: Landlock rules name open files.
    pub writable: Vec<PathBuf>,
    #[serde(default)]
    pub network: Network,
    /// TCP ports the agent may still connect to when `network` is `none`.
    #[serde(default)]
    pub connect_ports: Vec<u16>,
}

impl Policy {
    /// The policy as `--policy` takes it inline.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| unreachable!("a policy serializes: {e}"))
    }

    /// Reads `--policy`: inline JSON (starting with `{`) or a file holding it.
    pub fn parse_arg(arg: &str) -> Result<Policy, String> {
        let text = if arg.trim_start().starts_with('{') {
            arg.to_string()
        } else {
            std::fs::read_to_string(arg)
                .map_err(|e| format!("cannot read the sandbox policy file {arg}: {e}"))?
        };
        serde_json::from_str(&text).map_err(|e| format!("invalid sandbox policy: {e}"))
    }
}

/// The Landlock ABI version of the running kernel, or why there is none.
pub fn landlock_abi() -> Result<u32, String> {
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
    fn a_policy_round_trips_inline_and_from_a_file() {
        let policy = Policy {
            writable: vec!["/a".into(), "/b c".into()],
            network: Network::None,
            connect_ports: vec![8080],
        };
        assert_eq!(Policy::parse_arg(&policy.to_json()).unwrap(), policy);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("p.json");
        std::fs::write(&file, policy.to_json()).unwrap();
        assert_eq!(Policy::parse_arg(file.to_str().unwrap()).unwrap(), policy);
        let err = Policy::parse_arg("{\"writable\": [], \"nope\": 1}").unwrap_err();
        assert!(err.contains("nope"), "{err}");
        let err = Policy::parse_arg("/no/such/policy").unwrap_err();
        assert!(err.contains("/no/such/policy"), "{err}");
    }

    #[test]
    fn the_description_says_what_the_abi_cannot_do() {
        assert!(describe(3, Network::None).contains("NOT restricted"));
        assert!(describe(7, Network::None).contains("no TCP"));
        assert!(describe(5, Network::Any).contains("NOT scoped"));
    }
}
