//! `enki logs <task> [-f]`: a task's event log, optionally followed live.

use std::time::Duration;

use anyhow::Result;
use enki_store::{TaskEventRow, TaskFilter};
use serde_json::Value;

use super::{open_store, print_text};

/// How often `-f` looks for new events.
const FOLLOW_INTERVAL: Duration = Duration::from_millis(200);

fn line(event: &TaskEventRow) -> String {
    let detail = match &event.data {
        Value::Object(map) if map.is_empty() => String::new(),
        Value::Object(map) => map
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| match v {
                Value::String(s) => format!("{k}={}", s.replace('\n', " ")),
                other => format!("{k}={other}"),
            })
            .collect::<Vec<_>>()
            .join(" "),
        other => other.to_string(),
    };
    format!(
        "{}  {:<16} {detail}",
        enki_views::timestamp(&event.at),
        event.kind
    )
}

pub fn run(task: &str, follow: bool, json: bool) -> Result<()> {
    let store = open_store()?;
    let task_id = store.resolve_task(task)?;
    let mut after = 0;
    loop {
        let events = store.task_events(&task_id, after, None)?;
        for event in &events {
            if json {
                print_text(&serde_json::to_string(event)?)?;
            } else {
                print_text(&line(event))?;
            }
            after = event.seq;
        }
        if !follow {
            return Ok(());
        }
        let finished = store
            .tasks(&TaskFilter::default())?
            .into_iter()
            .find(|t| t.id == task_id)
            .is_some_and(|t| t.status.is_terminal());
        if finished && events.is_empty() {
            return Ok(());
        }
        std::thread::sleep(FOLLOW_INTERVAL);
    }
}
