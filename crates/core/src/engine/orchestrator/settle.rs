//! Settling: after tasks change, the waiting tasks downstream of them become
//! `ready`, `blocked` or stay `pending` as their edges say
//! ([`crate::rules::readiness`]), until nothing moves.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::sync::Arc;

use super::{Event, Orchestrator};
use crate::TaskStatus;

/// What settling keeps between events, so that it allocates nothing.
#[derive(Debug, Clone, Default)]
pub(super) struct Settling {
    queue: VecDeque<u32>,
    /// The executions whose tasks moved, by index.
    touched: Vec<u32>,
}

impl Orchestrator {
    /// Re-evaluates waiting tasks, starting with the dependents of
    /// `changed`, until nothing moves. Follows slots, not ids: on a large
    /// DAG this is the scheduler's inner loop.
    pub(super) fn settle<S: AsRef<str>>(&mut self, changed: &[S], out: &mut Vec<Event>) {
        let changed: Vec<u32> = changed
            .iter()
            .filter_map(|t| self.graph.slot(t.as_ref()))
            .collect();
        self.settle_slots(&changed, out);
    }

    /// [`Orchestrator::settle`] by slot.
    pub(super) fn settle_slots(&mut self, changed: &[u32], out: &mut Vec<Event>) {
        // The queue and the list are kept between calls: this runs for
        // nearly every event.
        let mut queue = std::mem::take(&mut self.settling.queue);
        let mut touched_executions = std::mem::take(&mut self.settling.touched);
        queue.clear();
        touched_executions.clear();
        for slot in changed {
            queue.extend(self.graph.dependents_at(*slot));
        }
        queue.extend(changed);
        while let Some(slot) = queue.pop_front() {
            let Some(status) = self.graph.status_at(slot) else {
                continue;
            };
            if !matches!(status, TaskStatus::Pending | TaskStatus::Ready) {
                continue;
            }
            let next = self.graph.readiness_at(slot);
            if next != status {
                let reason = (next == TaskStatus::Blocked)
                    .then_some(Cow::Borrowed("a dependency failed or was cancelled"));
                self.set_at(slot, next, reason, out);
                queue.extend(self.graph.dependents_at(slot));
                if let Some(e) = self.graph.node_at(slot).map(|n| n.execution)
                    && !touched_executions.contains(&e)
                {
                    touched_executions.push(e);
                }
            }
        }
        self.settling.queue = queue;
        // Few (mostly one): refreshed in id order.
        let mut touched: Vec<Arc<str>> = match touched_executions.as_slice() {
            [] => Vec::new(),
            [only] => {
                let execution = Arc::clone(self.graph.execution_id(*only));
                self.settling.touched = touched_executions;
                self.refresh_execution(&execution, out);
                return;
            }
            many => many
                .iter()
                .map(|e| Arc::clone(self.graph.execution_id(*e)))
                .collect(),
        };
        self.settling.touched = touched_executions;
        touched.sort();
        for execution in touched {
            self.refresh_execution(&execution, out);
        }
    }
}
