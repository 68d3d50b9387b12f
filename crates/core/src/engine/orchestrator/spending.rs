//! The orchestrator's side of `[budget]` (rules in `crate::budget`): what
//! each task, execution and the session spent, a task not started when
//! what is left of a budget is below the floor, and the workers a spent
//! budget covers stopped (their work kept in their copies) with their
//! execution paused and the reason told.

use std::collections::HashMap;

use crate::budget::{Budget, Scope, Spending, Spent, Standing};
use crate::{ExecutionStatus, TaskStatus};

use super::{Event, Orchestrator, StopCause};

/// What was spent, as last reported.
#[derive(Debug, Clone, Default)]
pub(super) struct Ledger {
    tasks: HashMap<String, Spent>,
    executions: HashMap<String, Spent>,
    session: Spent,
}

impl Orchestrator {
    /// `[budget]`, enforced from now on.
    pub fn set_budget(&mut self, budget: Budget) {
        self.budget = budget;
    }

    pub fn budget(&self) -> &Budget {
        &self.budget
    }

    /// What a task, its execution and the session have spent.
    pub fn spending(&self, task: Option<&str>) -> Spending {
        let execution = task.and_then(|t| self.graph.execution_of(t));
        Spending {
            task: task
                .and_then(|t| self.ledger.tasks.get(t))
                .copied()
                .unwrap_or_default(),
            execution: execution
                .and_then(|e| self.ledger.executions.get(e))
                .copied()
                .unwrap_or_default(),
            session: self.ledger.session,
        }
    }

    /// A task's earlier spending, before its execution is loaded.
    pub(super) fn spent_earlier(&mut self, task: String, spent: Spent) {
        self.ledger.tasks.insert(task, spent);
    }

    /// An execution's spending as the sum of its tasks' (after a load).
    pub(super) fn recount_spent(&mut self, execution: &str) {
        let mut sum = Spent::default();
        for task in self.graph.steps(execution) {
            if let Some(spent) = self.ledger.tasks.get(task) {
                sum.add(*spent);
            }
        }
        self.ledger.executions.insert(execution.to_string(), sum);
    }

    /// New totals: a task's runs in all (`task`), this session's runs.
    pub(super) fn spent(
        &mut self,
        task: Option<(String, Spent)>,
        session: Spent,
        out: &mut Vec<Event>,
    ) {
        let id = task.as_ref().map(|(id, _)| id.clone());
        let before = self.spending(id.as_deref());
        if let Some((id, total)) = task {
            let was = self
                .ledger
                .tasks
                .insert(id.clone(), total)
                .unwrap_or_default();
            if let Some(execution) = self.graph.execution_of(&id).map(str::to_string) {
                let sum = self.ledger.executions.entry(execution).or_default();
                // The task's new total replaces its old one in its execution's.
                sum.work_tokens = sum
                    .work_tokens
                    .saturating_sub(was.work_tokens)
                    .saturating_add(total.work_tokens);
                sum.cost = (sum.cost - was.cost).max(0.0) + total.cost;
            }
        }
        self.ledger.session = session;
        if !self.budget.is_set() {
            return;
        }
        let after = self.spending(id.as_deref());
        let execution = id
            .as_deref()
            .and_then(|t| self.graph.execution_of(t))
            .map(str::to_string);
        for warning in self.budget.warnings(&before, &after) {
            out.push(Event::BudgetWarning {
                execution: execution.clone(),
                reason: warning.to_string(),
            });
        }
        let Some(standing) = self.budget.spent(&after) else {
            return;
        };
        match (standing.scope, &id, &execution) {
            (Scope::Task, Some(task), Some(execution)) => {
                let running: Vec<String> = self
                    .running
                    .contains_key(task)
                    .then(|| task.clone())
                    .into_iter()
                    .collect();
                self.hold(execution, &running, &standing, out);
            }
            (Scope::Execution, _, Some(execution)) => {
                let running = self.running_in(execution);
                self.hold(execution, &running, &standing, out);
            }
            (Scope::Session, _, _) => {
                let mut executions: Vec<String> = self
                    .graph
                    .executions
                    .iter()
                    .filter(|(_, e)| e.status == ExecutionStatus::Running)
                    .map(|(id, _)| id.clone())
                    .collect();
                for task in self.running() {
                    if let Some(e) = self.graph.execution_of(&task) {
                        executions.push(e.to_string());
                    }
                }
                executions.sort();
                executions.dedup();
                for execution in executions {
                    let running = self.running_in(&execution);
                    self.hold(&execution, &running, &standing, out);
                }
            }
            _ => {}
        }
    }

    fn running_in(&self, execution: &str) -> Vec<String> {
        self.running()
            .into_iter()
            .filter(|t| self.graph.execution_of(t) == Some(execution))
            .collect()
    }

    /// Stops `tasks` (running workers of `execution`) and pauses the
    /// execution because `standing` is spent. Told once: nothing is said
    /// when nothing changed.
    fn hold(
        &mut self,
        execution: &str,
        tasks: &[String],
        standing: &Standing,
        out: &mut Vec<Event>,
    ) {
        let reason = standing.to_string();
        let mut changed = false;
        for task in tasks {
            self.stop_with(task, StopCause::Budget, Some(reason.clone()), out);
            self.set(
                task,
                TaskStatus::Paused,
                Some(format!("paused: {reason}").into()),
                out,
            );
            changed = true;
        }
        if changed {
            // Paused workers no longer satisfy `started` edges.
            self.settle(tasks, out);
        }
        if self.graph.execution_status(execution) == Some(ExecutionStatus::Running) {
            self.set_execution(execution, ExecutionStatus::Paused, out);
            changed = true;
        }
        if changed {
            out.push(Event::BudgetSpent {
                execution: execution.to_string(),
                reason,
                standing: standing.clone(),
            });
        }
    }

    /// Whether `task` may start now: with a budget set, what is left of
    /// every budget must be above the floor, else its execution pauses
    /// with the reason (and `false`).
    pub(super) fn may_start(&mut self, task: &str, out: &mut Vec<Event>) -> bool {
        if !self.budget.is_set() {
            return true;
        }
        let Err(refusal) = self.budget.may_start(&self.spending(Some(task))) else {
            return true;
        };
        let Some(execution) = self.graph.execution_of(task).map(str::to_string) else {
            return true;
        };
        let reason = format!("a task may not start: {refusal}");
        self.set_execution(&execution, ExecutionStatus::Paused, out);
        out.push(Event::BudgetSpent {
            execution,
            reason,
            standing: refusal.standing,
        });
        false
    }
}
