//! The system calls of containment, all async-signal-safe: they run in a
//! child forked from a multi-threaded process, or in one sharing its
//! parent's memory, where nothing may allocate or take a lock. Also the
//! probe of what this machine allows.
#![allow(unsafe_code)]

use std::io;

/// Signals that are meant for the program: the keeper and the init ignore
/// them (enki sends them to the whole process group).
pub(super) const FOR_THE_PROGRAM: [libc::c_int; 3] = [libc::SIGTERM, libc::SIGINT, libc::SIGHUP];

/// The calling process gets SIGKILL when its parent (thread) dies.
pub(super) fn die_with_parent() {
    // SAFETY: prctl with constant arguments reads no memory of ours.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
}

pub(super) fn parent() -> libc::pid_t {
    // SAFETY: getppid has no preconditions and cannot fail.
    unsafe { libc::getppid() }
}

/// Ends the calling process at once, running nothing of the parent's.
pub(super) fn exit(code: libc::c_int) -> ! {
    // SAFETY: _exit ends the process; it never returns.
    unsafe { libc::_exit(code) }
}

pub(super) fn errno() -> i32 {
    io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

pub(super) fn check(rc: libc::c_int) -> io::Result<()> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Makes the namespaces of `flags` (the caller stays in its PID namespace;
/// its next child is the new one's pid 1) and, with a user namespace, maps
/// the caller's user and group onto themselves.
pub(super) fn enter_namespaces(flags: libc::c_int) -> io::Result<()> {
    // SAFETY: geteuid and getegid have no preconditions and cannot fail.
    let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
    // SAFETY: unshare takes only flags.
    check(unsafe { libc::unshare(flags) })?;
    if flags & libc::CLONE_NEWUSER != 0 {
        map_user(uid, gid)?;
    }
    Ok(())
}

/// Writes the new user namespace's maps: one id each, itself. An
/// unprivileged process must give up `setgroups` before it may map a group.
fn map_user(uid: libc::uid_t, gid: libc::gid_t) -> io::Result<()> {
    write_file(c"/proc/self/setgroups", b"deny")?;
    write_file(c"/proc/self/uid_map", IdLine::new(uid).bytes())?;
    write_file(c"/proc/self/gid_map", IdLine::new(gid).bytes())
}

fn write_file(path: &std::ffi::CStr, bytes: &[u8]) -> io::Result<()> {
    // SAFETY: the path is a valid C string; the flags are constants.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC) };
    check(fd)?;
    // SAFETY: writes `bytes` (valid for its length) to the file just opened.
    let written = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
    let result = if written < 0 {
        Err(io::Error::last_os_error())
    } else if written as usize != bytes.len() {
        Err(io::Error::from_raw_os_error(libc::EIO))
    } else {
        Ok(())
    };
    close(fd);
    result
}

/// `"<id> <id> 1\n"`, formatted on the stack.
struct IdLine {
    buf: [u8; 32],
    len: usize,
}

impl IdLine {
    fn new(id: u32) -> Self {
        let mut digits = [0u8; 10];
        let mut n = id;
        let mut count = 0;
        loop {
            digits[count] = b'0' + (n % 10) as u8;
            count += 1;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        let mut line = IdLine {
            buf: [0; 32],
            len: 0,
        };
        for _ in 0..2 {
            for i in (0..count).rev() {
                line.push(digits[i]);
            }
            line.push(b' ');
        }
        line.push(b'1');
        line.push(b'\n');
        line
    }

    fn push(&mut self, byte: u8) {
        self.buf[self.len] = byte;
        self.len += 1;
    }

    fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// A fork without the C library's fork handlers: the `clone` system call
/// with only the exit signal, on a copy of the caller's memory.
fn raw_fork() -> io::Result<libc::pid_t> {
    // SAFETY: clone with SIGCHLD and no stack, no thread ids and no TLS is
    // fork(2): the child continues here on a copy of the address space.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_clone,
            libc::SIGCHLD as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc as libc::pid_t)
    }
}

/// Starts `main(arg)` in a new process that shares the caller's memory
/// (`CLONE_VM`) and runs on `stack`, with `flags` added (`CLONE_VFORK`:
/// the caller waits until the child execs or exits). Copies no page table:
/// the cost of a `fork` grows with the caller's resident memory.
///
/// The child may only make system calls on its own stack and on data that
/// nothing changes meanwhile; it shares the C library's `errno` (one
/// thread-local slot) with the caller, read only right after a failed call.
pub(super) fn spawn_sharing_memory(
    main: extern "C" fn(*mut libc::c_void) -> libc::c_int,
    stack: &mut [u8],
    flags: libc::c_int,
    arg: *mut libc::c_void,
) -> io::Result<libc::pid_t> {
    // The stack grows down from its end, 16-byte aligned.
    let end = stack.as_mut_ptr().wrapping_add(stack.len());
    let top = end.wrapping_sub(end as usize % 16);
    // SAFETY: `top` is the aligned end of a buffer the caller owns for the
    // child's life; glibc's clone runs `main(arg)` there and ends the child
    // when it returns.
    let pid = unsafe {
        libc::clone(
            main,
            top.cast(),
            libc::CLONE_VM | flags | libc::SIGCHLD,
            arg,
        )
    };
    if pid < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(pid)
    }
}

pub(super) fn close(fd: libc::c_int) {
    // SAFETY: closes a descriptor of this process.
    unsafe { libc::close(fd) };
}

/// A close-on-exec pipe: (read end, write end).
pub(super) fn pipe() -> io::Result<(libc::c_int, libc::c_int)> {
    let mut fds = [-1 as libc::c_int; 2];
    // SAFETY: pipe2 writes two descriptors into the array.
    check(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    Ok((fds[0], fds[1]))
}

/// Sets `how` (`SIG_BLOCK`, `SIG_SETMASK`) for the program's signals, or for
/// none when `signals` is empty.
pub(super) fn mask(how: libc::c_int, signals: &[libc::c_int]) {
    // SAFETY: sigset operations on a set on our stack, then sigprocmask
    // with it; none of them allocates.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for &signal in signals {
            libc::sigaddset(&mut set, signal);
        }
        libc::sigprocmask(how, &set, std::ptr::null_mut());
    }
}

pub(super) fn set_disposition(signal: libc::c_int, handler: libc::sighandler_t) {
    // SAFETY: installs SIG_IGN or SIG_DFL (no function of ours) for one
    // signal, from a zeroed action on our stack.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = handler;
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(signal, &action, std::ptr::null_mut());
    }
}

/// Closes every descriptor but `keep`.
pub(super) fn close_all_except(keep: &mut [libc::c_int]) {
    keep.sort_unstable();
    let mut from: u32 = 0;
    for &fd in keep.iter() {
        let Ok(fd) = u32::try_from(fd) else { continue };
        if fd > from {
            close_range(from, fd - 1);
        }
        from = fd + 1;
    }
    close_range(from, u32::MAX);
}

fn close_range(first: u32, last: u32) {
    // SAFETY: close_range(2) takes two numbers and flags 0.
    let rc = unsafe { libc::syscall(libc::SYS_close_range, first, last, 0 as libc::c_uint) };
    if rc == 0 {
        return;
    }
    // Before Linux 5.9: one by one, up to the descriptor limit.
    // SAFETY: getrlimit writes the limit into the struct on our stack.
    let limit = unsafe {
        let mut limit: libc::rlimit = std::mem::zeroed();
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
        limit.rlim_cur.min(1 << 20) as u32
    };
    for fd in first..=last.min(limit.saturating_sub(1)) {
        close(fd as libc::c_int);
    }
}

/// Waits for `pid` (or any child, -1); `None` when there is none left.
pub(super) fn wait(pid: libc::pid_t) -> Option<(libc::pid_t, libc::c_int)> {
    loop {
        let mut status = 0;
        // SAFETY: waitpid writes the status into our local.
        let rc = unsafe { libc::waitpid(pid, &mut status, 0) };
        if rc > 0 {
            return Some((rc, status));
        }
        if errno() != libc::EINTR {
            return None;
        }
    }
}

/// Whether `flags` make a PID namespace whose first process, started the
/// way a contained spawn starts its init, is pid 1 and can start a second
/// process the way the init starts the program; else what refused it.
pub(super) fn try_namespaces(flags: libc::c_int) -> Result<(), String> {
    let what = match (
        flags & libc::CLONE_NEWUSER != 0,
        flags & libc::CLONE_NEWNET != 0,
    ) {
        (true, true) => "a PID and a network namespace inside a user namespace",
        (true, false) => "a PID namespace inside a user namespace",
        (false, true) => "a PID and a network namespace",
        (false, false) => "a PID namespace",
    };
    let refused = |e: io::Error| format!("{what}: {e}");
    let mut stacks = vec![0u8; 2 * super::launch::STACK];
    let (report_read, report_write) = pipe().map_err(refused)?;
    let child = match raw_fork() {
        Ok(child) => child,
        Err(e) => {
            close(report_read);
            close(report_write);
            return Err(refused(e));
        }
    };
    if child == 0 {
        close(report_read);
        let report = probe_child(flags, &mut stacks);
        let bytes = [report.0.to_ne_bytes(), report.1.to_ne_bytes()];
        // SAFETY: writes eight bytes of our locals to the pipe.
        unsafe { libc::write(report_write, bytes.as_ptr().cast(), 8) };
        exit(0);
    }
    close(report_write);
    let mut bytes = [[0u8; 4]; 2];
    // SAFETY: reads at most eight bytes into our local buffer.
    let n = unsafe { libc::read(report_read, bytes.as_mut_ptr().cast(), 8) };
    close(report_read);
    let _ = wait(child);
    if n != 8 {
        return Err(format!("{what}: the probe ended without a word"));
    }
    let (stage, code) = (i32::from_ne_bytes(bytes[0]), i32::from_ne_bytes(bytes[1]));
    let error = || io::Error::from_raw_os_error(code);
    match stage {
        0 => Ok(()),
        1 => Err(format!("{what}: refused: {}", error())),
        2 => Err(format!(
            "{what}: the first process could not start: {}",
            error()
        )),
        3 => Err(format!("{what}: its first process was not pid 1")),
        5 => Err(format!(
            "{what}: the new network namespace's loopback interface could not be brought up: {}",
            error()
        )),
        _ => Err(format!(
            "{what}: its first process could not start a second one sharing its memory (as pid 2)"
        )),
    }
}

/// In the probe's child: (stage that failed, errno), (0, 0) when the
/// namespace worked.
fn probe_child(flags: libc::c_int, stacks: &mut [u8]) -> (i32, i32) {
    if let Err(e) = enter_namespaces(flags) {
        return (1, e.raw_os_error().unwrap_or(0));
    }
    if flags & libc::CLONE_NEWNET != 0
        && let Err(e) = crate::loopback::sys::bring_lo_up()
    {
        return (5, e.raw_os_error().unwrap_or(0));
    }
    let (first_stack, second_stack) = stacks.split_at_mut(stacks.len() / 2);
    let mut second = ProbeStack {
        start: second_stack.as_mut_ptr(),
        len: second_stack.len(),
    };
    let arg = (&raw mut second).cast();
    let first = match spawn_sharing_memory(probe_first, first_stack, 0, arg) {
        Ok(first) => first,
        Err(e) => return (2, e.raw_os_error().unwrap_or(0)),
    };
    match wait(first) {
        Some((_, status)) if libc::WIFEXITED(status) => match libc::WEXITSTATUS(status) {
            0 => (0, 0),
            3 => (3, 0),
            _ => (4, 0),
        },
        _ => (4, 0),
    }
}

/// The second stack, for the probe's first process.
struct ProbeStack {
    start: *mut u8,
    len: usize,
}

/// The probe's pid 1: exits 0 if it is pid 1 and its own child, started
/// like the program (vfork-style), is pid 2.
extern "C" fn probe_first(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: getpid has no preconditions.
    if unsafe { libc::getpid() } != 1 {
        exit(3);
    }
    // SAFETY: `arg` is the `ProbeStack` of the probe's child, which waits
    // for this process; its buffer is that child's, unused by anything else.
    let stack = unsafe {
        let second = &*arg.cast::<ProbeStack>();
        std::slice::from_raw_parts_mut(second.start, second.len)
    };
    match spawn_sharing_memory(probe_second, stack, libc::CLONE_VFORK, std::ptr::null_mut()) {
        Ok(second) => match wait(second) {
            Some((_, status)) if libc::WIFEXITED(status) => exit(libc::WEXITSTATUS(status)),
            _ => exit(4),
        },
        Err(_) => exit(4),
    }
}

extern "C" fn probe_second(_: *mut libc::c_void) -> libc::c_int {
    // SAFETY: getpid has no preconditions.
    exit(if unsafe { libc::getpid() } == 2 { 0 } else { 4 })
}
