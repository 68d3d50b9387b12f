//! Escape attempts by agents (writes outside their copy, forged inputs):
//! each is refused or harmless, and the legitimate work still lands.
// An integration test: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod fs_race;
mod git;
mod identity;
mod modes;
mod network;
mod sandbox;
