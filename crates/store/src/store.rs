//! The connection to the project database: opening and migrating it, and
//! every write as one `BEGIN IMMEDIATE` transaction retried while SQLite is busy.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};

use crate::error::StoreError;
use crate::schema::{self, SCHEMA_VERSION};

/// How many times SQLite's busy handler waits for a lock before reporting
/// busy (about ten seconds of short waits, see [`wait_for_lock`]).
const BUSY_ATTEMPTS: i32 = 5000;
/// How long a write keeps retrying a busy database before giving up.
const WRITE_RETRY_LIMIT: Duration = Duration::from_secs(60);

/// A connection to the project database. Not `Sync`: each thread or process
/// opens its own.
pub struct Store {
    pub(crate) conn: Connection,
    path: PathBuf,
}

impl Store {
    /// Opens (creating if needed) the database and migrates it to the current
    /// schema. Refuses a database whose schema is newer than this binary.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        Self::open_with(path, OpenFlags::default())
    }

    /// Opens an existing database; never creates the file.
    pub fn open_existing(path: &Path) -> Result<Store, StoreError> {
        let flags = OpenFlags::default() & !OpenFlags::SQLITE_OPEN_CREATE;
        Self::open_with(path, flags)
    }

    fn open_with(path: &Path, flags: OpenFlags) -> Result<Store, StoreError> {
        let open_err = |source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        };
        let conn = Connection::open_with_flags(path, flags).map_err(open_err)?;
        conn.busy_handler(Some(wait_for_lock)).map_err(open_err)?;
        let mut store = Store {
            conn,
            path: path.to_path_buf(),
        };
        store.configure()?;
        store.migrate()?;
        Ok(store)
    }

    fn configure(&mut self) -> Result<(), StoreError> {
        retry_busy(|| {
            // journal_mode answers with a row, so read it rather than execute.
            let mode: String = self
                .conn
                .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
            if !mode.eq_ignore_ascii_case("wal") {
                return Err(StoreError::Corrupt(format!(
                    "the database refused WAL mode (journal mode is '{mode}')"
                )));
            }
            // NORMAL is durable in WAL mode except for the last transactions
            // on power loss, and avoids an fsync per commit.
            self.conn
                .execute_batch("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;")?;
            Ok(())
        })
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        let found = schema::user_version(&self.conn)?;
        if found > SCHEMA_VERSION {
            return Err(self.too_new(found));
        }
        if found == SCHEMA_VERSION {
            return Ok(());
        }
        let path = self.path.clone();
        self.write(|tx| {
            // Another process may have migrated while we waited for the lock.
            let now = schema::user_version(tx)?;
            if now > SCHEMA_VERSION {
                return Err(StoreError::TooNew {
                    path: path.clone(),
                    found: now,
                    supported: SCHEMA_VERSION,
                });
            }
            schema::migrate(tx, now)?;
            Ok(())
        })
    }

    fn too_new(&self, found: i64) -> StoreError {
        StoreError::TooNew {
            path: self.path.clone(),
            found,
            supported: SCHEMA_VERSION,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` in one `BEGIN IMMEDIATE` transaction and commits it. Busy
    /// errors restart the whole transaction (nothing from a failed attempt is
    /// kept); any other error rolls back and is returned.
    pub fn write<T>(
        &mut self,
        mut f: impl FnMut(&Transaction<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let conn = &mut self.conn;
        retry_busy(|| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let value = f(&tx)?;
            tx.commit()?;
            Ok(value)
        })
    }

    /// The raw connection, for reads.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }
}

/// SQLite's built-in busy timeout sleeps in steps of up to 100 ms, which
/// wastes most of the time when many short write transactions queue up (as
/// with dozens of `enki mcp` processes). Short, growing waits keep the lock
/// handed over quickly.
fn wait_for_lock(attempt: i32) -> bool {
    if attempt >= BUSY_ATTEMPTS {
        return false;
    }
    let micros = (u64::try_from(attempt).unwrap_or(0) + 1) * 50;
    std::thread::sleep(Duration::from_micros(micros.min(2000)));
    true
}

/// Retries `op` while SQLite reports busy/locked, with a growing pause.
fn retry_busy<T>(mut op: impl FnMut() -> Result<T, StoreError>) -> Result<T, StoreError> {
    let started = Instant::now();
    let mut pause = Duration::from_millis(1);
    loop {
        match op() {
            Err(e) if e.is_busy() && started.elapsed() < WRITE_RETRY_LIMIT => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            Err(e) if e.is_busy() => return Err(StoreError::Busy(started.elapsed())),
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_sets_wal_foreign_keys_and_schema_version() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("db.sqlite");
        let store = Store::open(&path).unwrap();
        let mode: String = store
            .conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        let fk: i64 = store
            .conn
            .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
            .unwrap();
        assert_eq!(fk, 1);
        assert_eq!(schema::user_version(&store.conn).unwrap(), SCHEMA_VERSION);
        drop(store);
        // Reopening an up-to-date database is a no-op.
        Store::open(&path).unwrap();
    }

    #[test]
    fn an_older_database_is_migrated_keeping_its_rows() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("db.sqlite");
        // A version-1 database with a row in it, as the first release wrote.
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("BEGIN").unwrap();
        conn.execute_batch(schema::MIGRATIONS[0]).unwrap();
        conn.execute_batch(
            "PRAGMA user_version = 1;
             INSERT INTO sessions (id, started_at) VALUES ('sess-old', 'then');
             COMMIT;",
        )
        .unwrap();
        drop(conn);

        let store = Store::open(&path).unwrap();
        assert_eq!(schema::user_version(&store.conn).unwrap(), SCHEMA_VERSION);
        let kept: i64 = store
            .conn
            .query_row(
                "SELECT count(*) FROM sessions WHERE id = 'sess-old'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(kept, 1);
        // Every later migration's columns are there.
        for (table, column) in [
            ("attempts", "agent_pgid"),
            ("merge_requests", "landing_commit"),
            ("merge_requests", "phase"),
            ("executions", "base_branch"),
        ] {
            let found: i64 = store
                .conn
                .query_row(
                    "SELECT count(*) FROM pragma_table_info(?1) WHERE name = ?2",
                    [table, column],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(found, 1, "{table}.{column}");
        }
    }

    #[test]
    fn a_newer_schema_is_refused_with_a_clear_message() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("db.sqlite");
        let store = Store::open(&path).unwrap();
        store
            .conn
            .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        drop(store);
        let err = Store::open(&path).err().unwrap();
        assert!(matches!(err, StoreError::TooNew { .. }));
        let text = err.to_string();
        assert!(text.contains("newer than this enki understands"), "{text}");
    }

    #[test]
    fn open_existing_does_not_create_files() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("missing.sqlite");
        assert!(Store::open_existing(&path).is_err());
        assert!(!path.exists());
    }

    #[test]
    fn a_failed_write_leaves_nothing_behind() {
        let tmp = tempfile::tempdir().unwrap();
        let mut store = Store::open(&tmp.path().join("db.sqlite")).unwrap();
        let result: Result<(), StoreError> = store.write(|tx| {
            tx.execute(
                "INSERT INTO sessions (id, started_at) VALUES ('sess-x', 'now')",
                [],
            )?;
            Err(StoreError::invalid("stop here"))
        });
        assert!(result.is_err());
        let count: i64 = store
            .conn
            .query_row("SELECT count(*) FROM sessions", [], |r| r.get(0))
            .unwrap();
        assert_eq!(count, 0);
    }
}
