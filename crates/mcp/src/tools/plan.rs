//! Planner tools: creating work and steering it. Each writes the durable
//! change to the store first, then drops a signal for the coordinator.

use std::collections::BTreeSet;

use enki_core::Tier;
use enki_core::dag::{StepShape, validate_steps};
use enki_signals::SignalKind;
use enki_store::{CreatedSteps, NeedTarget, NewNeed, NewStep};
use serde_json::json;

use super::{
    AddStepsArgs, CancelArgs, ExecutionCreateArgs, ExecutionTargetArgs, StepArgs, StepNeed,
    StopAllArgs, TaskCreateArgs, TaskIdArgs, ToolOutput, ToolResult, parse_args,
};
use crate::confirm::Confirmation;
use crate::context::Context;

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

fn non_empty(field: &str, value: &str) -> Result<(), String> {
    if value.trim().is_empty() {
        Err(format!("`{field}` must not be empty"))
    } else {
        Ok(())
    }
}

/// Checks the role name and picks the tier: explicit, else the role's, else standard.
fn role_and_tier(
    ctx: &mut Context,
    role: Option<&String>,
    tier: Option<Tier>,
    field: &str,
) -> Result<Tier, String> {
    let roles = ctx.roles()?;
    let role_tier = match role {
        Some(name) => {
            let role = roles
                .get(name)
                .ok_or_else(|| format!("`{field}`: {}", roles.unknown_role_message(name)))?;
            role.tier
        }
        None => None,
    };
    Ok(tier.or(role_tier).unwrap_or_default())
}

/// Validates steps (shape, roles) and turns them into store rows.
fn prepare_steps(
    ctx: &mut Context,
    steps: &[StepArgs],
    existing: &BTreeSet<String>,
) -> Result<Vec<NewStep>, String> {
    let shapes: Vec<StepShape<'_>> = steps
        .iter()
        .map(|s| StepShape {
            id: s.id.as_str(),
            needs: s.needs.iter().map(StepNeed::shape).collect(),
        })
        .collect();
    validate_steps(&shapes, existing).map_err(|e| format!("invalid steps: {e}"))?;
    let mut prepared = Vec::with_capacity(steps.len());
    for (index, step) in steps.iter().enumerate() {
        let tier = role_and_tier(
            ctx,
            step.role.as_ref(),
            step.tier,
            &format!("steps[{index}].role"),
        )?;
        prepared.push(NewStep {
            step_id: step.id.as_str().to_string(),
            title: step.title.trimmed().to_string(),
            description: step.description.clone(),
            tier,
            role: step.role.clone(),
            checkpoint: step.checkpoint,
            needs: step.needs.iter().map(NewNeed::from).collect(),
        });
    }
    Ok(prepared)
}

/// One line per step; blocked steps say why.
fn steps_summary(created: &CreatedSteps) -> String {
    created
        .steps
        .iter()
        .map(|(step, task)| {
            let line = format!("  {step} -> {}", enki_core::id::short(task));
            match blocked_reason(created, step) {
                Some(why) => format!("{line} (blocked: {why})"),
                None => line,
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn blocked_reason<'a>(created: &'a CreatedSteps, step: &str) -> Option<&'a str> {
    created
        .blocked
        .iter()
        .find(|(s, _)| s == step)
        .map(|(_, why)| why.as_str())
}

/// What the planner should know when new work starts blocked.
fn blocked_note(created: &CreatedSteps) -> String {
    match created.blocked.len() {
        0 => String::new(),
        1 => "\n1 of them is blocked because something it needs failed, is blocked or was cancelled; enki_task_retry on that task unblocks it.".to_string(),
        n => format!(
            "\n{n} of them are blocked because something they need failed, is blocked or was cancelled; enki_task_retry on that task unblocks them."
        ),
    }
}

/// The steps as structured data, with their status.
fn steps_data(created: &CreatedSteps) -> Vec<serde_json::Value> {
    created
        .steps
        .iter()
        .map(|(step, task)| {
            let blocked = blocked_reason(created, step);
            json!({
                "step_id": step,
                "task_id": task,
                "status": if blocked.is_some() { "blocked" } else { "pending" },
                "blocked_because": blocked,
            })
        })
        .collect()
}

pub fn task_create(ctx: &mut Context, args: TaskCreateArgs) -> ToolResult {
    let tier = role_and_tier(ctx, args.role.as_ref(), args.tier, "role")?;
    let step = NewStep {
        step_id: "task".into(),
        title: args.title.trimmed().to_string(),
        description: args.description,
        tier,
        role: args.role,
        checkpoint: false,
        needs: args
            .needs
            .into_iter()
            .map(|n| NewNeed {
                target: NeedTarget::Task(n.task),
                condition: n.condition,
            })
            .collect(),
    };
    let session = ctx.session.clone();
    let created = ctx
        .store()?
        .create_execution(
            session.as_deref(),
            &step.title,
            true,
            std::slice::from_ref(&step),
        )
        .map_err(err)?;
    let task_id = created
        .steps
        .first()
        .map(|(_, t)| t.clone())
        .unwrap_or_default();
    ctx.signal(SignalKind::TaskCreated {
        task_id: task_id.clone(),
    });
    let blocked = created.blocked.first().map(|(_, why)| why.as_str());
    let status = match blocked {
        Some(why) => format!("blocked ({why}; enki_task_retry on that task unblocks this one)"),
        None => "pending".to_string(),
    };
    Ok(ToolOutput::with_data(
        format!(
            "Created task '{}' ({}) — status: {status}, tier: {}{}",
            step.title,
            enki_core::id::short(&task_id),
            step.tier,
            step.role
                .as_ref()
                .map(|r| format!(", role: {r}"))
                .unwrap_or_default()
        ),
        json!({
            "task_id": task_id,
            "execution_id": created.execution_id,
            "status": if blocked.is_some() { "blocked" } else { "pending" },
            "blocked_because": blocked,
            "tier": step.tier,
        }),
    ))
}

pub fn execution_create(ctx: &mut Context, args: ExecutionCreateArgs) -> ToolResult {
    let steps = prepare_steps(ctx, args.steps.as_slice(), &BTreeSet::new())?;
    let title = args
        .title
        .filter(|t| !t.trim().is_empty())
        .or_else(|| steps.first().map(|s| s.title.clone()))
        .unwrap_or_default();
    let session = ctx.session.clone();
    let created = ctx
        .store()?
        .create_execution(session.as_deref(), &title, false, &steps)
        .map_err(err)?;
    ctx.signal(SignalKind::ExecutionCreated {
        execution_id: created.execution_id.clone(),
    });
    Ok(ToolOutput::with_data(
        format!(
            "Created execution '{title}' ({}) with {} steps:\n{}{}",
            enki_core::id::short(&created.execution_id),
            created.steps.len(),
            steps_summary(&created),
            blocked_note(&created)
        ),
        json!({
            "execution_id": created.execution_id,
            "steps": steps_data(&created),
        }),
    ))
}

pub fn add_steps(ctx: &mut Context, args: AddStepsArgs) -> ToolResult {
    let store = ctx.store()?;
    let execution_id = store.resolve_execution(&args.execution_id).map_err(err)?;
    let existing: BTreeSet<String> = store
        .step_map(&execution_id)
        .map_err(err)?
        .into_keys()
        .collect();
    let steps = prepare_steps(ctx, args.steps.as_slice(), &existing)?;
    let session = ctx.session.clone();
    let created = ctx
        .store()?
        .add_steps(session.as_deref(), &execution_id, &steps)
        .map_err(err)?;
    ctx.signal(SignalKind::StepsAdded {
        execution_id: created.execution_id.clone(),
        step_ids: created.steps.iter().map(|(s, _)| s.clone()).collect(),
    });
    Ok(ToolOutput::with_data(
        format!(
            "Added {} steps to execution {}:\n{}{}",
            created.steps.len(),
            enki_core::id::short(&created.execution_id),
            steps_summary(&created),
            blocked_note(&created)
        ),
        json!({
            "execution_id": created.execution_id,
            "steps": steps_data(&created),
        }),
    ))
}

pub fn retry(ctx: &mut Context, args: TaskIdArgs) -> ToolResult {
    let store = ctx.store()?;
    let task_id = store.resolve_task(&args.task_id).map_err(err)?;
    let changed = store.retry_task(&task_id).map_err(err)?;
    ctx.signal(SignalKind::RetryTask {
        task_id: task_id.clone(),
    });
    let unblocked = changed.len().saturating_sub(1);
    Ok(ToolOutput::with_data(
        format!(
            "Task {} is pending again with a fresh retry budget; {unblocked} blocked dependents unblocked",
            enki_core::id::short(&task_id)
        ),
        json!({"task_id": task_id, "reset": changed}),
    ))
}

fn resolve_target(
    ctx: &mut Context,
    execution_id: &str,
    step_id: Option<&str>,
) -> Result<String, String> {
    if let Some(step) = step_id {
        non_empty("step_id", step)?;
    }
    ctx.store()?.resolve_execution(execution_id).map_err(err)
}

pub fn pause(ctx: &mut Context, args: ExecutionTargetArgs) -> ToolResult {
    let execution_id = resolve_target(ctx, &args.execution_id, args.step_id.as_deref())?;
    let message = ctx
        .store()?
        .pause(&execution_id, args.step_id.as_deref())
        .map_err(err)?;
    ctx.signal(SignalKind::Pause {
        execution_id: execution_id.clone(),
        step_id: args.step_id.clone(),
    });
    Ok(ToolOutput::with_data(
        capitalize(&message),
        json!({"execution_id": execution_id, "step_id": args.step_id}),
    ))
}

pub fn resume(ctx: &mut Context, args: ExecutionTargetArgs) -> ToolResult {
    let execution_id = resolve_target(ctx, &args.execution_id, args.step_id.as_deref())?;
    let message = ctx
        .store()?
        .resume(&execution_id, args.step_id.as_deref())
        .map_err(err)?;
    ctx.signal(SignalKind::Resume {
        execution_id: execution_id.clone(),
        step_id: args.step_id.clone(),
    });
    Ok(ToolOutput::with_data(
        capitalize(&message),
        json!({"execution_id": execution_id, "step_id": args.step_id}),
    ))
}

/// Cancelling a whole execution needs its full id typed as confirmation;
/// cancelling one step does not.
pub fn cancel_confirmation(
    ctx: &mut Context,
    arguments: &serde_json::Value,
) -> Result<Option<Confirmation>, String> {
    let args = parse_args::<CancelArgs>(arguments.clone())?;
    if args.step_id.is_some() {
        return Ok(None);
    }
    let execution_id = resolve_target(ctx, &args.execution_id, None)?;
    let title = ctx
        .store()?
        .execution(&execution_id)
        .map_err(err)?
        .map(|e| e.title.chars().take(80).collect::<String>())
        .unwrap_or_default();
    Ok(Some(Confirmation {
        tool: "enki_cancel",
        action: format!(
            "cancel the whole execution {execution_id} (\"{title}\"), every step of it that has not finished"
        ),
        target: execution_id,
    }))
}

pub fn cancel(ctx: &mut Context, args: CancelArgs) -> ToolResult {
    let execution_id = resolve_target(ctx, &args.execution_id, args.step_id.as_deref())?;
    let cancelled = ctx
        .store()?
        .cancel(&execution_id, args.step_id.as_deref())
        .map_err(err)?;
    ctx.signal(SignalKind::Cancel {
        execution_id: execution_id.clone(),
        step_id: args.step_id.clone(),
    });
    let what = match &args.step_id {
        Some(step) => format!(
            "step '{step}' of execution {}",
            enki_core::id::short(&execution_id)
        ),
        None => format!("execution {}", enki_core::id::short(&execution_id)),
    };
    Ok(ToolOutput::with_data(
        format!(
            "Cancelled {what}: {} tasks cancelled (finished work is kept)",
            cancelled.len()
        ),
        json!({"execution_id": execution_id, "step_id": args.step_id, "cancelled": cancelled}),
    ))
}

/// Stopping everything always needs `stop all` typed as confirmation.
pub fn stop_all_confirmation(
    _ctx: &mut Context,
    arguments: &serde_json::Value,
) -> Result<Option<Confirmation>, String> {
    parse_args::<StopAllArgs>(arguments.clone())?;
    Ok(Some(Confirmation {
        tool: "enki_stop_all",
        action: "stop every running worker and pause every execution".to_string(),
        target: "stop all".to_string(),
    }))
}

pub fn stop_all(ctx: &mut Context, _args: StopAllArgs) -> ToolResult {
    let session = ctx.session.clone();
    let paused = ctx.store()?.pause_all(session.as_deref()).map_err(err)?;
    ctx.signal(SignalKind::StopAll);
    Ok(ToolOutput::with_data(
        format!(
            "Stopping every running worker; {} executions paused. Nothing was deleted: use enki_resume to continue.",
            paused.len()
        ),
        json!({"paused_executions": paused}),
    ))
}

fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}
