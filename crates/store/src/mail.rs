//! Mail between the planner (`coordinator`), workers (`worker/<task id>`)
//! and the user.

use enki_core::id::{normalize_prefix, pick_unique};
use enki_core::mail::{MailKind, Priority, ReplyStatus};
use enki_core::{IdKind, MessageId};
use rusqlite::{Connection, OptionalExtension, params};

use crate::error::StoreError;
use crate::executions::ensure_session;
use crate::ids;
use crate::rows::MessageRow;
use crate::store::Store;
use crate::time::{now_rfc3339, rfc3339_after};

/// A message to write. Recipients are full mailbox strings; fan-out to
/// several recipients writes one message each, sharing a thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    pub session: Option<String>,
    pub from: String,
    pub to: Vec<String>,
    pub subject: String,
    pub body: String,
    pub priority: Priority,
    pub kind: MailKind,
    /// Continue this thread (a message id that started one).
    pub thread_id: Option<String>,
    /// The message this one answers (id or unique prefix); sets the thread.
    pub reply_to: Option<String>,
    pub reply_status: Option<ReplyStatus>,
    pub ttl_seconds: Option<u64>,
}

/// Which messages a listing returns.
#[derive(Debug, Clone, Default)]
pub struct MailFilter {
    pub to: Option<String>,
    pub session: Option<String>,
    pub unread_only: bool,
    pub include_expired: bool,
}

/// SQL condition of a message that is still delivered: no ttl, a ttl not
/// yet passed, or read before it passed (`?2` is now). A message whose ttl
/// passed while it was unread is dropped: no listing, read or reply sees it.
const LIVE: &str = "(expires_at IS NULL OR expires_at > ?2 OR read_at IS NOT NULL)";

/// The one live message that `input` (an id or unique prefix) names.
fn resolve_live(conn: &Connection, input: &str) -> Result<String, StoreError> {
    let prefix = normalize_prefix(IdKind::Message, input)?;
    let sql = format!(
        "SELECT id FROM messages WHERE id >= ?1 AND id < ?1 || '~' AND {LIVE} ORDER BY id LIMIT 11"
    );
    let candidates = conn
        .prepare_cached(&sql)?
        .query_map(params![prefix, now_rfc3339()], |row| {
            row.get::<_, String>(0)
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(pick_unique(IdKind::Message, input, candidates)?)
}

fn get_message(conn: &Connection, id: &str) -> Result<Option<MessageRow>, StoreError> {
    let sql = format!("SELECT {} FROM messages WHERE id = ?1", MessageRow::COLUMNS);
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([id], MessageRow::from_row)
        .optional()?)
}

impl Store {
    /// Writes a message to each recipient. Returns the rows written.
    pub fn send_mail(&mut self, message: &NewMessage) -> Result<Vec<MessageRow>, StoreError> {
        if message.to.is_empty() {
            return Err(StoreError::invalid("the message has no recipient"));
        }
        self.write(|tx| {
            ensure_session(tx, message.session.as_deref())?;
            let reply_to = match &message.reply_to {
                Some(input) => Some(
                    get_message(tx, &resolve_live(tx, input)?)?
                        .ok_or_else(|| StoreError::invalid(format!("no message {input}")))?,
                ),
                None => None,
            };
            let explicit_thread = match &message.thread_id {
                Some(input) => {
                    let id = ids::resolve(tx, IdKind::Message, input)
                        .map_err(|e| StoreError::invalid(format!("thread_id: {e}")))?;
                    let row = get_message(tx, &id)?
                        .ok_or_else(|| StoreError::invalid(format!("no thread {input}")))?;
                    Some(row.thread_id)
                }
                None => None,
            };
            let mut thread = reply_to
                .as_ref()
                .map(|r| r.thread_id.clone())
                .or(explicit_thread);
            let now = now_rfc3339();
            let expires = message.ttl_seconds.map(rfc3339_after);
            let mut rows = Vec::with_capacity(message.to.len());
            for to in &message.to {
                let id = MessageId::generate().into_string();
                let thread_id = thread.get_or_insert_with(|| id.clone()).clone();
                tx.prepare_cached(
                    "INSERT INTO messages (id, session_id, thread_id, reply_to, from_addr, to_addr, subject,
                         body, priority, priority_rank, kind, reply_status, created_at, expires_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
                )?
                .execute(params![
                    id,
                    message.session,
                    thread_id,
                    reply_to.as_ref().map(|r| r.id.clone()),
                    message.from,
                    to,
                    message.subject,
                    message.body,
                    message.priority.as_str(),
                    message.priority.rank(),
                    message.kind.as_str(),
                    message.reply_status.map(|s| s.as_str()),
                    now,
                    expires,
                ])?;
                rows.push(get_message(tx, &id)?.ok_or_else(|| StoreError::Corrupt("message vanished".into()))?);
            }
            Ok(rows)
        })
    }

    /// Resolves a message id or unique prefix among all messages, expired
    /// ones included (for people inspecting the store).
    pub fn resolve_message(&self, input: &str) -> Result<String, StoreError> {
        ids::resolve(&self.conn, IdKind::Message, input)
    }

    /// Resolves a message id or unique prefix among the messages still
    /// delivered: one whose ttl passed while it was unread matches nothing.
    pub fn resolve_live_message(&self, input: &str) -> Result<String, StoreError> {
        resolve_live(&self.conn, input)
    }

    pub fn message(&self, id: &str) -> Result<Option<MessageRow>, StoreError> {
        get_message(&self.conn, id)
    }

    /// Messages matching the filter. Unread listings come by priority then
    /// age (most pressing first); full listings newest first.
    pub fn messages(&self, filter: &MailFilter) -> Result<Vec<MessageRow>, StoreError> {
        let order = if filter.unread_only {
            "priority_rank DESC, created_at ASC, id ASC"
        } else {
            "created_at DESC, id DESC"
        };
        let sql = format!(
            "SELECT {} FROM messages
             WHERE (?1 IS NULL OR to_addr = ?1)
               AND (?2 IS NULL OR session_id = ?2)
               AND (?3 = 0 OR read_at IS NULL)
               AND (?4 = 1 OR expires_at IS NULL OR expires_at > ?5 OR read_at IS NOT NULL)
             ORDER BY {order}",
            MessageRow::COLUMNS
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt
            .query_map(
                params![
                    filter.to,
                    filter.session,
                    filter.unread_only,
                    filter.include_expired,
                    now_rfc3339()
                ],
                MessageRow::from_row,
            )?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Unread, unexpired mail for a mailbox: (total, urgent).
    pub fn unread_counts(&self, mailbox: &str) -> Result<(i64, i64), StoreError> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT count(*), coalesce(sum(priority = 'urgent'), 0) FROM messages
             WHERE to_addr = ?1 AND read_at IS NULL AND (expires_at IS NULL OR expires_at > ?2)",
            )?
            .query_row(params![mailbox, now_rfc3339()], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?)
    }

    /// Marks a message read (only when the reader is its recipient).
    pub fn mark_read(&mut self, id: &str) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute(
                "UPDATE messages SET read_at = ?2 WHERE id = ?1 AND read_at IS NULL",
                params![id, now_rfc3339()],
            )?;
            Ok(())
        })
    }

    /// The questions a task's worker mailed the user or the planner since
    /// `since` (kind `request`) that still await an answer: no message to
    /// the worker has come in their thread after them, and their ttl has
    /// not passed. Oldest first. The worker waits for a person meanwhile.
    pub fn open_questions(
        &self,
        task_id: &str,
        since: &str,
    ) -> Result<Vec<MessageRow>, StoreError> {
        let columns = MessageRow::COLUMNS
            .split(", ")
            .map(|c| format!("q.{}", c.trim()))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT {columns} FROM messages q
             WHERE q.from_addr = ?1 AND q.to_addr IN ('user', 'coordinator') AND q.kind = 'request'
               AND q.created_at >= ?2
               AND (q.expires_at IS NULL OR q.expires_at > ?3)
               AND NOT EXISTS (
                   SELECT 1 FROM messages a
                   WHERE a.thread_id = q.thread_id AND a.to_addr = ?1 AND a.id <> q.id
                     AND a.created_at >= q.created_at)
             ORDER BY q.created_at, q.id"
        );
        let mailbox = enki_core::mail::Address::worker_mailbox(task_id);
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt
            .query_map(params![mailbox, since, now_rfc3339()], MessageRow::from_row)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Every live message of a thread, oldest first (a message whose ttl
    /// passed while unread is left out).
    pub fn thread(&self, thread_id: &str) -> Result<Vec<MessageRow>, StoreError> {
        let sql = format!(
            "SELECT {} FROM messages WHERE thread_id = ?1 AND {LIVE} ORDER BY created_at, id",
            MessageRow::COLUMNS
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt
            .query_map(params![thread_id, now_rfc3339()], MessageRow::from_row)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }
}
