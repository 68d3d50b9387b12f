//! What must hold whatever happens to the coordinator: every task's work
//! lands exactly once when it is killed at any instant, nothing its agents
//! and hooks started outlives it, one coordinator per project however many
//! start at once, and a truthful `enki status` when none runs.
// An integration test: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod base_branch;
mod containment;
mod disk_full;
mod followup;
mod forged_signals;
mod gc;
mod grouped;
mod landing;
mod load;
mod lock;
mod pooled;
mod review;
