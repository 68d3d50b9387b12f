//! The system calls of containment, all async-signal-safe: they run in a
//! child forked from a multi-threaded process, where nothing may allocate
//! or take a lock.
#![allow(unsafe_code)]

use std::io;

/// Signals that are meant for the program: the keeper and the init ignore
/// them (enki sends them to the whole process group).
const FOR_THE_PROGRAM: [libc::c_int; 3] = [libc::SIGTERM, libc::SIGINT, libc::SIGHUP];

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

fn errno() -> i32 {
    io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn check(rc: libc::c_int) -> io::Result<()> {
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

fn close(fd: libc::c_int) {
    // SAFETY: closes a descriptor of this process.
    unsafe { libc::close(fd) };
}

/// A close-on-exec pipe: (read end, write end).
fn pipe() -> io::Result<(libc::c_int, libc::c_int)> {
    let mut fds = [-1 as libc::c_int; 2];
    // SAFETY: pipe2 writes two descriptors into the array.
    check(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    Ok((fds[0], fds[1]))
}

/// Sets `how` (`SIG_BLOCK`, `SIG_SETMASK`) for the program's signals, or for
/// none when `signals` is empty.
fn mask(how: libc::c_int, signals: &[libc::c_int]) {
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

fn set_disposition(signal: libc::c_int, handler: libc::sighandler_t) {
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
fn close_all_except(keep: &mut [libc::c_int]) {
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
fn wait(pid: libc::pid_t) -> Option<(libc::pid_t, libc::c_int)> {
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

/// In the (keeper) process that enki spawned, inside the namespaces: forks
/// the namespace's init, which forks the program. Returns `Ok` only in the
/// program.
pub(super) fn fork_keeper_and_init() -> io::Result<()> {
    // enki's own handler for child deaths is of no use here; the program
    // would have the default after its exec anyway.
    set_disposition(libc::SIGCHLD, libc::SIG_DFL);
    // Until the keeper and the init ignore the program's signals, a group
    // signal must not end them.
    mask(libc::SIG_BLOCK, &FOR_THE_PROGRAM);
    let (alive_read, alive_write) = pipe()?;
    let (status_read, status_write) = pipe()?;
    let init = raw_fork()?;
    if init > 0 {
        close(alive_read);
        close(status_write);
        keep(init, alive_write, status_read);
    }
    // The init: pid 1 of the new namespace.
    close(alive_write);
    close(status_read);
    die_with_parent();
    if keeper_gone(alive_read) {
        exit(1);
    }
    close(alive_read);
    let program = raw_fork()?;
    if program == 0 {
        close(status_write);
        mask(libc::SIG_SETMASK, &[]);
        return Ok(());
    }
    reap(program, status_write)
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

/// Whether `flags` make a PID namespace whose first process is pid 1, tried
/// in a throw-away child; else what refused it.
pub(super) fn try_namespaces(flags: libc::c_int) -> Result<(), String> {
    let what = if flags & libc::CLONE_NEWUSER != 0 {
        "a PID namespace inside a user namespace"
    } else {
        "a PID namespace"
    };
    let refused = |e: io::Error| format!("{what}: {e}");
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
        let report = probe_child(flags);
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
        _ => Err(format!("{what}: its first process was not pid 1")),
    }
}

/// In the probe's child: (stage that failed, errno), (0, 0) when the
/// namespace worked.
fn probe_child(flags: libc::c_int) -> (i32, i32) {
    if let Err(e) = enter_namespaces(flags) {
        return (1, e.raw_os_error().unwrap_or(0));
    }
    let first = match raw_fork() {
        Ok(first) => first,
        Err(e) => return (2, e.raw_os_error().unwrap_or(0)),
    };
    if first == 0 {
        // SAFETY: getpid has no preconditions.
        let pid = unsafe { libc::getpid() };
        exit(if pid == 1 { 0 } else { 3 });
    }
    match wait(first) {
        Some((_, status)) if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0 => (0, 0),
        _ => (3, 0),
    }
}
