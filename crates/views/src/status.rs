//! `enki_status` / `enki status`.

use enki_core::TaskStatus;
use enki_store::StatusCounts;

use crate::format::count;

/// One line: task counts by status (in lifecycle order), running workers,
/// merge queue length and active executions. `no tasks yet` when empty.
pub fn status_text(counts: &StatusCounts) -> String {
    if counts.total == 0 && counts.by_status.values().all(|n| *n == 0) {
        return "no tasks yet".to_string();
    }
    let mut parts: Vec<String> = Vec::new();
    for status in TaskStatus::ALL {
        if let Some(n) = counts.by_status.get(status.as_str())
            && *n > 0
        {
            parts.push(format!("{n} {status}"));
        }
    }
    // Statuses this build does not know still show up.
    for (status, n) in &counts.by_status {
        if *n > 0 && status.parse::<TaskStatus>().is_err() {
            parts.push(format!("{n} {status}"));
        }
    }
    format!(
        "{}: {} · {} · merge queue: {} · {}",
        count(counts.total, "task", "tasks"),
        parts.join(", "),
        count(counts.running_workers, "running worker", "running workers"),
        counts.merge_queue,
        count(
            counts.executions_active,
            "active execution",
            "active executions"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_counts_say_so() {
        assert_eq!(status_text(&StatusCounts::default()), "no tasks yet");
    }

    #[test]
    fn work_awaiting_review_is_counted_after_worker_done() {
        let mut counts = StatusCounts::default();
        for (status, n) in [("done", 1), ("awaiting_review", 2), ("worker_done", 1)] {
            counts.by_status.insert(status.to_string(), n);
        }
        counts.total = 4;
        assert!(
            status_text(&counts)
                .starts_with("4 tasks: 1 worker_done, 2 awaiting_review, 1 done · "),
            "{}",
            status_text(&counts)
        );
    }

    #[test]
    fn counts_are_listed_in_lifecycle_order() {
        let mut counts = StatusCounts::default();
        for (status, n) in [("done", 7), ("pending", 2), ("running", 3)] {
            counts.by_status.insert(status.to_string(), n);
        }
        counts.total = 12;
        counts.running_workers = 3;
        counts.merge_queue = 1;
        counts.executions_active = 2;
        assert_eq!(
            status_text(&counts),
            "12 tasks: 2 pending, 3 running, 7 done · 3 running workers · merge queue: 1 · 2 active executions"
        );
    }

    #[test]
    fn singulars_and_unknown_statuses() {
        let mut counts = StatusCounts::default();
        counts.by_status.insert("worker_done".to_string(), 1);
        counts.by_status.insert("exotic".to_string(), 1);
        counts.total = 2;
        counts.running_workers = 1;
        counts.executions_active = 1;
        assert_eq!(
            status_text(&counts),
            "2 tasks: 1 worker_done, 1 exotic · 1 running worker · merge queue: 0 · 1 active execution"
        );
    }
}
