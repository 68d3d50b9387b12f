//! The planner session: one agent with the planner's MCP tools, prompted by
//! the user's request and then by batches of events between its turns.
//!
//! A limit of the agent's account (met opening the session or in a turn)
//! never fails the planner: the hold is recorded and announced, the session
//! waits for the reset (keeping the prompts that arrive meanwhile) and the
//! turn is tried again, told that it was interrupted.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use enki_acp::{
    AcpClient, AcpError, AgentEvent, InitializeResult, PermissionDecision, SessionUpdate,
    StopReason,
};
use enki_config::{AgentRole, ResolvedAgent};
use enki_core::limits::{AgentLimit, Hold};
use tokio::sync::mpsc;

use crate::McpIdentity;
use crate::context::Shared;
use crate::holds::{time_left, unix_now_ms};
use crate::mcp_host::Grant;
use crate::session::{Opened, continue_or_start_session};
use crate::usage::{Meter, Run};

#[derive(Debug)]
pub enum PlannerMessage {
    /// The planner is ready for prompts.
    Ready,
    /// A piece of the planner's current message.
    Text(String),
    /// The current message ended (something else happened after its
    /// text): the next text is a new message.
    MessageEnd,
    Tool(String),
    /// A tool call that ended `failed`, with what the agent was told.
    ToolFailed {
        title: String,
        reason: String,
    },
    /// A permission request that was not allowed, and why.
    Refused {
        title: String,
        decision: PermissionDecision,
        reason: String,
    },
    /// A turn ended (with the stop reason, or the error).
    TurnEnded(Result<StopReason, String>),
    /// What the planner has used so far changed.
    Usage(enki_core::usage::RunUsage),
    /// The planner's agent is held for a limit of its account (met now,
    /// recorded, or met by another role of the same agent): the session
    /// waits until `until_ms` and then tries its turn again.
    Held(Hold),
    /// The planner could not start or died; no more turns.
    Gone(String),
}

/// Said before a prompt whose earlier try a limit of the account ended.
const TRIED_AGAIN: &str = "Your account's rate limit or usage limit (it has reset since) ended your previous \
turn before it finished. Go on with what you were asked; what you did in that turn stands, so check with \
enki_status before doing anything again.";

/// The planner's standing instructions, sent with the first prompt.
pub fn system_prompt(ctx: &Shared) -> String {
    let roles: Vec<String> = ctx
        .roles
        .iter()
        .map(|r| {
            format!(
                "- `{}`: {}{}",
                r.name,
                r.description,
                if r.can_edit {
                    ""
                } else {
                    " (read-only, produces an artifact)"
                }
            )
        })
        .collect();
    instructions(&roles)
}

/// The instructions around the list of roles (one line each).
fn instructions(roles: &[String]) -> String {
    format!(
        "You are the planner of enki, a coordinator that runs coding agents (workers) in parallel, each in its \
own copy of this project, and merges their work in dependency order.\n\n\
Turn the user's request into work with the enki MCP tools: enki_execution_create for several steps (each \
step has an id, a title, a description with acceptance criteria, an optional tier light|standard|heavy and \
role, `needs` naming earlier steps with condition merged (default), completed or started, and `checkpoint` \
to pause for your review), or enki_task_create for one task. Workers only see their own step, the outputs \
of the steps they need and the artifacts, so make descriptions self-contained.\n\n\
Roles:\n{}\n\n\
Follow progress with enki_status, enki_task_list, enki_dag and enki_task_show; steer with enki_pause, \
enki_resume, enki_cancel, enki_task_retry and enki_execution_add_steps; enki_stop_all stops every worker \
and pauses everything (nothing is lost; enki_resume continues). Between your turns enki sends you what \
happened (tasks finished or failed, checkpoints, mail to `coordinator`). Workers and the user write to \
you by mail: enki_mail_check and enki_mail_inbox list it, enki_mail_read opens a message, enki_mail_reply \
answers it, enki_mail_thread shows a conversation, and enki_mail_send writes to `worker/<task id>`, \
`@workers` (every running worker) or `user`. When everything is done, say so briefly.",
        roles.join("\n")
    )
}

/// Earlier messages given to a planner that could not take its earlier
/// session up, at most.
const RECAP_MESSAGES: usize = 40;
/// The longest recap, in bytes (the newest messages are kept).
const RECAP_MAX: usize = 24 * 1024;

/// Starts the planner agent in the project root and serves prompts until
/// `prompts` closes. With `continuing`, the planner takes up its session of
/// the latest earlier enki session, or, when its agent cannot, is told the
/// earlier conversation in its first prompt.
pub async fn run_planner(
    ctx: Shared,
    continuing: bool,
    mut prompts: mpsc::UnboundedReceiver<String>,
    tx: mpsc::UnboundedSender<PlannerMessage>,
) {
    let agent = ctx.agent(AgentRole::Coordinator, None, None);
    // Prompts that came while the session waited for a limit's reset.
    let mut waiting = VecDeque::new();
    let (client, mut events, opened) = loop {
        if let Some(hold) = ctx.running_hold(&agent.name) {
            let _ = tx.send(PlannerMessage::Held(hold));
            if !wait_out(&ctx, &agent.name, &mut prompts, &mut waiting).await {
                return;
            }
        }
        match open(&ctx, &agent, continuing).await {
            Ok(started) => break started,
            // Announced and waited out at the top of the loop.
            Err(NotOpened::Limited(limit)) => {
                ctx.hold_agent(&agent.name, &limit).await;
            }
            Err(NotOpened::Failed(reason)) => {
                let _ = tx.send(PlannerMessage::Gone(reason));
                return;
            }
        }
    };
    let session = opened.session_id.clone();
    keep_planner_session(&ctx, &agent.name, &session).await;
    // A taken-up session's history, replayed by `session/load`, was shown
    // and kept already.
    while events.try_recv().is_ok() {}
    let mut recap = if continuing && opened.continued.is_none() {
        recap(&ctx).await
    } else {
        None
    };
    let mut meter = Meter::new(Run::Planner);
    meter.opened(&ctx, &agent.name, opened.model.clone()).await;
    let _ = tx.send(PlannerMessage::Ready);
    let limit = Duration::from_secs(ctx.config.agent.planner_turn_timeout_secs);
    let mut titles = HashMap::new();
    let mut in_message = false;
    loop {
        let text = match waiting.pop_front() {
            Some(text) => text,
            None => match prompts.recv().await {
                Some(text) => text,
                None => break,
            },
        };
        let asked = match recap.take() {
            Some(recap) => format!("{recap}\n\n{text}"),
            None => text,
        };
        let mut text = asked.clone();
        let result = loop {
            if let Some(hold) = ctx.running_hold(&agent.name) {
                let _ = tx.send(PlannerMessage::Held(hold));
                if !wait_out(&ctx, &agent.name, &mut prompts, &mut waiting).await {
                    client.shutdown().await;
                    return;
                }
            }
            let result = {
                let turn = client.prompt_within(&session, &text, limit);
                tokio::pin!(turn);
                loop {
                    tokio::select! {
                        result = &mut turn => break result,
                        event = events.recv() => if let Some(event) = event {
                            if meter.observe(&ctx, &event).await {
                                let _ = tx.send(PlannerMessage::Usage(meter.usage().clone()));
                            }
                            forward(&event, &mut titles, &mut in_message, &tx);
                        },
                    }
                }
            };
            while let Ok(event) = events.try_recv() {
                if meter.observe(&ctx, &event).await {
                    let _ = tx.send(PlannerMessage::Usage(meter.usage().clone()));
                }
                forward(&event, &mut titles, &mut in_message, &tx);
            }
            if std::mem::take(&mut in_message) {
                let _ = tx.send(PlannerMessage::MessageEnd);
            }
            match result.as_ref().err().and_then(|e| e.limit(unix_now_ms())) {
                // Announced and waited out at the top of the loop.
                Some(account) => {
                    ctx.hold_agent(&agent.name, &account).await;
                    text = format!("{TRIED_AGAIN}\n\n{asked}");
                }
                None => break result,
            }
        };
        let gone = match &result {
            Err(AcpError::Exited { .. }) => Some("the planner agent exited".to_string()),
            Err(AcpError::TurnTimeout { stopped: false, .. }) => {
                Some("the planner agent did not stop when its turn was cancelled".to_string())
            }
            _ => None,
        };
        let _ = tx.send(PlannerMessage::TurnEnded(
            result.map_err(|e| turn_error(&e, limit)),
        ));
        if let Some(reason) = gone {
            let _ = tx.send(PlannerMessage::Gone(reason));
            break;
        }
    }
    client.shutdown().await;
}

/// Why the planner's session did not open.
enum NotOpened {
    /// A limit of the agent's account: it is opened again after the reset.
    Limited(AgentLimit),
    /// Anything else, in words: the planner is gone.
    Failed(String),
}

type Started = (
    AcpClient,
    mpsc::UnboundedReceiver<AgentEvent>,
    Opened<Option<Grant>>,
);

/// Starts the planner's agent in the project root and opens its session
/// (taking up its earlier one when `continuing` and the agent can).
async fn open(ctx: &Shared, agent: &ResolvedAgent, continuing: bool) -> Result<Started, NotOpened> {
    let command = ctx.agent_command(agent, ctx.project_root.clone(), "planner");
    let (client, events) = AcpClient::spawn(command, ctx.planner_client_options())
        .await
        .map_err(|e| {
            NotOpened::Failed(format!(
                "the planner agent ({}) did not start: {e}",
                agent.name
            ))
        })?;
    let spec = ctx.session_spec(AgentRole::Coordinator, agent, &ctx.project_root);
    let who = McpIdentity {
        role: "planner",
        task_id: None,
        no_edit: false,
    };
    let mcp = |init: InitializeResult| async move { ctx.agent_mcp(agent, &init, who).await };
    let earlier = if continuing {
        earlier_planner_session(ctx, &agent.name).await
    } else {
        None
    };
    match continue_or_start_session(&client, &spec, earlier.as_deref(), mcp, &|_| {}).await {
        Ok(opened) => Ok((client, events, opened)),
        Err(e) => {
            client.shutdown().await;
            Err(match e.limit(unix_now_ms()) {
                Some(limit) => NotOpened::Limited(limit),
                None => NotOpened::Failed(format!(
                    "the planner agent ({}) did not start: {e}",
                    agent.name
                )),
            })
        }
    }
}

/// Waits until the planner's agent is held no more (another limit may
/// extend its hold meanwhile), keeping the prompts that arrive for later.
/// `false` when the session is to end: its prompts closed.
async fn wait_out(
    ctx: &Shared,
    agent: &str,
    prompts: &mut mpsc::UnboundedReceiver<String>,
    waiting: &mut VecDeque<String>,
) -> bool {
    while let Some(hold) = ctx.running_hold(agent) {
        let reset = tokio::time::sleep(time_left(&hold));
        tokio::pin!(reset);
        loop {
            tokio::select! {
                _ = &mut reset => break,
                prompt = prompts.recv() => match prompt {
                    Some(text) => waiting.push_back(text),
                    None => return false,
                },
            }
        }
    }
    true
}

/// Why a planner turn failed, in the words a user acts on.
fn turn_error(error: &AcpError, limit: Duration) -> String {
    match error {
        AcpError::TurnTimeout { .. } => format!(
            "it took longer than {} s and was cancelled ([agent.coordinator] turn_timeout_secs in enki.toml sets the limit)",
            limit.as_secs()
        ),
        other => other.to_string(),
    }
}

/// The ACP session the planner ran in last time, when the same agent ran it.
async fn earlier_planner_session(ctx: &Shared, agent: &str) -> Option<String> {
    let (session, agent) = (ctx.session_id.clone(), agent.to_string());
    match ctx
        .db
        .call(move |s| s.earlier_planner_session(&session, &agent))
        .await
    {
        Ok(found) => found,
        Err(e) => {
            tracing::warn!("cannot read the planner's earlier session: {e}");
            None
        }
    }
}

/// Keeps the planner's ACP session, so that the next start can take it up.
async fn keep_planner_session(ctx: &Shared, agent: &str, acp_session: &str) {
    let (session, agent, acp_session) = (
        ctx.session_id.clone(),
        agent.to_string(),
        acp_session.to_string(),
    );
    let kept = ctx
        .db
        .call(move |s| s.keep_planner_session(&session, &agent, &acp_session))
        .await;
    if let Err(e) = kept {
        tracing::warn!("cannot keep the planner's session: {e}");
    }
}

/// The earlier sessions' conversation, for a planner that could not take
/// its own session up (a new agent, or one that cannot continue sessions).
async fn recap(ctx: &Shared) -> Option<String> {
    let session = ctx.session_id.clone();
    let rows = match ctx
        .db
        .call(move |s| s.earlier_chat(&session, RECAP_MESSAGES))
        .await
    {
        Ok(rows) => rows,
        Err(e) => {
            tracing::warn!("cannot read the earlier chat: {e}");
            return None;
        }
    };
    recap_text(&rows)
}

/// The recap's text: the newest messages that fit in [`RECAP_MAX`], oldest
/// first.
fn recap_text(rows: &[enki_store::ChatRow]) -> Option<String> {
    let mut lines = Vec::new();
    let mut size = 0;
    for row in rows.iter().rev() {
        let who = match row.speaker {
            enki_store::Speaker::User => "user",
            enki_store::Speaker::Planner => "you",
        };
        let line = format!("{who}: {}", row.text.trim());
        size += line.len() + 1;
        if size > RECAP_MAX && !lines.is_empty() {
            break;
        }
        lines.push(line);
    }
    if lines.is_empty() {
        return None;
    }
    lines.reverse();
    Some(format!(
        "# The conversation so far\n\nenki was restarted and your earlier session could not be taken up; \
this is what the user and you said before (oldest first):\n\n{}",
        lines.join("\n")
    ))
}

/// Passes on what the user and the run's outcome need: the planner's text
/// (each message ended by what follows it), its tool calls, the calls that
/// failed and the permissions refused.
fn forward(
    event: &AgentEvent,
    titles: &mut HashMap<String, String>,
    in_message: &mut bool,
    tx: &mpsc::UnboundedSender<PlannerMessage>,
) {
    let texts = matches!(
        event,
        AgentEvent::Update {
            update: SessionUpdate::AgentMessageChunk { .. },
            ..
        }
    );
    if texts {
        *in_message = true;
    } else if *in_message && crate::record::ends_a_message(event) {
        *in_message = false;
        let _ = tx.send(PlannerMessage::MessageEnd);
    }
    let message = match event {
        AgentEvent::Update { update, .. } => match update {
            SessionUpdate::AgentMessageChunk { text } => PlannerMessage::Text(text.clone()),
            SessionUpdate::ToolCall {
                id,
                title,
                status,
                raw,
                ..
            } => {
                titles.insert(id.clone(), title.clone());
                if status.as_deref() == Some("failed") {
                    let _ = tx.send(PlannerMessage::Tool(title.clone()));
                    PlannerMessage::ToolFailed {
                        title: title.clone(),
                        reason: enki_acp::tool_call_text(raw).unwrap_or_default(),
                    }
                } else {
                    PlannerMessage::Tool(title.clone())
                }
            }
            SessionUpdate::ToolCallUpdate {
                id,
                title,
                status,
                raw,
            } if status.as_deref() == Some("failed") => PlannerMessage::ToolFailed {
                title: title
                    .clone()
                    .or_else(|| titles.get(id).cloned())
                    .unwrap_or_else(|| "a tool call".into()),
                reason: enki_acp::tool_call_text(raw).unwrap_or_default(),
            },
            _ => return,
        },
        AgentEvent::Permission {
            title,
            decision,
            reason,
            ..
        } if !decision.is_allowed() => PlannerMessage::Refused {
            title: title.clone(),
            decision: *decision,
            reason: reason.clone(),
        },
        _ => return,
    };
    let _ = tx.send(message);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(speaker: enki_store::Speaker, text: &str) -> enki_store::ChatRow {
        enki_store::ChatRow {
            session_id: "s1".into(),
            at: "2026-12-07T10:00:00Z".into(),
            speaker,
            text: text.into(),
        }
    }

    #[test]
    fn a_recap_keeps_the_newest_messages_oldest_first() {
        use enki_store::Speaker::{Planner, User};
        assert_eq!(recap_text(&[]), None);
        let text = recap_text(&[row(User, "use postgres"), row(Planner, "Noted.\n")]).unwrap();
        assert!(text.ends_with("user: use postgres\nyou: Noted."), "{text}");
        let long = "x".repeat(RECAP_MAX);
        let text = recap_text(&[
            row(User, "the oldest"),
            row(User, &long),
            row(Planner, "last"),
        ])
        .unwrap();
        assert!(
            !text.contains("the oldest") && text.ends_with("you: last"),
            "{text}"
        );
    }

    #[test]
    fn the_instructions_name_every_planner_tool_and_the_roles() {
        let text = instructions(&["- `researcher`: reads and reports".to_string()]);
        for tool in enki_mcp::roles::PLANNER_TOOLS {
            assert!(text.contains(tool), "{tool} is not explained");
        }
        assert!(text.contains("- `researcher`: reads and reports"));
    }
}
