//! A log file rotated by size (`enki.log`, then `enki.log.1` … `enki.log.N`),
//! safe when several processes append to the same file: rotation happens
//! under an advisory lock, and only by a process whose open file is still
//! the one at the path.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

pub struct RotatingFile {
    path: PathBuf,
    max_bytes: u64,
    keep: usize,
    file: File,
}

impl RotatingFile {
    /// Opens `path` for appending (creating its folder), rotating first when
    /// it is already over `max_bytes`. `keep` older files are kept (at least one).
    pub fn open(path: &Path, max_bytes: u64, keep: usize) -> io::Result<RotatingFile> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut file = RotatingFile {
            path: path.to_path_buf(),
            max_bytes: max_bytes.max(1),
            keep: keep.max(1),
            file: open_append(path)?,
        };
        file.rotate_if_full()?;
        Ok(file)
    }

    /// The `n`th older file (`enki.log.1` is the newest of them).
    pub fn older(&self, n: usize) -> PathBuf {
        let mut name = self.path.as_os_str().to_os_string();
        name.push(format!(".{n}"));
        PathBuf::from(name)
    }

    fn rotate_if_full(&mut self) -> io::Result<()> {
        if self.file.metadata()?.len() < self.max_bytes {
            return Ok(());
        }
        let mut lock_name = self.path.as_os_str().to_os_string();
        lock_name.push(".lock");
        let lock = open_append(Path::new(&lock_name))?;
        lock.lock()?;
        // Another process may have rotated while we waited for the lock:
        // then the path is a new file already and ours is an older one.
        if is_same_file(&self.file, &self.path) {
            for n in (1..self.keep).rev() {
                let from = self.older(n);
                if from.exists() {
                    std::fs::rename(&from, self.older(n + 1))?;
                }
            }
            std::fs::rename(&self.path, self.older(1))?;
        }
        self.file = open_append(&self.path)?;
        Ok(())
    }
}

impl Write for RotatingFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let written = self.file.write(buf)?;
        self.rotate_if_full()?;
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

fn is_same_file(file: &File, path: &Path) -> bool {
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(open), Ok(named)) => open.dev() == named.dev() && open.ino() == named.ino(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(path: &Path) -> String {
        std::fs::read_to_string(path).unwrap_or_default()
    }

    #[test]
    fn a_full_file_moves_to_dot_one_and_only_keep_older_files_stay() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs/enki.log");
        let mut log = RotatingFile::open(&path, 10, 2).unwrap();
        for line in ["first line\n", "second line\n", "third line\n", "fourth\n"] {
            log.write_all(line.as_bytes()).unwrap();
        }
        assert_eq!(read(&path), "fourth\n");
        assert_eq!(read(&log.older(1)), "third line\n");
        assert_eq!(read(&log.older(2)), "second line\n");
        assert!(!log.older(3).exists(), "only two older files are kept");
    }

    #[test]
    fn a_file_already_over_the_limit_is_rotated_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("enki.log");
        std::fs::write(&path, "an old run's long log\n").unwrap();
        let mut log = RotatingFile::open(&path, 10, 3).unwrap();
        log.write_all(b"new\n").unwrap();
        assert_eq!(read(&path), "new\n");
        assert_eq!(read(&log.older(1)), "an old run's long log\n");
    }

    #[test]
    fn two_writers_of_one_file_rotate_it_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mcp.log");
        let mut a = RotatingFile::open(&path, 8, 3).unwrap();
        let mut b = RotatingFile::open(&path, 8, 3).unwrap();
        a.write_all(b"aaaaaaaa\n").unwrap(); // full: a rotates it to .1
        b.write_all(b"b\n").unwrap(); // b's file is .1 now: it moves on, rotating nothing
        assert_eq!(read(&a.older(1)), "aaaaaaaa\nb\n");
        a.write_all(b"a\n").unwrap();
        b.write_all(b"b\n").unwrap();
        assert_eq!(read(&path), "a\nb\n");
        assert!(!a.older(2).exists(), "the same file was not rotated twice");
    }
}
