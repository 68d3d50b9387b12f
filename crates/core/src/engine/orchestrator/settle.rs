//! Settling: after tasks change, the waiting tasks downstream of them become
//! `ready`, `blocked` or stay `pending` as their edges say
//! ([`crate::rules::readiness`]), until nothing moves.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::sync::Arc;

use super::{Event, Orchestrator};
use crate::TaskStatus;

impl Orchestrator {
    /// Re-evaluates waiting tasks, starting with the dependents of
    /// `changed`, until nothing moves. Follows slots, not ids: on a large
    /// DAG this is the scheduler's inner loop.
    pub(super) fn settle<S: AsRef<str>>(&mut self, changed: &[S], out: &mut Vec<Event>) {
        let changed: Vec<usize> = changed
            .iter()
            .filter_map(|t| self.graph.slot(t.as_ref()))
            .collect();
        self.settle_slots(changed, out);
    }

    /// [`Orchestrator::settle`] by slot.
    pub(super) fn settle_slots(&mut self, changed: Vec<usize>, out: &mut Vec<Event>) {
        let mut queue: VecDeque<usize> = changed
            .iter()
            .flat_map(|slot| self.graph.dependents_at(*slot).iter().copied())
            .collect();
        queue.extend(changed);
        // Few (mostly one): a list, its entries compared by pointer first.
        let mut touched_executions: Vec<Arc<str>> = Vec::new();
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
                queue.extend(self.graph.dependents_at(slot).iter().copied());
                if let Some(e) = self.graph.node_at(slot).map(|n| &n.execution)
                    && !touched_executions
                        .iter()
                        .any(|t| Arc::ptr_eq(t, e) || t == e)
                {
                    touched_executions.push(Arc::clone(e));
                }
            }
        }
        touched_executions.sort();
        for execution in touched_executions {
            self.refresh_execution(&execution, out);
        }
    }
}
