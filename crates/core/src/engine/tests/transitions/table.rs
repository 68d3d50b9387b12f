//! The rows of the transition table, and the setups and commands they
//! range over (fixture and notation: see the parent module).

use crate::TaskStatus;
use crate::engine::WorkResult::{self, Artifact, Changes, ChangesToReview, NoChanges};

/// Where `t` (and its surroundings) stand before the command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum At {
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
    /// t finished with changes under `review = "ask"`: they await review.
    AwaitingReview,
    /// t's merger resolved a conflict and the resolution awaits review.
    ResolutionReview,
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
    pub(super) fn status(self) -> TaskStatus {
        match self {
            At::Pending => TaskStatus::Pending,
            At::Ready => TaskStatus::Ready,
            At::Running | At::Retrying | At::ExecPaused | At::Checkpoint => TaskStatus::Running,
            At::WorkerDone => TaskStatus::WorkerDone,
            At::AwaitingReview | At::ResolutionReview => TaskStatus::AwaitingReview,
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
pub(super) enum Cmd {
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
    /// `FollowUp` of t (`enki followup`).
    FollowUp,
    /// `Retry` of the upstream u.
    RetryU,
    /// `Approve` of t (`enki approve`).
    Approve,
    /// `Reject` of t (`enki reject`).
    Reject,
    /// The merger's resolution of t waits for review.
    ResolutionToReview,
    StopAll,
}

/// Commands every base status is tested against.
pub(super) const EVERY_COMMAND: [Cmd; 24] = [
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
    Cmd::FollowUp,
    Cmd::StopAll,
    Cmd::AddCycle,
    Cmd::Finish(ChangesToReview),
    Cmd::Approve,
    Cmd::Reject,
    Cmd::ResolutionToReview,
];

/// One setup per task status.
pub(super) const EVERY_STATUS: [At; 10] = [
    At::Pending,
    At::Ready,
    At::Running,
    At::WorkerDone,
    At::AwaitingReview,
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
pub(super) const TABLE: &[Row] = &[
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
    (A::Pending, C::FollowUp,          S::Pending,   ""),
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
    (A::Ready, C::FollowUp,          S::Ready,     ""),
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
    (A::Running, C::FollowUp,          S::Running,    ""),
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
    (A::WorkerDone, C::FollowUp,          S::WorkerDone, ""),
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
    // A follow-up runs t again (a fresh budget); d, which started, keeps running.
    (A::Done, C::FollowUp,          S::Running, "t=pending t=ready t=running start:t#1"),
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
    (A::Failed, C::FollowUp,          S::Failed,    ""),
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
    (A::Blocked, C::FollowUp,          S::Blocked,   ""),
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
    (A::Paused, C::FollowUp,          S::Paused,    ""),
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
    (A::Cancelled, C::FollowUp,          S::Cancelled, ""),
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
    // A follow-up of the checkpoint: e1 stays paused, and d, which had not
    // started, waits for t again.
    (A::CheckpointDone, C::FollowUp,      S::Ready,      "t=pending d=pending t=ready"),

    // ----- everything stopped while t ran
    (A::StoppedAll, C::Reload,     S::Paused,  ""),
    (A::StoppedAll, C::Restart,    S::Paused,  ""),
    (A::StoppedAll, C::ResumeStep, S::Ready,   "t=pending t=ready"),
    (A::StoppedAll, C::ResumeExec, S::Running, "e1=running t=pending t=ready t=running start:t#1"),

    // ----- review: approve, reject and the resolution's review touch only
    // work that awaits review (or, for the resolution, is landing)
    (A::Pending, C::Finish(ChangesToReview), S::Pending, ""),
    (A::Pending, C::Approve, S::Pending, ""),
    (A::Pending, C::Reject, S::Pending, ""),
    (A::Pending, C::ResolutionToReview, S::Pending, ""),
    (A::Ready, C::Finish(ChangesToReview), S::Ready, ""),
    (A::Ready, C::Approve, S::Ready, ""),
    (A::Ready, C::Reject, S::Ready, ""),
    (A::Ready, C::ResolutionToReview, S::Ready, ""),
    (A::Running, C::Finish(ChangesToReview), S::AwaitingReview, "t=awaiting_review review:t"),
    (A::Running, C::Approve, S::Running, ""),
    (A::Running, C::Reject, S::Running, ""),
    (A::Running, C::ResolutionToReview, S::Running, ""),
    (A::WorkerDone, C::Finish(ChangesToReview), S::WorkerDone, ""),
    (A::WorkerDone, C::Approve, S::WorkerDone, ""),
    (A::WorkerDone, C::Reject, S::WorkerDone, ""),
    (A::WorkerDone, C::ResolutionToReview, S::AwaitingReview, "t=awaiting_review review:t(resolution)"),
    (A::Done, C::Finish(ChangesToReview), S::Done, ""),
    (A::Done, C::Approve, S::Done, ""),
    (A::Done, C::Reject, S::Done, ""),
    (A::Done, C::ResolutionToReview, S::Done, ""),
    (A::Failed, C::Finish(ChangesToReview), S::Failed, ""),
    (A::Failed, C::Approve, S::Failed, ""),
    (A::Failed, C::Reject, S::Failed, ""),
    (A::Failed, C::ResolutionToReview, S::Failed, ""),
    (A::Blocked, C::Finish(ChangesToReview), S::Blocked, ""),
    (A::Blocked, C::Approve, S::Blocked, ""),
    (A::Blocked, C::Reject, S::Blocked, ""),
    (A::Blocked, C::ResolutionToReview, S::Blocked, ""),
    (A::Paused, C::Finish(ChangesToReview), S::Paused, ""),
    (A::Paused, C::Approve, S::Paused, ""),
    (A::Paused, C::Reject, S::Paused, ""),
    (A::Paused, C::ResolutionToReview, S::Paused, ""),
    (A::Cancelled, C::Finish(ChangesToReview), S::Cancelled, ""),
    (A::Cancelled, C::Approve, S::Cancelled, ""),
    (A::Cancelled, C::Reject, S::Cancelled, ""),
    (A::Cancelled, C::ResolutionToReview, S::Cancelled, ""),

    // ----- awaiting_review: t finished with changes under review = "ask"
    (A::AwaitingReview, C::Reload, S::AwaitingReview, ""),
    (A::AwaitingReview, C::Restart, S::AwaitingReview, ""),
    (A::AwaitingReview, C::AddStep, S::AwaitingReview, ""),
    (A::AwaitingReview, C::AddCycle, S::AwaitingReview, ""),
    (A::AwaitingReview, C::Activity, S::AwaitingReview, ""),
    (A::AwaitingReview, C::Stall, S::AwaitingReview, ""),
    (A::AwaitingReview, C::Finish(Changes), S::AwaitingReview, ""),
    (A::AwaitingReview, C::Finish(NoChanges), S::AwaitingReview, ""),
    (A::AwaitingReview, C::Fail, S::AwaitingReview, ""),
    (A::AwaitingReview, C::Landed, S::AwaitingReview, ""),
    (A::AwaitingReview, C::MergeFailed, S::AwaitingReview, ""),
    (A::AwaitingReview, C::PauseStep, S::AwaitingReview, ""),
    (A::AwaitingReview, C::PauseExec, S::AwaitingReview, "e1=paused"),
    (A::AwaitingReview, C::ResumeStep, S::AwaitingReview, ""),
    (A::AwaitingReview, C::ResumeExec, S::AwaitingReview, ""),
    (A::AwaitingReview, C::CancelStep, S::Cancelled, "d=cancelled t=cancelled e1=done"),
    (A::AwaitingReview, C::CancelExec, S::Cancelled, "d=cancelled t=cancelled e1=cancelled"),
    (A::AwaitingReview, C::Retry, S::AwaitingReview, ""),
    // Requesting changes is a follow-up: t runs again from its kept branch.
    (A::AwaitingReview, C::FollowUp, S::Running, "t=pending t=ready t=running start:t#1"),
    (A::AwaitingReview, C::StopAll, S::AwaitingReview, "e1=paused"),
    (A::AwaitingReview, C::Finish(ChangesToReview), S::AwaitingReview, ""),
    // Approved: to the merge queue. Rejected: failed with the note, d blocked.
    (A::AwaitingReview, C::Approve, S::WorkerDone, "t=worker_done approved:t merge:t"),
    (A::AwaitingReview, C::Reject, S::Failed, "t=failed failed:t(final) d=blocked e1=failed"),
    (A::AwaitingReview, C::ResolutionToReview, S::AwaitingReview, ""),

    // ----- the merger's resolution of t awaits review
    (A::ResolutionReview, C::Approve, S::WorkerDone, "t=worker_done approved:t merge:t"),
    (A::ResolutionReview, C::Reject, S::Failed, "t=failed failed:t(final) d=blocked e1=failed"),
    (A::ResolutionReview, C::FollowUp, S::Running, "t=pending t=ready t=running start:t#1"),
    (A::ResolutionReview, C::Restart, S::AwaitingReview, ""),
];
