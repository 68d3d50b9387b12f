//! A run's usage as its agent reports it: the turns' tokens (the usage of
//! `session/prompt` responses) and the session's cost (`usage_update`),
//! counted per run and written to the store's `usage` row of the run each
//! time it changes. A run whose agent reports nothing keeps a row whose
//! amounts are unknown, so roll-ups can say so instead of showing 0.

use enki_acp::{AgentEvent, SessionUpdate};
use enki_core::usage::RunUsage;
use enki_store::RunKey;

use crate::context::Shared;

/// Which run a meter counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Run {
    Worker { task: String, attempt: i64 },
    Merger { task: String, run: i64 },
    Planner,
}

impl Run {
    fn key(&self) -> RunKey<'_> {
        match self {
            Run::Worker { task, attempt } => RunKey::Worker {
                task,
                number: *attempt,
            },
            Run::Merger { task, run } => RunKey::Merger { task, number: *run },
            Run::Planner => RunKey::Planner,
        }
    }
}

/// Counts one run's usage.
#[derive(Debug)]
pub struct Meter {
    run: Run,
    agent: String,
    usage: RunUsage,
}

impl Meter {
    pub fn new(run: Run) -> Meter {
        Meter {
            run,
            agent: String::new(),
            usage: RunUsage::default(),
        }
    }

    /// The session opened with `agent`, which named `model` (or not): the
    /// run's row is written, its amounts unknown so far.
    pub async fn opened(&mut self, ctx: &Shared, agent: &str, model: Option<String>) {
        self.agent = agent.to_string();
        self.usage.model = model;
        self.save(ctx).await;
    }

    /// Counts `event`; true when the run's usage changed (and was saved).
    pub async fn observe(&mut self, ctx: &Shared, event: &AgentEvent) -> bool {
        if !self.count(event) {
            return false;
        }
        self.save(ctx).await;
        true
    }

    /// Counts `event` without saving; true when the usage changed.
    fn count(&mut self, event: &AgentEvent) -> bool {
        match event {
            AgentEvent::TurnUsage { tokens, .. } => {
                self.usage.add_turn(tokens);
                true
            }
            AgentEvent::Update {
                update:
                    SessionUpdate::Usage {
                        cost: Some(cost), ..
                    },
                ..
            } if self.usage.cost.as_ref() != Some(cost) => {
                self.usage.set_session_cost(cost.clone());
                true
            }
            _ => false,
        }
    }

    pub fn usage(&self) -> &RunUsage {
        &self.usage
    }

    async fn save(&self, ctx: &Shared) {
        let (session, run, agent, usage) = (
            ctx.session_id.clone(),
            self.run.clone(),
            self.agent.clone(),
            self.usage.clone(),
        );
        if let Err(e) = ctx
            .db
            .call(move |s| s.record_usage(&session, run.key(), &agent, &usage))
            .await
        {
            tracing::warn!(run = ?self.run, "cannot record an agent's usage: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use enki_core::usage::{Cost, Tokens};
    use serde_json::json;

    use super::*;

    fn update(raw: serde_json::Value) -> AgentEvent {
        AgentEvent::Update {
            session_id: "s".into(),
            update: SessionUpdate::from_value(&raw),
        }
    }

    #[test]
    fn turns_add_their_tokens_and_the_session_cost_is_the_last_reported() {
        let mut meter = Meter::new(Run::Planner);
        let turn = AgentEvent::TurnUsage {
            session_id: "s".into(),
            tokens: Tokens {
                input: Some(10),
                output: Some(5),
                ..Tokens::default()
            },
        };
        assert!(meter.count(&turn));
        assert!(meter.count(&turn));
        assert_eq!(meter.usage().tokens.work(), Some(30));
        let cost = |amount: f64| {
            update(
                json!({"sessionUpdate": "usage_update", "used": 9, "size": 99,
                          "cost": {"amount": amount, "currency": "USD"}}),
            )
        };
        assert!(meter.count(&cost(0.5)));
        assert!(
            !meter.count(&cost(0.5)),
            "the same cost again changes nothing"
        );
        assert!(meter.count(&cost(0.75)));
        assert_eq!(
            meter.usage().cost,
            Some(Cost {
                amount: 0.75,
                currency: "USD".into()
            })
        );
        let context_only = update(json!({"sessionUpdate": "usage_update", "used": 9, "size": 99}));
        assert!(!meter.count(&context_only), "context size is not usage");
        assert_eq!(meter.usage().tokens.cache_read, None);
    }
}
