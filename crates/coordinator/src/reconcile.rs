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
#[derive(Debug, Clone, PartialEq)]
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
                (Pending | Ready, Done | AwaitingReview) => {
                    out.push(Repair::Command(Command::FollowUp {
                        task: task.id.clone(),
                    }))
                }
                // A person's review decision (`enki approve`, `enki reject`).
                (WorkerDone, AwaitingReview) => out.push(Repair::Command(Command::Approve {
                    task: task.id.clone(),
                })),
                (Failed, AwaitingReview) => out.push(Repair::Command(Command::Reject {
                    task: task.id.clone(),
                    note: task
                        .last_error
                        .clone()
                        .unwrap_or_else(|| enki_store::rejection_error(None)),
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
    use enki_core::engine::{Limits, Orchestrator, Settings};
    use enki_store::{NewStep, Store};

    use super::*;
    use crate::snapshot::execution_snapshot;

    /// A store with execution `e` of independent steps a and b, and an
    /// orchestrator loaded from it (one worker slot: a runs, b waits).
    struct World {
        _dir: tempfile::TempDir,
        store: Store,
        orch: Orchestrator,
        execution: String,
    }

    impl World {
        fn new() -> World {
            let dir = tempfile::tempdir().unwrap();
            let mut store = Store::open(&dir.path().join("db.sqlite")).unwrap();
            let created = store
                .create_execution(
                    None,
                    "e",
                    false,
                    &[NewStep::new("a", "a"), NewStep::new("b", "b")],
                )
                .unwrap();
            let mut orch = Orchestrator::new(Settings {
                limits: Limits {
                    max_workers: 1,
                    ..Limits::default()
                },
                retries: 0,
                stall_timeout_ms: 60_000,
                api_retry_limit_ms: 60_000,
            });
            let snapshot = execution_snapshot(&store, &created.execution_id, &|_| "sim".into())
                .unwrap()
                .unwrap();
            orch.handle(Command::Load(snapshot));
            World {
                _dir: dir,
                store,
                orch,
                execution: created.execution_id,
            }
        }

        fn task(&self, step: &str) -> String {
            self.orch
                .graph()
                .step_task(&self.execution, step)
                .unwrap()
                .to_string()
        }

        /// What the store holds, with the given statuses written over it
        /// (as another process would have written them).
        fn stored(
            &self,
            execution: Option<ExecutionStatus>,
            tasks: &[(&str, TaskStatus)],
        ) -> Vec<StoredExecution> {
            let mut row = self.store.execution(&self.execution).unwrap().unwrap();
            if let Some(status) = execution {
                row.status = status;
            }
            let mut rows = self
                .store
                .tasks(&enki_store::TaskFilter {
                    execution_id: Some(self.execution.clone()),
                    ..Default::default()
                })
                .unwrap();
            for row in &mut rows {
                // The store agrees with the graph unless told otherwise.
                row.status = self.orch.graph().status(&row.id).unwrap();
                if let Some((_, status)) = tasks.iter().find(|(s, _)| *s == row.step_id) {
                    row.status = *status;
                }
            }
            vec![StoredExecution {
                execution: row,
                tasks: rows,
            }]
        }
    }

    fn step_command(
        command: fn(String, Option<String>) -> Command,
        w: &World,
        step: &str,
    ) -> Repair {
        Repair::Command(command(w.execution.clone(), Some(step.into())))
    }

    #[test]
    fn a_store_that_agrees_needs_no_repair() {
        let w = World::new();
        assert_eq!(
            w.orch.graph().status(&w.task("a")),
            Some(TaskStatus::Running)
        );
        assert_eq!(repairs(w.orch.graph(), &w.stored(None, &[])), vec![]);
    }

    #[test]
    fn lost_pause_resume_cancel_and_retry_signals_are_repaired() {
        let mut w = World::new();
        let stored = w.stored(Some(ExecutionStatus::Paused), &[]);
        assert_eq!(
            repairs(w.orch.graph(), &stored),
            vec![Repair::Command(pause(w.execution.clone(), None))]
        );

        let stored = w.stored(
            None,
            &[("a", TaskStatus::Cancelled), ("b", TaskStatus::Paused)],
        );
        assert_eq!(
            repairs(w.orch.graph(), &stored),
            vec![step_command(cancel, &w, "a"), step_command(pause, &w, "b")]
        );

        // a failed in memory; the store says someone retried it.
        let a = w.task("a");
        w.orch.handle(Command::WorkerFailed {
            task: a.clone(),
            error: "boom".into(),
        });
        assert_eq!(w.orch.graph().status(&a), Some(TaskStatus::Failed));
        let stored = w.stored(None, &[("a", TaskStatus::Pending)]);
        assert_eq!(
            repairs(w.orch.graph(), &stored),
            vec![Repair::Command(Command::Retry { task: a })]
        );

        // Applying the repairs brings the graph in line: nothing is left.
        let stored = w.stored(Some(ExecutionStatus::Paused), &[]);
        for repair in repairs(w.orch.graph(), &stored) {
            if let Repair::Command(command) = repair {
                w.orch.handle(command);
            }
        }
        assert_eq!(repairs(w.orch.graph(), &stored), vec![]);
    }

    #[test]
    fn a_lost_follow_up_signal_is_repaired() {
        let mut w = World::new();
        let a = w.task("a");
        w.orch.handle(Command::WorkerFinished {
            task: a.clone(),
            result: enki_core::engine::WorkResult::NoChanges,
        });
        assert_eq!(w.orch.graph().status(&a), Some(TaskStatus::Done));
        // Someone followed a up: the store has it pending (or already ready).
        for status in [TaskStatus::Pending, TaskStatus::Ready] {
            let stored = w.stored(None, &[("a", status)]);
            assert_eq!(
                repairs(w.orch.graph(), &stored),
                vec![Repair::Command(Command::FollowUp { task: a.clone() })]
            );
        }
        let stored = w.stored(None, &[("a", TaskStatus::Pending)]);
        for repair in repairs(w.orch.graph(), &stored) {
            if let Repair::Command(command) = repair {
                w.orch.handle(command);
            }
        }
        assert_ne!(w.orch.graph().status(&a), Some(TaskStatus::Done));
        assert_eq!(repairs(w.orch.graph(), &w.stored(None, &[])), vec![]);
    }

    #[test]
    fn review_decisions_are_taken_from_the_store() {
        let mut w = World::new();
        let a = w.task("a");
        w.orch.handle(Command::WorkerFinished {
            task: a.clone(),
            result: enki_core::engine::WorkResult::ChangesToReview,
        });
        assert_eq!(w.orch.graph().status(&a), Some(TaskStatus::AwaitingReview));
        assert_eq!(repairs(w.orch.graph(), &w.stored(None, &[])), vec![]);
        let stored = w.stored(None, &[("a", TaskStatus::WorkerDone)]);
        assert_eq!(
            repairs(w.orch.graph(), &stored),
            vec![Repair::Command(Command::Approve { task: a.clone() })]
        );
        let mut stored = w.stored(None, &[("a", TaskStatus::Failed)]);
        stored[0].tasks[0].last_error = Some("rejected in review: no".into());
        assert_eq!(
            repairs(w.orch.graph(), &stored),
            vec![Repair::Command(Command::Reject {
                task: a.clone(),
                note: "rejected in review: no".into()
            })]
        );
        let stored = w.stored(None, &[("a", TaskStatus::Pending)]);
        assert_eq!(
            repairs(w.orch.graph(), &stored),
            vec![Repair::Command(Command::FollowUp { task: a.clone() })]
        );
        // Applied, the approval leaves nothing to repair.
        let stored = w.stored(None, &[("a", TaskStatus::WorkerDone)]);
        for repair in repairs(w.orch.graph(), &stored) {
            if let Repair::Command(command) = repair {
                w.orch.handle(command);
            }
        }
        assert_eq!(repairs(w.orch.graph(), &w.stored(None, &[])), vec![]);
    }

    #[test]
    fn new_executions_and_new_steps_are_loaded() {
        let mut w = World::new();
        let mut stored = w.stored(None, &[]);
        let mut extra = stored[0].tasks[1].clone();
        extra.id = "task-new".into();
        extra.step_id = "c".into();
        stored[0].tasks.push(extra);
        let mut other = w.stored(None, &[]).remove(0);
        other.execution.id = "exec-other".into();
        other.tasks.clear();
        stored.push(other.clone());
        other.execution.id = "exec-old".into();
        other.execution.status = ExecutionStatus::Done;
        stored.push(other);
        assert_eq!(
            repairs(w.orch.graph(), &stored),
            vec![
                Repair::Load(w.execution.clone()),
                Repair::Load("exec-other".into())
            ]
        );
        // Loading is what the signal would have done; afterwards the
        // original execution needs nothing.
        let snapshot = execution_snapshot(&w.store, &w.execution, &|_| "sim".into())
            .unwrap()
            .unwrap();
        w.orch.handle(Command::Load(snapshot));
        assert_eq!(repairs(w.orch.graph(), &w.stored(None, &[])), vec![]);
    }
}
