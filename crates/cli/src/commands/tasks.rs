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
    // Agents run only under a coordinator: with none, tasks the store still
    // calls running were interrupted (see `enki status`).
    let interrupted: Vec<&str> = match super::coordinator_runs() {
        Ok(false) => tasks
            .iter()
            .filter(|t| t.status == TaskStatus::Running)
            .map(|t| t.id.as_str())
            .collect(),
        _ => Vec::new(),
    };
    if json {
        return print_json(&json!({ "tasks": tasks, "interrupted": interrupted }));
    }
    let mut text = task_list_text(&tasks);
    if !interrupted.is_empty() {
        text.push_str(&format!(
            "\nno coordinator runs: the {} task(s) shown running were interrupted and their agents are gone; `enki run` (or `enki`) runs them again",
            interrupted.len()
        ));
    }
    print_text(&text)
}
