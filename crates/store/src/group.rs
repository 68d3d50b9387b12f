//! Group commit: the writes of many callers in one transaction, each in a
//! savepoint of its own, made durable by one commit for all of them.
//!
//! A commit writes every page the transaction changed to the WAL, so
//! callers that each insert a row into the same few pages pay for those
//! pages once per group instead of once each; the write lock is taken and
//! the other connections' caches are invalidated once per group too. What a
//! caller may tell its client depends on the group's commit: a write that
//! returned `Ok` inside a group is only kept once [`Store::commit_group`]
//! returned `Ok`.

use rusqlite::Connection;

use crate::error::StoreError;
use crate::store::{Store, retry_busy};

/// Whether a connection's writes join an open group transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Group {
    /// No group: each write is a transaction of its own.
    None,
    /// A group transaction is open: each write is a savepoint of it.
    Open,
    /// SQLite rolled the whole group transaction back (an I/O error, a full
    /// disk): the writes made in it are gone, and later ones are refused
    /// until [`Store::commit_group`] reports it.
    Lost(String),
}

impl Store {
    /// Opens a group transaction (`BEGIN IMMEDIATE`, waiting for another
    /// process's write lock within this store's busy budget): later writes
    /// on this connection are savepoints of it until
    /// [`Store::commit_group`]. Opening one that is open already changes
    /// nothing.
    pub fn begin_group(&mut self) -> Result<(), StoreError> {
        match &self.group {
            Group::Open => return Ok(()),
            Group::Lost(why) => return Err(StoreError::GroupLost(why.clone())),
            Group::None => {}
        }
        let conn = &self.conn;
        retry_busy(self.busy_budget(), || {
            conn.prepare_cached("BEGIN IMMEDIATE")?.execute([])?;
            Ok(())
        })?;
        self.group = Group::Open;
        Ok(())
    }

    /// Whether a group transaction is open (or was, and is lost).
    pub fn in_group(&self) -> bool {
        self.group != Group::None
    }

    /// Whether a group transaction is open and still holds its writes
    /// (SQLite did not roll it back under them).
    pub fn group_intact(&self) -> bool {
        self.group == Group::Open
    }

    /// Commits the open group transaction: every write that returned `Ok`
    /// in it is kept, or none is (the error says why). Without a group,
    /// nothing to do.
    pub fn commit_group(&mut self) -> Result<(), StoreError> {
        match std::mem::replace(&mut self.group, Group::None) {
            Group::None => Ok(()),
            Group::Lost(why) => Err(StoreError::GroupLost(why)),
            Group::Open => {
                let committed = self
                    .conn
                    .prepare_cached("COMMIT")
                    .and_then(|mut commit| commit.execute([]));
                committed.map(drop).map_err(|e| {
                    // SQLite may leave the transaction open after a failed
                    // commit; nothing of it is to be kept.
                    if !self.conn.is_autocommit() {
                        let _ = self.conn.execute_batch("ROLLBACK");
                    }
                    StoreError::GroupLost(e.to_string())
                })
            }
        }
    }

    /// [`Store::write`] inside the open group: `f` in a savepoint, released
    /// on `Ok`, rolled back on an error or a panic. An error after which
    /// SQLite had rolled back the whole transaction loses the group.
    pub(crate) fn write_in_group<T>(
        &mut self,
        mut f: impl FnMut(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        if let Group::Lost(why) = &self.group {
            return Err(StoreError::GroupLost(why.clone()));
        }
        let written = Savepoint::open(&self.conn).and_then(|savepoint| {
            let value = f(&self.conn)?;
            savepoint.release()?;
            Ok(value)
        });
        if let Err(e) = &written
            && self.conn.is_autocommit()
        {
            self.group = Group::Lost(e.to_string());
        }
        written
    }
}

/// One write's savepoint: rolled back and released when dropped unless
/// [`Savepoint::release`]d (rusqlite's own parses its statements each time).
struct Savepoint<'c> {
    conn: &'c Connection,
    released: bool,
}

impl<'c> Savepoint<'c> {
    fn open(conn: &'c Connection) -> Result<Savepoint<'c>, StoreError> {
        conn.prepare_cached("SAVEPOINT enki_write")?.execute([])?;
        Ok(Savepoint {
            conn,
            released: false,
        })
    }

    /// Keeps the write in the group; a failure rolls it back (the drop).
    fn release(mut self) -> Result<(), StoreError> {
        self.conn
            .prepare_cached("RELEASE enki_write")?
            .execute([])?;
        self.released = true;
        Ok(())
    }
}

impl Drop for Savepoint<'_> {
    fn drop(&mut self) {
        // After a failure that rolled back the whole transaction there is
        // no savepoint left to roll back to: nothing to undo.
        if self.released || self.conn.is_autocommit() {
            return;
        }
        let undo = |sql: &str| {
            self.conn
                .prepare_cached(sql)
                .and_then(|mut s| s.execute([]))
        };
        let _ = undo("ROLLBACK TO enki_write").and_then(|_| undo("RELEASE enki_write"));
    }
}
