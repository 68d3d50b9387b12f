//! What the panes show that lives in the store (executions and their
//! tasks, the merge queue, unread mail), read on the store thread into
//! plain values. Comparing snapshots lets that thread send only changes.

use std::collections::HashMap;

use enki_store::{MailFilter, Store, StoreError};
use enki_views::{dag_levels, gather_dag};

/// Executions shown at most (the unfinished ones and this session's).
const MAX_EXECUTIONS: usize = 20;
/// Finished executions of earlier sessions shown (the newest), collapsed.
const EARLIER_EXECUTIONS: usize = 5;
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
    /// Finished in an earlier session: shown collapsed, for context.
    pub earlier: bool,
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

/// Reads the snapshot: the last few finished executions of earlier
/// sessions, then unfinished executions and those of `session` (newest
/// last), pending merges, unread mail.
pub fn read_snapshot(store: &Store, session: &str) -> Result<Snapshot, StoreError> {
    let all = store.executions(None)?;
    let earlier_of = |e: &enki_store::ExecutionRow| {
        e.status.is_terminal() && e.session_id.as_deref() != Some(session)
    };
    let mut earlier: Vec<_> = all.iter().filter(|e| earlier_of(e)).cloned().collect();
    earlier.drain(..earlier.len().saturating_sub(EARLIER_EXECUTIONS));
    let mut executions: Vec<_> = all.into_iter().filter(|e| !earlier_of(e)).collect();
    executions.drain(..executions.len().saturating_sub(MAX_EXECUTIONS));
    let earlier_ids: std::collections::HashSet<String> =
        earlier.iter().map(|e| e.id.clone()).collect();
    earlier.extend(executions);
    let executions = earlier;
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
            earlier: earlier_ids.contains(&execution.id),
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

#[cfg(test)]
mod tests {
    use enki_store::NewStep;

    use super::*;

    fn execution(store: &mut Store, session: &str, title: &str) -> String {
        let step = NewStep::new("only", "the one step");
        store
            .create_execution(Some(session), title, false, &[step])
            .unwrap()
            .execution_id
    }

    #[test]
    fn earlier_sessions_finished_executions_come_first_collapsed_and_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("db.sqlite")).unwrap();
        let mut finished = Vec::new();
        for n in 0..EARLIER_EXECUTIONS + 2 {
            let id = execution(&mut store, "s1", &format!("earlier {n}"));
            store.cancel(&id, None).unwrap();
            finished.push(id);
        }
        let open = execution(&mut store, "s1", "still open");
        let mine = execution(&mut store, "s2", "this session's");
        store.cancel(&mine, None).unwrap();
        let snapshot = read_snapshot(&store, "s2").unwrap();
        let shown: Vec<(&str, bool)> = snapshot
            .executions
            .iter()
            .map(|e| (e.id.as_str(), e.earlier))
            .collect();
        let mut expected: Vec<(&str, bool)> =
            finished[2..].iter().map(|id| (id.as_str(), true)).collect();
        expected.extend([(open.as_str(), false), (mine.as_str(), false)]);
        assert_eq!(shown, expected);
    }
}
