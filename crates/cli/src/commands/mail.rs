//! `enki mail`: list mail, or show one message. Reading here never marks
//! anything read.

use anyhow::{Result, bail};
use enki_core::mail::Address;
use enki_store::{MailFilter, Store};
use enki_views::{mail_list_text, message_text};
use serde_json::json;

use super::{open_store, print_json, print_text, session};

/// The stored mailbox string for an address as typed (`worker/<prefix>`
/// becomes `worker/<full task id>`).
fn mailbox(store: &Store, input: &str) -> Result<String> {
    Ok(match Address::parse(input)? {
        Address::Worker(prefix) => Address::worker_mailbox(&store.resolve_task(&prefix)?),
        Address::AllWorkers => bail!(
            "'@workers' sends to every running worker but is not a mailbox; use --to worker/<task id>"
        ),
        other => other.to_string(),
    })
}

pub fn run(message: Option<&str>, to: Option<&str>, unread: bool, json: bool) -> Result<()> {
    let store = open_store()?;
    if let Some(input) = message {
        let id = store.resolve_message(input)?;
        let Some(row) = store.message(&id)? else {
            bail!("no message {id}");
        };
        if json {
            return print_json(&json!({ "message": row }));
        }
        return print_text(&message_text(&row));
    }
    let to = to.map(|input| mailbox(&store, input)).transpose()?;
    let messages = store.messages(&MailFilter {
        to,
        session: session(),
        unread_only: unread,
        include_expired: false,
    })?;
    if json {
        return print_json(&json!({ "messages": messages }));
    }
    print_text(&mail_list_text(&messages))
}
