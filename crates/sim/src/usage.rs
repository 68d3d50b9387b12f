//! The usage a sim agent reports, the way claude-agent-acp does: each
//! `usage` step adds its tokens to the turn, sent as the `usage` of the
//! `session/prompt` response when the turn ends, and its cost to the
//! session, sent at once as the session's cumulative cost in a
//! `usage_update` (whose `used` is the session's tokens so far, standing in
//! for the context size). A session whose steps name no cost reports none,
//! as codex-acp.

use serde_json::{Value, json};

/// The context window size a sim agent reports.
const CONTEXT_SIZE: u64 = 200_000;

/// One `usage` step: tokens of each kind (absent: not reported) and a cost.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UsageStep {
    pub input: Option<u64>,
    pub output: Option<u64>,
    pub cache_read: Option<u64>,
    pub cache_write: Option<u64>,
    pub cost: Option<f64>,
    pub currency: String,
}

/// What a session has reported so far.
#[derive(Debug, Default)]
pub struct Meter {
    /// The current turn's tokens, by kind.
    turn: [Option<u64>; 4],
    session_tokens: u64,
    session_cost: Option<(f64, String)>,
}

impl Meter {
    /// A new turn: its tokens start from nothing.
    pub fn start_turn(&mut self) {
        self.turn = [None; 4];
    }

    /// Counts a step; returns the `usage_update` to send.
    pub fn add(&mut self, step: &UsageStep) -> Value {
        let kinds = [step.input, step.output, step.cache_read, step.cache_write];
        for (sum, kind) in self.turn.iter_mut().zip(kinds) {
            if let Some(n) = kind {
                *sum = Some(sum.unwrap_or(0).saturating_add(n));
                self.session_tokens = self.session_tokens.saturating_add(n);
            }
        }
        if let Some(cost) = step.cost {
            let (amount, _) = self
                .session_cost
                .get_or_insert_with(|| (0.0, step.currency.clone()));
            *amount += cost;
        }
        let mut update = json!({"sessionUpdate": "usage_update",
                                "used": self.session_tokens.min(CONTEXT_SIZE),
                                "size": CONTEXT_SIZE});
        if let Some((amount, currency)) = &self.session_cost {
            update["cost"] = json!({"amount": amount, "currency": currency});
        }
        update
    }

    /// The `usage` of the turn's `session/prompt` response; `None` when
    /// the turn reported no tokens.
    pub fn turn_usage(&self) -> Option<Value> {
        if self.turn.iter().all(Option::is_none) {
            return None;
        }
        let [input, output, cache_read, cache_write] = self.turn;
        let total: u64 = self.turn.iter().flatten().sum();
        Some(json!({
            "totalTokens": total,
            "inputTokens": input.unwrap_or(0),
            "outputTokens": output.unwrap_or(0),
            "cachedReadTokens": cache_read,
            "cachedWriteTokens": cache_write,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_add_up_per_turn_and_the_cost_per_session() {
        let mut meter = Meter::default();
        assert_eq!(meter.turn_usage(), None);
        let step = UsageStep {
            input: Some(1_000),
            output: Some(200),
            cost: Some(0.25),
            currency: "USD".into(),
            ..UsageStep::default()
        };
        meter.add(&step);
        let update = meter.add(&step);
        assert_eq!(update["cost"], json!({"amount": 0.5, "currency": "USD"}));
        assert_eq!(update["used"], 2_400);
        let usage = meter.turn_usage().unwrap();
        assert_eq!(
            (
                usage["inputTokens"].as_u64(),
                usage["outputTokens"].as_u64()
            ),
            (Some(2_000), Some(400))
        );
        assert_eq!(usage["cachedReadTokens"], Value::Null);
        meter.start_turn();
        assert_eq!(meter.turn_usage(), None, "a new turn starts from nothing");
        let update = meter.add(&UsageStep {
            cache_read: Some(5),
            ..UsageStep::default()
        });
        assert_eq!(update["cost"]["amount"], 0.5, "the cost is the session's");
        assert!(meter.add(&UsageStep::default()).get("cost").is_some());
        let silent = Meter::default().add(&UsageStep {
            input: Some(1),
            ..UsageStep::default()
        });
        assert!(silent.get("cost").is_none(), "no cost reported, none sent");
    }
}
