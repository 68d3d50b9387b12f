//! `enki_task_show` / `enki task` and `enki_task_list` / `enki tasks`.

use enki_core::id::short;
use enki_core::usage::{Prices, Totals};
use enki_store::{
    AttemptRow, DependencyRow, ExecutionRow, MergeRequestRow, MergerRunRow, Store, StoreError,
    TaskRow, UsageFilter, UsageRow,
};
use serde::Serialize;

use crate::format::{check, clip, columns, count, indent, one_line, timestamp};

/// Longest activity text a task listing prints before cutting it.
const LIST_ACTIVITY_MAX: usize = 80;

/// Everything `enki_task_show` / `enki task` shows about one task.
#[derive(Debug, Clone, Serialize)]
pub struct TaskDetail {
    pub task: TaskRow,
    /// What this task needs, with each dependency's state.
    pub needs: Vec<DependencyRow>,
    /// The tasks that need this one (seen from each of them).
    pub dependents: Vec<DependencyRow>,
    /// Worker attempts, oldest first.
    pub attempt_history: Vec<AttemptRow>,
    /// Oldest first.
    pub merge_requests: Vec<MergeRequestRow>,
    /// Merger agents that resolved (or tried to) its conflicts, oldest first.
    pub merger_runs: Vec<MergerRunRow>,
    pub execution: Option<ExecutionRow>,
    /// What each of its runs (attempts, merger runs) used, oldest first.
    pub usage: Vec<UsageRow>,
    /// Each of those runs alone, priced (same order).
    pub usage_by_run: Vec<Totals>,
    /// Those runs summed (costs estimated from `[prices]` where needed).
    pub usage_totals: Totals,
}

/// Reads everything about one task. `task_id` is a full id; a missing task
/// is a caller error whose message is `no task <id>`.
pub fn gather_task_detail(
    store: &Store,
    task_id: &str,
    prices: &Prices,
) -> Result<TaskDetail, StoreError> {
    let task = store
        .task(task_id)?
        .ok_or_else(|| StoreError::Invalid(format!("no task {task_id}")))?;
    let usage = store.usage_rows(&UsageFilter {
        task_id: Some(task.id.clone()),
        ..UsageFilter::default()
    })?;
    Ok(TaskDetail {
        usage_totals: crate::usage_totals(&usage, prices),
        usage_by_run: usage
            .iter()
            .map(|row| crate::usage_totals(std::slice::from_ref(row), prices))
            .collect(),
        usage,
        needs: store.dependencies_of(&task.id)?,
        dependents: store.dependents_of(&task.id)?,
        attempt_history: store.attempts_of(&task.id)?,
        merge_requests: store.merge_requests_for(&task.id)?,
        merger_runs: store.merger_runs_of(&task.id)?,
        execution: store.execution(&task.execution_id)?,
        task,
    })
}

/// A dependency as the detail view names it: the step id inside the same
/// execution, otherwise the short task id and where it lives.
fn need_name(edge: &DependencyRow, own_execution: &str) -> String {
    if edge.needs_execution_id == own_execution {
        format!("{} ({})", edge.needs_step_id, short(&edge.needs_task_id))
    } else {
        format!(
            "{} (step {} of {})",
            short(&edge.needs_task_id),
            edge.needs_step_id,
            short(&edge.needs_execution_id)
        )
    }
}

/// The multi-line human view of one task.
pub fn task_detail_text(detail: &TaskDetail) -> String {
    let task = &detail.task;
    let mut fields: Vec<Vec<String>> = Vec::new();
    let mut field = |name: &str, value: String| fields.push(vec![format!("{name}:"), value]);

    let execution = match &detail.execution {
        Some(e) => format!("{} \"{}\" [{}]", short(&e.id), one_line(&e.title), e.status),
        None => short(&task.execution_id).to_string(),
    };
    field("execution", execution);
    field(
        "step",
        format!(
            "{} (#{} in the execution)",
            task.step_id,
            task.step_index + 1
        ),
    );
    field("status", task.status.to_string());
    if task.round > 1 {
        let request = task.followup.as_deref().unwrap_or_default();
        field(
            "round",
            format!(
                "{} (a follow-up: {})",
                task.round,
                clip(&one_line(request), 200)
            ),
        );
    }
    let mut agent = format!(
        "{} {}",
        crate::agent_state_glyph(task.agent_state),
        task.agent_state
    );
    if let Some(since) = &task.agent_state_since {
        agent.push_str(&format!(" since {}", timestamp(since)));
    }
    if let Some(reason) = &task.agent_state_reason {
        agent.push_str(&format!(" — {}", clip(&one_line(reason), 200)));
    }
    field("agent", agent);
    field("tier", task.tier.to_string());
    field("role", task.role.clone().unwrap_or_else(|| "-".to_string()));
    field(
        "checkpoint",
        if task.checkpoint { "yes" } else { "no" }.to_string(),
    );
    field(
        "attempts",
        format!(
            "{} ({})",
            task.attempts,
            count(task.failures, "failure", "failures")
        ),
    );
    if let Some(error) = &task.last_error {
        field("last error", one_line(error));
    }
    match (&task.activity, &task.activity_at) {
        (Some(activity), Some(at)) => field(
            "activity",
            format!("{} ({})", one_line(activity), timestamp(at)),
        ),
        (Some(activity), None) => field("activity", one_line(activity)),
        _ => {}
    }
    if let Some(branch) = &task.branch {
        field("branch", branch.clone());
    }
    if let Some(copy) = &task.copy_path {
        field("copy", copy.clone());
    }
    field("created", timestamp(&task.created_at));
    if let Some(at) = &task.started_at {
        field("started", timestamp(at));
    }
    if let Some(at) = &task.finished_at {
        field("finished", timestamp(at));
    }

    let mut out = vec![format!("{}  {}", task.id, one_line(&task.title))];
    out.extend(columns(&fields).into_iter().map(|l| format!("  {l}")));

    if detail.needs.is_empty() {
        out.push("  needs: nothing".to_string());
    } else {
        out.push("  needs:".to_string());
        let rows: Vec<Vec<String>> = detail
            .needs
            .iter()
            .map(|edge| {
                vec![
                    need_name(edge, &task.execution_id),
                    edge.condition.to_string(),
                    format!("is {}", edge.needs_status),
                    check(edge.satisfied).to_string(),
                ]
            })
            .collect();
        out.extend(columns(&rows).into_iter().map(|l| format!("    {l}")));
    }

    if detail.dependents.is_empty() {
        out.push("  dependents: none".to_string());
    } else {
        out.push("  dependents:".to_string());
        let rows: Vec<Vec<String>> = detail
            .dependents
            .iter()
            .map(|edge| {
                vec![
                    short(&edge.task_id).to_string(),
                    format!("needs it {}", edge.condition),
                    check(edge.satisfied).to_string(),
                ]
            })
            .collect();
        out.extend(columns(&rows).into_iter().map(|l| format!("    {l}")));
    }

    if !detail.attempt_history.is_empty() {
        out.push("  attempt history:".to_string());
        let rows: Vec<Vec<String>> = detail
            .attempt_history
            .iter()
            .map(|a| {
                let mut outcome = a.outcome.clone().unwrap_or_else(|| "running".to_string());
                if let Some(error) = &a.error {
                    outcome.push_str(&format!(": {}", clip(&one_line(error), 160)));
                }
                if let Some(said) = a.last_message.as_deref().filter(|s| !s.trim().is_empty()) {
                    outcome.push_str(&format!(" — it said: «{}»", clip(&one_line(said), 160)));
                }
                let number = if task.round > 1 {
                    format!("#{} (round {})", a.number, a.round)
                } else {
                    format!("#{}", a.number)
                };
                vec![number, timestamp(&a.started_at), outcome]
            })
            .collect();
        out.extend(columns(&rows).into_iter().map(|l| format!("    {l}")));
    }

    if !detail.usage.is_empty() {
        out.push(format!("  usage: {}", detail.usage_totals.describe()));
        for (row, run) in detail.usage.iter().zip(&detail.usage_by_run) {
            let model = row
                .usage
                .model
                .as_deref()
                .map(|m| format!(" ({m})"))
                .unwrap_or_default();
            out.push(format!(
                "    {} #{}  {}{model}: {}",
                row.run,
                row.number,
                row.agent,
                run.describe()
            ));
        }
    }

    if detail.merge_requests.is_empty() {
        out.push("  merge requests: none".to_string());
    } else {
        out.push("  merge requests:".to_string());
        for mr in &detail.merge_requests {
            let mut line = format!("    {} {}  {}", short(&mr.id), mr.status, mr.branch);
            if mr.round > 1 {
                line.push_str(&format!(" (round {})", mr.round));
            }
            if let Some(base) = &mr.base_branch {
                line.push_str(&format!(" -> {base}"));
            }
            if let Some(commit) = &mr.merged_commit {
                line.push_str(&format!("  commit {commit}"));
            }
            if let Some(reason) = &mr.reason {
                line.push_str(&format!("  ({})", one_line(reason)));
            }
            line.push_str(&format!("  {}", timestamp(&mr.updated_at)));
            out.push(line);
        }
    }

    if !detail.merger_runs.is_empty() {
        out.push("  merger runs:".to_string());
        for run in &detail.merger_runs {
            let mut outcome = run.outcome.clone().unwrap_or_else(|| "running".to_string());
            if let Some(error) = &run.error {
                outcome.push_str(&format!(": {}", clip(&one_line(error), 100)));
            }
            out.push(format!(
                "    #{}  {}  {outcome}  ({})",
                run.number,
                timestamp(&run.started_at),
                run.files.join(", ")
            ));
            if let Some(output) = run.output.as_deref().filter(|o| !o.trim().is_empty()) {
                out.push(indent(output.trim_end(), "      "));
            }
        }
    }

    match &task.output {
        Some(output) if !output.trim().is_empty() => {
            out.push("  output:".to_string());
            out.push(indent(output.trim_end(), "    "));
        }
        _ => out.push("  output: none yet".to_string()),
    }
    if !task.description.trim().is_empty() {
        out.push("  description:".to_string());
        out.push(indent(task.description.trim_end(), "    "));
    }
    out.join("\n")
}

/// One aligned line per task: short id, status, agent state, tier, role
/// (`-` if none), title, current activity. `no tasks` when empty.
pub fn task_list_text(tasks: &[TaskRow]) -> String {
    if tasks.is_empty() {
        return "no tasks".to_string();
    }
    let header = [
        "TASK", "STEP", "STATUS", "AGENT", "TIER", "ROLE", "TITLE", "ACTIVITY",
    ];
    let rows: Vec<Vec<String>> = std::iter::once(header.map(str::to_string).to_vec())
        .chain(tasks.iter().map(|t| {
            vec![
                short(&t.id).to_string(),
                t.step_id.clone(),
                t.status.to_string(),
                format!(
                    "{} {}",
                    crate::agent_state_glyph(t.agent_state),
                    t.agent_state
                ),
                t.tier.to_string(),
                t.role.clone().unwrap_or_else(|| "-".to_string()),
                one_line(&t.title),
                t.activity
                    .as_deref()
                    .map(|a| clip(a, LIST_ACTIVITY_MAX))
                    .unwrap_or_default(),
            ]
        }))
        .collect();
    columns(&rows).join("\n")
}

#[cfg(test)]
mod tests {
    use enki_core::{Condition, MergeStatus, TaskStatus, Tier};
    use enki_store::{NewNeed, NewStep};

    use super::*;
    use crate::fixtures::{self, OTHER_EXEC, T, edge, execution, task};

    #[test]
    fn list_is_aligned_and_shows_role_and_activity() {
        let mut a = task('A', "a", 0, TaskStatus::Running);
        a.role = Some("feature_developer".to_string());
        a.activity = Some("running\ncargo test".to_string());
        let mut b = task('B', "b", 1, TaskStatus::Pending);
        b.tier = Tier::Heavy;
        let text = task_list_text(&[a, b]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(
            lines[0],
            "TASK                 STEP  STATUS   AGENT   TIER      ROLE               TITLE         ACTIVITY"
        );
        assert_eq!(
            lines[1],
            "task-01JAAAAAAAAAAA  a     running  ○ idle  standard  feature_developer  step a title  running cargo test"
        );
        assert_eq!(
            lines[2],
            "task-01JAAAAAAAAAAB  b     pending  ○ idle  heavy     -                  step b title"
        );
    }

    #[test]
    fn empty_list_says_so() {
        assert_eq!(task_list_text(&[]), "no tasks");
    }

    #[test]
    fn detail_shows_fields_edges_merges_and_output() {
        let a = task('A', "a", 0, TaskStatus::Done);
        let mut other = task('X', "x", 0, TaskStatus::Pending);
        other.execution_id = OTHER_EXEC.to_string();
        let mut b = task('B', "b", 1, TaskStatus::Running);
        b.role = Some("bug_fixer".to_string());
        b.checkpoint = true;
        b.attempts = 2;
        b.failures = 1;
        b.last_error = Some("tests failed".to_string());
        b.activity = Some("fixing the parser".to_string());
        b.activity_at = Some(T.to_string());
        b.branch = Some("enki/b".to_string());
        b.copy_path = Some("/p/.enki/copies/b".to_string());
        b.output = Some("parser fixed\nall green".to_string());
        b.description = "Fix the parser.".to_string();
        b.agent_state = enki_core::AgentState::WaitingPermission;
        b.agent_state_reason = Some("Edit src/parser.rs".to_string());
        b.round = 2;
        b.followup = Some("Also parse\nnegative numbers".to_string());
        let c = task('C', "c", 2, TaskStatus::Pending);
        let detail = TaskDetail {
            needs: vec![
                edge(&b, &a, Condition::Merged),
                edge(&b, &other, Condition::Started),
            ],
            dependents: vec![edge(&c, &b, Condition::Completed)],
            attempt_history: vec![
                AttemptRow {
                    number: 1,
                    started_at: T.to_string(),
                    ended_at: Some(T.to_string()),
                    outcome: Some("failed".to_string()),
                    error: Some("tests failed".to_string()),
                    last_message: Some("The parser test\nstill fails".to_string()),
                    round: 1,
                    session: Some("sess-acp-1".to_string()),
                    agent: Some("sim".to_string()),
                },
                AttemptRow {
                    number: 2,
                    started_at: T.to_string(),
                    ended_at: None,
                    outcome: None,
                    error: None,
                    last_message: None,
                    round: 2,
                    session: None,
                    agent: None,
                },
            ],
            merge_requests: vec![MergeRequestRow {
                id: "mr-01JAAAAAAAAAAAAAAAAAAAAAAA".to_string(),
                task_id: b.id.clone(),
                status: MergeStatus::Conflicted,
                branch: "enki/b".to_string(),
                base_branch: Some("main".to_string()),
                reason: Some("conflict in src/lib.rs".to_string()),
                merged_commit: None,
                created_at: T.to_string(),
                updated_at: T.to_string(),
                phase: None,
                landing_commit: None,
                landing_parent: None,
                round: 2,
                held_commit: None,
                held_base: None,
            }],
            usage: vec![],
            usage_by_run: vec![],
            usage_totals: Totals::default(),
            merger_runs: vec![MergerRunRow {
                number: 1,
                merge_request_id: "mr-01JAAAAAAAAAAAAAAAAAAAAAAA".to_string(),
                files: vec!["src/lib.rs".to_string()],
                started_at: T.to_string(),
                ended_at: Some(T.to_string()),
                outcome: Some("failed".to_string()),
                error: Some("the merger left conflict markers in: src/lib.rs".to_string()),
                output: Some("kept the new parser\nand the old API".to_string()),
            }],
            execution: Some(execution()),
            task: b,
        };
        let text = task_detail_text(&detail);
        for expected in [
            "task-01JAAAAAAAAAABZZZZZZZZZZZZ  step b title",
            "execution:   exec-01JAAAAAAAAAAA \"demo execution\" [running]",
            "step:        b (#2 in the execution)",
            "status:      running",
            "agent:       ? waiting_permission since 2025-01-02 10:03:04 UTC — Edit src/parser.rs",
            "tier:        standard",
            "role:        bug_fixer",
            "checkpoint:  yes",
            "attempts:    2 (1 failure)",
            "last error:  tests failed",
            "activity:    fixing the parser (2025-01-02 10:03:04 UTC)",
            "branch:      enki/b",
            "copy:        /p/.enki/copies/b",
            "a (task-01JAAAAAAAAAAA)",
            "merged   is done     ✓",
            "task-01JAAAAAAAAAAX (step x of exec-01JBBBBBBBBBBB)  started  is pending  ✗",
            "dependents:\n    task-01JAAAAAAAAAAC  needs it completed  ✗",
            "round:       2 (a follow-up: Also parse negative numbers)",
            "attempt history:\n    #1 (round 1)  2025-01-02 10:03:04 UTC  failed: tests failed — it said: «The parser test still fails»\n    #2 (round 2)  2025-01-02 10:03:04 UTC  running",
            "mr-01JAAAAAAAAAAA conflicted  enki/b (round 2) -> main  (conflict in src/lib.rs)",
            "merger runs:\n    #1  2025-01-02 10:03:04 UTC  failed: the merger left conflict markers in: src/lib.rs  (src/lib.rs)\n      kept the new parser\n      and the old API",
            "output:\n    parser fixed\n    all green",
            "description:\n    Fix the parser.",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in\n{text}");
        }
    }

    #[test]
    fn detail_of_a_bare_task_says_what_is_missing() {
        let detail = TaskDetail {
            task: task('A', "a", 0, TaskStatus::Pending),
            needs: vec![],
            dependents: vec![],
            attempt_history: vec![],
            merge_requests: vec![],
            merger_runs: vec![],
            usage: vec![],
            usage_by_run: vec![],
            usage_totals: Totals::default(),
            execution: None,
        };
        let text = task_detail_text(&detail);
        for expected in [
            "role:        -",
            "checkpoint:  no",
            "attempts:    0 (0 failures)",
            "needs: nothing",
            "dependents: none",
            "merge requests: none",
            "output: none yet",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in\n{text}");
        }
        assert!(!text.contains("last error"), "{text}");
        assert!(!text.contains("round"), "{text}");
        assert!(!text.contains("merger runs"), "{text}");
        assert!(!text.contains("description"), "{text}");
    }

    #[test]
    fn gather_reads_the_task_its_edges_and_merges_from_the_store() {
        let tmp = tempfile::tempdir().unwrap();
        let mut store = Store::open(&tmp.path().join("db.sqlite")).unwrap();
        let step = |id: &str, needs: &[&str]| NewStep {
            tier: Tier::Light,
            ..NewStep::new(id, format!("step {id}")).needing(
                needs
                    .iter()
                    .map(|n| NewNeed::step(*n, Condition::Merged))
                    .collect(),
            )
        };
        let created = store
            .create_execution(
                None,
                "x",
                false,
                &[step("a", &[]), step("b", &["a"]), step("c", &["b"])],
            )
            .unwrap();
        let b = &created.steps[1].1;
        store.enqueue_merge(b, "enki/b", None).unwrap();
        let detail = gather_task_detail(&store, b, &Prices::default()).unwrap();
        assert_eq!(detail.task.step_id, "b");
        assert_eq!(detail.needs.len(), 1);
        assert_eq!(detail.needs[0].needs_step_id, "a");
        assert_eq!(detail.dependents.len(), 1);
        assert_eq!(detail.dependents[0].task_id, created.steps[2].1);
        assert_eq!(detail.merge_requests.len(), 1);
        assert_eq!(
            detail.execution.as_ref().map(|e| e.id.as_str()),
            Some(created.execution_id.as_str())
        );
        let json = serde_json::to_value(&detail).unwrap();
        assert_eq!(json["task"]["step_id"], "b");
        assert_eq!(json["merge_requests"][0]["status"], "queued");

        let missing = fixtures::task_id('Q');
        let err = gather_task_detail(&store, &missing, &Prices::default()).unwrap_err();
        assert_eq!(err.to_string(), format!("no task {missing}"));
        assert!(err.is_caller_error());
    }
}
