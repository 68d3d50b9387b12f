//! Rebuilding the orchestrator's view of an execution from the store.

use enki_core::engine::{Edge, ExecutionSnapshot, NodeSnapshot};
use enki_store::{Store, StoreError, TaskFilter, TaskRow};

/// The execution exactly as the database has it. `order` is the rank of its
/// creation time, so older executions come first; `agent_of` names the agent
/// each task's worker runs (`Context::worker_agent`).
pub fn execution_snapshot(
    store: &Store,
    execution_id: &str,
    agent_of: &dyn Fn(&TaskRow) -> String,
) -> Result<Option<ExecutionSnapshot>, StoreError> {
    let Some(execution) = store.execution(execution_id)? else {
        return Ok(None);
    };
    let tasks = store.tasks(&TaskFilter {
        execution_id: Some(execution.id.clone()),
        ..TaskFilter::default()
    })?;
    let edges = store.execution_edges(&execution.id)?;
    let order: u64 = store
        .connection()
        .query_row(
            "SELECT count(*) FROM executions WHERE created_at < ?1 OR (created_at = ?1 AND id < ?2)",
            [&execution.created_at, &execution.id],
            |r| r.get::<_, i64>(0),
        )
        .map(|n| u64::try_from(n).unwrap_or(0))?;
    let nodes = tasks
        .into_iter()
        .map(|task| NodeSnapshot {
            agent: agent_of(&task),
            needs: edges
                .iter()
                .filter(|e| e.task_id == task.id)
                .map(|e| Edge {
                    target: e.needs_task_id.clone(),
                    condition: e.condition,
                })
                .collect(),
            id: task.id,
            step_id: task.step_id,
            step_index: task.step_index,
            tier: task.tier,
            checkpoint: task.checkpoint,
            status: task.status,
            failures: u32::try_from(task.failures).unwrap_or(0),
        })
        .collect();
    Ok(Some(ExecutionSnapshot {
        id: execution.id,
        order,
        status: execution.status,
        nodes,
    }))
}
