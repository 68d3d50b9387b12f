//! `[budget]`: caps on what a task, an execution and a coordinator session
//! may spend, in work tokens (input + output, not cache reads) and/or money,
//! and the rules that enforce them: a task does not start when what is left
//! of a budget is below the floor, a run is stopped once a budget is spent,
//! and a warning is given when 80 % of one is used.

use std::fmt;

use serde::Serialize;

use crate::usage::{count, money};

/// One cap; a measure left `None` is not capped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Limit {
    pub tokens: Option<u64>,
    pub cost: Option<f64>,
}

impl Limit {
    pub fn is_set(&self) -> bool {
        self.tokens.is_some() || self.cost.is_some()
    }
}

/// What has been spent against budgets: work tokens, and money in the
/// budget's currency (reported, else estimated from `[prices]`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Spent {
    pub work_tokens: u64,
    pub cost: f64,
}

impl Spent {
    /// What `totals` count against budgets in `currency`: work tokens, and
    /// the reported or estimated cost in that currency (others do not count).
    pub fn of(totals: &crate::usage::Totals, currency: &str) -> Spent {
        Spent {
            work_tokens: totals.tokens.work().unwrap_or(0),
            cost: totals.money(currency).unwrap_or(0.0),
        }
    }

    pub fn add(&mut self, other: Spent) {
        self.work_tokens = self.work_tokens.saturating_add(other.work_tokens);
        self.cost += other.cost;
    }

    /// What `after` adds to `self` (never negative).
    pub fn delta_to(&self, after: Spent) -> Spent {
        Spent {
            work_tokens: after.work_tokens.saturating_sub(self.work_tokens),
            cost: (after.cost - self.cost).max(0.0),
        }
    }
}

/// Which budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    Task,
    Execution,
    Session,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Task => "per_task",
            Scope::Execution => "per_execution",
            Scope::Session => "per_session",
        }
    }

    fn whose(self) -> &'static str {
        match self {
            Scope::Task => "the task's",
            Scope::Execution => "the execution's",
            Scope::Session => "the session's",
        }
    }
}

/// Which measure of a budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Measure {
    Tokens,
    Cost,
}

/// The spending a budget rule looks at, for one task.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Spending {
    pub task: Spent,
    pub execution: Spent,
    pub session: Spent,
}

impl Spending {
    fn of(&self, scope: Scope) -> Spent {
        match scope {
            Scope::Task => self.task,
            Scope::Execution => self.execution,
            Scope::Session => self.session,
        }
    }
}

/// One budget measure as it stands: how much is used of how much.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Standing {
    pub scope: Scope,
    pub measure: Measure,
    pub used: f64,
    pub limit: f64,
    #[serde(skip)]
    currency: String,
}

impl Standing {
    fn amount(&self, value: f64) -> String {
        match self.measure {
            Measure::Tokens => format!("{} work tokens", count(value as u64)),
            Measure::Cost => format!("{} {}", money(value), self.currency),
        }
    }

    /// The currency of a money budget.
    pub fn currency(&self) -> &str {
        &self.currency
    }

    /// The key in `enki.toml` that sets this limit.
    pub fn key(&self) -> String {
        let measure = match self.measure {
            Measure::Tokens => "tokens",
            Measure::Cost => "cost",
        };
        format!("[budget] {}.{measure}", self.scope.as_str())
    }

    /// This limit raised: doubled, and at least past what is used.
    pub fn raised(&self) -> f64 {
        (self.limit * 2.0).max(self.used * 1.25)
    }
}

impl fmt::Display for Standing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} budget of {} ({}) is {}: {} used",
            self.scope.whose(),
            self.amount(self.limit),
            self.key(),
            if self.used >= self.limit {
                "spent"
            } else {
                "nearly spent"
            },
            self.amount(self.used)
        )
    }
}

/// Why a task may not start: what is left of a budget is below the floor.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Refusal {
    pub standing: Standing,
    pub left: f64,
    pub floor: f64,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.left <= 0.0 {
            return write!(f, "{}", self.standing);
        }
        write!(
            f,
            "{} budget ({}) has {} left, below the floor of {} needed to start a task ([budget] floor)",
            self.standing.scope.whose(),
            self.standing.key(),
            self.standing.amount(self.left),
            self.standing.amount(self.floor)
        )
    }
}

/// The share of a budget at which a warning is given.
pub const WARN_AT: f64 = 0.8;

/// `[budget]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Budget {
    pub per_task: Limit,
    pub per_execution: Limit,
    pub per_session: Limit,
    /// The currency of the money limits; costs in another one do not count.
    pub currency: String,
    /// What must be left of every budget for a task to start (0: anything).
    pub floor: Limit,
}

impl Budget {
    pub fn is_set(&self) -> bool {
        self.per_task.is_set() || self.per_execution.is_set() || self.per_session.is_set()
    }

    fn limit(&self, scope: Scope) -> &Limit {
        match scope {
            Scope::Task => &self.per_task,
            Scope::Execution => &self.per_execution,
            Scope::Session => &self.per_session,
        }
    }

    /// Raises one limit (a person chose to go on).
    pub fn raise(&mut self, scope: Scope, measure: Measure, to: f64) {
        let limit = match scope {
            Scope::Task => &mut self.per_task,
            Scope::Execution => &mut self.per_execution,
            Scope::Session => &mut self.per_session,
        };
        match measure {
            Measure::Tokens => limit.tokens = Some(to.ceil() as u64),
            Measure::Cost => limit.cost = Some(to),
        }
    }

    /// Every capped measure, task first, with what `spending` uses of it.
    fn standings(&self, spending: &Spending) -> Vec<Standing> {
        let mut out = Vec::new();
        for scope in [Scope::Task, Scope::Execution, Scope::Session] {
            let (limit, spent) = (self.limit(scope), spending.of(scope));
            let measures = [
                (
                    Measure::Tokens,
                    limit.tokens.map(|t| t as f64),
                    spent.work_tokens as f64,
                ),
                (Measure::Cost, limit.cost, spent.cost),
            ];
            for (measure, limit, used) in measures {
                if let Some(limit) = limit {
                    out.push(Standing {
                        scope,
                        measure,
                        used,
                        limit,
                        currency: self.currency.clone(),
                    });
                }
            }
        }
        out
    }

    /// The first budget `spending` has spent (used reached the limit).
    pub fn spent(&self, spending: &Spending) -> Option<Standing> {
        self.standings(spending)
            .into_iter()
            .find(|s| s.used >= s.limit)
    }

    /// Whether a task with `spending` so far may start: every budget must
    /// have more left than the floor.
    pub fn may_start(&self, spending: &Spending) -> Result<(), Refusal> {
        for standing in self.standings(spending) {
            let floor = match standing.measure {
                Measure::Tokens => self.floor.tokens.unwrap_or(0) as f64,
                Measure::Cost => self.floor.cost.unwrap_or(0.0),
            };
            let left = standing.limit - standing.used;
            if left <= 0.0 || left < floor {
                return Err(Refusal {
                    standing,
                    left,
                    floor,
                });
            }
        }
        Ok(())
    }

    /// The budgets whose 80 % mark was crossed going from `before` to
    /// `after` (each warned about once, when it is crossed).
    pub fn warnings(&self, before: &Spending, after: &Spending) -> Vec<Standing> {
        let was = self.standings(before);
        self.standings(after)
            .into_iter()
            .zip(was)
            .filter(|(now, then)| {
                let mark = now.limit * WARN_AT;
                then.used < mark && now.used >= mark && now.used < now.limit
            })
            .map(|(now, _)| now)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spent(work_tokens: u64, cost: f64) -> Spent {
        Spent { work_tokens, cost }
    }

    fn budget() -> Budget {
        Budget {
            per_task: Limit {
                tokens: Some(1_000),
                cost: None,
            },
            per_execution: Limit {
                tokens: None,
                cost: Some(2.0),
            },
            per_session: Limit::default(),
            currency: "USD".into(),
            floor: Limit {
                tokens: Some(100),
                cost: Some(0.5),
            },
        }
    }

    #[test]
    fn a_budget_is_spent_when_its_use_reaches_its_limit() {
        let b = budget();
        let within = Spending {
            task: spent(999, 0.0),
            execution: spent(999, 1.99),
            session: spent(10_000_000, 100.0),
        };
        assert_eq!(b.spent(&within), None, "the session is not capped");
        let task_spent = Spending {
            task: spent(1_000, 0.0),
            ..within
        };
        let s = b.spent(&task_spent).unwrap();
        assert_eq!((s.scope, s.measure), (Scope::Task, Measure::Tokens));
        assert_eq!(
            s.to_string(),
            "the task's budget of 1.0k work tokens ([budget] per_task.tokens) is spent: 1.0k work tokens used"
        );
        let execution_spent = Spending {
            execution: spent(0, 2.5),
            ..within
        };
        let s = b.spent(&execution_spent).unwrap();
        assert_eq!((s.scope, s.measure), (Scope::Execution, Measure::Cost));
        assert!(s.to_string().contains("2.00 USD"), "{s}");
        assert_eq!(Budget::default().spent(&execution_spent), None);
    }

    #[test]
    fn a_task_starts_only_with_more_than_the_floor_left_of_every_budget() {
        let b = budget();
        let ok = Spending {
            task: spent(899, 0.0),
            execution: spent(0, 1.49),
            session: Spent::default(),
        };
        assert_eq!(b.may_start(&ok), Ok(()));
        let low_tokens = Spending {
            task: spent(901, 0.0),
            ..ok
        };
        let refusal = b.may_start(&low_tokens).unwrap_err();
        assert_eq!(refusal.standing.scope, Scope::Task);
        assert!(refusal.to_string().contains("below the floor"), "{refusal}");
        let low_money = Spending {
            execution: spent(0, 1.6),
            ..ok
        };
        assert_eq!(
            b.may_start(&low_money).unwrap_err().standing.scope,
            Scope::Execution
        );
        let no_floor = Budget {
            floor: Limit::default(),
            ..b.clone()
        };
        assert_eq!(no_floor.may_start(&low_money), Ok(()));
        let gone = Spending {
            execution: spent(0, 2.0),
            ..ok
        };
        assert!(
            no_floor
                .may_start(&gone)
                .unwrap_err()
                .to_string()
                .contains("is spent")
        );
    }

    #[test]
    fn the_warning_comes_once_when_eighty_percent_is_crossed() {
        let b = budget();
        let at = |tokens: u64| Spending {
            task: spent(tokens, 0.0),
            ..Spending::default()
        };
        assert!(b.warnings(&at(0), &at(799)).is_empty());
        let warned = b.warnings(&at(799), &at(800));
        assert_eq!(warned.len(), 1);
        assert!(
            warned[0].to_string().contains("nearly spent"),
            "{}",
            warned[0]
        );
        assert!(b.warnings(&at(800), &at(900)).is_empty(), "once");
        assert!(
            b.warnings(&at(700), &at(1_000)).is_empty(),
            "spent, not a warning"
        );
    }

    #[test]
    fn raising_a_limit_doubles_it_past_what_is_used() {
        let mut b = budget();
        let s = b
            .spent(&Spending {
                task: spent(3_000, 0.0),
                ..Spending::default()
            })
            .unwrap();
        assert_eq!(s.raised(), 3_750.0);
        b.raise(s.scope, s.measure, s.raised());
        assert_eq!(b.per_task.tokens, Some(3_750));
        assert_eq!(spent(10, 1.0).delta_to(spent(25, 0.5)), spent(15, 0.0));
    }
}
