//! Copying a project tree for a worker.

use std::fs;
use std::path::Path;

use crate::git::GitError;

/// Copies `from` into `to` recursively, skipping the top-level names in
/// `skip`. Files go through `std::fs::copy`, which uses `copy_file_range`
/// on Linux and so shares blocks on file systems with reflinks. Symlinks are
/// recreated as symlinks (never followed), permissions are kept.
pub fn copy_tree(from: &Path, to: &Path, skip: &[&str]) -> Result<u64, GitError> {
    let mut copied = 0;
    copy_dir(from, to, skip, &mut copied)?;
    Ok(copied)
}

fn copy_dir(from: &Path, to: &Path, skip: &[&str], copied: &mut u64) -> Result<(), GitError> {
    fs::create_dir_all(to).map_err(|e| GitError::io(format!("creating {}", to.display()), e))?;
    let entries =
        fs::read_dir(from).map_err(|e| GitError::io(format!("reading {}", from.display()), e))?;
    for entry in entries {
        let entry = entry.map_err(|e| GitError::io(format!("reading {}", from.display()), e))?;
        let name = entry.file_name();
        if skip.iter().any(|s| name == *s) {
            continue;
        }
        let source = entry.path();
        let target = to.join(&name);
        let kind = entry
            .file_type()
            .map_err(|e| GitError::io(format!("inspecting {}", source.display()), e))?;
        if kind.is_symlink() {
            let link = fs::read_link(&source)
                .map_err(|e| GitError::io(format!("reading link {}", source.display()), e))?;
            let _ = fs::remove_file(&target);
            std::os::unix::fs::symlink(&link, &target)
                .map_err(|e| GitError::io(format!("creating link {}", target.display()), e))?;
        } else if kind.is_dir() {
            copy_dir(&source, &target, &[], copied)?;
        } else if kind.is_file() {
            fs::copy(&source, &target).map_err(|e| {
                GitError::io(
                    format!("copying {} to {}", source.display(), target.display()),
                    e,
                )
            })?;
            *copied += 1;
        }
        // Sockets, fifos and devices are not project content.
    }
    Ok(())
}
