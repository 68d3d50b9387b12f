//! `network = "loopback"`: the agent runs in a network namespace of its
//! own, whose only interface is its own `lo`. It reaches nothing outside
//! (no route: TCP, UDP and DNS all fail) and none of the host's loopback
//! either, except the ports the coordinator forwards: enki's MCP server
//! and `[sandbox] loopback_ports`.
//!
//! The child (the keeper, right after it made its namespaces) brings `lo`
//! up, listens on 127.0.0.1:<port> for each forwarded port inside the new
//! namespace and sends the listeners to the coordinator over a unix socket
//! made before the fork ([`InNamespace::set_up`]). The coordinator receives
//! them once the spawn returned ([`Forwarding::receive`]) and relays every
//! connection to the same port on the host's 127.0.0.1 ([`relay`]) for as
//! long as it keeps the [`Relay`]: the agent's life.

mod relay;
pub(crate) mod sys;

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::OnceLock;

pub use relay::{Relay, relay};

/// The most ports one agent may have forwarded (the child keeps them in a
/// fixed array: it may not allocate).
pub const MAX_FORWARDED: usize = 32;

/// The child's half: the ports to listen on and the socket to send the
/// listeners over, made before the fork.
#[derive(Debug)]
pub(crate) struct InNamespace {
    ports: [u16; MAX_FORWARDED],
    count: usize,
    sender: OwnedFd,
}

/// The coordinator's half: where the listeners arrive.
#[derive(Debug)]
pub struct Forwarding {
    ports: Vec<u16>,
    receiver: OwnedFd,
}

/// The two halves for `ports` (deduplicated, each non-zero, at most
/// [`MAX_FORWARDED`]).
pub(crate) fn link(ports: &[u16]) -> Result<(InNamespace, Forwarding), String> {
    let mut unique = ports.to_vec();
    unique.sort_unstable();
    unique.dedup();
    if unique.contains(&0) {
        return Err("port 0 cannot be forwarded into the agent's loopback".into());
    }
    if unique.len() > MAX_FORWARDED {
        return Err(format!(
            "{} ports to forward into the agent's loopback; at most {MAX_FORWARDED} can be",
            unique.len()
        ));
    }
    let (receiver, sender) = sys::socket_pair()
        .map_err(|e| format!("cannot make the socket that brings the agent's listeners: {e}"))?;
    let mut fixed = [0; MAX_FORWARDED];
    fixed[..unique.len()].copy_from_slice(&unique);
    Ok((
        InNamespace {
            ports: fixed,
            count: unique.len(),
            sender,
        },
        Forwarding {
            ports: unique,
            receiver,
        },
    ))
}

impl InNamespace {
    /// In the child, inside its new network namespace: `lo` up, a listener
    /// on each port, all sent to the coordinator and closed here. System
    /// calls only (async-signal-safe).
    pub(crate) fn set_up(&self) -> io::Result<()> {
        sys::bring_lo_up()?;
        let mut fds = [-1; MAX_FORWARDED];
        let mut result = Ok(());
        for (slot, &port) in fds.iter_mut().zip(&self.ports[..self.count]) {
            match sys::listen(port) {
                Ok(fd) => *slot = fd,
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        if result.is_ok() {
            result = sys::send(self.sender.as_raw_fd(), &fds[..self.count]);
        }
        for &fd in fds.iter().filter(|&&fd| fd >= 0) {
            // SAFETY: closes the listeners made above; the coordinator has
            // its own copies once sent.
            #[allow(unsafe_code)]
            unsafe {
                libc::close(fd)
            };
        }
        result
    }
}

impl Forwarding {
    /// The listeners the child made, each with the port it listens on
    /// inside the agent's namespace. Call it once the spawn returned: the
    /// child sent them before its program exec'd.
    pub fn receive(self) -> io::Result<Vec<(u16, std::net::TcpListener)>> {
        let fds = sys::receive(&self.receiver)?.ok_or_else(|| {
            io::Error::other("the agent's network namespace sent no listening sockets")
        })?;
        if fds.len() != self.ports.len() {
            return Err(io::Error::other(format!(
                "the agent's network namespace sent {} listening sockets for {} ports",
                fds.len(),
                self.ports.len()
            )));
        }
        Ok(self
            .ports
            .into_iter()
            .zip(fds.into_iter().map(std::net::TcpListener::from))
            .collect())
    }
}

/// Whether this machine lets enki make an agent's loopback-only network
/// namespace, found once per process by making one (with the PID namespace
/// of [`crate::containment`]) in a throw-away child; `Err` says why not.
pub fn loopback_support() -> Result<(), String> {
    static FOUND: OnceLock<Result<(), String>> = OnceLock::new();
    FOUND
        .get_or_init(|| match crate::containment() {
            crate::Containment::PidNamespace { user_namespace } => {
                crate::contain::try_namespaces(namespace_flags(*user_namespace))
            }
            crate::Containment::ParentDeathOnly { reason } => Err(reason.clone()),
        })
        .clone()
        .map_err(|why| {
            // The containment probe's reason names the sysctls already.
            let hint = if why.contains("sysctl") {
                ""
            } else {
                "; unprivileged user namespaces may be disabled: see `sysctl \
                 user.max_user_namespaces`, `kernel.unprivileged_userns_clone` or \
                 `kernel.apparmor_restrict_unprivileged_userns`"
            };
            format!("no network namespace can be made here ({why}){hint}")
        })
}

/// The namespaces of a contained spawn in loopback mode.
pub(crate) fn namespace_flags(user_namespace: bool) -> libc::c_int {
    let user = if user_namespace {
        libc::CLONE_NEWUSER
    } else {
        0
    };
    libc::CLONE_NEWPID | libc::CLONE_NEWNET | user
}

#[cfg(test)]
mod tests;
