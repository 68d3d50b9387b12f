//! Containment: every agent, with everything it starts, and every hook runs
//! in its own PID namespace whose init dies with enki, so that the kernel
//! ends all of them when enki dies, even by SIGKILL.
//!
//! A spawn through [`Contain::enter`] (a `pre_exec` hook) makes three
//! processes where there was one:
//!
//! ```text
//! enki ─ keeper (enki's child, its process group's leader)
//!          └─ init: pid 1 of a new PID namespace, a reaper
//!               └─ the program (pid 2), and everything it starts
//! ```
//!
//! The keeper dies with the enki thread that spawned it
//! (`PR_SET_PDEATHSIG`), the init with the keeper (the same), and when a
//! namespace's init dies the kernel SIGKILLs every process in it; no process
//! can leave a PID namespace. The keeper exits with the program's own status
//! once the init has reported it, and the init exits as soon as the program
//! does, so the keeper's exit also means the namespace is empty. The program
//! is not pid 1 itself: pid 1 ignores every signal it has no handler for and
//! inherits every orphan, two duties no agent expects. Keeper and init
//! ignore SIGTERM, SIGINT and SIGHUP: enki signals the whole process group,
//! which reaches the program directly, and the two must outlive it to keep
//! the namespace. A user that is not root needs a user namespace to make a
//! PID namespace; it maps the user onto itself, so ids inside are the same.
//!
//! Everything between the fork and the exec is system calls on data made
//! before the fork, as a child of a multi-threaded process requires; the
//! two inner forks are raw `clone` calls, which skip the C library's fork
//! handlers (they take locks that another thread may have held at the
//! first fork).

mod sys;

use std::io;
use std::sync::OnceLock;

/// How processes started through [`Contain`] are tied to enki's life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Containment {
    /// Each runs in its own PID namespace, inside its own user namespace
    /// when `user_namespace` (enki is not root): nothing it starts outlives
    /// enki.
    PidNamespace { user_namespace: bool },
    /// No PID namespace can be made here (`reason`): only the started
    /// process itself dies with enki (its parent-death signal); what it
    /// starts may outlive a killed enki until the next start sweeps it.
    ParentDeathOnly { reason: String },
}

impl Containment {
    /// Whether everything a contained program starts dies with enki.
    pub fn is_complete(&self) -> bool {
        matches!(self, Containment::PidNamespace { .. })
    }

    /// One line for `enki doctor` and the coordinator's warning.
    pub fn describe(&self) -> String {
        match self {
            Containment::PidNamespace {
                user_namespace: true,
            } => "each agent and hook in its own PID namespace (inside a user namespace): \
                  nothing it starts outlives enki, even killed by SIGKILL"
                .to_string(),
            Containment::PidNamespace {
                user_namespace: false,
            } => "each agent and hook in its own PID namespace: nothing it starts outlives \
                  enki, even killed by SIGKILL"
                .to_string(),
            Containment::ParentDeathOnly { reason } => format!(
                "only the agent itself dies with enki (parent-death signal); what it starts \
                 may outlive a killed enki until its next start sweeps it, because no PID \
                 namespace can be made here: {reason}"
            ),
        }
    }
}

/// What this machine allows, found once per process by making a namespace
/// in a throw-away child (about a millisecond).
pub fn containment() -> &'static Containment {
    static FOUND: OnceLock<Containment> = OnceLock::new();
    FOUND.get_or_init(probe)
}

/// Containment prepared before the fork: [`Contain::enter`] needs nothing
/// else.
#[derive(Debug, Clone, Copy)]
pub struct Contain {
    /// enki's pid, to notice that it died before the parent-death signal
    /// was set.
    parent: libc::pid_t,
    /// The namespaces to make; 0 for none.
    flags: libc::c_int,
}

impl Default for Contain {
    fn default() -> Self {
        Self::new()
    }
}

impl Contain {
    /// The containment this machine allows ([`containment`]).
    pub fn new() -> Self {
        Self::with(containment())
    }

    /// The given containment (tests and benchmarks choose it).
    pub fn with(containment: &Containment) -> Self {
        let flags = match containment {
            Containment::PidNamespace { user_namespace } => {
                let user = if *user_namespace {
                    libc::CLONE_NEWUSER
                } else {
                    0
                };
                libc::CLONE_NEWPID | user
            }
            Containment::ParentDeathOnly { .. } => 0,
        };
        Self {
            // SAFETY: getpid has no preconditions and cannot fail.
            #[allow(unsafe_code)]
            parent: unsafe { libc::getpid() },
            flags,
        }
    }

    /// For a `pre_exec` hook, before any other: returns `Ok` in the process
    /// that goes on to exec the program; the keeper and the init it makes
    /// never return. An error (a namespace refused) fails the spawn.
    pub fn enter(&self) -> io::Result<()> {
        sys::die_with_parent();
        if sys::parent() != self.parent {
            // enki died before the parent-death signal was set.
            sys::exit(1);
        }
        if self.flags == 0 {
            return Ok(());
        }
        sys::enter_namespaces(self.flags)?;
        sys::fork_keeper_and_init()
    }
}

/// Registers [`Contain::enter`] on `command`, for a program that needs no
/// other `pre_exec` hook.
pub fn contain(command: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    let contain = Contain::new();
    // SAFETY: `enter` makes only system calls on data prepared here.
    #[allow(unsafe_code)]
    unsafe {
        command.pre_exec(move || contain.enter());
    }
}

/// Tries a PID namespace (alone when root, which needs no user namespace;
/// else, or if that is refused, inside a user namespace) in a throw-away
/// child whose own child must be pid 1.
fn probe() -> Containment {
    // SAFETY: geteuid has no preconditions and cannot fail.
    #[allow(unsafe_code)]
    let root = unsafe { libc::geteuid() } == 0;
    let mut tries = Vec::new();
    if root {
        tries.push(libc::CLONE_NEWPID);
    }
    tries.push(libc::CLONE_NEWPID | libc::CLONE_NEWUSER);
    let mut refusals = Vec::new();
    for flags in tries {
        match sys::try_namespaces(flags) {
            Ok(()) => {
                return Containment::PidNamespace {
                    user_namespace: flags & libc::CLONE_NEWUSER != 0,
                };
            }
            Err(refusal) => refusals.push(refusal),
        }
    }
    let mut reason = refusals.join("; ");
    if !root {
        reason.push_str(
            " (unprivileged user namespaces may be disabled: see `sysctl \
             user.max_user_namespaces`, `kernel.unprivileged_userns_clone` or \
             `kernel.apparmor_restrict_unprivileged_userns`)",
        );
    }
    Containment::ParentDeathOnly { reason }
}

#[cfg(test)]
mod tests;
