//! What the panes show that lives in the store (executions and their
//! tasks, the merge queue, unread mail), read on the store thread into
//! plain values. Comparing snapshots lets that thread send only changes.

use std::collections::HashMap;

use enki_store::{MailFilter, Store, StoreError};
use enki_views::{dag_levels, gather_dag};

/// Executions shown at most (the unfinished ones and this session's).
const MAX_EXECUTIONS: usize = 20;
/// Unread messages shown at most.
const MAX_UNREAD: usize = 50;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub executions: Vec<ExecView>,
    pub merges: Vec<MergeView>,
    pub unread: Vec<MailView>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecView {
    pub id: String,
    pub title: String,
    pub status: String,
    pub tasks: Vec<TaskView>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskView {
    pub id: String,
    pub execution: String,
    pub step: String,
    pub title: String,
    pub status: String,
    pub tier: String,
    pub role: Option<String>,
    /// Depth in the execution's graph (0: needs nothing inside it).
    pub level: usize,
    pub checkpoint: bool,
    pub attempts: i64,
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MergeView {
    pub task: String,
    pub step: String,
    pub title: String,
    pub status: String,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MailView {
    pub id: String,
    pub from: String,
    pub to: String,
    pub subject: String,
    pub priority: String,
}

impl Snapshot {
    /// Every task by id.
    pub fn task_index(&self) -> HashMap<String, TaskView> {
        self.executions
            .iter()
            .flat_map(|e| e.tasks.iter())
            .map(|t| (t.id.clone(), t.clone()))
            .collect()
    }
}

/// Reads the snapshot: unfinished executions and those of `session`
/// (newest last), pending merges, unread mail.
pub fn read_snapshot(store: &Store, session: &str) -> Result<Snapshot, StoreError> {
    let mut executions: Vec<_> = store
        .executions(None)?
        .into_iter()
        .filter(|e| !e.status.is_terminal() || e.session_id.as_deref() == Some(session))
        .collect();
    let skip = executions.len().saturating_sub(MAX_EXECUTIONS);
    executions.drain(..skip);
    let mut views = Vec::with_capacity(executions.len());
    for execution in executions {
        let Some(dag) = gather_dag(store, Some(&execution.id), None)?
            .into_iter()
            .next()
        else {
            continue;
        };
        let levels = dag_levels(&dag);
        let tasks = dag
            .nodes
            .iter()
            .zip(levels)
            .map(|(task, level)| TaskView {
                id: task.id.clone(),
                execution: task.execution_id.clone(),
                step: task.step_id.clone(),
                title: task.title.clone(),
                status: task.status.to_string(),
                tier: task.tier.to_string(),
                role: task.role.clone(),
                level,
                checkpoint: task.checkpoint,
                attempts: task.attempts,
                last_error: task.last_error.clone(),
            })
            .collect();
        views.push(ExecView {
            id: execution.id.clone(),
            title: execution.title.clone(),
            status: execution.status.to_string(),
            tasks,
        });
    }
    let mut merges = Vec::new();
    for request in store.pending_merges()? {
        let task = store.task(&request.task_id)?;
        merges.push(MergeView {
            step: task.as_ref().map(|t| t.step_id.clone()).unwrap_or_default(),
            title: task.map(|t| t.title).unwrap_or_default(),
            task: request.task_id,
            status: request.status.to_string(),
            reason: request.reason,
        });
    }
    let unread = store
        .messages(&MailFilter {
            unread_only: true,
            ..MailFilter::default()
        })?
        .into_iter()
        .take(MAX_UNREAD)
        .map(|m| MailView {
            id: m.id,
            from: m.from,
            to: m.to,
            subject: m.subject,
            priority: m.priority,
        })
        .collect();
    Ok(Snapshot {
        executions: views,
        merges,
        unread,
    })
}
