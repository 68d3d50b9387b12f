//! Mail between the planner, workers and the user: addresses and enums.

use std::fmt;

use thiserror::Error;

use crate::status::string_enum;
use crate::{ParseEnumError, id};

string_enum!(
    /// Delivery priority; unread mail is listed by priority, then age.
    Priority, "priority", {
        Low => "low",
        Normal => "normal",
        High => "high",
        Urgent => "urgent",
    }
);

impl Priority {
    /// Sort rank: higher is more pressing.
    pub const fn rank(self) -> u8 {
        match self {
            Priority::Low => 0,
            Priority::Normal => 1,
            Priority::High => 2,
            Priority::Urgent => 3,
        }
    }
}

impl Default for Priority {
    fn default() -> Self {
        Priority::Normal
    }
}

string_enum!(
    /// Whether a message only informs or asks for something.
    MailKind, "kind", {
        Info => "info",
        Request => "request",
    }
);

impl Default for MailKind {
    fn default() -> Self {
        MailKind::Info
    }
}

string_enum!(
    /// The answer a reply gives to a request.
    ReplyStatus, "reply status", {
        Accepted => "accepted",
        Rejected => "rejected",
        Completed => "completed",
    }
);

/// Where mail goes. Worker addresses hold whatever id or prefix was typed;
/// the store resolves it to a full task id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    Coordinator,
    User,
    /// `@workers`: every running worker at send time.
    AllWorkers,
    Worker(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid address '{0}' (expected 'coordinator', 'user', '@workers' or 'worker/<task id>')")]
pub struct AddressError(pub String);

impl Address {
    pub fn parse(input: &str) -> Result<Address, AddressError> {
        match input.trim() {
            "coordinator" => Ok(Address::Coordinator),
            "user" => Ok(Address::User),
            "@workers" => Ok(Address::AllWorkers),
            other => match other.strip_prefix("worker/") {
                Some(task) if id::normalize_prefix(id::IdKind::Task, task).is_ok() => {
                    Ok(Address::Worker(task.to_string()))
                }
                _ => Err(AddressError(input.to_string())),
            },
        }
    }

    /// The mailbox string stored for a worker with a full task id.
    pub fn worker_mailbox(task_id: &str) -> String {
        format!("worker/{task_id}")
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Coordinator => f.write_str("coordinator"),
            Address::User => f.write_str("user"),
            Address::AllWorkers => f.write_str("@workers"),
            Address::Worker(task) => write!(f, "worker/{task}"),
        }
    }
}

/// Parses a priority string, for callers that hold text (e.g. the CLI).
pub fn parse_priority(text: &str) -> Result<Priority, ParseEnumError> {
    text.parse()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse_and_print() {
        assert_eq!(Address::parse("coordinator"), Ok(Address::Coordinator));
        assert_eq!(Address::parse("user"), Ok(Address::User));
        assert_eq!(Address::parse("@workers"), Ok(Address::AllWorkers));
        assert_eq!(
            Address::parse("worker/task-01JA"),
            Ok(Address::Worker("task-01JA".into()))
        );
        assert_eq!(Address::parse("worker/01ja").unwrap().to_string(), "worker/01ja");
        for bad in ["", "worker/", "worker/??", "planner", "@all"] {
            assert!(Address::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn priorities_rank_in_order() {
        assert!(Priority::Urgent.rank() > Priority::High.rank());
        assert!(Priority::High.rank() > Priority::Normal.rank());
        assert!(Priority::Normal.rank() > Priority::Low.rank());
        assert_eq!(parse_priority("urgent"), Ok(Priority::Urgent));
        assert_eq!(Priority::default(), Priority::Normal);
        assert_eq!(MailKind::default(), MailKind::Info);
        assert_eq!("completed".parse::<ReplyStatus>(), Ok(ReplyStatus::Completed));
    }
}
