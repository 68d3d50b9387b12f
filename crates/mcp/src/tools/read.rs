//! Read-only tools: status, task list, task detail, DAG.

use std::ops::Range;

use enki_store::{TaskFilter, TaskRow};
use enki_views::DagView;
use serde_json::json;

use super::page::{self, TITLE_MAX, clip, row_data};
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
    // What each running worker's agent is doing, with how long and why.
    let running = ctx
        .store()?
        .tasks(&TaskFilter {
            session,
            status: Some(enki_core::TaskStatus::Running),
            execution_id: None,
        })
        .map_err(err)?;
    // What this session's runs used (the planner's own turns included).
    let filter = enki_store::UsageFilter {
        session: ctx.session.clone(),
        ..enki_store::UsageFilter::default()
    };
    let rows = ctx.store()?.usage_rows(&filter).map_err(err)?;
    let usage = enki_views::usage_totals(&rows, &ctx.prices);
    let mut text = enki_views::status_text(&counts);
    let workers = enki_views::workers_text(&running, &enki_store::now_rfc3339());
    if !workers.is_empty() {
        text.push_str("\nworkers:\n");
        text.push_str(&workers);
    }
    if usage.runs > 0 {
        text.push_str(&format!("\nusage: {}", usage.describe()));
    }
    let mut data = serde_json::to_value(&counts).map_err(err)?;
    data["workers"] = enki_views::workers_json(&running);
    data["usage"] = serde_json::to_value(&usage).map_err(err)?;
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
    let page = page::page(
        "tasks",
        &tasks,
        args.cursor.as_deref(),
        |t| t.id.as_str(),
        |t| 2 * row_weight(t),
    )?;
    let shown: Vec<TaskRow> = tasks[page.range.clone()].iter().map(listed).collect();
    let text = enki_views::task_list_text(&shown) + &page.more_note("enki_task_list", "tasks");
    let rows: Vec<_> = shown.iter().map(row_data).collect();
    Ok(ToolOutput::with_data(
        text,
        page.with_cursor(json!({"tasks": rows, "total": page.total})),
    ))
}

/// A task as a listing shows it: its title cut.
fn listed(task: &TaskRow) -> TaskRow {
    TaskRow {
        title: clip(&task.title, TITLE_MAX),
        ..task.clone()
    }
}

/// About how many bytes a listed task adds (its data; the text line is shorter).
fn row_weight(task: &TaskRow) -> usize {
    let long = [
        Some(&task.description),
        task.activity.as_ref(),
        task.output.as_ref(),
        task.last_error.as_ref(),
        task.agent_state_reason.as_ref(),
    ];
    long.into_iter()
        .flatten()
        .map(|s| s.len().min(4 * page::FIELD_MAX))
        .sum::<usize>()
        + 2 * task.title.len().min(4 * TITLE_MAX)
        + 400
}

pub fn task_show(ctx: &mut Context, args: TaskIdArgs) -> ToolResult {
    let id = ctx.store()?.resolve_task(&args.task_id).map_err(err)?;
    let prices = ctx.prices.clone();
    let store = ctx.store()?;
    let detail = enki_views::gather_task_detail(store, &id, &prices).map_err(err)?;
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
    let dags: Vec<DagView> = enki_views::gather_dag(store, execution.as_deref(), scope)
        .map_err(err)?
        .into_iter()
        .map(|mut dag| {
            dag.execution.title = clip(&dag.execution.title, TITLE_MAX);
            dag.nodes
                .iter_mut()
                .for_each(|n| n.title = clip(&n.title, TITLE_MAX));
            dag
        })
        .collect();
    let levels: Vec<Vec<usize>> = dags.iter().map(enki_views::dag_levels).collect();
    // Paged by step: each execution with no steps counts as one.
    let units: Vec<(usize, usize, &str)> = dags
        .iter()
        .enumerate()
        .flat_map(|(d, dag)| {
            let steps = dag
                .nodes
                .iter()
                .enumerate()
                .map(move |(n, node)| (d, n, node.id.as_str()));
            let empty = dag
                .nodes
                .is_empty()
                .then_some((d, 0, dag.execution.id.as_str()));
            empty.into_iter().chain(steps)
        })
        .collect();
    let page = page::page(
        "dag",
        &units,
        args.cursor.as_deref(),
        |unit| unit.2,
        |&(d, n, _)| unit_weight(&dags[d], &levels[d], n),
    )?;
    // The page's steps, one window per execution they belong to.
    let mut windows: Vec<(usize, Range<usize>)> = Vec::new();
    for &(d, n, _) in &units[page.range.clone()] {
        match windows.last_mut() {
            Some((last, window)) if *last == d => window.end = n + 1,
            _ if dags[d].nodes.is_empty() => windows.push((d, 0..0)),
            _ => windows.push((d, n..n + 1)),
        }
    }
    let page_dags = match (windows.first(), windows.last()) {
        (Some((first, _)), Some((last, _))) => &dags[*first..=*last],
        _ => &[],
    };
    let windows: Vec<Range<usize>> = windows.into_iter().map(|(_, w)| w).collect();
    let text =
        enki_views::dag_text_windows(page_dags, &windows) + &page.more_note("enki_dag", "steps");
    let mut data = enki_views::dag_json_windows(page_dags, &windows);
    if let Some(map) = data.as_object_mut() {
        map.insert("total_steps".into(), json!(page.total));
    }
    Ok(ToolOutput::with_data(text, page.with_cursor(data)))
}

/// About how many bytes step `n` of `dag` (at `levels[n]`) adds to a page:
/// its line and its needs, both indented by its level and padded to the
/// page's widest, and its data.
fn unit_weight(dag: &DagView, levels: &[usize], n: usize) -> usize {
    let Some(node) = dag.nodes.get(n) else {
        return 200 + dag.execution.title.len();
    };
    let needs = dag.edges.iter().filter(|e| e.task_id == node.id).count();
    let header = if n == 0 { dag.execution.title.len() } else { 0 };
    let level = levels.get(n).copied().unwrap_or(0);
    2 * node.title.len() + header + 400 + 250 * needs + 6 * level
}
