//! The in-memory DAG: executions, their task nodes and dependency edges,
//! with the state rules of STATE.md.

use std::collections::{BTreeMap, BTreeSet, HashMap};

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
    pub execution: String,
    pub step_id: String,
    pub step_index: i64,
    pub tier: Tier,
    pub checkpoint: bool,
    pub status: TaskStatus,
    pub failures: u32,
    pub needs: Vec<Edge>,
    pub agent: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Execution {
    pub order: u64,
    pub status: ExecutionStatus,
    /// Task ids in step order.
    pub steps: Vec<String>,
    /// How many of its tasks are in each status (indexed by [`status_slot`]),
    /// so settling an execution does not walk its steps.
    pub counts: [usize; STATUS_SLOTS],
    /// Ready tasks per tier, in step order: the scheduler's queue.
    pub ready: BTreeMap<Tier, BTreeSet<(i64, String)>>,
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

/// The DAG of every loaded execution.
#[derive(Debug, Clone, Default)]
pub struct Graph {
    pub(crate) nodes: HashMap<String, Node>,
    pub(crate) executions: BTreeMap<String, Execution>,
    /// target -> tasks that need it.
    pub(crate) dependents: HashMap<String, BTreeSet<String>>,
}

impl Graph {
    pub fn status(&self, task: &str) -> Option<TaskStatus> {
        self.nodes.get(task).map(|n| n.status)
    }

    pub fn execution_status(&self, execution: &str) -> Option<ExecutionStatus> {
        self.executions.get(execution).map(|e| e.status)
    }

    pub fn execution_of(&self, task: &str) -> Option<&str> {
        self.nodes.get(task).map(|n| n.execution.as_str())
    }

    pub fn tier(&self, task: &str) -> Option<Tier> {
        self.nodes.get(task).map(|n| n.tier)
    }

    /// The agent a task's worker runs.
    pub fn agent(&self, task: &str) -> Option<&str> {
        self.nodes.get(task).map(|n| n.agent.as_str())
    }

    pub fn failures(&self, task: &str) -> Option<u32> {
        self.nodes.get(task).map(|n| n.failures)
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Task ids of an execution in step order.
    pub fn steps(&self, execution: &str) -> &[String] {
        self.executions
            .get(execution)
            .map(|e| e.steps.as_slice())
            .unwrap_or(&[])
    }

    /// The task of a step, by step id.
    pub fn step_task(&self, execution: &str, step_id: &str) -> Option<&str> {
        self.steps(execution)
            .iter()
            .find(|t| self.nodes.get(*t).is_some_and(|n| n.step_id == step_id))
            .map(String::as_str)
    }

    /// Changes a task's status, keeping the execution's counts and ready
    /// queues in step. Returns the previous status.
    pub(crate) fn set_status(&mut self, task: &str, status: TaskStatus) -> Option<TaskStatus> {
        let node = self.nodes.get_mut(task)?;
        let previous = node.status;
        if previous == status {
            return Some(previous);
        }
        node.status = status;
        let (tier, key) = (node.tier, (node.step_index, node.id.clone()));
        if let Some(execution) = self.executions.get_mut(&node.execution) {
            execution.counts[status_slot(previous)] =
                execution.counts[status_slot(previous)].saturating_sub(1);
            execution.counts[status_slot(status)] += 1;
            if previous == TaskStatus::Ready
                && let Some(set) = execution.ready.get_mut(&tier)
            {
                set.remove(&key);
            }
            if status == TaskStatus::Ready {
                execution.ready.entry(tier).or_default().insert(key);
            }
        }
        Some(previous)
    }

    /// Inserts or replaces an execution. Existing nodes keep their in-memory
    /// state unless the snapshot moved them on (the store is the truth for
    /// everything but a running worker, which only the coordinator knows).
    pub(crate) fn load(&mut self, snapshot: ExecutionSnapshot) {
        let mut steps: Vec<(i64, String)> = Vec::with_capacity(snapshot.nodes.len());
        for node in snapshot.nodes {
            steps.push((node.step_index, node.id.clone()));
            for edge in &node.needs {
                self.dependents
                    .entry(edge.target.clone())
                    .or_default()
                    .insert(node.id.clone());
            }
            self.nodes.insert(
                node.id.clone(),
                Node {
                    id: node.id,
                    execution: snapshot.id.clone(),
                    step_id: node.step_id,
                    step_index: node.step_index,
                    tier: node.tier,
                    checkpoint: node.checkpoint,
                    status: node.status,
                    failures: node.failures,
                    needs: node.needs,
                    agent: node.agent,
                },
            );
        }
        steps.sort();
        let mut counts = [0; STATUS_SLOTS];
        let mut ready: BTreeMap<Tier, BTreeSet<(i64, String)>> = BTreeMap::new();
        for (index, id) in &steps {
            if let Some(node) = self.nodes.get(id) {
                counts[status_slot(node.status)] += 1;
                if node.status == TaskStatus::Ready {
                    ready
                        .entry(node.tier)
                        .or_default()
                        .insert((*index, id.clone()));
                }
            }
        }
        self.executions.insert(
            snapshot.id,
            Execution {
                order: snapshot.order,
                status: snapshot.status,
                steps: steps.into_iter().map(|(_, id)| id).collect(),
                counts,
                ready,
            },
        );
    }

    /// Every task that depends on `task`, directly or not, in id order.
    pub fn transitive_dependents(&self, task: &str) -> Vec<String> {
        let mut seen = BTreeSet::new();
        let mut stack = vec![task.to_string()];
        while let Some(current) = stack.pop() {
            for dependent in self.dependents.get(&current).into_iter().flatten() {
                if seen.insert(dependent.clone()) {
                    stack.push(dependent.clone());
                }
            }
        }
        seen.into_iter().collect()
    }

    /// What cancelling `roots` turns `cancelled` ([`rules::cancel_reach`]).
    pub fn cancel_reach(&self, roots: &[String]) -> Vec<String> {
        rules::cancel_reach(
            roots,
            |t| self.status(t),
            |t| self.dependents.get(t).into_iter().flatten().cloned(),
        )
    }

    /// Direct dependents of a task.
    pub(crate) fn direct_dependents(&self, task: &str) -> Vec<String> {
        self.dependents
            .get(task)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// What a waiting task should be given its dependencies
    /// ([`rules::readiness`]); a dependency that is not loaded has not
    /// satisfied its edge yet.
    pub(crate) fn readiness(&self, task: &str) -> TaskStatus {
        let Some(node) = self.nodes.get(task) else {
            return TaskStatus::Pending;
        };
        rules::readiness(
            node.needs
                .iter()
                .map(|edge| (edge.condition, self.status(&edge.target))),
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
