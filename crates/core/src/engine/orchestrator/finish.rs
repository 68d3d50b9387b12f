//! How a worker's turn ends well and how its merge ends: the task moves on
//! (to the merge queue, to review, or done), a checkpoint pauses its
//! execution, and its dependents settle. These run once or twice for every
//! task, so they look its slot up once (a finished worker's slot is kept
//! with it) and follow the slot from there.

use super::{Event, Orchestrator, WorkResult};
use crate::{ExecutionStatus, TaskStatus};

impl Orchestrator {
    pub(super) fn finished(&mut self, task: String, result: WorkResult, out: &mut Vec<Event>) {
        let Some(run) = self.running.remove(&task) else {
            return;
        };
        let slot = run.slot;
        let (status, reason) = match result {
            WorkResult::Changes => (TaskStatus::WorkerDone, "worker finished; merge queued"),
            WorkResult::ChangesToReview => (
                TaskStatus::AwaitingReview,
                "worker finished; its work awaits review",
            ),
            WorkResult::Artifact => (TaskStatus::Done, "artifact written"),
            WorkResult::NoChanges => (TaskStatus::Done, "worker finished with nothing to merge"),
        };
        self.set_at(slot, status, Some(reason.into()), out);
        let checkpoint = self.graph.node_at(slot).is_some_and(|n| n.checkpoint);
        out.push(match result {
            WorkResult::Changes => Event::QueueMerge { task: task.clone() },
            WorkResult::ChangesToReview => Event::AwaitingReview {
                task: task.clone(),
                resolution: false,
            },
            WorkResult::NoChanges | WorkResult::Artifact => {
                Event::TaskFinished { task: task.clone() }
            }
        });
        if checkpoint && let Some(execution) = self.graph.execution_at(slot) {
            let execution = execution.to_string();
            if self.graph.execution_status(&execution) == Some(ExecutionStatus::Running) {
                self.set_execution(&execution, ExecutionStatus::Paused, out);
            }
            out.push(Event::CheckpointReached { execution, task });
        }
        self.settle_slots(&[slot], out);
        self.refresh_execution_at(slot, out);
    }

    pub(super) fn merge_landed(&mut self, task: String, out: &mut Vec<Event>) {
        let Some(slot) = self.merging(&task) else {
            return;
        };
        self.set_at(slot, TaskStatus::Done, Some("merged".into()), out);
        out.push(Event::TaskFinished { task });
        self.settle_slots(&[slot], out);
        self.refresh_execution_at(slot, out);
    }

    pub(super) fn merge_failed(&mut self, task: String, error: String, out: &mut Vec<Event>) {
        let Some(slot) = self.merging(&task) else {
            return;
        };
        self.set_at(slot, TaskStatus::Failed, Some(error.clone().into()), out);
        out.push(Event::TaskFailed {
            task,
            error,
            will_retry: false,
        });
        self.settle_slots(&[slot], out);
        self.refresh_execution_at(slot, out);
    }

    /// The slot of a task whose merge was queued (`worker_done`), if it is one.
    fn merging(&self, task: &str) -> Option<u32> {
        let slot = self.graph.slot(task)?;
        (self.graph.status_at(slot) == Some(TaskStatus::WorkerDone)).then_some(slot)
    }
}
