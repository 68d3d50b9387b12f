//! The processes of a contained spawn, started from the keeper (the child
//! std forked, inside the new namespaces) without copying its memory:
//!
//! - the init (pid 1) shares the keeper's memory (`CLONE_VM`) and runs on
//!   a stack of its own, so the keeper and the init together hold one copy
//!   of enki's page tables, the one std's fork made;
//! - the program (pid 2) is started vfork-style (`CLONE_VM | CLONE_VFORK`:
//!   the init waits until it has exec'd), applies the Landlock ruleset and
//!   execs the agent itself ([`Program::exec`]).
//!
//! A `fork` copies the page tables of every resident page of its parent;
//! the two forks this replaces made an agent's start grow with enki's
//! memory. The keeper learns whether the program exec'd through a
//! close-on-exec pipe: end of file once it did, else its `errno`, which the
//! keeper returns from std's `pre_exec` hook so that the spawn fails as a
//! plain one does (`NotFound` for a missing program).
#![allow(unsafe_code)]

use std::convert::Infallible;
use std::io;

use super::program::Program;
use super::sys::{
    FOR_THE_PROGRAM, close, close_all_except, die_with_parent, errno, exit, mask, pipe,
    set_disposition, spawn_sharing_memory, wait,
};
use crate::Prepared;

/// Bytes of stack for each of the init and the program: a reaping loop, a
/// Landlock call and an `execve` are a few frames.
pub(super) const STACK: usize = 32 << 10;

/// What the init and the program need; the init copies it onto its stack.
#[derive(Clone, Copy)]
struct Shared {
    /// The keeper holds the write end: the init's check that it is alive.
    alive_read: libc::c_int,
    alive_write: libc::c_int,
    /// The program's wait status, from the init to the keeper.
    status_write: libc::c_int,
    /// The program's exec failure (its errno), to the keeper.
    exec_write: libc::c_int,
    program: *const Program,
    /// Null for no sandbox.
    sandbox: *const Prepared,
    /// The program's stack.
    program_stack: *mut u8,
    program_stack_len: usize,
}

/// In the keeper, inside the namespaces: starts the init, which starts the
/// program, then keeps the namespace until the program ends and exits as
/// it did. Returns only if the program could not be started, with the
/// error the spawn should fail with. `stacks` holds `2 * STACK` bytes.
pub(super) fn start(
    program: &Program,
    sandbox: Option<&Prepared>,
    stacks: &mut [u8],
) -> io::Result<Infallible> {
    // enki's own handler for child deaths is of no use here; the program
    // would have the default after its exec anyway.
    set_disposition(libc::SIGCHLD, libc::SIG_DFL);
    // Until the keeper and the init ignore the program's signals, a group
    // signal must not end them.
    mask(libc::SIG_BLOCK, &FOR_THE_PROGRAM);
    let (alive_read, alive_write) = pipe()?;
    let (status_read, status_write) = pipe()?;
    let (exec_read, exec_write) = pipe()?;
    let (init_stack, program_stack) = stacks.split_at_mut(STACK);
    let mut shared = Shared {
        alive_read,
        alive_write,
        status_write,
        exec_write,
        program,
        sandbox: sandbox.map_or(std::ptr::null(), |s| s),
        program_stack: program_stack.as_mut_ptr(),
        program_stack_len: program_stack.len(),
    };
    let init = spawn_sharing_memory(init_main, init_stack, 0, (&raw mut shared).cast())?;
    close(alive_read);
    close(status_write);
    close(exec_write);
    let mut reported = [0u8; 4];
    let n = loop {
        // SAFETY: reads at most four bytes into our local buffer.
        let n = unsafe { libc::read(exec_read, reported.as_mut_ptr().cast(), reported.len()) };
        if n >= 0 || errno() != libc::EINTR {
            break n;
        }
    };
    close(exec_read);
    if n == 4 {
        // The init reaps the failed program and exits: the namespace is
        // gone before the spawn reports the failure.
        let _ = wait(init);
        close(alive_write);
        close(status_read);
        return Err(io::Error::from_raw_os_error(i32::from_ne_bytes(reported)));
    }
    keep(init, alive_write, status_read)
}

/// Writes `code` (an errno) for the keeper.
fn report(exec_write: libc::c_int, code: libc::c_int) {
    let bytes = code.to_ne_bytes();
    // SAFETY: writes four bytes of our local to the pipe.
    unsafe { libc::write(exec_write, bytes.as_ptr().cast(), bytes.len()) };
}

/// The init, pid 1 of the new namespace, sharing the keeper's memory.
extern "C" fn init_main(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the keeper's `Shared`, which lives until the keeper
    // ends (it returns from `start` only after this process has exited);
    // copied at once.
    let mut shared = unsafe { *arg.cast::<Shared>() };
    close(shared.alive_write);
    die_with_parent();
    if keeper_gone(shared.alive_read) {
        exit(1);
    }
    close(shared.alive_read);
    // SAFETY: the program's half of the keeper's stacks, used by nothing
    // else.
    let stack =
        unsafe { std::slice::from_raw_parts_mut(shared.program_stack, shared.program_stack_len) };
    let arg = (&raw mut shared).cast();
    // Returns once the program has exec'd (or exited).
    let program = match spawn_sharing_memory(program_main, stack, libc::CLONE_VFORK, arg) {
        Ok(program) => program,
        Err(e) => {
            report(shared.exec_write, e.raw_os_error().unwrap_or(libc::EIO));
            exit(1);
        }
    };
    reap(program, shared.status_write)
}

/// The program, pid 2, running on the init's memory until it execs.
extern "C" fn program_main(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the init's copy of `Shared`; the init is suspended
    // until this process execs or exits.
    let shared = unsafe { *arg.cast::<Shared>() };
    mask(libc::SIG_SETMASK, &[]);
    // SAFETY: the ruleset, if any, and the program live in the keeper's
    // copy of the pre_exec hook, which nothing changes.
    let (sandbox, program) = unsafe { (shared.sandbox.as_ref(), &*shared.program) };
    if let Some(sandbox) = sandbox
        && let Err(e) = sandbox.enforce()
    {
        report(shared.exec_write, e.raw_os_error().unwrap_or(libc::EPERM));
        exit(127);
    }
    let failed = program.exec();
    report(
        shared.exec_write,
        failed.raw_os_error().unwrap_or(libc::ENOEXEC),
    );
    exit(127)
}
/// Whether the keeper died before the init set its parent-death signal: it
/// holds the only write end of the pipe.
fn keeper_gone(alive_read: libc::c_int) -> bool {
    let mut poll = libc::pollfd {
        fd: alive_read,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: polls one descriptor of ours without waiting.
    let ready = unsafe { libc::poll(&mut poll, 1, 0) };
    ready != 0
}

/// The keeper: waits for the init, then exits as the program did.
fn keep(init: libc::pid_t, alive_write: libc::c_int, status_read: libc::c_int) -> ! {
    for signal in FOR_THE_PROGRAM {
        set_disposition(signal, libc::SIG_IGN);
    }
    mask(libc::SIG_SETMASK, &[]);
    // The program's pipes (and std's exec-status pipe, whose closing tells
    // enki that the spawn worked) must be held by the program alone.
    close_all_except(&mut [alive_write, status_read]);
    let Some((_, init_status)) = wait(init) else {
        exit(1);
    };
    let mut reported = [0u8; 4];
    // SAFETY: reads at most four bytes into our local buffer; the init has
    // exited, so this never blocks.
    let n = unsafe { libc::read(status_read, reported.as_mut_ptr().cast(), reported.len()) };
    let status = if n == 4 {
        libc::c_int::from_ne_bytes(reported)
    } else {
        // The init died without reporting (killed): that is the outcome.
        init_status
    };
    mirror(status)
}

/// The init: reaps every process of the namespace until the program ends,
/// reports its status to the keeper and exits, which ends the namespace.
fn reap(program: libc::pid_t, status_write: libc::c_int) -> ! {
    for signal in FOR_THE_PROGRAM {
        set_disposition(signal, libc::SIG_IGN);
    }
    mask(libc::SIG_SETMASK, &[]);
    close_all_except(&mut [status_write]);
    loop {
        let Some((pid, status)) = wait(-1) else {
            exit(1);
        };
        if pid == program {
            let bytes = status.to_ne_bytes();
            // SAFETY: writes four bytes of our local to the pipe.
            unsafe { libc::write(status_write, bytes.as_ptr().cast(), bytes.len()) };
            exit(0);
        }
    }
}

/// Ends the calling process with wait status `status`: the same exit code,
/// or killed by the same signal (without a core file: the process is a
/// copy of enki).
fn mirror(status: libc::c_int) -> ! {
    if libc::WIFSIGNALED(status) {
        let signal = libc::WTERMSIG(status);
        let no_core = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: setrlimit reads the struct on our stack; kill signals
        // this very process.
        unsafe {
            libc::setrlimit(libc::RLIMIT_CORE, &no_core);
            set_disposition(signal, libc::SIG_DFL);
            mask(libc::SIG_SETMASK, &[]);
            libc::kill(libc::getpid(), signal);
        }
        exit(128 + signal);
    }
    exit(if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        1
    })
}
