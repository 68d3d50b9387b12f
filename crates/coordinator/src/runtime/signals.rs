//! Signal files applied in order, and the store compared with the graph to
//! repair what a lost signal left undone.

use std::collections::BTreeSet;
use std::time::Instant;

use enki_core::ExecutionStatus;
use enki_core::engine::Command;
use enki_signals::SignalKind;

use crate::progress::Progress;
use crate::reconcile::{Repair, StoredExecution, repairs};

use super::Runtime;

impl Runtime {
    /// Applies every waiting signal file in order, then deletes it.
    pub(super) async fn apply_signals(&mut self) {
        let dir = self.ctx.layout.events();
        let scan = match tokio::task::spawn_blocking(move || enki_signals::scan(&dir)).await {
            Ok(Ok(scan)) => scan,
            Ok(Err(e)) => {
                self.emit(Progress::Warning {
                    message: format!("cannot read signal files: {e}"),
                });
                return;
            }
            Err(_) => return,
        };
        for rejected in scan.rejected {
            self.emit(Progress::Warning {
                message: format!(
                    "rejected signal file {}: {} (moved to {})",
                    rejected.original.display(),
                    rejected.reason,
                    rejected.moved_to.display()
                ),
            });
        }
        for pending in scan.ready {
            self.apply(pending.signal.kind.clone()).await;
            if let Err(e) = enki_signals::acknowledge(&pending) {
                tracing::warn!(
                    "cannot delete applied signal {}: {e}",
                    pending.path.display()
                );
            }
        }
    }

    /// Repairs what lost signals left undone: when someone else wrote to
    /// the store since the last look, compares it with the graph and applies
    /// the commands the signals would have caused (see `reconcile`).
    pub(super) async fn reconcile(&mut self) {
        self.reconciled_at = Instant::now();
        let seen = self.store_version;
        // A cancelled execution never changes again (the store refuses to
        // retry, cancel or grow it), so it is not read back. Done and failed
        // ones are: new steps and retries reopen them.
        let graph = self.orch.graph();
        let loaded: Vec<String> = graph
            .executions_ids()
            .into_iter()
            .filter(|e| graph.execution_status(e) != Some(ExecutionStatus::Cancelled))
            .collect();
        let read = self
            .ctx
            .db
            .call(move |s| {
                let version = s.data_version()?;
                if Some(version) == seen {
                    return Ok((version, None));
                }
                let mut ids: BTreeSet<String> = loaded.into_iter().collect();
                ids.extend(s.unfinished_executions()?.into_iter().map(|e| e.id));
                let mut stored = Vec::with_capacity(ids.len());
                for id in ids {
                    let Some(execution) = s.execution(&id)? else {
                        continue;
                    };
                    let tasks = s.tasks(&enki_store::TaskFilter {
                        execution_id: Some(id),
                        ..Default::default()
                    })?;
                    stored.push(StoredExecution { execution, tasks });
                }
                Ok((version, Some(stored)))
            })
            .await;
        let stored = match read {
            Ok((version, stored)) => {
                self.store_version = Some(version);
                match stored {
                    Some(stored) => stored,
                    None => return,
                }
            }
            Err(e) => {
                tracing::warn!("cannot compare the store with the graph: {e}");
                return;
            }
        };
        for repair in repairs(self.orch.graph(), &stored) {
            tracing::info!(?repair, "repairing what a lost signal left undone");
            match repair {
                Repair::Load(execution) => self.load_execution(&execution).await,
                Repair::Command(command) => self.command(command).await,
            }
        }
    }

    pub(super) async fn execution_of_task(&self, task: &str) -> Option<String> {
        if let Some(e) = self.orch.graph().execution_of(task) {
            return Some(e.to_string());
        }
        let t = task.to_string();
        self.ctx
            .db
            .call(move |s| s.task(&t))
            .await
            .ok()
            .flatten()
            .map(|t| t.execution_id)
    }

    pub(super) async fn ensure_loaded(&mut self, execution: &str) {
        if self.orch.graph().execution_status(execution).is_none() {
            self.load_execution(execution).await;
        }
    }

    pub(super) async fn apply(&mut self, kind: SignalKind) {
        match kind {
            SignalKind::TaskCreated { task_id } => {
                if let Some(execution) = self.execution_of_task(&task_id).await {
                    self.load_execution(&execution).await;
                }
            }
            SignalKind::ExecutionCreated { execution_id }
            | SignalKind::StepsAdded { execution_id, .. } => {
                self.load_execution(&execution_id).await;
            }
            SignalKind::RetryTask { task_id } => {
                if let Some(execution) = self.execution_of_task(&task_id).await {
                    self.ensure_loaded(&execution).await;
                }
                self.command(Command::Retry { task: task_id }).await;
            }
            SignalKind::Pause {
                execution_id,
                step_id,
            } => {
                self.ensure_loaded(&execution_id).await;
                self.command(Command::Pause {
                    execution: execution_id,
                    step: step_id,
                })
                .await;
            }
            SignalKind::Resume {
                execution_id,
                step_id,
            } => {
                self.ensure_loaded(&execution_id).await;
                self.command(Command::Resume {
                    execution: execution_id,
                    step: step_id,
                })
                .await;
            }
            SignalKind::Cancel {
                execution_id,
                step_id,
            } => {
                self.ensure_loaded(&execution_id).await;
                self.command(Command::Cancel {
                    execution: execution_id,
                    step: step_id,
                })
                .await;
            }
            SignalKind::StopAll => self.command(Command::StopAll).await,
            SignalKind::WorkerReport {
                task_id, status, ..
            } => {
                let now = self.now_ms();
                self.command(Command::WorkerActivity {
                    task: task_id.clone(),
                    at_ms: now,
                })
                .await;
                self.emit(Progress::WorkerActivity {
                    task: task_id,
                    text: status,
                });
            }
            SignalKind::Mail {
                message_id,
                from,
                to,
                subject,
                priority,
            } => {
                if to == "coordinator" {
                    self.planner.note(format!(
                        "mail {message_id} from {from} ({priority}): {subject}. Read it with enki_mail_read."
                    ));
                }
                self.emit(Progress::Mail { from, to, subject });
            }
        }
    }
}
