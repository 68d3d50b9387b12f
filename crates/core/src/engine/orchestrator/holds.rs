//! Agents whose account is limited (`crate::limits`): their tasks wait in
//! `ready` without taking a worker slot, and the task whose worker met the
//! limit goes back to `ready` without a failure counted. When the limit
//! resets (the coordinator keeps the time) the agent is free again.

use crate::TaskStatus;

use super::{Event, Orchestrator};

impl Orchestrator {
    /// The agents whose tasks wait for a limit, in name order.
    pub fn held_agents(&self) -> Vec<String> {
        self.held.iter().cloned().collect()
    }

    pub(super) fn limited(
        &mut self,
        agent: String,
        task: Option<String>,
        reason: String,
        out: &mut Vec<Event>,
    ) {
        self.held.insert(agent);
        let Some(task) = task else { return };
        if self.running.remove(&task).is_none() {
            return;
        }
        self.set(&task, TaskStatus::Ready, Some(reason.into()), out);
        // A task back in `ready` no longer satisfies `started` edges.
        self.settle(&[&task], out);
        self.refresh_execution_of(&task, out);
    }
}
