//! The HTTP side of the sim's MCP client: one MCP Streamable HTTP session
//! (`POST` JSON-RPC messages, JSON answers, `Mcp-Session-Id` kept from
//! `initialize`, `DELETE` at the end), with the headers `session/new` gave
//! (e.g. `Authorization: Bearer …`). Each exchange runs on a small tokio
//! runtime of the connection's own and is awaited through a channel, so the
//! turn's cancellation and timeouts work as for stdio servers.

use std::sync::mpsc::{Receiver, channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use enki_jsonrpc::{Message, encode, parse_line};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;

/// How long the final `DELETE` may take.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// One HTTP MCP server from `session/new`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpSpec {
    pub name: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
}

/// An `http://host:port/path` URL, split.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Target {
    authority: String,
    path: String,
}

impl Target {
    fn parse(url: &str) -> Result<Target, String> {
        let rest = url.strip_prefix("http://").ok_or_else(|| {
            format!("MCP server URL {url}: only http:// URLs are supported (enki's servers listen on loopback)")
        })?;
        let (authority, path) = match rest.find('/') {
            Some(slash) => (&rest[..slash], &rest[slash..]),
            None => (rest, "/"),
        };
        if authority.is_empty() {
            return Err(format!("MCP server URL {url}: no host"));
        }
        Ok(Target {
            authority: authority.to_string(),
            path: path.to_string(),
        })
    }
}

/// An answer to one POST.
pub struct Answer {
    pub status: u16,
    /// The JSON-RPC message of the body, if any.
    pub message: Option<Message>,
    /// The body as text, for errors.
    pub text: String,
}

/// A connection to one HTTP MCP server.
pub struct HttpConn {
    runtime: tokio::runtime::Runtime,
    target: Target,
    headers: Vec<(String, String)>,
    /// `Mcp-Session-Id` and `MCP-Protocol-Version` once initialized.
    session: Arc<Mutex<Option<(String, String)>>>,
}

impl HttpConn {
    pub fn new(spec: &HttpSpec) -> Result<HttpConn, String> {
        let target = Target::parse(&spec.url)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name(format!("mcp-http-{}", spec.name))
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start an HTTP runtime: {e}"))?;
        Ok(HttpConn {
            runtime,
            target,
            headers: spec.headers.clone(),
            session: Arc::new(Mutex::new(None)),
        })
    }

    /// Posts `message`; the answer arrives on the returned channel (an
    /// error says what failed). The `Mcp-Session-Id` of an `initialize`
    /// answer is kept for the requests that follow, with `version`.
    pub fn post(&self, message: &Message) -> Receiver<Result<Answer, String>> {
        let (tx, rx) = channel();
        let body = encode(message);
        let initializing = matches!(message, Message::Request(r) if r.method == "initialize");
        let (target, headers, session) = (
            self.target.clone(),
            self.headers.clone(),
            Arc::clone(&self.session),
        );
        self.runtime.spawn(async move {
            let current = session
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone();
            let answer = exchange(&target, &headers, current.as_ref(), "POST", body).await;
            let answer = answer.map(|(status, session_id, text)| {
                let message = parse_line(text.trim().as_bytes()).ok().flatten();
                if initializing
                    && let Some(id) = session_id
                    && let Some(Message::Response(response)) = &message
                    && let Ok(result) = &response.outcome
                {
                    let version = result["protocolVersion"].as_str().unwrap_or_default();
                    *session.lock().unwrap_or_else(PoisonError::into_inner) =
                        Some((id, version.to_string()));
                }
                Answer {
                    status,
                    message,
                    text,
                }
            });
            let _ = tx.send(answer);
        });
        rx
    }

    /// Ends the MCP session (`DELETE`), waiting briefly.
    pub fn close(&self) {
        let Some(current) = self
            .session
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        else {
            return;
        };
        let (target, headers) = (self.target.clone(), self.headers.clone());
        let (tx, rx) = channel();
        self.runtime.spawn(async move {
            let _ = exchange(&target, &headers, Some(&current), "DELETE", String::new()).await;
            let _ = tx.send(());
        });
        let _ = rx.recv_timeout(CLOSE_TIMEOUT);
    }
}

/// One request on a new connection: `(status, Mcp-Session-Id, body)`.
async fn exchange(
    target: &Target,
    headers: &[(String, String)],
    session: Option<&(String, String)>,
    method: &str,
    body: String,
) -> Result<(u16, Option<String>, String), String> {
    let unreachable = |e: &dyn std::fmt::Display| format!("{}: {e}", target.authority);
    let stream = tokio::net::TcpStream::connect(&target.authority)
        .await
        .map_err(|e| unreachable(&e))?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake::<_, Full<Bytes>>(TokioIo::new(stream))
            .await
            .map_err(|e| unreachable(&e))?;
    tokio::spawn(connection);
    let mut request = hyper::Request::builder()
        .method(method)
        .uri(&target.path)
        .header("Host", &target.authority)
        .header("Content-Type", "application/json")
        .header("Accept", "application/json, text/event-stream");
    for (name, value) in headers {
        request = request.header(name, value);
    }
    if let Some((id, version)) = session {
        request = request
            .header("Mcp-Session-Id", id)
            .header("MCP-Protocol-Version", version);
    }
    let request = request
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| format!("cannot build the HTTP request: {e}"))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| unreachable(&e))?;
    let status = response.status().as_u16();
    let session_id = response
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let bytes = response
        .into_body()
        .collect()
        .await
        .map_err(|e| unreachable(&e))?
        .to_bytes();
    Ok((
        status,
        session_id,
        String::from_utf8_lossy(&bytes).into_owned(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_split_into_authority_and_path() {
        assert_eq!(
            Target::parse("http://127.0.0.1:8765/mcp").unwrap(),
            Target {
                authority: "127.0.0.1:8765".into(),
                path: "/mcp".into()
            }
        );
        assert_eq!(Target::parse("http://[::1]:9").unwrap().path, "/");
        for bad in ["https://x/mcp", "ftp://x", "http:///mcp"] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
    }
}
