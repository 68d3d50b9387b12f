//! `enki_dag` / `enki dag`: one execution's dependency graph.

use std::collections::{HashMap, HashSet};
use std::ops::Range;

use enki_core::id::short;
use enki_store::{DependencyRow, ExecutionRow, Store, StoreError, TaskFilter, TaskRow};
use serde::Serialize;
use serde_json::{Value, json};

use crate::format::{check, columns, count, one_line};

/// One execution's graph.
#[derive(Debug, Clone, Serialize)]
pub struct DagView {
    pub execution: ExecutionRow,
    /// The execution's tasks in step order.
    pub nodes: Vec<TaskRow>,
    /// Every edge whose dependent is one of `nodes` (the task it needs may
    /// belong to another execution).
    pub edges: Vec<DependencyRow>,
}

/// Reads the graph of one execution (`execution_filter`, a full id), or of
/// every execution (of `session` when given), oldest first. An unknown
/// execution id is a caller error `no execution <id>`.
pub fn gather_dag(
    store: &Store,
    execution_filter: Option<&str>,
    session: Option<&str>,
) -> Result<Vec<DagView>, StoreError> {
    let executions = match execution_filter {
        Some(id) => vec![
            store
                .execution(id)?
                .ok_or_else(|| StoreError::Invalid(format!("no execution {id}")))?,
        ],
        None => store.executions(session)?,
    };
    executions
        .into_iter()
        .map(|execution| {
            let nodes = store.tasks(&TaskFilter {
                execution_id: Some(execution.id.clone()),
                ..TaskFilter::default()
            })?;
            let edges = store.execution_edges(&execution.id)?;
            Ok(DagView {
                execution,
                nodes,
                edges,
            })
        })
        .collect()
}

/// The depth of each node (in `dag.nodes` order): 0 for a step that needs no
/// other step of its execution, otherwise one more than the deepest step of
/// the execution it needs. Edges to other executions do not count.
pub fn dag_levels(dag: &DagView) -> Vec<usize> {
    let index: HashMap<&str, usize> = dag
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.id.as_str(), i))
        .collect();
    let inner: Vec<(usize, usize)> = dag
        .edges
        .iter()
        .filter_map(|e| {
            Some((
                *index.get(e.needs_task_id.as_str())?,
                *index.get(e.task_id.as_str())?,
            ))
        })
        .collect();
    let mut levels = vec![0usize; dag.nodes.len()];
    // Longest path by relaxation; a graph has no cycles, but the bound keeps
    // a corrupt one from looping forever.
    for _ in 0..dag.nodes.len() {
        let mut changed = false;
        for &(from, to) in &inner {
            let candidate = levels[from] + 1;
            if candidate > levels[to] && candidate < dag.nodes.len() {
                levels[to] = candidate;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    levels
}

/// How a node's need is named: the step id inside the execution, the short
/// task id (and where it lives) outside it.
fn need_label(edge: &DependencyRow, execution_id: &str) -> String {
    let target = if edge.needs_execution_id == execution_id {
        edge.needs_step_id.clone()
    } else {
        format!("{} in another execution", short(&edge.needs_task_id))
    };
    format!("{target} ({} {})", edge.condition, check(edge.satisfied))
}

/// The whole of each graph, as [`dag_text_windows`] and [`dag_json_windows`] take it.
fn whole(dags: &[DagView]) -> Vec<Range<usize>> {
    dags.iter().map(|dag| 0..dag.nodes.len()).collect()
}

/// The part of `dag.nodes` that `window` names (empty when it is out of range).
fn nodes_in<'a>(dag: &'a DagView, window: &Range<usize>) -> &'a [TaskRow] {
    dag.nodes.get(window.clone()).unwrap_or_default()
}

fn one_dag_text(dag: &DagView, window: &Range<usize>) -> String {
    let e = &dag.execution;
    let mut header = format!("{}  {}  [{}]", short(&e.id), one_line(&e.title), e.status);
    if e.standalone {
        header.push_str("  standalone task");
    } else {
        header.push_str(&format!(
            "  {}",
            count(dag.nodes.len() as i64, "step", "steps")
        ));
    }
    let shown = nodes_in(dag, window);
    if shown.len() < dag.nodes.len() {
        header.push_str(&format!(
            " (showing {}-{})",
            window.start + 1,
            window.start + shown.len()
        ));
    }
    let mut out = vec![header];
    if dag.nodes.is_empty() {
        out.push("  no steps".to_string());
        return out.join("\n");
    }
    let levels = dag_levels(dag);
    let levels = levels.get(window.clone()).unwrap_or_default();
    let rows: Vec<Vec<String>> = shown
        .iter()
        .zip(levels)
        .map(|(node, level)| {
            vec![
                format!("L{level}"),
                format!("{}{}", "  ".repeat(*level), node.step_id),
                node.status.to_string(),
                one_line(&node.title),
                short(&node.id).to_string(),
                if node.checkpoint { "checkpoint" } else { "" }.to_string(),
            ]
        })
        .collect();
    let level_width = rows.iter().map(|r| r[0].len()).max().unwrap_or(0);
    let position: HashMap<&str, usize> = dag
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.id.as_str(), i))
        .collect();
    for ((line, node), level) in columns(&rows).into_iter().zip(shown).zip(levels) {
        out.push(format!("  {line}"));
        // Needs inside the execution first, in step order, then the rest.
        let mut needs: Vec<(usize, &DependencyRow)> = dag
            .edges
            .iter()
            .filter(|edge| edge.task_id == node.id)
            .map(|edge| {
                let at = position.get(edge.needs_task_id.as_str()).copied();
                (at.unwrap_or(usize::MAX), edge)
            })
            .collect();
        needs.sort_by_key(|(at, _)| *at);
        let needs: Vec<String> = needs
            .into_iter()
            .map(|(_, edge)| need_label(edge, &e.id))
            .collect();
        if !needs.is_empty() {
            let pad = 2 + level_width + 2 + 2 * level + 2;
            out.push(format!("{}needs {}", " ".repeat(pad), needs.join(", ")));
        }
    }
    out.join("\n")
}

/// Per execution: a header (short id, title, status), then each step in step
/// order with its level (`L0`, `L1`, … and an indent), status, title and
/// short id, and under it what it needs:
/// `needs a (merged ✓), task-… in another execution (started ✗)`.
/// `no executions` when empty.
pub fn dag_text(dags: &[DagView]) -> String {
    dag_text_windows(dags, &whole(dags))
}

/// [`dag_text`] of part of each graph, for a page of a long listing:
/// `windows[i]` is the range of `dags[i].nodes` to show. Levels and needs
/// are those of the whole graph; a header says which steps it shows when
/// not all of them.
pub fn dag_text_windows(dags: &[DagView], windows: &[Range<usize>]) -> String {
    if dags.is_empty() {
        return "no executions".to_string();
    }
    dags.iter()
        .zip(windows)
        .map(|(dag, window)| one_dag_text(dag, window))
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// `{"executions":[{"id","title","status","nodes":[{"task_id","step_id",
/// "title","status","tier","role","checkpoint","level"}],"edges":[{"from":
/// needed task id,"to":dependent task id,"condition","satisfied"}]}]}`.
pub fn dag_json(dags: &[DagView]) -> Value {
    dag_json_windows(dags, &whole(dags))
}

/// [`dag_json`] of part of each graph (see [`dag_text_windows`]): the nodes
/// in the window, with the levels they have in the whole graph, and the
/// edges into them.
pub fn dag_json_windows(dags: &[DagView], windows: &[Range<usize>]) -> Value {
    let executions: Vec<Value> = dags
        .iter()
        .zip(windows)
        .map(|(dag, window)| {
            let shown = nodes_in(dag, window);
            let levels = dag_levels(dag);
            let levels = levels.get(window.clone()).unwrap_or_default();
            let nodes: Vec<Value> = shown
                .iter()
                .zip(levels)
                .map(|(n, level)| {
                    json!({
                        "task_id": n.id,
                        "step_id": n.step_id,
                        "title": n.title,
                        "status": n.status,
                        "tier": n.tier,
                        "role": n.role,
                        "checkpoint": n.checkpoint,
                        "level": level,
                    })
                })
                .collect();
            let ids: HashSet<&str> = shown.iter().map(|n| n.id.as_str()).collect();
            let edges: Vec<Value> = dag
                .edges
                .iter()
                .filter(|e| ids.contains(e.task_id.as_str()))
                .map(|e| {
                    json!({
                        "from": e.needs_task_id,
                        "to": e.task_id,
                        "condition": e.condition,
                        "satisfied": e.satisfied,
                    })
                })
                .collect();
            json!({
                "id": dag.execution.id,
                "title": dag.execution.title,
                "status": dag.execution.status,
                "nodes": nodes,
                "edges": edges,
            })
        })
        .collect();
    json!({ "executions": executions })
}

#[cfg(test)]
mod tests {
    use enki_core::{Condition, TaskStatus};
    use enki_store::{NewNeed, NewStep};

    use super::*;
    use crate::fixtures::{OTHER_EXEC, edge, execution, task};

    /// a -> b -> d, a -> c, and b also needs x from another execution.
    fn diamond() -> DagView {
        let a = task('A', "a", 0, TaskStatus::Done);
        let mut b = task('B', "b", 1, TaskStatus::Running);
        b.checkpoint = true;
        let c = task('C', "c", 2, TaskStatus::Ready);
        let d = task('D', "d", 3, TaskStatus::Pending);
        let mut x = task('X', "x", 0, TaskStatus::Pending);
        x.execution_id = OTHER_EXEC.to_string();
        let edges = vec![
            edge(&b, &x, Condition::Started),
            edge(&b, &a, Condition::Merged),
            edge(&c, &a, Condition::Completed),
            edge(&d, &b, Condition::Merged),
            edge(&d, &c, Condition::Merged),
        ];
        DagView {
            execution: execution(),
            nodes: vec![a, b, c, d],
            edges,
        }
    }

    #[test]
    fn levels_follow_the_longest_path_inside_the_execution() {
        assert_eq!(dag_levels(&diamond()), vec![0, 1, 1, 2]);
        // Step order does not have to match dependency order.
        let mut dag = diamond();
        dag.nodes.reverse();
        assert_eq!(dag_levels(&dag), vec![2, 1, 1, 0]);
    }

    #[test]
    fn a_corrupt_cycle_does_not_hang() {
        let a = task('A', "a", 0, TaskStatus::Pending);
        let b = task('B', "b", 1, TaskStatus::Pending);
        let dag = DagView {
            execution: execution(),
            edges: vec![
                edge(&a, &b, Condition::Merged),
                edge(&b, &a, Condition::Merged),
            ],
            nodes: vec![a, b],
        };
        assert!(dag_levels(&dag).iter().all(|l| *l < 2));
    }

    #[test]
    fn text_shows_header_levels_statuses_and_needs() {
        let text = dag_text(&[diamond()]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            vec![
                "exec-01JAAAAAAAAAAA  demo execution  [running]  4 steps",
                "  L0  a      done     step a title  task-01JAAAAAAAAAAA",
                "  L1    b    running  step b title  task-01JAAAAAAAAAAB  checkpoint",
                "          needs a (merged ✓), task-01JAAAAAAAAAAX in another execution (started ✗)",
                "  L1    c    ready    step c title  task-01JAAAAAAAAAAC",
                "          needs a (completed ✓)",
                "  L2      d  pending  step d title  task-01JAAAAAAAAAAD",
                "            needs b (merged ✗), c (merged ✗)",
            ]
        );
    }

    #[test]
    fn a_window_shows_its_steps_with_the_levels_and_needs_of_the_whole_graph() {
        let dag = diamond();
        let last_two = [Range { start: 2, end: 4 }];
        let text = dag_text_windows(std::slice::from_ref(&dag), &last_two);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            vec![
                "exec-01JAAAAAAAAAAA  demo execution  [running]  4 steps (showing 3-4)",
                "  L1    c    ready    step c title  task-01JAAAAAAAAAAC",
                "          needs a (completed ✓)",
                "  L2      d  pending  step d title  task-01JAAAAAAAAAAD",
                "            needs b (merged ✗), c (merged ✗)",
            ]
        );
        let value = dag_json_windows(std::slice::from_ref(&dag), &last_two);
        let nodes = value["executions"][0]["nodes"].as_array().expect("nodes");
        let levels: Vec<&Value> = nodes.iter().map(|n| &n["level"]).collect();
        assert_eq!(levels, [1, 2]);
        let edges = value["executions"][0]["edges"].as_array().expect("edges");
        assert_eq!(edges.len(), 3, "the edges into c and d: {edges:?}");
        let all = [Range { start: 0, end: 4 }];
        assert_eq!(
            dag_json_windows(std::slice::from_ref(&dag), &all),
            dag_json(&[dag])
        );
    }

    #[test]
    fn text_of_nothing_and_of_several_executions() {
        assert_eq!(dag_text(&[]), "no executions");
        let mut empty = diamond();
        empty.nodes.clear();
        empty.edges.clear();
        empty.execution.standalone = true;
        let text = dag_text(&[diamond(), empty]);
        assert!(
            text.contains(
                "\n\nexec-01JAAAAAAAAAAA  demo execution  [running]  standalone task\n  no steps"
            ),
            "{text}"
        );
    }

    #[test]
    fn json_has_nodes_with_levels_and_edges() {
        let value = dag_json(&[diamond()]);
        let execution = &value["executions"][0];
        assert_eq!(execution["id"], "exec-01JAAAAAAAAAAAAAAAAAAAAAAA");
        assert_eq!(execution["title"], "demo execution");
        assert_eq!(execution["status"], "running");
        let nodes = execution["nodes"].as_array().unwrap();
        assert_eq!(nodes.len(), 4);
        assert_eq!(nodes[1]["step_id"], "b");
        assert_eq!(nodes[1]["status"], "running");
        assert_eq!(nodes[1]["tier"], "standard");
        assert_eq!(nodes[1]["role"], Value::Null);
        assert_eq!(nodes[1]["checkpoint"], true);
        assert_eq!(nodes[3]["level"], 2);
        let edges = execution["edges"].as_array().unwrap();
        assert_eq!(edges.len(), 5);
        assert_eq!(
            edges[1],
            json!({"from": nodes[0]["task_id"], "to": nodes[1]["task_id"], "condition": "merged", "satisfied": true})
        );
        assert_eq!(edges[0]["satisfied"], false);
        assert_eq!(dag_json(&[]), json!({"executions": []}));
    }

    #[test]
    fn gather_reads_executions_of_a_session_or_one_by_id() {
        let tmp = tempfile::tempdir().unwrap();
        let mut store = Store::open(&tmp.path().join("db.sqlite")).unwrap();
        let step = |id: &str, needs: &[&str]| NewStep {
            role: Some("documenter".to_string()),
            ..NewStep::new(id, format!("step {id}")).needing(
                needs
                    .iter()
                    .map(|n| NewNeed::step(*n, Condition::Merged))
                    .collect(),
            )
        };
        let first = store
            .create_execution(
                Some("sess-1"),
                "first",
                false,
                &[step("a", &[]), step("b", &["a"])],
            )
            .unwrap();
        let second = store
            .create_execution(Some("sess-2"), "second", true, &[step("only", &[])])
            .unwrap();

        // Ids order executions by creation time only across milliseconds,
        // so look the first one up rather than relying on its position.
        let all = gather_dag(&store, None, None).unwrap();
        assert_eq!(all.len(), 2);
        let dag = all
            .iter()
            .find(|d| d.execution.id == first.execution_id)
            .unwrap();
        assert_eq!(dag.nodes.len(), 2);
        assert_eq!(dag.edges.len(), 1);
        assert_eq!(dag_levels(dag), vec![0, 1]);

        let scoped = gather_dag(&store, None, Some("sess-2")).unwrap();
        assert_eq!(scoped.len(), 1);
        assert_eq!(scoped[0].execution.id, second.execution_id);

        let one = gather_dag(&store, Some(&second.execution_id), Some("sess-1")).unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].nodes[0].step_id, "only");

        let err = gather_dag(&store, Some("exec-01JZZZZZZZZZZZZZZZZZZZZZZZ"), None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "no execution exec-01JZZZZZZZZZZZZZZZZZZZZZZZ"
        );
        assert!(
            gather_dag(&store, None, Some("sess-none"))
                .unwrap()
                .is_empty()
        );
    }
}
