//! The in-memory DAG: executions, their task nodes and dependency edges,
//! with the state rules of STATE.md.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use crate::{Condition, ExecutionStatus, TaskStatus, Tier, rules};

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

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Node {
    pub id: String,
    /// Shared by every task of the execution (one allocation, not one each).
    pub execution: Arc<str>,
    pub step_id: String,
    pub step_index: i64,
    pub tier: Tier,
    pub checkpoint: bool,
    pub failures: u32,
    pub agent: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Execution {
    pub order: u64,
    pub status: ExecutionStatus,
    /// The slots of its tasks, in step order.
    pub steps: Vec<usize>,
    /// How many of its tasks are in each status (indexed by [`status_slot`]),
    /// so settling an execution does not walk its steps.
    pub counts: [usize; STATUS_SLOTS],
    /// Ready tasks per tier, in step order, by (step index, slot): the
    /// scheduler's queue. Slots, not ids: a task moves in and out of it on
    /// every start, and an id would be cloned each time.
    pub ready: BTreeMap<Tier, BTreeSet<(i64, usize)>>,
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
        self.ready.values().any(|set| !set.is_empty())
    }
}

/// Hashes task ids for the slot table: a multiply-rotate over 8-byte words,
/// several times quicker than the default SipHash on short ids. The ids are
/// the coordinator's own (ULIDs), so hash flooding is no concern.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(word)).wrapping_mul(SEED);
        }
    }

    fn finish(&self) -> u64 {
        // The multiply leaves its best bits high; the table indexes by the low ones.
        self.0.rotate_left(26)
    }
}

/// The DAG of every loaded execution. Every task id it has seen (loaded, or
/// named by an edge before its task is loaded) gets a slot, an index into
/// its vectors, once: settling a large DAG then follows integers rather than
/// hashing, comparing and cloning ids.
#[derive(Debug, Clone, Default)]
pub struct Graph {
    /// Task id -> its slot.
    slots: HashMap<Arc<str>, usize, BuildHasherDefault<IdHasher>>,
    /// Per slot: its task id (the same allocation as its key in `slots`).
    ids: Vec<Arc<str>>,
    /// Per slot: the task, once loaded.
    nodes: Vec<Option<Node>>,
    /// Per slot: the task's status, once loaded (apart from the nodes, so
    /// that checking a task's dependencies reads a few small bytes).
    statuses: Vec<Option<TaskStatus>>,
    /// Per slot: the slots of the tasks it needs, with the state each must
    /// reach (apart from the nodes too: settling reads little else).
    needs: Vec<Vec<(usize, Condition)>>,
    /// Per slot: the slots of the tasks that need it, in id order.
    dependents: Vec<Vec<usize>>,
    /// How many slots hold a loaded task.
    loaded: usize,
    pub(crate) executions: BTreeMap<String, Execution>,
}

impl Graph {
    /// The slot of a task id, if the graph has seen it.
    pub(crate) fn slot(&self, task: &str) -> Option<usize> {
        self.slots.get(task).copied()
    }

    /// The slot of a task id, given one if it has none yet.
    fn slot_for(&mut self, task: &str) -> usize {
        if let Some(slot) = self.slots.get(task) {
            return *slot;
        }
        let slot = self.nodes.len();
        let id: Arc<str> = Arc::from(task);
        self.slots.insert(Arc::clone(&id), slot);
        self.ids.push(id);
        self.nodes.push(None);
        self.statuses.push(None);
        self.needs.push(Vec::new());
        self.dependents.push(Vec::new());
        slot
    }

    /// The loaded task in a slot.
    pub(crate) fn node_at(&self, slot: usize) -> Option<&Node> {
        self.nodes.get(slot).and_then(Option::as_ref)
    }

    pub(crate) fn node(&self, task: &str) -> Option<&Node> {
        self.slot(task).and_then(|slot| self.node_at(slot))
    }

    pub(crate) fn node_mut(&mut self, task: &str) -> Option<&mut Node> {
        let slot = self.slot(task)?;
        self.nodes.get_mut(slot).and_then(Option::as_mut)
    }

    /// The slots of the tasks that need the task in `slot`, in id order.
    pub(crate) fn dependents_at(&self, slot: usize) -> &[usize] {
        self.dependents.get(slot).map(Vec::as_slice).unwrap_or(&[])
    }

    pub(crate) fn status_at(&self, slot: usize) -> Option<TaskStatus> {
        self.statuses.get(slot).copied().flatten()
    }

    pub fn status(&self, task: &str) -> Option<TaskStatus> {
        self.slot(task).and_then(|slot| self.status_at(slot))
    }

    /// Every loaded task with its status.
    pub(crate) fn loaded_statuses(&self) -> impl Iterator<Item = (&str, TaskStatus)> {
        self.nodes
            .iter()
            .zip(&self.statuses)
            .filter_map(|(node, status)| Some((node.as_ref()?.id.as_str(), (*status)?)))
    }

    pub fn execution_status(&self, execution: &str) -> Option<ExecutionStatus> {
        self.executions.get(execution).map(|e| e.status)
    }

    /// The execution of the task in a slot, shared.
    pub(crate) fn execution_at(&self, slot: usize) -> Option<Arc<str>> {
        self.node_at(slot).map(|n| Arc::clone(&n.execution))
    }

    pub fn execution_of(&self, task: &str) -> Option<&str> {
        self.node(task).map(|n| &*n.execution)
    }

    pub fn tier(&self, task: &str) -> Option<Tier> {
        self.node(task).map(|n| n.tier)
    }

    /// The agent a task's worker runs.
    pub fn agent(&self, task: &str) -> Option<&str> {
        self.node(task).map(|n| n.agent.as_str())
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
            .find(|slot| self.node_at(*slot).is_some_and(|n| n.step_id == step_id))
            .map(|slot| self.id_at(slot))
    }

    /// Changes the status of the task in `slot`, keeping the execution's
    /// counts and ready queues in step. Returns the previous status.
    pub(crate) fn set_status_at(&mut self, slot: usize, status: TaskStatus) -> Option<TaskStatus> {
        let node = self.nodes.get(slot).and_then(Option::as_ref)?;
        let previous = self.statuses[slot]?;
        if previous == status {
            return Some(previous);
        }
        self.statuses[slot] = Some(status);
        if let Some(execution) = self.executions.get_mut(&*node.execution) {
            execution.counts[status_slot(previous)] =
                execution.counts[status_slot(previous)].saturating_sub(1);
            execution.counts[status_slot(status)] += 1;
            if previous == TaskStatus::Ready
                && let Some(set) = execution.ready.get_mut(&node.tier)
            {
                set.remove(&(node.step_index, slot));
            }
            if status == TaskStatus::Ready {
                execution
                    .ready
                    .entry(node.tier)
                    .or_default()
                    .insert((node.step_index, slot));
            }
        }
        Some(previous)
    }

    /// Inserts or replaces an execution. Existing nodes keep their in-memory
    /// state unless the snapshot moved them on (the store is the truth for
    /// everything but a running worker, which only the coordinator knows).
    /// Returns the slots of its tasks, in snapshot order.
    pub(crate) fn load(&mut self, snapshot: ExecutionSnapshot) -> Vec<usize> {
        let count = snapshot.nodes.len();
        self.slots.reserve(count);
        self.ids.reserve(count);
        self.nodes.reserve(count);
        self.statuses.reserve(count);
        self.needs.reserve(count);
        self.dependents.reserve(count);
        let mut loaded: Vec<usize> = Vec::with_capacity(count);
        // Targets whose dependents grew: put back in id order once, at the end.
        let mut grown: Vec<usize> = Vec::new();
        let execution: Arc<str> = Arc::from(snapshot.id.as_str());
        for node in snapshot.nodes {
            let slot = self.slot_for(&node.id);
            loaded.push(slot);
            let mut needs = Vec::with_capacity(node.needs.len());
            for edge in &node.needs {
                let target = self.slot_for(&edge.target);
                needs.push((target, edge.condition));
                let list = &mut self.dependents[target];
                if list.last() != Some(&slot) {
                    // A lone dependent is in order already.
                    if !list.is_empty() {
                        grown.push(target);
                    }
                    list.push(slot);
                }
            }
            let replaced = self.nodes[slot].replace(Node {
                id: node.id,
                execution: Arc::clone(&execution),
                step_id: node.step_id,
                step_index: node.step_index,
                tier: node.tier,
                checkpoint: node.checkpoint,
                failures: node.failures,
                agent: node.agent,
            });
            self.statuses[slot] = Some(node.status);
            self.needs[slot] = needs;
            if replaced.is_none() {
                self.loaded += 1;
            }
        }
        grown.sort_unstable();
        grown.dedup();
        for target in grown {
            self.order_dependents(target);
        }
        let mut steps: Vec<(i64, usize)> = loaded
            .iter()
            .filter_map(|slot| Some((self.node_at(*slot)?.step_index, *slot)))
            .collect();
        steps.sort_by(|a, b| {
            a.0.cmp(&b.0)
                .then_with(|| self.ids[a.1].cmp(&self.ids[b.1]))
        });
        let mut counts = [0; STATUS_SLOTS];
        let mut ready: BTreeMap<Tier, BTreeSet<(i64, usize)>> = BTreeMap::new();
        for (index, slot) in &steps {
            if let Some((node, status)) = self.node_at(*slot).zip(self.status_at(*slot)) {
                counts[status_slot(status)] += 1;
                if status == TaskStatus::Ready {
                    ready.entry(node.tier).or_default().insert((*index, *slot));
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
                ready,
            },
        );
        loaded
    }

    /// Puts a task's dependents in id order, without repeats.
    fn order_dependents(&mut self, target: usize) {
        let ids = &self.ids;
        let list = &mut self.dependents[target];
        list.sort_unstable_by(|a, b| ids[*a].cmp(&ids[*b]));
        list.dedup();
    }

    /// The id of the task in a slot.
    pub(crate) fn id_at(&self, slot: usize) -> &str {
        &self.ids[slot]
    }

    /// Every task that depends on `task`, directly or not, in id order.
    pub fn transitive_dependents(&self, task: &str) -> Vec<String> {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<usize> = self.slot(task).into_iter().collect();
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
    pub(crate) fn readiness_at(&self, slot: usize) -> TaskStatus {
        if self.status_at(slot).is_none() {
            return TaskStatus::Pending;
        }
        rules::readiness(
            self.needs[slot]
                .iter()
                .map(|(target, condition)| (*condition, self.status_at(*target))),
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
