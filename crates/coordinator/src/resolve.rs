//! Merger agents: a conflict is reproduced in a scratch worktree and the
//! configured merger agent resolves it there. enki then checks that no
//! conflict marker remains and commits the resolution as the squash commit.
//! Each merger run is recorded as a worker's attempt is (see `record`).

use std::fmt::Write;
use std::path::Path;
use std::time::Duration;

use enki_acp::{AcpClient, InitializeResult};
use enki_config::AgentRole;
use enki_core::limits::AgentLimit;
use enki_store::MergeRequestRow;
use enki_workspace::{
    commit_resolution, files_with_markers, scratch_worktree, start_conflicted_merge,
};
use tokio::sync::mpsc;

use crate::McpIdentity;
use crate::context::Shared;
use crate::merge::MergeMessage;
use crate::record::{Live, RunKind, RunRecord};
use crate::reply::reply_file;
use crate::session::start_session;

/// Why a merger did not resolve a conflict.
#[derive(Debug)]
pub enum Unresolved {
    /// It failed, in words: the request ends conflicted.
    Failed(String),
    /// Its agent's account met a limit (at `session/new` or in its turn):
    /// not the merge's fault, which waits for the reset.
    Limited { agent: String, limit: AgentLimit },
}

impl From<String> for Unresolved {
    fn from(reason: String) -> Unresolved {
        Unresolved::Failed(reason)
    }
}

impl Unresolved {
    /// An error of the merger's agent: a limit of its account when it
    /// reports one, else a failure in `words`.
    fn of_agent(agent: &str, limit: Option<AgentLimit>, words: String) -> Unresolved {
        match limit {
            Some(limit) => Unresolved::Limited {
                agent: agent.to_string(),
                limit,
            },
            None => Unresolved::Failed(words),
        }
    }
}

/// What the merger is told about each side.
struct Intent {
    title: String,
    description: String,
    output: Option<String>,
}

async fn intent_of(ctx: &Shared, task_id: &str) -> Option<Intent> {
    let id = task_id.to_string();
    ctx.db
        .call(move |s| {
            Ok(s.task(&id)?.map(|t| Intent {
                title: t.title,
                description: t.description,
                output: t.output,
            }))
        })
        .await
        .ok()
        .flatten()
}

fn clip(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}\n… ({} more bytes)", &text[..end], text.len() - end)
}

/// Builds the merger's prompt: the files, both sides' intent and diffs.
async fn merger_prompt(
    ctx: &Shared,
    task_id: &str,
    base_tip: &str,
    branch: &str,
    files: &[String],
) -> String {
    let git = ctx.git.clone();
    let (base, branch_name, tip) = (
        base_tip.to_string(),
        branch.to_string(),
        base_tip.to_string(),
    );
    let files_owned = files.to_vec();
    let facts = tokio::task::spawn_blocking(move || {
        let fork = git
            .run(&["merge-base", &base, &branch_name])
            .unwrap_or_default();
        let landed = git
            .run(&["log", "--format=%s", &format!("{fork}..{tip}")])
            .unwrap_or_default();
        let mut ours = vec![
            "diff".to_string(),
            fork.clone(),
            branch_name.clone(),
            "--".into(),
        ];
        ours.extend(files_owned.iter().cloned());
        let mut theirs = vec!["diff".to_string(), fork.clone(), tip.clone(), "--".into()];
        theirs.extend(files_owned.iter().cloned());
        let ours: Vec<&str> = ours.iter().map(String::as_str).collect();
        let theirs: Vec<&str> = theirs.iter().map(String::as_str).collect();
        (
            landed,
            git.run(&ours).unwrap_or_default(),
            git.run(&theirs).unwrap_or_default(),
        )
    })
    .await
    .unwrap_or_default();
    let (landed, this_diff, other_diff) = facts;

    let mut p = String::new();
    let _ = writeln!(
        p,
        "You are enki's merger. Two pieces of work changed the same lines. Resolve the merge conflicts in \
this working copy so that BOTH sides' intent is kept, remove every conflict marker (<<<<<<<, =======, >>>>>>>), \
and leave the files ready to commit. Do not commit; enki commits when you finish.\n"
    );
    let _ = writeln!(p, "Conflicted files:");
    for file in files {
        let _ = writeln!(p, "- {file}");
    }
    if let Some(this) = intent_of(ctx, task_id).await {
        let _ = writeln!(
            p,
            "\n# This side: {} ({task_id})\n{}",
            this.title,
            this.description.trim()
        );
        if let Some(output) = this.output {
            let _ = writeln!(p, "Its worker reported: {}", output.trim());
        }
    }
    let _ = writeln!(
        p,
        "\n# The other side: work that landed on the base meanwhile"
    );
    for subject in landed.lines().take(20) {
        let _ = writeln!(p, "- {subject}");
        if let Some(start) = subject.rfind("(task-")
            && let Some(end) = subject[start..].find(')')
        {
            let other = &subject[start + 1..start + end];
            if let Some(intent) = intent_of(ctx, other).await {
                let _ = writeln!(p, "  {}", intent.description.trim().replace('\n', "\n  "));
                if let Some(output) = intent.output {
                    let _ = writeln!(p, "  Its worker reported: {}", output.trim());
                }
            }
        }
    }
    let _ = writeln!(
        p,
        "\n# This side's changes\n```diff\n{}\n```",
        clip(&this_diff, 12_000)
    );
    let _ = writeln!(
        p,
        "\n# The other side's changes\n```diff\n{}\n```",
        clip(&other_diff, 12_000)
    );
    let _ = writeln!(
        p,
        "\nWhen done, end your reply with [OUTPUT]how you resolved it[/OUTPUT]."
    );
    p
}

/// Resolves the conflict of `request` with the merger agent. Returns the
/// squash commit of the resolved merge (its worktree stays at `worktree`),
/// or why it did not. The run is recorded like a worker's attempt: a
/// `merger_runs` row with its outcome (`resolved`, `failed`, or `limited`
/// when its agent met a limit of its account) and `[OUTPUT]`, its events in
/// the task's log, its transcript live on `tx`.
pub async fn resolve_conflict(
    ctx: &Shared,
    request: &MergeRequestRow,
    base_tip: &str,
    message: &str,
    worktree: &Path,
    tx: &mpsc::UnboundedSender<MergeMessage>,
) -> Result<String, Unresolved> {
    let task_id = request.task_id.as_str();
    let (git, path, tip) = (
        ctx.git.clone(),
        worktree.to_path_buf(),
        base_tip.to_string(),
    );
    let branch = request.branch.clone();
    // A merger that a dead coordinator left working here (possible only
    // without a PID namespace to contain it) is stopped before the folder
    // is made anew for the next one.
    let id = task_id.to_string();
    if let Ok(Some(pgid)) = ctx.db.call(move |s| s.open_merger_agent(&id)).await {
        let stopped = crate::leftovers::stop_leftover_group(pgid, worktree);
        if stopped > 0 {
            tracing::warn!(task = %task_id, stopped, "stopped what an interrupted merger left running");
        }
    }
    let files = tokio::task::spawn_blocking(move || {
        scratch_worktree(&git, &path, &tip, true)?;
        start_conflicted_merge(&git, &path, &branch)
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| format!("reproducing the conflict: {e}"))?;
    if files.is_empty() {
        return Err(Unresolved::Failed(
            "git reported a conflict but no file is unmerged".into(),
        ));
    }
    let (id, request_id, conflicted) = (task_id.to_string(), request.id.clone(), files.clone());
    let run = ctx
        .db
        .call(move |s| s.start_merger_run(&id, &request_id, &conflicted))
        .await
        .map_err(|e| format!("recording the merger's run: {e}"))?;
    enki_failpoint::crash_point!("merger:started");
    let _ = tx.send(MergeMessage::MergerStarted {
        task: task_id.to_string(),
        run,
        files: files.clone(),
    });
    let live = |live: Live| {
        let task = task_id.to_string();
        let _ = tx.send(match live {
            // A merger's liveness is not judged: its time limit bounds it.
            Live::Sign(_) => return,
            Live::Activity(text) => MergeMessage::MergerActivity { task, text },
            Live::Transcript(entry) => MergeMessage::MergerTranscript { task, entry },
            Live::Usage(usage) => MergeMessage::MergerUsage { task, usage },
        });
    };
    let reply_name = format!("{task_id}-merger");
    let mut record = RunRecord::new(
        ctx,
        task_id,
        (RunKind::Merger, run),
        reply_file(&ctx.layout.logs(), &reply_name, run),
        &live,
    );
    let prompt = merger_prompt(ctx, task_id, base_tip, &request.branch, &files).await;
    let result = match run_merger(ctx, task_id, run, worktree, &prompt, &mut record).await {
        Ok(()) => commit_if_resolved(ctx, worktree, files, base_tip, message)
            .await
            .map_err(Unresolved::Failed),
        Err(e) => Err(e),
    };
    let output = record.reply().output();
    let (outcome, error) = match &result {
        Ok(_) => ("resolved", None),
        Err(Unresolved::Failed(reason)) => ("failed", Some(reason.clone())),
        Err(Unresolved::Limited { limit, .. }) => ("limited", Some(limit.message.clone())),
    };
    let id = task_id.to_string();
    if let Err(e) = ctx
        .db
        .call(move |s| s.end_merger_run(&id, run, outcome, error.as_deref(), output.as_deref()))
        .await
    {
        tracing::error!(task = %task_id, "recording the end of merger run {run}: {e}");
    }
    result
}

/// The merger's turn in `worktree`, every event recorded; `Err` says why
/// it did not end well.
async fn run_merger(
    ctx: &Shared,
    task_id: &str,
    run: i64,
    worktree: &Path,
    prompt: &str,
    record: &mut RunRecord<'_>,
) -> Result<(), Unresolved> {
    let agent = ctx.agent(AgentRole::Merger, None, None);
    let agent_name = format!("merger-{task_id}");
    let command = ctx.agent_command(&agent, worktree.to_path_buf(), &agent_name);
    let (client, mut events) = AcpClient::spawn(command, ctx.client_options())
        .await
        .map_err(|e| format!("the merger agent ({}) did not start: {e}", agent.name))?;
    // Remembered so that a restart can stop what it leaves behind.
    if let Some(pgid) = client.pid() {
        let id = task_id.to_string();
        let _ = ctx
            .db
            .call(move |s| s.set_merger_agent(&id, run, pgid))
            .await;
    }
    let limit = Duration::from_secs(ctx.config.merge.resolve_timeout_secs);
    let turn = async {
        let spec = ctx.session_spec(AgentRole::Merger, &agent, worktree);
        let who = McpIdentity {
            role: "merger",
            task_id: Some(task_id.to_string()),
            no_edit: false,
        };
        let (host, agent_ref) = (&ctx, &agent);
        let mcp =
            |init: InitializeResult| async move { host.agent_mcp(agent_ref, &init, who).await };
        let opened = start_session(&client, &spec, mcp, &|_| {})
            .await
            .map_err(|e| {
                let words = format!("the merger failed: {e}");
                Unresolved::of_agent(&agent.name, e.limit(crate::holds::unix_now_ms()), words)
            })?;
        record.opened(&agent.name, opened.model.clone()).await;
        record.tell(Live::Activity(Some("prompt sent".into())));
        let session = opened.session_id.clone();
        let prompt_turn = client.prompt(&session, prompt);
        tokio::pin!(prompt_turn);
        loop {
            tokio::select! {
                result = &mut prompt_turn => break result.map_err(|e| {
                    let words = format!("the merger failed: {e}");
                    Unresolved::of_agent(&agent.name, e.limit(crate::holds::unix_now_ms()), words)
                }),
                event = events.recv() => {
                    if let Some(event) = event {
                        record.event(&event).await;
                    }
                }
            }
        }
    };
    let outcome = tokio::time::timeout(limit, turn).await;
    // What arrived with the end of the turn (or before the time ran out).
    while let Ok(event) = events.try_recv() {
        record.event(&event).await;
    }
    record.finish().await;
    client.shutdown().await;
    crate::sandbox::remove_agent_tmp(ctx, &agent_name);
    match outcome {
        Err(_) => Err(format!("the merger did not finish within {} s", limit.as_secs()).into()),
        Ok(Err(e)) => Err(e),
        Ok(Ok(stop)) if !stop.is_success() => {
            Err(format!("the merger ended its turn with `{}`", stop.as_str()).into())
        }
        Ok(Ok(_)) => Ok(()),
    }
}

/// Commits the merger's resolution as the squash commit, unless a conflict
/// marker is left.
async fn commit_if_resolved(
    ctx: &Shared,
    worktree: &Path,
    files: Vec<String>,
    base_tip: &str,
    message: &str,
) -> Result<String, String> {
    let (git, path, message, tip) = (
        ctx.git.clone(),
        worktree.to_path_buf(),
        message.to_string(),
        base_tip.to_string(),
    );
    tokio::task::spawn_blocking(move || {
        let left = files_with_markers(&path, &files);
        if !left.is_empty() {
            return Err(format!(
                "the merger left conflict markers in: {}",
                left.join(", ")
            ));
        }
        commit_resolution(&git, &path, &tip, &message)
            .map_err(|e| format!("committing the resolution: {e}"))
    })
    .await
    .map_err(|e| e.to_string())?
}
