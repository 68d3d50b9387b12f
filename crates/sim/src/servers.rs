//! The MCP servers of a session, started in the background at
//! `session/new` (so the response is not delayed), and the registry of every
//! server child so that they are all killed when the agent exits.

use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

use crate::cancel::Cancel;
use crate::mcp_client::{McpClient, McpError, ServerSpec};

/// Every MCP client the agent started; killed together on exit.
#[derive(Default)]
pub struct Children {
    inner: Mutex<ChildrenInner>,
}

#[derive(Default)]
struct ChildrenInner {
    clients: Vec<Arc<McpClient>>,
    exiting: bool,
}

impl Children {
    /// Starts a client with `spawn` and keeps it for [`Children::kill_all`],
    /// under the registry's lock: `kill_all` then either sees it or has
    /// already run, and nothing is started. (Spawning first and registering
    /// after left a window in which the agent could exit between the two and
    /// leave the server running.) `Ok(None)` once `kill_all` has run.
    pub fn spawn_registered(
        &self,
        spawn: impl FnOnce() -> Result<McpClient, McpError>,
    ) -> Result<Option<Arc<McpClient>>, McpError> {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if inner.exiting {
            return Ok(None);
        }
        let client = Arc::new(spawn()?);
        inner.clients.push(Arc::clone(&client));
        Ok(Some(client))
    }

    pub fn kill_all(&self) {
        let clients = {
            let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
            inner.exiting = true;
            std::mem::take(&mut inner.clients)
        };
        for client in clients {
            client.kill();
        }
    }
}

enum SlotState {
    Starting,
    Ready(Arc<McpClient>),
    Failed(String),
}

struct Slot {
    state: Mutex<SlotState>,
    cv: Condvar,
}

impl Slot {
    fn set(&self, state: SlotState) {
        *self.state.lock().unwrap_or_else(PoisonError::into_inner) = state;
        self.cv.notify_all();
    }
}

/// The MCP servers of one session, by name.
#[derive(Default)]
pub struct Servers {
    slots: Vec<(String, Arc<Slot>)>,
    /// The names of the HTTP servers.
    http: Vec<String>,
}

impl Servers {
    /// Starts every server in the background (cwd = the session's cwd).
    pub fn start(specs: Vec<ServerSpec>, cwd: &Path, children: &Arc<Children>) -> Servers {
        let mut slots: Vec<(String, Arc<Slot>)> = Vec::new();
        let mut http = Vec::new();
        for spec in specs {
            if slots.iter().any(|(name, _)| name == spec.name()) {
                eprintln!(
                    "enki sim-agent: MCP server '{}' is listed twice; using the first",
                    spec.name()
                );
                continue;
            }
            let slot = Arc::new(Slot {
                state: Mutex::new(SlotState::Starting),
                cv: Condvar::new(),
            });
            let (thread_slot, cwd, children) =
                (Arc::clone(&slot), cwd.to_path_buf(), Arc::clone(children));
            let name = spec.name().to_string();
            if matches!(spec, ServerSpec::Http(_)) {
                http.push(name.clone());
            }
            let spawned = std::thread::Builder::new()
                .name(format!("start-{name}"))
                .spawn(move || {
                    let state = match connect(&spec, &cwd, &children) {
                        Ok(client) => SlotState::Ready(client),
                        Err(e) => {
                            eprintln!("enki sim-agent: {e}");
                            SlotState::Failed(e.to_string())
                        }
                    };
                    thread_slot.set(state);
                });
            if let Err(e) = spawned {
                slot.set(SlotState::Failed(format!(
                    "cannot start MCP server '{name}': {e}"
                )));
            }
            slots.push((name, slot));
        }
        Servers { slots, http }
    }

    pub fn has(&self, name: &str) -> bool {
        self.slots.iter().any(|(n, _)| n == name)
    }

    /// Whether `name` is an HTTP server (whose role is its token's, told
    /// by the server, not a command-line argument).
    pub fn is_http(&self, name: &str) -> bool {
        self.http.iter().any(|n| n == name)
    }

    /// The started server `name`, waiting for its start if needed.
    pub fn get(&self, name: &str, cancel: &Cancel) -> Result<Arc<McpClient>, String> {
        let Some((_, slot)) = self.slots.iter().find(|(n, _)| n == name) else {
            let names: Vec<&str> = self.slots.iter().map(|(n, _)| n.as_str()).collect();
            return Err(if names.is_empty() {
                format!("no MCP server named '{name}': session/new gave none")
            } else {
                format!(
                    "no MCP server named '{name}' (session/new gave: {})",
                    names.join(", ")
                )
            });
        };
        let mut state = slot.state.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            match &*state {
                SlotState::Ready(client) => return Ok(Arc::clone(client)),
                SlotState::Failed(message) => return Err(message.clone()),
                SlotState::Starting if cancel.is_cancelled() => {
                    return Err("cancelled".to_string());
                }
                SlotState::Starting => {
                    state = slot
                        .cv
                        .wait_timeout(state, Duration::from_millis(10))
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                }
            }
        }
    }
}

/// Spawns, registers and initializes one server.
fn connect(spec: &ServerSpec, cwd: &Path, children: &Children) -> Result<Arc<McpClient>, McpError> {
    let Some(client) = children.spawn_registered(|| McpClient::spawn(spec, cwd))? else {
        return Err(McpError::Cancelled);
    };
    client.initialize(&Cancel::new())?;
    Ok(client)
}
