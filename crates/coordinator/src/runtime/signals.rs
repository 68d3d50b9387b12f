//! Signal files are wake-ups: each is checked against the store (see
//! `witness`), then the store is compared with the graph and what differs
//! is applied — the same comparison that repairs what a lost signal left
//! undone.

use std::collections::BTreeSet;
use std::time::Instant;

use enki_core::ExecutionStatus;
use enki_core::engine::Command;

use crate::progress::Progress;
use crate::reconcile::{Repair, StoredExecution, repairs};

use super::Runtime;
use super::witness::{Witnessed, witness};

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
        if scan.ready.is_empty() {
            return;
        }
        // What the store shows for each signal, read in one go.
        let (session, signals) = (
            self.ctx.session_id.clone(),
            scan.ready
                .iter()
                .map(|p| p.signal.clone())
                .collect::<Vec<_>>(),
        );
        let seen = self
            .ctx
            .db
            .call(move |s| {
                signals
                    .iter()
                    .map(|signal| witness(s, &session, signal))
                    .collect::<Result<Vec<_>, _>>()
            })
            .await;
        let seen = match seen {
            Ok(seen) => seen,
            Err(e) => {
                // Left in place: the next pass looks again.
                tracing::warn!("cannot read the store for the signal files: {e}");
                return;
            }
        };
        let mut look_again = false;
        for (pending, seen) in scan.ready.iter().zip(seen) {
            match seen {
                Ok(Witnessed::StoreChanged) => look_again = true,
                Ok(Witnessed::StopAll) => self.command(Command::StopAll).await,
                Ok(Witnessed::Report { task, status }) => {
                    let now = self.now_ms();
                    // A report is a tool call: progress.
                    self.command(Command::WorkerActivity {
                        task: task.clone(),
                        at_ms: now,
                        sign: enki_core::liveness::Sign::Progress,
                    })
                    .await;
                    self.emit(Progress::WorkerActivity { task, text: status });
                }
                Ok(Witnessed::Mail {
                    id,
                    from,
                    to,
                    subject,
                    priority,
                }) => {
                    // A question a worker asked, or an answer to it.
                    for address in [&from, &to] {
                        if let Ok(enki_core::mail::Address::Worker(task)) =
                            enki_core::mail::Address::parse(address)
                        {
                            self.refresh_questions(&task).await;
                        }
                    }
                    if to == "coordinator" {
                        self.planner.note(format!(
                            "mail {id} from {from} ({priority}): {subject}. Read it with enki_mail_read."
                        ));
                    }
                    self.emit(Progress::Mail { from, to, subject });
                }
                Err(reason) => {
                    let moved = enki_signals::set_aside(pending);
                    let place = match &moved {
                        Ok(Some(to)) => format!("moved to {}", to.display()),
                        Ok(None) => "gone already".to_string(),
                        Err(e) => format!("could not be moved aside: {e}"),
                    };
                    self.emit(Progress::Warning {
                        message: format!(
                            "ignored signal file {} ({place}): {reason}; a signal only wakes enki up, and the store is the truth",
                            pending.path.display()
                        ),
                    });
                    continue;
                }
            }
            if let Err(e) = enki_signals::acknowledge(pending) {
                tracing::warn!(
                    "cannot delete applied signal {}: {e}",
                    pending.path.display()
                );
            }
        }
        // The changes are the store's: apply them as the comparison of the
        // store with the graph finds them.
        if look_again {
            self.store_version = None;
            self.reconcile().await;
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
}
