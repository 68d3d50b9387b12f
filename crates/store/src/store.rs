//! The connection to the project database: opening and migrating it, and
//! every write as one `BEGIN IMMEDIATE` transaction retried while SQLite is
//! busy (or as a savepoint of an open group transaction, `group.rs`).

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use crate::error::StoreError;
use crate::group::Group;
use crate::schema::{self, SCHEMA_VERSION};

/// How many times SQLite's busy handler waits for a lock before reporting
/// busy (about ten seconds of short waits, see [`wait_for_lock`]).
const BUSY_ATTEMPTS: i32 = 5000;
/// Prepared statements a connection keeps for reuse.
const STATEMENTS_KEPT: usize = 128;
/// How long a write keeps retrying a busy database before giving up, unless
/// the store was opened with another budget ([`Store::open_existing_within`]).
pub const WRITE_RETRY_LIMIT: Duration = Duration::from_secs(60);
/// What the WAL file is cut back to when SQLite restarts it after a
/// checkpoint (`PRAGMA journal_size_limit`). Without a limit the file keeps
/// the size of its largest burst for good (hundreds of MB beside a 5 MB
/// database under thousands of concurrent writes). Four times the automatic
/// checkpoint threshold (1000 pages of 4 KiB), so an ordinary WAL never pays
/// for being cut.
pub const WAL_SIZE_LIMIT: i64 = 16 * 1024 * 1024;

/// A connection to the project database. Not `Sync`: each thread or process
/// opens its own.
pub struct Store {
    pub(crate) conn: Connection,
    path: PathBuf,
    /// How long one write (or opening) waits for a busy database in all.
    busy_budget: Duration,
    /// Whether writes join an open group transaction (`group.rs`).
    pub(crate) group: Group,
}

impl Store {
    /// Opens (creating if needed) the database and migrates it to the current
    /// schema. Refuses a database whose schema is newer than this binary.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        Self::open_with(path, OpenFlags::default(), WRITE_RETRY_LIMIT)
    }

    /// Opens an existing database; never creates the file.
    pub fn open_existing(path: &Path) -> Result<Store, StoreError> {
        Self::open_existing_within(path, WRITE_RETRY_LIMIT)
    }

    /// [`Store::open_existing`] for a caller that must not wait long: opening
    /// and every write give up on a database that stays busy for
    /// `busy_budget` (with [`StoreError::Busy`]) instead of the usual minute.
    /// For `enki mcp`, which serves one request at a time.
    pub fn open_existing_within(path: &Path, busy_budget: Duration) -> Result<Store, StoreError> {
        let flags = OpenFlags::default() & !OpenFlags::SQLITE_OPEN_CREATE;
        Self::open_with(path, flags, busy_budget)
    }

    fn open_with(
        path: &Path,
        flags: OpenFlags,
        busy_budget: Duration,
    ) -> Result<Store, StoreError> {
        let open_err = |source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        };
        let conn = Connection::open_with_flags(path, flags).map_err(open_err)?;
        conn.busy_handler(Some(wait_for_lock)).map_err(open_err)?;
        // A statement is parsed (with the triggers it fires) once per
        // connection: the default 16 is fewer than a busy server's tools use.
        conn.set_prepared_statement_cache_capacity(STATEMENTS_KEPT);
        let mut store = Store {
            conn,
            path: path.to_path_buf(),
            busy_budget,
            group: Group::None,
        };
        store.configure()?;
        store.migrate()?;
        Ok(store)
    }

    fn configure(&mut self) -> Result<(), StoreError> {
        retry_busy(self.busy_budget, || {
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
            // on power loss, and avoids an fsync per commit. The size limit
            // is per connection, so every connection sets it. Statement
            // journals (a savepoint's or a statement's undo of pages its
            // transaction had already changed) stay in memory instead of
            // spilling to a temporary file past 64 KiB.
            self.conn.execute_batch(&format!(
                "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;
                 PRAGMA journal_size_limit = {WAL_SIZE_LIMIT};
                 PRAGMA temp_store = MEMORY;"
            ))?;
            Ok(())
        })
    }

    /// Copies the whole WAL into the database and empties the WAL file
    /// (`PRAGMA wal_checkpoint(TRUNCATE)`); `false` when a reader or writer
    /// of another connection kept it from finishing (the busy handler waits
    /// for them first). Meant for a long-lived connection closing cleanly,
    /// not for every close: SQLite already does this when the last
    /// connection closes, and a truncating checkpoint waits for every other
    /// connection's transaction, so dozens of `enki mcp` servers ending
    /// together would queue behind one another for nothing.
    pub fn truncate_wal(&self) -> Result<bool, StoreError> {
        let checkpoint = self
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| {
                row.get::<_, i64>(0)
            });
        match checkpoint.map_err(StoreError::from) {
            Ok(busy) => Ok(busy == 0),
            Err(e) if e.is_busy() => Ok(false),
            Err(e) => Err(e),
        }
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

    /// Changes how long each later write (and its wait for another
    /// connection's write lock) may take in all: a connection shared by
    /// callers with budgets of their own (`enki mcp` over HTTP) is given
    /// each caller's before its writes.
    pub fn set_busy_budget(&mut self, budget: Duration) {
        self.busy_budget = budget;
    }

    pub(crate) fn busy_budget(&self) -> Duration {
        self.busy_budget
    }

    /// Runs `f` in one `BEGIN IMMEDIATE` transaction and commits it. Busy
    /// errors restart the whole transaction (nothing from a failed attempt is
    /// kept); any other error rolls back and is returned. While a group
    /// transaction is open ([`Store::begin_group`]), `f` runs in a savepoint
    /// of it instead: an error rolls back `f`'s changes alone, and the rest
    /// is committed by [`Store::commit_group`].
    pub fn write<T>(
        &mut self,
        mut f: impl FnMut(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        if self.group != Group::None {
            return self.write_in_group(f);
        }
        let conn = &mut self.conn;
        retry_busy(self.busy_budget, || {
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

thread_local! {
    /// When the write this thread is running must give up waiting for the
    /// lock ([`retry_busy`] sets it; SQLite's busy handler takes no context).
    static BUSY_DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// SQLite's built-in busy timeout sleeps in steps of up to 100 ms, which
/// wastes most of the time when many short write transactions queue up (as
/// with dozens of `enki mcp` processes). Short, growing waits keep the lock
/// handed over quickly.
fn wait_for_lock(attempt: i32) -> bool {
    if attempt >= BUSY_ATTEMPTS {
        return false;
    }
    if BUSY_DEADLINE
        .get()
        .is_some_and(|deadline| Instant::now() >= deadline)
    {
        return false;
    }
    let micros = (u64::try_from(attempt).unwrap_or(0) + 1) * 50;
    std::thread::sleep(Duration::from_micros(micros.min(2000)));
    true
}

/// Sets this thread's [`BUSY_DEADLINE`] and puts the earlier one back when dropped.
struct DeadlineGuard(Option<Instant>);

impl DeadlineGuard {
    fn set(deadline: Instant) -> DeadlineGuard {
        DeadlineGuard(BUSY_DEADLINE.replace(Some(deadline)))
    }
}

impl Drop for DeadlineGuard {
    fn drop(&mut self) {
        BUSY_DEADLINE.set(self.0);
    }
}

/// Retries `op` while SQLite reports busy/locked, with a growing pause, for
/// `budget` in all (the busy handler stops waiting at the same deadline).
pub(crate) fn retry_busy<T>(
    budget: Duration,
    mut op: impl FnMut() -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let started = Instant::now();
    let _deadline = DeadlineGuard::set(started + budget);
    let mut pause = Duration::from_millis(1);
    loop {
        match op() {
            Err(e) if e.is_busy() && started.elapsed() < budget => {
                let left = budget.saturating_sub(started.elapsed());
                std::thread::sleep(pause.min(left));
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

    fn wal_len(path: &Path) -> u64 {
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        std::fs::metadata(wal).map(|m| m.len()).unwrap_or(0)
    }

    #[test]
    fn every_connection_limits_the_wal_which_a_burst_leaves_no_bigger_and_a_truncate_empties() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("db.sqlite");
        let writer = Store::open(&path).unwrap();
        let reader = Store::open_existing(&path).unwrap();
        for store in [&writer, &reader] {
            let limit: i64 = store
                .conn
                .query_row("PRAGMA journal_size_limit", [], |r| r.get(0))
                .unwrap();
            assert_eq!(limit, WAL_SIZE_LIMIT);
        }
        writer
            .conn
            .execute_batch("CREATE TABLE burst (data BLOB)")
            .unwrap();
        // A reader inside a transaction keeps every later frame in the WAL,
        // as busy `enki mcp` servers do under load: the file outgrows the limit.
        reader.conn.execute_batch("BEGIN").unwrap();
        let _: i64 = reader
            .conn
            .query_row("SELECT count(*) FROM burst", [], |r| r.get(0))
            .unwrap();
        let burst = WAL_SIZE_LIMIT / (1024 * 1024) + 8;
        for _ in 0..burst {
            writer
                .conn
                .execute("INSERT INTO burst VALUES (zeroblob(1048576))", [])
                .unwrap();
        }
        let grown = wal_len(&path);
        assert!(
            grown > WAL_SIZE_LIMIT as u64,
            "the burst grew the WAL: {grown}"
        );
        reader.conn.execute_batch("COMMIT").unwrap();
        // The next commit's automatic checkpoint copies everything back, and
        // the one after restarts the WAL and cuts the file to the limit.
        for _ in 0..2 {
            writer
                .conn
                .execute("INSERT INTO burst VALUES (zeroblob(16))", [])
                .unwrap();
        }
        let kept = wal_len(&path);
        assert!(
            kept <= WAL_SIZE_LIMIT as u64,
            "cut back to the limit: {kept} of {grown}"
        );
        // A clean close of the coordinator empties it, other connections open or not.
        assert!(writer.truncate_wal().unwrap());
        assert_eq!(wal_len(&path), 0);
        let rows: i64 = reader
            .conn
            .query_row("SELECT count(*) FROM burst", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, burst + 2);
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
            ("attempts", "acp_session"),
            ("attempts", "acp_agent"),
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
    fn a_store_with_a_short_budget_gives_up_on_a_held_lock_in_time_and_writes_after() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("db.sqlite");
        let holder = Store::open(&path).unwrap();
        holder.conn.execute_batch("BEGIN IMMEDIATE").unwrap();
        let started = Instant::now();
        let mut quick = Store::open_existing_within(&path, Duration::from_millis(300)).unwrap();
        assert!(
            started.elapsed() < Duration::from_millis(250),
            "opening reads only"
        );
        let started = Instant::now();
        let err = quick
            .write(|tx| {
                tx.execute(
                    "INSERT INTO sessions (id, started_at) VALUES ('s', 'now')",
                    [],
                )?;
                Ok(())
            })
            .unwrap_err();
        let waited = started.elapsed();
        assert!(matches!(err, StoreError::Busy(_)), "{err}");
        assert!(
            waited >= Duration::from_millis(300) && waited < Duration::from_secs(2),
            "{waited:?}"
        );
        let text = err.to_string();
        assert!(
            text.contains("busy") && text.contains("try again"),
            "{text}"
        );
        // Nothing is left of the budget afterwards: the coordinator's long
        // waits are untouched, and the lock, once free, is taken at once.
        assert_eq!(BUSY_DEADLINE.get(), None);
        holder.conn.execute_batch("COMMIT").unwrap();
        quick
            .write(|tx| {
                tx.execute(
                    "INSERT INTO sessions (id, started_at) VALUES ('s', 'now')",
                    [],
                )?;
                Ok(())
            })
            .unwrap();
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
