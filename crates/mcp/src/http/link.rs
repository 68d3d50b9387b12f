//! Requests of the server to the client over HTTP (`elicitation/create`,
//! for the typed confirmation of destructive tools): the HTTP side of
//! [`crate::link::ClientLink`].
//!
//! While a session's server answers a POST, it may need to ask the client
//! something. The request goes on that POST's own event stream when the
//! POST accepts one (the answer then comes as an event stream too: the
//! request, then the response), else on the session's standalone stream
//! when one is read; with neither the client cannot be asked and the call
//! falls back to its `confirm` argument. The client POSTs its response; it
//! is matched to the waiting request by id before the session's server is
//! needed (that server is busy waiting), and so is a `notifications/cancelled`
//! of the call being answered, which ends the wait. The end of the session
//! ends it too. There is no other time limit: a person may take their time.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, channel};

use enki_jsonrpc::{Id, Message, Response, parse_line};
use tokio::sync::oneshot;

use super::sessions::Session;
use super::stream::Events;
use crate::link::{ClientLink, LinkError};

/// A request of the server waiting for the client's response.
pub(crate) struct Pending {
    /// The id of the server's request.
    id: Id,
    /// The id of the client's request being answered meanwhile.
    during: Id,
    answer: Sender<Answer>,
}

enum Answer {
    Response(Response),
    Cancelled,
}

impl Session {
    /// Whether the session's server waits for a response of the client.
    pub fn awaits_client(&self) -> bool {
        self.slot().pending.is_some()
    }

    /// Hands `body` to the request waiting for it when it is that
    /// request's response, or the cancellation of the call being answered;
    /// `false` for anything else.
    pub fn deliver(&self, body: &[u8]) -> bool {
        let mut slot = self.slot();
        let Some(pending) = &slot.pending else {
            return false;
        };
        let answer = match parse_line(body) {
            Ok(Some(Message::Response(response))) if response.id.as_ref() == Some(&pending.id) => {
                Answer::Response(response)
            }
            Ok(Some(Message::Notification(n)))
                if n.method == "notifications/cancelled"
                    && n.params
                        .as_ref()
                        .and_then(|p| p.get("requestId"))
                        .and_then(|r| Id::from_json(&r.to_string()))
                        .as_ref()
                        == Some(&pending.during) =>
            {
                Answer::Cancelled
            }
            _ => return false,
        };
        if let Some(pending) = slot.pending.take() {
            let _waiter_may_be_gone = pending.answer.send(answer);
        }
        true
    }

    fn expect(&self, id: &Id, during: &Id) -> Receiver<Answer> {
        let (answer, answers) = channel();
        self.slot().pending = Some(Pending {
            id: id.clone(),
            during: during.clone(),
            answer,
        });
        answers
    }
}

/// The link of one POST being answered (on a blocking thread).
pub(crate) struct HttpLink {
    session: Arc<Session>,
    /// The POST accepts `text/event-stream`: its answer may become one.
    post_accepts_events: bool,
    /// Hands the POST's event stream to the task that answers the POST.
    upgrade: Option<oneshot::Sender<Events>>,
    /// The POST's event stream, once a request went on it: the answer
    /// goes there too.
    pub stream: Option<u64>,
}

impl HttpLink {
    pub fn new(
        session: Arc<Session>,
        post_accepts_events: bool,
        upgrade: oneshot::Sender<Events>,
    ) -> HttpLink {
        HttpLink {
            session,
            post_accepts_events,
            upgrade: Some(upgrade),
            stream: None,
        }
    }
}

impl ClientLink for HttpLink {
    fn round_trip(&mut self, id: &Id, line: &str, during: &Id) -> Result<Response, LinkError> {
        // Waiting before the request goes out: the response may be quick.
        let answers = self.session.expect(id, during);
        if self.stream.is_none()
            && self.post_accepts_events
            && let Some(upgrade) = self.upgrade.take()
        {
            let (stream, events) = self.session.open_answer_stream();
            if upgrade.send(events).is_ok() {
                self.stream = Some(stream);
            } else {
                self.session.finish(stream);
            }
        }
        if let Some(stream) = self.stream {
            self.session.write(stream, line);
        } else if self.session.has_stream() {
            self.session.push(&[line.to_string()]);
        } else {
            self.session.slot().pending = None;
            return Err(LinkError::Unavailable);
        }
        match answers.recv() {
            Ok(Answer::Response(response)) => Ok(response),
            Ok(Answer::Cancelled) => Err(LinkError::Cancelled),
            Err(_) => Err(LinkError::Closed("the session ended".to_string())),
        }
    }
}
