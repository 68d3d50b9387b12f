//! Which ready tasks start now: within `max_workers` and the per-tier
//! limits, older executions first, but round-robin across executions so one
//! busy execution cannot starve another.

use std::collections::HashMap;

use crate::{ExecutionStatus, TaskStatus, Tier};

use super::graph::Graph;

/// Concurrency limits. A tier without a limit is bounded only by `max_workers`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_workers: usize,
    pub max_light: Option<usize>,
    pub max_standard: Option<usize>,
    pub max_heavy: Option<usize>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_workers: 4,
            max_light: None,
            max_standard: None,
            max_heavy: None,
        }
    }
}

impl Limits {
    pub fn for_tier(&self, tier: Tier) -> Option<usize> {
        match tier {
            Tier::Light => self.max_light,
            Tier::Standard => self.max_standard,
            Tier::Heavy => self.max_heavy,
        }
    }
}

/// Picks the ready tasks to start, in start order. `running` counts the
/// workers already running per tier.
pub(crate) fn pick(graph: &Graph, limits: &Limits, running: &HashMap<Tier, usize>) -> Vec<String> {
    let mut total: usize = running.values().sum();
    let mut per_tier = running.clone();
    if total >= limits.max_workers {
        return Vec::new();
    }
    // Ready tasks of each running execution, oldest execution first.
    let mut executions: Vec<(u64, &String)> = graph
        .executions
        .iter()
        .filter(|(_, e)| e.status == ExecutionStatus::Running)
        .map(|(id, e)| (e.order, id))
        .collect();
    executions.sort();
    let mut queues: Vec<std::collections::VecDeque<&String>> = executions
        .iter()
        .map(|(_, id)| {
            graph
                .steps(id)
                .iter()
                .filter(|t| graph.status(t) == Some(TaskStatus::Ready))
                .collect()
        })
        .collect();
    let mut picked = Vec::new();
    // Round-robin: one task per execution per round, skipping tasks whose
    // tier is full (a later, lighter task of the same execution may fit).
    loop {
        let mut progressed = false;
        for queue in &mut queues {
            if total >= limits.max_workers {
                return picked;
            }
            let position = queue.iter().position(|task| {
                let tier = graph.tier(task).unwrap_or_default();
                limits
                    .for_tier(tier)
                    .is_none_or(|max| per_tier.get(&tier).copied().unwrap_or(0) < max)
            });
            if let Some(position) = position
                && let Some(task) = queue.remove(position)
            {
                let tier = graph.tier(task).unwrap_or_default();
                *per_tier.entry(tier).or_insert(0) += 1;
                total += 1;
                picked.push(task.clone());
                progressed = true;
            }
        }
        if !progressed {
            return picked;
        }
    }
}
