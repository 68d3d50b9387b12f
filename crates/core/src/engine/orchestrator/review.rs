//! Review before landing: work that waits in `awaiting_review` goes to the
//! merge queue when a person approves it, and the task fails with their
//! note when they reject it (`rules::may_review`, `rules::REJECTED`). A
//! request for changes is a follow-up (`rerun.rs`).

use super::{Event, Orchestrator};
use crate::{TaskStatus, rules};

impl Orchestrator {
    /// Tasks whose work awaits a person's review, in id order.
    pub fn awaiting_review(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .graph
            .loaded_statuses()
            .filter(|(_, status)| *status == TaskStatus::AwaitingReview)
            .map(|(id, _)| id.to_string())
            .collect();
        ids.sort();
        ids
    }

    fn may_review(&self, task: &str) -> bool {
        let execution = self
            .graph
            .execution_of(task)
            .and_then(|e| self.graph.execution_status(e));
        self.graph
            .status(task)
            .zip(execution)
            .is_some_and(|(t, e)| rules::may_review(t, e).is_ok())
    }

    pub(super) fn approve(&mut self, task: &str, out: &mut Vec<Event>) {
        if !self.may_review(task) {
            return;
        }
        self.set(
            task,
            TaskStatus::WorkerDone,
            Some("approved; merge queued".into()),
            out,
        );
        out.push(Event::Approved {
            task: task.to_string(),
        });
        out.push(Event::QueueMerge {
            task: task.to_string(),
        });
    }

    pub(super) fn reject(&mut self, task: &str, note: String, out: &mut Vec<Event>) {
        if !self.may_review(task) {
            return;
        }
        self.set(task, rules::REJECTED, Some(note.clone().into()), out);
        out.push(Event::TaskFailed {
            task: task.to_string(),
            error: note,
            will_retry: false,
        });
        self.settle(&[task], out);
        self.refresh_execution_of(task, out);
    }

    /// A landing task (`worker_done`) whose merger's resolution waits for
    /// a person.
    pub(super) fn resolution_to_review(&mut self, task: &str, out: &mut Vec<Event>) {
        if self.graph.status(task) != Some(TaskStatus::WorkerDone) {
            return;
        }
        self.set(
            task,
            TaskStatus::AwaitingReview,
            Some("the merger resolved a conflict; its resolution awaits review".into()),
            out,
        );
        out.push(Event::AwaitingReview {
            task: task.to_string(),
            resolution: true,
        });
    }
}
