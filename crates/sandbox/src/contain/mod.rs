//! Containment: every agent, with everything it starts, and every hook runs
//! in its own PID namespace whose init dies with enki, so that the kernel
//! ends all of them when enki dies, even by SIGKILL.
//!
//! A spawn through [`contain`] (a `pre_exec` hook) makes three processes
//! where there was one:
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
//! Only the keeper is a `fork` (std's): the init shares the keeper's memory
//! and the program is started vfork-style and execs itself
//! ([`launch`]), so an agent's start copies enki's page tables once, as a
//! plain spawn does. Everything between the fork and the exec is system
//! calls on data made before the fork (the program's paths, arguments and
//! environment: [`program`]), as a child of a multi-threaded process
//! requires.

mod launch;
mod program;
mod sys;

use std::io;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::sync::OnceLock;

pub use program::Environment;
use program::Program;

use crate::Prepared;

/// How processes started through [`contain`] are tied to enki's life.
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

/// Makes `command`'s child contained as this machine allows
/// ([`containment`]) and, with `sandbox`, confined by its Landlock ruleset
/// and, in loopback mode, in a network namespace of its own (take the
/// sandbox's [`crate::Forwarding`] first, to receive its listeners), all
/// applied between fork and exec so that everything the program runs
/// inherits them. `environment` says whether the command cleared its
/// environment (std does not tell). Call it last, once the command is
/// complete: its program, arguments and environment are resolved here; its
/// standard streams, working directory and process group are std's.
pub fn contain(
    command: &mut Command,
    environment: Environment,
    sandbox: Option<Prepared>,
) -> io::Result<()> {
    contain_as(containment(), command, environment, sandbox)
}

/// [`contain`] with the given containment (tests and benchmarks choose it).
pub fn contain_as(
    how: &Containment,
    command: &mut Command,
    environment: Environment,
    sandbox: Option<Prepared>,
) -> io::Result<()> {
    let loopback = sandbox.as_ref().is_some_and(Prepared::is_loopback);
    let flags = match how {
        Containment::PidNamespace { user_namespace } if loopback => {
            crate::loopback::namespace_flags(*user_namespace)
        }
        Containment::PidNamespace { user_namespace } => {
            let user = if *user_namespace {
                libc::CLONE_NEWUSER
            } else {
                0
            };
            libc::CLONE_NEWPID | user
        }
        Containment::ParentDeathOnly { reason } if loopback => {
            return Err(io::Error::other(format!(
                "`[sandbox] network = \"loopback\"` needs a network namespace, which cannot be \
                 made here: {reason}"
            )));
        }
        Containment::ParentDeathOnly { .. } => 0,
    };
    let mut contained = Contained {
        // SAFETY: getpid has no preconditions and cannot fail.
        #[allow(unsafe_code)]
        parent: unsafe { libc::getpid() },
        flags,
        program: Program::resolve(command, environment)?,
        sandbox,
        stacks: if flags == 0 {
            Vec::new()
        } else {
            vec![0; 2 * launch::STACK]
        },
    };
    // SAFETY: `enter` makes only system calls on data prepared here.
    #[allow(unsafe_code)]
    unsafe {
        command.pre_exec(move || contained.enter());
    }
    Ok(())
}

/// Everything the `pre_exec` hook needs, prepared before the fork.
struct Contained {
    /// enki's pid, to notice that it died before the parent-death signal
    /// was set.
    parent: libc::pid_t,
    /// The namespaces to make; 0 for none.
    flags: libc::c_int,
    program: Program,
    sandbox: Option<Prepared>,
    /// The init's and the program's stacks (empty without namespaces).
    stacks: Vec<u8>,
}

impl Contained {
    /// In the child std forked: execs the program, contained (the keeper
    /// never returns), or returns the error the spawn fails with.
    fn enter(&mut self) -> io::Result<()> {
        sys::die_with_parent();
        if sys::parent() != self.parent {
            // enki died before the parent-death signal was set.
            sys::exit(1);
        }
        if self.flags == 0 {
            if let Some(sandbox) = &self.sandbox {
                sandbox.enforce()?;
            }
            return Err(self.program.exec());
        }
        sys::enter_namespaces(self.flags)?;
        if let Some(loopback) = self.sandbox.as_ref().and_then(Prepared::in_namespace) {
            loopback.set_up()?;
        }
        match launch::start(&self.program, self.sandbox.as_ref(), &mut self.stacks)? {}
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

/// Whether `flags` make working namespaces here (for the loopback probe).
pub(crate) fn try_namespaces(flags: libc::c_int) -> Result<(), String> {
    sys::try_namespaces(flags)
}

#[cfg(test)]
mod tests;
