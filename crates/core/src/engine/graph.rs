//! The in-memory DAG: executions, their task nodes and dependency edges,
//! with the state rules of STATE.md.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::{Condition, ExecutionStatus, TaskStatus, Tier, rules};

use super::ids::Ids;
use super::lists::Lists;
use super::ready::ReadySet;

/// A dependency edge: this node needs `target` in a state satisfying `condition`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edge {
    pub target: String,
    pub condition: Condition,
}

/// One task as loaded from the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSnapshot {
    pub id: String,
    pub step_id: String,
    pub step_index: i64,
    pub tier: Tier,
    pub checkpoint: bool,
    pub status: TaskStatus,
    /// Failed attempts since the last manual retry.
    pub failures: u32,
    pub needs: Vec<Edge>,
    /// The agent its worker runs (its configured name): dispatching waits
    /// while that agent's account is limited.
    pub agent: String,
}

/// One execution as loaded from the store. `order` is its creation rank
/// (older executions have smaller values).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionSnapshot {
    pub id: String,
    pub order: u64,
    pub status: ExecutionStatus,
    pub nodes: Vec<NodeSnapshot>,
}

/// What settling and scheduling read of a loaded task, per slot: small and
/// copyable, apart from its id, step id and agent, which few paths read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Node {
    pub step_index: i64,
    /// Its execution, an index into the graph's execution ids.
    pub execution: u32,
    pub failures: u32,
    /// Its place in its execution's start order ([`Execution::by_position`]).
    pub position: u32,
    pub tier: Tier,
    pub checkpoint: bool,
}

/// What few paths read of a loaded task.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Named {
    step_id: String,
    agent: String,
}

/// One of a task's needs in one word: the slot of the task it needs (the
/// low 30 bits) and the state that task must reach (the top two, an index
/// into [`Condition::ALL`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Need(u32);

impl Need {
    const SLOT_BITS: u32 = 30;

    fn new(target: u32, condition: Condition) -> Need {
        // `Ids::intern` gives no slot past 2^30.
        debug_assert!(target < 1 << Self::SLOT_BITS);
        let condition = Condition::ALL
            .iter()
            .position(|c| *c == condition)
            .unwrap_or(0) as u32;
        Need(target | condition << Self::SLOT_BITS)
    }

    fn target(self) -> u32 {
        self.0 & ((1 << Self::SLOT_BITS) - 1)
    }

    fn condition(self) -> Condition {
        Condition::ALL[(self.0 >> Self::SLOT_BITS) as usize]
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Execution {
    pub order: u64,
    pub status: ExecutionStatus,
    /// The slots of its tasks, in step order.
    pub steps: Vec<u32>,
    /// How many of its tasks are in each status (indexed by [`status_slot`]),
    /// so settling an execution does not walk its steps.
    pub counts: [usize; STATUS_SLOTS],
    /// The slots of its tasks by (step index, slot): the scheduler's start
    /// order. Every task this execution was loaded with keeps a position.
    pub by_position: Vec<u32>,
    /// Ready tasks per tier (indexed by `Tier as usize`), by position: the
    /// scheduler's queue.
    pub ready: [ReadySet; 3],
}

pub(crate) const STATUS_SLOTS: usize = TaskStatus::ALL.len();

pub(crate) fn status_slot(status: TaskStatus) -> usize {
    TaskStatus::ALL
        .iter()
        .position(|s| *s == status)
        .unwrap_or(0)
}

impl Execution {
    pub(crate) fn count(&self, status: TaskStatus) -> usize {
        self.counts[status_slot(status)]
    }

    /// The statuses at least one of its tasks has.
    pub(crate) fn present(&self) -> impl Iterator<Item = TaskStatus> + '_ {
        TaskStatus::ALL
            .iter()
            .copied()
            .filter(|s| self.count(*s) > 0)
    }

    pub(crate) fn has_ready(&self) -> bool {
        self.ready.iter().any(|set| !set.is_empty())
    }
}

/// The DAG of every loaded execution. Every task id it has seen (loaded, or
/// named by an edge before its task is loaded) gets a slot, an index into
/// its vectors, once: settling a large DAG then follows integers rather than
/// hashing, comparing and cloning ids. What settling reads per slot (the
/// status, the needs, the dependents) lies in arrays of its own, apart from
/// what it reads less often, so that a 100 000-task DAG stays mostly in the
/// caches.
#[derive(Debug, Clone, Default)]
pub struct Graph {
    /// Task id <-> slot.
    ids: Ids,
    /// Per slot: the task, once loaded.
    nodes: Vec<Option<Node>>,
    /// Per slot: its step id and agent, once loaded.
    named: Vec<Named>,
    /// Per slot: the task's status, once loaded (`None`: not loaded).
    statuses: Vec<Option<TaskStatus>>,
    /// Per slot: the tasks it needs, with the state each must reach.
    needs: Lists<Need>,
    /// Per slot: the slots of the tasks that need it, in id order.
    dependents: Lists<u32>,
    /// How many slots hold a loaded task.
    loaded: usize,
    /// Every execution a task was loaded with, by [`Node::execution`].
    execution_ids: Vec<Arc<str>>,
    pub(crate) executions: BTreeMap<String, Execution>,
}

impl Graph {
    /// The slot of a task id, if the graph has seen it.
    pub(crate) fn slot(&self, task: &str) -> Option<u32> {
        self.ids.get(task)
    }

    /// The slot of a task id, given one if it has none yet.
    fn slot_for(&mut self, task: &str) -> u32 {
        let slot = self.ids.intern(task);
        let slots = self.ids.len();
        if self.nodes.len() < slots {
            self.nodes.resize(slots, None);
            self.named.resize_with(slots, Named::default);
            self.statuses.resize(slots, None);
            self.needs.cover(slots);
            self.dependents.cover(slots);
        }
        slot
    }

    /// The loaded task in a slot.
    pub(crate) fn node_at(&self, slot: u32) -> Option<&Node> {
        self.nodes.get(slot as usize).and_then(Option::as_ref)
    }

    pub(crate) fn node(&self, task: &str) -> Option<&Node> {
        self.slot(task).and_then(|slot| self.node_at(slot))
    }

    pub(crate) fn node_mut(&mut self, task: &str) -> Option<&mut Node> {
        let slot = self.slot(task)?;
        self.nodes.get_mut(slot as usize).and_then(Option::as_mut)
    }

    /// The agent of the task in a slot (empty until it is loaded).
    pub(crate) fn agent_at(&self, slot: u32) -> &str {
        self.named
            .get(slot as usize)
            .map_or("", |named| named.agent.as_str())
    }

    /// The slots of the tasks that need the task in `slot`, in id order.
    pub(crate) fn dependents_at(&self, slot: u32) -> &[u32] {
        self.dependents.get(slot)
    }

    pub(crate) fn status_at(&self, slot: u32) -> Option<TaskStatus> {
        self.statuses.get(slot as usize).copied().flatten()
    }

    pub fn status(&self, task: &str) -> Option<TaskStatus> {
        self.slot(task).and_then(|slot| self.status_at(slot))
    }

    /// Every loaded task with its status.
    pub(crate) fn loaded_statuses(&self) -> impl Iterator<Item = (&str, TaskStatus)> {
        self.statuses
            .iter()
            .enumerate()
            .filter_map(|(slot, status)| Some((self.id_at(slot as u32), (*status)?)))
    }

    pub fn execution_status(&self, execution: &str) -> Option<ExecutionStatus> {
        self.executions.get(execution).map(|e| e.status)
    }

    /// The id of an execution by its index ([`Node::execution`]).
    pub(crate) fn execution_id(&self, index: u32) -> &Arc<str> {
        &self.execution_ids[index as usize]
    }

    /// The execution of the task in a slot, shared.
    pub(crate) fn execution_at(&self, slot: u32) -> Option<Arc<str>> {
        self.node_at(slot)
            .map(|n| Arc::clone(self.execution_id(n.execution)))
    }

    pub fn execution_of(&self, task: &str) -> Option<&str> {
        self.node(task).map(|n| &**self.execution_id(n.execution))
    }

    pub fn tier(&self, task: &str) -> Option<Tier> {
        self.node(task).map(|n| n.tier)
    }

    /// The agent a task's worker runs.
    pub fn agent(&self, task: &str) -> Option<&str> {
        let slot = self.slot(task)?;
        self.node_at(slot)?;
        Some(self.agent_at(slot))
    }

    pub fn failures(&self, task: &str) -> Option<u32> {
        self.node(task).map(|n| n.failures)
    }

    pub fn len(&self) -> usize {
        self.loaded
    }

    pub fn is_empty(&self) -> bool {
        self.loaded == 0
    }

    /// Task ids of an execution in step order.
    pub fn steps(&self, execution: &str) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.executions
            .get(execution)
            .map(|e| e.steps.as_slice())
            .unwrap_or(&[])
            .iter()
            .map(|slot| self.id_at(*slot))
    }

    /// The task of a step, by step id.
    pub fn step_task(&self, execution: &str, step_id: &str) -> Option<&str> {
        let steps = self.executions.get(execution)?.steps.iter();
        steps
            .copied()
            .find(|slot| {
                self.node_at(*slot).is_some() && self.named[*slot as usize].step_id == step_id
            })
            .map(|slot| self.id_at(slot))
    }

    /// Changes the status of the task in `slot`, keeping the execution's
    /// counts and ready queues in step. Returns the previous status.
    pub(crate) fn set_status_at(&mut self, slot: u32, status: TaskStatus) -> Option<TaskStatus> {
        let node = *self.node_at(slot)?;
        let previous = self.statuses[slot as usize]?;
        if previous == status {
            return Some(previous);
        }
        self.statuses[slot as usize] = Some(status);
        let execution = &self.execution_ids[node.execution as usize];
        if let Some(execution) = self.executions.get_mut(&**execution) {
            execution.counts[status_slot(previous)] =
                execution.counts[status_slot(previous)].saturating_sub(1);
            execution.counts[status_slot(status)] += 1;
            let queue = &mut execution.ready[node.tier as usize];
            if previous == TaskStatus::Ready {
                queue.remove(node.position);
            }
            if status == TaskStatus::Ready {
                queue.insert(node.position);
            }
        }
        Some(previous)
    }

    /// The index of an execution's id, given one if it has none yet.
    fn execution_index(&mut self, execution: &str) -> u32 {
        if let Some(index) = self.execution_ids.iter().position(|e| &**e == execution) {
            return index as u32;
        }
        self.execution_ids.push(Arc::from(execution));
        u32::try_from(self.execution_ids.len() - 1).expect("under 4 billion executions")
    }

    /// Inserts or replaces an execution. Existing nodes keep their in-memory
    /// state unless the snapshot moved them on (the store is the truth for
    /// everything but a running worker, which only the coordinator knows).
    /// Returns the slots of its tasks, in snapshot order.
    pub(crate) fn load(&mut self, snapshot: ExecutionSnapshot) -> Vec<u32> {
        let count = snapshot.nodes.len();
        let edges: usize = snapshot.nodes.iter().map(|n| n.needs.len()).sum();
        let bytes: usize = snapshot.nodes.iter().map(|n| n.id.len()).sum();
        self.ids.reserve(count, bytes);
        self.nodes.reserve(count);
        self.named.reserve(count);
        self.statuses.reserve(count);
        self.needs.reserve(count, edges);
        self.dependents.reserve(count, edges);
        let execution = self.execution_index(&snapshot.id);
        let mut loaded: Vec<u32> = Vec::with_capacity(count);
        // Every edge as (target, dependent), for the dependents' lists.
        let mut links: Vec<u64> = Vec::with_capacity(edges);
        let mut needs: Vec<Need> = Vec::new();
        for node in snapshot.nodes {
            let slot = self.slot_for(&node.id);
            loaded.push(slot);
            needs.clear();
            for edge in &node.needs {
                let target = self.slot_for(&edge.target);
                needs.push(Need::new(target, edge.condition));
                links.push((u64::from(target) << 32) | u64::from(slot));
            }
            self.needs.set(slot, &needs);
            let at = slot as usize;
            if self.statuses[at].is_none() {
                self.loaded += 1;
            }
            self.nodes[at] = Some(Node {
                step_index: node.step_index,
                execution,
                failures: node.failures,
                // Given below, once every task of the snapshot is in.
                position: u32::MAX,
                tier: node.tier,
                checkpoint: node.checkpoint,
            });
            self.statuses[at] = Some(node.status);
            self.named[at] = Named {
                step_id: node.step_id,
                agent: node.agent,
            };
        }
        self.link(links);
        let mut steps: Vec<(i64, u32)> = loaded
            .iter()
            .filter_map(|slot| Some((self.node_at(*slot)?.step_index, *slot)))
            .collect();
        steps.sort_by(|a, b| {
            a.0.cmp(&b.0)
                .then_with(|| self.id_at(a.1).cmp(self.id_at(b.1)))
        });
        let by_position = self.positions(&snapshot.id, execution, &steps);
        let mut ready: [ReadySet; 3] = std::array::from_fn(|_| ReadySet::new(by_position.len()));
        let mut counts = [0; STATUS_SLOTS];
        for (_, slot) in &steps {
            if let Some((node, status)) = self.node_at(*slot).zip(self.status_at(*slot)) {
                counts[status_slot(status)] += 1;
                if status == TaskStatus::Ready {
                    ready[node.tier as usize].insert(node.position);
                }
            }
        }
        self.executions.insert(
            snapshot.id,
            Execution {
                order: snapshot.order,
                status: snapshot.status,
                steps: steps.into_iter().map(|(_, slot)| slot).collect(),
                counts,
                by_position,
                ready,
            },
        );
        loaded
    }

    /// The start order of an execution being loaded with `steps` (its
    /// loaded tasks by step index, then id), each task's position set: its
    /// tasks by (step index, slot), those of an earlier load of it that the
    /// snapshot left out kept (they still belong to it).
    fn positions(&mut self, id: &str, execution: u32, steps: &[(i64, u32)]) -> Vec<u32> {
        let mut kept: Vec<(i64, u32)> = self
            .executions
            .get(id)
            .map(|e| e.by_position.as_slice())
            .unwrap_or(&[])
            .iter()
            .filter_map(|slot| {
                let node = self.node_at(*slot)?;
                (node.execution == execution && node.position != u32::MAX)
                    .then_some((node.step_index, *slot))
            })
            .collect();
        let mut order: Vec<(i64, u32)>;
        // Step indices that differ order the steps as the start order does.
        if kept.is_empty() && steps.windows(2).all(|pair| pair[0].0 < pair[1].0) {
            order = steps.to_vec();
        } else {
            kept.extend_from_slice(steps);
            order = kept;
            order.sort_unstable();
            order.dedup();
        }
        for (position, (_, slot)) in order.iter().enumerate() {
            if let Some(Some(node)) = self.nodes.get_mut(*slot as usize) {
                node.position = position as u32;
            }
        }
        order.into_iter().map(|(_, slot)| slot).collect()
    }

    /// Adds (target, dependent) `links` to the targets' dependents, each
    /// list in id order, without repeats. Sorted by target, the links of a
    /// fresh load fill the pool target by target.
    fn link(&mut self, mut links: Vec<u64>) {
        links.sort_unstable();
        let mut merged: Vec<u32> = Vec::new();
        let mut rest = links.as_slice();
        while let Some(first) = rest.first() {
            let target = (first >> 32) as u32;
            let group = rest
                .iter()
                .take_while(|link| (**link >> 32) as u32 == target)
                .count();
            let old = self.dependents.get(target);
            merged.clear();
            merged.extend_from_slice(old);
            // The low half of a link is its dependent.
            merged.extend(rest[..group].iter().map(|link| *link as u32));
            rest = &rest[group..];
            if merged.len() > 1 {
                let ids = &self.ids;
                merged.sort_unstable_by(|a, b| ids.id(*a).cmp(ids.id(*b)));
                merged.dedup();
            }
            if merged.as_slice() != old {
                self.dependents.set(target, &merged);
            }
        }
    }

    /// The id of the task in a slot.
    pub(crate) fn id_at(&self, slot: u32) -> &str {
        self.ids.id(slot)
    }

    /// Every task that depends on `task`, directly or not, in id order.
    pub fn transitive_dependents(&self, task: &str) -> Vec<String> {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<u32> = self.slot(task).into_iter().collect();
        while let Some(current) = stack.pop() {
            for &dependent in self.dependents_at(current) {
                if seen.insert(self.id_at(dependent)) {
                    stack.push(dependent);
                }
            }
        }
        seen.into_iter().map(str::to_string).collect()
    }

    /// What cancelling `roots` turns `cancelled` ([`rules::cancel_reach`]).
    pub fn cancel_reach(&self, roots: &[String]) -> Vec<String> {
        rules::cancel_reach(roots, |t| self.status(t), |t| self.direct_dependents(t))
    }

    /// Direct dependents of a task, in id order.
    pub(crate) fn direct_dependents(&self, task: &str) -> Vec<String> {
        self.slot(task)
            .map(|slot| {
                self.dependents_at(slot)
                    .iter()
                    .map(|d| self.id_at(*d).to_string())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// What a waiting task should be given its dependencies
    /// ([`rules::readiness`]); a dependency that is not loaded has not
    /// satisfied its edge yet.
    #[cfg(test)]
    pub(crate) fn readiness(&self, task: &str) -> TaskStatus {
        self.slot(task)
            .map_or(TaskStatus::Pending, |slot| self.readiness_at(slot))
    }

    /// [`Graph::readiness`] by slot.
    pub(crate) fn readiness_at(&self, slot: u32) -> TaskStatus {
        if self.status_at(slot).is_none() {
            return TaskStatus::Pending;
        }
        rules::readiness(
            self.needs
                .get(slot)
                .iter()
                .map(|need| (need.condition(), self.status_at(need.target()))),
        )
    }

    /// The status an execution should now have from its tasks, or `None` to
    /// leave it ([`rules::settled_execution_status`]).
    pub(crate) fn settled_execution_status(&self, execution: &str) -> Option<ExecutionStatus> {
        let e = self.executions.get(execution)?;
        rules::settled_execution_status(e.status, e.present())
    }
}

impl Graph {
    /// Ids of every loaded execution, oldest first.
    pub fn executions_ids(&self) -> Vec<String> {
        let mut ids: Vec<(u64, &String)> = self
            .executions
            .iter()
            .map(|(id, e)| (e.order, id))
            .collect();
        ids.sort();
        ids.into_iter().map(|(_, id)| id.clone()).collect()
    }
}
