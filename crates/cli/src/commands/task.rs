//! `enki task <ID>`: everything about one task, and its recent events.

use anyhow::{Context, Result};
use enki_store::TaskEventRow;
use enki_views::{gather_task_detail, task_detail_text, timestamp};

use super::{open_store, prices, print_json, print_text};

/// How many of the latest events are shown.
const RECENT_EVENTS: usize = 20;

fn event_line(event: &TaskEventRow) -> String {
    let data = match &event.data {
        serde_json::Value::Object(map) if map.is_empty() => String::new(),
        serde_json::Value::Null => String::new(),
        other => format!("  {other}"),
    };
    format!("    {}  {}{data}", timestamp(&event.at), event.kind)
}

pub fn run(id: &str, json: bool) -> Result<()> {
    let store = open_store()?;
    let task_id = store.resolve_task(id)?;
    let detail = gather_task_detail(&store, &task_id, &prices())?;
    let all = store.task_events(&task_id, 0, None)?;
    let total = all.len();
    let events = &all[total.saturating_sub(RECENT_EVENTS)..];
    if json {
        let mut value = serde_json::to_value(&detail)?;
        let object = value
            .as_object_mut()
            .context("a task detail serializes to a JSON object")?;
        object.insert("events".to_string(), serde_json::to_value(events)?);
        let interrupted = detail.task.status == enki_core::TaskStatus::Running
            && matches!(super::coordinator_runs(), Ok(false));
        object.insert("interrupted".to_string(), interrupted.into());
        return print_json(&value);
    }
    let mut text = task_detail_text(&detail);
    if detail.task.status == enki_core::TaskStatus::Running
        && matches!(super::coordinator_runs(), Ok(false))
    {
        text.push_str(
            "\n  interrupted: no coordinator runs, so its agent is gone (whatever its last state says); `enki run` (or `enki`) runs it again",
        );
    }
    if events.is_empty() {
        text.push_str("\n  events: none");
    } else if events.len() < total {
        text.push_str(&format!("\n  events (last {} of {total}):", events.len()));
    } else {
        text.push_str("\n  events:");
    }
    for event in events {
        text.push('\n');
        text.push_str(&event_line(event));
    }
    print_text(&text)
}
