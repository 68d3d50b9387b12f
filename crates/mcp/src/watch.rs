//! What one MCP session asked to be told, and the notifications that are
//! due: `notifications/resources/updated` for subscribed resources whose
//! text changed, `notifications/prompts/list_changed` when the role files
//! changed the prompt list, and `notifications/message` for the server's
//! own warnings at the level the client set.
//!
//! The server is a blocking loop, so it looks for changes at two moments
//! (see [`Watch::poll`]): right after each request (cheap: one
//! `PRAGMA data_version`, and only with subscriptions), and on a timer
//! every [`TICK`] while the client is quiet, which also reads the role files.
//! Nothing is sent that the client did not ask for: no update without a
//! subscription, no `list_changed` before `prompts/list`, no log message
//! before `logging/setLevel`.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::time::Duration;

use enki_jsonrpc::{ErrorObject, Message, Request};
use serde_json::{Value, json};

use crate::context::Context;
use crate::logging::LogState;
use crate::{completion, prompts, resources};

/// How often the server looks for changes while no request comes.
pub const TICK: Duration = Duration::from_secs(1);

/// How many resources one session may subscribe to (each is rendered again
/// whenever the store changes).
pub const MAX_SUBSCRIPTIONS: usize = 64;

#[derive(Default)]
pub struct Watch {
    /// Subscribed URIs (as the client wrote them) and a fingerprint of what
    /// each showed when last looked at.
    subscriptions: BTreeMap<String, u64>,
    /// The store's `data_version` when the subscriptions were last looked at.
    data_version: Option<i64>,
    /// This server wrote to the store itself (a tool call): its own writes do
    /// not move its connection's `data_version`.
    own_write: bool,
    /// A fingerprint of the role files when the roles were last loaded.
    role_files: Option<u64>,
    /// Once the client listed prompts: a fingerprint of the list it saw.
    prompts_seen: Option<u64>,
    pub log: LogState,
}

fn fingerprint(rendered: &Result<String, ErrorObject>) -> u64 {
    let mut hasher = std::hash::DefaultHasher::new();
    match rendered {
        Ok(text) => text.hash(&mut hasher),
        Err(error) => error.message.hash(&mut hasher),
    }
    hasher.finish()
}

impl Watch {
    /// Answers the methods of resources, prompts, completion and logging;
    /// `None` for every other method.
    pub fn dispatch(
        &mut self,
        ctx: &mut Context,
        request: &Request,
    ) -> Option<Result<Value, ErrorObject>> {
        let params = request.params.as_ref();
        let answer = match request.method.as_str() {
            "resources/list" => Ok(resources::list(ctx)),
            "resources/templates/list" => Ok(resources::templates(ctx)),
            "resources/read" => resources::read(ctx, params),
            "resources/subscribe" => self.subscribe(ctx, params),
            "resources/unsubscribe" => {
                resources::uri_param(params, "resources/unsubscribe").map(|uri| {
                    self.subscriptions.remove(uri);
                    json!({})
                })
            }
            "prompts/list" => {
                self.refresh_roles(ctx);
                let list = prompts::list(ctx);
                self.prompts_seen = Some(prompts::fingerprint(&list));
                Ok(list)
            }
            "prompts/get" => {
                self.refresh_roles(ctx);
                prompts::get(ctx, params)
            }
            "completion/complete" => completion::complete(ctx, params),
            "logging/setLevel" => self.log.set_level(params),
            _ => return None,
        };
        Some(answer)
    }

    fn subscribe(
        &mut self,
        ctx: &mut Context,
        params: Option<&Value>,
    ) -> Result<Value, ErrorObject> {
        let uri = resources::uri_param(params, "resources/subscribe")?;
        if !self.subscriptions.contains_key(uri) && self.subscriptions.len() >= MAX_SUBSCRIPTIONS {
            return Err(ErrorObject::invalid_params(format!(
                "at most {MAX_SUBSCRIPTIONS} subscriptions per session; unsubscribe from one first"
            )));
        }
        let rendered = resources::render(ctx, uri)?;
        if self.subscriptions.is_empty() {
            self.data_version = ctx.data_version();
        }
        self.subscriptions
            .insert(uri.to_string(), fingerprint(&Ok(rendered)));
        Ok(json!({}))
    }

    /// The watch of one `subscriptions/listen` stream (2026-07-28): prompt
    /// list changes when `prompts` is set, and updates of each of `uris`
    /// the role may read. Returns it with the URIs it honours (as written,
    /// without repeats); the others are left out.
    pub fn listening(ctx: &mut Context, prompts: bool, uris: &[String]) -> (Watch, Vec<String>) {
        let mut watch = Watch::default();
        let mut honoured = Vec::new();
        for uri in uris {
            if !watch.subscriptions.contains_key(uri)
                && watch.subscribe(ctx, Some(&json!({"uri": uri}))).is_ok()
            {
                honoured.push(uri.clone());
            }
        }
        if prompts {
            watch.refresh_roles(ctx);
            watch.prompts_seen = Some(prompts::fingerprint(&prompts::list(ctx)));
        }
        (watch, honoured)
    }

    /// Makes the next use of the roles read the role files again when they
    /// changed since they were last looked at here (the first time too, as
    /// a tool may have loaded them before).
    fn refresh_roles(&mut self, ctx: &mut Context) {
        let Ok(layout) = ctx.layout() else {
            return;
        };
        let files = enki_project::roles::role_files_fingerprint(layout);
        if self.role_files != Some(files) {
            ctx.forget_roles();
            self.role_files = Some(files);
        }
    }

    /// Notes what a request did that the next [`Watch::poll`] must look at.
    pub fn after_request(&mut self, request: &Request) {
        if request.method == "tools/call" {
            self.own_write = true;
        }
    }

    /// The notifications due now. `tick` is the timer's call (the client was
    /// quiet for [`TICK`]); it also looks at the role files.
    pub fn poll(&mut self, ctx: &mut Context, tick: bool) -> Vec<Message> {
        let mut due = self.log.take();
        if !self.subscriptions.is_empty() {
            let version = ctx.data_version();
            if self.own_write || version != self.data_version {
                self.data_version = version;
                let uris: Vec<String> = self.subscriptions.keys().cloned().collect();
                for uri in uris {
                    let now = fingerprint(&resources::render(ctx, &uri));
                    if self.subscriptions.insert(uri.clone(), now) != Some(now) {
                        due.push(Message::notification(
                            "notifications/resources/updated",
                            Some(json!({"uri": uri})),
                        ));
                    }
                }
            }
        }
        self.own_write = false;
        if tick && let Some(seen) = self.prompts_seen {
            self.refresh_roles(ctx);
            let now = prompts::fingerprint(&prompts::list(ctx));
            if now != seen {
                self.prompts_seen = Some(now);
                due.push(Message::notification(
                    "notifications/prompts/list_changed",
                    None,
                ));
            }
        }
        // Warnings raised while looking (a bad role file) go out now too.
        due.extend(self.log.take());
        due
    }
}
