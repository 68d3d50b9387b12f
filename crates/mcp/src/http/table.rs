//! The token table (`--token-table FILE`): tokens that carry their caller's
//! identity, written by the coordinator (or a person) in a file only its
//! owner can read and write.
//!
//! ```json
//! {"tokens": [{"token": "…", "role": "worker", "task_id": "task-01…", "no_edit": false}]}
//! ```
//!
//! or the same in TOML (a `.toml` file, `[[tokens]]` tables). The file is
//! checked and read at start (a problem refuses to start) and read again
//! whenever it changes (its inode, size, mtime or ctime): writers replace it
//! by renaming a new file over it. A table that changed into something
//! unusable refuses every request until it is fixed: it fails closed, never
//! back to a table it no longer says.

use std::fs::{File, Metadata};
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use serde::Deserialize;

use super::Identity;
use super::auth::{check_token_text, tokens_match};
use crate::roles::McpRole;

pub(crate) struct TokenTable {
    /// The file, read again when it changes; `None` for a table fed on
    /// stdin ([`super::feed`]).
    path: Option<PathBuf>,
    state: Arc<Mutex<Loaded>>,
}

pub(super) struct Loaded {
    stamp: Option<Stamp>,
    /// The entries, or why the file cannot be used.
    entries: Result<Vec<Entry>, String>,
}

pub(super) struct Entry {
    token: Vec<u8>,
    identity: Identity,
}

/// What tells that the file changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stamp {
    fn of(meta: &Metadata) -> Stamp {
        Stamp {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TableFile {
    tokens: Vec<EntryFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryFile {
    token: String,
    role: String,
    #[serde(default)]
    task_id: Option<String>,
    #[serde(default)]
    no_edit: bool,
}

impl TokenTable {
    /// Reads the table at start; any problem is an error that names the
    /// file and what to do.
    pub fn load(path: &Path) -> Result<TokenTable, String> {
        let (stamp, entries) = read_checked(path)?;
        Ok(TokenTable {
            path: Some(path.to_path_buf()),
            state: Arc::new(Mutex::new(Loaded {
                stamp: Some(stamp),
                entries: Ok(entries),
            })),
        })
    }

    /// An empty table (every token refused) whose entries are set by
    /// `replace` through the returned handle.
    pub(super) fn fed() -> (TokenTable, Feed) {
        let state = Arc::new(Mutex::new(Loaded {
            stamp: None,
            entries: Ok(Vec::new()),
        }));
        let feed = Feed(Arc::clone(&state));
        (TokenTable { path: None, state }, feed)
    }

    /// The identity of a presented token (`None`: no such token), reading
    /// the file again when it changed. `Err`: the table cannot be used.
    pub fn lookup(&self, presented: &[u8]) -> Result<Option<Identity>, String> {
        let mut loaded = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(path) = &self.path {
            reload_if_changed(path, &mut loaded);
        }
        let entries = loaded.entries.as_ref().map_err(Clone::clone)?;
        // Every entry is compared, so the time taken does not say which
        // one matched.
        let mut found = None;
        for entry in entries {
            if tokens_match(&entry.token, presented) && found.is_none() {
                found = Some(entry.identity.clone());
            }
        }
        Ok(found)
    }
}

/// Sets the entries of a table fed on stdin.
pub(super) struct Feed(Arc<Mutex<Loaded>>);

impl Feed {
    /// Replaces the whole table with the one in `text` (JSON); a table that
    /// does not parse refuses every request until a good one arrives.
    pub fn replace(&self, text: &str) -> Result<usize, String> {
        let parsed = parse(Path::new("-"), text);
        let mut loaded = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let result = parsed.as_ref().map(Vec::len).map_err(Clone::clone);
        loaded.entries = parsed;
        result
    }
}

/// Reads the file again when its stamp changed.
fn reload_if_changed(path: &Path, loaded: &mut Loaded) {
    let now = std::fs::metadata(path).map(|m| Stamp::of(&m)).ok();
    if now.is_none() || now != loaded.stamp {
        *loaded = match read_checked(path) {
            Ok((stamp, entries)) => {
                tracing::info!(entries = entries.len(), "token table read again");
                Loaded {
                    stamp: Some(stamp),
                    entries: Ok(entries),
                }
            }
            Err(reason) => {
                if loaded.entries.as_ref().err() != Some(&reason) {
                    tracing::warn!("{reason}; every request is refused until it is fixed");
                }
                Loaded {
                    stamp: now,
                    entries: Err(reason),
                }
            }
        };
    }
}

/// Opens the file, checks who may change it, and parses it.
fn read_checked(path: &Path) -> Result<(Stamp, Vec<Entry>), String> {
    let shown = path.display();
    let mut file =
        File::open(path).map_err(|e| format!("token table {shown}: cannot open it: {e}"))?;
    let meta = file
        .metadata()
        .map_err(|e| format!("token table {shown}: cannot read its metadata: {e}"))?;
    check_permissions(path, &meta)?;
    let mut text = String::new();
    file.read_to_string(&mut text)
        .map_err(|e| format!("token table {shown}: cannot read it as UTF-8 text: {e}"))?;
    let entries = parse(path, &text).map_err(|e| format!("token table {shown}: {e}"))?;
    Ok((Stamp::of(&meta), entries))
}

/// The owner's id: `geteuid`, which std does not expose.
fn effective_uid() -> u32 {
    // SAFETY: geteuid takes no arguments, touches no memory and cannot fail.
    #[allow(unsafe_code)]
    unsafe {
        libc::geteuid()
    }
}

/// A table of tokens is a secret and a grant of roles: only its owner, who
/// must be the user running the server, may read or change it, and its
/// folder may not let others swap it.
fn check_permissions(path: &Path, meta: &Metadata) -> Result<(), String> {
    let shown = path.display();
    if !meta.is_file() {
        return Err(format!("token table {shown}: not a regular file"));
    }
    let uid = effective_uid();
    if meta.uid() != uid {
        return Err(format!(
            "token table {shown}: owned by uid {}, not by the user running enki (uid {uid}); only the server's own user may grant roles: recreate it as that user",
            meta.uid()
        ));
    }
    let mode = meta.mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(format!(
            "token table {shown}: mode {mode:03o} lets other users read or change the tokens; run `chmod 600 {shown}`"
        ));
    }
    let canonical = path.canonicalize().ok();
    let folders = [path.parent(), canonical.as_deref().and_then(Path::parent)];
    for folder in folders.into_iter().flatten() {
        let folder = if folder.as_os_str().is_empty() {
            Path::new(".")
        } else {
            folder
        };
        let Ok(dir) = std::fs::metadata(folder) else {
            continue;
        };
        let sticky = dir.mode() & 0o1000 != 0;
        if dir.mode() & 0o022 != 0 && !sticky {
            return Err(format!(
                "token table {shown}: its folder {} is writable by other users, who could replace the file; keep the table in a folder only you can write",
                folder.display()
            ));
        }
    }
    Ok(())
}

/// JSON, or TOML for a `.toml` file. Error messages name the entry by its
/// index, never by its token.
fn parse(path: &Path, text: &str) -> Result<Vec<Entry>, String> {
    let is_toml = path.extension().is_some_and(|e| e == "toml");
    let file: TableFile = if is_toml {
        toml::from_str(text).map_err(|e| {
            // `Display` would quote the offending line, which may hold a token.
            let line = e
                .span()
                .map(|span| text[..span.start.min(text.len())].lines().count().max(1));
            match line {
                Some(line) => format!("not a valid token table at line {line}: {}", e.message()),
                None => format!("not a valid token table: {}", e.message()),
            }
        })?
    } else {
        serde_json::from_str(text).map_err(|e| {
            format!(
                "not a valid token table: {e} (expected {{\"tokens\": [{{\"token\", \"role\", \"task_id\", \"no_edit\"}}]}})"
            )
        })?
    };
    let mut entries: Vec<Entry> = Vec::with_capacity(file.tokens.len());
    for (index, entry) in file.tokens.into_iter().enumerate() {
        let at = format!("tokens[{index}]");
        check_token_text(&entry.token).map_err(|e| format!("{at}: the token {e}"))?;
        let role: McpRole = entry.role.parse().map_err(|e| format!("{at}: {e}"))?;
        let task_id = entry.task_id.filter(|t| !t.trim().is_empty());
        if role != McpRole::Planner && task_id.is_none() {
            return Err(format!(
                "{at}: a {role} token needs the `task_id` of the task it works for"
            ));
        }
        if let Some(same) = entries
            .iter()
            .position(|e| tokens_match(&e.token, entry.token.as_bytes()))
        {
            return Err(format!(
                "tokens[{same}] and {at} are the same token; each token must be unique"
            ));
        }
        entries.push(Entry {
            token: entry.token.into_bytes(),
            identity: Identity {
                role,
                task_id,
                no_edit: entry.no_edit,
            },
        });
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn write(dir: &Path, name: &str, text: &str, mode: u32) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    fn private_dir() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        dir
    }

    const JSON: &str = r#"{"tokens": [
        {"token": "plan-tok", "role": "planner"},
        {"token": "work-tok", "role": "worker", "task_id": "task-01ABC", "no_edit": true}
    ]}"#;

    #[test]
    fn json_and_toml_tables_give_each_token_its_identity() {
        let dir = private_dir();
        let toml = "[[tokens]]\ntoken = \"plan-tok\"\nrole = \"planner\"\n\n[[tokens]]\ntoken = \"work-tok\"\nrole = \"worker\"\ntask_id = \"task-01ABC\"\nno_edit = true\n";
        for path in [
            write(dir.path(), "t.json", JSON, 0o600),
            write(dir.path(), "t.toml", toml, 0o600),
        ] {
            let table = TokenTable::load(&path).expect("a valid table");
            let worker = table.lookup(b"work-tok").unwrap().expect("known token");
            assert_eq!(worker.role, McpRole::Worker);
            assert_eq!(worker.task_id.as_deref(), Some("task-01ABC"));
            assert!(worker.no_edit);
            assert_eq!(
                table.lookup(b"plan-tok").unwrap().map(|i| i.role),
                Some(McpRole::Planner)
            );
            assert!(table.lookup(b"other").unwrap().is_none());
        }
    }

    #[test]
    fn a_table_others_may_read_or_change_is_refused_with_the_fix() {
        let dir = private_dir();
        for mode in [0o644, 0o620, 0o604] {
            let path = write(dir.path(), "t.json", JSON, mode);
            let err = TokenTable::load(&path).err().expect("refused");
            assert!(err.contains("chmod 600"), "{mode:o}: {err}");
        }
        let open_dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(open_dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let path = write(open_dir.path(), "t.json", JSON, 0o600);
        let err = TokenTable::load(&path).err().expect("refused");
        assert!(err.contains("writable by other users"), "{err}");
    }

    #[test]
    fn bad_entries_are_named_by_index_never_by_token() {
        let dir = private_dir();
        let cases = [
            (
                r#"{"tokens": [{"token": "secret-1", "role": "wizard"}]}"#,
                "tokens[0]: unknown role",
            ),
            (
                r#"{"tokens": [{"token": "secret-1", "role": "worker"}]}"#,
                "needs the `task_id`",
            ),
            (
                r#"{"tokens": [{"token": "secret-1", "role": "planner"}, {"token": "secret-1", "role": "planner"}]}"#,
                "tokens[0] and tokens[1] are the same token",
            ),
            (
                r#"{"tokens": [{"token": "secret 1", "role": "planner"}]}"#,
                "visible ASCII",
            ),
        ];
        for (text, expected) in cases {
            let path = write(dir.path(), "t.json", text, 0o600);
            let err = TokenTable::load(&path).err().expect("refused");
            assert!(err.contains(expected), "{err}");
            assert!(!err.contains("secret"), "the token leaked: {err}");
        }
        let path = write(
            dir.path(),
            "t.toml",
            "[[tokens]]\ntoken = \"secret-1\"\nrole = 5\n",
            0o600,
        );
        let err = TokenTable::load(&path).err().expect("refused");
        assert!(err.contains("line 3"), "{err}");
        assert!(!err.contains("secret"), "the token leaked: {err}");
    }

    #[test]
    fn a_changed_table_is_read_again_and_a_broken_one_refuses_everything() {
        let dir = private_dir();
        let path = write(dir.path(), "t.json", JSON, 0o600);
        let table = TokenTable::load(&path).unwrap();
        assert!(table.lookup(b"work-tok").unwrap().is_some());
        // Replaced by rename, as writers should.
        let next = write(
            dir.path(),
            "next.json",
            r#"{"tokens": [{"token": "new-tok", "role": "planner"}]}"#,
            0o600,
        );
        std::fs::rename(&next, &path).unwrap();
        assert!(table.lookup(b"work-tok").unwrap().is_none(), "revoked");
        assert!(table.lookup(b"new-tok").unwrap().is_some(), "granted");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
        let err = table.lookup(b"new-tok").expect_err("fails closed");
        assert!(err.contains("chmod 600"), "{err}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(table.lookup(b"new-tok").unwrap().is_some(), "fixed");
    }
}
