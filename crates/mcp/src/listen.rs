//! `subscriptions/listen` (MCP 2026-07-28), which replaced
//! `resources/subscribe` and the HTTP GET stream: a long-lived request whose
//! stream carries the change notifications the client opted in to, each
//! with the request's id as `_meta["io.modelcontextprotocol/subscriptionId"]`.
//!
//! The request is not answered while the subscription lasts: the server
//! first sends `notifications/subscriptions/acknowledged` with the part of
//! the filter it honours, then the notifications as they are due (looked
//! for as a session's are: `watch.rs`), and a result only when it ends the
//! subscription itself. The client ends it by closing the stream (HTTP) or
//! with `notifications/cancelled` naming the request (stdio).
//!
//! What enki honours: `promptsListChanged` (role files) and
//! `resourceSubscriptions` of resources the role may read (at most
//! [`crate::watch::MAX_SUBSCRIPTIONS`]; others are left out of the
//! acknowledgement). `toolsListChanged` and `resourcesListChanged` are never
//! honoured: those lists do not change while the process runs.

use enki_jsonrpc::{ErrorObject, Id, Message, Request};
use serde_json::{Map, Value, json};

use crate::context::Context;
use crate::protocol;
use crate::stateless::SERVER_INFO_KEY;
use crate::watch::{MAX_SUBSCRIPTIONS, Watch};

/// `_meta` key naming the subscription a message belongs to.
pub const SUBSCRIPTION_ID_KEY: &str = "io.modelcontextprotocol/subscriptionId";

/// Open subscriptions one server keeps at most (one stdio process; an HTTP
/// listen stream has a server of its own).
pub const MAX_LISTENERS: usize = 16;

/// One open subscription.
pub struct Listener {
    pub id: Id,
    pub watch: Watch,
}

fn id_value(id: &Id) -> Value {
    serde_json::to_value(id).unwrap_or(Value::Null)
}

/// Opens a subscription for `request`: the listener and the
/// acknowledgement to send first. `open` are the ids of those already
/// open.
pub fn open(
    ctx: &mut Context,
    request: &Request,
    open: &[Listener],
) -> Result<(Listener, Message), ErrorObject> {
    if open.iter().any(|l| l.id == request.id) {
        return Err(ErrorObject::invalid_request(
            "a subscription with this request id is open already: each subscriptions/listen needs an id of its own",
        ));
    }
    if open.len() >= MAX_LISTENERS {
        return Err(ErrorObject::invalid_request(format!(
            "at most {MAX_LISTENERS} subscriptions at once; cancel one first"
        )));
    }
    let filter = match request.params.as_ref().and_then(|p| p.get("notifications")) {
        Some(Value::Object(filter)) => filter,
        other => {
            return Err(ErrorObject::invalid_params(format!(
                "subscriptions/listen needs `notifications`: an object such as {{\"promptsListChanged\": true, \"resourceSubscriptions\": [\"enki://tasks\"]}}, got {}",
                other.map_or("nothing".to_string(), Value::to_string)
            )));
        }
    };
    let flag = |name: &str| match filter.get(name) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(on)) => Ok(*on),
        Some(other) => Err(ErrorObject::invalid_params(format!(
            "`notifications.{name}` must be true or false, got {other}"
        ))),
    };
    let prompts = flag("promptsListChanged")?;
    // Asked for or not, these lists never change while enki runs.
    flag("toolsListChanged")?;
    flag("resourcesListChanged")?;
    let uris = match filter.get("resourceSubscriptions") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| item.as_str().map(str::to_string))
            .collect::<Option<Vec<String>>>()
            .ok_or_else(|| {
                ErrorObject::invalid_params(
                    "`notifications.resourceSubscriptions` must be a list of resource URIs (strings)",
                )
            })?,
        Some(other) => {
            return Err(ErrorObject::invalid_params(format!(
                "`notifications.resourceSubscriptions` must be a list of resource URIs, got {other}"
            )));
        }
    };
    if uris.len() > MAX_SUBSCRIPTIONS {
        return Err(ErrorObject::invalid_params(format!(
            "at most {MAX_SUBSCRIPTIONS} resources per subscription; {} were named",
            uris.len()
        )));
    }
    let (watch, honoured) = Watch::listening(ctx, prompts, &uris);
    let mut agreed = Map::new();
    if prompts {
        agreed.insert("promptsListChanged".into(), json!(true));
    }
    if !uris.is_empty() {
        agreed.insert("resourceSubscriptions".into(), json!(honoured));
    }
    let listener = Listener {
        id: request.id.clone(),
        watch,
    };
    let acknowledged = Message::notification(
        "notifications/subscriptions/acknowledged",
        Some(json!({
            "_meta": {SUBSCRIPTION_ID_KEY: id_value(&request.id)},
            "notifications": agreed,
        })),
    );
    Ok((listener, acknowledged))
}

/// A notification due on `listener`'s stream, marked with its id.
pub fn mark(listener: &Listener, mut message: Message) -> Message {
    if let Message::Notification(notification) = &mut message {
        let params = notification.params.get_or_insert_with(|| json!({}));
        if let Value::Object(params) = params
            && let Value::Object(meta) = params.entry("_meta").or_insert_with(|| json!({}))
        {
            meta.insert(SUBSCRIPTION_ID_KEY.into(), id_value(&listener.id));
        }
    }
    message
}

/// The result that ends a subscription gracefully (the server ends it).
pub fn closing(listener: &Listener) -> Message {
    Message::response(
        listener.id.clone(),
        json!({
            "resultType": "complete",
            "_meta": {
                SUBSCRIPTION_ID_KEY: id_value(&listener.id),
                SERVER_INFO_KEY: protocol::server_info(),
            },
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::roles::McpRole;

    fn request(id: i64, params: Value) -> Request {
        Request {
            id: Id::Number(id),
            method: "subscriptions/listen".into(),
            params: Some(params),
        }
    }

    fn ctx() -> Context {
        Context::new(
            McpRole::Planner,
            None,
            false,
            None,
            Err("no project".into()),
        )
    }

    #[test]
    fn the_filter_is_checked_and_what_is_honoured_acknowledged() {
        let mut ctx = ctx();
        for bad in [
            json!({}),
            json!({"notifications": []}),
            json!({"notifications": {"promptsListChanged": "yes"}}),
            json!({"notifications": {"resourceSubscriptions": "enki://tasks"}}),
            json!({"notifications": {"resourceSubscriptions": [1]}}),
        ] {
            let error = open(&mut ctx, &request(1, bad.clone()), &[]).err();
            assert_eq!(error.map(|e| e.code), Some(-32602), "{bad}");
        }
        let (listener, ack) = open(
            &mut ctx,
            &request(
                7,
                json!({"notifications": {"toolsListChanged": true, "resourceSubscriptions": ["enki://nothing"]}}),
            ),
            &[],
        )
        .expect("opened");
        let Message::Notification(ack) = ack else {
            panic!("a notification")
        };
        assert_eq!(ack.method, "notifications/subscriptions/acknowledged");
        let params = ack.params.expect("params");
        assert_eq!(params["_meta"][SUBSCRIPTION_ID_KEY], 7);
        assert_eq!(
            params["notifications"],
            json!({"resourceSubscriptions": []}),
            "tools never change; an unreadable resource is left out"
        );
        let again = open(
            &mut ctx,
            &request(7, json!({"notifications": {}})),
            &[listener],
        );
        assert_eq!(again.err().map(|e| e.code), Some(-32600));
    }

    #[test]
    fn notifications_and_the_closing_result_name_the_subscription() {
        let listener = Listener {
            id: Id::String("s".into()),
            watch: Watch::default(),
        };
        let marked = mark(
            &listener,
            Message::notification(
                "notifications/resources/updated",
                Some(json!({"uri": "enki://tasks"})),
            ),
        );
        let Message::Notification(marked) = marked else {
            panic!("a notification")
        };
        let params = marked.params.expect("params");
        assert_eq!(params["_meta"][SUBSCRIPTION_ID_KEY], "s");
        assert_eq!(params["uri"], "enki://tasks");
        let Message::Response(closing) = closing(&listener) else {
            panic!("a response")
        };
        let result = closing.outcome.expect("a result");
        assert_eq!(result["resultType"], "complete");
        assert_eq!(result["_meta"][SUBSCRIPTION_ID_KEY], "s");
    }
}
