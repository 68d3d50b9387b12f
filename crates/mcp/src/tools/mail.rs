//! Mail tools. The planner's address is `coordinator`, a worker's is
//! `worker/<task id>`.

use std::num::NonZeroU64;

use enki_core::TaskStatus;
use enki_core::mail::{Address, MailKind};
use enki_signals::SignalKind;
use enki_store::{MailFilter, MessageRow, NewMessage, TaskFilter};
use serde_json::json;

use super::page::{self, Page, row_data};
use super::{
    MailListArgs, MailReplyArgs, MailSendArgs, MessageIdArgs, ThreadArgs, ToolOutput, ToolResult,
};
use crate::context::Context;
use crate::roles::McpRole;

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Mailboxes an address stands for right now.
fn recipients(ctx: &mut Context, to: &str, sender: &str) -> Result<Vec<String>, String> {
    let address = Address::parse(to).map_err(|e| format!("`to`: {e}"))?;
    let session = ctx.session.clone();
    let store = ctx.store()?;
    match address {
        Address::Coordinator | Address::User => Ok(vec![address.to_string()]),
        Address::Worker(prefix) => {
            let id = store
                .resolve_task(&prefix)
                .map_err(|e| format!("`to`: {e}"))?;
            Ok(vec![Address::worker_mailbox(&id)])
        }
        Address::AllWorkers => {
            let running = store
                .tasks(&TaskFilter {
                    session,
                    status: Some(TaskStatus::Running),
                    execution_id: None,
                })
                .map_err(err)?;
            let boxes: Vec<String> = running
                .iter()
                .map(|t| Address::worker_mailbox(&t.id))
                .filter(|b| b != sender)
                .collect();
            if boxes.is_empty() {
                Err("`to`: @workers reaches every running worker, and no worker is running".into())
            } else {
                Ok(boxes)
            }
        }
    }
}

fn announce(ctx: &mut Context, rows: &[MessageRow]) {
    for row in rows {
        ctx.signal(SignalKind::Mail {
            message_id: row.id.clone(),
            from: row.from.clone(),
            to: row.to.clone(),
            subject: row.subject.clone(),
            priority: row.priority.clone(),
        });
    }
}

pub fn send(ctx: &mut Context, args: MailSendArgs) -> ToolResult {
    let from = ctx.mailbox()?;
    let to = recipients(ctx, &args.to, &from)?;
    // Only into conversations the caller can read: no posting into (or
    // learning of) other agents' threads by guessing ids.
    let reply_to = match &args.reply_to {
        Some(input) => Some(
            load_visible(ctx, input)
                .map_err(|e| format!("`reply_to`: {e}"))?
                .1
                .id,
        ),
        None => None,
    };
    let thread_id = match &args.thread_id {
        Some(input) => Some(
            readable_thread(ctx, &from, input)
                .map_err(|e| format!("`thread_id`: {e}"))?
                .0,
        ),
        None => None,
    };
    let message = NewMessage {
        session: ctx.session.clone(),
        from,
        to,
        subject: args.subject.as_str().to_string(),
        body: args.body,
        priority: args.priority,
        kind: args.kind,
        thread_id,
        reply_to,
        reply_status: None,
        ttl_seconds: args.ttl_seconds.map(NonZeroU64::get),
    };
    let rows = ctx.store()?.send_mail(&message).map_err(err)?;
    announce(ctx, &rows);
    let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    let thread = rows
        .first()
        .map(|r| r.thread_id.clone())
        .unwrap_or_default();
    let text = match rows.as_slice() {
        [one] => format!(
            "Sent {} to {} (thread {})",
            enki_core::id::short(&one.id),
            one.to,
            enki_core::id::short(&thread)
        ),
        many => format!(
            "Sent to {} recipients: {}",
            many.len(),
            many.iter()
                .map(|r| r.to.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    Ok(ToolOutput::with_data(
        text,
        json!({"message_ids": ids, "thread_id": thread}),
    ))
}

fn my_mail(ctx: &mut Context, unread_only: bool) -> Result<(String, Vec<MessageRow>), String> {
    let mailbox = ctx.mailbox()?;
    let rows = ctx
        .store()?
        .messages(&MailFilter {
            to: Some(mailbox.clone()),
            session: None,
            unread_only,
            include_expired: false,
        })
        .map_err(err)?;
    Ok((mailbox, rows))
}

/// The page of `rows` that `cursor` asks for, in listing `kind`.
fn mail_page(kind: &str, rows: &[MessageRow], cursor: Option<&str>) -> Result<Page, String> {
    page::page(
        kind,
        rows,
        cursor,
        |m| m.id.as_str(),
        |m| 2 * (m.subject.len() + m.body.len()).min(4 * page::FIELD_MAX) + 500,
    )
}

/// A page of a mailbox listing: `heading` over the messages, or `empty`.
fn mailbox_listing(
    tool: &str,
    mailbox: String,
    rows: &[MessageRow],
    page: &Page,
    heading: &str,
    empty: String,
) -> ToolOutput {
    let shown = &rows[page.range.clone()];
    let text = if rows.is_empty() {
        empty
    } else {
        format!(
            "{} {heading} for {mailbox}:\n{}{}",
            rows.len(),
            enki_views::mail_list_text(shown),
            page.more_note(tool, "messages")
        )
    };
    let messages: Vec<_> = shown.iter().map(row_data).collect();
    ToolOutput::with_data(
        text,
        page.with_cursor(json!({"mailbox": mailbox, "messages": messages, "total": page.total})),
    )
}

pub fn check(ctx: &mut Context, args: MailListArgs) -> ToolResult {
    let (mailbox, rows) = my_mail(ctx, true)?;
    let page = mail_page("unread", &rows, args.cursor.as_deref())?;
    let empty = format!("No unread mail for {mailbox}");
    Ok(mailbox_listing(
        "enki_mail_check",
        mailbox,
        &rows,
        &page,
        "unread",
        empty,
    ))
}

pub fn inbox(ctx: &mut Context, args: MailListArgs) -> ToolResult {
    let (mailbox, rows) = my_mail(ctx, false)?;
    let page = mail_page("inbox", &rows, args.cursor.as_deref())?;
    let empty = format!("No mail for {mailbox}");
    Ok(mailbox_listing(
        "enki_mail_inbox",
        mailbox,
        &rows,
        &page,
        "messages",
        empty,
    ))
}

/// The planner may read everything; others only their own mail.
fn may_read(ctx: &Context, mailbox: &str, row: &MessageRow) -> bool {
    ctx.role == McpRole::Planner || row.to == mailbox || row.from == mailbox
}

/// The message `input` names, if this caller may see it. A message whose
/// ttl passed while it was unread is gone: no message matches it.
fn load_visible(ctx: &mut Context, input: &str) -> Result<(String, MessageRow), String> {
    let mailbox = ctx.mailbox()?;
    let store = ctx.store()?;
    let id = store.resolve_live_message(input).map_err(err)?;
    let row = store
        .message(&id)
        .map_err(err)?
        .ok_or_else(|| format!("no message {id}"))?;
    if !may_read(ctx, &mailbox, &row) {
        return Err(format!(
            "message {} is not yours: only its recipient, its sender or the planner may read it",
            enki_core::id::short(&row.id)
        ));
    }
    Ok((mailbox, row))
}

pub fn read(ctx: &mut Context, args: MessageIdArgs) -> ToolResult {
    let (mailbox, mut row) = load_visible(ctx, &args.message_id)?;
    if row.to == mailbox && row.read_at.is_none() {
        let store = ctx.store()?;
        store.mark_read(&row.id).map_err(err)?;
        if let Some(updated) = store.message(&row.id).map_err(err)? {
            row = updated;
        }
    }
    let data = serde_json::to_value(&row).map_err(err)?;
    Ok(ToolOutput::with_data(enki_views::message_text(&row), data))
}

pub fn reply(ctx: &mut Context, args: MailReplyArgs) -> ToolResult {
    let (mailbox, original) = load_visible(ctx, &args.message_id)?;
    let subject = if original.subject.starts_with("Re: ") {
        original.subject.clone()
    } else {
        format!("Re: {}", original.subject)
    };
    // Answer whoever is on the other side of the message.
    let to = if original.from == mailbox {
        original.to.clone()
    } else {
        original.from.clone()
    };
    let message = NewMessage {
        session: ctx.session.clone(),
        from: mailbox,
        to: vec![to],
        subject,
        body: args.body,
        priority: original.priority.parse().unwrap_or_default(),
        kind: MailKind::Info,
        thread_id: None,
        reply_to: Some(original.id.clone()),
        reply_status: args.status,
        ttl_seconds: None,
    };
    let rows = ctx.store()?.send_mail(&message).map_err(err)?;
    announce(ctx, &rows);
    let row = rows.into_iter().next().ok_or("the reply was not written")?;
    let status = args.status.map(|s| format!(" ({s})")).unwrap_or_default();
    Ok(ToolOutput::with_data(
        format!(
            "Replied{status} to {} with {}",
            row.to,
            enki_core::id::short(&row.id)
        ),
        json!({"message_id": row.id, "thread_id": row.thread_id, "to": row.to}),
    ))
}

/// The thread `input` names (by any of its messages) and the messages of it
/// `mailbox` may read; an error when there are none.
fn readable_thread(
    ctx: &mut Context,
    mailbox: &str,
    input: &str,
) -> Result<(String, Vec<MessageRow>), String> {
    let store = ctx.store()?;
    let id = store.resolve_message(input).map_err(err)?;
    let start = store
        .message(&id)
        .map_err(err)?
        .ok_or_else(|| format!("no message {id}"))?;
    let rows: Vec<MessageRow> = store
        .thread(&start.thread_id)
        .map_err(err)?
        .into_iter()
        .filter(|r| may_read(ctx, mailbox, r))
        .collect();
    if rows.is_empty() {
        return Err(format!(
            "thread {} has no messages you may read: only a thread you are part of can be read or written to",
            enki_core::id::short(&start.thread_id)
        ));
    }
    Ok((start.thread_id, rows))
}

pub fn thread(ctx: &mut Context, args: ThreadArgs) -> ToolResult {
    let mailbox = ctx.mailbox()?;
    let (thread_id, rows) = readable_thread(ctx, &mailbox, &args.thread_id)?;
    let page = mail_page("thread", &rows, args.cursor.as_deref())?;
    // Long bodies are cut here as in every listing; enki_mail_read shows one whole.
    let shown = &rows[page.range.clone()];
    let text = shown
        .iter()
        .map(|m| {
            enki_views::message_text(&MessageRow {
                body: page::clip(&m.body, page::FIELD_MAX),
                ..m.clone()
            })
        })
        .collect::<Vec<_>>()
        .join("\n\n")
        + &page.more_note("enki_mail_thread", "messages");
    let messages: Vec<_> = shown.iter().map(row_data).collect();
    Ok(ToolOutput::with_data(
        text,
        page.with_cursor(
            json!({"thread_id": thread_id, "messages": messages, "total": page.total}),
        ),
    ))
}
