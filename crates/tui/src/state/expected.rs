//! Operations the user just asked for, remembered so the status they
//! cause is not announced a second time (their result already said so).

use super::App;
use crate::msg::Op;

/// A status change the user asked for with an operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Expected {
    /// An execution id or prefix.
    execution: String,
    /// The step, when the operation was on one.
    step: Option<String>,
    status: String,
}

/// Whether `id` is the execution `given` (an id or a prefix, with or
/// without `exec-`) names.
pub(crate) fn same_execution(id: &str, given: &str) -> bool {
    id.starts_with(given) || id.get(5..).is_some_and(|u| u.starts_with(given))
}

impl App {
    /// Remembers the execution status an operation will cause.
    pub(crate) fn expect(&mut self, op: &Op) {
        let (target, status) = match op {
            Op::Pause(target) => (target, "paused"),
            Op::Resume(target) => (target, "running"),
            Op::Cancel(target) => (target, "cancelled"),
            _ => return,
        };
        // A step that is resumed becomes pending (or ready), not running.
        if target.step.is_some() && status == "running" {
            return;
        }
        if let Some(execution) = &target.execution {
            self.expected.push(Expected {
                execution: execution.clone(),
                step: target.step.clone(),
                status: status.to_string(),
            });
            let excess = self.expected.len().saturating_sub(8);
            self.expected.drain(..excess);
        }
    }

    /// Whether a status of an execution (`step` `None`) or of one of its
    /// steps is the echo of the user's own operation, already reported by
    /// its result; forgets the expectation if so.
    pub(crate) fn expected_status(
        &mut self,
        execution: &str,
        step: Option<&str>,
        status: &str,
    ) -> bool {
        let found = self.expected.iter().position(|e| {
            e.status == status
                && e.step.as_deref() == step
                && same_execution(execution, &e.execution)
        });
        found.map(|i| self.expected.remove(i)).is_some()
    }
}
