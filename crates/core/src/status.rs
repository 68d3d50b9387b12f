//! Statuses, tiers and dependency conditions, with their stable string forms
//! (the strings are what the database, signals and tools use).


use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("unknown {what} '{value}' (expected one of: {expected})")]
pub struct ParseEnumError {
    pub what: &'static str,
    pub value: String,
    pub expected: String,
}

macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident, $what:literal, { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::status::ParseEnumError;

            fn from_str(value: &str) -> Result<Self, Self::Err> {
                match value {
                    $($text => Ok($name::$variant),)+
                    _ => Err(ParseEnumError {
                        what: $what,
                        value: value.to_string(),
                        expected: [$($text),+].join(", "),
                    }),
                }
            }
        }
    };
}

pub(crate) use string_enum;

string_enum!(
    /// Lifecycle of a task (STATE.md "Task states").
    TaskStatus, "task status", {
        Pending => "pending",
        Ready => "ready",
        Running => "running",
        WorkerDone => "worker_done",
        Done => "done",
        Failed => "failed",
        Blocked => "blocked",
        Paused => "paused",
        Cancelled => "cancelled",
    }
);

impl TaskStatus {
    /// A task in a terminal state will not change again without a retry.
    pub const fn is_terminal(self) -> bool {
        matches!(self, TaskStatus::Done | TaskStatus::Failed | TaskStatus::Cancelled)
    }

    /// `enki_task_retry` accepts only failed or blocked tasks.
    pub const fn is_retryable(self) -> bool {
        matches!(self, TaskStatus::Failed | TaskStatus::Blocked)
    }
}

string_enum!(
    /// Lifecycle of an execution.
    ExecutionStatus, "execution status", {
        Running => "running",
        Paused => "paused",
        Done => "done",
        Failed => "failed",
        Cancelled => "cancelled",
    }
);

impl ExecutionStatus {
    pub const fn is_terminal(self) -> bool {
        matches!(self, ExecutionStatus::Done | ExecutionStatus::Failed | ExecutionStatus::Cancelled)
    }
}

string_enum!(
    /// Lifecycle of a merge request in the merge queue.
    MergeStatus, "merge status", {
        Queued => "queued",
        Merging => "merging",
        Resolving => "resolving",
        Verifying => "verifying",
        Merged => "merged",
        Failed => "failed",
        Conflicted => "conflicted",
    }
);

impl MergeStatus {
    /// Still in the queue (waiting or being worked on).
    pub const fn is_pending(self) -> bool {
        matches!(
            self,
            MergeStatus::Queued | MergeStatus::Merging | MergeStatus::Resolving | MergeStatus::Verifying
        )
    }
}

string_enum!(
    /// How hard a task is; decides concurrency limits and which agent runs it.
    Tier, "tier", {
        Light => "light",
        Standard => "standard",
        Heavy => "heavy",
    }
);

impl Default for Tier {
    fn default() -> Self {
        Tier::Standard
    }
}

string_enum!(
    /// When a dependency edge is satisfied.
    Condition, "condition", {
        Merged => "merged",
        Completed => "completed",
        Started => "started",
    }
);

impl Default for Condition {
    fn default() -> Self {
        Condition::Merged
    }
}

impl Condition {
    /// Whether a dependency in `status` satisfies an edge with this condition.
    pub const fn is_satisfied_by(self, status: TaskStatus) -> bool {
        match self {
            Condition::Merged => matches!(status, TaskStatus::Done),
            Condition::Completed => matches!(status, TaskStatus::WorkerDone | TaskStatus::Done),
            Condition::Started => {
                matches!(status, TaskStatus::Running | TaskStatus::WorkerDone | TaskStatus::Done)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_round_trips_through_its_string() {
        for s in TaskStatus::ALL {
            assert_eq!(s.as_str().parse::<TaskStatus>(), Ok(*s));
        }
        for s in ExecutionStatus::ALL {
            assert_eq!(s.as_str().parse::<ExecutionStatus>(), Ok(*s));
        }
        for s in MergeStatus::ALL {
            assert_eq!(s.as_str().parse::<MergeStatus>(), Ok(*s));
        }
        for s in Tier::ALL {
            assert_eq!(s.as_str().parse::<Tier>(), Ok(*s));
        }
        for s in Condition::ALL {
            assert_eq!(s.as_str().parse::<Condition>(), Ok(*s));
        }
    }

    #[test]
    fn unknown_values_name_what_was_expected() {
        let err = "huge".parse::<Tier>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown tier 'huge' (expected one of: light, standard, heavy)"
        );
        assert!("Done".parse::<TaskStatus>().is_err(), "strings are case-sensitive");
    }

    #[test]
    fn serde_uses_the_same_strings() {
        assert_eq!(serde_json::to_string(&TaskStatus::WorkerDone).unwrap(), "\"worker_done\"");
        assert_eq!(serde_json::from_str::<Condition>("\"started\"").unwrap(), Condition::Started);
    }

    #[test]
    fn conditions_are_satisfied_by_the_right_states() {
        use TaskStatus::*;
        let table = [
            (Condition::Merged, Done, true),
            (Condition::Merged, WorkerDone, false),
            (Condition::Completed, WorkerDone, true),
            (Condition::Completed, Done, true),
            (Condition::Completed, Running, false),
            (Condition::Started, Running, true),
            (Condition::Started, Ready, false),
            (Condition::Started, Failed, false),
            (Condition::Merged, Cancelled, false),
        ];
        for (condition, status, expected) in table {
            assert_eq!(condition.is_satisfied_by(status), expected, "{condition} by {status}");
        }
    }

    #[test]
    fn terminal_and_retryable_states() {
        assert!(TaskStatus::Done.is_terminal());
        assert!(!TaskStatus::Blocked.is_terminal());
        assert!(TaskStatus::Blocked.is_retryable());
        assert!(TaskStatus::Failed.is_retryable());
        assert!(!TaskStatus::Running.is_retryable());
        assert!(MergeStatus::Verifying.is_pending());
        assert!(!MergeStatus::Conflicted.is_pending());
        assert!(ExecutionStatus::Cancelled.is_terminal());
    }
}
