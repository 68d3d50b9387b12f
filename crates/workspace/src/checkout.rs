//! Moving the user's checkout with the base branch, all or nothing: a
//! two-tree `read-tree -m -u` either refuses before writing anything (the
//! user's edits are in the way) or fails while writing (a full disk, a
//! read-only file), and then what it wrote is put back, so the checkout is
//! never left half-moved nor with files the user never made.

use crate::git::{Git, GitError};

/// How an update of the checkout from one tree to another ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CheckoutMove {
    Moved,
    /// Refused before anything was written: the user's changes are in the way.
    Refused {
        detail: String,
    },
    /// Writing failed; what was written is put back.
    WriteFailed {
        detail: String,
    },
}

/// What git says when writing the work tree or the index fails, as opposed
/// to refusing up front.
const WRITE_ERRORS: &[&str] = &[
    "No space left on device",
    "Disk quota exceeded",
    "Read-only file system",
    "Input/output error",
    "unable to create",
    "unable to write",
    "unable to unlink",
    "short write",
];

/// Whether git's error says it could not write (a full disk, a read-only
/// file system) rather than refusing.
pub fn is_write_failure(stderr: &str) -> bool {
    WRITE_ERRORS.iter().any(|marker| stderr.contains(marker))
}

/// Updates the index and work tree from `old` to `new` (the base branch is
/// checked out at `old`).
pub(crate) fn move_checkout(project: &Git, old: &str, new: &str) -> Result<CheckoutMove, GitError> {
    let update = project.output(&["read-tree", "-m", "-u", old, new])?;
    if update.status.success() {
        return Ok(CheckoutMove::Moved);
    }
    let detail = String::from_utf8_lossy(&update.stderr).trim().to_string();
    if !is_write_failure(&detail) {
        return Ok(CheckoutMove::Refused { detail });
    }
    let restored = restore(project, old, new);
    let detail = match restored {
        Ok(()) => detail,
        Err(e) => format!("{detail}\n(putting the checkout back failed too: {e})"),
    };
    Ok(CheckoutMove::WriteFailed { detail })
}

/// Puts back the files a failed update from `old` to `new` may have
/// written. The update checks every path before writing any, so all of them
/// were clean: the index (still at `old`, git writes it last) is the truth.
fn restore(project: &Git, old: &str, new: &str) -> Result<(), GitError> {
    let changed = project.run(&["diff", "--name-status", "-z", "--no-renames", old, new])?;
    let mut fields = changed.split('\0').filter(|f| !f.is_empty());
    let mut from_index = Vec::new();
    while let (Some(status), Some(path)) = (fields.next(), fields.next()) {
        if status == "A" {
            // Not in `old`: whatever is there now was written by the update.
            let file = project.dir().join(path);
            if file.is_file() || file.is_symlink() {
                std::fs::remove_file(&file)
                    .map_err(|e| GitError::Invalid(format!("removing {}: {e}", file.display())))?;
            }
        } else {
            from_index.push(path.to_string());
        }
    }
    if from_index.is_empty() {
        return Ok(());
    }
    let mut args = vec!["checkout-index", "--force", "--"];
    args.extend(from_index.iter().map(String::as_str));
    project.run(&args).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_failures_are_told_apart_from_refusals() {
        assert!(is_write_failure(
            "error: unable to write file a.txt\nfatal: No space left on device"
        ));
        assert!(!is_write_failure(
            "error: Entry 'a.txt' not uptodate. Cannot merge."
        ));
        assert!(!is_write_failure(
            "error: The following untracked working tree files would be overwritten by merge:\n\ta.txt"
        ));
    }
}
