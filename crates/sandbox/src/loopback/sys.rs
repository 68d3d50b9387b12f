//! The system calls of a loopback-only network namespace: bringing `lo` up,
//! listening on one of its ports and handing the listeners over a unix
//! socket (`SCM_RIGHTS`). Those run in the child between fork and exec, so
//! they only make system calls on the stack (no allocation, no lock); the
//! parent's receiving side is here too, beside its sender.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use super::MAX_FORWARDED;

/// Bytes of ancillary data that carry `MAX_FORWARDED` descriptors.
// SAFETY: CMSG_SPACE only computes a size.
const CONTROL_BYTES: usize = unsafe { libc::CMSG_SPACE((MAX_FORWARDED * 4) as u32) } as usize;

fn check(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

fn close(fd: libc::c_int) {
    // SAFETY: closes a descriptor of this process.
    unsafe { libc::close(fd) };
}

/// Brings the calling process's network namespace's `lo` up (a new
/// namespace's is down), which needs `CAP_NET_ADMIN` over the namespace.
pub(crate) fn bring_lo_up() -> io::Result<()> {
    // SAFETY: socket(2) takes only numbers.
    let fd =
        check(unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: an all-zero ifreq is a valid (empty) request.
    let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
    for (slot, byte) in request.ifr_name.iter_mut().zip(b"lo") {
        *slot = *byte as libc::c_char;
    }
    // SAFETY: the ioctls read and write the ifreq on our stack; the flags
    // member is the one SIOCGIFFLAGS fills and SIOCSIFFLAGS reads.
    let result = unsafe {
        check(libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut request)).and_then(|_| {
            request.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
            check(libc::ioctl(fd, libc::SIOCSIFFLAGS, &request))
        })
    };
    close(fd);
    result.map(drop)
}

/// A TCP socket listening on 127.0.0.1:`port` (close-on-exec).
pub(crate) fn listen(port: u16) -> io::Result<libc::c_int> {
    // SAFETY: socket(2) takes only numbers.
    let fd =
        check(unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) })?;
    let address = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(std::net::Ipv4Addr::LOCALHOST).to_be(),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: bind reads the address on our stack, of the size given.
    let bound = check(unsafe {
        libc::bind(
            fd,
            (&raw const address).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    });
    // SAFETY: listen(2) takes only numbers.
    match bound.and_then(|_| check(unsafe { libc::listen(fd, libc::SOMAXCONN) })) {
        Ok(_) => Ok(fd),
        Err(e) => {
            close(fd);
            Err(e)
        }
    }
}

/// Sends `fds` as one message of one byte over the unix socket `to`.
pub(crate) fn send(to: libc::c_int, fds: &[libc::c_int]) -> io::Result<()> {
    let mut byte = [1u8];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    // u64 words: the control buffer must be aligned for cmsghdr.
    let mut control = [0u64; CONTROL_BYTES.div_ceil(8)];
    let data_len = std::mem::size_of_val(fds);
    // SAFETY: an all-zero msghdr is valid; every pointer set below points
    // at a buffer on our stack that outlives the sendmsg call, and the one
    // header written fits the control buffer (at most MAX_FORWARDED fds).
    unsafe {
        let mut message: libc::msghdr = std::mem::zeroed();
        message.msg_iov = &mut iov;
        message.msg_iovlen = 1;
        if !fds.is_empty() {
            message.msg_control = control.as_mut_ptr().cast();
            message.msg_controllen = libc::CMSG_SPACE(data_len as u32) as _;
            let header = libc::CMSG_FIRSTHDR(&message);
            (*header).cmsg_level = libc::SOL_SOCKET;
            (*header).cmsg_type = libc::SCM_RIGHTS;
            (*header).cmsg_len = libc::CMSG_LEN(data_len as u32) as _;
            std::ptr::copy_nonoverlapping(
                fds.as_ptr().cast::<u8>(),
                libc::CMSG_DATA(header),
                data_len,
            );
        }
        loop {
            let sent = libc::sendmsg(to, &message, libc::MSG_NOSIGNAL);
            if sent >= 0 {
                return Ok(());
            }
            let error = io::Error::last_os_error();
            if error.raw_os_error() != Some(libc::EINTR) {
                return Err(error);
            }
        }
    }
}

/// Receives the message [`send`] sent, without waiting: the descriptors it
/// carried, close-on-exec. `Ok(None)` when no message is there.
pub(crate) fn receive(from: &OwnedFd) -> io::Result<Option<Vec<OwnedFd>>> {
    let mut byte = [0u8];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    let mut control = [0u64; CONTROL_BYTES.div_ceil(8)];
    // SAFETY: as in `send`; recvmsg writes at most the lengths given.
    let mut message: libc::msghdr = unsafe { std::mem::zeroed() };
    message.msg_iov = &mut iov;
    message.msg_iovlen = 1;
    message.msg_control = control.as_mut_ptr().cast();
    message.msg_controllen = std::mem::size_of_val(&control) as _;
    // SAFETY: the message points at our buffers above.
    let received = unsafe {
        libc::recvmsg(
            from.as_raw_fd(),
            &mut message,
            libc::MSG_DONTWAIT | libc::MSG_CMSG_CLOEXEC,
        )
    };
    if received < 0 {
        let error = io::Error::last_os_error();
        return match error.kind() {
            io::ErrorKind::WouldBlock => Ok(None),
            _ => Err(error),
        };
    }
    if received == 0 {
        return Ok(None);
    }
    let mut fds = Vec::new();
    // SAFETY: the kernel filled the control buffer; the CMSG macros walk
    // the headers it wrote, within `msg_controllen`. Each descriptor is
    // owned at once, so an error below closes them all.
    unsafe {
        let mut header = libc::CMSG_FIRSTHDR(&message);
        while !header.is_null() {
            if (*header).cmsg_level == libc::SOL_SOCKET && (*header).cmsg_type == libc::SCM_RIGHTS {
                let bytes = (*header).cmsg_len as usize - libc::CMSG_LEN(0) as usize;
                let data = libc::CMSG_DATA(header);
                for i in 0..bytes / 4 {
                    let fd = data.add(i * 4).cast::<libc::c_int>().read_unaligned();
                    fds.push(OwnedFd::from_raw_fd(fd));
                }
            }
            header = libc::CMSG_NXTHDR(&message, header);
        }
    }
    if message.msg_flags & libc::MSG_CTRUNC != 0 {
        return Err(io::Error::other(
            "the listening sockets' message was cut short",
        ));
    }
    Ok(Some(fds))
}

/// A connected pair of close-on-exec unix sockets.
pub(crate) fn socket_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [-1 as libc::c_int; 2];
    // SAFETY: socketpair writes two descriptors into the array.
    check(unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    })?;
    // SAFETY: both are new descriptors that nothing else owns.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}
