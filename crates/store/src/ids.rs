//! Resolving the unique id prefixes that users and agents type.

use enki_core::IdError;
use enki_core::IdKind;
use enki_core::id::{normalize_prefix, pick_unique, short};
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

/// See [`crate::Store::resolve_task`]. Ids are tried first: a ULID starts
/// with a digit, so a step name only shadows an id when it looks like one.
pub(crate) fn resolve_task(conn: &Connection, input: &str) -> Result<String, StoreError> {
    let typed = input.trim();
    if let Some((execution, step)) = typed.split_once(':') {
        let execution = resolve(conn, IdKind::Execution, execution)?;
        let mut stmt =
            conn.prepare_cached("SELECT id FROM tasks WHERE execution_id = ?1 AND step_id = ?2")?;
        let found: Option<String> = stmt
            .query_map(rusqlite::params![execution, step], |row| row.get(0))?
            .next()
            .transpose()?;
        return found.ok_or_else(|| {
            StoreError::invalid(format!(
                "execution {execution} has no step '{step}'; `enki tasks --execution {}` lists its steps",
                short(&execution)
            ))
        });
    }
    let by_id = resolve(conn, IdKind::Task, typed);
    let not_an_id = !typed.starts_with(IdKind::Task.prefix())
        && matches!(
            by_id,
            Err(StoreError::Id(
                IdError::NotFound { .. } | IdError::Malformed { .. }
            ))
        );
    if !not_an_id {
        return by_id;
    }
    let mut stmt = conn.prepare_cached(
        "SELECT id, execution_id FROM tasks WHERE step_id = ?1 ORDER BY id LIMIT ?2",
    )?;
    let steps = stmt
        .query_map(
            rusqlite::params![typed, (MAX_CANDIDATES + 1) as i64],
            |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?)),
        )?
        .collect::<Result<Vec<_>, _>>()?;
    match steps.as_slice() {
        [] => Err(StoreError::invalid(format!(
            "no task matches '{typed}': give a task id (or its start), a step name, or EXECUTION:step; `enki tasks` lists them"
        ))),
        [(id, _)] => Ok(id.clone()),
        several => Err(StoreError::invalid(format!(
            "step '{typed}' is in several executions; name one: {}",
            several
                .iter()
                .map(|(_, execution)| format!("{}:{typed}", short(execution)))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
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
