//! What agent runs used: the tokens and cost one run reported, roll-ups over
//! many runs that keep an unknown amount unknown (never 0), and the cost
//! estimated from a price table where an agent reports tokens but no cost.
//!
//! ACP reports usage two ways, and a run adds both up here: the usage a
//! `session/prompt` response carries (that turn's tokens; claude-agent-acp
//! sends it, per turn) and the `usage_update` session updates (the context
//! size and, optionally, the session's cumulative cost; claude-agent-acp
//! sends a cost, codex-acp none).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Token counts; `None` where the agent did not report that kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tokens {
    pub input: Option<u64>,
    pub output: Option<u64>,
    pub cache_read: Option<u64>,
    pub cache_write: Option<u64>,
}

/// Adds two maybe-known amounts: unknown only when both are.
fn add_known(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or(0).saturating_add(b.unwrap_or(0))),
    }
}

impl Tokens {
    /// Whether no kind is known.
    pub fn is_unknown(&self) -> bool {
        *self == Tokens::default()
    }

    /// Adds `other` kind by kind.
    pub fn add(&mut self, other: &Tokens) {
        self.input = add_known(self.input, other.input);
        self.output = add_known(self.output, other.output);
        self.cache_read = add_known(self.cache_read, other.cache_read);
        self.cache_write = add_known(self.cache_write, other.cache_write);
    }

    /// Work tokens, what budgets count: input and output, not cache reads
    /// or writes. Unknown when neither is known.
    pub fn work(&self) -> Option<u64> {
        add_known(self.input, self.output)
    }

    /// Every kind together; unknown when none is known.
    pub fn total(&self) -> Option<u64> {
        add_known(
            add_known(self.input, self.output),
            add_known(self.cache_read, self.cache_write),
        )
    }
}

/// An amount of money in a currency (an ISO 4217 code such as `USD`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cost {
    pub amount: f64,
    pub currency: String,
}

/// What one run of an agent (a worker's attempt, a merger's run, the
/// planner's session) used, as far as its agent reported.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RunUsage {
    /// The sum of the tokens of every turn that reported them.
    pub tokens: Tokens,
    /// The agent's session cost as it last reported it (ACP's cost is
    /// cumulative over the session).
    pub cost: Option<Cost>,
    /// The model, when the agent named it.
    pub model: Option<String>,
}

impl RunUsage {
    /// A turn ended reporting its own `tokens`.
    pub fn add_turn(&mut self, tokens: &Tokens) {
        self.tokens.add(tokens);
    }

    /// The agent reported its session's cost so far.
    pub fn set_session_cost(&mut self, cost: Cost) {
        self.cost = Some(cost);
    }

    /// Whether the agent reported anything at all.
    pub fn is_unknown(&self) -> bool {
        self.tokens.is_unknown() && self.cost.is_none()
    }

    /// The cost the agent reported, else one estimated from `prices`
    /// (`true` when estimated); `None` when neither is possible.
    pub fn priced(&self, prices: &Prices) -> Option<(Cost, bool)> {
        if let Some(cost) = &self.cost {
            return Some((cost.clone(), false));
        }
        let model = self.model.as_deref()?;
        prices
            .estimate(model, &self.tokens)
            .map(|cost| (cost, true))
    }
}

/// A model's prices per million tokens of each kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Price {
    pub input: f64,
    pub output: f64,
    pub cache_read: f64,
    pub cache_write: f64,
    pub currency: String,
}

/// `[prices]`: a price per model, for estimating what agents that report
/// tokens but no cost cost. A model matches its own name, else the longest
/// name that starts it (`claude-sonnet-4-5` prices `claude-sonnet-4-5-20250929`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Prices {
    pub by_model: BTreeMap<String, Price>,
}

impl Prices {
    /// The price of `model`, if the table has one.
    pub fn of(&self, model: &str) -> Option<&Price> {
        self.by_model.get(model).or_else(|| {
            self.by_model
                .iter()
                .filter(|(name, _)| model.starts_with(name.as_str()))
                .max_by_key(|(name, _)| name.len())
                .map(|(_, price)| price)
        })
    }

    /// The estimated cost of `tokens` on `model`: only kinds that were
    /// reported count; `None` without a price or without input or output.
    pub fn estimate(&self, model: &str, tokens: &Tokens) -> Option<Cost> {
        let price = self.of(model)?;
        tokens.work()?;
        let per = |count: Option<u64>, price: f64| count.unwrap_or(0) as f64 * price / 1e6;
        Some(Cost {
            amount: per(tokens.input, price.input)
                + per(tokens.output, price.output)
                + per(tokens.cache_read, price.cache_read)
                + per(tokens.cache_write, price.cache_write),
            currency: price.currency.clone(),
        })
    }
}

/// Usage summed over runs. Token kinds no run reported stay unknown; runs
/// that reported nothing are counted, so "unknown" is never shown as 0.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Totals {
    pub runs: u64,
    pub tokens: Tokens,
    /// Runs that reported no tokens.
    pub runs_without_tokens: u64,
    /// Reported cost per currency.
    pub cost: BTreeMap<String, f64>,
    /// Estimated cost per currency (runs with tokens, a known model and a
    /// price, but no reported cost).
    pub estimated: BTreeMap<String, f64>,
    /// Runs with neither a reported nor an estimated cost.
    pub runs_without_cost: u64,
}

impl Totals {
    /// Counts one run.
    pub fn add(&mut self, run: &RunUsage, prices: &Prices) {
        self.runs += 1;
        if run.tokens.is_unknown() {
            self.runs_without_tokens += 1;
        }
        self.tokens.add(&run.tokens);
        match run.priced(prices) {
            Some((cost, estimated)) => {
                let into = if estimated {
                    &mut self.estimated
                } else {
                    &mut self.cost
                };
                *into.entry(cost.currency).or_insert(0.0) += cost.amount;
            }
            None => self.runs_without_cost += 1,
        }
    }

    /// Adds another roll-up.
    pub fn merge(&mut self, other: &Totals) {
        self.runs += other.runs;
        self.tokens.add(&other.tokens);
        self.runs_without_tokens += other.runs_without_tokens;
        for (currency, amount) in &other.cost {
            *self.cost.entry(currency.clone()).or_insert(0.0) += amount;
        }
        for (currency, amount) in &other.estimated {
            *self.estimated.entry(currency.clone()).or_insert(0.0) += amount;
        }
        self.runs_without_cost += other.runs_without_cost;
    }

    /// Reported and estimated cost in `currency`; `None` when no run had
    /// one in it.
    pub fn money(&self, currency: &str) -> Option<f64> {
        let reported = self.cost.get(currency);
        let estimated = self.estimated.get(currency);
        (reported.is_some() || estimated.is_some())
            .then(|| reported.unwrap_or(&0.0) + estimated.unwrap_or(&0.0))
    }

    /// The roll-up in words: tokens by kind, the cost (its estimated part
    /// said so), and how many runs reported nothing.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        match self.tokens.work() {
            Some(work) => {
                let mut words = format!("{} work tokens", count(work));
                let mut kinds = Vec::new();
                for (name, value) in [
                    ("in", self.tokens.input),
                    ("out", self.tokens.output),
                    ("cache read", self.tokens.cache_read),
                    ("cache write", self.tokens.cache_write),
                ] {
                    if let Some(value) = value {
                        kinds.push(format!("{} {name}", count(value)));
                    }
                }
                words.push_str(&format!(" ({})", kinds.join(", ")));
                parts.push(words);
            }
            None => parts.push("tokens unknown".to_string()),
        }
        let currencies: std::collections::BTreeSet<&String> =
            self.cost.keys().chain(self.estimated.keys()).collect();
        if currencies.is_empty() {
            parts.push("cost unknown".to_string());
        }
        for currency in currencies {
            let reported = self.cost.get(currency).copied().unwrap_or(0.0);
            let estimated = self.estimated.get(currency).copied();
            let total = money(reported + estimated.unwrap_or(0.0));
            let words = match estimated {
                Some(_) if !self.cost.contains_key(currency) => {
                    format!("~{total} {currency} (estimated from [prices])")
                }
                Some(e) => format!(
                    "{total} {currency} ({} of it estimated from [prices])",
                    money(e)
                ),
                None => format!("{total} {currency}"),
            };
            parts.push(words);
        }
        let mut text = parts.join(", ");
        let silent = self.runs_without_tokens.max(self.runs_without_cost);
        if silent > 0 && self.runs > 0 {
            text.push_str(&format!(
                "; {} of {} run(s) reported no {}",
                silent,
                self.runs,
                match (self.runs_without_tokens > 0, self.runs_without_cost > 0) {
                    (true, true) => "tokens or cost",
                    (true, false) => "tokens",
                    _ => "cost",
                }
            ));
        }
        text
    }
}

impl Totals {
    /// A few words for a narrow place (a TUI row, a footer): work tokens
    /// and cost, `~` before an estimated cost; `None` when nothing is known.
    pub fn brief(&self) -> Option<String> {
        let mut parts = Vec::new();
        if let Some(work) = self.tokens.work() {
            parts.push(format!("{} tok", count(work)));
        }
        let currencies: std::collections::BTreeSet<&String> =
            self.cost.keys().chain(self.estimated.keys()).collect();
        for currency in currencies {
            let reported = self.cost.get(currency);
            let amount = reported.unwrap_or(&0.0) + self.estimated.get(currency).unwrap_or(&0.0);
            let mark = if self.estimated.contains_key(currency) {
                "~"
            } else {
                ""
            };
            parts.push(format!("{mark}{} {currency}", money(amount)));
        }
        (!parts.is_empty()).then(|| parts.join(" · "))
    }
}

/// A token count for people: `950`, `12.3k`, `4.56M`.
pub fn count(n: u64) -> String {
    match n {
        0..1_000 => n.to_string(),
        1_000..1_000_000 => format!("{:.1}k", n as f64 / 1e3),
        _ => format!("{:.2}M", n as f64 / 1e6),
    }
}

/// An amount of money for people: two decimals, four below one cent.
pub fn money(amount: f64) -> String {
    if amount != 0.0 && amount.abs() < 0.01 {
        format!("{amount:.4}")
    } else {
        format!("{amount:.2}")
    }
}

/// Sums runs per key (a task, an execution, a role, an agent, a model).
pub fn roll_up<'a, K: Ord>(
    runs: impl IntoIterator<Item = (K, &'a RunUsage)>,
    prices: &Prices,
) -> BTreeMap<K, Totals> {
    let mut out: BTreeMap<K, Totals> = BTreeMap::new();
    for (key, run) in runs {
        out.entry(key).or_default().add(run, prices);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(input: u64, output: u64) -> Tokens {
        Tokens {
            input: Some(input),
            output: Some(output),
            ..Tokens::default()
        }
    }

    fn sonnet() -> Prices {
        let mut prices = Prices::default();
        prices.by_model.insert(
            "claude-sonnet".into(),
            Price {
                input: 3.0,
                output: 15.0,
                cache_read: 0.3,
                cache_write: 3.75,
                currency: "USD".into(),
            },
        );
        prices
    }

    #[test]
    fn unknown_kinds_stay_unknown_and_known_ones_add_up() {
        let mut sum = Tokens::default();
        assert_eq!(sum.work(), None);
        assert_eq!(sum.total(), None);
        sum.add(&Tokens::default());
        assert!(sum.is_unknown());
        sum.add(&tokens(100, 20));
        sum.add(&Tokens {
            cache_read: Some(500),
            ..Tokens::default()
        });
        assert_eq!(sum.input, Some(100));
        assert_eq!(sum.cache_read, Some(500));
        assert_eq!(sum.cache_write, None);
        assert_eq!(sum.work(), Some(120), "cache reads are not work");
        assert_eq!(sum.total(), Some(620));
    }

    #[test]
    fn a_roll_up_counts_silent_runs_instead_of_adding_zero() {
        let reported = RunUsage {
            tokens: tokens(1_000, 200),
            cost: Some(Cost {
                amount: 0.5,
                currency: "USD".into(),
            }),
            model: None,
        };
        let silent = RunUsage::default();
        let totals = roll_up(
            [("a", &reported), ("a", &silent), ("b", &silent)],
            &sonnet(),
        );
        let a = &totals["a"];
        assert_eq!(
            (a.runs, a.runs_without_tokens, a.runs_without_cost),
            (2, 1, 1)
        );
        assert_eq!(a.tokens.work(), Some(1_200));
        assert_eq!(a.money("USD"), Some(0.5));
        let b = &totals["b"];
        assert_eq!(b.tokens.work(), None, "nothing reported is unknown, not 0");
        assert_eq!(b.money("USD"), None);
        assert_eq!(
            b.describe(),
            "tokens unknown, cost unknown; 1 of 1 run(s) reported no tokens or cost"
        );
    }

    #[test]
    fn a_cost_is_estimated_only_from_tokens_a_price_and_a_model_and_says_so() {
        let prices = sonnet();
        let run = |model: Option<&str>, tokens: Tokens| RunUsage {
            tokens,
            cost: None,
            model: model.map(str::to_string),
        };
        let (cost, estimated) = run(Some("claude-sonnet-4-5"), tokens(1_000_000, 100_000))
            .priced(&prices)
            .unwrap();
        assert!(estimated);
        assert!((cost.amount - 4.5).abs() < 1e-9, "{cost:?}");
        assert_eq!(run(None, tokens(1, 1)).priced(&prices), None, "no model");
        assert_eq!(
            run(Some("gpt-5"), tokens(1, 1)).priced(&prices),
            None,
            "no price"
        );
        assert_eq!(
            run(Some("claude-sonnet"), Tokens::default()).priced(&prices),
            None
        );
        let mut totals = Totals::default();
        totals.add(&run(Some("claude-sonnet"), tokens(1_000_000, 0)), &prices);
        assert_eq!(totals.estimated["USD"], 3.0);
        assert!(totals.cost.is_empty());
        assert!(
            totals
                .describe()
                .contains("~3.00 USD (estimated from [prices])"),
            "{}",
            totals.describe()
        );
        let mut reported = totals.clone();
        reported.cost.insert("USD".into(), 1.0);
        assert!(
            reported
                .describe()
                .contains("4.00 USD (3.00 of it estimated from [prices])")
        );
    }

    #[test]
    fn the_longest_matching_model_name_prices_a_model() {
        let mut prices = sonnet();
        let mut long = prices.by_model["claude-sonnet"].clone();
        long.input = 1.0;
        prices.by_model.insert("claude-sonnet-4".into(), long);
        assert_eq!(prices.of("claude-sonnet-4-5").unwrap().input, 1.0);
        assert_eq!(prices.of("claude-sonnet-3").unwrap().input, 3.0);
        assert!(prices.of("claude-haiku").is_none());
    }

    #[test]
    fn the_brief_form_marks_estimates_and_says_nothing_of_nothing() {
        let mut totals = Totals::default();
        assert_eq!(totals.brief(), None);
        totals.add(&RunUsage::default(), &Prices::default());
        assert_eq!(totals.brief(), None, "a silent run is not 0");
        totals.tokens = tokens(12_000, 345);
        totals.estimated.insert("USD".into(), 0.5);
        assert_eq!(totals.brief().as_deref(), Some("12.3k tok · ~0.50 USD"));
        totals.estimated.clear();
        totals.cost.insert("USD".into(), 1.0);
        assert_eq!(totals.brief().as_deref(), Some("12.3k tok · 1.00 USD"));
    }

    #[test]
    fn counts_and_money_read_well() {
        assert_eq!(count(950), "950");
        assert_eq!(count(12_345), "12.3k");
        assert_eq!(count(4_560_000), "4.56M");
        assert_eq!(money(1.5), "1.50");
        assert_eq!(money(0.0042), "0.0042");
        assert_eq!(money(0.0), "0.00");
    }
}
