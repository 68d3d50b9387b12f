//! Work given back to a task that had ended: a retry of a failed or
//! blocked task (its blocked dependents with it) and a follow-up round of a
//! done one. Each reopens a finished execution; the rules of who may get
//! which are `rules::may_retry` and `rules::may_follow_up`.

use std::collections::BTreeSet;

use super::{Event, Orchestrator};
use crate::{TaskStatus, rules};

impl Orchestrator {
    pub(super) fn retry(&mut self, task: &str, out: &mut Vec<Event>) {
        let execution = self
            .graph
            .execution_of(task)
            .and_then(|e| self.graph.execution_status(e));
        let status = self.graph.status(task);
        if !status
            .zip(execution)
            .is_some_and(|(t, e)| rules::may_retry(t, e))
        {
            return;
        }
        if let Some(node) = self.graph.node_mut(task) {
            node.failures = 0;
        }
        self.set(
            task,
            TaskStatus::Pending,
            Some("retry requested".into()),
            out,
        );
        let mut reset = vec![task.to_string()];
        for dependent in self.graph.transitive_dependents(task) {
            if self.graph.status(&dependent) == Some(TaskStatus::Blocked) {
                self.set(
                    &dependent,
                    TaskStatus::Pending,
                    Some("unblocked by a retry".into()),
                    out,
                );
                reset.push(dependent);
            }
        }
        let mut executions = BTreeSet::new();
        for t in &reset {
            if let Some(e) = self.graph.execution_of(t) {
                executions.insert(e.to_string());
            }
        }
        for e in &executions {
            self.reopen(e, out);
        }
        self.settle(&reset, out);
    }

    /// A done task goes back to `pending` with a fresh retry budget and its
    /// execution reopens. Dependents that started or finished keep their
    /// status (nothing is re-run); those still waiting wait for it again,
    /// as its edges no longer hold.
    pub(super) fn follow_up(&mut self, task: &str, out: &mut Vec<Event>) {
        let Some(execution) = self.graph.execution_of(task).map(str::to_string) else {
            return;
        };
        let allowed = self
            .graph
            .status(task)
            .zip(self.graph.execution_status(&execution))
            .is_some_and(|(t, e)| rules::may_follow_up(t, e).is_ok());
        if !allowed {
            return;
        }
        if let Some(node) = self.graph.node_mut(task) {
            node.failures = 0;
        }
        self.set(
            task,
            TaskStatus::Pending,
            Some("follow-up requested".into()),
            out,
        );
        self.reopen(&execution, out);
        self.settle(&[task], out);
    }
}
