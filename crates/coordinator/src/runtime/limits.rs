//! Limits of an agent's account (`crate::holds`), whichever role met them:
//! a worker's attempt ends `limited` (no failure counted), a merger's merge
//! waits queued, a planner's turn is tried again; in every case the hold
//! is kept in the store, the orchestrator holds the agent's tasks and every
//! front end is told until when. Each tick frees the agents whose hold ended.

use enki_core::engine::Command;
use enki_core::limits::{AgentLimit, Hold, MetBy, utc};

use crate::holds::unix_now_ms;
use crate::progress::Progress;

use super::Runtime;

impl Runtime {
    /// An earlier coordinator's holds still running are held again.
    pub(super) async fn restore_holds(&mut self) {
        let stored = match self.ctx.db.call(|s| s.agent_holds()).await {
            Ok(stored) => stored,
            Err(e) => {
                self.emit(Progress::Warning {
                    message: format!("cannot read which agents wait for a limit: {e}"),
                });
                return;
            }
        };
        let running = self.ctx.holds().restore(stored, unix_now_ms());
        for hold in running {
            self.held(hold, MetBy::Earlier).await;
        }
    }

    /// A worker's agent met a limit: its attempt ends `limited` and its
    /// task goes back to ready without a failure counted.
    pub(super) async fn agent_limited(&mut self, task: String, agent: String, limit: AgentLimit) {
        let hold = self.ctx.holds().limited(&agent, &limit, unix_now_ms());
        let reason = format!(
            "agent {agent} met its {} ({}); the task waits until {}, and this attempt does not count",
            hold.kind.describe(),
            hold.message,
            utc(hold.until_ms)
        );
        let (t, kept, message) = (task.clone(), hold.clone(), limit.message.clone());
        let recorded = self
            .ctx
            .db
            .call(move |s| {
                s.end_attempt(&t, "limited", Some(&message))?;
                s.set_agent_hold(&kept)
            })
            .await;
        if let Err(e) = recorded {
            self.emit(Progress::Warning {
                message: format!("cannot record that agent {agent} waits for a limit: {e}"),
            });
        }
        self.emit(Progress::AgentHeld {
            hold,
            met_by: MetBy::Worker { task: task.clone() },
        });
        self.command(Command::AgentLimited {
            agent,
            task: Some(task),
            reason,
        })
        .await;
    }

    /// A hold recorded elsewhere (by a merger, the planner, an earlier
    /// coordinator): the agent's tasks wait, and the front ends are told.
    pub(super) async fn held(&mut self, hold: Hold, met_by: MetBy) {
        self.command(Command::AgentLimited {
            agent: hold.agent.clone(),
            task: None,
            reason: String::new(),
        })
        .await;
        self.emit(Progress::AgentHeld { hold, met_by });
    }

    /// Frees the agents whose hold has ended (each tick).
    pub(super) async fn free_agents(&mut self) {
        let due = self.ctx.holds().due(unix_now_ms());
        for agent in due {
            self.emit(Progress::AgentFree {
                agent: agent.clone(),
            });
            self.command(Command::AgentFree { agent }).await;
        }
    }

    /// A turn of `task`'s agent ended well: a streak of limits it had is over.
    pub(super) async fn agent_did_well(&mut self, task: &str) {
        let Some(agent) = self.orch.graph().agent(task).map(str::to_string) else {
            return;
        };
        let forget = self.ctx.holds().did_well(&agent);
        if forget && let Err(e) = self.ctx.db.call(move |s| s.clear_agent_hold(&agent)).await {
            tracing::warn!("cannot forget an agent's past limits: {e}");
        }
    }
}
