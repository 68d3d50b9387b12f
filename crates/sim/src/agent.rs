//! The ACP agent loop. A reader thread turns stdin lines into events on a
//! channel; the main loop answers requests, routes the client's responses to
//! the agent's own waiting requests and records `session/cancel`; each
//! `session/prompt` runs its turn on a thread of its own, so the loop keeps
//! reading while a turn runs. EOF on stdin: the MCP servers are killed and
//! the loop returns 0.

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Mutex, PoisonError};

use enki_jsonrpc::{ErrorObject, Frame, Id, LineReader, Message, Request, parse_line};
use serde_json::{Value, json};

use crate::cancel::Cancel;
use crate::mcp_client::ServerSpec;
use crate::modes::{ModesConfig, SetMode};
use crate::peer::Peer;
use crate::saved::{self, Capabilities, SavedSession};
use crate::script::{self, Script, Step};
use crate::select::{self, Choice, Sources};
use crate::servers::{Children, Servers};
use crate::steps::{self, ClientCaps, TurnCtx, TurnEnd};
use crate::usage::Meter;

/// The model a sim session names (`[prices] sim = {...}` prices it).
pub const SIM_MODEL: &str = "sim";

/// The ACP protocol version this agent speaks.
pub const ACP_PROTOCOL_VERSION: u64 = 1;

enum Event {
    Message(Message),
    Invalid(String),
    Eof,
}

/// The cancel flag of the turn running in a session, if any.
type Running = Arc<Mutex<Option<Arc<Cancel>>>>;

struct Session {
    cwd: PathBuf,
    servers: Arc<Servers>,
    /// `--role` of the `enki` MCP server.
    role: Option<String>,
    /// What is kept on disk (prompts run per script, ...).
    saved: SavedSession,
    /// Taken up by `session/load` or `session/resume`: a prompt with no
    /// marker runs the script of the session's last prompt.
    continued: bool,
    running: Running,
    /// `modes.toml` and the session's current mode, when modes are declared.
    modes: Option<(ModesConfig, String)>,
    /// The usage it reported (`usage` steps).
    meter: Arc<Mutex<Meter>>,
}

struct Agent {
    sources: Sources,
    peer: Arc<Peer>,
    children: Arc<Children>,
    caps: ClientCaps,
    sessions: HashMap<String, Session>,
    next_session: u64,
}

/// Serves ACP on `input` / `output` until EOF; returns the exit code.
pub fn serve<R: BufRead + Send + 'static>(
    input: R,
    output: Box<dyn Write + Send>,
    sources: Sources,
) -> i32 {
    let (tx, rx) = channel();
    let spawned = std::thread::Builder::new()
        .name("acp-reader".to_string())
        .spawn(move || read_loop(input, &tx));
    if let Err(e) = spawned {
        eprintln!("enki sim-agent: cannot start the reader thread: {e}");
        return 1;
    }
    let mut agent = Agent {
        sources,
        peer: Arc::new(Peer::new(output)),
        children: Arc::new(Children::default()),
        caps: ClientCaps::default(),
        sessions: HashMap::new(),
        next_session: 1,
    };
    while let Ok(event) = rx.recv() {
        match event {
            Event::Message(Message::Request(request)) => agent.request(request),
            Event::Message(Message::Notification(n)) => {
                if n.method == "session/cancel" {
                    agent.cancel(n.params.as_ref());
                }
            }
            Event::Message(Message::Response(response)) => {
                let id = response.id.clone();
                if !agent.peer.route(response) {
                    eprintln!("enki sim-agent: ignoring a response to unknown request {id:?}");
                }
            }
            Event::Invalid(message) => {
                eprintln!("enki sim-agent: ignoring an invalid line from the client: {message}");
            }
            Event::Eof => break,
        }
    }
    agent.peer.close();
    agent.children.kill_all();
    0
}

fn read_loop<R: BufRead>(input: R, tx: &Sender<Event>) {
    let mut reader = LineReader::new(input);
    loop {
        let event = match reader.next_frame() {
            Ok(Some(Frame::Line(line))) => match parse_line(&line) {
                Ok(None) => continue,
                Ok(Some(message)) => Event::Message(message),
                Err(e) => Event::Invalid(e.to_string()),
            },
            Ok(Some(Frame::TooLong { len_seen })) => {
                Event::Invalid(format!("a line of {len_seen} bytes is too long"))
            }
            Ok(None) => Event::Eof,
            Err(e) => {
                eprintln!("enki sim-agent: cannot read stdin: {e}");
                Event::Eof
            }
        };
        let eof = matches!(event, Event::Eof);
        if tx.send(event).is_err() || eof {
            return;
        }
    }
}

fn invalid_params(message: impl Into<String>) -> ErrorObject {
    ErrorObject::invalid_params(message)
}

impl Agent {
    fn request(&mut self, request: Request) {
        let Request { id, method, params } = request;
        let params = params.unwrap_or(Value::Null);
        let outcome = match method.as_str() {
            "initialize" => Ok(self.initialize(&params)),
            "authenticate" => Ok(json!({})),
            "session/new" => self.new_session(&params),
            "session/load" => self.continue_session(&params, true),
            "session/resume" => self.continue_session(&params, false),
            "session/set_mode" => self.set_mode(&params),
            "session/prompt" => {
                self.prompt(id, &params);
                return;
            }
            // A notification in ACP; answered if sent as a request.
            "session/cancel" => {
                self.cancel(Some(&params));
                Ok(Value::Null)
            }
            other => Err(ErrorObject::method_not_found(other)),
        };
        match outcome {
            Ok(result) => self.peer.respond(id, result),
            Err(error) => self.peer.respond_error(id, error),
        }
    }

    fn initialize(&mut self, params: &Value) -> Value {
        let fs = &params["clientCapabilities"]["fs"];
        self.caps = ClientCaps {
            read_text_file: fs["readTextFile"].as_bool() == Some(true),
            write_text_file: fs["writeTextFile"].as_bool() == Some(true),
        };
        let continues =
            Capabilities::load(self.sources.scripts_dir.as_deref()).unwrap_or_else(|e| {
                eprintln!("enki sim-agent: {e}; no session capabilities declared");
                Capabilities {
                    load_session: false,
                    resume: false,
                }
            });
        let mut session_caps = json!({});
        if continues.resume {
            session_caps["resume"] = json!({});
        }
        json!({
            "protocolVersion": ACP_PROTOCOL_VERSION,
            "agentCapabilities": {
                "loadSession": continues.load_session,
                "sessionCapabilities": session_caps,
                "promptCapabilities": {"image": false, "audio": false, "embeddedContext": false},
                "mcpCapabilities": {"http": true, "sse": false},
            },
            "authMethods": [],
            "agentInfo": {"name": "enki-sim", "title": "enki sim-agent",
                          "version": env!("CARGO_PKG_VERSION")},
        })
    }

    fn new_session(&mut self, params: &Value) -> Result<Value, ErrorObject> {
        let cwd = session_cwd("session/new", params)?;
        let limit = crate::limit::session_limit(self.sources.scripts_dir.as_deref())
            .map_err(|e| ErrorObject::internal(format!("session/new: {e}")))?;
        if let Some(limit) = limit.filter(crate::limit::LimitStep::applies) {
            eprintln!("enki sim-agent: session/new answers a limit of the account");
            return Err(limit.error());
        }
        let session_id = format!(
            "sim-{}-{}-{}",
            host_pid(),
            self.next_session,
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos())
        );
        self.next_session += 1;
        let saved = SavedSession {
            cwd: cwd.clone(),
            ..SavedSession::default()
        };
        self.open_session("session/new", params, session_id, saved, false)
    }

    /// `session/load` (`replay`: the prompts it was given are sent back as
    /// `user_message_chunk` updates first) or `session/resume`, of a
    /// session kept on disk, in the cwd and with the MCP servers given now.
    fn continue_session(&mut self, params: &Value, replay: bool) -> Result<Value, ErrorObject> {
        let method = if replay {
            "session/load"
        } else {
            "session/resume"
        };
        let caps = Capabilities::load(self.sources.scripts_dir.as_deref())
            .map_err(|e| ErrorObject::internal(format!("{method}: {e}")))?;
        if !(if replay {
            caps.load_session
        } else {
            caps.resume
        }) {
            return Err(ErrorObject::method_not_found(method));
        }
        let session_id = params["sessionId"]
            .as_str()
            .ok_or_else(|| invalid_params(format!("{method} needs `sessionId`")))?
            .to_string();
        let cwd = session_cwd(method, params)?;
        let mut saved =
            saved::load(&session_id).map_err(|e| invalid_params(format!("{method}: {e}")))?;
        saved.cwd = cwd;
        if replay {
            for prompt in &saved.prompts {
                self.peer.update(
                    &session_id,
                    json!({"sessionUpdate": "user_message_chunk",
                           "content": {"type": "text", "text": prompt}}),
                );
            }
        }
        let mut result = self.open_session(method, params, session_id, saved, true)?;
        if let Some(object) = result.as_object_mut() {
            object.remove("sessionId");
        }
        Ok(result)
    }

    /// Starts the session's MCP servers and registers it.
    fn open_session(
        &mut self,
        method: &str,
        params: &Value,
        session_id: String,
        saved: SavedSession,
        continued: bool,
    ) -> Result<Value, ErrorObject> {
        let entries = match &params["mcpServers"] {
            Value::Null => Vec::new(),
            Value::Array(entries) => entries.clone(),
            _ => {
                return Err(invalid_params(format!(
                    "{method}: `mcpServers` must be an array"
                )));
            }
        };
        let mut specs = Vec::new();
        for (index, entry) in entries.iter().enumerate() {
            match ServerSpec::from_acp(entry) {
                Ok(Some(spec)) => specs.push(spec),
                Ok(None) => eprintln!(
                    "enki sim-agent: skipping mcpServers[{index}]: only stdio and http servers are supported"
                ),
                Err(e) => {
                    return Err(invalid_params(format!(
                        "{method}: mcpServers[{index}]: {e}"
                    )));
                }
            }
        }
        let role = specs
            .iter()
            .find(|s| s.name() == "enki")
            .and_then(|s| select::role_from_args(s.args()));
        let modes = ModesConfig::load(self.sources.scripts_dir.as_deref())
            .map_err(|e| ErrorObject::internal(format!("{method}: {e}")))?;
        let cwd = saved.cwd.clone();
        let servers = Servers::start(specs, &cwd, &self.children);
        eprintln!(
            "enki sim-agent: {method}: session {session_id} in {} (role {})",
            cwd.display(),
            role.as_deref().unwrap_or("none")
        );
        if let Err(e) = saved::save(&session_id, &saved) {
            eprintln!("enki sim-agent: session {session_id} is not kept: {e}");
        }
        self.sessions.insert(
            session_id.clone(),
            Session {
                cwd,
                servers: Arc::new(servers),
                role,
                saved,
                continued,
                running: Arc::new(Mutex::new(None)),
                meter: Arc::new(Mutex::new(Meter::default())),
                modes: modes.clone().map(|m| {
                    let current = m.current.clone();
                    (m, current)
                }),
            },
        );
        // The model, as agents that name theirs report it (the usage of
        // `usage` steps is recorded against it).
        let mut result = json!({"sessionId": session_id,
            "models": {"currentModelId": SIM_MODEL,
                       "availableModels": [{"modelId": SIM_MODEL, "name": "enki sim-agent"}]}});
        if let Some(modes) = modes {
            result["modes"] = modes.to_json(&modes.current);
        }
        Ok(result)
    }

    /// `session/set_mode`, answered as `modes.toml` says.
    fn set_mode(&mut self, params: &Value) -> Result<Value, ErrorObject> {
        let (Some(session_id), Some(mode)) =
            (params["sessionId"].as_str(), params["modeId"].as_str())
        else {
            return Err(invalid_params(
                "session/set_mode needs `sessionId` and `modeId`",
            ));
        };
        let session = self
            .sessions
            .get_mut(session_id)
            .ok_or_else(|| invalid_params(format!("unknown session '{session_id}'")))?;
        let Some((config, current)) = &mut session.modes else {
            return Err(invalid_params("this agent declares no session modes"));
        };
        if !config.available.iter().any(|m| m == mode) {
            return Err(invalid_params(format!("unknown mode '{mode}'")));
        }
        match config.set_mode {
            SetMode::Refuse => {
                return Err(ErrorObject::internal(format!(
                    "this agent refuses to leave mode '{current}'"
                )));
            }
            SetMode::Ignore => {}
            SetMode::Accept => *current = mode.to_string(),
        }
        eprintln!("enki sim-agent: session {session_id}: mode {current} (asked for {mode})");
        self.peer.update(
            session_id,
            json!({"sessionUpdate": "current_mode_update", "currentModeId": current}),
        );
        Ok(json!({}))
    }

    fn cancel(&mut self, params: Option<&Value>) {
        let Some(session_id) = params.and_then(|p| p["sessionId"].as_str()) else {
            eprintln!("enki sim-agent: session/cancel without a sessionId");
            return;
        };
        let Some(session) = self.sessions.get(session_id) else {
            eprintln!("enki sim-agent: session/cancel for unknown session {session_id}");
            return;
        };
        if let Some(cancel) = session
            .running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
        {
            eprintln!("enki sim-agent: session {session_id}: cancelling the turn");
            cancel.cancel();
        }
    }

    fn prompt(&mut self, id: Id, params: &Value) {
        let Some(session_id) = params["sessionId"].as_str() else {
            return self
                .peer
                .respond_error(id, invalid_params("session/prompt needs `sessionId`"));
        };
        let Some(blocks) = params["prompt"].as_array() else {
            return self.peer.respond_error(
                id,
                invalid_params("session/prompt needs `prompt`, an array of content blocks"),
            );
        };
        let text = prompt_text(blocks);
        let sources = self.sources.clone();
        let Some(session) = self.sessions.get_mut(session_id) else {
            return self.peer.respond_error(
                id,
                invalid_params(format!("unknown session '{session_id}'")),
            );
        };
        let cancel = Arc::new(Cancel::new());
        {
            let mut running = session
                .running
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if running.is_some() {
                drop(running);
                return self.peer.respond_error(
                    id,
                    invalid_params(format!(
                        "session '{session_id}' is already running a prompt"
                    )),
                );
            }
            *running = Some(Arc::clone(&cancel));
        }
        let steps = match pick_turn(session, &text, &sources, session_id) {
            Ok(steps) => steps,
            Err(message) => {
                eprintln!("enki sim-agent: session {session_id}: {message}");
                *session
                    .running
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = None;
                return self.peer.respond_error(id, ErrorObject::internal(message));
            }
        };
        let turn = Turn {
            peer: Arc::clone(&self.peer),
            children: Arc::clone(&self.children),
            servers: Arc::clone(&session.servers),
            running: Arc::clone(&session.running),
            meter: Arc::clone(&session.meter),
            cancel,
            session_id: session_id.to_string(),
            cwd: session.cwd.clone(),
            caps: self.caps,
            prompt: text,
            steps,
            approves_itself: session
                .modes
                .as_ref()
                .filter(|(config, current)| config.decides(current))
                .map(|(_, current)| current.clone()),
        };
        let (peer, running) = (Arc::clone(&self.peer), Arc::clone(&session.running));
        let spawned = std::thread::Builder::new()
            .name(format!("turn-{session_id}"))
            .spawn({
                let id = id.clone();
                move || turn.run(id)
            });
        if let Err(e) = spawned {
            *running.lock().unwrap_or_else(PoisonError::into_inner) = None;
            peer.respond_error(
                id,
                ErrorObject::internal(format!("cannot start the turn: {e}")),
            );
        }
    }
}

/// The `cwd` of a session request: an absolute path to a folder.
fn session_cwd(method: &str, params: &Value) -> Result<PathBuf, ErrorObject> {
    let cwd = params["cwd"]
        .as_str()
        .ok_or_else(|| invalid_params(format!("{method} needs `cwd`, an absolute path")))?;
    let cwd = Path::new(cwd);
    if !cwd.is_absolute() {
        return Err(invalid_params(format!(
            "{method}: cwd '{}' must be an absolute path",
            cwd.display()
        )));
    }
    if !cwd.is_dir() {
        return Err(invalid_params(format!(
            "{method}: cwd '{}' is not a directory",
            cwd.display()
        )));
    }
    Ok(cwd.to_path_buf())
}

/// The text of the prompt's text blocks (and embedded text resources).
fn prompt_text(blocks: &[Value]) -> String {
    blocks
        .iter()
        .filter_map(|block| match block["type"].as_str() {
            Some("text") => block["text"].as_str(),
            Some("resource") => block["resource"]["text"].as_str(),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Selects the script for this prompt and returns the steps of its next turn.
fn pick_turn(
    session: &mut Session,
    prompt: &str,
    sources: &Sources,
    session_id: &str,
) -> Result<Vec<Step>, String> {
    if session.role.is_none() && session.servers.is_http("enki") {
        // An HTTP server's role is its token's: the server says which.
        session.role = session
            .servers
            .get("enki", &Cancel::new())
            .ok()
            .and_then(|enki| enki.server_role());
    }
    let choice = match &session.saved.last_script {
        // A continued session goes on with its script unless told otherwise.
        Some(path) if session.continued && select::marker(prompt).is_none() => {
            Choice::File(path.clone())
        }
        _ => select::choose(prompt, session.role.as_deref(), sources)?,
    };
    let script: Script = match &choice {
        Choice::Builtin => select::builtin(session.servers.has("enki")),
        other => {
            let path = other.path().unwrap_or(Path::new(""));
            script::load(path).map_err(|e| e.to_string())?
        }
    };
    let counter = session
        .saved
        .counters
        .entry(script.source.clone())
        .or_insert(0);
    let index = *counter;
    *counter += 1;
    session.saved.last_script = choice.path().map(Path::to_path_buf);
    session.saved.prompts.push(prompt.to_string());
    if let Err(e) = saved::save(session_id, &session.saved) {
        eprintln!("enki sim-agent: session {session_id} is not kept: {e}");
    }
    let turns = script.turns.len();
    eprintln!(
        "enki sim-agent: session {session_id}: prompt {} of script {} ({choice:?}) runs turn {} of {turns}",
        index + 1,
        script.source,
        (index + 1).min(turns),
    );
    let mut steps = script.turn(index).steps.clone();
    // Each limit step counts its runs (`times`) by its place in the script.
    let turn = (index + 1).min(turns);
    for (at, step) in steps.iter_mut().enumerate() {
        if let Step::Limit(limit) = step {
            limit.site = format!("{}#turn{turn}.step{}", script.source, at + 1);
        }
    }
    Ok(steps)
}

/// A turn running on its own thread.
struct Turn {
    peer: Arc<Peer>,
    children: Arc<Children>,
    servers: Arc<Servers>,
    running: Running,
    meter: Arc<Mutex<Meter>>,
    cancel: Arc<Cancel>,
    session_id: String,
    cwd: PathBuf,
    caps: ClientCaps,
    prompt: String,
    steps: Vec<Step>,
    /// See [`TurnCtx::approves_itself`].
    approves_itself: Option<String>,
}

impl Turn {
    fn run(self, id: Id) {
        let ctx = TurnCtx {
            peer: &self.peer,
            session_id: &self.session_id,
            cwd: &self.cwd,
            prompt: &self.prompt,
            caps: self.caps,
            servers: &self.servers,
            children: &self.children,
            cancel: &self.cancel,
            approves_itself: self.approves_itself.as_deref(),
            meter: &self.meter,
        };
        self.meter
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .start_turn();
        let end = catch_unwind(AssertUnwindSafe(|| steps::run_turn(&ctx, &self.steps)))
            .unwrap_or_else(|_| TurnEnd::Fail("internal error: the turn panicked".to_string()));
        // Free the session before answering, so the client's next prompt is
        // accepted as soon as it has the answer.
        *self.running.lock().unwrap_or_else(PoisonError::into_inner) = None;
        match end {
            TurnEnd::Stop(reason) => {
                eprintln!(
                    "enki sim-agent: session {}: turn ended: {}",
                    self.session_id,
                    reason.as_str()
                );
                let mut result = json!({"stopReason": reason.as_str()});
                if let Some(usage) = self
                    .meter
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .turn_usage()
                {
                    result["usage"] = usage;
                }
                self.peer.respond(id, result);
            }
            TurnEnd::Fail(message) => {
                eprintln!(
                    "enki sim-agent: session {}: turn failed: {message}",
                    self.session_id
                );
                self.peer.respond_error(id, ErrorObject::internal(message));
            }
            TurnEnd::Error(error) => {
                eprintln!(
                    "enki sim-agent: session {}: turn failed: {}",
                    self.session_id, error.message
                );
                self.peer.respond_error(id, error);
            }
        }
    }
}

/// This process's id as `/proc` names it, which is unique on the machine:
/// in the PID namespace that enki runs each agent in, `process::id()` is 2
/// for every agent.
fn host_pid() -> u32 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|stat| stat.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(std::process::id)
}
