//! The client side of the ACP connection as the agent sees it: writing
//! messages (one line each, from any thread) and awaiting the responses to
//! the agent's own requests (`fs/*`, `session/request_permission`), which
//! the main loop routes back here by id.

use std::collections::HashMap;
use std::io::Write;
use std::sync::mpsc::{Sender, channel};
use std::sync::{Mutex, PoisonError};

use enki_jsonrpc::{ErrorObject, Id, IdAllocator, LineWriter, Message, Response};
use serde_json::{Value, json};

use crate::cancel::{Cancel, Wait};

type Reply = Result<Value, ErrorObject>;

/// Why a request to the client did not get a result.
#[derive(Debug, Clone, PartialEq)]
pub enum CallError {
    /// The turn was cancelled while waiting.
    Cancelled,
    /// The client answered with an error.
    Remote(ErrorObject),
    /// The connection is gone.
    Closed,
}

pub struct Peer {
    out: Mutex<LineWriter<Box<dyn Write + Send>>>,
    ids: IdAllocator,
    /// `None` once the connection is closed.
    pending: Mutex<Option<HashMap<Id, Sender<Reply>>>>,
}

impl Peer {
    pub fn new(out: Box<dyn Write + Send>) -> Peer {
        Peer {
            out: Mutex::new(LineWriter::new(out)),
            ids: IdAllocator::new(),
            pending: Mutex::new(Some(HashMap::new())),
        }
    }

    /// Writes one message; a failed write is reported on stderr only.
    pub fn send(&self, message: &Message) {
        let mut out = self.out.lock().unwrap_or_else(PoisonError::into_inner);
        if let Err(e) = out.send(message) {
            eprintln!("enki sim-agent: cannot write to stdout: {e}");
        }
    }

    /// Writes one raw line (for the `garbage` step).
    pub fn send_raw_line(&self, line: &str) {
        let mut out = self.out.lock().unwrap_or_else(PoisonError::into_inner);
        if let Err(e) = out.send_raw_line(line) {
            eprintln!("enki sim-agent: cannot write to stdout: {e}");
        }
    }

    pub fn respond(&self, id: Id, result: Value) {
        self.send(&Message::response(id, result));
    }

    pub fn respond_error(&self, id: Id, error: ErrorObject) {
        self.send(&Message::error(Some(id), error));
    }

    /// A `session/update` notification.
    pub fn update(&self, session_id: &str, update: Value) {
        self.send(&Message::notification(
            "session/update",
            Some(json!({"sessionId": session_id, "update": update})),
        ));
    }

    /// Sends a request to the client and waits for its response, or for the
    /// turn to be cancelled.
    pub fn request(
        &self,
        method: &str,
        params: Value,
        cancel: &Cancel,
    ) -> Result<Value, CallError> {
        let id = self.ids.next();
        let (tx, rx) = channel();
        {
            let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
            let Some(pending) = pending.as_mut() else {
                return Err(CallError::Closed);
            };
            pending.insert(id.clone(), tx);
        }
        self.send(&Message::request(id.clone(), method, Some(params)));
        let outcome = match cancel.recv(&rx, None) {
            Wait::Got(Ok(value)) => Ok(value),
            Wait::Got(Err(error)) => Err(CallError::Remote(error)),
            Wait::Cancelled => Err(CallError::Cancelled),
            Wait::TimedOut | Wait::Closed => Err(CallError::Closed),
        };
        if let Some(pending) = self
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_mut()
        {
            pending.remove(&id);
        }
        outcome
    }

    /// Hands a response from the client to the request waiting for it.
    /// Returns false if nothing was waiting for that id.
    pub fn route(&self, response: Response) -> bool {
        let Some(id) = response.id else {
            return false;
        };
        let waiter = self
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_mut()
            .and_then(|p| p.remove(&id));
        match waiter {
            Some(tx) => tx.send(response.outcome).is_ok(),
            None => false,
        }
    }

    /// The connection is gone: every waiting request fails.
    pub fn close(&self) {
        self.pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// A writer whose bytes can be read back.
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Buffer {
        fn lines(&self) -> Vec<Value> {
            String::from_utf8(self.0.lock().unwrap().clone())
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect()
        }
    }

    #[test]
    fn requests_get_their_routed_response() {
        let buffer = Buffer::default();
        let peer = Arc::new(Peer::new(Box::new(buffer.clone())));
        let cancel = Arc::new(Cancel::new());
        let (p, c) = (Arc::clone(&peer), Arc::clone(&cancel));
        let waiter = std::thread::spawn(move || p.request("fs/read_text_file", json!({}), &c));
        // Wait until the request is on the wire, then answer it.
        let id = loop {
            if let Some(line) = buffer.lines().first() {
                break line["id"].as_i64().unwrap();
            }
            std::thread::yield_now();
        };
        assert!(!peer.route(Response {
            id: Some(Id::Number(id + 100)),
            outcome: Ok(json!(1)),
        }));
        assert!(peer.route(Response {
            id: Some(Id::Number(id)),
            outcome: Ok(json!({"content": "x"})),
        }));
        assert_eq!(waiter.join().unwrap(), Ok(json!({"content": "x"})));
    }

    #[test]
    fn cancelled_and_closed_requests() {
        let peer = Peer::new(Box::new(Buffer::default()));
        let cancel = Cancel::new();
        cancel.cancel();
        assert_eq!(
            peer.request("x", json!({}), &cancel),
            Err(CallError::Cancelled)
        );
        peer.close();
        assert_eq!(
            peer.request("x", json!({}), &Cancel::new()),
            Err(CallError::Closed)
        );
    }
}
