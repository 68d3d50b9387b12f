//! The store is the truth; signals are only wake-ups. When a signal is lost
//! (its file could not be written, or was deleted by hand), the periodic
//! check compares what the store says with the in-memory graph and repairs
//! the difference with the same commands the signal would have caused.
//! Every repair is idempotent, so a signal that arrives after its repair
//! changes nothing.

use enki_core::engine::{Command, Graph};
use enki_core::{ExecutionStatus, TaskStatus};
use enki_store::{ExecutionRow, TaskRow};

/// What the store holds about one execution.
#[derive(Debug, Clone)]
pub struct StoredExecution {
    pub execution: ExecutionRow,
    pub tasks: Vec<TaskRow>,
}

/// A repair: load an execution (new, or with new steps), or a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Repair {
    Load(String),
    Command(Command),
}

/// The repairs that bring the graph in line with the store.
pub fn repairs(graph: &Graph, stored: &[StoredExecution]) -> Vec<Repair> {
    let mut out = Vec::new();
    for StoredExecution { execution, tasks } in stored {
        let id = &execution.id;
        let Some(in_memory) = graph.execution_status(id) else {
            if matches!(
                execution.status,
                ExecutionStatus::Running | ExecutionStatus::Paused
            ) {
                out.push(Repair::Load(id.clone()));
            }
            continue;
        };
        if tasks.len() > graph.steps(id).len() {
            out.push(Repair::Load(id.clone()));
        }
        let whole = |command: fn(String, Option<String>) -> Command| {
            Repair::Command(command(id.clone(), None))
        };
        match (execution.status, in_memory) {
            (ExecutionStatus::Paused, ExecutionStatus::Running) => out.push(whole(pause)),
            (ExecutionStatus::Running, ExecutionStatus::Paused) => out.push(whole(resume)),
            (ExecutionStatus::Cancelled, s) if s != ExecutionStatus::Cancelled => {
                out.push(whole(cancel));
            }
            _ => {}
        }
        for task in tasks {
            let Some(now) = graph.status(&task.id) else {
                continue;
            };
            let step = |command: fn(String, Option<String>) -> Command| {
                Repair::Command(command(id.clone(), Some(task.step_id.clone())))
            };
            use TaskStatus::*;
            match (task.status, now) {
                (Paused, Pending | Ready | Running) => out.push(step(pause)),
                (Pending | Ready, Paused) => out.push(step(resume)),
                (Cancelled, s) if !s.is_terminal() => out.push(step(cancel)),
                (Pending, Failed | Blocked) => out.push(Repair::Command(Command::Retry {
                    task: task.id.clone(),
                })),
                _ => {}
            }
        }
    }
    out
}

fn pause(execution: String, step: Option<String>) -> Command {
    Command::Pause { execution, step }
}

fn resume(execution: String, step: Option<String>) -> Command {
    Command::Resume { execution, step }
}

fn cancel(execution: String, step: Option<String>) -> Command {
    Command::Cancel { execution, step }
}

#[cfg(test)]
mod tests {
    use enki_core::engine::{ExecutionSnapshot, NodeSnapshot, Orchestrator, Settings};
    use enki_core::{Tier, engine::Limits};

    use super::*;

    fn node(id: &str, index: i64) -> NodeSnapshot {
        NodeSnapshot {
            id: id.into(),
            step_id: id.into(),
            step_index: index,
            tier: Tier::Standard,
            checkpoint: false,
            status: TaskStatus::Pending,
            failures: 0,
            needs: vec![],
        }
    }

    /// An orchestrator with execution `e` of steps a and b (max 1 worker,
    /// so a runs and b waits).
    fn loaded() -> Orchestrator {
        let mut o = Orchestrator::new(Settings {
            limits: Limits {
                max_workers: 1,
                ..Limits::default()
            },
            retries: 0,
            stall_timeout_ms: 60_000,
        });
        o.handle(Command::Load(ExecutionSnapshot {
            id: "e".into(),
            order: 1,
            status: ExecutionStatus::Running,
            nodes: vec![node("a", 0), node("b", 1)],
        }));
        o
    }

    fn row(id: &str, status: ExecutionStatus) -> ExecutionRow {
        ExecutionRow {
            id: id.into(),
            session_id: None,
            title: String::new(),
            status,
            standalone: false,
            created_at: String::new(),
            updated_at: String::new(),
        }
    }

    fn task(id: &str, index: i64, status: TaskStatus) -> TaskRow {
        TaskRow {
            id: id.into(),
            session_id: None,
            execution_id: "e".into(),
            step_id: id.into(),
            step_index: index,
            title: String::new(),
            description: String::new(),
            tier: Tier::Standard,
            role: None,
            checkpoint: false,
            status,
            attempts: 0,
            failures: 0,
            last_error: None,
            activity: None,
            activity_at: None,
            output: None,
            branch: None,
            copy_path: None,
            created_at: String::new(),
            updated_at: String::new(),
            started_at: None,
            finished_at: None,
        }
    }

    fn stored(status: ExecutionStatus, tasks: Vec<TaskRow>) -> Vec<StoredExecution> {
        vec![StoredExecution {
            execution: row("e", status),
            tasks,
        }]
    }

    #[test]
    fn a_store_that_agrees_needs_no_repair() {
        let o = loaded();
        let store = stored(
            ExecutionStatus::Running,
            vec![
                task("a", 0, TaskStatus::Running),
                task("b", 1, TaskStatus::Ready),
            ],
        );
        assert_eq!(repairs(o.graph(), &store), vec![]);
    }

    #[test]
    fn lost_pause_resume_cancel_and_retry_signals_are_repaired() {
        let mut o = loaded();
        let store = stored(
            ExecutionStatus::Paused,
            vec![
                task("a", 0, TaskStatus::Running),
                task("b", 1, TaskStatus::Ready),
            ],
        );
        assert_eq!(
            repairs(o.graph(), &store),
            vec![Repair::Command(pause("e".into(), None))]
        );

        let store = stored(
            ExecutionStatus::Running,
            vec![
                task("a", 0, TaskStatus::Cancelled),
                task("b", 1, TaskStatus::Paused),
            ],
        );
        assert_eq!(
            repairs(o.graph(), &store),
            vec![
                Repair::Command(cancel("e".into(), Some("a".into()))),
                Repair::Command(pause("e".into(), Some("b".into()))),
            ]
        );

        // a failed in memory; the store says someone retried it.
        o.handle(Command::WorkerFailed {
            task: "a".into(),
            error: "boom".into(),
        });
        assert_eq!(o.graph().status("a"), Some(TaskStatus::Failed));
        let store = stored(
            ExecutionStatus::Running,
            vec![
                task("a", 0, TaskStatus::Pending),
                task("b", 1, TaskStatus::Running),
            ],
        );
        assert_eq!(
            repairs(o.graph(), &store),
            vec![Repair::Command(Command::Retry { task: "a".into() })]
        );
    }

    #[test]
    fn new_executions_and_new_steps_are_loaded() {
        let o = loaded();
        let mut store = stored(
            ExecutionStatus::Running,
            vec![
                task("a", 0, TaskStatus::Running),
                task("b", 1, TaskStatus::Ready),
                task("c", 2, TaskStatus::Pending),
            ],
        );
        store.push(StoredExecution {
            execution: row("f", ExecutionStatus::Running),
            tasks: vec![],
        });
        store.push(StoredExecution {
            execution: row("old", ExecutionStatus::Done),
            tasks: vec![],
        });
        assert_eq!(
            repairs(o.graph(), &store),
            vec![Repair::Load("e".into()), Repair::Load("f".into())]
        );
    }
}
