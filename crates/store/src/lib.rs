//! enki's SQLite store.
//!
//! One database (`.enki/db.sqlite`) is shared by the coordinator and every
//! `enki mcp` process. [`Store::open`] is the only way in: it sets WAL mode
//! (with a size limit for the WAL file), a busy timeout and foreign keys, and
//! brings the schema up to date. Every write runs in one `BEGIN IMMEDIATE`
//! transaction, retried while the database is busy, so multi-row writes are
//! all-or-nothing and concurrent writers queue instead of failing. A process
//! with many concurrent writers may commit theirs together (`group.rs`).

mod chat;
mod error;
mod executions;
mod followup;
mod group;
mod held;
mod ids;
mod limits;
mod mail;
mod merge;
mod merger_runs;
mod review;
mod rows;
mod runs;
mod schema;
mod sql;
mod store;
mod task_events;
mod tasks;
mod time;
mod usage;

pub use chat::{ChatRow, Speaker};
pub use error::StoreError;
pub use executions::{CreatedSteps, NeedTarget, NewNeed, NewStep};
pub use followup::{Dependent, FollowedUp};
pub use mail::{MailFilter, NewMessage};
pub use review::{Decision, ReviewRecord, rejection_error};
pub use rows::{
    AttemptRow, DependencyRow, ExecutionRow, MergeRequestRow, MergerRunRow, MessageRow,
    StatusCounts, TaskEventRow, TaskRow,
};
pub use schema::SCHEMA_VERSION;
pub use store::{Store, WAL_SIZE_LIMIT};
pub use tasks::TaskFilter;
pub use time::{now_rfc3339, seconds_between};
pub use usage::{RunKey, UsageFilter, UsageRow};

#[cfg(test)]
mod agent_state_tests;
#[cfg(test)]
mod followup_tests;
#[cfg(test)]
mod group_tests;
#[cfg(test)]
mod held_tests;
#[cfg(test)]
mod review_tests;
#[cfg(test)]
mod status_tests;
#[cfg(test)]
mod tests;
