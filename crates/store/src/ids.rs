//! Resolving the unique id prefixes that users and agents type.

use enki_core::IdKind;
use enki_core::id::{normalize_prefix, pick_unique};
use rusqlite::Connection;

use crate::error::StoreError;

fn table_of(kind: IdKind) -> &'static str {
    match kind {
        IdKind::Task => "tasks",
        IdKind::Execution => "executions",
        IdKind::Message => "messages",
        IdKind::MergeRequest => "merge_requests",
        IdKind::Session => "sessions",
    }
}

/// How many candidates an ambiguity error lists at most.
const MAX_CANDIDATES: usize = 10;

/// The one full id that starts with `input` (a full id or a unique prefix,
/// with or without the kind prefix).
pub(crate) fn resolve(conn: &Connection, kind: IdKind, input: &str) -> Result<String, StoreError> {
    let prefix = normalize_prefix(kind, input)?;
    // A half-open range on the primary key: every id that starts with the
    // prefix sorts between it and the prefix followed by the highest char.
    let sql = format!(
        "SELECT id FROM {} WHERE id >= ?1 AND id < ?1 || '~' ORDER BY id LIMIT ?2",
        table_of(kind)
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let candidates = stmt
        .query_map(
            rusqlite::params![prefix, (MAX_CANDIDATES + 1) as i64],
            |row| row.get::<_, String>(0),
        )?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(pick_unique(kind, input, candidates)?)
}
