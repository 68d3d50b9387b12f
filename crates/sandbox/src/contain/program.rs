//! The program a contained spawn execs, resolved in the parent before the
//! fork: the paths to try, the argument vector and the environment as C
//! strings, so that the child only calls `execve`.
//!
//! The contained program is started by a child that shares its memory with
//! its parent (a vfork-style `clone`, see [`super::launch`]) and cannot
//! return into std's own exec; [`Program::exec`] therefore does what std's
//! child does (`execvp` of the program with the command's environment),
//! which keeps the errors std reports: a missing program fails the spawn
//! with `NotFound`.

use std::collections::BTreeMap;
use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::process::Command;

/// Where the contained program's environment starts, before the command's
/// own `env` and `env_remove` calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    /// enki's own environment.
    Inherit,
    /// Nothing (the command called `env_clear`).
    Clear,
}

/// The search path glibc's `execvp` uses when the environment has no `PATH`.
const DEFAULT_PATH: &[u8] = b"/bin:/usr/bin";

/// A program ready to be exec'd without allocating.
#[derive(Debug)]
pub(super) struct Program {
    /// The paths to try in order: the program itself when it names a path
    /// (it holds a `/`), else each `PATH` entry joined with it.
    candidates: Vec<CString>,
    /// Owners of the strings `argv` and `envp` point into.
    _strings: Vec<CString>,
    /// Null-terminated.
    argv: Vec<*const libc::c_char>,
    /// Null-terminated.
    envp: Vec<*const libc::c_char>,
}

// SAFETY: the pointers point into `_strings`, whose heap buffers the struct
// owns and never changes after `resolve`; moving the struct moves no buffer.
#[allow(unsafe_code)]
unsafe impl Send for Program {}
// SAFETY: as for Send: nothing is ever written through the pointers.
#[allow(unsafe_code)]
unsafe impl Sync for Program {}

impl Program {
    /// `command`'s program, arguments and environment (starting from
    /// `environment`), as its child would exec them. Call it once the
    /// command is complete: later changes to the command are not seen.
    pub(super) fn resolve(command: &Command, environment: Environment) -> io::Result<Program> {
        let mut env: BTreeMap<OsString, OsString> = match environment {
            Environment::Inherit => std::env::vars_os().collect(),
            Environment::Clear => BTreeMap::new(),
        };
        for (key, value) in command.get_envs() {
            match value {
                Some(value) => env.insert(key.to_owned(), value.to_owned()),
                None => env.remove(key),
            };
        }
        let program = command.get_program();
        let candidates = candidates(program, env.get(OsStr::new("PATH")))?;
        let mut strings = Vec::new();
        let args = std::iter::once(program).chain(command.get_args());
        for arg in args {
            strings.push(c_string(arg.as_bytes().to_vec(), "an argument")?);
        }
        let argc = strings.len();
        for (key, value) in env {
            if key.as_bytes().contains(&b'=') || key.is_empty() {
                return Err(invalid(&format!(
                    "the environment variable name {key:?} is empty or holds `=`"
                )));
            }
            let mut pair = key.into_vec();
            pair.push(b'=');
            pair.extend(value.into_vec());
            strings.push(c_string(pair, "an environment variable")?);
        }
        let pointers = |strings: &[CString]| {
            strings
                .iter()
                .map(|s| s.as_ptr())
                .chain(std::iter::once(std::ptr::null()))
                .collect::<Vec<_>>()
        };
        Ok(Program {
            candidates,
            argv: pointers(&strings[..argc]),
            envp: pointers(&strings[argc..]),
            _strings: strings,
        })
    }

    /// Execs the program, trying each candidate path as `execvp` does;
    /// returns only on failure. Async-signal-safe: system calls only, on
    /// data made by [`Program::resolve`].
    pub(super) fn exec(&self) -> io::Error {
        let mut denied = false;
        let mut last = libc::ENOENT;
        for path in &self.candidates {
            // SAFETY: the path is a C string; argv and envp are
            // null-terminated arrays of C strings that `self` owns.
            #[allow(unsafe_code)]
            unsafe {
                libc::execve(path.as_ptr(), self.argv.as_ptr(), self.envp.as_ptr())
            };
            last = super::sys::errno();
            match last {
                // Found but not executable: say so if nothing later runs.
                libc::EACCES => denied = true,
                // Not here: the next entry of PATH.
                libc::ENOENT
                | libc::ENOTDIR
                | libc::ESTALE
                | libc::ELOOP
                | libc::ENAMETOOLONG
                | libc::ENODEV
                | libc::ETIMEDOUT => {}
                _ => return io::Error::from_raw_os_error(last),
            }
        }
        io::Error::from_raw_os_error(if denied { libc::EACCES } else { last })
    }
}

/// The paths `execvp` would try for `program` under `path` (the child's
/// `PATH`). Relative ones are resolved by `execve` against the child's
/// working directory, as std's child does.
fn candidates(program: &OsStr, path: Option<&OsString>) -> io::Result<Vec<CString>> {
    let name = program.as_bytes();
    if name.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            "the program name is empty",
        ));
    }
    if name.contains(&b'/') {
        return Ok(vec![c_string(name.to_vec(), "the program")?]);
    }
    let path = path.map_or(DEFAULT_PATH, |p| p.as_bytes());
    path.split(|&b| b == b':')
        .map(|dir| {
            let mut full = dir.to_vec();
            if !full.is_empty() {
                full.push(b'/');
            }
            full.extend_from_slice(name);
            c_string(full, "the program")
        })
        .collect()
}

fn c_string(bytes: Vec<u8>, what: &str) -> io::Result<CString> {
    CString::new(bytes).map_err(|e| {
        invalid(&format!(
            "{what} holds a NUL byte: {:?}",
            String::from_utf8_lossy(&e.into_vec())
        ))
    })
}

fn invalid(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(candidates: Vec<CString>) -> Vec<String> {
        candidates
            .into_iter()
            .map(|c| c.into_string().unwrap())
            .collect()
    }

    #[test]
    fn a_bare_name_is_looked_up_in_each_path_entry_and_a_path_is_used_as_it_is() {
        let path = OsString::from("/a:/b/:");
        assert_eq!(
            strings(candidates(OsStr::new("sh"), Some(&path)).unwrap()),
            ["/a/sh", "/b//sh", "sh"]
        );
        assert_eq!(
            strings(candidates(OsStr::new("sh"), None).unwrap()),
            ["/bin/sh", "/usr/bin/sh"]
        );
        assert_eq!(
            strings(candidates(OsStr::new("./x"), Some(&path)).unwrap()),
            ["./x"]
        );
        assert!(candidates(OsStr::new(""), None).is_err());
    }

    #[test]
    fn the_environment_is_the_commands_on_top_of_its_start() {
        let mut command = Command::new("env");
        command
            .arg("-0")
            .env("ENKI_PROGRAM_TEST", "1")
            .env_remove("HOME");
        let cleared = Program::resolve(&command, Environment::Clear).unwrap();
        assert_eq!(cleared.envp.len(), 2);
        assert_eq!(cleared.argv.len(), 3);
        let inherited = Program::resolve(&command, Environment::Inherit).unwrap();
        let has = |name: &[u8]| {
            inherited
                ._strings
                .iter()
                .any(|s| s.as_bytes().starts_with(name))
        };
        assert!(has(b"ENKI_PROGRAM_TEST=1"));
        assert!(!has(b"HOME="));
    }
}
