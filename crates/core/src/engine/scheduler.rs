//! Which ready tasks start now: within `max_workers` and the per-tier
//! limits, older executions first, but round-robin across executions so one
//! busy execution cannot starve another. A task whose agent is held (its
//! account limited, `crate::limits`) waits without taking a slot.

use std::collections::BTreeSet;

use crate::{ExecutionStatus, Tier};

use super::graph::{Execution, Graph};

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

/// How many workers run per tier.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct TierCounts([usize; 3]);

impl TierCounts {
    pub(crate) fn get(&self, tier: Tier) -> usize {
        self.0[tier as usize]
    }

    pub(crate) fn add(&mut self, tier: Tier) {
        self.0[tier as usize] += 1;
    }

    fn total(&self) -> usize {
        self.0.iter().sum()
    }
}

/// Picks the ready tasks to start, in start order, as slots of `graph`,
/// into `picked` (emptied first). `running` counts the workers already
/// running per tier; tasks of a `held` agent are passed over.
pub(crate) fn pick(
    graph: &Graph,
    limits: &Limits,
    running: TierCounts,
    held: &BTreeSet<String>,
    picked: &mut Vec<u32>,
) {
    picked.clear();
    let free = |slot: u32| {
        held.is_empty() || graph.node_at(slot).is_none() || !held.contains(graph.agent_at(slot))
    };
    let mut total = running.total();
    let mut per_tier = running;
    if total >= limits.max_workers {
        return;
    }
    // Running executions with ready tasks, oldest first.
    let mut executions: Vec<(u64, &Execution)> = graph
        .executions
        .values()
        .filter(|e| e.status == ExecutionStatus::Running && e.has_ready())
        .map(|e| (e.order, e))
        .collect();
    executions.sort_by_key(|(order, _)| *order);
    // Per execution, a cursor into each tier's ready queue.
    let mut taken: Vec<TierCounts> = vec![TierCounts::default(); executions.len()];
    // Round-robin: one task per execution per round, the earliest step whose
    // tier still has room (a later, lighter step may fit when a tier is full).
    loop {
        let mut progressed = false;
        for (slot, (_, execution)) in executions.iter().enumerate() {
            if total >= limits.max_workers {
                return;
            }
            let candidate = Tier::ALL
                .iter()
                .copied()
                .filter(|tier| {
                    limits
                        .for_tier(*tier)
                        .is_none_or(|max| per_tier.get(*tier) < max)
                })
                .filter_map(|tier| {
                    let skip = taken[slot].get(tier);
                    execution.ready[tier as usize]
                        .iter()
                        .map(|position| execution.by_position[position])
                        .filter(|task| free(*task))
                        .nth(skip)
                        .and_then(|task| Some((graph.node_at(task)?.step_index, task, tier)))
                })
                .min_by_key(|(index, _, _)| *index);
            if let Some((_, task, tier)) = candidate {
                taken[slot].add(tier);
                per_tier.add(tier);
                total += 1;
                picked.push(task);
                progressed = true;
            }
        }
        if !progressed {
            return;
        }
    }
}
