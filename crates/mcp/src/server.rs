//! The request loop: one line in, at most one response out, in order.

use std::io::{BufRead, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::RecvTimeoutError;
use std::time::Instant;

use enki_jsonrpc::{
    ErrorObject, Frame, Id, Incoming, MAX_LINE_BYTES, Message, Request, encode, parse_incoming,
};
use serde_json::{Value, json};

use crate::confirm::{self, Confirmer, Retried};
use crate::context::Context;
use crate::frames::read_on_a_thread;
use crate::limits::{RateLimiter, cap_result};
use crate::link::{ClientLink, NoLink, StdioLink};
use crate::listen::{self, Listener};
use crate::logs::{AuditEntry, AuditLog, Outcome, TrafficLog};
use crate::roles::{McpRole, tools_for};
use crate::tools;
use crate::watch::{TICK, Watch};
use crate::{batch, protocol, stateless};

pub struct Server {
    pub ctx: Context,
    pub log: TrafficLog,
    audit_log: AuditLog,
    /// The tools this server knows ([`tools::ALL_TOOLS`]; unit tests swap
    /// in their own).
    registry: &'static [tools::ToolSpec],
    /// The version `initialize` settled on (legacy revisions), `None`
    /// before it; it decides whether batches are served.
    negotiated: Option<&'static str>,
    /// Subscriptions, listed prompts and the log level: what this session
    /// is to be told besides answers (`watch.rs`).
    watch: Watch,
    /// The session's tool calls at a bounded rate (`limits.rs`).
    rate: RateLimiter,
    /// Typed confirmation of destructive tools (`confirm.rs`).
    confirmer: Confirmer,
    /// Open `subscriptions/listen` subscriptions (2026-07-28, `listen.rs`).
    listeners: Vec<Listener>,
}

impl Server {
    pub fn new(ctx: Context, log: TrafficLog) -> Server {
        Server {
            ctx,
            log,
            audit_log: AuditLog::default(),
            registry: tools::ALL_TOOLS,
            negotiated: None,
            watch: Watch::default(),
            rate: RateLimiter::default(),
            confirmer: Confirmer::default(),
            listeners: Vec::new(),
        }
    }

    /// Replaces the default `[mcp] rate_limit` of this session's tool calls.
    pub fn set_rate_limit(&mut self, config: enki_config::RateLimitConfig) {
        self.rate = RateLimiter::new(config);
    }

    /// The notifications due to this session now (resource updates, prompt
    /// list changes, log messages), encoded and recorded in the traffic log;
    /// `tick` when the client has been quiet for [`crate::watch::TICK`]. A
    /// transport sends them between responses.
    /// Those of `subscriptions/listen` subscriptions carry their id.
    pub fn notifications(&mut self, tick: bool) -> Vec<String> {
        let mut due = self.watch.poll(&mut self.ctx, tick);
        for listener in &mut self.listeners {
            let polled = listener.watch.poll(&mut self.ctx, tick);
            due.extend(polled.into_iter().map(|m| listen::mark(listener, m)));
        }
        self.ctx.release();
        due.iter()
            .map(|message| {
                let line = encode(message);
                self.log.record("out", line.as_bytes());
                line
            })
            .collect()
    }

    /// Whether a `subscriptions/listen` subscription is open.
    pub fn is_listening(&self) -> bool {
        !self.listeners.is_empty()
    }

    /// Ends every subscription: the result that says so gracefully for
    /// each, encoded and recorded in the traffic log.
    pub fn end_listening(&mut self) -> Vec<String> {
        let listeners = std::mem::take(&mut self.listeners);
        listeners
            .iter()
            .map(|listener| {
                let line = encode(&listen::closing(listener));
                self.log.record("out", line.as_bytes());
                line
            })
            .collect()
    }

    /// A server over another tool registry, to test how the request loop
    /// treats handlers that misbehave. Not part of the binary.
    #[cfg(test)]
    fn with_registry(ctx: Context, registry: &'static [tools::ToolSpec]) -> Server {
        Server {
            registry,
            ..Server::new(ctx, TrafficLog::disabled())
        }
    }

    /// Serves until EOF on `input`. Returns an error only when the output
    /// cannot be written (the client is gone).
    /// Between frames, and every [`TICK`] while the client is quiet, it
    /// writes the notifications that are due ([`Server::notifications`]).
    pub fn serve<R: BufRead + Send + 'static, W: Write>(
        &mut self,
        input: R,
        output: W,
    ) -> std::io::Result<()> {
        // The loop's frames and writer, which a tool call can also use to
        // ask the client something before it answers (`link.rs`).
        let mut link = StdioLink::new(read_on_a_thread(input)?, output);
        let mut last_tick = Instant::now();
        loop {
            let reply = match link.recv_timeout(TICK.saturating_sub(last_tick.elapsed())) {
                Ok(incoming) => match incoming? {
                    None => break,
                    Some(Frame::TooLong { len_seen }) => Some(self.too_long(len_seen)),
                    Some(Frame::Line(bytes)) => self.handle_with(&bytes, &mut link),
                },
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => break,
            };
            let tick = last_tick.elapsed() >= TICK;
            if tick {
                last_tick = Instant::now();
            }
            for line in reply.into_iter().chain(self.notifications(tick)) {
                link.send_line(&line)?;
            }
        }
        Ok(())
    }

    /// The answer to a line over the cap, which was dropped unread.
    fn too_long(&mut self, len_seen: usize) -> String {
        self.log.record(
            "in",
            format!("\"<dropped a line of {len_seen} bytes>\"").as_bytes(),
        );
        let reply = Message::error(
            None,
            ErrorObject::invalid_request(format!(
                "message too long: {len_seen} bytes (the limit is {MAX_LINE_BYTES} bytes per line)"
            )),
        );
        let line = encode(&reply);
        self.log.record("out", line.as_bytes());
        line
    }

    /// Turns one incoming message (a line of stdio, the body of an HTTP
    /// POST) into at most one outgoing message, both recorded in the traffic
    /// log. `None`: nothing to answer (a notification, a response, a blank
    /// line). Every transport goes through here.
    pub fn handle(&mut self, bytes: &[u8]) -> Option<String> {
        self.handle_with(bytes, &mut NoLink)
    }

    /// [`Server::handle`] on a transport that can carry requests of the
    /// server to the client while it answers (`link.rs`): a destructive
    /// tool asks the user to confirm through it when the client can elicit.
    /// The message's database connection is given back (and its signals
    /// written) before the answer goes out ([`Context::release`]).
    pub fn handle_with(&mut self, bytes: &[u8], link: &mut dyn ClientLink) -> Option<String> {
        let line = self.answer_line(bytes, link);
        self.ctx.release();
        line
    }

    fn answer_line(&mut self, bytes: &[u8], link: &mut dyn ClientLink) -> Option<String> {
        self.log.record("in", bytes);
        let parsed = parse_incoming(bytes);
        if let Ok(Some(Incoming::Single(Message::Request(request)))) = &parsed
            && let Some(line) = self.listed_tools(request)
        {
            self.log.record_clean("out", &line);
            return Some(line);
        }
        let line = match parsed {
            Ok(None) => None,
            Ok(Some(Incoming::Single(message))) => self.reply_to(message, link).map(|r| encode(&r)),
            Ok(Some(Incoming::Batch(items))) => batch::answer(self.negotiated, items, |message| {
                self.reply_to(message, link)
            }),
            Err(error) => Some(encode(&error.into_message())),
        }?;
        self.log.record("out", line.as_bytes());
        Some(line)
    }

    /// A `tools/list` of the handshake era, answered from the process's
    /// encoded tool list ([`tools::list_text_for`]): the line the general
    /// path makes, without copying and encoding a tree of the whole list at
    /// every call, or parsing and scrubbing it again for the traffic log (it
    /// holds no secret). `None`: anything else, left to the general path,
    /// which also answers a `tools/list` with bad params.
    fn listed_tools(&mut self, request: &Request) -> Option<String> {
        let plain = request.method == "tools/list"
            && std::ptr::eq(self.registry, tools::ALL_TOOLS)
            && matches!(stateless::classify(request), Ok(None))
            && check_object_params(request).is_ok()
            && matches!(
                request.params.as_ref().and_then(|p| p.get("cursor")),
                None | Some(Value::Null | Value::String(_))
            );
        if !plain {
            return None;
        }
        let id = serde_json::to_string(&request.id).ok()?;
        let list = tools::list_text_for(self.ctx.role, self.ctx.no_edit);
        self.after_request(request);
        Some(format!(
            "{{\"jsonrpc\":\"2.0\",\"id\":{id},\"result\":{list}}}\n"
        ))
    }

    /// Requests are answered; notifications (initialized, cancelled,
    /// unknown) and stray responses need no reply.
    fn reply_to(&mut self, message: Message, link: &mut dyn ClientLink) -> Option<Message> {
        match message {
            Message::Request(request) if request.method == "subscriptions/listen" => {
                Some(self.listen(request))
            }
            Message::Request(request) => Some(self.answer(request, link)),
            Message::Notification(n) if n.method == "notifications/cancelled" => {
                // The end of a subscription (stdio); other cancellations
                // come too late to stop anything here.
                let named = n.params.as_ref().and_then(|p| p.get("requestId"));
                if let Some(id) = named.and_then(|r| Id::from_json(&r.to_string())) {
                    self.listeners.retain(|l| l.id != id);
                }
                None
            }
            _ => None,
        }
    }

    /// `subscriptions/listen`: its acknowledgement now, its notifications
    /// from [`Server::notifications`] on, no answer until it ends.
    fn listen(&mut self, request: Request) -> Message {
        let opened = match stateless::classify(&request) {
            Ok(Some(_)) => listen::open(&mut self.ctx, &request, &self.listeners),
            Ok(None) => Err(ErrorObject::new(
                enki_jsonrpc::codes::METHOD_NOT_FOUND,
                "subscriptions/listen is part of MCP 2026-07-28 (name it in params._meta); clients of earlier versions call resources/subscribe and read the GET event stream",
            )),
            Err(error) => Err(error),
        };
        match opened {
            Ok((listener, acknowledged)) => {
                self.listeners.push(listener);
                acknowledged
            }
            Err(error) => Message::error(Some(request.id), error),
        }
    }

    /// Notes what a request did that the next poll must look at.
    fn after_request(&mut self, request: &Request) {
        self.watch.after_request(request);
        for listener in &mut self.listeners {
            listener.watch.after_request(request);
        }
    }

    fn answer(&mut self, request: Request, link: &mut dyn ClientLink) -> Message {
        let id = request.id.clone();
        // A bug in one handler must not take the server down.
        let outcome = catch_unwind(AssertUnwindSafe(|| self.dispatch(&request, link)))
            .unwrap_or_else(|_| {
                Err(ErrorObject::internal(format!(
                    "internal error while handling '{}'",
                    request.method
                )))
            });
        let reply = match outcome {
            Ok(result) => Message::response(id, result),
            Err(error) => Message::error(Some(id), error),
        };
        self.after_request(&request);
        reply
    }

    /// A request of either era (`stateless.rs`): checked, answered, and its
    /// result shaped for its era.
    fn dispatch(
        &mut self,
        request: &Request,
        link: &mut dyn ClientLink,
    ) -> Result<Value, ErrorObject> {
        let modern = stateless::classify(request)?;
        let result = self.dispatch_method(request, link)?;
        Ok(stateless::finish(modern.as_ref(), &request.method, result))
    }

    fn dispatch_method(
        &mut self,
        request: &Request,
        link: &mut dyn ClientLink,
    ) -> Result<Value, ErrorObject> {
        match request.method.as_str() {
            "initialize" => {
                let (version, result) =
                    protocol::initialize(request.params.as_ref(), self.ctx.role, self.ctx.no_edit)?;
                self.negotiated = Some(version);
                self.confirmer.client_elicits = confirm::client_can_elicit(request.params.as_ref());
                Ok(result)
            }
            "server/discover" => Ok(stateless::discover(self.ctx.role, self.ctx.no_edit)),
            "ping" => {
                check_object_params(request)?;
                Ok(json!({}))
            }
            "tools/list" => {
                check_object_params(request)?;
                // Pagination is not needed (one page), but a cursor that is
                // there must be a string; `null` counts as absent.
                match request.params.as_ref().and_then(|p| p.get("cursor")) {
                    None | Some(Value::Null | Value::String(_)) => {}
                    Some(other) => {
                        return Err(ErrorObject::invalid_params(format!(
                            "`cursor` must be a string, got {other}"
                        )));
                    }
                }
                let (role, no_edit) = (self.ctx.role, self.ctx.no_edit);
                if std::ptr::eq(self.registry, tools::ALL_TOOLS) {
                    return Ok(tools::list_for(role, no_edit).clone());
                }
                Ok(json!({"tools": tools::list(self.registry, tools_for(role, no_edit))}))
            }
            "tools/call" => self.call_tool(request, link),
            other => self
                .watch
                .dispatch(&mut self.ctx, request)
                .unwrap_or_else(|| Err(ErrorObject::method_not_found(other))),
        }
    }

    fn call_tool(
        &mut self,
        request: &Request,
        link: &mut dyn ClientLink,
    ) -> Result<Value, ErrorObject> {
        let params = request.params.as_ref().and_then(Value::as_object);
        let name = params.and_then(|p| p.get("name"));
        let arguments = params
            .and_then(|p| p.get("arguments"))
            .cloned()
            .unwrap_or(Value::Null);
        // Calls refused at the protocol level are audited too, with the name
        // when there is one.
        let refuse = |server: &Server, error: ErrorObject| {
            let tool = name.and_then(Value::as_str);
            server.audit(tool, &arguments, Outcome::Refused, Some(&error.message));
            Err(error)
        };
        if let Err(text) = self.rate.admit() {
            let tool = name.and_then(Value::as_str);
            self.audit(tool, &arguments, Outcome::Refused, Some(&text));
            return Ok(tool_result(&text, None, true));
        }
        if let Err(error) = check_object_params(request) {
            return refuse(self, error);
        }
        let name = match name {
            Some(Value::String(name)) => name.clone(),
            Some(other) => {
                return refuse(
                    self,
                    ErrorObject::invalid_params(format!("`name` must be a string, got {other}")),
                );
            }
            None => return refuse(self, ErrorObject::invalid_params("tools/call needs `name`")),
        };
        let Some(spec) = self.registry.iter().find(|t| t.name == name) else {
            return refuse(
                self,
                ErrorObject::invalid_params(format!("unknown tool '{name}'")),
            );
        };
        if !tools_for(self.ctx.role, self.ctx.no_edit).contains(&spec.name) {
            let text = format!(
                "tool '{name}' is not available for role '{}'",
                self.ctx.role
            );
            self.audit(Some(&name), &arguments, Outcome::Refused, Some(&text));
            return Ok(tool_result(&text, None, true));
        }
        if let Some(needs) = spec.confirm {
            let modern = stateless::classify(request).ok().flatten();
            let confirmed = match (needs(&mut self.ctx, &arguments), modern) {
                (Ok(None), _) => Ok(()),
                // 2026-07-28 has no requests from server to client: the
                // call comes back with the answer (multi round-trip).
                (Ok(Some(needed)), Some(meta)) => match confirm::obtain_by_retry(
                    &needed,
                    &arguments,
                    &meta.client_capabilities,
                    request.params.as_ref(),
                ) {
                    Retried::Confirmed => Ok(()),
                    Retried::Refused(text) => Err((Outcome::Refused, text)),
                    Retried::Ask(input_required) => return Ok(input_required),
                    Retried::Invalid(text) => {
                        return refuse(self, ErrorObject::invalid_params(text));
                    }
                },
                (Ok(Some(needed)), None) => self
                    .confirmer
                    .obtain(&needed, &arguments, link, &request.id, &mut self.log)
                    .map_err(|text| (Outcome::Refused, text)),
                (Err(text), _) => Err((Outcome::ToolError, text)),
            };
            if let Err((outcome, text)) = confirmed {
                self.audit(Some(&name), &arguments, outcome, Some(&text));
                return Ok(tool_result(&text, None, true));
            }
        }
        // Writes of an HTTP server's sessions take turns in the process
        // (`pool.rs`); a turn not had within the busy budget is a
        // retryable tool error, as another process's lock is.
        if !spec.annotations.read_only
            && let Err(text) = self.ctx.take_write_turn()
        {
            self.audit(Some(&name), &arguments, Outcome::ToolError, Some(&text));
            return Ok(tool_result(&text, None, true));
        }
        // A handler that panics is a bug in enki, not in the call: answer
        // -32603 and keep serving.
        let handled = catch_unwind(AssertUnwindSafe(|| {
            (spec.handler)(&mut self.ctx, arguments.clone())
        }));
        // The next writer need not wait for the audit line, the answer and
        // the traffic log; the answer waits for the commit of its writes,
        // which may carry other calls' writes too (`pool.rs`).
        let committed = self.ctx.pass_write_turn();
        let handled = match (handled, committed) {
            (Ok(Ok(_)), Err(text)) => Ok(Err(text)),
            (handled, _) => handled,
        };
        match handled {
            Ok(Ok(output)) => {
                self.audit(Some(&name), &arguments, Outcome::Ok, None);
                let mut text = output.text;
                if let Some(notice) = self.unread_notice() {
                    text.push('\n');
                    text.push_str(&notice);
                }
                Ok(tool_result(&text, output.structured, false))
            }
            Ok(Err(message)) => {
                self.audit(Some(&name), &arguments, Outcome::ToolError, Some(&message));
                Ok(tool_result(&message, None, true))
            }
            Err(_) => {
                let message = format!("internal error in tool '{name}'; the server keeps running");
                self.audit(
                    Some(&name),
                    &arguments,
                    Outcome::InternalError,
                    Some(&message),
                );
                Err(ErrorObject::internal(message))
            }
        }
    }

    /// For workers: a one-line notice of unread mail, if any.
    fn unread_notice(&mut self) -> Option<String> {
        if self.ctx.role != McpRole::Worker {
            return None;
        }
        let mailbox = self.ctx.mailbox().ok()?;
        let (unread, urgent) = self.ctx.store().ok()?.unread_counts(&mailbox).ok()?;
        (unread > 0).then(|| {
            let plural = if unread == 1 { "" } else { "s" };
            let urgent = if urgent > 0 {
                format!(" ({urgent} urgent)")
            } else {
                String::new()
            };
            format!(
                "[mail] You have {unread} unread message{plural}{urgent}: call enki_mail_check."
            )
        })
    }

    fn audit(&self, tool: Option<&str>, arguments: &Value, outcome: Outcome, detail: Option<&str>) {
        let Ok(layout) = self.ctx.layout() else {
            return;
        };
        self.audit_log.append(
            &layout.audit_log(),
            &AuditEntry {
                session: self.ctx.session.as_deref(),
                role: self.ctx.role,
                task: self.ctx.task_label(),
                tool,
                arguments,
                outcome,
                detail,
            },
        );
    }
}

fn check_object_params(request: &Request) -> Result<(), ErrorObject> {
    match &request.params {
        None | Some(Value::Object(_)) => Ok(()),
        Some(_) => Err(ErrorObject::invalid_params(format!(
            "{} expects params to be an object",
            request.method
        ))),
    }
}

/// A `tools/call` result, cut down to [`crate::limits::RESULT_CAP`].
fn tool_result(text: &str, structured: Option<Value>, is_error: bool) -> Value {
    let (text, structured) = cap_result(text.to_string(), structured);
    let mut result = json!({
        "content": [{"type": "text", "text": text}],
        "isError": is_error,
    });
    if let (Some(data), Value::Object(map)) = (structured, &mut result) {
        map.insert("structuredContent".into(), data);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::{ToolOutput, ToolSpec};
    use enki_project::Layout;

    fn panics(_: &mut Context, _: Value) -> tools::ToolResult {
        panic!("a bug in a handler")
    }

    fn answers(_: &mut Context, _: Value) -> tools::ToolResult {
        Ok(ToolOutput::text("fine"))
    }

    fn no_schema() -> Value {
        json!({"type": "object", "properties": {}, "required": [], "additionalProperties": false})
    }

    /// Real tool names (so the planner may call them) over handlers that
    /// misbehave on purpose.
    static MISBEHAVING: &[ToolSpec] = &[
        ToolSpec {
            name: "enki_status",
            title: "Status",
            description: "panics",
            annotations: tools::Annotations {
                read_only: true,
                destructive: false,
                idempotent: true,
            },
            schema: no_schema,
            handler: panics,
            confirm: None,
        },
        ToolSpec {
            name: "enki_dag",
            title: "Dag",
            description: "answers",
            annotations: tools::Annotations {
                read_only: true,
                destructive: false,
                idempotent: true,
            },
            schema: no_schema,
            handler: answers,
            confirm: None,
        },
    ];

    fn lines(output: &[u8]) -> Vec<Value> {
        String::from_utf8_lossy(output)
            .lines()
            .map(|l| serde_json::from_str(l).expect("one JSON message per line"))
            .collect()
    }

    /// A `tools/list` answered from the encoded list is the very line the
    /// general path makes, for every role and any id; the 2026-07-28
    /// revision's (with its cache fields) and a bad one still take the
    /// general path.
    #[test]
    fn a_listed_tools_line_is_the_one_the_general_path_makes() {
        for &(role, no_edit) in tools::EVERY_ROLE {
            let ctx = Context::new(role, None, no_edit, None, Err("no project".into()));
            let mut server = Server::new(ctx, TrafficLog::disabled());
            for id in [json!(7), json!("a \"quoted\" id"), json!(-0)] {
                let request = json!({"jsonrpc": "2.0", "id": id, "method": "tools/list"});
                let bytes = request.to_string();
                let line = server.handle(bytes.as_bytes());
                let Ok(Some(Incoming::Single(Message::Request(parsed)))) =
                    parse_incoming(bytes.as_bytes())
                else {
                    panic!("a request: {bytes}");
                };
                let general = encode(&Message::response(
                    parsed.id,
                    tools::list_for(role, no_edit).clone(),
                ));
                assert_eq!(line.as_deref(), Some(general.as_str()), "{role} {no_edit}");
            }
        }
        let ctx = Context::new(
            McpRole::Planner,
            None,
            false,
            None,
            Err("no project".into()),
        );
        let mut server = Server::new(ctx, TrafficLog::disabled());
        let modern = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {},
        }}});
        let reply = server
            .handle(modern.to_string().as_bytes())
            .expect("an answer");
        let reply: Value = serde_json::from_str(&reply).expect("JSON");
        assert_eq!(reply["result"]["ttlMs"], 300_000, "{reply}");
        assert_eq!(
            reply["result"]["tools"],
            tools::list_for(McpRole::Planner, false)["tools"]
        );
        let bad =
            json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {"cursor": 3}});
        let reply = server
            .handle(bad.to_string().as_bytes())
            .expect("an answer");
        assert!(reply.contains("-32602"), "{reply}");
    }

    #[test]
    fn a_panicking_handler_is_answered_with_minus_32603_and_the_server_keeps_serving() {
        let dir = tempfile::tempdir().expect("temp dir");
        let layout = Layout::for_project(dir.path());
        let audit = layout.audit_log();
        let ctx = Context::new(McpRole::Planner, None, false, None, Ok(layout));
        let mut server = Server::with_registry(ctx, MISBEHAVING);
        let input = [
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"enki_status","arguments":{"x":1}}}"#,
            r#"{"jsonrpc":"2.0","id":2,"method":"ping"}"#,
            r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"enki_dag","arguments":{}}}"#,
            r#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"enki_status"}}"#,
        ]
        .join("\n");
        let mut output = Vec::new();
        server
            .serve(std::io::Cursor::new(input), &mut output)
            .expect("the server survives its handlers");
        let replies = lines(&output);
        assert_eq!(replies.len(), 4, "{replies:?}");

        assert_eq!(replies[0]["id"], 1);
        assert_eq!(replies[0]["error"]["code"], -32603, "{}", replies[0]);
        let message = replies[0]["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("enki_status"), "{message}");
        assert_eq!(replies[1]["id"], 2);
        assert_eq!(replies[1]["result"], json!({}));
        assert_eq!(replies[2]["id"], 3);
        assert_eq!(replies[2]["result"]["content"][0]["text"], "fine");
        assert_eq!(replies[2]["result"]["isError"], false);
        assert_eq!(replies[3]["error"]["code"], -32603, "it fails again, alone");

        let audit: Vec<Value> = std::fs::read_to_string(audit)
            .expect("audit log")
            .lines()
            .map(|l| serde_json::from_str(l).expect("audit line"))
            .collect();
        let outcomes: Vec<(&str, &str)> = audit
            .iter()
            .map(|l| {
                (
                    l["tool"].as_str().unwrap_or_default(),
                    l["outcome"].as_str().unwrap_or_default(),
                )
            })
            .collect();
        assert_eq!(
            outcomes,
            [
                ("enki_status", "internal error"),
                ("enki_dag", "ok"),
                ("enki_status", "internal error"),
            ]
        );
        assert_eq!(audit[0]["arguments"], json!({"x": 1}));
    }
}
