//! Reading and writing files strictly beneath a worker's copy, for the MCP
//! file tools and the ACP client's `fs/*` alike.
//!
//! The worker can change its copy while a tool runs (swap a directory for a
//! symbolic link to `/`, plant a link where a temporary file will go), so
//! nothing here checks a path and then uses it: every open resolves
//! relative to the copy's directory handle with `openat2`
//! (`RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS`), which the kernel refuses to
//! leave; temporary files are created `O_EXCL | O_NOFOLLOW` under a random
//! name and renamed relative to their directory's handle; and a handle is
//! checked to still lie in the copy after it was opened (a directory moved
//! out of the copy meanwhile is refused).

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags};

const RESOLVE: ResolveFlags = ResolveFlags::BENEATH.union(ResolveFlags::NO_MAGICLINKS);

/// A copy of the project, held open.
pub struct Beneath {
    root: OwnedFd,
    /// Where the copy is, to check handles against.
    root_path: PathBuf,
}

fn escaped(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::PermissionDenied,
        format!(
            "{what} leads outside your copy (through a symbolic link or a moved folder); refused"
        ),
    )
}

/// The plain names of `relative`; anything else (`..`, a root) is refused.
fn names(relative: &Path) -> io::Result<Vec<&std::ffi::OsStr>> {
    relative
        .components()
        .filter(|c| *c != Component::CurDir)
        .map(|c| match c {
            Component::Normal(name) => Ok(name),
            _ => Err(escaped(&relative.display().to_string())),
        })
        .collect()
}

impl Beneath {
    /// Holds the folder `root` open; every later access resolves beneath it.
    pub fn open(root: &Path) -> io::Result<Beneath> {
        let root_path = std::fs::canonicalize(root)?;
        let root = rustix::fs::open(
            &root_path,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Beneath { root, root_path })
    }

    /// `path` (absolute, already confined to the copy) relative to the
    /// copy, or `None` when it is not beneath it.
    pub fn relative<'a>(&self, path: &'a Path) -> Option<&'a Path> {
        path.strip_prefix(&self.root_path).ok()
    }

    /// Opens `relative` (beneath the copy) with `flags`.
    fn open_at(&self, relative: &Path, flags: OFlags) -> io::Result<OwnedFd> {
        let path = if relative.as_os_str().is_empty() {
            Path::new(".")
        } else {
            relative
        };
        rustix::fs::openat2(
            &self.root,
            path,
            flags | OFlags::CLOEXEC,
            Mode::empty(),
            RESOLVE,
        )
        .map_err(|e| match e {
            rustix::io::Errno::XDEV | rustix::io::Errno::LOOP => {
                escaped(&relative.display().to_string())
            }
            other => other.into(),
        })
    }

    /// Fails unless `fd` still lies in the copy (its folder may have been
    /// moved out after it was opened).
    fn check(&self, fd: &OwnedFd, shown: &Path) -> io::Result<()> {
        let now = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()))?;
        if now.starts_with(&self.root_path) {
            Ok(())
        } else {
            Err(escaped(&shown.display().to_string()))
        }
    }

    /// The regular file at `relative`, or `None` when there is none.
    pub fn read(&self, relative: &Path) -> io::Result<Option<Vec<u8>>> {
        // Non-blocking: a FIFO planted at the path must not hang the tool.
        let fd = match self.open_at(relative, OFlags::RDONLY | OFlags::NOCTTY | OFlags::NONBLOCK) {
            Ok(fd) => fd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        self.check(&fd, relative)?;
        if FileType::from_raw_mode(rustix::fs::fstat(&fd)?.st_mode) != FileType::RegularFile {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a regular file (a folder, link or device)",
            ));
        }
        let mut bytes = Vec::new();
        File::from(fd).read_to_end(&mut bytes)?;
        Ok(Some(bytes))
    }

    /// The folder `relative`, created (each level beneath the copy) if missing.
    fn folder(&self, relative: &Path) -> io::Result<OwnedFd> {
        let mut dir = self.open_at(Path::new(""), OFlags::RDONLY | OFlags::DIRECTORY)?;
        let mut so_far = PathBuf::new();
        for name in names(relative)? {
            so_far.push(name);
            let flags = OFlags::RDONLY | OFlags::DIRECTORY;
            dir = match self.open_at(&so_far, flags) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    // A plain name in a held folder: nothing to follow.
                    match rustix::fs::mkdirat(&dir, name, Mode::from_raw_mode(0o777)) {
                        Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                        Err(e) => return Err(e.into()),
                    }
                    self.open_at(&so_far, flags)?
                }
                other => other?,
            };
        }
        self.check(&dir, relative)?;
        Ok(dir)
    }

    /// Replaces (or creates) the file at `relative` atomically: a new file
    /// under a random name beside it, then a rename, keeping its permissions.
    pub fn write(&self, relative: &Path, content: &[u8]) -> io::Result<()> {
        let name = relative
            .file_name()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a file name"))?;
        let dir = self.folder(relative.parent().unwrap_or(Path::new("")))?;
        let mode = match rustix::fs::statat(&dir, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(stat) if FileType::from_raw_mode(stat.st_mode) == FileType::RegularFile => {
                Some(Mode::from_raw_mode(stat.st_mode & 0o7777))
            }
            Ok(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "not a regular file (a folder, link or device)",
                ));
            }
            Err(rustix::io::Errno::NOENT) => None,
            Err(e) => return Err(e.into()),
        };
        let (temp, file) = self.temporary(&dir, name)?;
        let written = (|| {
            let mut file = File::from(file);
            file.write_all(content)?;
            if let Some(mode) = mode {
                rustix::fs::fchmod(file.as_fd(), mode)?;
            }
            file.sync_all()?;
            self.check(&dir, relative)?;
            rustix::fs::renameat(&dir, &temp, &dir, name).map_err(io::Error::from)
        })();
        if written.is_err() {
            let _ = rustix::fs::unlinkat(&dir, &temp, AtFlags::empty());
        }
        written
    }

    /// A new file in `dir` under an unpredictable name (never an existing
    /// file or link: `O_EXCL | O_NOFOLLOW`).
    fn temporary(&self, dir: &OwnedFd, name: &std::ffi::OsStr) -> io::Result<(PathBuf, OwnedFd)> {
        let mut last = None;
        for _ in 0..8 {
            let mut random = [0u8; 8];
            getrandom::fill(&mut random).map_err(|e| io::Error::other(e.to_string()))?;
            let suffix: String = random.iter().map(|b| format!("{b:02x}")).collect();
            let temp = PathBuf::from(format!(".{}.enki-edit-{suffix}", name.to_string_lossy()));
            let flags =
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
            match rustix::fs::openat(dir, &temp, flags, Mode::from_raw_mode(0o666)) {
                Ok(fd) => return Ok((temp, fd)),
                Err(e) => last = Some(e),
            }
        }
        Err(last.map_or_else(|| io::Error::other("no temporary file"), io::Error::from))
    }
}

#[cfg(test)]
#[path = "beneath_tests.rs"]
mod tests;
