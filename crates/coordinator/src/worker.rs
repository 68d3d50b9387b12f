//! One worker attempt: a copy of the project, an agent in it, one prompt,
//! and the result handed back to the runtime.

use std::path::{Path, PathBuf};

use enki_acp::{AcpClient, AgentEvent, Continuation, InitializeResult, StopReason};
use enki_config::{AgentRole, ResolvedAgent};
use enki_core::engine::WorkResult;
use enki_core::limits::AgentLimit;
use enki_core::liveness::Sign;
use enki_core::role::{OutputMode, Role};
use enki_store::{AttemptRow, DependencyRow, StoreError, TaskFilter, TaskRow};
use enki_workspace::{CopyRequest, GatherError, Git, branch_adds_to, commit_work, create_copy};
use tokio::sync::{mpsc, watch};

use crate::McpIdentity;
use crate::context::Shared;
use crate::continuation::{self, TakeUp};
use crate::prompt::{ARTIFACT_FILE, PromptInput, Upstream, worker_prompt};
use crate::record::{Live, RunKind, RunRecord};
use crate::reply::{Reply, reply_file};
use crate::session::continue_or_start_session;
use crate::transcript::TranscriptEntry;

/// What a worker tells the runtime.
#[derive(Debug)]
pub enum WorkerMessage {
    /// A sign of life, with a short description when there is one.
    Activity {
        task: String,
        text: Option<String>,
    },
    /// What the agent did, for its liveness (see `signs`).
    Sign {
        task: String,
        sign: Sign,
    },
    /// A transcript entry for live views.
    Transcript {
        task: String,
        entry: TranscriptEntry,
    },
    /// What the attempt has used so far changed.
    Usage {
        task: String,
        usage: enki_core::usage::RunUsage,
    },
    Finished {
        task: String,
        result: WorkResult,
    },
    Failed {
        task: String,
        error: String,
    },
    /// The agent's account met a limit (a rate limit, an overloaded API, a
    /// quota): not the task's failure.
    Limited {
        task: String,
        agent: String,
        limit: AgentLimit,
    },
}

/// How an attempt went wrong.
#[derive(Debug)]
enum Failure {
    /// The attempt failed, in words.
    Failed(String),
    /// The agent's account met a limit; the task did nothing wrong.
    Limited { agent: String, limit: AgentLimit },
}

impl Failure {
    /// An error of `agent`'s: a limit of its account when `limit` says
    /// so, else a failure in `error`'s words.
    fn of_agent(agent: &ResolvedAgent, limit: Option<AgentLimit>, error: String) -> Failure {
        match limit {
            Some(limit) => Failure::Limited {
                agent: agent.name.clone(),
                limit,
            },
            None => Failure::Failed(error),
        }
    }
}

impl From<String> for Failure {
    fn from(error: String) -> Failure {
        Failure::Failed(error)
    }
}

/// Everything the prompt needs, read in one go.
struct Prepared {
    task: TaskRow,
    needs: Vec<(DependencyRow, Option<String>)>,
    artifacts: Vec<String>,
    /// The branch the task's execution lands on (its copy starts there).
    base_branch: String,
    /// Every attempt at the task so far, this one included.
    attempts: Vec<AttemptRow>,
    /// Its follow-up requests, oldest first.
    follow_ups: Vec<String>,
    /// Its round is review's "request changes": its earlier work never
    /// landed, so the round goes on in the kept copy, on its branch.
    follows_review: bool,
}

async fn prepare(ctx: &Shared, task_id: &str) -> Result<Prepared, StoreError> {
    let (id, default_base) = (task_id.to_string(), ctx.base_branch.clone());
    let artifacts_dir = ctx.layout.artifacts();
    ctx.db
        .call(move |store| {
            let task = store
                .task(&id)?
                .ok_or_else(|| StoreError::Invalid(format!("no task {id}")))?;
            let needs = store
                .dependencies_of(&id)?
                .into_iter()
                .map(|edge| {
                    let output = store
                        .task(&edge.needs_task_id)
                        .ok()
                        .flatten()
                        .and_then(|t| t.output);
                    (edge, output)
                })
                .collect();
            // Artifacts of the steps of this execution written so far.
            let steps = store.tasks(&TaskFilter {
                execution_id: Some(task.execution_id.clone()),
                ..TaskFilter::default()
            })?;
            let artifacts = steps
                .iter()
                .map(|s| {
                    artifacts_dir
                        .join(&s.execution_id)
                        .join(format!("{}.md", s.step_id))
                })
                .filter(|p| p.is_file())
                .map(|p| p.display().to_string())
                .collect();
            let base_branch = store.execution_base_branch(&task.execution_id, &default_base)?;
            Ok(Prepared {
                follows_review: store.round_follows_review(&id, task.round)?,
                attempts: store.attempts_of(&id)?,
                follow_ups: store.follow_ups(&id)?,
                task,
                needs,
                artifacts,
                base_branch,
            })
        })
        .await
}

/// Runs one attempt and reports the outcome on `tx`, unless cancelled.
pub async fn run_worker(
    ctx: Shared,
    task_id: String,
    attempt: i64,
    mut cancel: watch::Receiver<bool>,
    tx: mpsc::UnboundedSender<WorkerMessage>,
) {
    let outcome = attempt_task(&ctx, &task_id, attempt, &mut cancel, &tx).await;
    if *cancel.borrow() {
        return;
    }
    let message = match outcome {
        Ok(result) => WorkerMessage::Finished {
            task: task_id,
            result,
        },
        Err(Failure::Failed(error)) => WorkerMessage::Failed {
            task: task_id,
            error,
        },
        Err(Failure::Limited { agent, limit }) => WorkerMessage::Limited {
            task: task_id,
            agent,
            limit,
        },
    };
    let _ = tx.send(message);
}

async fn attempt_task(
    ctx: &Shared,
    task_id: &str,
    attempt: i64,
    cancel: &mut watch::Receiver<bool>,
    tx: &mpsc::UnboundedSender<WorkerMessage>,
) -> Result<WorkResult, Failure> {
    let prepared = prepare(ctx, task_id).await.map_err(|e| e.to_string())?;
    let task = prepared.task;
    let base_branch = prepared.base_branch;
    let role: Option<Role> = task.role.as_ref().and_then(|r| ctx.roles.get(r).cloned());

    // A follow-up round starts from the base branch as it is now, which
    // holds the earlier round's work: a copy that round left behind (its
    // clean-up cut short) goes first. Later runs of the round keep theirs.
    // Changes a reviewer asked for go on from the unlanded work instead.
    let opens_round = task.round > 1
        && !prepared.follows_review
        && !prepared
            .attempts
            .iter()
            .any(|a| a.round == task.round && a.number < attempt);
    // The clean-up of the task's landed round must not remove the copy
    // this attempt makes at the same place.
    ctx.cleanups.settled(&task.id).await;
    // The copy (kept from an earlier attempt when there is one), and the
    // branches as the attempt begins: those it makes are the worker's.
    let (copy, branches_before) = {
        let ctx = ctx.clone();
        let (id, base) = (task.id.clone(), base_branch.clone());
        let stale_branch = task
            .branch
            .clone()
            .unwrap_or_else(|| enki_workspace::task_branch(&id));
        tokio::task::spawn_blocking(move || {
            if opens_round {
                let stale = ctx.layout.copy_of(&id);
                enki_workspace::remove_copy(&ctx.git, &stale, Some(&stale_branch))?;
            }
            let pool = crate::copy_setup::copy_pool(&ctx);
            let copy = create_copy(&CopyRequest {
                project: &ctx.git,
                copies_dir: &ctx.layout.copies(),
                task_id: &id,
                base: &base,
                ignored: crate::copy_setup::ignored_files(&ctx),
                pool: pool.as_ref().map(|(dir, _)| dir.as_path()),
            })?;
            let branches_before = copy.branches_before.clone();
            Ok::<_, enki_workspace::GitError>((copy, branches_before))
        })
        .await
        .map_err(|e| format!("creating the copy: {e}"))?
        .map_err(|e| format!("creating the copy: {e}"))?
    };
    {
        let (id, path, branch) = (
            task.id.clone(),
            copy.path.display().to_string(),
            copy.branch.clone(),
        );
        ctx.db
            .call(move |s| s.set_task_workspace(&id, Some(&path), Some(&branch)))
            .await
            .map_err(|e| e.to_string())?;
    }

    crate::copy_setup::set_up_copy(ctx, &task.id, &copy.path, !copy.reused).await?;

    let upstream: Vec<Upstream<'_>> = prepared
        .needs
        .iter()
        .map(|(edge, output)| Upstream {
            edge,
            output: output.as_deref(),
        })
        .collect();
    let mut prompt = worker_prompt(&PromptInput {
        task: &task,
        role: role.as_ref(),
        copy: &copy.path,
        upstream,
        artifacts: prepared.artifacts,
        follow_ups: &prepared.follow_ups,
        sandboxed: ctx.config.sandbox.mode == enki_config::SandboxMode::Enforce,
    });

    let agent = ctx.worker_agent(task.tier, task.role.as_deref());
    // A restart, pause or stop interrupted the previous attempt, or a
    // follow-up round begins: the earlier session is taken up when the
    // agent can; a fresh session is told what happened before.
    let earlier = continuation::session_to_take_up(
        &prepared.attempts,
        attempt,
        task.round,
        copy.reused,
        &agent.name,
    );
    let continued = match (&earlier, prepared.follow_ups.last()) {
        (Some(TakeUp::FollowUp(_)), Some(request)) => {
            continuation::follow_up_prompt(request, task.round, &copy.path)
        }
        (Some(TakeUp::Interrupted { stopped, .. }), _) => {
            continuation::continue_prompt(&task.title, &copy.path, &prompt, *stopped)
        }
        _ => String::new(),
    };
    if let Some(history) = continuation::history(ctx, &task.id, attempt).await {
        prompt.push('\n');
        prompt.push_str(&history);
    }
    let turns = Turns {
        fresh: prompt,
        continued,
        earlier: earlier.as_ref(),
    };
    let agent_name = format!("{}-{attempt}", task.id);
    let command = ctx.agent_command(&agent, copy.path.clone(), &agent_name);
    let (client, mut events) = AcpClient::spawn(command, ctx.client_options())
        .await
        .map_err(|e| e.to_string())?;
    // The agent leads its own process group; remembered so that a restart
    // can stop what it leaves behind (see `leftovers`).
    if let Some(pgid) = client.pid() {
        let id = task.id.clone();
        let _ = ctx.db.call(move |s| s.set_attempt_agent(&id, pgid)).await;
    }
    let live = |live: Live| {
        let task = task.id.clone();
        let _ = tx.send(match live {
            Live::Activity(text) => WorkerMessage::Activity { task, text },
            Live::Sign(sign) => WorkerMessage::Sign { task, sign },
            Live::Transcript(entry) => WorkerMessage::Transcript { task, entry },
            Live::Usage(usage) => WorkerMessage::Usage { task, usage },
        });
    };
    let mut record = RunRecord::new(
        ctx,
        &task.id,
        (RunKind::Worker, attempt),
        reply_file(&ctx.layout.logs(), &task.id, attempt),
        &live,
    );
    let result = drive(
        ctx,
        &client,
        &mut events,
        &agent,
        &task,
        role.as_ref(),
        &copy.path,
        &turns,
        cancel,
        &mut record,
    )
    .await;
    let reply = record.into_reply();
    client.shutdown().await;
    crate::sandbox::remove_agent_tmp(ctx, &agent_name);
    if result.is_err() {
        keep_last_words(ctx, &task.id, attempt, &reply).await;
    }
    result?;

    // The output: the [OUTPUT] block, else what the worker reported.
    let output = match reply.output() {
        Some(output) => Some(output),
        None => {
            let id = task.id.clone();
            ctx.db
                .call(move |s| Ok(s.task(&id)?.and_then(|t| t.output)))
                .await
                .map_err(|e| e.to_string())?
        }
    };
    if let Some(output) = &output {
        let (id, text) = (task.id.clone(), output.clone());
        ctx.db
            .call(move |s| s.set_output(&id, &text))
            .await
            .map_err(|e| e.to_string())?;
    }

    let copy_path = copy.path.clone();
    if role.as_ref().map(|r| r.output) == Some(OutputMode::Artifact) {
        let target = ctx
            .layout
            .artifacts()
            .join(&task.execution_id)
            .join(format!("{}.md", task.step_id));
        let fallback = match output {
            Some(output) => Fallback::Output(output),
            None => Fallback::Reply(reply),
        };
        let git = ctx.git.clone();
        tokio::task::spawn_blocking(move || save_artifact(&git, &copy_path, &target, &fallback))
            .await
            .map_err(|e| e.to_string())??;
        discard_copy(ctx, &copy.path, &copy.branch).await;
        return Ok(WorkResult::Artifact);
    }
    let message = ctx.commit_message(&task.title, &task.id, task.round);
    let (git, base, branch) = (ctx.git.clone(), base_branch.clone(), copy.branch.clone());
    // Whether there is work to land is what the branch holds beyond the
    // base, not whether this attempt made a commit: a task retried after a
    // failed merge reuses a copy whose branch already has its commit.
    // Work the worker committed away from its branch is brought onto it.
    let (reused, started_at) = (copy.reused, copy.base_commit.clone());
    let committed = tokio::task::spawn_blocking(move || {
        let gathered = commit_work(&git, &copy_path, &branch, &branches_before, &message)?;
        // A commit made now is work to land (the queue finds out if the
        // base holds it already); a fresh copy whose branch never moved has
        // none; anything else is asked of git.
        let changed = gathered.commit.is_some()
            || ((reused
                || gathered.moved_from.is_some()
                || git.ref_commit(&format!("refs/heads/{branch}"))? != started_at)
                && branch_adds_to(&git, &base, &branch)?);
        Ok::<_, GatherError>((gathered, changed))
    })
    .await
    .map_err(|e| e.to_string())?;
    let (gathered, changed) = match committed {
        Ok(done) => done,
        Err(GatherError::Elsewhere(why)) => return Err(why.into()),
        Err(GatherError::Git(e)) => return Err(format!("committing the work: {e}").into()),
    };
    if gathered.moved_from.is_some() || !gathered.removed.is_empty() {
        let (id, data) = (
            task.id.clone(),
            serde_json::json!({"found_on": gathered.moved_from, "branches_removed": gathered.removed}),
        );
        if let Err(e) = ctx
            .db
            .call(move |s| s.append_task_event(&id, "work_gathered", &data))
            .await
        {
            tracing::warn!("cannot record where the worker's work was found: {e}");
        }
    }
    enki_failpoint::crash_point!("worker:committed");
    if !changed {
        // Nothing to land: the copy and branch have served their purpose.
        discard_copy(ctx, &copy.path, &copy.branch).await;
        crate::merge::remove_scratches(ctx, &task.id, None).await;
        return Ok(WorkResult::NoChanges);
    }
    Ok(WorkResult::Changes)
}

/// How much of its reply a failed or stopped attempt keeps (characters).
const LAST_WORDS_KEPT: usize = 600;

/// A failed or stopped attempt keeps the end of what its agent said in its
/// history.
async fn keep_last_words(ctx: &Shared, task: &str, attempt: i64, reply: &Reply) {
    if reply.is_empty() {
        return;
    }
    let (id, words) = (task.to_string(), reply.last_words(LAST_WORDS_KEPT));
    if let Err(e) = ctx
        .db
        .call(move |s| s.set_attempt_last_message(&id, attempt, &words))
        .await
    {
        tracing::warn!(task, "cannot keep what the agent said last: {e}");
    }
}

/// Removes a copy and its branch once the task needs no merge.
async fn discard_copy(ctx: &Shared, path: &Path, branch: &str) {
    let (git, path, branch) = (ctx.git.clone(), path.to_path_buf(), branch.to_string());
    let removed = tokio::task::spawn_blocking(move || {
        enki_workspace::remove_copy(&git, &path, Some(&branch))
    })
    .await;
    if let Ok(Err(e)) = removed {
        tracing::warn!("could not remove a finished copy: {e}");
    }
}

/// What an artifact is when the worker wrote no `ARTIFACT.md`.
enum Fallback {
    Output(String),
    Reply(Reply),
}

/// Writes the artifact (the worker's `ARTIFACT.md`, else its output, else
/// its whole reply) and discards every other edit in the copy.
fn save_artifact(
    project: &Git,
    copy: &Path,
    target: &PathBuf,
    fallback: &Fallback,
) -> Result<(), String> {
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| format!("creating {}: {e}", parent.display()))?;
    }
    let written = copy.join(ARTIFACT_FILE);
    let saved = if written.is_file() {
        std::fs::copy(&written, target).map(|_| ())
    } else {
        match fallback {
            Fallback::Output(output) => std::fs::write(target, output),
            Fallback::Reply(reply) => reply.save_to(target),
        }
    };
    saved.map_err(|e| format!("writing {}: {e}", target.display()))?;
    let git = project.worktree(copy).map_err(|e| e.to_string())?;
    git.run(&["reset", "--hard", "--quiet"])
        .map_err(|e| e.to_string())?;
    git.run(&["clean", "-fd", "--quiet"])
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// The turn a worker is given: `continued` when its earlier session is
/// taken up, else `fresh`.
struct Turns<'a> {
    fresh: String,
    continued: String,
    earlier: Option<&'a TakeUp>,
}

/// Handshake, session, prompt; streams updates into the task's log and the
/// agent's text into `reply` until the turn ends.
#[allow(clippy::too_many_arguments)]
async fn drive(
    ctx: &Shared,
    client: &AcpClient,
    events: &mut mpsc::UnboundedReceiver<AgentEvent>,
    agent: &ResolvedAgent,
    task: &TaskRow,
    role: Option<&Role>,
    copy: &Path,
    turns: &Turns<'_>,
    cancel: &mut watch::Receiver<bool>,
    record: &mut RunRecord<'_>,
) -> Result<(), Failure> {
    let who = McpIdentity {
        role: "worker",
        task_id: Some(task.id.clone()),
        no_edit: role.is_some_and(|r| !r.can_edit),
    };
    let spec = ctx.session_spec(AgentRole::Worker, agent, copy);
    let mcp = |init: InitializeResult| async move { ctx.agent_mcp(agent, &init, who).await };
    let earlier = turns.earlier.map(TakeUp::session);
    let opened = continue_or_start_session(client, &spec, earlier, mcp, &|_| {})
        .await
        .map_err(|e| {
            Failure::of_agent(agent, e.limit(crate::holds::unix_now_ms()), e.to_string())
        })?;
    continuation::record_session(ctx, &task.id, &agent.name, turns.earlier, &opened).await;
    record.opened(&agent.name, opened.model.clone()).await;
    // The agent has a session (kept by it across restarts) that has not seen the task yet.
    enki_failpoint::crash_point!("worker:session_opened");
    let session = opened.session_id.clone();
    let prompt = match opened.continued {
        Some(how) => {
            if how == Continuation::Load {
                // The replayed conversation is the earlier attempt's, already recorded.
                while events.try_recv().is_ok() {}
            }
            let doing = match turns.earlier {
                Some(TakeUp::FollowUp(_)) => "taking its follow-up in its session",
                _ => "continuing its session",
            };
            record.tell(Live::Activity(Some(doing.into())));
            &turns.continued
        }
        None => {
            record.tell(Live::Activity(Some("prompt sent".into())));
            &turns.fresh
        }
    };
    record.tell(Live::Sign(Sign::TurnStarted));

    let turn = client.prompt(&session, prompt);
    tokio::pin!(turn);
    let stop = loop {
        tokio::select! {
            result = &mut turn => break result,
            event = events.recv() => {
                let Some(event) = event else { continue };
                record.event(&event).await;
            }
            changed = cancel.changed() => {
                if changed.is_err() || *cancel.borrow() {
                    let _ = client.cancel(&session).await;
                    // What the agent said so far stays in the log, for the next attempt.
                    record.finish().await;
                    return Err(Failure::Failed("cancelled".into()));
                }
            }
        }
    };
    // Drain what arrived with the end of the turn.
    while let Ok(event) = events.try_recv() {
        record.event(&event).await;
    }
    record.finish().await;
    match stop {
        Ok(StopReason::EndTurn) => Ok(()),
        Ok(other) => Err(format!("the agent ended its turn with `{}`", other.as_str()).into()),
        Err(e) => Err(Failure::of_agent(
            agent,
            e.limit(crate::holds::unix_now_ms()),
            e.to_string(),
        )),
    }
}
