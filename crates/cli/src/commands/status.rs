//! `enki status`: counts by status, workers, merge queue, executions.

use anyhow::Result;
use enki_core::id::short;
use enki_views::status_text;
use serde_json::json;

use super::{open_store, print_json, print_text, session};

pub fn run(json: bool) -> Result<()> {
    let store = open_store()?;
    let session = session();
    let counts = store.status_counts(session.as_deref())?;
    let executions = store.executions(session.as_deref())?;
    if json {
        return print_json(&json!({ "counts": counts, "executions": executions }));
    }
    let mut text = String::new();
    if let Some(session) = &session {
        text.push_str(&format!("session {session}\n"));
    }
    text.push_str(&status_text(&counts));
    if executions.is_empty() {
        text.push_str("\nno executions");
    } else {
        text.push_str("\nexecutions:");
        let width = executions
            .iter()
            .map(|e| e.status.as_str().len())
            .max()
            .unwrap_or(0);
        for e in &executions {
            text.push_str(&format!(
                "\n  {}  {:width$}  {}",
                short(&e.id),
                e.status.as_str(),
                e.title
            ));
        }
    }
    print_text(&text)
}
