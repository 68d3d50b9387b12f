//! Every transition of the orchestrator, as a table.
//!
//! Each row takes the subject task `t` of a small fixture to one status
//! (through real commands from a fresh load), applies one command, and
//! states `t`'s status afterwards and the exact events, in order.
//!
//! The fixture, one execution `e1` (limits: 4 workers, 1 heavy; 1 retry):
//!
//! ```text
//! u (standard) ──merged──▶ t (heavy) ──merged──▶ d (standard)
//! h (heavy, no needs: holds the only heavy slot while it runs)
//! ```
//!
//! Events are written compactly: `t=running` (task status), `e1=paused`
//! (execution status), `start:t#1` (attempt), `stop:t(paused)`, `merge:t`,
//! `finished:t`, `failed:t(retry)` / `failed:t(final)`,
//! `checkpoint:e1/t`, `interrupted:t`, `review:t` (its work awaits review;
//! `review:t(resolution)`: its merger's resolution does), `approved:t`; an
//! empty string is a no-op.
//!
//! Every row also checks that a store fed only the events agrees with the
//! graph afterwards (every status change is announced), and that exactly
//! the `running` tasks hold a worker.

use std::collections::BTreeMap;

use super::*;
use crate::dag::{DagError, NeedRef, StepShape, validate_steps};
use WorkResult::{Changes, NoChanges};

mod table;
use table::{At, Cmd, EVERY_COMMAND, EVERY_STATUS, TABLE};

// ----- the harness

const RETRIES: u32 = 1;

fn fixture_settings() -> Settings {
    Settings {
        limits: Limits {
            max_workers: 4,
            max_light: None,
            max_standard: None,
            max_heavy: Some(1),
        },
        retries: RETRIES,
        stall_timeout_ms: 1000,
        api_retry_limit_ms: 5000,
    }
}

struct Step {
    id: &'static str,
    tier: Tier,
    needs: &'static [(&'static str, Condition)],
}

const FIXTURE: [Step; 4] = [
    Step {
        id: "u",
        tier: Tier::Standard,
        needs: &[],
    },
    Step {
        id: "h",
        tier: Tier::Heavy,
        needs: &[],
    },
    Step {
        id: "t",
        tier: Tier::Heavy,
        needs: &[("u", Condition::Merged)],
    },
    Step {
        id: "d",
        tier: Tier::Standard,
        needs: &[("t", Condition::Merged)],
    },
];

const ADDED: Step = Step {
    id: "n",
    tier: Tier::Standard,
    needs: &[("t", Condition::Merged)],
};

/// The orchestrator plus a model of the store that only sees the events.
struct Harness {
    o: Orchestrator,
    steps: Vec<&'static Step>,
    checkpoint: bool,
    tasks: BTreeMap<String, TaskStatus>,
    execution: ExecutionStatus,
}

impl Harness {
    fn new(checkpoint: bool) -> Harness {
        let mut h = Harness {
            o: Orchestrator::new(fixture_settings()),
            steps: FIXTURE.iter().collect(),
            checkpoint,
            tasks: FIXTURE
                .iter()
                .map(|s| (s.id.to_string(), TaskStatus::Pending))
                .collect(),
            execution: ExecutionStatus::Running,
        };
        let snapshot = h.snapshot();
        h.apply(Command::Load(snapshot));
        h
    }

    /// e1 as the store holds it. Failure counts come from the graph (the
    /// store keeps them with the attempts).
    fn snapshot(&self) -> ExecutionSnapshot {
        ExecutionSnapshot {
            id: "e1".into(),
            order: 1,
            status: self.execution,
            nodes: self
                .steps
                .iter()
                .enumerate()
                .map(|(index, step)| NodeSnapshot {
                    id: step.id.into(),
                    step_id: step.id.into(),
                    step_index: index as i64,
                    tier: step.tier,
                    checkpoint: self.checkpoint && step.id == "t",
                    status: self.tasks[step.id],
                    failures: self.o.graph().failures(step.id).unwrap_or(0),
                    needs: step
                        .needs
                        .iter()
                        .map(|(target, condition)| Edge {
                            target: (*target).into(),
                            condition: *condition,
                        })
                        .collect(),
                    agent: "agent".into(),
                })
                .collect(),
        }
    }

    fn record(&mut self, events: &[Event]) {
        for event in events {
            match event {
                Event::TaskStatus { task, status, .. } => {
                    self.tasks.insert(task.clone(), *status);
                }
                Event::ExecutionStatus { status, .. } => self.execution = *status,
                _ => {}
            }
        }
    }

    fn apply(&mut self, command: Command) -> Vec<Event> {
        let events = self.o.handle(command);
        self.record(&events);
        events
    }

    fn task(&mut self, f: fn(String) -> Command, task: &str) -> Vec<Event> {
        self.apply(f(task.to_string()))
    }

    fn finish(&mut self, task: &str, result: WorkResult) -> Vec<Event> {
        self.apply(Command::WorkerFinished {
            task: task.into(),
            result,
        })
    }

    fn fail(&mut self, task: &str) -> Vec<Event> {
        self.apply(Command::WorkerFailed {
            task: task.into(),
            error: "boom".into(),
        })
    }

    fn step_command(&mut self, f: fn(String, Option<String>) -> Command, step: bool) -> Vec<Event> {
        self.apply(f("e1".into(), step.then(|| "t".to_string())))
    }

    /// Drives a fresh fixture to `at` through real commands.
    fn at(at: At) -> Harness {
        let checkpoint = matches!(at, At::Checkpoint | At::CheckpointDone);
        let mut h = Harness::new(checkpoint);
        match at {
            At::Pending => {}
            At::Ready => {
                h.finish("u", NoChanges);
            }
            At::Running | At::Checkpoint => {
                h.finish("u", NoChanges);
                h.finish("h", NoChanges);
            }
            At::Retrying => {
                h = Harness::at(At::Running);
                h.fail("t");
            }
            At::WorkerDone => {
                h = Harness::at(At::Running);
                h.finish("t", Changes);
            }
            At::AwaitingReview => {
                h = Harness::at(At::Running);
                h.finish("t", WorkResult::ChangesToReview);
            }
            At::ResolutionReview => {
                h = Harness::at(At::WorkerDone);
                h.task(|task| Command::ResolutionToReview { task }, "t");
            }
            At::Done => {
                h = Harness::at(At::WorkerDone);
                h.task(|task| Command::MergeLanded { task }, "t");
            }
            At::Failed => {
                h = Harness::at(At::Retrying);
                h.fail("t");
            }
            At::Blocked => {
                h.fail("u");
                h.fail("u");
            }
            At::Paused => {
                h = Harness::at(At::Running);
                h.step_command(|execution, step| Command::Pause { execution, step }, true);
            }
            At::Cancelled => {
                h.step_command(|execution, step| Command::Cancel { execution, step }, true);
            }
            At::ExecPaused => {
                h = Harness::at(At::Running);
                h.step_command(|execution, step| Command::Pause { execution, step }, false);
            }
            At::CheckpointDone => {
                h = Harness::at(At::Checkpoint);
                h.finish("t", NoChanges);
            }
            At::StoppedAll => {
                h = Harness::at(At::Running);
                h.apply(Command::StopAll);
            }
        }
        assert_eq!(h.o.graph().status("t"), Some(at.status()), "setup {at:?}");
        h.check().unwrap_or_else(|e| panic!("setup {at:?}: {e}"));
        h
    }

    fn run(&mut self, cmd: Cmd) -> Vec<Event> {
        match cmd {
            Cmd::Reload => {
                let snapshot = self.snapshot();
                self.apply(Command::Load(snapshot))
            }
            Cmd::Restart => {
                let snapshot = self.snapshot();
                self.o = Orchestrator::new(fixture_settings());
                self.apply(Command::Load(snapshot))
            }
            Cmd::AddStep => {
                self.steps.push(&ADDED);
                self.tasks.insert(ADDED.id.into(), TaskStatus::Pending);
                let snapshot = self.snapshot();
                self.apply(Command::Load(snapshot))
            }
            Cmd::AddCycle => {
                let existing = self.steps.iter().map(|s| s.id.to_string()).collect();
                let steps = [
                    StepShape {
                        id: "n1",
                        needs: vec![NeedRef::Step("t"), NeedRef::Step("n2")],
                    },
                    StepShape {
                        id: "n2",
                        needs: vec![NeedRef::Step("n1")],
                    },
                ];
                let err = validate_steps(&steps, &existing).unwrap_err();
                assert!(matches!(err, DagError::Cycle(_)), "{err}");
                Vec::new()
            }
            Cmd::Activity => self.apply(Command::WorkerActivity {
                task: "t".into(),
                at_ms: 500,
                sign: crate::liveness::Sign::Progress,
            }),
            Cmd::Stall => self.apply(Command::Tick { now_ms: 10_000 }),
            Cmd::Finish(result) => self.finish("t", result),
            Cmd::Fail => self.fail("t"),
            Cmd::Landed => self.task(|task| Command::MergeLanded { task }, "t"),
            Cmd::MergeFailed => self.task(
                |task| Command::MergeFailed {
                    task,
                    error: "verify hook failed".into(),
                },
                "t",
            ),
            Cmd::PauseStep => {
                self.step_command(|execution, step| Command::Pause { execution, step }, true)
            }
            Cmd::PauseExec => {
                self.step_command(|execution, step| Command::Pause { execution, step }, false)
            }
            Cmd::ResumeStep => {
                self.step_command(|execution, step| Command::Resume { execution, step }, true)
            }
            Cmd::ResumeExec => {
                self.step_command(|execution, step| Command::Resume { execution, step }, false)
            }
            Cmd::CancelStep => {
                self.step_command(|execution, step| Command::Cancel { execution, step }, true)
            }
            Cmd::CancelExec => {
                self.step_command(|execution, step| Command::Cancel { execution, step }, false)
            }
            Cmd::Retry => self.task(|task| Command::Retry { task }, "t"),
            Cmd::FollowUp => self.task(|task| Command::FollowUp { task }, "t"),
            Cmd::RetryU => self.task(|task| Command::Retry { task }, "u"),
            Cmd::Approve => self.task(|task| Command::Approve { task }, "t"),
            Cmd::Reject => self.task(
                |task| Command::Reject {
                    task,
                    note: "rejected in review: not like this".into(),
                },
                "t",
            ),
            Cmd::ResolutionToReview => self.task(|task| Command::ResolutionToReview { task }, "t"),
            Cmd::StopAll => self.apply(Command::StopAll),
        }
    }

    /// The store (fed only the events) agrees with the graph, and exactly
    /// the running tasks hold a worker.
    fn check(&self) -> Result<(), String> {
        let graph = self.o.graph();
        for (task, stored) in &self.tasks {
            let status = graph.status(task);
            if status != Some(*stored) {
                return Err(format!("store has {task}={stored}, graph {status:?}"));
            }
            if (status == Some(TaskStatus::Running)) != self.o.is_running(task) {
                return Err(format!(
                    "{task} is {stored} but is_running={}",
                    self.o.is_running(task)
                ));
            }
        }
        let status = graph.execution_status("e1");
        if status != Some(self.execution) {
            return Err(format!("store has e1={}, graph {status:?}", self.execution));
        }
        Ok(())
    }
}

#[test]
fn every_transition_of_the_table() {
    let mut failures = Vec::new();
    for (line, &(at, cmd, after, expected)) in TABLE.iter().enumerate() {
        let mut h = Harness::at(at);
        let events = h.run(cmd);
        let got = render(&events);
        let status = h.o.graph().status("t");
        let mut problems = Vec::new();
        if got != expected {
            problems.push(format!(
                "events\n      got      {got:?}\n      expected {expected:?}"
            ));
        }
        if status != Some(after) {
            problems.push(format!("t is {status:?}, expected {after}"));
        }
        if let Err(e) = h.check() {
            problems.push(e);
        }
        if !problems.is_empty() {
            failures.push(format!(
                "row {line} ({at:?}, {cmd:?}): {}",
                problems.join("; ")
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn the_table_covers_every_command_against_every_status() {
    let mut missing = Vec::new();
    for at in EVERY_STATUS {
        for cmd in EVERY_COMMAND {
            if !TABLE.iter().any(|(a, c, _, _)| *a == at && *c == cmd) {
                missing.push(format!("({at:?}, {cmd:?})"));
            }
        }
    }
    assert!(missing.is_empty(), "no row for {}", missing.join(", "));
    // No row is listed twice.
    for (i, (a, c, _, _)) in TABLE.iter().enumerate() {
        assert!(
            !TABLE[..i].iter().any(|(x, y, _, _)| x == a && y == c),
            "({a:?}, {c:?}) twice"
        );
    }
}

/// Applying a command twice changes nothing the second time when the first
/// one was a report of something that happened (a duplicate signal).
#[test]
fn repeated_reports_are_no_ops() {
    for (at, cmd) in [
        (At::Running, Cmd::Finish(Changes)),
        (At::Running, Cmd::Finish(NoChanges)),
        (At::WorkerDone, Cmd::Landed),
        (At::WorkerDone, Cmd::MergeFailed),
        (At::Running, Cmd::PauseStep),
        (At::Running, Cmd::PauseExec),
        (At::Paused, Cmd::ResumeStep),
        (At::Running, Cmd::CancelStep),
        (At::Failed, Cmd::Retry),
        (At::Done, Cmd::FollowUp),
        (At::AwaitingReview, Cmd::Approve),
        (At::AwaitingReview, Cmd::Reject),
        (At::AwaitingReview, Cmd::FollowUp),
        (At::WorkerDone, Cmd::ResolutionToReview),
        (At::Running, Cmd::StopAll),
        (At::Running, Cmd::Reload),
    ] {
        let mut h = Harness::at(at);
        h.run(cmd);
        let again = h.run(cmd);
        assert_eq!(render(&again), "", "{at:?} {cmd:?} twice");
        h.check().unwrap();
    }
}
