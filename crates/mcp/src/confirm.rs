//! Typed confirmation of destructive tools (`enki_stop_all`, `enki_cancel`
//! of a whole execution). A tool's [`crate::tools::ToolSpec::confirm`] says
//! whether a call needs it and what must be typed. When the client declared
//! the `elicitation` capability (form mode) the user is asked through an
//! `elicitation/create` round trip ([`crate::link`]); otherwise the call
//! must carry a `confirm` argument equal to the target. Either way a
//! mismatch is refused with the exact text expected, before any side effect.

use enki_jsonrpc::{Id, IdAllocator, Message, Response, encode};
use serde_json::{Value, json};

use crate::link::{ClientLink, LinkError};
use crate::logs::TrafficLog;

/// What a call is about to do, and the text that confirms it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirmation {
    /// The tool, for the messages (`enki_cancel`).
    pub tool: &'static str,
    /// What the call does, as a phrase after "to": `cancel the whole
    /// execution exec-… ("title")`.
    pub action: String,
    /// What must be typed, exactly: the full execution id, or `stop all`.
    pub target: String,
}

/// Whether `initialize` params declare that the client can ask its user
/// for form input (`capabilities.elicitation`, which is `{}` or has `form`;
/// a client that lists only `url` cannot fill in a form).
pub fn client_can_elicit(params: Option<&Value>) -> bool {
    match params
        .and_then(|p| p.get("capabilities"))
        .and_then(|c| c.get("elicitation"))
    {
        Some(Value::Object(modes)) => modes.contains_key("form") || !modes.contains_key("url"),
        _ => false,
    }
}

/// The confirmation state of one session: whether the client may be asked,
/// and the ids of the requests this server sends it.
#[derive(Debug, Default)]
pub struct Confirmer {
    /// Set by `initialize` from the client's capabilities.
    pub client_elicits: bool,
    ids: IdAllocator,
}

impl Confirmer {
    /// `Ok` when `needed` is confirmed: by the user through `link` when the
    /// client can be asked, otherwise by the call's `confirm` argument.
    /// `during` is the tool call's id; the round trip is recorded in `log`.
    pub fn obtain(
        &self,
        needed: &Confirmation,
        arguments: &Value,
        link: &mut dyn ClientLink,
        during: &Id,
        log: &mut TrafficLog,
    ) -> Result<(), String> {
        if !self.client_elicits {
            return check_argument(needed, arguments);
        }
        let id = self.ids.next();
        let line = encode(&elicitation_request(id.clone(), needed));
        log.record("out", line.as_bytes());
        match link.round_trip(&id, &line, during) {
            Ok(response) => {
                log.record(
                    "in",
                    encode(&Message::Response(response.clone())).as_bytes(),
                );
                check_answer(needed, &response, arguments)
            }
            Err(LinkError::Unavailable) => check_argument(needed, arguments),
            Err(LinkError::Cancelled) => Err(format!(
                "the call was cancelled while the user was asked to confirm; nothing was done (to {})",
                needed.action
            )),
            Err(LinkError::Closed(why)) => Err(format!(
                "the client went away while its user was asked to confirm ({why}); nothing was done"
            )),
        }
    }
}

/// The `elicitation/create` request asking the user to type the target.
fn elicitation_request(id: Id, needed: &Confirmation) -> Message {
    Message::request(id, "elicitation/create", Some(elicitation_params(needed)))
}

/// The params of `elicitation/create` (form mode, the mode a client gets
/// when it names none).
fn elicitation_params(needed: &Confirmation) -> Value {
    json!({
        "message": format!(
            "An agent asks to {}. This cannot be undone. To allow it, type {} exactly.",
            needed.action, needed.target
        ),
        "requestedSchema": {
            "type": "object",
            "properties": {
                "confirm": {
                    "type": "string",
                    "title": format!("Type \"{}\" to confirm", needed.target),
                    "description": format!("Exactly \"{}\"; anything else refuses.", needed.target),
                },
            },
            "required": ["confirm"],
        },
    })
}

/// The key of enki's one input request in a 2026-07-28
/// `InputRequiredResult` (and of its answer in `inputResponses`).
pub const INPUT_KEY: &str = "confirm";

/// How a 2026-07-28 request is confirmed (multi round-trip requests: the
/// revision has no requests from server to client).
#[derive(Debug, Clone, PartialEq)]
pub enum Retried {
    /// Go on with the call.
    Confirmed,
    /// Answer this tool error; nothing is done.
    Refused(String),
    /// Answer this `InputRequiredResult`: the client asks its user, then
    /// sends the call again with the answer in `inputResponses`.
    Ask(Value),
    /// `inputResponses` is malformed: a protocol error (-32602).
    Invalid(String),
}

/// Confirms a 2026-07-28 call. A client whose `capabilities` (this
/// request's) can elicit a form is asked through an `InputRequiredResult`
/// until the call comes back with the user's answer under [`INPUT_KEY`] in
/// `params.inputResponses`, which then decides as an elicitation's answer
/// does; any other client passes the `confirm` argument.
pub fn obtain_by_retry(
    needed: &Confirmation,
    arguments: &Value,
    capabilities: &serde_json::Map<String, Value>,
    params: Option<&Value>,
) -> Retried {
    let elicits = client_can_elicit(Some(&json!({"capabilities": capabilities})));
    if !elicits {
        return check_argument(needed, arguments)
            .map_or_else(Retried::Refused, |()| Retried::Confirmed);
    }
    let ask = || {
        let mut request = elicitation_params(needed);
        request["mode"] = json!("form");
        Retried::Ask(json!({
            "resultType": "input_required",
            "inputRequests": {INPUT_KEY: {"method": "elicitation/create", "params": request}},
        }))
    };
    let answer = match params.and_then(|p| p.get("inputResponses")) {
        None | Some(Value::Null) => return ask(),
        Some(Value::Object(responses)) => match responses.get(INPUT_KEY) {
            None => return ask(),
            Some(answer) => answer,
        },
        Some(other) => {
            return Retried::Invalid(format!(
                "`inputResponses` must be an object of answers by key, got {other}"
            ));
        }
    };
    if !answer.get("action").is_some_and(Value::is_string) {
        return Retried::Invalid(format!(
            "`inputResponses.{INPUT_KEY}` must be the elicitation's result, an object with `action` (accept, decline or cancel) and, to accept, `content`: {{\"confirm\": \"{}\"}}; got {answer}",
            needed.target
        ));
    }
    check_result(needed, answer).map_or_else(Retried::Refused, |()| Retried::Confirmed)
}

/// The user's answer to the elicitation. A client that could not ask after
/// all (a JSON-RPC error) leaves the decision to the `confirm` argument.
fn check_answer(
    needed: &Confirmation,
    response: &Response,
    arguments: &Value,
) -> Result<(), String> {
    match &response.outcome {
        Ok(result) => check_result(needed, result),
        Err(_) => check_argument(needed, arguments),
    }
}

/// An `ElicitResult`: only `accept` with exactly the target confirms.
fn check_result(needed: &Confirmation, result: &Value) -> Result<(), String> {
    match result.get("action").and_then(Value::as_str) {
        Some("accept") => {
            let typed = result
                .pointer("/content/confirm")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if typed.trim() == needed.target {
                Ok(())
            } else {
                Err(format!(
                    "the user typed \"{typed}\", not \"{}\": nothing was done. To {}, the confirmation must be exactly \"{}\".",
                    needed.target, needed.action, needed.target
                ))
            }
        }
        Some("decline") => Err(format!(
            "the user declined to {}; nothing was done",
            needed.action
        )),
        Some("cancel") => Err(format!(
            "the user dismissed the request to {}; nothing was done",
            needed.action
        )),
        other => Err(format!(
            "the client answered the confirmation with action {}, which is none of accept, decline, cancel; nothing was done",
            other.map_or_else(|| "(none)".to_string(), |a| format!("\"{a}\""))
        )),
    }
}

/// The call's own `confirm` argument, which must be the target exactly.
fn check_argument(needed: &Confirmation, arguments: &Value) -> Result<(), String> {
    match arguments.get("confirm").and_then(Value::as_str) {
        Some(typed) if typed == needed.target => Ok(()),
        Some(typed) => Err(format!(
            "`confirm` must be exactly \"{}\" to {}; got \"{typed}\". Nothing was done.",
            needed.target, needed.action
        )),
        None => Err(format!(
            "{} would {}, which cannot be undone, so it needs a typed confirmation: call it again with \"confirm\": \"{}\" (exactly that). Nothing was done.",
            needed.tool, needed.action, needed.target
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::link::NoLink;

    fn stop_all() -> Confirmation {
        Confirmation {
            tool: "enki_stop_all",
            action: "stop every running worker and pause every execution".into(),
            target: "stop all".into(),
        }
    }

    /// Answers every round trip with `result`, remembering the request.
    struct Answering {
        result: Result<Value, enki_jsonrpc::ErrorObject>,
        sent: Vec<String>,
    }

    impl ClientLink for Answering {
        fn round_trip(&mut self, id: &Id, line: &str, _: &Id) -> Result<Response, LinkError> {
            self.sent.push(line.to_string());
            Ok(Response {
                id: Some(id.clone()),
                outcome: self.result.clone(),
            })
        }
    }

    fn elicit(
        result: Result<Value, enki_jsonrpc::ErrorObject>,
        arguments: Value,
    ) -> (Result<(), String>, Vec<String>) {
        let confirmer = Confirmer {
            client_elicits: true,
            ..Confirmer::default()
        };
        let mut link = Answering {
            result,
            sent: Vec::new(),
        };
        let outcome = confirmer.obtain(
            &stop_all(),
            &arguments,
            &mut link,
            &Id::Number(7),
            &mut TrafficLog::disabled(),
        );
        (outcome, link.sent)
    }

    #[test]
    fn only_a_form_capable_client_is_asked() {
        let params = |caps: Value| json!({"protocolVersion": "2025-11-25", "capabilities": caps});
        assert!(client_can_elicit(Some(&params(json!({"elicitation": {}})))));
        assert!(client_can_elicit(Some(&params(
            json!({"elicitation": {"form": {}}})
        ))));
        assert!(client_can_elicit(Some(&params(
            json!({"elicitation": {"form": {}, "url": {}}})
        ))));
        assert!(!client_can_elicit(Some(&params(
            json!({"elicitation": {"url": {}}})
        ))));
        assert!(!client_can_elicit(Some(&params(json!({"roots": {}})))));
        assert!(!client_can_elicit(Some(&params(
            json!({"elicitation": true})
        ))));
        assert!(!client_can_elicit(None));
    }

    #[test]
    fn without_elicitation_the_argument_must_be_the_target_exactly() {
        let confirmer = Confirmer::default();
        let ask = |arguments: Value| {
            confirmer.obtain(
                &stop_all(),
                &arguments,
                &mut NoLink,
                &Id::Number(1),
                &mut TrafficLog::disabled(),
            )
        };
        assert_eq!(ask(json!({"confirm": "stop all"})), Ok(()));
        let missing = ask(json!({})).expect_err("needs confirm");
        assert!(
            missing.contains("\"confirm\": \"stop all\"") && missing.contains("enki_stop_all"),
            "{missing}"
        );
        let wrong = ask(json!({"confirm": "Stop All "})).expect_err("exact");
        assert!(
            wrong.contains("must be exactly \"stop all\"") && wrong.contains("got \"Stop All \""),
            "{wrong}"
        );
    }

    #[test]
    fn the_user_is_asked_to_type_the_target_and_only_that_text_confirms() {
        let accept = |typed: &str| Ok(json!({"action": "accept", "content": {"confirm": typed}}));
        let (outcome, sent) = elicit(accept("stop all"), json!({}));
        assert_eq!(outcome, Ok(()));
        let request: Value = serde_json::from_str(&sent[0]).expect("a request line");
        assert_eq!(request["method"], "elicitation/create");
        assert_eq!(
            request["params"]["requestedSchema"]["required"],
            json!(["confirm"])
        );
        assert!(
            request["params"]["message"]
                .as_str()
                .unwrap_or_default()
                .contains("type stop all exactly")
        );

        let (outcome, _) = elicit(accept("stop"), json!({"confirm": "stop all"}));
        let text = outcome.expect_err("the user's text counts, not the argument");
        assert!(text.contains("typed \"stop\", not \"stop all\""), "{text}");
        for (action, says) in [
            ("decline", "declined"),
            ("cancel", "dismissed"),
            ("maybe", "\"maybe\""),
        ] {
            let (outcome, _) = elicit(Ok(json!({"action": action})), json!({}));
            let text = outcome.expect_err(action);
            assert!(
                text.contains(says) && text.contains("nothing was done"),
                "{text}"
            );
        }
    }

    #[test]
    fn a_client_that_fails_to_ask_falls_back_to_the_argument() {
        let error = Err(enki_jsonrpc::ErrorObject::method_not_found(
            "elicitation/create",
        ));
        let (outcome, sent) = elicit(error.clone(), json!({"confirm": "stop all"}));
        assert_eq!((outcome, sent.len()), (Ok(()), 1));
        let (outcome, _) = elicit(error, json!({}));
        assert!(outcome.is_err());
    }
}
