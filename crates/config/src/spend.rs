//! `[budget]` and `[prices]`: what runs may spend, and the price per model
//! that estimates the cost of agents that report tokens but no cost. The
//! file shapes, their checks, and how a file applies over the ones before.
//!
//! ```toml
//! [budget]                  # work tokens (input + output) and/or money
//! per_task = { tokens = 2000000, cost = 5.0 }
//! per_execution = { cost = 20.0 }
//! per_session = { tokens = 10000000 }
//! currency = "USD"          # of every cost above (default USD)
//! floor = { tokens = 50000, cost = 0.5 }   # a task starts only with more left
//!
//! [prices.claude-sonnet-4-5]   # per million tokens; an estimate, shown as one
//! input = 3.0
//! output = 15.0
//! cache_read = 0.3          # default 0
//! cache_write = 3.75        # default 0
//! currency = "USD"          # default USD
//! ```

use std::collections::BTreeMap;

use enki_core::budget::{Budget, Limit};
use enki_core::usage::{Price, Prices};
use serde::Deserialize;

/// The currency of budgets and prices when none is named.
pub const DEFAULT_CURRENCY: &str = "USD";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default, expecting = "a table")]
pub(crate) struct FileBudget {
    pub per_task: FileLimit,
    pub per_execution: FileLimit,
    pub per_session: FileLimit,
    pub currency: Option<String>,
    pub floor: FileLimit,
}

#[derive(Debug, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    default,
    expecting = "a table like { tokens = 2000000, cost = 5.0 }"
)]
pub(crate) struct FileLimit {
    pub tokens: Option<u64>,
    pub cost: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a table like { input = 3.0, output = 15.0 } (per million tokens)"
)]
pub(crate) struct FilePrice {
    pub input: f64,
    pub output: f64,
    #[serde(default)]
    pub cache_read: f64,
    #[serde(default)]
    pub cache_write: f64,
    pub currency: Option<String>,
}

/// The built-in budget: nothing capped, money in [`DEFAULT_CURRENCY`].
pub fn default_budget() -> Budget {
    Budget {
        currency: DEFAULT_CURRENCY.to_string(),
        ..Budget::default()
    }
}

/// What is wrong with the `[budget]` and `[prices]` of one file: the key
/// path and the message.
pub(crate) fn check(
    budget: &FileBudget,
    prices: &BTreeMap<String, FilePrice>,
) -> Result<(), (Vec<String>, String)> {
    let at = |path: &[&str], message: &str| {
        Err((
            path.iter().map(|s| s.to_string()).collect(),
            message.to_string(),
        ))
    };
    for (name, limit) in [
        ("per_task", &budget.per_task),
        ("per_execution", &budget.per_execution),
        ("per_session", &budget.per_session),
        ("floor", &budget.floor),
    ] {
        if limit.tokens == Some(0) && name != "floor" {
            return at(&["budget", name, "tokens"], "must be at least 1");
        }
        if let Some(cost) = limit.cost
            && !(cost.is_finite() && (cost > 0.0 || name == "floor" && cost == 0.0))
        {
            return at(&["budget", name, "cost"], "must be an amount above 0");
        }
    }
    if budget.currency.as_deref().is_some_and(|c| !is_currency(c)) {
        return at(
            &["budget", "currency"],
            "must be a three-letter currency code such as \"USD\"",
        );
    }
    for (model, price) in prices {
        for (kind, value) in [
            ("input", price.input),
            ("output", price.output),
            ("cache_read", price.cache_read),
            ("cache_write", price.cache_write),
        ] {
            if !(value.is_finite() && value >= 0.0) {
                return at(&["prices", model, kind], "must be a price of 0 or more");
            }
        }
        if price.currency.as_deref().is_some_and(|c| !is_currency(c)) {
            return at(
                &["prices", model, "currency"],
                "must be a three-letter currency code such as \"USD\"",
            );
        }
    }
    Ok(())
}

fn is_currency(code: &str) -> bool {
    code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase())
}

fn apply_limit(limit: &mut Limit, file: FileLimit) {
    if file.tokens.is_some() {
        limit.tokens = file.tokens;
    }
    if file.cost.is_some() {
        limit.cost = file.cost;
    }
}

/// Applies one file's `[budget]` key by key.
pub(crate) fn apply_budget(budget: &mut Budget, file: FileBudget) {
    apply_limit(&mut budget.per_task, file.per_task);
    apply_limit(&mut budget.per_execution, file.per_execution);
    apply_limit(&mut budget.per_session, file.per_session);
    apply_limit(&mut budget.floor, file.floor);
    if let Some(currency) = file.currency {
        budget.currency = currency;
    }
}

/// Applies one file's `[prices]`: a model it names replaces that model's
/// price as a whole.
pub(crate) fn apply_prices(prices: &mut Prices, file: BTreeMap<String, FilePrice>) {
    for (model, price) in file {
        prices.by_model.insert(
            model,
            Price {
                input: price.input,
                output: price.output,
                cache_read: price.cache_read,
                cache_write: price.cache_write,
                currency: price
                    .currency
                    .unwrap_or_else(|| DEFAULT_CURRENCY.to_string()),
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::Config;

    #[test]
    fn the_module_example_applies_and_a_later_file_changes_key_by_key() {
        let doc = include_str!("spend.rs");
        let start = doc.find("//! ```toml\n").unwrap() + "//! ```toml\n".len();
        let end = start + doc[start..].find("//! ```\n").unwrap();
        let example: String = doc[start..end]
            .lines()
            .map(|l| {
                l.strip_prefix("//! ")
                    .or(l.strip_prefix("//!"))
                    .unwrap_or(l)
            })
            .collect::<Vec<_>>()
            .join("\n");
        let mut config = Config::default();
        assert!(!config.budget.is_set());
        assert_eq!(config.budget.currency, "USD");
        config.apply_str(Path::new("home.toml"), &example).unwrap();
        assert_eq!(config.budget.per_task.tokens, Some(2_000_000));
        assert_eq!(config.budget.per_execution.cost, Some(20.0));
        assert_eq!(config.budget.floor.cost, Some(0.5));
        let price = config.prices.of("claude-sonnet-4-5-20250929").unwrap();
        assert_eq!((price.output, price.cache_write), (15.0, 3.75));
        config
            .apply_str(
                Path::new("project.toml"),
                "[budget]\nper_task = { cost = 1.0 }\n[prices.sim]\ninput = 1\noutput = 2\n",
            )
            .unwrap();
        assert_eq!(config.budget.per_task.tokens, Some(2_000_000), "kept");
        assert_eq!(config.budget.per_task.cost, Some(1.0));
        let sim = config.prices.of("sim").unwrap();
        assert_eq!((sim.cache_read, sim.currency.as_str()), (0.0, "USD"));
        assert!(config.prices.of("claude-sonnet-4-5").is_some(), "kept");
    }

    #[test]
    fn bad_budgets_and_prices_name_their_key() {
        for (text, key, message) in [
            (
                "[budget]\nper_task = { tokens = 0 }\n",
                "budget.per_task.tokens",
                "at least 1",
            ),
            (
                "[budget]\nper_execution = { cost = -2.0 }\n",
                "budget.per_execution.cost",
                "above 0",
            ),
            (
                "[budget]\ncurrency = \"dollars\"\n",
                "budget.currency",
                "currency code",
            ),
            (
                "[budget]\nper_task = { money = 1 }\n",
                "budget.per_task.money",
                "unknown field",
            ),
            (
                "[prices.x]\ninput = 1.0\n",
                "prices.x",
                "missing field `output`",
            ),
            (
                "[prices.x]\ninput = -1.0\noutput = 1.0\n",
                "prices.x.input",
                "0 or more",
            ),
        ] {
            let err = Config::default()
                .apply_str(Path::new("enki.toml"), text)
                .unwrap_err();
            assert_eq!(err.key.as_deref(), Some(key), "{text}: {err}");
            assert!(err.message.contains(message), "{text}: {err}");
            assert!(err.line.is_some(), "{text}: {err}");
        }
    }
}
