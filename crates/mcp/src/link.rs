//! Requests from the server to its client in the middle of answering one of
//! the client's requests (MCP's `elicitation/create`): the seam every
//! transport offers [`crate::Server::handle_with`].
//!
//! The server handles one message at a time. To ask the client something
//! before it answers a tool call, it sends a request of its own with an id
//! from its own counter, keeps that id as the one it waits for, and reads
//! the client's messages until the response with that id comes. Over stdio
//! ([`StdioLink`]) whatever else arrives meanwhile is kept, in order, and
//! handled after the tool call is answered, so responses still go out in
//! request order; a `notifications/cancelled` for the tool call ends the
//! wait, and so does the end of the input. There is no other time limit: a
//! person may take their time. A transport with no way back to the client
//! offers [`NoLink`] (the call then needs its `confirm` argument).

use std::collections::VecDeque;
use std::io::Write;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

use enki_jsonrpc::{Frame, Id, LineWriter, Message, Response, parse_line};

use crate::frames::Incoming;

/// Why a request to the client got no response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkError {
    /// This transport cannot send the client requests.
    Unavailable,
    /// The client cancelled the request being answered.
    Cancelled,
    /// The connection ended or failed.
    Closed(String),
}

/// A way to send the client a request and wait for its response.
pub trait ClientLink {
    /// Sends `line` (an encoded request whose id is `id`) and returns the
    /// client's response to it. `during` is the id of the client's request
    /// being answered; the wait ends if the client cancels that one.
    fn round_trip(&mut self, id: &Id, line: &str, during: &Id) -> Result<Response, LinkError>;
}

/// No way back to the client: every round trip is [`LinkError::Unavailable`].
pub struct NoLink;

impl ClientLink for NoLink {
    fn round_trip(&mut self, _: &Id, _: &str, _: &Id) -> Result<Response, LinkError> {
        Err(LinkError::Unavailable)
    }
}

/// stdio: the request loop's frames (read on their own thread, `frames.rs`)
/// and its writer, and what was read while waiting for a response, which
/// the loop takes first.
pub struct StdioLink<W: Write> {
    frames: Receiver<Incoming>,
    writer: LineWriter<W>,
    held: VecDeque<Incoming>,
}

impl<W: Write> StdioLink<W> {
    pub fn new(frames: Receiver<Incoming>, output: W) -> StdioLink<W> {
        StdioLink {
            frames,
            writer: LineWriter::new(output),
            held: VecDeque::new(),
        }
    }

    /// The next frame to handle, waiting at most `timeout`: one held during
    /// a round trip first, else the next one read.
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<Incoming, RecvTimeoutError> {
        match self.held.pop_front() {
            Some(incoming) => Ok(incoming),
            None => self.frames.recv_timeout(timeout),
        }
    }

    pub fn send_line(&mut self, line: &str) -> std::io::Result<()> {
        self.writer.send_raw_line(line)
    }
}

impl<W: Write> ClientLink for StdioLink<W> {
    fn round_trip(&mut self, id: &Id, line: &str, during: &Id) -> Result<Response, LinkError> {
        self.writer
            .send_raw_line(line)
            .map_err(|e| LinkError::Closed(e.to_string()))?;
        loop {
            let incoming = self
                .frames
                .recv()
                .map_err(|_| LinkError::Closed("the client closed the connection".to_string()))?;
            let frame = match incoming {
                Ok(Some(frame)) => frame,
                // The end (or a broken input): the loop sees it next.
                ended => {
                    let why = match &ended {
                        Err(e) => e.to_string(),
                        Ok(_) => "the client closed the connection".to_string(),
                    };
                    self.held.push_back(ended);
                    return Err(LinkError::Closed(why));
                }
            };
            if let Frame::Line(bytes) = &frame {
                match parse_line(bytes) {
                    Ok(Some(Message::Response(response))) if response.id.as_ref() == Some(id) => {
                        return Ok(response);
                    }
                    Ok(Some(Message::Notification(n)))
                        if n.method == "notifications/cancelled"
                            && n.params
                                .as_ref()
                                .and_then(|p| p.get("requestId"))
                                .is_some_and(|r| cancels(r, during)) =>
                    {
                        self.held.push_back(Ok(Some(frame)));
                        return Err(LinkError::Cancelled);
                    }
                    _ => {}
                }
            }
            self.held.push_back(Ok(Some(frame)));
        }
    }
}

/// Whether the `requestId` of a cancellation names `id`.
fn cancels(request_id: &serde_json::Value, id: &Id) -> bool {
    Id::from_json(&request_id.to_string()).as_ref() == Some(id)
}

#[cfg(test)]
mod tests {
    use enki_jsonrpc::encode;
    use serde_json::json;

    use super::*;

    fn link(input: &str) -> StdioLink<Vec<u8>> {
        let frames = crate::frames::read_on_a_thread(std::io::Cursor::new(input.to_string()))
            .expect("a reader thread");
        StdioLink::new(frames, Vec::new())
    }

    /// The frames the loop gets next, as text, until the end.
    fn rest(link: &mut StdioLink<Vec<u8>>) -> Vec<String> {
        let mut rest = Vec::new();
        while let Ok(Ok(Some(frame))) = link.recv_timeout(Duration::from_secs(5)) {
            if let Frame::Line(bytes) = frame {
                rest.push(String::from_utf8_lossy(&bytes).into_owned());
            }
        }
        rest
    }

    fn request_line(id: i64) -> String {
        encode(&Message::request(
            Id::Number(id),
            "elicitation/create",
            Some(json!({})),
        ))
    }

    #[test]
    fn the_response_with_the_pending_id_ends_the_wait_and_the_rest_is_kept_in_order() {
        let input = [
            r#"{"jsonrpc":"2.0","id":9,"method":"ping"}"#,
            r#"{"jsonrpc":"2.0","id":"other","result":{}}"#,
            r#"{"jsonrpc":"2.0","id":1,"result":{"action":"accept","content":{"confirm":"x"}}}"#,
            r#"{"jsonrpc":"2.0","id":10,"method":"ping"}"#,
        ]
        .join("\n");
        let mut link = link(&input);
        let response = link
            .round_trip(&Id::Number(1), &request_line(1), &Id::Number(5))
            .expect("answered");
        assert_eq!(
            response.outcome,
            Ok(json!({"action": "accept", "content": {"confirm": "x"}}))
        );
        assert_eq!(
            String::from_utf8_lossy(link.writer.get_ref()),
            request_line(1)
        );
        let rest = rest(&mut link);
        assert_eq!(rest.len(), 3, "{rest:?}");
        assert!(
            rest[0].contains(r#""id":9"#)
                && rest[1].contains("other")
                && rest[2].contains(r#""id":10"#)
        );
    }

    #[test]
    fn a_cancellation_of_the_call_being_answered_ends_the_wait() {
        let input = [
            r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":4}}"#,
            r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"5"}}"#,
            r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":5}}"#,
        ]
        .join("\n");
        let mut link = link(&input);
        let outcome = link.round_trip(&Id::Number(1), &request_line(1), &Id::Number(5));
        assert_eq!(outcome, Err(LinkError::Cancelled));
        assert_eq!(
            rest(&mut link).len(),
            3,
            "the notifications are still handled afterwards"
        );
    }

    #[test]
    fn eof_while_waiting_is_a_closed_link() {
        let mut link = link(r#"{"jsonrpc":"2.0","id":9,"method":"ping"}"#);
        let outcome = link.round_trip(&Id::Number(1), &request_line(1), &Id::Number(5));
        assert!(matches!(outcome, Err(LinkError::Closed(_))), "{outcome:?}");
        assert!(
            matches!(link.recv_timeout(Duration::from_secs(5)), Ok(Ok(Some(_)))),
            "the ping is kept"
        );
        assert!(
            matches!(link.recv_timeout(Duration::from_secs(5)), Ok(Ok(None))),
            "then the end, for the loop to see"
        );
        assert_eq!(
            NoLink.round_trip(&Id::Number(1), "", &Id::Number(2)),
            Err(LinkError::Unavailable)
        );
    }
}
