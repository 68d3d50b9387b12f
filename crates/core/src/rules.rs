//! The status rules that the engine and the store both apply (STATE.md "Task
//! states"), each written once as a pure function: the orchestrator asks them
//! about its graph, the store about the rows it has just read when an
//! `enki mcp` tool writes straight to the database. Properties of one status
//! alone (`is_terminal`, `is_unfinished`, `is_retryable`) are methods in
//! `status.rs`; the rules here combine them.

use std::collections::BTreeSet;

use crate::{Condition, ExecutionStatus, TaskStatus};

/// A step may be paused while it has not started or is running: `pending`,
/// `ready` or `running` (its worker is then stopped). A step that finished,
/// failed, is blocked or is already paused has nothing to hold back.
pub const fn step_may_pause(status: TaskStatus) -> bool {
    matches!(
        status,
        TaskStatus::Pending | TaskStatus::Ready | TaskStatus::Running
    )
}

/// A need can never hold (until its dependency is retried) when it does not
/// hold now and the dependency failed, is blocked or was cancelled: none of
/// those moves on by itself. The task that needs it is `blocked`.
pub const fn need_is_lost(condition: Condition, dependency: TaskStatus) -> bool {
    !condition.is_satisfied_by(dependency)
        && matches!(
            dependency,
            TaskStatus::Failed | TaskStatus::Blocked | TaskStatus::Cancelled
        )
}

/// What a waiting task should be, given each of its needs as the edge's
/// condition and the dependency's status (`None`: not known here, which
/// counts as not holding yet): `blocked` when a need is lost, `ready` when
/// every need holds, else `pending`.
pub fn readiness(needs: impl IntoIterator<Item = (Condition, Option<TaskStatus>)>) -> TaskStatus {
    let mut all_hold = true;
    for (condition, dependency) in needs {
        match dependency {
            Some(status) if need_is_lost(condition, status) => return TaskStatus::Blocked,
            Some(status) if condition.is_satisfied_by(status) => {}
            _ => all_hold = false,
        }
    }
    if all_hold {
        TaskStatus::Ready
    } else {
        TaskStatus::Pending
    }
}

/// What cancelling `roots` turns `cancelled`, in id order. A cancel reaches
/// the roots and every task that depends on them, directly or not, but the
/// walk stops at `done` tasks: landed work satisfies its dependents' edges,
/// so cancelling something upstream of it must not cancel them. Of what it
/// reaches, tasks that already finished (`failed` and `cancelled` ones too)
/// keep their status, and so do tasks whose status is unknown (`None`); a
/// failed task's dependents are still reached through it.
///
/// `status` and `dependents` (the tasks with an edge to a task) describe the
/// graph; the store reads the rows below the roots and answers from them.
pub fn cancel_reach<S, D, I>(roots: &[String], status: S, dependents: D) -> Vec<String>
where
    S: Fn(&str) -> Option<TaskStatus>,
    D: Fn(&str) -> I,
    I: IntoIterator<Item = String>,
{
    let mut reached = BTreeSet::new();
    let mut stack: Vec<String> = roots.to_vec();
    while let Some(current) = stack.pop() {
        if status(&current) == Some(TaskStatus::Done) || !reached.insert(current.clone()) {
            continue;
        }
        stack.extend(dependents(&current));
    }
    reached
        .into_iter()
        .filter(|task| status(task).is_some_and(|s| !s.is_terminal()))
        .collect()
}

/// The status an execution should now have from the statuses of its tasks
/// (any order, repeats allowed), or `None` to leave it as it is: while any
/// task has work ahead of it, when it has no tasks, and once it was
/// cancelled (that was someone's decision, whatever its steps say). Once
/// nothing can move: `failed` if a step failed or is blocked, else `done` if
/// a step is done, else `cancelled`. A `failed` execution whose failed and
/// blocked steps were all cancelled since is `done` (or `cancelled`).
pub fn settled_execution_status(
    current: ExecutionStatus,
    tasks: impl IntoIterator<Item = TaskStatus>,
) -> Option<ExecutionStatus> {
    if current == ExecutionStatus::Cancelled {
        return None;
    }
    let (mut any, mut failed, mut done) = (false, false, false);
    for status in tasks {
        if status.is_unfinished() {
            return None;
        }
        any = true;
        failed |= matches!(status, TaskStatus::Failed | TaskStatus::Blocked);
        done |= status == TaskStatus::Done;
    }
    match (any, failed, done) {
        (false, _, _) => None,
        (true, true, _) => Some(ExecutionStatus::Failed),
        (true, false, true) => Some(ExecutionStatus::Done),
        (true, false, false) => Some(ExecutionStatus::Cancelled),
    }
}

/// New work in an execution (added steps, a retried task or one it
/// unblocked) makes it `running` again when it had finished as `done` or
/// `failed`. A cancelled execution never runs again, and a paused one stays
/// paused until it is resumed.
pub const fn new_work_reopens(execution: ExecutionStatus) -> bool {
    matches!(execution, ExecutionStatus::Done | ExecutionStatus::Failed)
}

/// A task may be retried when it failed or is blocked, unless its execution
/// was cancelled: nothing of a cancelled execution runs again.
pub fn may_retry(task: TaskStatus, execution: ExecutionStatus) -> bool {
    task.is_retryable() && execution != ExecutionStatus::Cancelled
}

/// Why a task cannot get a follow-up turn (`enki followup`), and what to
/// do instead (its `Display`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FollowUpRefused {
    /// The task's execution was cancelled: nothing of it runs again.
    ExecutionCancelled,
    /// The task was cancelled.
    Cancelled,
    /// It failed or is blocked: that is what a retry is for.
    Retryable(TaskStatus),
    /// Its work waits for the merge queue.
    Landing,
    /// It is paused before it finished.
    Paused,
    /// It has not finished yet (pending, ready or running).
    Unfinished(TaskStatus),
}

impl std::fmt::Display for FollowUpRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FollowUpRefused::ExecutionCancelled => f.write_str(
                "its execution was cancelled, and nothing of a cancelled execution runs again; create a new task instead",
            ),
            FollowUpRefused::Cancelled => f.write_str(
                "it was cancelled and does not run again; create a new task instead",
            ),
            FollowUpRefused::Retryable(status) => write!(
                f,
                "it is {status}; a follow-up is for a task that is done: retry it instead (`enki retry`, or /retry in the TUI)"
            ),
            FollowUpRefused::Landing => f.write_str(
                "its work is still in the merge queue; follow up once it has landed and the task is done",
            ),
            FollowUpRefused::Paused => f.write_str(
                "it is paused before it finished; resume it (`enki resume`) and follow up once it is done",
            ),
            FollowUpRefused::Unfinished(status) => write!(
                f,
                "it is {status}, not done yet; follow up once it is done (`enki task` shows how far it got)"
            ),
        }
    }
}

/// A task may get a follow-up turn (`enki followup`: it runs again with a
/// further request, in its last session where the agent can take it up)
/// once it is `done`, or while its work awaits review (review's "request
/// changes": the round goes on from its unlanded branch and comes back for
/// review), and unless its execution was cancelled. Failed and blocked
/// tasks are retried instead.
pub fn may_follow_up(task: TaskStatus, execution: ExecutionStatus) -> Result<(), FollowUpRefused> {
    if execution == ExecutionStatus::Cancelled {
        return Err(FollowUpRefused::ExecutionCancelled);
    }
    match task {
        TaskStatus::Done | TaskStatus::AwaitingReview => Ok(()),
        TaskStatus::Cancelled => Err(FollowUpRefused::Cancelled),
        TaskStatus::Failed | TaskStatus::Blocked => Err(FollowUpRefused::Retryable(task)),
        TaskStatus::WorkerDone => Err(FollowUpRefused::Landing),
        TaskStatus::Paused => Err(FollowUpRefused::Paused),
        TaskStatus::Pending | TaskStatus::Ready | TaskStatus::Running => {
            Err(FollowUpRefused::Unfinished(task))
        }
    }
}

/// Why a task's work cannot be approved or rejected (`enki approve`,
/// `enki reject`), and what to do instead (its `Display`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReviewRefused {
    /// The task's execution was cancelled: nothing of it lands.
    ExecutionCancelled,
    /// The task is not waiting for a review.
    NotAwaiting(TaskStatus),
}

impl std::fmt::Display for ReviewRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReviewRefused::ExecutionCancelled => f.write_str(
                "its execution was cancelled, and nothing of a cancelled execution lands",
            ),
            ReviewRefused::NotAwaiting(TaskStatus::Done) => {
                f.write_str("it is done: its work landed already (or had nothing to land)")
            }
            ReviewRefused::NotAwaiting(TaskStatus::WorkerDone) => f.write_str(
                "it is worker_done: its work was approved or needs no review and waits in the merge queue",
            ),
            ReviewRefused::NotAwaiting(status) => write!(
                f,
                "it is {status}, not awaiting_review; only work that awaits review can be approved or rejected (`enki review` lists it)"
            ),
        }
    }
}

/// A task's work may be approved (it goes to the merge queue) or rejected
/// (the task fails with the reviewer's note, its branch kept) only while it
/// is `awaiting_review`, unless its execution was cancelled.
pub fn may_review(task: TaskStatus, execution: ExecutionStatus) -> Result<(), ReviewRefused> {
    if execution == ExecutionStatus::Cancelled {
        return Err(ReviewRefused::ExecutionCancelled);
    }
    if task == TaskStatus::AwaitingReview {
        Ok(())
    } else {
        Err(ReviewRefused::NotAwaiting(task))
    }
}

/// The status a rejected task ends in: `failed` (the note is its last
/// error), so its dependents are blocked as after any failure, its
/// execution settles as failed, its branch and copy are kept for a human,
/// and `enki retry` gives it another attempt in that copy.
pub const REJECTED: TaskStatus = TaskStatus::Failed;

/// A change to a step that someone outside the coordinator (a person's
/// `enki pause|resume|cancel|retry|followup|approve|reject`, the planner's
/// tools) wrote to the store, which the coordinator's graph has not taken
/// up yet: the command that takes it up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Steering {
    Pause,
    Resume,
    Cancel,
    Retry,
    FollowUp,
    Approve,
    Reject,
}

/// The steering that the store's status `stored` of a step shows and the
/// graph, at `in_memory`, has yet to follow (`None`: nothing to follow).
/// The coordinator's comparison of the store with its graph applies it, and
/// the store refuses a coordinator's write that would undo it
/// ([`write_undoes_steering`]).
pub fn steering(stored: TaskStatus, in_memory: TaskStatus) -> Option<Steering> {
    use TaskStatus::*;
    match (stored, in_memory) {
        (Paused, Pending | Ready | Running) => Some(Steering::Pause),
        (Pending | Ready, Paused) => Some(Steering::Resume),
        (Cancelled, s) if !s.is_terminal() => Some(Steering::Cancel),
        (Pending, Failed | Blocked) => Some(Steering::Retry),
        (Pending | Ready, Done | AwaitingReview) => Some(Steering::FollowUp),
        // A person's review decision.
        (WorkerDone, AwaitingReview) => Some(Steering::Approve),
        (Failed, AwaitingReview) => Some(Steering::Reject),
        _ => None,
    }
}

/// Whether the coordinator's write of a step's move from `from` (what its
/// graph held, so what the store held unless someone changed it since) to
/// `to` would undo a steering the store shows at `stored`: someone changed
/// the step meanwhile (it is neither `from` nor `to`), and the graph, at
/// `to`, has yet to follow that change. Such a write is not made: the
/// steering's signal, or the periodic comparison, brings the graph in line.
/// (A person's `enki resume` that lands while the coordinator answers their
/// `enki pause` is kept, not overwritten with `paused`.) A change of the
/// coordinator's own (`from` is what the store shows) is always written.
pub fn write_undoes_steering(stored: TaskStatus, from: TaskStatus, to: TaskStatus) -> bool {
    stored != from && stored != to && steering(stored, to).is_some()
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap};

    use proptest::prelude::*;

    use super::*;
    use Condition::{Completed, Merged, Started};
    use ExecutionStatus as E;
    use TaskStatus::*;

    fn any_status() -> impl Strategy<Value = TaskStatus> {
        proptest::sample::select(TaskStatus::ALL)
    }

    fn any_condition() -> impl Strategy<Value = Condition> {
        proptest::sample::select(Condition::ALL)
    }

    #[test]
    fn a_coordinator_write_never_undoes_a_steering_it_has_not_followed() {
        // The race of `enki pause` then `enki resume`: the coordinator
        // answers the pause (running → paused) after the resume landed.
        assert!(write_undoes_steering(Pending, Running, Paused));
        // A person paused a step the coordinator is starting.
        assert!(write_undoes_steering(Paused, Ready, Running));
        // A person cancelled a step while its worker finished.
        assert!(write_undoes_steering(Cancelled, Running, WorkerDone));
        // The coordinator's own moves, from what the store shows: a budget
        // raised in process resumes what the budget paused.
        assert!(!write_undoes_steering(Paused, Paused, Pending));
        assert!(!write_undoes_steering(Running, Running, Ready));
        // What the store already shows is no change.
        assert!(!write_undoes_steering(Paused, Running, Paused));
    }

    proptest! {
        #[test]
        fn a_write_is_refused_only_over_someone_elses_change_the_graph_would_follow(
            stored in any_status(), from in any_status(), to in any_status()
        ) {
            // Over what the coordinator knew, or what it writes, never.
            prop_assert!(!write_undoes_steering(from, from, to));
            prop_assert!(!write_undoes_steering(to, from, to));
            if write_undoes_steering(stored, from, to) {
                prop_assert!(steering(stored, to).is_some());
            }
        }
    }

    #[test]
    fn only_steps_that_have_not_finished_may_pause() {
        for status in TaskStatus::ALL {
            let expected = matches!(status, Pending | Ready | Running);
            assert_eq!(step_may_pause(*status), expected, "{status}");
        }
    }

    #[test]
    fn a_need_is_lost_on_a_failed_blocked_or_cancelled_dependency() {
        for condition in Condition::ALL {
            for status in TaskStatus::ALL {
                let expected = matches!(status, Failed | Blocked | Cancelled);
                assert_eq!(
                    need_is_lost(*condition, *status),
                    expected,
                    "{condition} on {status}"
                );
            }
        }
    }

    #[test]
    fn readiness_table() {
        type Need = (Condition, Option<TaskStatus>);
        let table: &[(&[Need], TaskStatus)] = &[
            (&[], Ready),
            (&[(Merged, Some(Done))], Ready),
            (&[(Merged, Some(WorkerDone))], Pending),
            (&[(Completed, Some(WorkerDone))], Ready),
            (&[(Started, Some(Running)), (Merged, Some(Done))], Ready),
            (&[(Started, Some(Paused))], Pending),
            (&[(Merged, None)], Pending),
            (&[(Merged, Some(Failed))], Blocked),
            (&[(Started, Some(Cancelled))], Blocked),
            // A lost need blocks even when another is unknown or waiting.
            (&[(Merged, None), (Merged, Some(Blocked))], Blocked),
            (
                &[(Merged, Some(Pending)), (Completed, Some(Failed))],
                Blocked,
            ),
        ];
        for (needs, expected) in table {
            assert_eq!(readiness(needs.iter().copied()), *expected, "{needs:?}");
        }
    }

    /// `a -> b -> c`, `a -> d`, `x -> d` (each pair: dependency, dependent).
    fn graph(statuses: &[(&str, TaskStatus)]) -> Vec<String> {
        let edges = [("a", "b"), ("b", "c"), ("a", "d"), ("x", "d")];
        let roots: Vec<String> = statuses
            .iter()
            .filter(|(t, _)| t.starts_with('*'))
            .map(|(t, _)| t.trim_start_matches('*').to_string())
            .collect();
        let status: HashMap<&str, TaskStatus> = statuses
            .iter()
            .map(|(t, s)| (t.trim_start_matches('*'), *s))
            .collect();
        cancel_reach(
            &roots,
            |t| status.get(t).copied(),
            |t| {
                edges
                    .iter()
                    .filter(|(from, _)| *from == t)
                    .map(|(_, to)| to.to_string())
                    .collect::<Vec<_>>()
            },
        )
    }

    #[test]
    fn cancel_reach_table() {
        // `*` marks the roots.
        let p = Pending;
        type Statuses<'a> = &'a [(&'a str, TaskStatus)];
        let table: &[(Statuses, &[&str])] = &[
            (
                &[("*a", p), ("b", p), ("c", p), ("d", p), ("x", p)],
                &["a", "b", "c", "d"],
            ),
            (&[("*b", p), ("a", p), ("c", p), ("d", p)], &["b", "c"]),
            // Landed work stops the walk; its dependents keep going.
            (&[("*a", p), ("b", Done), ("c", p), ("d", p)], &["a", "d"]),
            (&[("*a", Done), ("b", p), ("c", p), ("d", p)], &[]),
            // A failed root stays failed; its dependents are cancelled.
            (
                &[
                    ("*a", Failed),
                    ("b", Blocked),
                    ("c", Blocked),
                    ("d", Blocked),
                ],
                &["b", "c", "d"],
            ),
            // Cancelled tasks are walked through, not cancelled again.
            (
                &[
                    ("*a", Cancelled),
                    ("b", Cancelled),
                    ("c", Blocked),
                    ("d", p),
                ],
                &["c", "d"],
            ),
            // Unknown tasks are not cancelled.
            (&[("*a", p), ("b", p), ("d", p)], &["a", "b", "d"]),
            (
                &[
                    ("*a", p),
                    ("*x", Running),
                    ("b", Paused),
                    ("c", WorkerDone),
                    ("d", Ready),
                ],
                &["a", "b", "c", "d", "x"],
            ),
        ];
        for (statuses, expected) in table {
            assert_eq!(graph(statuses), *expected, "{statuses:?}");
        }
    }

    #[test]
    fn settled_execution_status_table() {
        let table: &[(E, &[TaskStatus], Option<E>)] = &[
            (E::Running, &[], None),
            (E::Running, &[Done, Pending], None),
            (E::Running, &[Done, WorkerDone], None),
            (E::Running, &[Failed, Paused], None),
            (E::Running, &[Done, Done], Some(E::Done)),
            (E::Running, &[Done, Cancelled], Some(E::Done)),
            (E::Running, &[Cancelled], Some(E::Cancelled)),
            (E::Running, &[Done, Failed], Some(E::Failed)),
            (E::Running, &[Blocked, Cancelled], Some(E::Failed)),
            (E::Paused, &[Done], Some(E::Done)),
            (E::Cancelled, &[Done], None),
            (E::Cancelled, &[Failed], None),
            // Its blocked step was cancelled: nothing failed any more.
            (E::Failed, &[Done, Cancelled], Some(E::Done)),
            (E::Failed, &[Failed, Cancelled], Some(E::Failed)),
            (E::Done, &[Done, Blocked], Some(E::Failed)),
        ];
        for (current, tasks, expected) in table {
            assert_eq!(
                settled_execution_status(*current, tasks.iter().copied()),
                *expected,
                "{current} with {tasks:?}"
            );
        }
    }

    #[test]
    fn only_a_finished_execution_that_was_not_cancelled_reopens() {
        for status in ExecutionStatus::ALL {
            let expected = matches!(status, E::Done | E::Failed);
            assert_eq!(new_work_reopens(*status), expected, "{status}");
        }
    }

    #[test]
    fn retry_takes_failed_or_blocked_tasks_of_executions_not_cancelled() {
        for task in TaskStatus::ALL {
            for execution in ExecutionStatus::ALL {
                let expected = matches!(task, Failed | Blocked) && *execution != E::Cancelled;
                assert_eq!(
                    may_retry(*task, *execution),
                    expected,
                    "{task} in {execution}"
                );
            }
        }
    }

    #[test]
    fn a_follow_up_takes_done_tasks_of_executions_not_cancelled() {
        for task in TaskStatus::ALL {
            for execution in ExecutionStatus::ALL {
                let allowed = matches!(task, Done | AwaitingReview) && *execution != E::Cancelled;
                let verdict = may_follow_up(*task, *execution);
                assert_eq!(verdict.is_ok(), allowed, "{task} in {execution}");
            }
        }
        // Each refusal says what to do instead.
        let table = [
            (Failed, E::Failed, "retry it instead"),
            (Blocked, E::Running, "retry it instead"),
            (WorkerDone, E::Running, "merge queue"),
            (Paused, E::Paused, "resume it"),
            (Running, E::Running, "running, not done yet"),
            (Pending, E::Running, "pending, not done yet"),
            (Cancelled, E::Done, "create a new task"),
            (Done, E::Cancelled, "execution was cancelled"),
        ];
        for (task, execution, says) in table {
            let refusal = may_follow_up(task, execution).unwrap_err().to_string();
            assert!(refusal.contains(says), "{task} in {execution}: {refusal}");
        }
    }

    #[test]
    fn only_work_awaiting_review_is_approved_or_rejected() {
        for task in TaskStatus::ALL {
            for execution in ExecutionStatus::ALL {
                let allowed = *task == AwaitingReview && *execution != E::Cancelled;
                assert_eq!(
                    may_review(*task, *execution).is_ok(),
                    allowed,
                    "{task} in {execution}"
                );
            }
        }
        let table = [
            (Done, E::Done, "landed already"),
            (WorkerDone, E::Running, "merge queue"),
            (Running, E::Running, "not awaiting_review"),
            (AwaitingReview, E::Cancelled, "was cancelled"),
        ];
        for (task, execution, says) in table {
            let refusal = may_review(task, execution).unwrap_err().to_string();
            assert!(refusal.contains(says), "{task} in {execution}: {refusal}");
        }
        // A rejected task fails: retryable, its dependents' needs lost.
        assert!(REJECTED.is_retryable());
        assert!(need_is_lost(Merged, REJECTED));
    }

    #[test]
    fn work_awaiting_review_holds_its_execution_open_and_completed_needs() {
        assert_eq!(
            settled_execution_status(E::Running, [Done, AwaitingReview]),
            None
        );
        assert_eq!(readiness([(Completed, Some(AwaitingReview))]), Ready);
        assert_eq!(readiness([(Merged, Some(AwaitingReview))]), Pending);
        assert!(!step_may_pause(AwaitingReview));
    }

    proptest! {
        #[test]
        fn readiness_is_blocked_ready_or_pending_as_its_needs_say(
            needs in proptest::collection::vec(
                (any_condition(), proptest::option::of(any_status())),
                0..6,
            ),
        ) {
            let lost = needs
                .iter()
                .any(|(c, s)| s.is_some_and(|s| need_is_lost(*c, s)));
            let hold = needs
                .iter()
                .all(|(c, s)| s.is_some_and(|s| c.is_satisfied_by(s)));
            let expected = if lost { Blocked } else if hold { Ready } else { Pending };
            prop_assert_eq!(readiness(needs.iter().copied()), expected);
        }

        #[test]
        fn settled_status_depends_only_on_which_statuses_occur(
            current in proptest::sample::select(ExecutionStatus::ALL),
            tasks in proptest::collection::vec(any_status(), 0..8),
        ) {
            let settled = settled_execution_status(current, tasks.iter().copied());
            let present: BTreeSet<TaskStatus> = tasks.iter().copied().collect();
            prop_assert_eq!(settled, settled_execution_status(current, present.iter().copied()));
            let mut reversed = tasks.clone();
            reversed.reverse();
            prop_assert_eq!(settled, settled_execution_status(current, reversed));
            // STATE.md, in words.
            let expected = if current == E::Cancelled
                || tasks.is_empty()
                || tasks.iter().any(|s| s.is_unfinished())
            {
                None
            } else if tasks.iter().any(|s| matches!(s, Failed | Blocked)) {
                Some(E::Failed)
            } else if tasks.contains(&Done) {
                Some(E::Done)
            } else {
                Some(E::Cancelled)
            };
            prop_assert_eq!(settled, expected);
        }

        /// Against a fixpoint of the definition: a task is reached if it is
        /// a root, or depends on a reached task that is not done.
        #[test]
        fn cancel_reach_is_the_closure_below_the_roots_up_to_landed_work(
            statuses in proptest::collection::vec(proptest::option::of(any_status()), 1..12),
            edges in proptest::collection::vec((0usize..12, 0usize..12), 0..24),
            roots in proptest::collection::vec(0usize..12, 1..4),
        ) {
            let n = statuses.len();
            let name = |i: usize| format!("t{i:02}");
            let edges: Vec<(usize, usize)> =
                edges.into_iter().filter(|(a, b)| *a < n && *b < n).collect();
            let roots: Vec<String> = roots.into_iter().filter(|r| *r < n).map(name).collect();
            let by_name: BTreeMap<String, Option<TaskStatus>> =
                (0..n).map(|i| (name(i), statuses[i])).collect();
            let status = |t: &str| by_name.get(t).copied().flatten();
            let got = cancel_reach(&roots, status, |t| {
                edges
                    .iter()
                    .filter(|(from, _)| name(*from) == t)
                    .map(|(_, to)| name(*to))
                    .collect::<Vec<_>>()
            });
            let mut reached: BTreeSet<String> =
                roots.iter().filter(|r| status(r) != Some(Done)).cloned().collect();
            loop {
                let next: Vec<String> = edges
                    .iter()
                    .filter(|(from, to)| {
                        reached.contains(&name(*from))
                            && status(&name(*to)) != Some(Done)
                            && !reached.contains(&name(*to))
                    })
                    .map(|(_, to)| name(*to))
                    .collect();
                if next.is_empty() {
                    break;
                }
                reached.extend(next);
            }
            let expected: Vec<String> = reached
                .into_iter()
                .filter(|t| status(t).is_some_and(|s| !s.is_terminal()))
                .collect();
            prop_assert_eq!(got, expected);
        }
    }
}
