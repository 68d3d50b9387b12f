//! The synchronous core of enki: domain types and pure logic.
//!
//! Nothing in this crate performs IO or spawns threads, so every rule here is
//! testable with plain unit tests.

pub mod budget;
pub mod dag;
pub mod engine;
pub mod hashline;
pub mod id;
pub mod landing;
pub mod limits;
pub mod liveness;
pub mod mail;
pub mod need;
pub mod review;
pub mod role;
pub mod rules;
pub mod status;
pub mod usage;

pub use id::{ExecutionId, IdError, IdKind, MergeRequestId, MessageId, SessionId, TaskId};
pub use liveness::AgentState;
pub use review::ReviewMode;
pub use status::{Condition, ExecutionStatus, MergeStatus, ParseEnumError, TaskStatus, Tier};
