//! Read-only tools: status, task list, task detail, DAG.

use enki_store::TaskFilter;
use serde_json::json;

use super::{DagArgs, NoArgs, TaskIdArgs, TaskListArgs, ToolOutput, ToolResult};
use crate::context::Context;

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

pub fn status(ctx: &mut Context, _args: NoArgs) -> ToolResult {
    let session = ctx.session.clone();
    let counts = ctx
        .store()?
        .status_counts(session.as_deref())
        .map_err(err)?;
    let text = enki_views::status_text(&counts);
    let data = serde_json::to_value(&counts).map_err(err)?;
    Ok(ToolOutput::with_data(text, data))
}

pub fn task_list(ctx: &mut Context, args: TaskListArgs) -> ToolResult {
    let session = ctx.session.clone();
    let store = ctx.store()?;
    let execution_id = match &args.execution_id {
        Some(input) => Some(store.resolve_execution(input).map_err(err)?),
        None => None,
    };
    let tasks = store
        .tasks(&TaskFilter {
            session,
            status: args.status,
            execution_id,
        })
        .map_err(err)?;
    let text = enki_views::task_list_text(&tasks);
    Ok(ToolOutput::with_data(text, json!({"tasks": tasks})))
}

pub fn task_show(ctx: &mut Context, args: TaskIdArgs) -> ToolResult {
    let store = ctx.store()?;
    let id = store.resolve_task(&args.task_id).map_err(err)?;
    let detail = enki_views::gather_task_detail(store, &id).map_err(err)?;
    let text = enki_views::task_detail_text(&detail);
    let data = serde_json::to_value(&detail).map_err(err)?;
    Ok(ToolOutput::with_data(text, data))
}

pub fn dag(ctx: &mut Context, args: DagArgs) -> ToolResult {
    let session = ctx.session.clone();
    let store = ctx.store()?;
    let execution = match &args.execution_id {
        Some(input) => Some(store.resolve_execution(input).map_err(err)?),
        None => None,
    };
    // An explicit execution is shown whatever session it belongs to.
    let scope = if execution.is_some() {
        None
    } else {
        session.as_deref()
    };
    let dags = enki_views::gather_dag(store, execution.as_deref(), scope).map_err(err)?;
    Ok(ToolOutput::with_data(
        enki_views::dag_text(&dags),
        enki_views::dag_json(&dags),
    ))
}
