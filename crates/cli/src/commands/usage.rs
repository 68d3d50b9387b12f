//! `enki usage [--execution E] [--by task|execution|role|agent|model]`:
//! what agent runs used, as their agents reported it, rolled up.

use anyhow::{Result, bail};
use enki_store::UsageFilter;
use enki_views::{UsageBy, gather_usage, usage_text};

use super::{open_store, prices, print_json, print_text, session};

pub fn run(execution: Option<&str>, by: &str, json: bool) -> Result<()> {
    let Some(by) = UsageBy::parse(by) else {
        bail!("--by takes {}, not '{by}'", UsageBy::NAMES);
    };
    let store = open_store()?;
    let execution_id = match execution {
        Some(input) => Some(store.resolve_execution(input)?),
        None => None,
    };
    let filter = UsageFilter {
        // One execution's usage is its own, whichever session ran it.
        session: if execution_id.is_some() {
            None
        } else {
            session()
        },
        execution_id,
        task_id: None,
    };
    let report = gather_usage(&store, &filter, by, &prices())?;
    if json {
        return print_json(&report);
    }
    print_text(&usage_text(&report))
}
