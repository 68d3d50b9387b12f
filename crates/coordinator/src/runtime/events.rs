//! Carrying out what the orchestrator decided: status writes, workers
//! started and stopped, merges queued, notes for the planner.

use std::borrow::Cow;
use std::path::Path;

use enki_core::TaskStatus;
use enki_core::engine::{Event, StopCause};
use tokio::sync::watch;

use crate::merge;
use crate::progress::Progress;
use crate::worker::{WorkerMessage, run_worker};

use super::Runtime;

impl Runtime {
    pub(super) async fn carry_out(&mut self, event: Event) {
        let db = self.ctx.db.clone();
        match event {
            Event::TaskStatus {
                task,
                from,
                status,
                reason,
            } => {
                let (t, r) = (task.clone(), reason.clone());
                match db
                    .call(move |s| s.record_status(&t, from, status, r.as_deref()))
                    .await
                {
                    Ok(true) => {}
                    // Someone steered the task meanwhile (a resume landed
                    // while a pause was answered): the store keeps their
                    // change, and the next comparison of the store with
                    // the graph follows it (their signal asks for one).
                    Ok(false) => {
                        tracing::info!(task, %from, %status, "not recorded: the store shows a later change to follow");
                        self.store_version = None;
                    }
                    Err(e) => self.emit(Progress::Warning {
                        message: format!("cannot record the status of {task}: {e}"),
                    }),
                }
                // Running is reported by WorkerStarted.
                if status != TaskStatus::Running {
                    let (step, title) = self.label(&task);
                    self.emit(Progress::TaskStatus {
                        task,
                        step,
                        title,
                        status,
                        reason: reason.map(Cow::into_owned),
                    });
                }
            }
            Event::ExecutionStatus { execution, status } => {
                let e = execution.clone();
                let _ = db
                    .call(move |s| s.record_execution_status(&e, status))
                    .await;
                let e = execution.clone();
                let title = db
                    .call(move |s| Ok(s.execution(&e)?.map(|x| x.title).unwrap_or_default()))
                    .await
                    .unwrap_or_default();
                if status.is_terminal() {
                    self.planner
                        .note(format!("execution {execution} ({title}) is {status}"));
                }
                self.emit(Progress::ExecutionStatus {
                    execution,
                    title,
                    status,
                });
            }
            Event::StartWorker { task, .. } => {
                let t = task.clone();
                let attempt = match db.call(move |s| s.start_attempt(&t)).await {
                    Ok(n) => n,
                    Err(e) => {
                        self.emit(Progress::Warning {
                            message: format!("cannot start {task}: {e}"),
                        });
                        // Let the orchestrator count it as a failed attempt.
                        let _ = self.worker_tx.send(WorkerMessage::Failed {
                            task,
                            error: e.to_string(),
                        });
                        return;
                    }
                };
                let (cancel_tx, cancel_rx) = watch::channel(false);
                self.workers.insert(task.clone(), cancel_tx);
                tokio::spawn(run_worker(
                    self.ctx.clone(),
                    task.clone(),
                    attempt,
                    cancel_rx,
                    self.worker_tx.clone(),
                ));
                let (step, title) = self.label(&task);
                self.emit(Progress::WorkerStarted {
                    task,
                    step,
                    title,
                    attempt,
                });
            }
            Event::StopWorker {
                task,
                cause,
                error,
                said,
            } => {
                if let Some(cancel) = self.workers.remove(&task) {
                    let _ = cancel.send(true);
                }
                // A stall or an unreachable model API counts as a failed
                // attempt (the orchestrator retries it within budget), so it
                // is recorded as one, in the agent's words.
                let outcome = match cause {
                    StopCause::Cancelled => "cancelled",
                    StopCause::Paused => "paused",
                    StopCause::StopAll => "stopped",
                    StopCause::Stalled => "stalled",
                    StopCause::Unreachable => "failed",
                    // Its work stays in its copy; it runs again once resumed.
                    StopCause::Budget => "budget",
                };
                let t = task.clone();
                let _ = db
                    .call(move |s| {
                        s.end_attempt_saying(&t, outcome, error.as_deref(), said.as_deref())
                    })
                    .await;
            }
            Event::AgentState {
                task,
                state,
                reason,
            } => {
                let (t, r) = (task.clone(), reason.clone());
                if let Err(e) = db
                    .call(move |s| s.set_agent_state(&t, state, r.as_deref()))
                    .await
                {
                    tracing::warn!(task, "cannot record the agent state: {e}");
                }
                self.emit(Progress::AgentState {
                    task,
                    state,
                    reason,
                });
            }
            Event::QueueMerge { task } => self.queue_merge(&task).await,
            Event::AwaitingReview { task, resolution } => {
                let (step, title) = self.label(&task);
                let what = if resolution {
                    "the merger's resolution of its conflict"
                } else {
                    "its work"
                };
                self.planner.note(format!(
                    "awaiting review: {what} of step `{step}` ({title}, {task}) waits for the person's review before it lands; the person approves, rejects or requests changes"
                ));
                self.emit(Progress::AwaitingReview {
                    task,
                    step,
                    title,
                    resolution,
                });
            }
            // The store shows the approval (`worker_done`); the merge queue
            // takes it next, and a restart from here queues it once.
            Event::Approved { task } => {
                enki_failpoint::crash_point!("review:approved");
                self.emit(Progress::Approved { task });
            }
            Event::BudgetSpent {
                execution,
                reason,
                standing,
            } => self.budget_spent(execution, reason, standing).await,
            Event::BudgetWarning { reason, .. } => self.emit(Progress::Warning {
                message: format!("budget: {reason}"),
            }),
            Event::CheckpointReached { execution, task } => {
                let (step, title) = self.label(&task);
                if !self.planner.is_running() {
                    self.emit(Progress::Warning {
                        message: format!("execution {execution} is paused at a checkpoint; continue it with `enki resume {execution}`"),
                    });
                }
                self.planner.note(format!(
                    "checkpoint: step `{step}` ({title}, {task}) of execution {execution} completed; the execution is paused. Review it, add steps with enki_execution_add_steps if needed, then enki_resume."
                ));
                self.emit(Progress::Checkpoint { execution, task });
            }
            Event::TaskFinished { task } => {
                let (step, title) = self.label(&task);
                let t = task.clone();
                let output = db
                    .call(move |s| Ok(s.task(&t)?.and_then(|x| x.output)))
                    .await
                    .ok()
                    .flatten()
                    .unwrap_or_default();
                self.planner.note(format!(
                    "finished: step `{step}` ({title}, {task}). Output: {output}"
                ));
            }
            Event::TaskFailed {
                task,
                error,
                will_retry,
            } => {
                if !will_retry {
                    let (step, title) = self.label(&task);
                    self.planner.note(format!(
                        "failed: step `{step}` ({title}, {task}): {error}. Its dependents are blocked; use enki_task_retry to try again."
                    ));
                }
                self.emit(Progress::WorkerFailed {
                    task,
                    error,
                    will_retry,
                });
            }
            Event::Interrupted { task } => {
                let t = task.clone();
                let leftover = db
                    .call(move |s| {
                        let copy = s.task(&t)?.and_then(|x| x.copy_path);
                        Ok(s.last_attempt_agent(&t)?.zip(copy))
                    })
                    .await
                    .ok()
                    .flatten();
                if let Some((pgid, copy)) = leftover {
                    let stopped = crate::leftovers::stop_leftover_group(pgid, Path::new(&copy));
                    if stopped > 0 {
                        self.emit(Progress::Warning {
                            message: format!("stopped {stopped} process(es) that the interrupted attempt at {task} left running in its copy"),
                        });
                    }
                }
                let t = task.clone();
                let _ = db
                    .call(move |s| {
                        s.end_attempt(
                            &t,
                            "interrupted",
                            Some("the coordinator stopped while the worker ran"),
                        )
                    })
                    .await;
                self.emit(Progress::Warning {
                    message: format!("task {task} was interrupted by a coordinator restart; it will run again in its kept copy"),
                });
            }
        }
    }

    pub(super) async fn queue_merge(&mut self, task: &str) {
        match merge::enqueue(&self.ctx, task).await {
            // Landed before a restart: the task only has to be done.
            Ok(merge::Enqueued::AlreadyLanded { request }) => {
                Box::pin(self.on_merge(merge::MergeMessage::Landed {
                    task: task.to_string(),
                    commit: request.merged_commit.clone(),
                    request,
                }))
                .await;
            }
            Ok(merge::Enqueued::Queued(_)) => {
                self.merges_pending.insert(task.to_string());
                let _ = self.merge_nudge.send(());
                self.emit(Progress::MergeQueued {
                    task: task.to_string(),
                });
            }
            Err(e) => self.emit(Progress::Warning {
                message: format!("cannot queue the merge of {task}: {e}"),
            }),
        }
    }
}
