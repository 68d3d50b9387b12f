//! Confining the paths an agent names to its own copy of the project.
//!
//! [`confine`] resolves a path (relative to the root, or absolute) and refuses
//! anything that leaves the root: `..` climbing out, absolute paths elsewhere,
//! and symlinks (of files or directories, anywhere along the path) that point
//! outside. [`confine_file`] additionally refuses directories and the root.

use std::ffi::OsString;
use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};

use thiserror::Error;

/// Why a requested path was refused.
#[derive(Debug, Error)]
pub enum ConfineError {
    #[error("empty path: name a file inside the worker's copy {}", root.display())]
    Empty { root: PathBuf },
    #[error("path '{requested}' contains a NUL byte")]
    Nul { requested: String },
    #[error("path '{requested}' leaves the worker's copy {}", root.display())]
    Escapes { requested: String, root: PathBuf },
    #[error("path '{requested}' goes through a symlink to {}, outside the worker's copy {}", target.display(), root.display())]
    SymlinkEscapes {
        requested: String,
        target: PathBuf,
        root: PathBuf,
    },
    #[error("path '{requested}' cannot be resolved ({} : {source})", at.display())]
    Unresolvable {
        requested: String,
        at: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("path '{requested}' goes through {}, which is not a directory", parent.display())]
    NotADirectory { requested: String, parent: PathBuf },
    #[error("path '{requested}' is a directory, not a file")]
    IsDirectory { requested: String },
    #[error("path '{requested}' names the worker's copy {} itself, not a file", root.display())]
    IsRoot { requested: String, root: PathBuf },
    #[error("the worker's copy {} cannot be resolved: {source}", root.display())]
    Root {
        root: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Resolves `requested` (relative to `root`, or absolute) to an absolute path
/// inside the canonical `root`, or refuses it.
///
/// `.` and `..` are normalized lexically first; a relative path whose `..`
/// climbs above the root is refused. Then the longest existing ancestor is
/// canonicalized (resolving every symlink on the way) and must lie inside the
/// canonical root; the part that does not exist yet is plain names. An
/// existing path is returned canonical. The root itself is allowed.
pub fn confine(root: &Path, requested: &str) -> Result<PathBuf, ConfineError> {
    if requested.contains('\0') {
        return Err(ConfineError::Nul {
            requested: requested.to_string(),
        });
    }
    let root_canon = fs::canonicalize(root).map_err(|source| ConfineError::Root {
        root: root.to_path_buf(),
        source,
    })?;
    if requested.trim().is_empty() {
        return Err(ConfineError::Empty { root: root_canon });
    }
    let escapes = || ConfineError::Escapes {
        requested: requested.to_string(),
        root: root_canon.clone(),
    };

    let requested_path = Path::new(requested);
    let (lexical, lexically_inside) = if requested_path.is_absolute() {
        let lexical = normalize_absolute(requested_path);
        let root_abs = std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf());
        let inside = lexical.starts_with(&root_canon) || lexical.starts_with(&root_abs);
        (lexical, inside)
    } else {
        let names = normalize_relative(requested_path).ok_or_else(escapes)?;
        let mut lexical = root_canon.clone();
        lexical.extend(names);
        (lexical, true)
    };

    // The longest ancestor that exists in any form (a dangling symlink
    // counts: it must not be silently written through).
    let mut existing = lexical.as_path();
    let mut tail: Vec<&std::ffi::OsStr> = Vec::new();
    while fs::symlink_metadata(existing).is_err() {
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                tail.push(name);
                existing = parent;
            }
            _ => break,
        }
    }
    let resolved_existing =
        fs::canonicalize(existing).map_err(|source| ConfineError::Unresolvable {
            requested: requested.to_string(),
            at: existing.to_path_buf(),
            source,
        })?;
    if !resolved_existing.starts_with(&root_canon) {
        return Err(if lexically_inside {
            ConfineError::SymlinkEscapes {
                requested: requested.to_string(),
                target: resolved_existing,
                root: root_canon,
            }
        } else {
            escapes()
        });
    }
    if !tail.is_empty() && !resolved_existing.is_dir() {
        return Err(ConfineError::NotADirectory {
            requested: requested.to_string(),
            parent: resolved_existing,
        });
    }
    let mut resolved = resolved_existing;
    resolved.extend(tail.into_iter().rev());
    Ok(resolved)
}

/// Like [`confine`], for a path that must name a file (existing or not):
/// also refuses the root itself, an existing directory and a path ending
/// with a separator.
pub fn confine_file(root: &Path, requested: &str) -> Result<PathBuf, ConfineError> {
    let resolved = confine(root, requested)?;
    let root_canon = fs::canonicalize(root).map_err(|source| ConfineError::Root {
        root: root.to_path_buf(),
        source,
    })?;
    if resolved == root_canon {
        return Err(ConfineError::IsRoot {
            requested: requested.to_string(),
            root: root_canon,
        });
    }
    if resolved.is_dir()
        || requested.ends_with('/')
        || requested.ends_with(std::path::MAIN_SEPARATOR)
    {
        return Err(ConfineError::IsDirectory {
            requested: requested.to_string(),
        });
    }
    Ok(resolved)
}

/// The plain names of a relative path after removing `.` and resolving `..`
/// lexically; `None` if it climbs above its start or is not relative.
fn normalize_relative(path: &Path) -> Option<Vec<OsString>> {
    let mut names: Vec<OsString> = Vec::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                names.pop()?;
            }
            Component::Normal(name) => names.push(name.to_os_string()),
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(names)
}

/// An absolute path with `.` removed and `..` resolved lexically (`..` at the
/// filesystem root stays there).
fn normalize_absolute(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                // Never pops the root (or a Windows prefix + root).
                if out.file_name().is_some() {
                    out.pop();
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    struct Fixture {
        _dir: tempfile::TempDir,
        root: PathBuf,
        outside: PathBuf,
    }

    /// `<tmp>/root/{a/file.txt, top.txt}` and `<tmp>/outside/{secret.txt}`.
    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let base = fs::canonicalize(dir.path()).expect("canonical tempdir");
        let root = base.join("root");
        let outside = base.join("outside");
        fs::create_dir_all(root.join("a")).expect("mkdir a");
        fs::create_dir_all(&outside).expect("mkdir outside");
        fs::write(root.join("a/file.txt"), "x").expect("write");
        fs::write(root.join("top.txt"), "x").expect("write");
        fs::write(outside.join("secret.txt"), "s").expect("write");
        Fixture {
            _dir: dir,
            root,
            outside,
        }
    }

    #[test]
    fn relative_paths_inside_are_resolved() {
        let f = fixture();
        assert_eq!(confine(&f.root, "top.txt").unwrap(), f.root.join("top.txt"));
        assert_eq!(
            confine(&f.root, "./a/./file.txt").unwrap(),
            f.root.join("a/file.txt")
        );
        assert_eq!(
            confine(&f.root, "a/../top.txt").unwrap(),
            f.root.join("top.txt")
        );
        assert_eq!(confine(&f.root, "a/../b").unwrap(), f.root.join("b"));
        assert_eq!(
            confine(&f.root, "a//file.txt").unwrap(),
            f.root.join("a/file.txt")
        );
    }

    #[test]
    fn nested_new_file_is_fine() {
        let f = fixture();
        assert_eq!(
            confine_file(&f.root, "new/dir/deep.rs").unwrap(),
            f.root.join("new/dir/deep.rs")
        );
        assert_eq!(
            confine_file(&f.root, "a/new.rs").unwrap(),
            f.root.join("a/new.rs")
        );
    }

    #[test]
    fn dot_dot_escapes_are_refused() {
        let f = fixture();
        for requested in [
            "..",
            "../x",
            "a/../../x",
            "a/../../root/top.txt",
            "./../outside/secret.txt",
        ] {
            let err = confine(&f.root, requested).expect_err(requested);
            assert!(
                matches!(err, ConfineError::Escapes { .. }),
                "{requested}: {err}"
            );
            assert_eq!(
                err.to_string(),
                format!(
                    "path '{requested}' leaves the worker's copy {}",
                    f.root.display()
                )
            );
        }
    }

    #[test]
    fn absolute_paths() {
        let f = fixture();
        let inside = f.root.join("a/file.txt");
        assert_eq!(confine(&f.root, inside.to_str().unwrap()).unwrap(), inside);
        let new = f.root.join("a/../brand/new.txt");
        assert_eq!(
            confine_file(&f.root, new.to_str().unwrap()).unwrap(),
            f.root.join("brand/new.txt")
        );
        for outside in [
            f.outside.join("secret.txt"),
            f.outside.join("new.txt"),
            PathBuf::from("/etc/passwd"),
            f.root.join("../outside/secret.txt"),
            PathBuf::from("/"),
        ] {
            let requested = outside.to_str().unwrap();
            let err = confine(&f.root, requested).expect_err(requested);
            assert!(
                matches!(err, ConfineError::Escapes { .. }),
                "{requested}: {err}"
            );
        }
        // A sibling whose name starts with the root's name is outside.
        let sibling = format!("{}2/x", f.root.display());
        assert!(confine(&f.root, &sibling).is_err());
    }

    #[test]
    fn absolute_path_through_a_non_canonical_root_is_fine() {
        let f = fixture();
        let alias = f.outside.join("alias");
        symlink(&f.root, &alias).expect("symlink");
        // The root given through a symlink, and an absolute path using it.
        let requested = alias.join("a/file.txt");
        assert_eq!(
            confine(&alias, requested.to_str().unwrap()).unwrap(),
            f.root.join("a/file.txt")
        );
        assert_eq!(confine(&alias, "top.txt").unwrap(), f.root.join("top.txt"));
    }

    #[test]
    fn symlinks_pointing_outside_are_refused() {
        let f = fixture();
        symlink(f.outside.join("secret.txt"), f.root.join("file-link")).expect("symlink");
        symlink(&f.outside, f.root.join("a/dir-link")).expect("symlink");
        symlink(f.outside.join("missing.txt"), f.root.join("dangling")).expect("symlink");
        for requested in [
            "file-link",
            "a/dir-link",
            "a/dir-link/secret.txt",
            "a/dir-link/new.txt",
            "a/dir-link/new/deeper.txt",
        ] {
            let err = confine(&f.root, requested).expect_err(requested);
            assert!(
                matches!(err, ConfineError::SymlinkEscapes { .. }),
                "{requested}: {err}"
            );
            assert!(err.to_string().contains(&format!("path '{requested}'")));
            assert!(err.to_string().contains("outside the worker's copy"));
        }
        // A dangling link is not written through.
        assert!(confine_file(&f.root, "dangling").is_err());
        assert!(confine_file(&f.root, "dangling/x").is_err());
    }

    #[test]
    fn symlinks_inside_root_are_fine() {
        let f = fixture();
        symlink(f.root.join("a/file.txt"), f.root.join("link.txt")).expect("symlink");
        symlink(f.root.join("a"), f.root.join("alias")).expect("symlink");
        symlink("../top.txt", f.root.join("a/rel-link")).expect("symlink");
        assert_eq!(
            confine_file(&f.root, "link.txt").unwrap(),
            f.root.join("a/file.txt")
        );
        assert_eq!(
            confine_file(&f.root, "alias/file.txt").unwrap(),
            f.root.join("a/file.txt")
        );
        assert_eq!(
            confine_file(&f.root, "alias/new.txt").unwrap(),
            f.root.join("a/new.txt")
        );
        assert_eq!(
            confine_file(&f.root, "a/rel-link").unwrap(),
            f.root.join("top.txt")
        );
    }

    #[test]
    fn nul_and_empty_are_refused() {
        let f = fixture();
        let err = confine(&f.root, "a\0b").unwrap_err();
        assert!(matches!(err, ConfineError::Nul { .. }));
        assert!(err.to_string().contains("NUL"));
        for requested in ["", "   "] {
            let err = confine(&f.root, requested).unwrap_err();
            assert!(matches!(err, ConfineError::Empty { .. }), "{err}");
        }
    }

    #[test]
    fn root_and_directories() {
        let f = fixture();
        assert_eq!(confine(&f.root, ".").unwrap(), f.root);
        assert_eq!(confine(&f.root, "a/..").unwrap(), f.root);
        assert_eq!(confine(&f.root, "a").unwrap(), f.root.join("a"));
        for requested in [".", "a/..", f.root.to_str().unwrap()] {
            let err = confine_file(&f.root, requested).unwrap_err();
            assert!(
                matches!(err, ConfineError::IsRoot { .. }),
                "{requested}: {err}"
            );
        }
        for requested in ["a", "a/", "new-dir/"] {
            let err = confine_file(&f.root, requested).unwrap_err();
            assert!(
                matches!(err, ConfineError::IsDirectory { .. }),
                "{requested}: {err}"
            );
            assert_eq!(
                err.to_string(),
                format!("path '{requested}' is a directory, not a file")
            );
        }
    }

    #[test]
    fn a_file_used_as_a_directory_is_refused() {
        let f = fixture();
        let err = confine_file(&f.root, "top.txt/x").unwrap_err();
        assert!(matches!(err, ConfineError::NotADirectory { .. }), "{err}");
    }

    #[test]
    fn missing_root_is_an_error() {
        let f = fixture();
        let err = confine(&f.root.join("nope"), "x").unwrap_err();
        assert!(matches!(err, ConfineError::Root { .. }), "{err}");
    }
}
