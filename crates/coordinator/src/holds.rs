//! The agents whose account met a limit (`enki_core::limits`), as the
//! coordinator keeps them: each agent's last hold (its streak kept until a
//! turn of it ends well) and which of them the orchestrator holds now. The
//! times are the wall clock's (Unix milliseconds): a reset is a moment of
//! the world, and a hold outlives the process in the store.
//!
//! One set for the whole coordinator (in [`Context`]): a limit is the
//! account's, whichever role met it, so a worker's limit also holds the
//! merger and the planner of the same agent, and theirs hold its workers.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use enki_core::limits::{AgentLimit, Backoff, Hold};

use crate::context::Context;

/// Now, in Unix milliseconds.
pub fn unix_now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[derive(Debug, Default)]
pub struct Holds {
    backoff: Backoff,
    /// Each agent's last hold, whether it still runs or not.
    last: BTreeMap<String, Hold>,
    /// The agents held now (told to the orchestrator, not yet freed).
    held: BTreeSet<String>,
}

impl Holds {
    pub fn new(backoff: Backoff) -> Holds {
        Holds {
            backoff,
            ..Holds::default()
        }
    }

    /// The holds the store kept (an earlier coordinator's): those still
    /// running at `now_ms` are held again, and returned.
    pub fn restore(&mut self, stored: Vec<Hold>, now_ms: u64) -> Vec<Hold> {
        let mut running = Vec::new();
        for hold in stored {
            if hold.holds_at(now_ms) {
                self.held.insert(hold.agent.clone());
                running.push(hold.clone());
            }
            self.last.insert(hold.agent.clone(), hold);
        }
        running
    }

    /// `agent` met `limit` at `now_ms`: its new hold (see [`Hold::after`]).
    pub fn limited(&mut self, agent: &str, limit: &AgentLimit, now_ms: u64) -> Hold {
        let hold = Hold::after(self.last.get(agent), agent, limit, now_ms, self.backoff);
        self.held.insert(agent.to_string());
        self.last.insert(agent.to_string(), hold.clone());
        hold
    }

    /// The agents whose hold ended by `now_ms`, no longer held.
    pub fn due(&mut self, now_ms: u64) -> Vec<String> {
        let due: Vec<String> = self
            .held
            .iter()
            .filter(|agent| self.last.get(*agent).is_none_or(|h| !h.holds_at(now_ms)))
            .cloned()
            .collect();
        for agent in &due {
            self.held.remove(agent);
        }
        due
    }

    /// `agent`'s hold, if it still runs at `now_ms`.
    pub fn running(&self, agent: &str, now_ms: u64) -> Option<Hold> {
        self.last.get(agent).filter(|h| h.holds_at(now_ms)).cloned()
    }

    /// A turn of `agent` ended well: its streak is over. Whether it had one
    /// to forget (and the store a row to remove).
    pub fn did_well(&mut self, agent: &str) -> bool {
        !self.held.contains(agent) && self.last.remove(agent).is_some()
    }
}

impl Context {
    pub fn holds(&self) -> MutexGuard<'_, Holds> {
        self.holds.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `agent` met `limit` now (a merger's or the planner's turn): its new
    /// hold, kept in the store so that a restart waits too. The caller
    /// tells the runtime, which holds the agent's tasks and says so.
    pub async fn hold_agent(&self, agent: &str, limit: &AgentLimit) -> Hold {
        let hold = self.holds().limited(agent, limit, unix_now_ms());
        let kept = hold.clone();
        if let Err(e) = self.db.call(move |s| s.set_agent_hold(&kept)).await {
            tracing::warn!("cannot record that agent {agent} waits for a limit: {e}");
        }
        hold
    }

    /// `agent`'s hold, if it still runs.
    pub fn running_hold(&self, agent: &str) -> Option<Hold> {
        self.holds().running(agent, unix_now_ms())
    }
}

/// How long until `hold` ends, from now.
pub fn time_left(hold: &Hold) -> Duration {
    Duration::from_millis(hold.until_ms.saturating_sub(unix_now_ms()))
}

#[cfg(test)]
mod tests {
    use enki_core::limits::LimitKind;

    use super::*;

    fn rate_limit() -> AgentLimit {
        AgentLimit {
            kind: LimitKind::RateLimit,
            resets_at_ms: None,
            message: "429".into(),
        }
    }

    #[test]
    fn a_hold_ends_when_due_and_its_streak_ends_with_a_turn_that_went_well() {
        let mut holds = Holds::new(Backoff {
            first_ms: 1_000,
            max_ms: 8_000,
        });
        let first = holds.limited("claude", &rate_limit(), 10_000);
        assert_eq!((first.until_ms, first.streak), (11_000, 1));
        assert!(holds.due(10_999).is_empty());
        assert_eq!(holds.running("claude", 10_999), Some(first.clone()));
        assert_eq!(holds.running("claude", 11_000), None);
        assert!(!holds.did_well("claude"), "still held: nothing of it ran");
        assert_eq!(holds.due(11_000), ["claude"]);
        assert!(holds.due(20_000).is_empty(), "freed once");
        let second = holds.limited("claude", &rate_limit(), 12_000);
        assert_eq!((second.until_ms, second.streak), (14_000, 2));
        holds.due(14_000);
        assert!(holds.did_well("claude"));
        assert!(!holds.did_well("claude"), "nothing left to forget");
        let fresh = holds.limited("claude", &rate_limit(), 20_000);
        assert_eq!(fresh.streak, 1);
    }

    #[test]
    fn only_the_stored_holds_still_running_are_held_again() {
        let mut holds = Holds::new(Backoff::default());
        let hold = |agent: &str, until_ms| Hold {
            agent: agent.into(),
            kind: LimitKind::Quota,
            until_ms,
            reset_given: true,
            streak: 3,
            message: "m".into(),
        };
        let running = holds.restore(vec![hold("a", 5_000), hold("b", 50_000)], 10_000);
        assert_eq!(running, [hold("b", 50_000)]);
        // a's streak is remembered: its next limit waits longer.
        let next = holds.limited("a", &rate_limit(), 10_000);
        assert_eq!(next.streak, 4);
    }
}
