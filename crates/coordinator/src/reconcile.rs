//! The store is the truth; signals are only wake-ups. When a signal is lost
//! (its file could not be written, or was deleted by hand), the periodic
//! check compares what the store says with the in-memory graph and repairs
//! the difference with the same commands the signal would have caused.
//! Every repair is idempotent, so a signal that arrives after its repair
//! changes nothing.

use enki_core::ExecutionStatus;
use enki_core::engine::{Command, Graph};
use enki_core::rules::{self, Steering};
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
            let task_id = task.id.clone();
            out.extend(rules::steering(task.status, now).map(|steering| {
                match steering {
                    Steering::Pause => step(pause),
                    Steering::Resume => step(resume),
                    Steering::Cancel => step(cancel),
                    Steering::Retry => Repair::Command(Command::Retry { task: task_id }),
                    Steering::FollowUp => Repair::Command(Command::FollowUp { task: task_id }),
                    Steering::Approve => Repair::Command(Command::Approve { task: task_id }),
                    Steering::Reject => Repair::Command(Command::Reject {
                        task: task_id,
                        note: task
                            .last_error
                            .clone()
                            .unwrap_or_else(|| enki_store::rejection_error(None)),
                    }),
                }
            }));
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
    use enki_core::TaskStatus;
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
            let events = orch.handle(Command::Load(snapshot));
            let mut world = World {
                _dir: dir,
                store,
                orch,
                execution: created.execution_id,
            };
            // The store follows the graph, as the coordinator's writes make it.
            world.record(&events);
            world
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

    impl World {
        /// What the store holds, as the coordinator reads it.
        fn read(&self) -> Vec<StoredExecution> {
            let execution = self.store.execution(&self.execution).unwrap().unwrap();
            let tasks = self
                .store
                .tasks(&enki_store::TaskFilter {
                    execution_id: Some(self.execution.clone()),
                    ..Default::default()
                })
                .unwrap();
            vec![StoredExecution { execution, tasks }]
        }

        /// Writes the statuses of `events` as the coordinator does.
        fn record(&mut self, events: &[enki_core::engine::Event]) {
            for event in events {
                if let enki_core::engine::Event::TaskStatus {
                    task,
                    from,
                    status,
                    reason,
                } = event
                {
                    self.store
                        .record_status(task, *from, *status, reason.as_deref())
                        .unwrap();
                }
            }
        }

        fn stored_status(&self, step: &str) -> TaskStatus {
            self.store.task(&self.task(step)).unwrap().unwrap().status
        }
    }

    /// `enki pause` then `enki resume` of a running step, the resume landing
    /// while the coordinator answers the pause (its worker stopped, the
    /// paused status not yet written): the coordinator's `paused` must not
    /// overwrite the resume, or the step stays paused for good (the resume's
    /// signal finds the store not resumed and is set aside) and its worker
    /// never starts again.
    #[test]
    fn a_resume_that_lands_while_a_pause_is_answered_is_kept_and_followed() {
        let mut w = World::new();
        let a = w.task("a");
        assert_eq!(w.stored_status("a"), TaskStatus::Running);

        w.store.pause(&w.execution, Some("a")).unwrap();
        let pause = repairs(w.orch.graph(), &w.read());
        assert_eq!(pause, vec![step_command(super::pause, &w, "a")]);
        let Repair::Command(pause) = pause.into_iter().next().unwrap() else {
            unreachable!("a command, as asserted")
        };
        let answer = w.orch.handle(pause);
        assert!(answer.iter().any(|e| matches!(
            e,
            enki_core::engine::Event::StopWorker { task, .. } if *task == a
        )));
        // The person's resume lands before the answer's status is written.
        w.store.resume(&w.execution, Some("a")).unwrap();
        w.record(&answer);
        assert_eq!(
            w.stored_status("a"),
            TaskStatus::Pending,
            "the resume was undone"
        );

        // The resume's signal (or the periodic comparison) is followed: the
        // step waits for the slot b took when it paused, then runs again,
        // and store and graph agree.
        let resume = repairs(w.orch.graph(), &w.read());
        assert_eq!(resume, vec![step_command(super::resume, &w, "a")]);
        let Repair::Command(resume) = resume.into_iter().next().unwrap() else {
            unreachable!("a command, as asserted")
        };
        let events = w.orch.handle(resume);
        w.record(&events);
        assert_eq!(w.stored_status("a"), TaskStatus::Ready);
        assert_eq!(repairs(w.orch.graph(), &w.read()), vec![]);
        let events = w.orch.handle(Command::WorkerFinished {
            task: w.task("b"),
            result: enki_core::engine::WorkResult::NoChanges,
        });
        assert!(events.iter().any(|e| matches!(
            e,
            enki_core::engine::Event::StartWorker { task, .. } if *task == a
        )));
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
