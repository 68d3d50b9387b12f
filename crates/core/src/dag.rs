//! Validation of the step graphs that planners submit.
//!
//! An execution's steps reference each other by step id. Before anything is
//! written, the whole set must be well formed: unique ids, known references,
//! no self-dependency and no cycle. Existing steps cannot depend on new ones,
//! so a cycle can only form among the steps being added.

use std::collections::{BTreeSet, HashMap};

use thiserror::Error;

/// What a step needs, as far as graph shape is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NeedRef<'a> {
    /// Another step of the same execution (new or existing).
    Step(&'a str),
    /// A task outside the steps being added; the store checks it exists.
    Task(&'a str),
}

/// One step being added: its id and what it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepShape<'a> {
    pub id: &'a str,
    pub needs: Vec<NeedRef<'a>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DagError {
    #[error("at least one step is required")]
    NoSteps,
    #[error("step {index}: id '{id}' is invalid (use 1-64 letters, digits, '_', '-' or '.')")]
    BadStepId { index: usize, id: String },
    #[error("step id '{0}' is used more than once")]
    DuplicateStep(String),
    #[error("step id '{0}' already exists in this execution")]
    ExistingStep(String),
    #[error("step '{step}' needs unknown step '{needs}'")]
    UnknownStep { step: String, needs: String },
    #[error("step '{0}' depends on itself")]
    SelfDependency(String),
    #[error("the steps form a cycle: {}", .0.join(" -> "))]
    Cycle(Vec<String>),
}

/// The rule [`valid_step_id`] enforces, as a JSON-schema `pattern`.
pub const STEP_ID_PATTERN: &str = "^[A-Za-z0-9_.-]{1,64}$";

/// 1 to 64 ASCII letters, digits, `_`, `-` or `.` ([`STEP_ID_PATTERN`]).
pub fn valid_step_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// Checks the new steps against each other and the execution's existing step
/// ids. On success returns the indices of `steps` in an order where every
/// step comes after the new steps it needs (a topological order).
pub fn validate_steps(
    steps: &[StepShape<'_>],
    existing: &BTreeSet<String>,
) -> Result<Vec<usize>, DagError> {
    if steps.is_empty() {
        return Err(DagError::NoSteps);
    }
    let mut index_of: HashMap<&str, usize> = HashMap::new();
    for (index, step) in steps.iter().enumerate() {
        if !valid_step_id(step.id) {
            return Err(DagError::BadStepId {
                index,
                id: step.id.to_string(),
            });
        }
        if existing.contains(step.id) {
            return Err(DagError::ExistingStep(step.id.to_string()));
        }
        if index_of.insert(step.id, index).is_some() {
            return Err(DagError::DuplicateStep(step.id.to_string()));
        }
    }
    // Edges among new steps only: dependency -> dependents.
    let mut new_needs: Vec<Vec<usize>> = vec![Vec::new(); steps.len()];
    for (index, step) in steps.iter().enumerate() {
        for need in &step.needs {
            if let NeedRef::Step(name) = need {
                if *name == step.id {
                    return Err(DagError::SelfDependency(step.id.to_string()));
                }
                match index_of.get(name) {
                    Some(&dep) => new_needs[index].push(dep),
                    None if existing.contains(*name) => {}
                    None => {
                        return Err(DagError::UnknownStep {
                            step: step.id.to_string(),
                            needs: (*name).to_string(),
                        });
                    }
                }
            }
        }
    }
    topological_order(&new_needs).map_err(|cycle| {
        let mut names: Vec<String> = cycle.iter().map(|&i| steps[i].id.to_string()).collect();
        if let Some(first) = names.first().cloned() {
            names.push(first);
        }
        DagError::Cycle(names)
    })
}

/// Depth-first topological sort of nodes `0..needs.len()`, where `needs[i]`
/// lists the nodes `i` depends on. Returns the order (dependencies first), or
/// the nodes of one cycle in dependency order.
pub fn topological_order(needs: &[Vec<usize>]) -> Result<Vec<usize>, Vec<usize>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Active,
        Finished,
    }
    let mut mark = vec![Mark::New; needs.len()];
    let mut order = Vec::with_capacity(needs.len());
    // Iterative DFS so deep graphs cannot overflow the stack.
    for root in 0..needs.len() {
        if mark[root] != Mark::New {
            continue;
        }
        let mut stack: Vec<(usize, usize)> = vec![(root, 0)];
        mark[root] = Mark::Active;
        while let Some(&mut (node, ref mut next)) = stack.last_mut() {
            if let Some(&dep) = needs[node].get(*next) {
                *next += 1;
                match mark[dep] {
                    Mark::New => {
                        mark[dep] = Mark::Active;
                        stack.push((dep, 0));
                    }
                    Mark::Active => {
                        let start = stack.iter().position(|(n, _)| *n == dep).unwrap_or(0);
                        let mut cycle: Vec<usize> =
                            stack[start..].iter().map(|(n, _)| *n).collect();
                        // The stack runs dependent -> dependency; report dependency first.
                        cycle.reverse();
                        return Err(cycle);
                    }
                    Mark::Finished => {}
                }
            } else {
                mark[node] = Mark::Finished;
                order.push(node);
                stack.pop();
            }
        }
    }
    Ok(order)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn step<'a>(id: &'a str, needs: &[&'a str]) -> StepShape<'a> {
        StepShape {
            id,
            needs: needs.iter().map(|n| NeedRef::Step(n)).collect(),
        }
    }

    #[test]
    fn a_valid_graph_gives_dependencies_first() {
        let steps = [step("c", &["a", "b"]), step("a", &[]), step("b", &["a"])];
        let order = validate_steps(&steps, &BTreeSet::new()).unwrap();
        let pos = |id: &str| order.iter().position(|&i| steps[i].id == id).unwrap();
        assert!(pos("a") < pos("b") && pos("b") < pos("c"));
    }

    #[test]
    fn cycles_are_reported_with_their_path() {
        let steps = [step("a", &["c"]), step("b", &["a"]), step("c", &["b"])];
        let err = validate_steps(&steps, &BTreeSet::new()).unwrap_err();
        let DagError::Cycle(path) = &err else {
            panic!("expected a cycle, got {err}")
        };
        assert_eq!(path.first(), path.last());
        assert_eq!(path.len(), 4);
        assert!(err.to_string().contains(" -> "), "{err}");
    }

    #[test]
    fn self_dependency_duplicates_and_unknown_steps_are_rejected() {
        let none = BTreeSet::new();
        assert_eq!(
            validate_steps(&[step("a", &["a"])], &none),
            Err(DagError::SelfDependency("a".into()))
        );
        assert_eq!(
            validate_steps(&[step("a", &[]), step("a", &[])], &none),
            Err(DagError::DuplicateStep("a".into()))
        );
        assert_eq!(
            validate_steps(&[step("a", &["ghost"])], &none),
            Err(DagError::UnknownStep {
                step: "a".into(),
                needs: "ghost".into()
            })
        );
        assert_eq!(validate_steps(&[], &none), Err(DagError::NoSteps));
        assert!(matches!(
            validate_steps(&[step("bad id", &[])], &none),
            Err(DagError::BadStepId { index: 0, .. })
        ));
    }

    #[test]
    fn new_steps_may_need_existing_steps_but_not_reuse_their_ids() {
        let existing: BTreeSet<String> = ["a".to_string()].into();
        assert!(validate_steps(&[step("b", &["a"])], &existing).is_ok());
        assert_eq!(
            validate_steps(&[step("a", &[])], &existing),
            Err(DagError::ExistingStep("a".into()))
        );
    }

    #[test]
    fn task_references_are_left_to_the_store() {
        let steps = [StepShape {
            id: "a",
            needs: vec![NeedRef::Task("task-anything")],
        }];
        assert!(validate_steps(&steps, &BTreeSet::new()).is_ok());
    }

    #[test]
    fn a_long_chain_does_not_overflow_the_stack() {
        let n = 100_000;
        let needs: Vec<Vec<usize>> = (0..n)
            .map(|i| if i == 0 { vec![] } else { vec![i - 1] })
            .collect();
        let order = topological_order(&needs).unwrap();
        assert_eq!(order.len(), n);
        assert_eq!(order[0], 0);
    }

    proptest! {
        /// Edges that only point to lower indices never form a cycle, and the
        /// order respects every edge.
        #[test]
        fn acyclic_graphs_sort(edges in proptest::collection::vec((1usize..40, 0usize..40), 0..120)) {
            let mut needs = vec![Vec::new(); 40];
            for (a, b) in edges {
                if b < a { needs[a].push(b); }
            }
            let order = topological_order(&needs).unwrap();
            let mut pos = vec![0; 40];
            for (p, &n) in order.iter().enumerate() { pos[n] = p; }
            for (a, deps) in needs.iter().enumerate() {
                for &b in deps { prop_assert!(pos[b] < pos[a]); }
            }
        }

        /// Adding one back edge to a chain always yields a cycle.
        #[test]
        fn back_edges_are_cycles(len in 2usize..30, from in 0usize..30, to in 0usize..30) {
            let (lo, hi) = (from.min(to) % len, from.max(to) % len);
            prop_assume!(lo < hi);
            let mut needs: Vec<Vec<usize>> = (0..len).map(|i| if i == 0 { vec![] } else { vec![i - 1] }).collect();
            needs[lo].push(hi);
            let cycle = topological_order(&needs).unwrap_err();
            prop_assert!(cycle.contains(&lo) && cycle.contains(&hi));
        }
    }
}
