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
//! `checkpoint:e1/t`, `interrupted:t`; an empty string is a no-op.
//!
//! Every row also checks that a store fed only the events agrees with the
//! graph afterwards (every status change is announced), and that exactly
//! the `running` tasks hold a worker.

use std::collections::BTreeMap;

use super::tests::{execution, node};
use super::*;
use crate::dag::{DagError, NeedRef, StepShape, validate_steps};
use crate::{Condition, ExecutionStatus, TaskStatus, Tier};

/// Where `t` (and its surroundings) stand before the command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum At {
    /// u and h run; t and d wait.
    Pending,
    /// u is done, h runs and holds the heavy slot: t is ready but cannot start.
    Ready,
    /// u and h are done; t runs (attempt 1); d waits for it.
    Running,
    /// Running, after one failed attempt (the budget of 1 retry is spent).
    Retrying,
    /// t finished with changes; its merge is queued.
    WorkerDone,
    /// t's merge landed; d runs.
    Done,
    /// t failed twice: t failed, d blocked, e1 failed.
    Failed,
    /// u failed twice: t and d blocked; h still runs.
    Blocked,
    /// t was paused while it ran.
    Paused,
    /// t was cancelled while it waited (d with it); u and h run.
    Cancelled,
    /// t runs and e1 is paused.
    ExecPaused,
    /// t is a checkpoint step and runs.
    Checkpoint,
    /// The checkpoint t finished (nothing to merge): e1 paused, d ready.
    CheckpointDone,
    /// t ran when everything was stopped: t paused, e1 paused.
    StoppedAll,
}

impl At {
    /// `t`'s status in this setup.
    fn status(self) -> TaskStatus {
        match self {
            At::Pending => TaskStatus::Pending,
            At::Ready => TaskStatus::Ready,
            At::Running | At::Retrying | At::ExecPaused | At::Checkpoint => TaskStatus::Running,
            At::WorkerDone => TaskStatus::WorkerDone,
            At::Done | At::CheckpointDone => TaskStatus::Done,
            At::Failed => TaskStatus::Failed,
            At::Blocked => TaskStatus::Blocked,
            At::Paused | At::StoppedAll => TaskStatus::Paused,
            At::Cancelled => TaskStatus::Cancelled,
        }
    }
}

/// The command of a row. Task commands name `t`, execution commands `e1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmd {
    /// `Load` of e1 as the store holds it (what the events wrote).
    Reload,
    /// A new coordinator loads e1 from the store.
    Restart,
    /// `Load` of e1 grown by a step `n` that needs t (merged).
    AddStep,
    /// Steps `n1 <-> n2` (a cycle, n1 also needs t) are validated like the
    /// MCP tool does; they are rejected and never reach the engine.
    AddCycle,
    Activity,
    /// `Tick` far past the stall timeout.
    Stall,
    Finish(WorkResult),
    Fail,
    Landed,
    MergeFailed,
    PauseStep,
    PauseExec,
    ResumeStep,
    ResumeExec,
    CancelStep,
    CancelExec,
    Retry,
    /// `Retry` of the upstream u.
    RetryU,
    StopAll,
}

use WorkResult::{Artifact, Changes, NoChanges};

/// Commands every base status is tested against.
const EVERY_COMMAND: [Cmd; 19] = [
    Cmd::Reload,
    Cmd::Restart,
    Cmd::AddStep,
    Cmd::Activity,
    Cmd::Stall,
    Cmd::Finish(Changes),
    Cmd::Finish(NoChanges),
    Cmd::Fail,
    Cmd::Landed,
    Cmd::MergeFailed,
    Cmd::PauseStep,
    Cmd::PauseExec,
    Cmd::ResumeStep,
    Cmd::ResumeExec,
    Cmd::CancelStep,
    Cmd::CancelExec,
    Cmd::Retry,
    Cmd::StopAll,
    Cmd::AddCycle,
];

/// One setup per task status.
const EVERY_STATUS: [At; 9] = [
    At::Pending,
    At::Ready,
    At::Running,
    At::WorkerDone,
    At::Done,
    At::Failed,
    At::Blocked,
    At::Paused,
    At::Cancelled,
];

type Row = (At, Cmd, TaskStatus, &'static str);

use At as A;
use Cmd as C;
use TaskStatus as S;

#[rustfmt::skip]
const TABLE: &[Row] = &[
    // ----- pending: u and h run, t and d wait
    (A::Pending, C::Reload,            S::Pending,   ""),
    (A::Pending, C::Restart,           S::Pending,   "interrupted:u u=ready interrupted:h h=ready u=running start:u#1 h=running start:h#1"),
    (A::Pending, C::AddStep,           S::Pending,   ""),
    (A::Pending, C::AddCycle,          S::Pending,   ""),
    (A::Pending, C::Activity,          S::Pending,   ""),
    (A::Pending, C::Stall,             S::Pending,   "stop:h(stalled) h=ready failed:h(retry) stop:u(stalled) u=ready failed:u(retry) u=running start:u#2 h=running start:h#2"),
    (A::Pending, C::Finish(Changes),   S::Pending,   ""),
    (A::Pending, C::Finish(NoChanges), S::Pending,   ""),
    (A::Pending, C::Fail,              S::Pending,   ""),
    (A::Pending, C::Landed,            S::Pending,   ""),
    (A::Pending, C::MergeFailed,       S::Pending,   ""),
    (A::Pending, C::PauseStep,         S::Paused,    "t=paused"),
    (A::Pending, C::PauseExec,         S::Pending,   "e1=paused"),
    (A::Pending, C::ResumeStep,        S::Pending,   ""),
    (A::Pending, C::ResumeExec,        S::Pending,   ""),
    (A::Pending, C::CancelStep,        S::Cancelled, "d=cancelled t=cancelled"),
    (A::Pending, C::CancelExec,        S::Cancelled, "d=cancelled stop:h(cancelled) h=cancelled t=cancelled stop:u(cancelled) u=cancelled e1=cancelled"),
    (A::Pending, C::Retry,             S::Pending,   ""),
    (A::Pending, C::StopAll,           S::Pending,   "stop:h(stop_all) h=paused stop:u(stop_all) u=paused e1=paused"),

    // ----- ready: u done, h runs and holds the heavy slot
    (A::Ready, C::Reload,            S::Ready,     ""),
    (A::Ready, C::Restart,           S::Ready,     "interrupted:h h=ready h=running start:h#1"),
    (A::Ready, C::AddStep,           S::Ready,     ""),
    (A::Ready, C::AddCycle,          S::Ready,     ""),
    (A::Ready, C::Activity,          S::Ready,     ""),
    (A::Ready, C::Stall,             S::Ready,     "stop:h(stalled) h=ready failed:h(retry) h=running start:h#2"),
    (A::Ready, C::Finish(Changes),   S::Ready,     ""),
    (A::Ready, C::Finish(NoChanges), S::Ready,     ""),
    (A::Ready, C::Fail,              S::Ready,     ""),
    (A::Ready, C::Landed,            S::Ready,     ""),
    (A::Ready, C::MergeFailed,       S::Ready,     ""),
    (A::Ready, C::PauseStep,         S::Paused,    "t=paused"),
    (A::Ready, C::PauseExec,         S::Ready,     "e1=paused"),
    (A::Ready, C::ResumeStep,        S::Ready,     ""),
    (A::Ready, C::ResumeExec,        S::Ready,     ""),
    (A::Ready, C::CancelStep,        S::Cancelled, "d=cancelled t=cancelled"),
    (A::Ready, C::CancelExec,        S::Cancelled, "d=cancelled stop:h(cancelled) h=cancelled t=cancelled e1=cancelled"),
    (A::Ready, C::Retry,             S::Ready,     ""),
    (A::Ready, C::StopAll,           S::Ready,     "stop:h(stop_all) h=paused e1=paused"),

    // ----- running: u and h done, t runs, d waits for its merge
    (A::Running, C::Reload,            S::Running,    ""),
    (A::Running, C::Restart,           S::Running,    "interrupted:t t=ready t=running start:t#1"),
    (A::Running, C::AddStep,           S::Running,    ""),
    (A::Running, C::AddCycle,          S::Running,    ""),
    (A::Running, C::Activity,          S::Running,    ""),
    (A::Running, C::Stall,             S::Running,    "stop:t(stalled) t=ready failed:t(retry) t=running start:t#2"),
    (A::Running, C::Finish(Changes),   S::WorkerDone, "t=worker_done merge:t"),
    (A::Running, C::Finish(NoChanges), S::Done,       "t=done finished:t d=ready d=running start:d#1"),
    (A::Running, C::Finish(Artifact),  S::Done,       "t=done finished:t d=ready d=running start:d#1"),
    (A::Running, C::Fail,              S::Running,    "t=ready failed:t(retry) t=running start:t#2"),
    (A::Running, C::Landed,            S::Running,    ""),
    (A::Running, C::MergeFailed,       S::Running,    ""),
    (A::Running, C::PauseStep,         S::Paused,     "stop:t(paused) t=paused"),
    (A::Running, C::PauseExec,         S::Running,    "e1=paused"),
    (A::Running, C::ResumeStep,        S::Running,    ""),
    (A::Running, C::ResumeExec,        S::Running,    ""),
    (A::Running, C::CancelStep,        S::Cancelled,  "d=cancelled stop:t(cancelled) t=cancelled e1=done"),
    (A::Running, C::CancelExec,        S::Cancelled,  "d=cancelled stop:t(cancelled) t=cancelled e1=cancelled"),
    (A::Running, C::Retry,             S::Running,    ""),
    (A::Running, C::StopAll,           S::Paused,     "stop:t(stop_all) t=paused e1=paused"),

    // ----- running again after a failed attempt: the retry budget is spent
    (A::Retrying, C::Restart,           S::Running, "interrupted:t t=ready t=running start:t#2"),
    (A::Retrying, C::Fail,              S::Failed,  "t=failed failed:t(final) d=blocked e1=failed"),
    (A::Retrying, C::Stall,             S::Failed,  "stop:t(stalled) t=failed failed:t(final) d=blocked e1=failed"),
    (A::Retrying, C::Finish(NoChanges), S::Done,    "t=done finished:t d=ready d=running start:d#1"),

    // ----- worker_done: the merge is queued
    (A::WorkerDone, C::Reload,            S::WorkerDone, ""),
    (A::WorkerDone, C::Restart,           S::WorkerDone, ""),
    (A::WorkerDone, C::AddStep,           S::WorkerDone, ""),
    (A::WorkerDone, C::AddCycle,          S::WorkerDone, ""),
    (A::WorkerDone, C::Activity,          S::WorkerDone, ""),
    (A::WorkerDone, C::Stall,             S::WorkerDone, ""),
    (A::WorkerDone, C::Finish(Changes),   S::WorkerDone, ""),
    (A::WorkerDone, C::Finish(NoChanges), S::WorkerDone, ""),
    (A::WorkerDone, C::Fail,              S::WorkerDone, ""),
    (A::WorkerDone, C::Landed,            S::Done,       "t=done finished:t d=ready d=running start:d#1"),
    // A failed merge is final (no automatic retry: the branch is kept for a human).
    (A::WorkerDone, C::MergeFailed,       S::Failed,     "t=failed failed:t(final) d=blocked e1=failed"),
    (A::WorkerDone, C::PauseStep,         S::WorkerDone, ""),
    (A::WorkerDone, C::PauseExec,         S::WorkerDone, "e1=paused"),
    (A::WorkerDone, C::ResumeStep,        S::WorkerDone, ""),
    (A::WorkerDone, C::ResumeExec,        S::WorkerDone, ""),
    (A::WorkerDone, C::CancelStep,        S::Cancelled,  "d=cancelled t=cancelled e1=done"),
    (A::WorkerDone, C::CancelExec,        S::Cancelled,  "d=cancelled t=cancelled e1=cancelled"),
    (A::WorkerDone, C::Retry,             S::WorkerDone, ""),
    (A::WorkerDone, C::StopAll,           S::WorkerDone, "e1=paused"),

    // ----- done: t landed, d runs
    (A::Done, C::Reload,            S::Done, ""),
    (A::Done, C::Restart,           S::Done, "interrupted:d d=ready d=running start:d#1"),
    (A::Done, C::AddStep,           S::Done, "n=ready n=running start:n#1"),
    (A::Done, C::AddCycle,          S::Done, ""),
    (A::Done, C::Activity,          S::Done, ""),
    (A::Done, C::Stall,             S::Done, "stop:d(stalled) d=ready failed:d(retry) d=running start:d#2"),
    (A::Done, C::Finish(Changes),   S::Done, ""),
    (A::Done, C::Finish(NoChanges), S::Done, ""),
    (A::Done, C::Fail,              S::Done, ""),
    (A::Done, C::Landed,            S::Done, ""),
    (A::Done, C::MergeFailed,       S::Done, ""),
    (A::Done, C::PauseStep,         S::Done, ""),
    (A::Done, C::PauseExec,         S::Done, "e1=paused"),
    (A::Done, C::ResumeStep,        S::Done, ""),
    (A::Done, C::ResumeExec,        S::Done, ""),
    // Cancel stops at landed work: d (downstream of done t) keeps running.
    (A::Done, C::CancelStep,        S::Done, ""),
    (A::Done, C::CancelExec,        S::Done, "stop:d(cancelled) d=cancelled e1=cancelled"),
    (A::Done, C::Retry,             S::Done, ""),
    (A::Done, C::StopAll,           S::Done, "stop:d(stop_all) d=paused e1=paused"),

    // ----- failed: d blocked, e1 failed
    (A::Failed, C::Reload,            S::Failed,    ""),
    (A::Failed, C::Restart,           S::Failed,    ""),
    (A::Failed, C::AddStep,           S::Failed,    "e1=running n=blocked e1=failed"),
    (A::Failed, C::AddCycle,          S::Failed,    ""),
    (A::Failed, C::Activity,          S::Failed,    ""),
    (A::Failed, C::Stall,             S::Failed,    ""),
    (A::Failed, C::Finish(Changes),   S::Failed,    ""),
    (A::Failed, C::Finish(NoChanges), S::Failed,    ""),
    (A::Failed, C::Fail,              S::Failed,    ""),
    (A::Failed, C::Landed,            S::Failed,    ""),
    (A::Failed, C::MergeFailed,       S::Failed,    ""),
    (A::Failed, C::PauseStep,         S::Failed,    ""),
    (A::Failed, C::PauseExec,         S::Failed,    ""),
    (A::Failed, C::ResumeStep,        S::Failed,    ""),
    (A::Failed, C::ResumeExec,        S::Failed,    ""),
    (A::Failed, C::CancelStep,        S::Failed,    "d=cancelled"),
    (A::Failed, C::CancelExec,        S::Failed,    "d=cancelled e1=cancelled"),
    // A fresh budget, d unblocked, e1 running again.
    (A::Failed, C::Retry,             S::Running,   "t=pending d=pending e1=running t=ready t=running start:t#1"),
    (A::Failed, C::StopAll,           S::Failed,    ""),

    // ----- blocked: u failed, h runs
    (A::Blocked, C::Reload,            S::Blocked,   ""),
    (A::Blocked, C::Restart,           S::Blocked,   "interrupted:h h=ready h=running start:h#1"),
    (A::Blocked, C::AddStep,           S::Blocked,   "n=blocked"),
    (A::Blocked, C::AddCycle,          S::Blocked,   ""),
    (A::Blocked, C::Activity,          S::Blocked,   ""),
    (A::Blocked, C::Stall,             S::Blocked,   "stop:h(stalled) h=ready failed:h(retry) h=running start:h#2"),
    (A::Blocked, C::Finish(Changes),   S::Blocked,   ""),
    (A::Blocked, C::Finish(NoChanges), S::Blocked,   ""),
    (A::Blocked, C::Fail,              S::Blocked,   ""),
    (A::Blocked, C::Landed,            S::Blocked,   ""),
    (A::Blocked, C::MergeFailed,       S::Blocked,   ""),
    (A::Blocked, C::PauseStep,         S::Blocked,   ""),
    (A::Blocked, C::PauseExec,         S::Blocked,   "e1=paused"),
    (A::Blocked, C::ResumeStep,        S::Blocked,   ""),
    (A::Blocked, C::ResumeExec,        S::Blocked,   ""),
    (A::Blocked, C::CancelStep,        S::Cancelled, "d=cancelled t=cancelled"),
    (A::Blocked, C::CancelExec,        S::Cancelled, "d=cancelled stop:h(cancelled) h=cancelled t=cancelled e1=cancelled"),
    // Retrying t itself while u is still failed blocks it again at once.
    (A::Blocked, C::Retry,             S::Blocked,   "t=pending d=pending t=blocked d=blocked"),
    // Retrying the failed upstream unblocks t and d.
    (A::Blocked, C::RetryU,            S::Pending,   "u=pending d=pending t=pending u=ready u=running start:u#1"),
    (A::Blocked, C::StopAll,           S::Blocked,   "stop:h(stop_all) h=paused e1=paused"),

    // ----- paused: t was paused while it ran
    (A::Paused, C::Reload,            S::Paused,    ""),
    (A::Paused, C::Restart,           S::Paused,    ""),
    (A::Paused, C::AddStep,           S::Paused,    ""),
    (A::Paused, C::AddCycle,          S::Paused,    ""),
    (A::Paused, C::Activity,          S::Paused,    ""),
    (A::Paused, C::Stall,             S::Paused,    ""),
    (A::Paused, C::Finish(Changes),   S::Paused,    ""),
    (A::Paused, C::Finish(NoChanges), S::Paused,    ""),
    (A::Paused, C::Fail,              S::Paused,    ""),
    (A::Paused, C::Landed,            S::Paused,    ""),
    (A::Paused, C::MergeFailed,       S::Paused,    ""),
    (A::Paused, C::PauseStep,         S::Paused,    ""),
    (A::Paused, C::PauseExec,         S::Paused,    "e1=paused"),
    (A::Paused, C::ResumeStep,        S::Running,   "t=pending t=ready t=running start:t#1"),
    (A::Paused, C::ResumeExec,        S::Running,   "t=pending t=ready t=running start:t#1"),
    (A::Paused, C::CancelStep,        S::Cancelled, "d=cancelled t=cancelled e1=done"),
    (A::Paused, C::CancelExec,        S::Cancelled, "d=cancelled t=cancelled e1=cancelled"),
    (A::Paused, C::Retry,             S::Paused,    ""),
    (A::Paused, C::StopAll,           S::Paused,    "e1=paused"),

    // ----- cancelled: t and d cancelled while u and h run
    (A::Cancelled, C::Reload,            S::Cancelled, ""),
    (A::Cancelled, C::Restart,           S::Cancelled, "interrupted:u u=ready interrupted:h h=ready u=running start:u#1 h=running start:h#1"),
    (A::Cancelled, C::AddStep,           S::Cancelled, "n=blocked"),
    (A::Cancelled, C::AddCycle,          S::Cancelled, ""),
    (A::Cancelled, C::Activity,          S::Cancelled, ""),
    (A::Cancelled, C::Stall,             S::Cancelled, "stop:h(stalled) h=ready failed:h(retry) stop:u(stalled) u=ready failed:u(retry) u=running start:u#2 h=running start:h#2"),
    (A::Cancelled, C::Finish(Changes),   S::Cancelled, ""),
    (A::Cancelled, C::Finish(NoChanges), S::Cancelled, ""),
    (A::Cancelled, C::Fail,              S::Cancelled, ""),
    (A::Cancelled, C::Landed,            S::Cancelled, ""),
    (A::Cancelled, C::MergeFailed,       S::Cancelled, ""),
    (A::Cancelled, C::PauseStep,         S::Cancelled, ""),
    (A::Cancelled, C::PauseExec,         S::Cancelled, "e1=paused"),
    (A::Cancelled, C::ResumeStep,        S::Cancelled, ""),
    (A::Cancelled, C::ResumeExec,        S::Cancelled, ""),
    (A::Cancelled, C::CancelStep,        S::Cancelled, ""),
    (A::Cancelled, C::CancelExec,        S::Cancelled, "stop:h(cancelled) h=cancelled stop:u(cancelled) u=cancelled e1=cancelled"),
    (A::Cancelled, C::Retry,             S::Cancelled, ""),
    (A::Cancelled, C::StopAll,           S::Cancelled, "stop:h(stop_all) h=paused stop:u(stop_all) u=paused e1=paused"),

    // ----- t runs while e1 is paused: the worker goes on, nothing new starts
    (A::ExecPaused, C::Restart,           S::Ready,      "interrupted:t t=ready"),
    (A::ExecPaused, C::Stall,             S::Ready,      "stop:t(stalled) t=ready failed:t(retry)"),
    (A::ExecPaused, C::Finish(Changes),   S::WorkerDone, "t=worker_done merge:t"),
    (A::ExecPaused, C::Finish(NoChanges), S::Done,       "t=done finished:t d=ready"),
    (A::ExecPaused, C::Fail,              S::Ready,      "t=ready failed:t(retry)"),
    (A::ExecPaused, C::PauseStep,         S::Paused,     "stop:t(paused) t=paused"),
    (A::ExecPaused, C::PauseExec,         S::Running,    ""),
    (A::ExecPaused, C::ResumeStep,        S::Running,    ""),
    (A::ExecPaused, C::ResumeExec,        S::Running,    "e1=running"),
    (A::ExecPaused, C::CancelStep,        S::Cancelled,  "d=cancelled stop:t(cancelled) t=cancelled e1=done"),
    (A::ExecPaused, C::CancelExec,        S::Cancelled,  "d=cancelled stop:t(cancelled) t=cancelled e1=cancelled"),
    (A::ExecPaused, C::StopAll,           S::Paused,     "stop:t(stop_all) t=paused"),

    // ----- checkpoint: t is a checkpoint step
    (A::Checkpoint, C::Finish(NoChanges), S::Done,       "t=done finished:t e1=paused checkpoint:e1/t d=ready"),
    (A::Checkpoint, C::Finish(Changes),   S::WorkerDone, "t=worker_done merge:t e1=paused checkpoint:e1/t"),
    (A::Checkpoint, C::Fail,              S::Running,    "t=ready failed:t(retry) t=running start:t#2"),
    (A::CheckpointDone, C::ResumeExec,    S::Done,       "e1=running d=running start:d#1"),
    (A::CheckpointDone, C::AddStep,       S::Done,       "n=ready"),
    (A::CheckpointDone, C::ResumeStep,    S::Done,       ""),

    // ----- everything stopped while t ran
    (A::StoppedAll, C::Reload,     S::Paused,  ""),
    (A::StoppedAll, C::Restart,    S::Paused,  ""),
    (A::StoppedAll, C::ResumeStep, S::Ready,   "t=pending t=ready"),
    (A::StoppedAll, C::ResumeExec, S::Running, "e1=running t=pending t=ready t=running start:t#1"),
];

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
            Cmd::RetryU => self.task(|task| Command::Retry { task }, "u"),
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

/// Renders events in the table's notation.
fn render(events: &[Event]) -> String {
    let cause = |c: &StopCause| match c {
        StopCause::Cancelled => "cancelled",
        StopCause::Paused => "paused",
        StopCause::StopAll => "stop_all",
        StopCause::Stalled => "stalled",
    };
    events
        .iter()
        .map(|e| match e {
            Event::TaskStatus { task, status, .. } => format!("{task}={status}"),
            Event::ExecutionStatus { execution, status } => format!("{execution}={status}"),
            Event::StartWorker { task, attempt } => format!("start:{task}#{attempt}"),
            Event::StopWorker { task, cause: c } => format!("stop:{task}({})", cause(c)),
            Event::QueueMerge { task } => format!("merge:{task}"),
            Event::CheckpointReached { execution, task } => {
                format!("checkpoint:{execution}/{task}")
            }
            Event::TaskFinished { task } => format!("finished:{task}"),
            Event::TaskFailed {
                task, will_retry, ..
            } => format!(
                "failed:{task}({})",
                if *will_retry { "retry" } else { "final" }
            ),
            Event::Interrupted { task } => format!("interrupted:{task}"),
        })
        .collect::<Vec<_>>()
        .join(" ")
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

// ----- `started` edges follow the upstream worker

fn one_worker() -> Orchestrator {
    Orchestrator::new(Settings {
        limits: Limits {
            max_workers: 1,
            ..Limits::default()
        },
        retries: 0,
        stall_timeout_ms: 1000,
    })
}

fn load(o: &mut Orchestrator, id: &str, order: u64, nodes: Vec<NodeSnapshot>) -> Vec<Event> {
    o.handle(Command::Load(execution(id, order, nodes)))
}

/// x needs t `started`, but the only worker slot is t's: x is ready and
/// waits. Pausing t frees the slot; x must not take it while t is paused.
#[test]
fn pausing_a_running_step_withdraws_its_started_edges() {
    let mut o = one_worker();
    load(
        &mut o,
        "e1",
        1,
        vec![
            node("t", 0, &[]),
            node("x", 1, &[("t", Condition::Started)]),
        ],
    );
    assert_eq!(o.running(), ["t"]);
    assert_eq!(o.graph().status("x"), Some(TaskStatus::Ready));
    let events = o.handle(Command::Pause {
        execution: "e1".into(),
        step: Some("t".into()),
    });
    assert_eq!(render(&events), "stop:t(paused) t=paused x=pending");
    assert_eq!(o.running_count(), 0);
    let events = o.handle(Command::Resume {
        execution: "e1".into(),
        step: Some("t".into()),
    });
    assert_eq!(
        render(&events),
        "t=pending t=ready t=running start:t#1 x=ready"
    );
}

/// The same through stop-all and resuming only the dependent's execution.
#[test]
fn stop_all_withdraws_started_edges_across_executions() {
    let mut o = one_worker();
    load(&mut o, "e1", 1, vec![node("t", 0, &[])]);
    load(
        &mut o,
        "e2",
        2,
        vec![node("x", 0, &[("t", Condition::Started)])],
    );
    assert_eq!(o.graph().status("x"), Some(TaskStatus::Ready));
    let events = o.handle(Command::StopAll);
    assert_eq!(
        render(&events),
        "stop:t(stop_all) t=paused x=pending e1=paused e2=paused"
    );
    let events = o.handle(Command::Resume {
        execution: "e2".into(),
        step: None,
    });
    assert_eq!(render(&events), "e2=running", "x waits for t");
    let events = o.handle(Command::Resume {
        execution: "e1".into(),
        step: None,
    });
    assert_eq!(
        render(&events),
        "e1=running t=pending t=ready t=running start:t#1 x=ready"
    );
}

/// Validation keeps cycles out of the store (see `AddCycle`); should one get
/// into a snapshot anyway, loading it terminates and nothing in it starts.
#[test]
fn a_cycle_that_slipped_past_validation_never_starts() {
    let mut o = one_worker();
    let events = load(
        &mut o,
        "e1",
        1,
        vec![
            node("a", 0, &[("b", Condition::Started)]),
            node("b", 1, &[("a", Condition::Merged)]),
            node("c", 2, &[]),
        ],
    );
    assert_eq!(render(&events), "c=ready c=running start:c#1");
    let events = o.handle(Command::WorkerFinished {
        task: "c".into(),
        result: NoChanges,
    });
    assert_eq!(render(&events), "c=done finished:c");
    assert_eq!(o.graph().status("a"), Some(TaskStatus::Pending));
    assert_eq!(o.graph().status("b"), Some(TaskStatus::Pending));
    assert!(o.is_idle());
}
