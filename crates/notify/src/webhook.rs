//! The optional webhook: one JSON POST per notification to a plain
//! `http://` address, each bounded by a timeout and never retried. At most
//! one request is in flight: notes that come meanwhile are merged and sent
//! once it is done, so a slow or dead endpoint never piles up requests.

use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::rt::TokioIo;

use crate::coalesce::{Note, merge};

/// `http://authority/path`, split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub authority: String,
    pub path: String,
}

impl Target {
    /// The config checked the form; anything else is refused here too.
    pub fn parse(url: &str) -> Option<Target> {
        let rest = url.trim().strip_prefix("http://")?;
        let (authority, path) = match rest.find('/') {
            Some(at) => (&rest[..at], &rest[at..]),
            None => (rest, "/"),
        };
        if authority.is_empty() {
            return None;
        }
        let authority = if authority.contains(':') {
            authority.to_string()
        } else {
            format!("{authority}:80")
        };
        Some(Target {
            authority,
            path: path.to_string(),
        })
    }
}

#[derive(Default)]
struct State {
    /// A sender thread runs and will see what is queued (set and cleared
    /// under the lock, so a note is never left behind).
    sending: bool,
    sender: Option<JoinHandle<()>>,
    queued: Vec<Note>,
}

pub struct Webhook {
    target: Target,
    timeout: Duration,
    project: String,
    state: Arc<Mutex<State>>,
}

impl Webhook {
    pub fn new(target: Target, timeout: Duration, project: String) -> Webhook {
        Webhook {
            target,
            timeout,
            project,
            state: Arc::default(),
        }
    }

    /// Sends `note` now, or after the request in flight.
    pub fn send(&self, note: Note) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.queued.push(note);
        if state.sending {
            return;
        }
        state.sending = true;
        let (target, timeout, project) = (self.target.clone(), self.timeout, self.project.clone());
        let shared = Arc::clone(&self.state);
        let previous = state.sender.replace(std::thread::spawn(move || {
            drain(&shared, &target, timeout, &project);
        }));
        drop(state);
        // It has cleared `sending`, so it is ending.
        if let Some(previous) = previous {
            let _ = previous.join();
        }
    }

    /// Waits for what is queued or in flight (each request is bounded by
    /// the timeout): called before the process ends.
    pub fn finish(&self) {
        let sender = self
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .sender
            .take();
        if let Some(sender) = sender {
            let _ = sender.join();
        }
    }
}

/// Sends the queued notes, merged, until none are left.
fn drain(state: &Mutex<State>, target: &Target, timeout: Duration, project: &str) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    loop {
        let note = {
            let mut state = state.lock().unwrap_or_else(PoisonError::into_inner);
            let note = merge(std::mem::take(&mut state.queued));
            if note.is_none() {
                state.sending = false;
            }
            note
        };
        let Some(note) = note else { return };
        let Ok(runtime) = &runtime else {
            tracing::warn!("webhook not delivered: cannot start its runtime");
            continue;
        };
        let body = serde_json::json!({
            "source": "enki",
            "project": project,
            "title": note.title,
            "body": note.body,
            "needs_you": note.urgent,
        })
        .to_string();
        let sent = runtime.block_on(async {
            tokio::time::timeout(timeout, post(target, body))
                .await
                .unwrap_or_else(|_| Err(format!("no answer within {} s", timeout.as_secs())))
        });
        // The address is not logged: its path may hold a secret.
        match sent {
            Ok(status) if (200..300).contains(&status) => {}
            Ok(status) => {
                tracing::warn!(host = %target.authority, "webhook answered HTTP {status}")
            }
            Err(e) => tracing::warn!(host = %target.authority, "webhook not delivered: {e}"),
        }
    }
}

/// One POST on a new connection; the answer's status.
async fn post(target: &Target, body: String) -> Result<u16, String> {
    let stream = tokio::net::TcpStream::connect(&target.authority)
        .await
        .map_err(|e| e.to_string())?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake::<_, Full<Bytes>>(TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    let request = hyper::Request::builder()
        .method("POST")
        .uri(&target.path)
        .header("Host", &target.authority)
        .header("Content-Type", "application/json")
        .header("User-Agent", concat!("enki/", env!("CARGO_PKG_VERSION")))
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| e.to_string())?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    Ok(response.status().as_u16())
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;

    use super::*;

    #[test]
    fn urls_split_into_authority_and_path() {
        assert_eq!(
            Target::parse("http://127.0.0.1:9000/hooks/enki?x=1"),
            Some(Target {
                authority: "127.0.0.1:9000".into(),
                path: "/hooks/enki?x=1".into()
            })
        );
        assert_eq!(
            Target::parse("http://relay"),
            Some(Target {
                authority: "relay:80".into(),
                path: "/".into()
            })
        );
        assert_eq!(Target::parse("https://x/"), None);
        assert_eq!(Target::parse("http:///x"), None);
    }

    /// Accepts one request and reads it; returns the connection (to answer
    /// later), its path and its body.
    fn accept(listener: &TcpListener) -> (std::net::TcpStream, String, serde_json::Value) {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut request_line = String::new();
        reader.read_line(&mut request_line).unwrap();
        let mut length = 0;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if line == "\r\n" {
                break;
            }
            if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = value.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        let path = request_line.split(' ').nth(1).unwrap().to_string();
        (stream, path, serde_json::from_slice(&body).unwrap())
    }

    fn answer(mut stream: std::net::TcpStream) {
        stream
            .write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
            .unwrap();
    }

    #[test]
    fn notes_are_posted_as_json_and_those_meanwhile_merged() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let hook = Webhook::new(
            Target::parse(&format!("http://127.0.0.1:{port}/hook")).unwrap(),
            Duration::from_secs(5),
            "/p".into(),
        );
        let note = |title: &str, urgent| Note {
            title: title.into(),
            body: "b".into(),
            urgent,
        };
        hook.send(note("enki: execution done", false));
        let (stream, path, first) = accept(&listener);
        assert_eq!(path, "/hook");
        assert_eq!(first["source"], "enki");
        assert_eq!(first["project"], "/p");
        assert_eq!(first["title"], "enki: execution done");
        assert_eq!(first["needs_you"], false);
        // The first is in flight (not answered yet): these two wait and go as one.
        hook.send(note("enki: execution failed", false));
        hook.send(note("enki: permission asked", true));
        answer(stream);
        let (stream, _, second) = accept(&listener);
        answer(stream);
        hook.finish();
        assert_eq!(
            second["title"], "enki: permission asked (and 1 more)",
            "{second}"
        );
        assert!(
            second["body"]
                .as_str()
                .unwrap()
                .contains("execution failed"),
            "{second}"
        );
        assert_eq!(second["needs_you"], true, "{second}");
    }

    #[test]
    fn a_dead_endpoint_costs_one_bounded_try() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let hook = Webhook::new(
            Target::parse(&format!("http://127.0.0.1:{port}/")).unwrap(),
            Duration::from_secs(5),
            "/p".into(),
        );
        hook.send(Note {
            title: "t".into(),
            body: "b".into(),
            urgent: false,
        });
        hook.finish();
    }
}
