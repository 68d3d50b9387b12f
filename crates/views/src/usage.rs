//! `enki usage` and the usage lines of `enki status`, `enki task` and
//! `enki_status`: what agent runs used, rolled up by task, execution, role,
//! agent or model. Unknown amounts stay unknown; estimated costs say so.

use std::collections::BTreeMap;

use enki_core::id::short;
use enki_core::usage::{Prices, Totals};
use enki_store::{Store, StoreError, UsageFilter, UsageRow};
use serde::Serialize;

/// What `enki usage --by` groups runs by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UsageBy {
    Task,
    Execution,
    Role,
    Agent,
    Model,
}

impl UsageBy {
    pub const NAMES: &'static str = "task, execution, role, agent or model";

    pub fn parse(text: &str) -> Option<UsageBy> {
        Some(match text {
            "task" => UsageBy::Task,
            "execution" => UsageBy::Execution,
            "role" => UsageBy::Role,
            "agent" => UsageBy::Agent,
            "model" => UsageBy::Model,
            _ => return None,
        })
    }

    fn key(self, row: &UsageRow) -> String {
        let or = |value: Option<&String>, none: &str| value.cloned().unwrap_or_else(|| none.into());
        match self {
            UsageBy::Task => or(row.task_id.as_ref(), "(planner)"),
            UsageBy::Execution => or(row.execution_id.as_ref(), "(planner)"),
            UsageBy::Role => row.role.clone(),
            UsageBy::Agent => row.agent.clone(),
            UsageBy::Model => or(row.usage.model.as_ref(), "(model unknown)"),
        }
    }
}

/// One group of a report.
#[derive(Debug, Clone, Serialize)]
pub struct UsageGroup {
    /// The task or execution id, role, agent or model.
    pub key: String,
    /// How a person reads the key (a task's step and title, ...).
    pub label: String,
    pub totals: Totals,
}

/// A usage report: its groups (largest work first) and the whole.
#[derive(Debug, Clone, Serialize)]
pub struct UsageReport {
    pub by: UsageBy,
    pub groups: Vec<UsageGroup>,
    pub total: Totals,
}

/// Every run's usage in `rows`, summed.
pub fn usage_totals(rows: &[UsageRow], prices: &Prices) -> Totals {
    let mut totals = Totals::default();
    for row in rows {
        totals.add(&row.usage, prices);
    }
    totals
}

/// Reads the runs `filter` selects and rolls them up `by`.
pub fn gather_usage(
    store: &Store,
    filter: &UsageFilter,
    by: UsageBy,
    prices: &Prices,
) -> Result<UsageReport, StoreError> {
    let rows = store.usage_rows(filter)?;
    let mut groups: BTreeMap<String, Totals> = BTreeMap::new();
    for row in &rows {
        groups
            .entry(by.key(row))
            .or_default()
            .add(&row.usage, prices);
    }
    let mut out = Vec::new();
    for (key, totals) in groups {
        let label = match by {
            UsageBy::Task if key != "(planner)" => match store.task(&key)? {
                Some(task) => format!("{}  [{}] {}", short(&key), task.step_id, task.title),
                None => short(&key).to_string(),
            },
            UsageBy::Execution if key != "(planner)" => match store.execution(&key)? {
                Some(execution) => format!("{}  {}", short(&key), execution.title),
                None => short(&key).to_string(),
            },
            _ => key.clone(),
        };
        out.push(UsageGroup { key, label, totals });
    }
    out.sort_by_key(|g| std::cmp::Reverse(g.totals.tokens.work().unwrap_or(0)));
    Ok(UsageReport {
        by,
        groups: out,
        total: usage_totals(&rows, prices),
    })
}

/// A report in words: one line per group, then the total.
pub fn usage_text(report: &UsageReport) -> String {
    if report.total.runs == 0 {
        return "no usage recorded yet".to_string();
    }
    let width = report
        .groups
        .iter()
        .map(|g| g.label.chars().count())
        .max()
        .unwrap_or(0)
        .min(60);
    let mut text = String::new();
    for group in &report.groups {
        let label: String = group.label.chars().take(60).collect();
        text.push_str(&format!("{label:width$}  {}\n", group.totals.describe()));
    }
    text.push_str(&format!("total: {}", report.total.describe()));
    if !report.total.estimated.is_empty() {
        text.push_str(
            "\n(~ marks an estimate: tokens priced with [prices] in enki.toml, for agents that report no cost)",
        );
    }
    text
}

#[cfg(test)]
mod tests {
    use enki_core::usage::{Cost, Price, RunUsage, Tokens};
    use enki_store::{NewStep, RunKey};

    use super::*;

    #[test]
    fn a_report_groups_runs_and_keeps_silent_runs_unknown() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("db.sqlite")).unwrap();
        let created = store
            .create_execution(
                Some("s1"),
                "calc",
                false,
                &[
                    NewStep::new("mul", "Add mul"),
                    NewStep::new("div", "Add div"),
                ],
            )
            .unwrap();
        let (mul, div) = (&created.steps[0].1, &created.steps[1].1);
        let reported = RunUsage {
            tokens: Tokens {
                input: Some(1_000),
                output: Some(500),
                ..Tokens::default()
            },
            cost: Some(Cost {
                amount: 0.25,
                currency: "USD".into(),
            }),
            model: Some("opus".into()),
        };
        let priced = RunUsage {
            cost: None,
            model: Some("sim".into()),
            ..reported.clone()
        };
        for (key, usage) in [
            (
                RunKey::Worker {
                    task: mul,
                    number: 1,
                },
                &reported,
            ),
            (
                RunKey::Worker {
                    task: mul,
                    number: 2,
                },
                &priced,
            ),
            (
                RunKey::Worker {
                    task: div,
                    number: 1,
                },
                &RunUsage::default(),
            ),
            (RunKey::Planner, &reported),
        ] {
            store.record_usage("s1", key, "claude", usage).unwrap();
        }
        let mut prices = Prices::default();
        prices.by_model.insert(
            "sim".into(),
            Price {
                input: 1.0,
                output: 1.0,
                cache_read: 0.0,
                cache_write: 0.0,
                currency: "USD".into(),
            },
        );
        let report = gather_usage(&store, &UsageFilter::default(), UsageBy::Task, &prices).unwrap();
        assert_eq!(report.total.runs, 4);
        assert_eq!(report.total.tokens.work(), Some(4_500));
        let labels: Vec<&str> = report.groups.iter().map(|g| g.label.as_str()).collect();
        assert!(labels[0].ends_with("[mul] Add mul"), "{labels:?}");
        assert_eq!(labels[1], "(planner)");
        assert!(labels[2].ends_with("[div] Add div"), "{labels:?}");
        let div_totals = &report.groups[2].totals;
        assert_eq!(div_totals.tokens.work(), None);
        let text = usage_text(&report);
        assert!(text.contains("tokens unknown, cost unknown"), "{text}");
        assert!(text.contains("(0.0015 of it estimated"), "{text}");
        assert!(text.contains("~ marks an estimate"), "{text}");
        let by_model =
            gather_usage(&store, &UsageFilter::default(), UsageBy::Model, &prices).unwrap();
        let keys: Vec<&str> = by_model.groups.iter().map(|g| g.key.as_str()).collect();
        assert_eq!(keys, ["opus", "sim", "(model unknown)"]);
        let by_role =
            gather_usage(&store, &UsageFilter::default(), UsageBy::Role, &prices).unwrap();
        let keys: Vec<&str> = by_role.groups.iter().map(|g| g.key.as_str()).collect();
        assert_eq!(keys, ["worker", "planner"]);
        assert_eq!(UsageBy::parse("agent"), Some(UsageBy::Agent));
        assert_eq!(UsageBy::parse("cost"), None);
        let empty = gather_usage(
            &Store::open(&dir.path().join("e.sqlite")).unwrap(),
            &UsageFilter::default(),
            UsageBy::Task,
            &prices,
        )
        .unwrap();
        assert_eq!(usage_text(&empty), "no usage recorded yet");
    }
}
