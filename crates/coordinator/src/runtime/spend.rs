//! What runs use, as it is reported: shown to the front ends with the
//! session's total, and checked against `[budget]` by the orchestrator
//! (`enki_core::budget` has the rules); what a spent budget did is recorded
//! and told, and a person may raise it.

use enki_core::budget::{Measure, Scope, Spent, Standing};
use enki_core::engine::Command;
use enki_core::usage::{RunUsage, Totals};
use enki_store::UsageFilter;

use crate::progress::Progress;

use super::Runtime;

impl Runtime {
    /// The runs `filter` selects, summed (costs estimated from `[prices]`).
    async fn totals(&self, filter: UsageFilter) -> Option<Totals> {
        match self.ctx.db.call(move |s| s.usage_rows(&filter)).await {
            Ok(rows) => {
                let mut totals = Totals::default();
                for row in &rows {
                    totals.add(&row.usage, &self.ctx.config.prices);
                }
                Some(totals)
            }
            Err(e) => {
                tracing::warn!("cannot read what agents used: {e}");
                None
            }
        }
    }

    fn spent_of(&self, totals: &Totals) -> Spent {
        Spent::of(totals, &self.ctx.config.budget.currency)
    }

    /// A run's usage changed (`task` is `None` for the planner): the front
    /// ends are told, with the session's total read back from the store,
    /// and, with a budget set, the orchestrator checks it.
    pub(super) async fn on_usage(&mut self, task: Option<String>, run: &str, usage: RunUsage) {
        let Some(session) = self
            .totals(UsageFilter {
                session: Some(self.ctx.session_id.clone()),
                ..UsageFilter::default()
            })
            .await
        else {
            return;
        };
        let mut priced = Totals::default();
        priced.add(&usage, &self.ctx.config.prices);
        self.emit(Progress::Usage {
            task: task.clone(),
            run: run.to_string(),
            usage: Box::new(priced),
            session: Box::new(session.clone()),
        });
        if !self.ctx.config.budget.is_set() {
            return;
        }
        let task = match task {
            Some(task) => {
                let filter = UsageFilter {
                    task_id: Some(task.clone()),
                    ..UsageFilter::default()
                };
                match self.totals(filter).await {
                    Some(totals) => Some((task, self.spent_of(&totals))),
                    None => return,
                }
            }
            None => None,
        };
        let session = self.spent_of(&session);
        self.command(Command::Spent { task, session }).await;
    }

    /// With a budget set, tells the orchestrator what the tasks of an
    /// execution about to be loaded spent before (in any session).
    pub(super) async fn load_spent(&mut self, execution: &str) {
        if !self.ctx.config.budget.is_set() {
            return;
        }
        let filter = UsageFilter {
            execution_id: Some(execution.to_string()),
            ..UsageFilter::default()
        };
        let rows = match self.ctx.db.call(move |s| s.usage_rows(&filter)).await {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!("cannot read what an execution's agents used: {e}");
                return;
            }
        };
        let mut per_task: std::collections::BTreeMap<String, Totals> = Default::default();
        for row in &rows {
            if let Some(task) = &row.task_id {
                per_task
                    .entry(task.clone())
                    .or_default()
                    .add(&row.usage, &self.ctx.config.prices);
            }
        }
        for (task, totals) in per_task {
            let spent = self.spent_of(&totals);
            self.command(Command::SpentEarlier { task, spent }).await;
        }
    }

    /// A budget stopped work: the execution's reason is recorded, the
    /// planner and the front ends are told.
    pub(super) async fn budget_spent(
        &mut self,
        execution: String,
        reason: String,
        standing: Standing,
    ) {
        let (e, r) = (execution.clone(), reason.clone());
        let title = match self
            .ctx
            .db
            .call(move |s| {
                s.set_paused_reason(&e, &r)?;
                Ok(s.execution(&e)?.map(|x| x.title).unwrap_or_default())
            })
            .await
        {
            Ok(title) => title,
            Err(e) => {
                tracing::warn!(execution, "cannot record why the execution paused: {e}");
                String::new()
            }
        };
        self.planner.note(format!(
            "execution {execution} ({title}) is paused: {reason}. Its work is kept; it goes on when a person raises the budget."
        ));
        self.budget_spent = Some(reason.clone());
        let raise_to = standing.raised();
        self.emit(Progress::BudgetSpent {
            execution,
            title,
            reason,
            standing,
            raise_to,
        });
    }

    /// A person raised a budget for this session: the execution goes on.
    pub(super) async fn raise_budget(
        &mut self,
        execution: String,
        scope: Scope,
        measure: Measure,
        to: f64,
    ) {
        self.budget_spent = None;
        self.command(Command::RaiseBudget { scope, measure, to })
            .await;
        self.command(Command::Resume {
            execution,
            step: None,
        })
        .await;
    }
}
