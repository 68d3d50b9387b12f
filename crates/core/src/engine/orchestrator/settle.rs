//! Settling: after tasks change, the waiting tasks downstream of them become
//! `ready`, `blocked` or stay `pending` as their edges say
//! ([`crate::rules::readiness`]), until nothing moves.

use std::collections::{BTreeSet, VecDeque};

use super::{Event, Orchestrator};
use crate::TaskStatus;

impl Orchestrator {
    /// Re-evaluates waiting tasks, starting with the dependents of
    /// `changed`, until nothing moves. Follows slots, not ids: on a large
    /// DAG this is the scheduler's inner loop.
    pub(super) fn settle(&mut self, changed: Vec<String>, out: &mut Vec<Event>) {
        let changed: Vec<usize> = changed.iter().filter_map(|t| self.graph.slot(t)).collect();
        let mut queue: VecDeque<usize> = changed
            .iter()
            .flat_map(|slot| self.graph.dependents_at(*slot).iter().copied())
            .collect();
        queue.extend(changed);
        let mut touched_executions: BTreeSet<String> = BTreeSet::new();
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
                    .then(|| "a dependency failed or was cancelled".to_string());
                self.graph.set_status_at(slot, next);
                out.push(Event::TaskStatus {
                    task: self.graph.id_at(slot).to_string(),
                    status: next,
                    reason,
                });
                queue.extend(self.graph.dependents_at(slot).iter().copied());
                if let Some(e) = self.graph.node_at(slot).map(|n| n.execution.as_str())
                    && !touched_executions.contains(e)
                {
                    touched_executions.insert(e.to_string());
                }
            }
        }
        for execution in touched_executions {
            self.refresh_execution(&execution, out);
        }
    }
}
