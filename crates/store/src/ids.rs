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

impl crate::Store {
    /// Ids of `kind` that start with what was typed so far, newest first, at
    /// most `limit` of them, and whether there are more. For completion: an
    /// empty input (or part of the kind prefix, `ta`, `task-`) matches every
    /// id, and input that can never start an id matches none.
    pub fn ids_starting_with(
        &self,
        kind: IdKind,
        input: &str,
        limit: usize,
    ) -> Result<(Vec<String>, bool), StoreError> {
        let typed = input.trim();
        let prefix = if kind.prefix().starts_with(&typed.to_ascii_lowercase()) {
            kind.prefix().to_string()
        } else {
            match normalize_prefix(kind, typed) {
                Ok(prefix) => prefix,
                Err(_) => return Ok((Vec::new(), false)),
            }
        };
        let sql = format!(
            "SELECT id FROM {} WHERE id >= ?1 AND id < ?1 || '~' ORDER BY id DESC LIMIT ?2",
            table_of(kind)
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let mut ids = stmt
            .query_map(rusqlite::params![prefix, (limit + 1) as i64], |row| {
                row.get::<_, String>(0)
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let more = ids.len() > limit;
        ids.truncate(limit);
        Ok((ids, more))
    }
}
