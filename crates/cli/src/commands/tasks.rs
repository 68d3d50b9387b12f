//! `enki tasks`: one line per task.

use anyhow::Result;
use enki_core::TaskStatus;
use enki_store::TaskFilter;
use enki_views::task_list_text;
use serde_json::json;

use super::{open_store, print_json, print_text, session};

pub fn run(status: Option<TaskStatus>, execution: Option<&str>, json: bool) -> Result<()> {
    let store = open_store()?;
    let execution_id = execution
        .map(|input| store.resolve_execution(input))
        .transpose()?;
    let tasks = store.tasks(&TaskFilter {
        session: session(),
        status,
        execution_id,
    })?;
    if json {
        return print_json(&json!({ "tasks": tasks }));
    }
    print_text(&task_list_text(&tasks))
}
