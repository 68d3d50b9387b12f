//! The store's one error type; each variant's message is meant for whoever asked.

use std::path::PathBuf;

use enki_core::IdError;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("cannot open the database {path}: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error(
        "the database {path} has schema version {found}, newer than this enki understands ({supported}); upgrade enki"
    )]
    TooNew {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    /// Another process held the write lock for the whole time this store
    /// may wait. Nothing was written; the same call can simply be made again.
    #[error(
        "the database is busy: another process held its write lock for {:.1} s; nothing was changed, try again in a few seconds",
        .0.as_secs_f64()
    )]
    Busy(std::time::Duration),
    /// SQLite rolled back (or could not commit) a group transaction this
    /// write was part of (`group.rs`): nothing of the group was kept.
    #[error("the database could not keep this change ({0}); nothing was changed, try again")]
    GroupLost(String),
    #[error(transparent)]
    Id(#[from] IdError),
    /// A request that cannot be carried out as asked (unknown reference,
    /// wrong state). The message is meant for the caller.
    #[error("{0}")]
    Invalid(String),
    #[error("the database holds an unexpected value: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

impl StoreError {
    pub(crate) fn invalid(message: impl Into<String>) -> StoreError {
        StoreError::Invalid(message.into())
    }

    /// Whether the caller made a mistake (as opposed to the store failing).
    pub fn is_caller_error(&self) -> bool {
        matches!(self, StoreError::Invalid(_) | StoreError::Id(_))
    }

    pub(crate) fn is_busy(&self) -> bool {
        match self {
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => matches!(
                e.code,
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
            ),
            _ => false,
        }
    }
}
