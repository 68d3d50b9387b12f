//! Reads of git's own files that spare a git process: where a HEAD points,
//! a loose ref's commit, a reflog's messages.
//!
//! Only the repository's administrative files are read (the common git dir
//! and a worktree's directory in it, never anything in a work tree), and
//! only when the repository keeps its refs as files: with the reftable
//! backend, or whenever a file says something unexpected, these return
//! `None` and the caller asks git. The one write, [`write_new_loose_ref`],
//! is of a ref of enki's own that no one else writes, done as git does it.

use std::path::Path;

/// What a HEAD file says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Head {
    /// `ref: refs/heads/<branch>`.
    Branch(String),
    /// A commit id (detached).
    Detached(String),
}

/// Whether the repository whose common dir is `common` keeps its refs in
/// files (`refs/`, `packed-refs`), which is what these reads understand.
pub(crate) fn files_backend(common: &Path) -> bool {
    !common.join("reftable").exists()
}

/// The HEAD of the git dir `git_dir` (a repository's, or a worktree's
/// directory in its common dir).
pub(crate) fn read_head(git_dir: &Path) -> Option<Head> {
    let text = std::fs::read_to_string(git_dir.join("HEAD")).ok()?;
    let text = text.trim_end_matches(['\n', '\r']);
    if let Some(target) = text.strip_prefix("ref: ") {
        let branch = target.strip_prefix("refs/heads/")?;
        return (!branch.is_empty()).then(|| Head::Branch(branch.to_string()));
    }
    is_object_id(text).then(|| Head::Detached(text.to_string()))
}

/// The commit a loose ref (`refs/heads/…`) names, when it is a loose file
/// (a ref git just updated always is); `None` when it is packed or absent.
pub(crate) fn read_loose_ref(common: &Path, name: &str) -> Option<String> {
    if name.split('/').any(|part| part.is_empty() || part == "..") {
        return None;
    }
    let text = std::fs::read_to_string(common.join(name)).ok()?;
    let id = text.trim_end_matches(['\n', '\r']);
    is_object_id(id).then(|| id.to_string())
}

/// Creates the loose ref `name` (one of enki's own, `refs/enki/…`, that no
/// other program writes) pointing at `id`, as git does: its lock file made
/// exclusively (one a killed enki left is taken over), written, then
/// renamed into place. False when that is not for certain the whole story
/// (another backend, a name or id that looks wrong, the ref there already,
/// any error): the caller asks git then.
pub(crate) fn write_new_loose_ref(common: &Path, name: &str, id: &str) -> bool {
    let plain = |part: &str| {
        !part.is_empty()
            && part
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    let Some(rest) = name.strip_prefix("refs/enki/") else {
        return false;
    };
    if !files_backend(common) || !is_object_id(id) || !rest.split('/').all(plain) {
        return false;
    }
    let path = common.join(name);
    let lock = path.with_file_name(format!("{}.lock", rest.rsplit('/').next().unwrap_or(rest)));
    if path.exists()
        || path
            .parent()
            .is_none_or(|dir| std::fs::create_dir_all(dir).is_err())
    {
        return false;
    }
    let create = || {
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&lock)
    };
    let file = match create() {
        Ok(file) => file,
        // Nothing else writes this ref, and nothing of this enki writes it
        // now (its landing is this one): a lock there is what an enki killed
        // while writing it left (it writes it in its own process, so a kill
        // can leave one). It is taken over, once.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            match std::fs::remove_file(&lock).map(|()| create()) {
                Ok(Ok(file)) => file,
                _ => return false,
            }
        }
        Err(_) => return false,
    };
    if std::io::Write::write_all(&mut &file, format!("{id}\n").as_bytes()).is_err() {
        let _ = std::fs::remove_file(&lock);
        return false;
    }
    if std::fs::rename(&lock, &path).is_err() {
        let _ = std::fs::remove_file(&lock);
        return false;
    }
    true
}

/// Whether the ref `name` exists, loose or packed; `None` when unsure.
pub(crate) fn ref_exists(common: &Path, name: &str) -> Option<bool> {
    if read_loose_ref(common, name).is_some() {
        return Some(true);
    }
    if common.join(name).exists() {
        return None;
    }
    match std::fs::read_to_string(common.join("packed-refs")) {
        // `<id> <name>` lines (and `^<id>` lines for peeled tags).
        Ok(text) => Some(
            text.lines()
                .any(|line| line.split_once(' ').is_some_and(|(_, r)| r == name)),
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some(false),
        Err(_) => None,
    }
}

/// The messages of the reflog of HEAD in `git_dir`, oldest first; empty
/// when there is none.
pub(crate) fn head_reflog_messages(git_dir: &Path) -> Option<Vec<String>> {
    let text = match std::fs::read_to_string(git_dir.join("logs").join("HEAD")) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Some(Vec::new()),
        Err(_) => return None,
    };
    // `<old> <new> <name> <email> <time> <zone>\t<message>`, the tab and
    // message left out when there is none.
    Some(
        text.lines()
            .filter_map(|line| line.split_once('\t'))
            .map(|(_, message)| message.to_string())
            .collect(),
    )
}

fn is_object_id(text: &str) -> bool {
    matches!(text.len(), 40 | 64) && text.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_names_a_branch_or_a_commit_or_is_not_understood() {
        let dir = tempfile::tempdir().unwrap();
        let head = |text: &str| {
            std::fs::write(dir.path().join("HEAD"), text).unwrap();
            read_head(dir.path())
        };
        assert_eq!(
            head("ref: refs/heads/enki/t1\n"),
            Some(Head::Branch("enki/t1".into()))
        );
        let id = "0123456789abcdef0123456789abcdef01234567";
        assert_eq!(head(&format!("{id}\n")), Some(Head::Detached(id.into())));
        assert_eq!(head("ref: refs/tags/x\n"), None);
        assert_eq!(head("garbage"), None);
    }

    #[test]
    fn a_loose_ref_is_read_and_an_odd_name_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let id = "0123456789abcdef0123456789abcdef01234567";
        std::fs::create_dir_all(dir.path().join("refs/heads/enki")).unwrap();
        std::fs::write(dir.path().join("refs/heads/enki/t1"), format!("{id}\n")).unwrap();
        assert_eq!(
            read_loose_ref(dir.path(), "refs/heads/enki/t1").as_deref(),
            Some(id)
        );
        assert_eq!(read_loose_ref(dir.path(), "refs/heads/missing"), None);
        assert_eq!(read_loose_ref(dir.path(), "refs/../HEAD"), None);
    }

    #[test]
    fn a_ref_exists_loose_or_packed() {
        let dir = tempfile::tempdir().unwrap();
        let id = "0123456789abcdef0123456789abcdef01234567";
        assert_eq!(ref_exists(dir.path(), "refs/heads/a"), Some(false));
        std::fs::write(
            dir.path().join("packed-refs"),
            format!("# pack-refs with: peeled\n{id} refs/heads/a\n"),
        )
        .unwrap();
        assert_eq!(ref_exists(dir.path(), "refs/heads/a"), Some(true));
        assert_eq!(ref_exists(dir.path(), "refs/heads/b"), Some(false));
        std::fs::create_dir_all(dir.path().join("refs/heads")).unwrap();
        std::fs::write(dir.path().join("refs/heads/b"), format!("{id}\n")).unwrap();
        assert_eq!(ref_exists(dir.path(), "refs/heads/b"), Some(true));
    }

    #[test]
    fn reflog_messages_follow_the_tab() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(head_reflog_messages(dir.path()), Some(Vec::new()));
        std::fs::create_dir_all(dir.path().join("logs")).unwrap();
        std::fs::write(
            dir.path().join("logs/HEAD"),
            "0000 1111 A <a@b> 0 +0000\n0000 1111 A <a@b> 1 +0000\tcheckout: moving from x to y\n1111 2222 A <a@b> 2 +0000\tcommit: z\n",
        )
        .unwrap();
        assert_eq!(
            head_reflog_messages(dir.path()).unwrap(),
            vec!["checkout: moving from x to y", "commit: z"]
        );
    }
}
