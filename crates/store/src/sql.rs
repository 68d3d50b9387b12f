//! SQL text built from enki-core's status rules, so a query that filters by
//! status asks the same question as the Rust that decides it.

use std::fmt::Display;

use enki_core::{ExecutionStatus, MergeStatus};

/// The SQL list (`'running', 'paused'`) of the values of `all` that `keep`
/// selects.
fn sql_list<T: Copy + Display>(all: &[T], keep: impl Fn(T) -> bool) -> String {
    all.iter()
        .filter(|value| keep(**value))
        .map(|value| format!("'{value}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Execution statuses that are not terminal ([`ExecutionStatus::is_terminal`]).
pub(crate) fn unfinished_executions() -> String {
    sql_list(ExecutionStatus::ALL, |s| !s.is_terminal())
}

/// Merge request statuses still in the queue ([`MergeStatus::is_pending`]).
pub(crate) fn pending_merges() -> String {
    sql_list(MergeStatus::ALL, MergeStatus::is_pending)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_what_the_rule_keeps_in_declaration_order() {
        assert_eq!(unfinished_executions(), "'running', 'paused'");
        assert_eq!(
            pending_merges(),
            "'queued', 'merging', 'resolving', 'verifying'"
        );
    }
}
