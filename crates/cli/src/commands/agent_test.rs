//! `enki agent-test [--agent NAME]`: one handshake and one prompt against an
//! agent, with the transcript printed, to check a new agent before a run.

use std::time::Duration;

use anyhow::Result;
use enki_acp::{AgentEvent, SessionUpdate};
use enki_config::AgentRole;

use super::agents::{enki_bin, find_program, load_config, program_missing, runtime, start_agent};
use super::print_text;

const DEFAULT_PROMPT: &str =
    "This is a connection test from enki. Reply with one short sentence saying hello.";

fn describe(event: &AgentEvent) -> Option<String> {
    match event {
        AgentEvent::Update { update, .. } => match update {
            SessionUpdate::AgentMessageChunk { text } => Some(format!("  message: {text}")),
            SessionUpdate::AgentThoughtChunk { text } => Some(format!("  thought: {text}")),
            SessionUpdate::ToolCall { title, status, .. } => Some(format!(
                "  tool call: {title} ({})",
                status.as_deref().unwrap_or("?")
            )),
            SessionUpdate::ToolCallUpdate { id, status, .. } => Some(format!(
                "  tool update: {id} {}",
                status.as_deref().unwrap_or("")
            )),
            SessionUpdate::Plan { entries } => Some(format!("  plan: {} entries", entries.len())),
            other => Some(format!("  update: {}", other.kind())),
        },
        AgentEvent::Permission {
            title, decision, ..
        } => Some(format!("  permission asked: {title} → {decision}")),
        AgentEvent::FsRead { path, allowed } => Some(format!(
            "  fs read {} ({})",
            path.display(),
            if *allowed { "served" } else { "refused" }
        )),
        AgentEvent::FsWrite { path, allowed } => Some(format!(
            "  fs write {} ({})",
            path.display(),
            if *allowed { "served" } else { "refused" }
        )),
        AgentEvent::ProtocolError(e) => Some(format!("  protocol error: {e}")),
        AgentEvent::Exited {
            status,
            stderr_tail,
        } => Some(format!(
            "  agent exited ({}){}",
            enki_acp::describe_status(*status),
            if stderr_tail.is_empty() {
                String::new()
            } else {
                format!("; stderr: {}", stderr_tail.join(" | "))
            }
        )),
    }
}

/// Returns whether the turn ended normally.
pub fn run(agent: Option<String>, prompt: Option<String>) -> Result<bool> {
    let (_, config) = load_config()?;
    let bin = enki_bin()?;
    let resolved = config.agent_for(AgentRole::Worker, None, agent.as_deref(), &bin);
    print_text(&format!(
        "agent {}: {}",
        resolved.name,
        resolved.command_line()
    ))?;
    if find_program(&resolved.program).is_none() {
        print_text(&format!("✘ {}", program_missing(&resolved.program)))?;
        return Ok(false);
    }
    let prompt = prompt.unwrap_or_else(|| DEFAULT_PROMPT.to_string());
    let scratch = tempfile::tempdir()?;
    let timeout = Duration::from_secs(config.agent.init_timeout_secs);
    let runtime = runtime()?;
    runtime.block_on(async {
        print_text("→ initialize (protocol 1; client offers fs read/write)")?;
        let (client, mut events, init) = match start_agent(&resolved, scratch.path(), timeout, config.sim.scripts.as_deref()).await {
            Ok(started) => started,
            Err(e) => {
                print_text(&format!("✘ {e}"))?;
                return Ok(false);
            }
        };
        print_text(&format!(
            "← protocol {}; auth methods: {}",
            init.protocol_version,
            if init.auth_methods.is_empty() {
                "none".to_string()
            } else {
                init.auth_methods.iter().map(|m| m.id.clone()).collect::<Vec<_>>().join(", ")
            }
        ))?;
        if let Some(method) = &config.agent.auth_method {
            print_text(&format!("→ authenticate {method}"))?;
            if let Err(e) = client.authenticate(method).await {
                print_text(&format!("✘ {e}"))?;
                client.shutdown().await;
                return Ok(false);
            }
        }
        print_text(&format!("→ session/new in {}", scratch.path().display()))?;
        let session = match client.new_session(scratch.path(), &[]).await {
            Ok(session) => session,
            Err(e) => {
                print_text(&format!("✘ {e}"))?;
                client.shutdown().await;
                return Ok(false);
            }
        };
        print_text(&format!("← session {session}"))?;
        print_text(&format!("→ session/prompt: {prompt}"))?;
        let turn = client.prompt(&session, &prompt);
        tokio::pin!(turn);
        let result = loop {
            tokio::select! {
                result = &mut turn => break result,
                event = events.recv() => if let Some(event) = event && let Some(line) = describe(&event) { print_text(&line)? },
            }
        };
        while let Ok(event) = events.try_recv() {
            if let Some(line) = describe(&event) {
                print_text(&line)?;
            }
        }
        client.shutdown().await;
        match result {
            Ok(stop) => {
                print_text(&format!("← stopReason {stop}"))?;
                Ok(stop.is_success())
            }
            Err(e) => {
                print_text(&format!("✘ {e}"))?;
                Ok(false)
            }
        }
    })
}
