//! What must hold whatever happens to the coordinator: one coordinator per
//! project however many start at once, and a truthful `enki status` when
//! none runs.
// An integration test: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod lock;
