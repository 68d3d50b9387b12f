//! Reports from the workers, the merge queue and the planner session,
//! turned into orchestrator commands and progress.

use enki_core::engine::{Command, WorkResult};
use enki_core::liveness::Sign;
use enki_failpoint::crash_point;

use crate::merge::MergeMessage;
use crate::planner::{self, PlannerMessage};
use crate::progress::Progress;
use crate::worker::WorkerMessage;

use super::Runtime;

impl Runtime {
    pub(super) async fn on_worker(&mut self, message: WorkerMessage) {
        let db = self.ctx.db.clone();
        match message {
            WorkerMessage::Activity { task, text } => {
                if let Some(text) = text {
                    self.emit(Progress::WorkerActivity { task, text });
                }
            }
            WorkerMessage::Sign { task, sign } => {
                let now = self.now_ms();
                self.command(Command::WorkerActivity {
                    task,
                    at_ms: now,
                    sign,
                })
                .await;
            }
            WorkerMessage::Transcript { task, entry } => {
                self.emit(Progress::WorkerTranscript { task, entry });
            }
            WorkerMessage::Usage { task, usage } => {
                self.on_usage(Some(task), "worker", usage).await;
            }
            WorkerMessage::Finished { task, result } => {
                if self.workers.remove(&task).is_none() {
                    return;
                }
                let t = task.clone();
                let role = db
                    .call(move |s| {
                        s.end_attempt(&t, "succeeded", None)?;
                        Ok(s.task(&t)?.and_then(|row| row.role))
                    })
                    .await
                    .ok()
                    .flatten();
                self.agent_did_well(&task).await;
                let result = match result {
                    WorkResult::Changes
                        if crate::review::review_mode(&self.ctx, role.as_deref()).asks() =>
                    {
                        WorkResult::ChangesToReview
                    }
                    other => other,
                };
                self.command(Command::WorkerFinished { task, result }).await;
            }
            WorkerMessage::Limited { task, agent, limit } => {
                if self.workers.remove(&task).is_some() {
                    self.agent_limited(task, agent, limit).await;
                }
            }
            WorkerMessage::Failed { task, error } => {
                let was_running = self.workers.remove(&task).is_some();
                let (t, e) = (task.clone(), error.clone());
                let _ = db
                    .call(move |s| s.end_attempt(&t, "failed", Some(&e)))
                    .await;
                if was_running || self.orch.is_running(&task) {
                    self.command(Command::WorkerFailed { task, error }).await;
                }
            }
        }
    }

    /// Tells the orchestrator which questions a running worker's agent
    /// mailed the user or the planner still await an answer (the store
    /// decides; its clock pauses meanwhile).
    pub(super) async fn refresh_questions(&mut self, task: &str) {
        if !self.orch.is_running(task) {
            return;
        }
        let id = task.to_string();
        let open = self
            .ctx
            .db
            .call(move |s| {
                let since = s.task(&id)?.and_then(|t| t.started_at).unwrap_or_default();
                s.open_questions(&id, &since)
            })
            .await;
        match open {
            Ok(open) => {
                let now = self.now_ms();
                self.command(Command::WorkerActivity {
                    task: task.to_string(),
                    at_ms: now,
                    sign: Sign::Questions(open.into_iter().map(|m| m.subject).collect()),
                })
                .await;
            }
            Err(e) => tracing::warn!(task, "cannot read the questions a worker waits on: {e}"),
        }
    }

    pub(super) async fn on_merge(&mut self, message: MergeMessage) {
        match message {
            MergeMessage::Landed {
                task,
                commit,
                request,
            } => {
                self.merges_pending.remove(&task);
                self.emit(Progress::MergeLanded {
                    task: task.clone(),
                    commit,
                });
                self.command(Command::MergeLanded { task }).await;
                // The task is recorded done; its copy goes in the background.
                crash_point!("land:task_done");
                self.cleaner.clean(&self.ctx, *request);
            }
            MergeMessage::Failed { task, error } => {
                self.merges_pending.remove(&task);
                let (t, e) = (task.clone(), error.clone());
                let _ = self
                    .ctx
                    .db
                    .call(move |s| {
                        s.append_task_event(&t, "merge_failed", &serde_json::json!({"error": e}))
                    })
                    .await;
                self.emit(Progress::MergeFailed {
                    task: task.clone(),
                    error: error.clone(),
                });
                self.command(Command::MergeFailed { task, error }).await;
            }
            MergeMessage::ResolutionHeld { task } => {
                // Out of the queue until the person decides (the store
                // queues it again on approval).
                self.merges_pending.remove(&task);
                self.command(Command::ResolutionToReview { task }).await;
            }
            MergeMessage::Waiting { task, reason } => {
                self.emit(Progress::MergeWaiting { task, reason })
            }
            MergeMessage::Status {
                task,
                status,
                reason,
            } => self.emit(Progress::MergeStatus {
                task,
                status: status.to_string(),
                reason,
            }),
            MergeMessage::MergerStarted { task, run, files } => {
                let (step, title) = self.label(&task);
                self.emit(Progress::MergerStarted {
                    task,
                    step,
                    title,
                    run,
                    files,
                });
            }
            MergeMessage::MergerActivity { task, text } => {
                if let Some(text) = text {
                    self.emit(Progress::MergerActivity { task, text });
                }
            }
            MergeMessage::MergerTranscript { task, entry } => {
                self.emit(Progress::MergerTranscript { task, entry });
            }
            MergeMessage::MergerUsage { task, usage } => {
                self.on_usage(Some(task), "merger", usage).await;
            }
            MergeMessage::MergerLimited { task, hold } => {
                self.held(hold, enki_core::limits::MetBy::Merger { task })
                    .await;
            }
        }
    }

    pub(super) async fn on_planner(&mut self, message: PlannerMessage) {
        self.planner.observe(&message);
        match message {
            PlannerMessage::Usage(usage) => self.on_usage(None, "planner", usage).await,
            PlannerMessage::Ready => {}
            PlannerMessage::Text(text) => {
                self.planner_said.push_str(&text);
                self.emit(Progress::PlannerText { text });
            }
            PlannerMessage::MessageEnd => {
                self.keep_planner_message().await;
                self.emit(Progress::PlannerMessageEnd);
            }
            PlannerMessage::Tool(title) => self.emit(Progress::PlannerTool { title }),
            PlannerMessage::ToolFailed { title, reason } => self.emit(Progress::Warning {
                message: format!("the planner's call to {title} failed: {reason}"),
            }),
            PlannerMessage::Refused {
                title,
                decision,
                reason,
            } => self.emit(Progress::Warning {
                message: format!(
                    "the planner's call to {title} was refused ({decision}): {reason}"
                ),
            }),
            PlannerMessage::TurnEnded(result) => {
                self.keep_planner_message().await;
                if let Err(e) = result {
                    self.emit(Progress::Warning {
                        message: format!("the planner's turn failed: {e}"),
                    });
                }
                self.emit(Progress::PlannerIdle);
            }
            PlannerMessage::Held(hold) => self.held(hold, enki_core::limits::MetBy::Planner).await,
            PlannerMessage::Gone(reason) => self.emit(Progress::Warning { message: reason }),
        }
    }

    /// Sends the planner a prompt, starting the planner on the first one
    /// (with its standing instructions in front of the user's words).
    /// Keeps a line of the conversation, so that the next start shows it.
    async fn keep_chat(&self, speaker: enki_store::Speaker, text: String) {
        let session = self.ctx.session_id.clone();
        let kept = self
            .ctx
            .db
            .call(move |s| s.append_chat(&session, speaker, &text))
            .await;
        if let Err(e) = kept {
            tracing::warn!("cannot keep the chat with the planner: {e}");
        }
    }

    async fn keep_planner_message(&mut self) {
        let said = std::mem::take(&mut self.planner_said);
        if !said.trim().is_empty() {
            self.keep_chat(enki_store::Speaker::Planner, said).await;
        }
    }

    pub(super) async fn prompt_planner(&mut self, text: String) {
        self.keep_chat(enki_store::Speaker::User, text.clone())
            .await;
        let text = if self.planner.needs_start() {
            format!(
                "{}\n\n# The user's request\n\n{text}",
                planner::system_prompt(&self.ctx)
            )
        } else {
            text
        };
        let ctx = self.ctx.clone();
        let continuing = self.continue_planner;
        let sent = self.planner.prompt(text, |prompts, events| {
            tokio::spawn(planner::run_planner(ctx, continuing, prompts, events))
        });
        if let Err(message) = sent {
            self.emit(Progress::Warning { message });
        }
    }
}
