//! Limits of an agent's account met by a worker (`crate::holds`): the
//! attempt ends `limited` (no failure counted), the hold is kept in the
//! store, the orchestrator holds the agent's tasks and every front end is
//! told until when; each tick frees the agents whose hold ended.

use enki_core::engine::Command;
use enki_core::limits::{AgentLimit, utc};

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
        for hold in self.holds.restore(stored, unix_now_ms()) {
            self.command(Command::AgentLimited {
                agent: hold.agent.clone(),
                task: None,
                reason: String::new(),
            })
            .await;
            self.emit(Progress::AgentHeld { hold, task: None });
        }
    }

    pub(super) async fn agent_limited(&mut self, task: String, agent: String, limit: AgentLimit) {
        let now = unix_now_ms();
        let hold = self.holds.limited(&agent, &limit, now);
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
            task: Some(task.clone()),
        });
        self.command(Command::AgentLimited {
            agent,
            task: Some(task),
            reason,
        })
        .await;
    }

    /// Frees the agents whose hold has ended (each tick).
    pub(super) async fn free_agents(&mut self) {
        for agent in self.holds.due(unix_now_ms()) {
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
        if self.holds.did_well(&agent)
            && let Err(e) = self.ctx.db.call(move |s| s.clear_agent_hold(&agent)).await
        {
            tracing::warn!("cannot forget an agent's past limits: {e}");
        }
    }
}
