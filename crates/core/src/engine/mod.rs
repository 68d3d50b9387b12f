//! The coordinator's brain, with no IO: the in-memory DAG of tasks, the
//! scheduler, the stall monitor and the orchestrator that turns commands
//! into events (`handle(Command) -> Vec<Event>`).
//!
//! The coordinator feeds it what happened (a signal applied, a worker
//! finished, a timer tick) and carries out what it answers (persist a
//! status, start or stop a worker, queue a merge). The database stays the
//! truth: the graph can always be rebuilt from it with [`Command::Load`].

mod graph;
mod ids;
mod lists;
mod orchestrator;
mod ready;
mod scheduler;

pub use graph::{Edge, ExecutionSnapshot, Graph, NodeSnapshot};
pub use orchestrator::{Command, Event, Orchestrator, Settings, StopCause, WorkResult};
pub use scheduler::Limits;

#[cfg(test)]
mod tests;
