//! Running a turn: each step kind, reported to the client as ACP
//! `session/update` notifications.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::channel;
use std::time::Duration;

use enki_project::confine::confine_file;
use serde_json::{Value, json};

use crate::cancel::{Cancel, Wait};
use crate::mcp_client::McpError;
use crate::peer::{CallError, Peer};
use crate::script::{OnDeny, Step, StopReason};
use crate::servers::{Children, Servers};
use crate::template::{self, Vars};

/// What the client said it can do in `initialize`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientCaps {
    pub read_text_file: bool,
    pub write_text_file: bool,
}

/// Everything a turn needs.
pub struct TurnCtx<'a> {
    pub peer: &'a Peer,
    pub session_id: &'a str,
    pub cwd: &'a Path,
    pub prompt: &'a str,
    pub caps: ClientCaps,
    pub servers: &'a Servers,
    pub children: &'a Children,
    pub cancel: &'a Cancel,
    /// The session's mode when it is one in which the agent approves its
    /// own actions (permission steps then ask nothing).
    pub approves_itself: Option<&'a str>,
    /// The usage the session reported (`usage` steps).
    pub meter: &'a std::sync::Mutex<crate::usage::Meter>,
}

/// How a turn ended: a stop reason, or an error for the prompt request.
#[derive(Debug, Clone, PartialEq)]
pub enum TurnEnd {
    Stop(StopReason),
    Fail(String),
    /// An error of the agent's own shape (a `limit` step).
    Error(enki_jsonrpc::ErrorObject),
}

/// Why a step ends the turn early.
enum Abort {
    Stop(StopReason),
    Cancelled,
    Fail(String),
    Error(enki_jsonrpc::ErrorObject),
}

/// Longest command output kept for a `run` step's report.
const OUTPUT_TAIL_LINES: usize = 20;
const OUTPUT_TAIL_CHARS: usize = 2000;
/// Longest excerpt of a file echoed by a `read` step.
const READ_ECHO_CHARS: usize = 200;
/// How long a finished command's output readers are waited for (a
/// background grandchild may keep the pipes open).
const OUTPUT_GRACE: Duration = Duration::from_secs(2);

static NEXT_CALL: AtomicU64 = AtomicU64::new(1);

/// Runs the steps in order. A cancelled turn always ends with stop reason
/// `cancelled`, whatever the step was doing.
pub fn run_turn(ctx: &TurnCtx<'_>, steps: &[Step]) -> TurnEnd {
    for (index, step) in steps.iter().enumerate() {
        if ctx.cancel.is_cancelled() {
            return TurnEnd::Stop(StopReason::Cancelled);
        }
        eprintln!(
            "enki sim-agent: session {}: step {}: {step}",
            ctx.session_id,
            index + 1
        );
        match run_step(ctx, step) {
            Ok(()) => {}
            Err(Abort::Stop(reason)) => return TurnEnd::Stop(reason),
            Err(Abort::Cancelled) => return TurnEnd::Stop(StopReason::Cancelled),
            Err(Abort::Fail(_)) if ctx.cancel.is_cancelled() => {
                return TurnEnd::Stop(StopReason::Cancelled);
            }
            Err(Abort::Fail(message)) => return TurnEnd::Fail(message),
            Err(Abort::Error(error)) => return TurnEnd::Error(error),
        }
    }
    if ctx.cancel.is_cancelled() {
        TurnEnd::Stop(StopReason::Cancelled)
    } else {
        TurnEnd::Stop(StopReason::EndTurn)
    }
}

fn run_step(ctx: &TurnCtx<'_>, step: &Step) -> Result<(), Abort> {
    let cwd = ctx.cwd.display().to_string();
    let vars = Vars {
        prompt: ctx.prompt,
        cwd: &cwd,
        session: ctx.session_id,
    };
    match step {
        Step::Say(text) => {
            say(ctx, &template::render(text, &vars));
            Ok(())
        }
        Step::Think(text) => {
            ctx.peer.update(
                ctx.session_id,
                json!({"sessionUpdate": "agent_thought_chunk",
                       "content": {"type": "text", "text": template::render(text, &vars)}}),
            );
            Ok(())
        }
        Step::Plan(entries) => {
            let entries: Vec<Value> = entries
                .iter()
                .map(|e| {
                    json!({"content": template::render(e, &vars), "priority": "medium",
                           "status": "pending"})
                })
                .collect();
            ctx.peer.update(
                ctx.session_id,
                json!({"sessionUpdate": "plan", "entries": entries}),
            );
            Ok(())
        }
        Step::Tool {
            name,
            server,
            args,
            allow_error,
        } => {
            let args = template::render_value(&Value::Object(args.clone()), &vars);
            call_tool(ctx, name, server, args, *allow_error)
        }
        Step::Write {
            path,
            content,
            allow_error,
        } => {
            let content = template::render(content, &vars);
            let written = file_op(ctx, "edit", &format!("Write {path}"), path, |abs| {
                write_file(ctx, abs, &content)?;
                Ok(format!("Wrote {} bytes to {path}", content.len()))
            });
            match written {
                Err(Abort::Fail(_)) if *allow_error => Ok(()),
                other => other,
            }
        }
        Step::Append { path, content } => {
            let content = template::render(content, &vars);
            file_op(ctx, "edit", &format!("Append to {path}"), path, |abs| {
                let mut text = if abs.is_file() {
                    read_file(ctx, abs)?
                } else {
                    String::new()
                };
                text.push_str(&content);
                write_file(ctx, abs, &text)?;
                Ok(format!("Appended {} bytes to {path}", content.len()))
            })
        }
        Step::Read(path) => {
            let mut echo = String::new();
            file_op(ctx, "read", &format!("Read {path}"), path, |abs| {
                let text = read_file(ctx, abs)?;
                let lines = text.lines().count();
                echo = format!(
                    "Read {path} ({lines} lines): {}",
                    template::truncate(text.trim(), READ_ECHO_CHARS)
                );
                Ok(format!("{lines} lines"))
            })?;
            say(ctx, &echo);
            Ok(())
        }
        Step::Delete(path) => {
            file_op(
                ctx,
                "delete",
                &format!("Delete {path}"),
                path,
                |abs| match std::fs::remove_file(abs) {
                    Ok(()) => Ok(format!("Deleted {path}")),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        Ok(format!("{path} was already absent"))
                    }
                    Err(e) => Err(Abort::Fail(format!("cannot delete {path}: {e}"))),
                },
            )
        }
        Step::Run {
            command,
            expect_status,
        } => run_command(ctx, command, *expect_status),
        Step::Permission {
            title,
            kind,
            path,
            on_deny,
        } => permission(ctx, title, kind.as_deref(), path.as_deref(), *on_deny),
        Step::Sleep(ms) => {
            if ctx.cancel.sleep(Some(Duration::from_millis(*ms))) {
                Err(Abort::Cancelled)
            } else {
                Ok(())
            }
        }
        Step::Retry {
            message,
            times,
            every_ms,
        } => {
            // codex-acp's legacy form (clients without typed failures).
            let message = template::render(message, &vars);
            repeat(ctx, *times, *every_ms, || {
                json!({"sessionUpdate": "session_info_update",
                       "_meta": {"codex": {"error": {
                           "message": message,
                           "codexErrorInfo": {"responseStreamDisconnected": {"httpStatusCode": null}},
                           "willRetry": true}}}})
            })
        }
        Step::KeepAlive { times, every_ms } => repeat(
            ctx,
            *times,
            *every_ms,
            || json!({"sessionUpdate": "usage_update", "used": 1000, "size": 200_000}),
        ),
        Step::Usage(step) => {
            let update = ctx
                .meter
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .add(step);
            ctx.peer.update(ctx.session_id, update);
            Ok(())
        }
        Step::Fail(message) => Err(Abort::Fail(template::render(message, &vars))),
        Step::Limit(limit) if limit.applies() => Err(Abort::Error(limit.error())),
        // Its `times` are used up: the account's limit has passed.
        Step::Limit(_) => Ok(()),
        Step::Hang => {
            ctx.cancel.sleep(None);
            Err(Abort::Cancelled)
        }
        Step::Crash => exit_now(ctx, 3),
        Step::Garbage(line) => {
            ctx.peer.send_raw_line(line);
            Ok(())
        }
        Step::Stderr(text) => {
            use std::io::Write;
            let mut stderr = std::io::stderr().lock();
            // A test's own words: a failed write to stderr is not the turn's.
            let _ = stderr
                .write_all(text.as_bytes())
                .and_then(|()| stderr.flush());
            Ok(())
        }
        Step::Exit(code) => exit_now(ctx, *code),
        Step::Stop(reason) => Err(Abort::Stop(*reason)),
    }
}

/// Sends `update` `times` times, `every_ms` apart (interruptible by a cancel).
fn repeat(
    ctx: &TurnCtx<'_>,
    times: u64,
    every_ms: u64,
    update: impl Fn() -> Value,
) -> Result<(), Abort> {
    for sent in 0..times {
        if sent > 0 && ctx.cancel.sleep(Some(Duration::from_millis(every_ms))) {
            return Err(Abort::Cancelled);
        }
        ctx.peer.update(ctx.session_id, update());
    }
    Ok(())
}

/// Kills the MCP servers and exits the process without answering.
fn exit_now(ctx: &TurnCtx<'_>, code: i32) -> ! {
    eprintln!("enki sim-agent: exiting with status {code} mid-turn, as scripted");
    ctx.children.kill_all();
    std::process::exit(code)
}

/// Streams `text` as a few `agent_message_chunk` updates.
fn say(ctx: &TurnCtx<'_>, text: &str) {
    for chunk in chunks(text) {
        ctx.peer.update(
            ctx.session_id,
            json!({"sessionUpdate": "agent_message_chunk",
                   "content": {"type": "text", "text": chunk}}),
        );
    }
}

/// Splits text into up to three pieces at whitespace, like a model
/// streaming it. The pieces concatenate back to `text`.
pub fn chunks(text: &str) -> Vec<&str> {
    const PIECES: usize = 3;
    const MIN_LEN: usize = 24;
    if text.is_empty() {
        return Vec::new();
    }
    if text.len() < MIN_LEN {
        return vec![text];
    }
    let mut out = Vec::new();
    let mut start = 0;
    for k in 1..PIECES {
        let target = text.len() * k / PIECES;
        let cut = text
            .char_indices()
            .find(|(i, c)| *i >= target && c.is_whitespace())
            .map(|(i, c)| i + c.len_utf8());
        if let Some(cut) = cut
            && cut > start
            && cut < text.len()
        {
            out.push(&text[start..cut]);
            start = cut;
        }
    }
    out.push(&text[start..]);
    out
}

fn next_call_id() -> String {
    format!("sim-call-{}", NEXT_CALL.fetch_add(1, Ordering::Relaxed))
}

fn report_call(ctx: &TurnCtx<'_>, id: &str, title: &str, kind: &str, raw_input: Value) {
    ctx.peer.update(
        ctx.session_id,
        json!({"sessionUpdate": "tool_call", "toolCallId": id, "title": title, "kind": kind,
               "status": "in_progress", "rawInput": raw_input}),
    );
}

fn report_done(ctx: &TurnCtx<'_>, id: &str, ok: bool, text: &str, raw_output: Value) {
    ctx.peer.update(
        ctx.session_id,
        json!({"sessionUpdate": "tool_call_update", "toolCallId": id,
               "status": if ok { "completed" } else { "failed" },
               "content": [{"type": "content", "content": {"type": "text", "text": text}}],
               "rawOutput": raw_output}),
    );
}

fn call_tool(
    ctx: &TurnCtx<'_>,
    name: &str,
    server: &str,
    args: Value,
    allow_error: bool,
) -> Result<(), Abort> {
    let id = next_call_id();
    report_call(ctx, &id, name, "other", args.clone());
    let fail = |message: String| {
        report_done(ctx, &id, false, &message, json!({"error": message}));
        Err(Abort::Fail(message))
    };
    let client = match ctx.servers.get(server, ctx.cancel) {
        Ok(client) => client,
        Err(e) => return fail(format!("tool {name}: {e}")),
    };
    let result = match client.call_tool(name, args, ctx.cancel) {
        Ok(result) => result,
        Err(McpError::Cancelled) => {
            report_done(ctx, &id, false, "cancelled", Value::Null);
            return Err(Abort::Cancelled);
        }
        Err(e @ McpError::Rpc { .. }) if allow_error => {
            report_done(
                ctx,
                &id,
                false,
                &e.to_string(),
                json!({"error": e.to_string()}),
            );
            return Ok(());
        }
        Err(e) => return fail(format!("tool {name}: {e}")),
    };
    let text = result_text(&result);
    let is_error = result.get("isError").and_then(Value::as_bool) == Some(true);
    report_done(ctx, &id, !is_error, &text, result.clone());
    if is_error && !allow_error {
        return Err(Abort::Fail(format!("tool {name} failed: {text}")));
    }
    Ok(())
}

/// The text items of a tool result, joined.
fn result_text(result: &Value) -> String {
    result
        .get("content")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i.get("text").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

/// A file step: confines the path, reports a tool call around `op`.
fn file_op(
    ctx: &TurnCtx<'_>,
    kind: &str,
    title: &str,
    path: &str,
    op: impl FnOnce(&Path) -> Result<String, Abort>,
) -> Result<(), Abort> {
    let id = next_call_id();
    report_call(ctx, &id, title, kind, json!({"path": path}));
    let outcome = confine_file(ctx.cwd, path)
        .map_err(|e| Abort::Fail(e.to_string()))
        .and_then(|abs| op(&abs));
    match outcome {
        Ok(text) => {
            report_done(ctx, &id, true, &text, Value::Null);
            Ok(())
        }
        Err(Abort::Fail(message)) => {
            report_done(ctx, &id, false, &message, Value::Null);
            Err(Abort::Fail(message))
        }
        Err(other) => {
            report_done(ctx, &id, false, "cancelled", Value::Null);
            Err(other)
        }
    }
}

fn client_call(ctx: &TurnCtx<'_>, method: &str, params: Value) -> Result<Value, Abort> {
    match ctx.peer.request(method, params, ctx.cancel) {
        Ok(value) => Ok(value),
        Err(CallError::Cancelled) => Err(Abort::Cancelled),
        Err(CallError::Remote(e)) => Err(Abort::Fail(format!(
            "the client refused {method}: {} (code {})",
            e.message, e.code
        ))),
        Err(CallError::Closed) => Err(Abort::Fail(format!(
            "the client closed the connection during {method}"
        ))),
    }
}

fn write_file(ctx: &TurnCtx<'_>, abs: &Path, content: &str) -> Result<(), Abort> {
    if ctx.caps.write_text_file {
        client_call(
            ctx,
            "fs/write_text_file",
            json!({"sessionId": ctx.session_id, "path": abs, "content": content}),
        )?;
        return Ok(());
    }
    let io = |e: std::io::Error| Abort::Fail(format!("cannot write {}: {e}", abs.display()));
    if let Some(parent) = abs.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    std::fs::write(abs, content).map_err(io)
}

fn read_file(ctx: &TurnCtx<'_>, abs: &Path) -> Result<String, Abort> {
    if ctx.caps.read_text_file {
        let result = client_call(
            ctx,
            "fs/read_text_file",
            json!({"sessionId": ctx.session_id, "path": abs}),
        )?;
        return match result.get("content").and_then(Value::as_str) {
            Some(content) => Ok(content.to_string()),
            None => Err(Abort::Fail(
                "the client's fs/read_text_file result has no `content` string".to_string(),
            )),
        };
    }
    std::fs::read_to_string(abs)
        .map_err(|e| Abort::Fail(format!("cannot read {}: {e}", abs.display())))
}

fn run_command(ctx: &TurnCtx<'_>, command: &str, expect_status: i32) -> Result<(), Abort> {
    let id = next_call_id();
    report_call(
        ctx,
        &id,
        &format!("Run {command}"),
        "execute",
        json!({"command": command}),
    );
    let fail = |message: String, output: Value| {
        report_done(ctx, &id, false, &message, output);
        Err(Abort::Fail(message))
    };
    let spawned = Command::new("sh")
        .arg("-c")
        .arg(command)
        .current_dir(ctx.cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => return fail(format!("cannot run `{command}`: {e}"), Value::Null),
    };
    let (tx, rx) = channel::<(usize, Vec<u8>)>();
    let pipes: [Option<Box<dyn Read + Send>>; 2] = [
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    ];
    for (index, pipe) in pipes.into_iter().enumerate() {
        let tx = tx.clone();
        if let Some(mut pipe) = pipe {
            std::thread::spawn(move || {
                let mut bytes = Vec::new();
                let _ = pipe.read_to_end(&mut bytes);
                let _ = tx.send((index, bytes));
            });
        }
    }
    drop(tx);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {
                if ctx.cancel.sleep(Some(Duration::from_millis(10))) {
                    let _ = child.kill();
                    let _ = child.wait();
                    report_done(ctx, &id, false, "cancelled", Value::Null);
                    return Err(Abort::Cancelled);
                }
            }
            Err(e) => return fail(format!("cannot wait for `{command}`: {e}"), Value::Null),
        }
    };
    let mut outputs = [String::new(), String::new()];
    let grace = Cancel::new();
    while let Wait::Got((index, bytes)) = grace.recv(&rx, Some(OUTPUT_GRACE)) {
        outputs[index] = String::from_utf8_lossy(&bytes).into_owned();
    }
    let [stdout, stderr] = outputs;
    let code = status.code();
    let raw = json!({"exit_code": code, "stdout": tail(&stdout), "stderr": tail(&stderr)});
    let combined = format!("{stdout}{stderr}");
    let summary = match code {
        Some(code) => format!("exit status {code}\n{}", tail(&combined)),
        None => format!("killed by a signal ({status})\n{}", tail(&combined)),
    };
    if code != Some(expect_status) {
        return fail(
            format!(
                "`{command}` ended with {}, expected exit status {expect_status}\n{}",
                code.map_or_else(|| status.to_string(), |c| format!("exit status {c}")),
                tail(&combined)
            ),
            raw,
        );
    }
    report_done(ctx, &id, true, summary.trim_end(), raw);
    Ok(())
}

/// The last lines of a command's output, bounded.
fn tail(output: &str) -> String {
    let lines: Vec<&str> = output.lines().collect();
    let start = lines.len().saturating_sub(OUTPUT_TAIL_LINES);
    let text = lines[start..].join("\n");
    let chars = text.chars().count();
    if chars <= OUTPUT_TAIL_CHARS {
        text
    } else {
        let skip = chars - OUTPUT_TAIL_CHARS;
        format!("…{}", text.chars().skip(skip).collect::<String>())
    }
}

const PERMISSION_OPTIONS: [(&str, &str, &str); 4] = [
    ("allow-once", "Allow", "allow_once"),
    ("allow-always", "Always allow", "allow_always"),
    ("reject-once", "Reject", "reject_once"),
    ("reject-always", "Always reject", "reject_always"),
];

/// `session/request_permission`; a denial ends the turn with `refusal`
/// (`on_deny = "fail"`) or is only reported (`"continue"`).
fn permission(
    ctx: &TurnCtx<'_>,
    title: &str,
    kind: Option<&str>,
    path: Option<&str>,
    on_deny: OnDeny,
) -> Result<(), Abort> {
    if let Some(mode) = ctx.approves_itself {
        let text = format!("Approved \"{title}\" myself (mode {mode}); not asking.");
        eprintln!("enki sim-agent: {text}");
        say(ctx, &text);
        return Ok(());
    }
    let id = next_call_id();
    let mut tool_call = json!({"toolCallId": id, "title": title, "kind": kind.unwrap_or("other")});
    if let Some(path) = path {
        tool_call["locations"] = json!([{"path": ctx.cwd.join(path)}]);
    }
    let options: Vec<Value> = PERMISSION_OPTIONS
        .iter()
        .map(|(id, name, kind)| json!({"optionId": id, "name": name, "kind": kind}))
        .collect();
    let params = json!({
        "sessionId": ctx.session_id,
        "toolCall": tool_call,
        "options": options,
    });
    let denial = match ctx
        .peer
        .request("session/request_permission", params, ctx.cancel)
    {
        Err(CallError::Cancelled) => return Err(Abort::Cancelled),
        Err(CallError::Closed) => {
            return Err(Abort::Fail(
                "the client closed the connection during session/request_permission".to_string(),
            ));
        }
        Err(CallError::Remote(e)) => Some(format!("the client answered an error: {}", e.message)),
        Ok(result) => {
            let outcome = &result["outcome"];
            match outcome["outcome"].as_str() {
                Some("cancelled") => return Err(Abort::Cancelled),
                Some("selected") => {
                    let chosen = outcome["optionId"].as_str().unwrap_or_default();
                    match PERMISSION_OPTIONS.iter().find(|o| o.0 == chosen) {
                        Some((_, _, kind)) if kind.starts_with("allow") => None,
                        Some(_) => Some(format!("the client chose {chosen}")),
                        None => Some(format!("the client chose an unknown option '{chosen}'")),
                    }
                }
                _ => Some(format!("unexpected permission result {result}")),
            }
        }
    };
    let Some(reason) = denial else {
        return Ok(());
    };
    eprintln!("enki sim-agent: Permission denied for \"{title}\" ({reason})");
    match on_deny {
        OnDeny::Fail => {
            say(
                ctx,
                &format!("Permission denied for \"{title}\" ({reason}); stopping."),
            );
            Err(Abort::Stop(StopReason::Refusal))
        }
        OnDeny::Continue => {
            say(
                ctx,
                &format!("Permission denied for \"{title}\" ({reason}); going on."),
            );
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_concatenate_back() {
        for text in [
            "",
            "hi",
            "Looking at the project now, then editing the library file",
            "ééééééééééééééééééééééééééééé ééé éééééé",
            "nospacesatallinthisverylongwordthatgoesonandon",
        ] {
            let parts = chunks(text);
            assert_eq!(parts.concat(), text);
            assert!(parts.len() <= 3);
            assert!(parts.iter().all(|p| !p.is_empty()));
        }
        assert_eq!(chunks("hi"), ["hi"]);
        assert!(chunks("Looking at the project now, then editing the library file").len() > 1);
    }

    #[test]
    fn tail_keeps_the_end() {
        let many: String = (0..100).map(|i| format!("line {i}\n")).collect();
        let t = tail(&many);
        assert!(t.starts_with("line 80"), "{t}");
        assert!(t.ends_with("line 99"));
        let long = "x".repeat(5000);
        let t = tail(&long);
        assert_eq!(t.chars().count(), OUTPUT_TAIL_CHARS + 1);
    }
}
