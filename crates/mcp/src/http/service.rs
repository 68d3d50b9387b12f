//! One HTTP request to `/mcp` → one HTTP response, in the order the checks
//! must run: `Host` (421) and `Origin` (403) before anything, the path
//! (404), the bearer token (401), the method (405), then for POST the media
//! types (415, 406), the body cap (413), the session (400, 404) and
//! `MCP-Protocol-Version` (400); the message itself goes to the session's
//! [`crate::Server::handle`] on a blocking thread. GET opens the session's
//! event stream (`stream.rs`); DELETE ends the session.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::{Bytes, BytesMut};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{
    ACCEPT, ALLOW, AUTHORIZATION, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, HOST, HeaderMap,
    HeaderName, HeaderValue, ORIGIN, WWW_AUTHENTICATE,
};
use hyper::{Method, Request, Response, StatusCode};
use serde::Deserialize;
use serde::de::IgnoredAny;
use tokio::sync::oneshot;

use enki_jsonrpc::{ErrorObject, MAX_LINE_BYTES, Message, encode};

use super::auth::{Auth, Caller, Refusal};
use super::link::HttpLink;
use super::sessions::{OpenError, Session, Sessions};
use super::{Config, Identity, guard, listen, modern, stream};
use crate::pool::StorePool;
use crate::protocol;
use crate::server::Server;
use enki_project::Layout;

pub(super) type Reply = Response<UnsyncBoxBody<Bytes, Infallible>>;

const SESSION_HEADER: HeaderName = HeaderName::from_static("mcp-session-id");
const VERSION_HEADER: HeaderName = HeaderName::from_static("mcp-protocol-version");
const LAST_EVENT_ID: HeaderName = HeaderName::from_static("last-event-id");

/// A body longer than this is refused without being read to its end.
const DRAIN_LIMIT: u64 = 64 * 1024 * 1024;

/// JSON-RPC code for an unknown or expired session (as the SDKs answer).
const SESSION_NOT_FOUND: i64 = -32001;

/// A server for stateless requests, made on first use.
type StatelessServer = Arc<Mutex<Option<Server>>>;

/// What every connection shares.
pub(crate) struct State {
    pub auth: Auth,
    pub sessions: Arc<Sessions>,
    /// The servers of stateless requests, one per identity.
    stateless: Mutex<Vec<(Identity, StatelessServer)>>,
    /// The database connections every server shares (`pool.rs`); `None`
    /// outside a project (each server then says so when a tool needs it).
    pub pool: Option<Arc<StorePool>>,
}

impl State {
    pub fn new(config: Config) -> State {
        let pool = Layout::locate_from_env()
            .ok()
            .map(|layout| Arc::new(StorePool::new(layout.db())));
        State {
            auth: config.auth,
            sessions: Arc::new(Sessions::new(config.idle_timeout)),
            stateless: Mutex::new(Vec::new()),
            pool,
        }
    }

    fn stateless_server(&self, identity: &Identity) -> StatelessServer {
        let mut servers = self
            .stateless
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some((_, server)) = servers.iter().find(|(i, _)| i == identity) {
            return Arc::clone(server);
        }
        let server = StatelessServer::default();
        servers.push((identity.clone(), Arc::clone(&server)));
        server
    }
}

/// The hyper service: every outcome, refusals included, is a response.
pub(crate) async fn answer(
    state: Arc<State>,
    local: SocketAddr,
    request: Request<Incoming>,
) -> Result<Reply, Infallible> {
    Ok(respond(&state, local, request)
        .await
        .unwrap_or_else(|refusal| refusal))
}

async fn respond(
    state: &Arc<State>,
    local: SocketAddr,
    request: Request<Incoming>,
) -> Result<Reply, Reply> {
    let headers = request.headers();
    guard::check_host(headers.get(HOST), local)
        .map_err(|e| refuse(StatusCode::MISDIRECTED_REQUEST, &e))?;
    guard::check_origin(headers.get(ORIGIN)).map_err(|e| refuse(StatusCode::FORBIDDEN, &e))?;
    if request.uri().path() != "/mcp" {
        return Err(refuse(
            StatusCode::NOT_FOUND,
            &format!(
                "no such endpoint {}: enki mcp serves /mcp",
                request.uri().path()
            ),
        ));
    }
    let caller = state
        .auth
        .check(headers.get(AUTHORIZATION))
        .map_err(unauthorized)?;
    match *request.method() {
        Method::POST => post(state, caller, request).await,
        Method::GET => get(state, &caller, request.headers()),
        Method::DELETE => delete(state, &caller, request.headers()),
        _ => {
            let mut reply = refuse(
                StatusCode::METHOD_NOT_ALLOWED,
                &format!(
                    "{} is not served: POST a JSON-RPC message, GET the session's event stream, DELETE to end the session",
                    request.method()
                ),
            );
            reply
                .headers_mut()
                .insert(ALLOW, HeaderValue::from_static("GET, POST, DELETE"));
            Ok(reply)
        }
    }
}

/// How the answer to a POST is framed.
#[derive(Clone, Copy)]
pub(super) enum Framing {
    Json,
    /// One `message` event, for a client that accepts only an event stream.
    EventStream,
}

async fn post(
    state: &Arc<State>,
    caller: Caller,
    request: Request<Incoming>,
) -> Result<Reply, Reply> {
    let (parts, body) = request.into_parts();
    check_content_type(&parts.headers)?;
    let framing = framing(&parts.headers)?;
    let session_id = header_text(&parts.headers, &SESSION_HEADER)?;
    let version = header_text(&parts.headers, &VERSION_HEADER)?;
    let body = read_body(body, &parts.headers).await?;

    let initializing = session_id.is_none() && is_initialize(&body);
    // `initialize` negotiates the version; every other request's header must
    // name one this server speaks. Without the header the spec says to
    // assume 2025-03-26; nothing at this level differs, so it is served.
    if let Some(version) = version
        .as_deref()
        .filter(|v| !initializing && !protocol::is_supported(v))
    {
        return Err(error_reply(
            StatusCode::BAD_REQUEST,
            crate::stateless::unsupported(version),
        ));
    }
    let Some(session_id) = session_id else {
        if initializing {
            return initialize(state, caller, body, framing).await;
        }
        if let Some(version) = version
            .as_deref()
            .filter(|v| protocol::MODERN_VERSIONS.contains(v))
        {
            modern::check_mirrored_headers(&parts.headers, version, &body).map_err(|e| {
                refusal_with_code(StatusCode::BAD_REQUEST, modern::HEADER_MISMATCH, &e)
            })?;
            return stateless(state, caller, body, framing).await;
        }
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            "missing Mcp-Session-Id header: send `initialize` first and repeat the Mcp-Session-Id it returns on every request (or speak a stateless revision, MCP-Protocol-Version: 2026-07-28)",
        ));
    };
    let session = find_session(state, &caller, &session_id)?;
    check_session_version(&session, version.as_deref())?;
    // The answer to a request of the server (`link.rs`): its server is
    // busy waiting for it.
    if session.awaits_client() && session.deliver(&body) {
        session.touch();
        return Ok(empty(StatusCode::ACCEPTED));
    }
    let accepts_events =
        matches!(framing, Framing::EventStream) || accepts_event_stream(&parts.headers);
    let (upgrade, mut upgraded) = oneshot::channel();
    let handling = Arc::clone(&session);
    let job = tokio::task::spawn_blocking(move || {
        let mut link = HttpLink::new(Arc::clone(&handling), accepts_events, upgrade);
        let mut server = handling.server();
        let reply = server.handle_with(&body, &mut link);
        // Due notifications go to the event stream, when one is read.
        if handling.has_stream() {
            let due = server.notifications(false);
            drop(server);
            handling.push(&due);
        }
        match link.stream {
            Some(stream) => {
                if let Some(line) = &reply {
                    handling.write(stream, line);
                }
                handling.finish(stream);
                None
            }
            None => Some(reply),
        }
    });
    tokio::pin!(job);
    let answered = tokio::select! {
        biased;
        // The server asked the client something on this POST's stream.
        Ok(events) = &mut upgraded => {
            session.touch();
            return Ok(event_stream_reply(events));
        }
        answered = &mut job => answered.map_err(|e| internal(&e.to_string()))?,
    };
    session.touch();
    let Some(reply) = answered else {
        // Streamed: the stream was handed over before the job ended.
        let events = upgraded.try_recv().map_err(|e| internal(&e.to_string()))?;
        return Ok(event_stream_reply(events));
    };
    match (framing, reply) {
        (Framing::EventStream, Some(line)) if !is_unaddressed_error(&line) => {
            let (stream, events) = session.open_answer_stream();
            session.write(stream, &line);
            session.finish(stream);
            Ok(event_stream_reply(events))
        }
        (_, reply) => Ok(message_reply(reply, framing)),
    }
}

/// Whether `Accept` lists `text/event-stream` (or a range that covers it).
fn accepts_event_stream(headers: &HeaderMap) -> bool {
    headers
        .get_all(ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|r| r.split(';').next())
        .any(|r| {
            let r = r.trim();
            r.eq_ignore_ascii_case("text/event-stream") || r == "*/*" || r == "text/*"
        })
}

/// A 200 whose body is an event stream.
pub(super) fn event_stream_reply(events: stream::Events) -> Reply {
    let mut reply = Response::new(events.boxed_unsync());
    let headers = reply.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        HeaderName::from_static("x-accel-buffering"),
        HeaderValue::from_static("no"),
    );
    reply
}

/// A request of a session may name the version the session agreed on
/// (the spec says a request without the header is taken as 2025-03-26;
/// nothing at this level differs, so it is served).
fn check_session_version(session: &Session, version: Option<&str>) -> Result<(), Reply> {
    match version {
        Some(version) if version != session.version => Err(refuse(
            StatusCode::BAD_REQUEST,
            &format!(
                "MCP-Protocol-Version {version:?} is not the version this session agreed on ({}): send that one",
                session.version
            ),
        )),
        _ => Ok(()),
    }
}

/// GET: the session's server-sent event stream.
fn get(state: &State, caller: &Caller, headers: &HeaderMap) -> Result<Reply, Reply> {
    if !accepts_event_stream(headers) {
        return Err(refuse(
            StatusCode::NOT_ACCEPTABLE,
            "GET /mcp is the session's event stream: send Accept: text/event-stream",
        ));
    }
    let version = header_text(headers, &VERSION_HEADER)?;
    if let Some(version) = version
        .as_deref()
        .filter(|v| protocol::MODERN_VERSIONS.contains(v))
    {
        let mut reply = refuse(
            StatusCode::METHOD_NOT_ALLOWED,
            &format!("MCP {version} has no event stream to GET: POST each request"),
        );
        reply
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("POST"));
        return Ok(reply);
    }
    let Some(id) = header_text(headers, &SESSION_HEADER)? else {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            "GET needs the Mcp-Session-Id of the session whose events to stream",
        ));
    };
    let session = find_session(state, caller, &id)?;
    check_session_version(&session, version.as_deref())?;
    let events = match header_text(headers, &LAST_EVENT_ID)? {
        None => stream::open(&session, &state.sessions),
        Some(last) => stream::resume(&session, &state.sessions, &last)
            .map_err(|e| refuse(StatusCode::BAD_REQUEST, &e))?,
    };
    Ok(event_stream_reply(events))
}

/// A new server for the caller's identity (sharing the process's database
/// connections), and its answer to `body`, on the blocking pool.
pub(super) async fn fresh_server(
    state: &State,
    caller: &Caller,
    body: Bytes,
) -> Result<(crate::Server, Option<String>), Reply> {
    let identity = caller.identity.clone();
    let pool = state.pool.clone();
    tokio::task::spawn_blocking(move || {
        let mut server = crate::server_sharing(
            identity.role,
            identity.task_id.clone(),
            identity.no_edit,
            pool,
        );
        let reply = server.handle(&body);
        (server, reply)
    })
    .await
    .map_err(|e| internal(&e.to_string()))
}

/// `initialize` without a session: a new server for the caller's identity;
/// when it agrees, a new session.
async fn initialize(
    state: &State,
    caller: Caller,
    body: Bytes,
    framing: Framing,
) -> Result<Reply, Reply> {
    let (server, reply) = fresh_server(state, &caller, body).await?;
    let Some(version) = reply.as_deref().and_then(negotiated_version) else {
        // Refused (bad params, say): answered, and no session.
        return Ok(message_reply(reply, framing));
    };
    let session = Session::new(server, version, caller.identity, caller.token);
    let session = state.sessions.open(session).map_err(|e| match e {
        OpenError::Full => refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!(
                "too many open sessions ({}): end unused ones with DELETE, or wait until idle ones expire",
                super::sessions::MAX_SESSIONS
            ),
        ),
        OpenError::NoRandomness(e) => internal(&e),
    })?;
    let mut response = message_reply(reply, framing);
    if let Ok(value) = HeaderValue::from_str(&session.id) {
        response.headers_mut().insert(SESSION_HEADER, value);
    }
    Ok(response)
}

/// A request of a stateless revision (2026-07-28 on): no session; one
/// server per identity answers them one at a time.
async fn stateless(
    state: &Arc<State>,
    caller: Caller,
    body: Bytes,
    framing: Framing,
) -> Result<Reply, Reply> {
    if is_method(&body, "subscriptions/listen") {
        return listen::open(state, caller, body, framing).await;
    }
    let server = state.stateless_server(&caller.identity);
    let identity = caller.identity;
    let pool = state.pool.clone();
    let reply = tokio::task::spawn_blocking(move || {
        let mut server = server.lock().unwrap_or_else(PoisonError::into_inner);
        let server = server.get_or_insert_with(|| {
            crate::server_sharing(
                identity.role,
                identity.task_id.clone(),
                identity.no_edit,
                pool,
            )
        });
        server.handle(&body)
    })
    .await
    .map_err(|e| internal(&e.to_string()))?;
    Ok(stateless_reply(reply, framing))
}

/// The answer to a stateless request, with the HTTP status its error gives.
pub(super) fn stateless_reply(reply: Option<String>, framing: Framing) -> Reply {
    let status = reply.as_deref().map(modern::status_of);
    let mut response = message_reply(reply, framing);
    if let Some(status) = status.filter(|s| *s != StatusCode::OK) {
        *response.status_mut() = status;
    }
    response
}

fn delete(state: &State, caller: &Caller, headers: &HeaderMap) -> Result<Reply, Reply> {
    let Some(id) = header_text(headers, &SESSION_HEADER)? else {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            "DELETE needs the Mcp-Session-Id of the session to end",
        ));
    };
    let session = find_session(state, caller, &id)?;
    state.sessions.close(&session.id);
    Ok(empty(StatusCode::NO_CONTENT))
}

/// The session `id`, if it is open and belongs to this caller (a session
/// of another token is as unknown as one that never was).
fn find_session(state: &State, caller: &Caller, id: &str) -> Result<Arc<Session>, Reply> {
    state
        .sessions
        .get(id)
        .filter(|s| s.owned_by(&caller.token) && s.identity == caller.identity)
        .ok_or_else(|| {
            refusal_with_code(
                StatusCode::NOT_FOUND,
                SESSION_NOT_FOUND,
                "unknown or expired session: send `initialize` again (without Mcp-Session-Id) to start a new one",
            )
        })
}

fn check_content_type(headers: &HeaderMap) -> Result<(), Reply> {
    let essence = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::trim);
    match essence {
        Some(t) if t.eq_ignore_ascii_case("application/json") => Ok(()),
        _ => Err(refuse(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "POST a JSON-RPC message with Content-Type: application/json",
        )),
    }
}

/// JSON when the client accepts it (or says nothing), otherwise an event
/// stream when it accepts that.
fn framing(headers: &HeaderMap) -> Result<Framing, Reply> {
    let Some(accept) = headers.get(ACCEPT).and_then(|v| v.to_str().ok()) else {
        return Ok(Framing::Json);
    };
    let ranges: Vec<String> = accept
        .split(',')
        .filter_map(|r| r.split(';').next())
        .map(|r| r.trim().to_ascii_lowercase())
        .collect();
    let accepts = |media: &str| ranges.iter().any(|r| r == media);
    if accepts("application/json") || accepts("application/*") || accepts("*/*") {
        Ok(Framing::Json)
    } else if accepts("text/event-stream") || accepts("text/*") {
        Ok(Framing::EventStream)
    } else {
        Err(refuse(
            StatusCode::NOT_ACCEPTABLE,
            "enki mcp answers application/json or text/event-stream: accept one of them",
        ))
    }
}

/// A header's text; a value that is not visible ASCII is a bad request.
fn header_text(headers: &HeaderMap, name: &HeaderName) -> Result<Option<String>, Reply> {
    headers
        .get(name)
        .map(|v| {
            v.to_str().map(str::to_string).map_err(|_| {
                refuse(
                    StatusCode::BAD_REQUEST,
                    &format!("the {name} header is not visible ASCII"),
                )
            })
        })
        .transpose()
}

/// The body, at most [`MAX_LINE_BYTES`] (the stdio line cap). A longer one
/// is read on to its end (up to [`DRAIN_LIMIT`]) and dropped, so that the
/// client gets its 413 instead of a reset connection.
async fn read_body(mut body: Incoming, headers: &HeaderMap) -> Result<Bytes, Reply> {
    let too_large = || {
        refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("the message is larger than {MAX_LINE_BYTES} bytes, the limit per message"),
        )
    };
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > DRAIN_LIMIT) {
        return Err(too_large());
    }
    let mut kept = BytesMut::new();
    let mut seen: u64 = 0;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            refuse(
                StatusCode::BAD_REQUEST,
                &format!("could not read the request body: {e}"),
            )
        })?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        seen = seen.saturating_add(data.len() as u64);
        if seen > DRAIN_LIMIT {
            return Err(too_large());
        }
        if seen <= MAX_LINE_BYTES as u64 {
            kept.extend_from_slice(&data);
        }
    }
    if seen > MAX_LINE_BYTES as u64 {
        return Err(too_large());
    }
    Ok(kept.freeze())
}

/// Is this body an `initialize` request (the one message that opens a
/// session)? Read without building the whole JSON value.
fn is_initialize(body: &[u8]) -> bool {
    #[derive(Deserialize)]
    struct Probe {
        #[serde(default)]
        method: Option<String>,
        #[serde(default)]
        id: Option<IgnoredAny>,
    }
    serde_json::from_slice::<Probe>(body)
        .is_ok_and(|p| p.id.is_some() && p.method.as_deref() == Some("initialize"))
}

/// Is this body a request for `method`? Read without building the whole
/// JSON value.
fn is_method(body: &[u8], method: &str) -> bool {
    #[derive(Deserialize)]
    struct Probe {
        #[serde(default)]
        method: Option<String>,
        #[serde(default)]
        id: Option<IgnoredAny>,
    }
    serde_json::from_slice::<Probe>(body)
        .is_ok_and(|p| p.id.is_some() && p.method.as_deref() == Some(method))
}

/// The `protocolVersion` of a successful `initialize` reply.
fn negotiated_version(reply: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(reply).ok()?;
    value
        .get("result")?
        .get("protocolVersion")?
        .as_str()
        .map(str::to_string)
}

/// An error reply that answers no request (the message could not be read):
/// HTTP says so with 400.
fn is_unaddressed_error(reply: &str) -> bool {
    #[derive(Deserialize)]
    struct Probe {
        #[serde(default)]
        id: Option<IgnoredAny>,
        #[serde(default)]
        error: Option<IgnoredAny>,
    }
    serde_json::from_str::<Probe>(reply).is_ok_and(|p| p.id.is_none() && p.error.is_some())
}

/// What `Server::handle` answered, as HTTP: 202 for nothing to answer.
fn message_reply(reply: Option<String>, framing: Framing) -> Reply {
    let Some(line) = reply else {
        return empty(StatusCode::ACCEPTED);
    };
    let status = if is_unaddressed_error(&line) {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let json = line.trim_end_matches('\n');
    match framing {
        Framing::Json => with_body(status, "application/json", Bytes::from(json.to_string())),
        Framing::EventStream => {
            let mut reply = with_body(status, "text/event-stream", stream::event(json));
            reply
                .headers_mut()
                .insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            reply
        }
    }
}

fn with_body(status: StatusCode, content_type: &'static str, body: Bytes) -> Reply {
    let mut reply = Response::new(Full::new(body).boxed_unsync());
    *reply.status_mut() = status;
    reply
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    reply
}

fn empty(status: StatusCode) -> Reply {
    let mut reply = Response::new(Full::new(Bytes::new()).boxed_unsync());
    *reply.status_mut() = status;
    reply
}

/// A refusal at the HTTP level, with a JSON-RPC error (no id) that says
/// what was wrong and what to do.
pub(super) fn refuse(status: StatusCode, message: &str) -> Reply {
    refusal_with_code(status, enki_jsonrpc::codes::INVALID_REQUEST, message)
}

fn refusal_with_code(status: StatusCode, code: i64, message: &str) -> Reply {
    error_reply(status, ErrorObject::new(code, message))
}

fn error_reply(status: StatusCode, error: ErrorObject) -> Reply {
    let body = encode(&Message::error(None, error));
    with_body(
        status,
        "application/json",
        Bytes::from(body.trim_end().to_string()),
    )
}

pub(super) fn internal(detail: &str) -> Reply {
    tracing::warn!("enki mcp over HTTP: internal error: {detail}");
    refusal_with_code(
        StatusCode::INTERNAL_SERVER_ERROR,
        enki_jsonrpc::codes::INTERNAL_ERROR,
        "internal error in enki mcp; its log has the details",
    )
}

fn unauthorized(refusal: Refusal) -> Reply {
    let (challenge, message) = match refusal {
        Refusal::Missing => (
            r#"Bearer realm="enki mcp""#,
            "missing bearer token: send `Authorization: Bearer <token>` with the token enki mcp was given (--auth-token, ENKI_MCP_TOKEN or its token table)",
        ),
        Refusal::Wrong => (
            r#"Bearer realm="enki mcp", error="invalid_token""#,
            "the bearer token is not valid for this server",
        ),
        Refusal::Unusable => {
            return refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "the server's token table changed and cannot be used; its log and stderr say why",
            );
        }
    };
    let mut reply = refuse(StatusCode::UNAUTHORIZED, message);
    reply
        .headers_mut()
        .insert(WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
    reply
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initialize_is_recognised_without_reading_the_rest() {
        assert!(is_initialize(
            br#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}"#
        ));
        assert!(!is_initialize(
            br#"{"jsonrpc":"2.0","method":"initialize"}"#
        ));
        assert!(!is_initialize(
            br#"[{"jsonrpc":"2.0","id":1,"method":"initialize"}]"#
        ));
        assert!(!is_initialize(b"not json"));
    }

    #[test]
    fn only_an_error_without_an_id_is_a_bad_request() {
        assert!(is_unaddressed_error(
            r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"x"}}"#
        ));
        assert!(!is_unaddressed_error(
            r#"{"jsonrpc":"2.0","id":3,"error":{"code":-32601,"message":"x"}}"#
        ));
        assert!(!is_unaddressed_error(
            r#"{"jsonrpc":"2.0","id":3,"result":{}}"#
        ));
        assert!(!is_unaddressed_error(
            r#"[{"jsonrpc":"2.0","id":null,"error":{}}]"#
        ));
    }

    #[test]
    fn the_negotiated_version_is_read_from_a_successful_reply_only() {
        assert_eq!(
            negotiated_version(
                r#"{"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"2025-06-18"}}"#
            )
            .as_deref(),
            Some("2025-06-18")
        );
        assert_eq!(
            negotiated_version(r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32602,"message":"x"}}"#),
            None
        );
    }
}
