//! The request loop: one line in, at most one response out, in order.

use std::io::{BufRead, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};

use enki_jsonrpc::{
    ErrorObject, Frame, LineReader, LineWriter, MAX_LINE_BYTES, Message, Request, encode,
    parse_line,
};
use serde_json::{Value, json};

use crate::context::Context;
use crate::logs::{self, AuditEntry, Outcome, TrafficLog};
use crate::protocol;
use crate::roles::{McpRole, tools_for};
use crate::tools;

pub struct Server {
    pub ctx: Context,
    pub log: TrafficLog,
    /// `tools/list` never changes during a process; build it once.
    tool_list: Option<Value>,
}

impl Server {
    pub fn new(ctx: Context, log: TrafficLog) -> Server {
        Server {
            ctx,
            log,
            tool_list: None,
        }
    }

    /// Serves until EOF on `input`. Returns an error only when the output
    /// cannot be written (the client is gone).
    pub fn serve<R: BufRead, W: Write>(&mut self, input: R, output: W) -> std::io::Result<()> {
        let mut reader = LineReader::with_limit(input, MAX_LINE_BYTES);
        let mut writer = LineWriter::new(output);
        while let Some(frame) = reader.next_frame()? {
            let reply = match frame {
                Frame::TooLong { len_seen } => {
                    self.log.record(
                        "in",
                        format!("\"<dropped a line of {len_seen} bytes>\"").as_bytes(),
                    );
                    Some(Message::error(
                        None,
                        ErrorObject::invalid_request(format!(
                            "message too long: {len_seen} bytes (the limit is {MAX_LINE_BYTES} bytes per line)"
                        )),
                    ))
                }
                Frame::Line(bytes) => {
                    self.log.record("in", &bytes);
                    match parse_line(&bytes) {
                        Ok(None) => None,
                        Ok(Some(Message::Request(request))) => Some(self.answer(request)),
                        // Notifications (initialized, cancelled, unknown) and
                        // stray responses need no reply.
                        Ok(Some(_)) => None,
                        Err(error) => Some(error.into_message()),
                    }
                }
            };
            if let Some(reply) = reply {
                let line = encode(&reply);
                self.log.record("out", line.as_bytes());
                writer.send_raw_line(&line)?;
            }
        }
        Ok(())
    }

    fn answer(&mut self, request: Request) -> Message {
        let id = request.id.clone();
        // A bug in one handler must not take the server down.
        let outcome =
            catch_unwind(AssertUnwindSafe(|| self.dispatch(&request))).unwrap_or_else(|_| {
                Err(ErrorObject::internal(format!(
                    "internal error while handling '{}'",
                    request.method
                )))
            });
        match outcome {
            Ok(result) => Message::response(id, result),
            Err(error) => Message::error(Some(id), error),
        }
    }

    fn dispatch(&mut self, request: &Request) -> Result<Value, ErrorObject> {
        match request.method.as_str() {
            "initialize" => {
                protocol::initialize(request.params.as_ref(), self.ctx.role, self.ctx.no_edit)
            }
            "ping" => Ok(json!({})),
            "tools/list" => {
                check_object_params(request)?;
                let (role, no_edit) = (self.ctx.role, self.ctx.no_edit);
                let list = self.tool_list.get_or_insert_with(|| {
                    let names = tools_for(role, no_edit);
                    let tools: Vec<Value> = tools::ALL_TOOLS
                        .iter()
                        .filter(|t| names.contains(&t.name))
                        .map(tools::ToolSpec::describe)
                        .collect();
                    json!({"tools": tools})
                });
                Ok(list.clone())
            }
            "tools/call" => self.call_tool(request),
            other => Err(ErrorObject::method_not_found(other)),
        }
    }

    fn call_tool(&mut self, request: &Request) -> Result<Value, ErrorObject> {
        check_object_params(request)?;
        let params = request.params.as_ref().and_then(Value::as_object);
        let name = match params.and_then(|p| p.get("name")) {
            Some(Value::String(name)) => name.clone(),
            Some(other) => {
                return Err(ErrorObject::invalid_params(format!(
                    "`name` must be a string, got {other}"
                )));
            }
            None => return Err(ErrorObject::invalid_params("tools/call needs `name`")),
        };
        let arguments = params
            .and_then(|p| p.get("arguments"))
            .cloned()
            .unwrap_or(Value::Null);
        let Some(spec) = tools::find(&name) else {
            return Err(ErrorObject::invalid_params(format!(
                "unknown tool '{name}'"
            )));
        };
        if !tools_for(self.ctx.role, self.ctx.no_edit).contains(&spec.name) {
            let text = format!(
                "tool '{name}' is not available for role '{}'",
                self.ctx.role
            );
            self.audit(&name, &arguments, Outcome::Refused, Some(&text));
            return Ok(tool_result(&text, None, true));
        }
        match (spec.handler)(&mut self.ctx, arguments.clone()) {
            Ok(output) => {
                self.audit(&name, &arguments, Outcome::Ok, None);
                let mut text = output.text;
                if let Some(notice) = self.unread_notice() {
                    text.push('\n');
                    text.push_str(&notice);
                }
                Ok(tool_result(&text, output.structured, false))
            }
            Err(message) => {
                self.audit(&name, &arguments, Outcome::ToolError, Some(&message));
                Ok(tool_result(&message, None, true))
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

    fn audit(&self, tool: &str, arguments: &Value, outcome: Outcome, detail: Option<&str>) {
        let Ok(layout) = self.ctx.layout() else {
            return;
        };
        logs::audit(
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

fn tool_result(text: &str, structured: Option<Value>, is_error: bool) -> Value {
    let mut result = json!({
        "content": [{"type": "text", "text": text}],
        "isError": is_error,
    });
    if let (Some(data), Value::Object(map)) = (structured, &mut result) {
        map.insert("structuredContent".into(), data);
    }
    result
}
