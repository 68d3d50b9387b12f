//! What a tool handler can reach: the caller's identity, the project's
//! `.enki/`, the store (opened on first use so `initialize` stays fast, or
//! taken from the connections an HTTP server shares, `pool.rs`), the roles,
//! and the signal directory.

use std::sync::Arc;
use std::time::{Duration, Instant};

use enki_core::mail::Address;
use enki_core::role::RoleSet;
use enki_project::Layout;
use enki_signals::{Origin, Signal, SignalKind, write_signal};
use enki_store::Store;

use crate::pool::StorePool;
use crate::roles::McpRole;

pub struct Context {
    pub role: McpRole,
    /// The task id as given on the command line (may be a prefix).
    task_arg: Option<String>,
    /// The resolved full task id, once looked up.
    task_id: Option<String>,
    pub no_edit: bool,
    pub session: Option<String>,
    layout: Result<Layout, String>,
    store: Option<Store>,
    /// The connections of an HTTP server, shared by its sessions; `None`:
    /// this context opens its own and keeps it.
    pool: Option<Arc<StorePool>>,
    /// Whether `store` is the pool's writer (this call holds the write turn).
    holds_turn: bool,
    /// With a pool: a connection of this context's own, whose
    /// `data_version` (which counts per connection) the watch compares.
    watched: Option<Store>,
    /// Signals of this message, written once its connection is given back
    /// ([`Context::release`]).
    signals: Vec<Signal>,
    /// How many of `signals` came before the write turn was taken: those
    /// after it are dropped when the turn's writes are not kept.
    signals_before_turn: usize,
    /// How long a write waits for another process's write lock before the
    /// tool answers that the database is busy (`[mcp] busy_timeout_ms`).
    busy_budget: Duration,
    roles: Option<RoleSet>,
    /// `[prices]`, for the cost estimates of the usage the tools show.
    pub prices: enki_core::usage::Prices,
}

impl Context {
    pub fn new(
        role: McpRole,
        task_arg: Option<String>,
        no_edit: bool,
        session: Option<String>,
        layout: Result<Layout, String>,
    ) -> Context {
        Context {
            role,
            task_arg,
            task_id: None,
            no_edit,
            session,
            layout,
            store: None,
            pool: None,
            holds_turn: false,
            watched: None,
            signals: Vec::new(),
            signals_before_turn: 0,
            busy_budget: Duration::from_millis(enki_config::McpConfig::default().busy_timeout_ms),
            roles: None,
            prices: enki_core::usage::Prices::default(),
        }
    }

    /// Sets how long the store waits for a busy database (before it is opened).
    pub fn set_busy_budget(&mut self, budget: Duration) {
        self.busy_budget = budget;
    }

    pub fn layout(&self) -> Result<&Layout, String> {
        self.layout.as_ref().map_err(Clone::clone)
    }

    /// Takes the store's connections from `pool` from now on.
    pub fn share(&mut self, pool: Arc<StorePool>) {
        self.release();
        self.store = None;
        self.pool = Some(pool);
    }

    /// The store: this context's own connection, opened on first use, or
    /// one of the pool's until [`Context::release`].
    pub fn store(&mut self) -> Result<&mut Store, String> {
        if self.store.is_none() {
            let store = match &self.pool {
                Some(pool) => pool.reader(self.busy_budget)?,
                None => {
                    let layout = self.layout()?;
                    Store::open_existing_within(&layout.db(), self.busy_budget)
                        .map_err(|e| e.to_string())?
                }
            };
            self.store = Some(store);
        }
        self.store
            .as_mut()
            .ok_or_else(|| "the database is not open".to_string())
    }

    /// Before a tool that writes: with a pool, waits for the write turn (at
    /// most the busy budget, which its writes share) and makes the pool's
    /// writer this call's store. Without one, nothing to wait for.
    pub fn take_write_turn(&mut self) -> Result<(), String> {
        let Some(pool) = self.pool.clone() else {
            return Ok(());
        };
        if self.holds_turn {
            return Ok(());
        }
        let writer = pool.writer(Instant::now() + self.busy_budget)?;
        if let Some(reader) = self.store.replace(writer) {
            pool.give_back_reader(reader);
        }
        self.holds_turn = true;
        self.signals_before_turn = self.signals.len();
        Ok(())
    }

    /// Gives the pool's writer connection back, passing the write turn on,
    /// once a tool's writes are done; reads after it take a reader. Returns
    /// once the writes are committed (with the group of writes they share a
    /// transaction with, `pool.rs`); `Err`: none of them was kept, and the
    /// text says why.
    pub fn pass_write_turn(&mut self) -> Result<(), String> {
        if let Some(pool) = &self.pool
            && self.holds_turn
            && let Some(store) = self.store.take()
        {
            self.holds_turn = false;
            let committed = pool.give_back_writer(store);
            if committed.is_err() {
                // They would announce changes the store does not hold.
                self.signals.truncate(self.signals_before_turn);
            }
            return committed;
        }
        Ok(())
    }

    /// At the end of each message: gives a pool's connection back (passing
    /// the write turn on), then writes the signals of the changes it made
    /// (the database already holds them). Without a pool the connection is
    /// kept.
    pub fn release(&mut self) {
        if let Some(pool) = &self.pool
            && let Some(store) = self.store.take()
        {
            if std::mem::take(&mut self.holds_turn) {
                if let Err(e) = pool.give_back_writer(store) {
                    tracing::warn!("a change of this session was not kept: {e}");
                    self.signals.truncate(self.signals_before_turn);
                }
            } else {
                pool.give_back_reader(store);
            }
        }
        for signal in std::mem::take(&mut self.signals) {
            self.write_signal(&signal);
        }
    }

    /// The store's `PRAGMA data_version` on a connection that stays this
    /// context's, so that two values compare: it changes when another
    /// connection committed in between.
    pub fn data_version(&mut self) -> Option<i64> {
        if self.pool.is_none() {
            return self.store().ok()?.data_version().ok();
        }
        if self.watched.is_none() {
            let db = self.layout().ok()?.db();
            self.watched = Store::open_existing_within(&db, self.busy_budget).ok();
        }
        self.watched.as_ref()?.data_version().ok()
    }

    /// The role cascade, loaded on first use. Bad role files are reported on
    /// stderr and skipped.
    pub fn roles(&mut self) -> Result<&RoleSet, String> {
        if self.roles.is_none() {
            let layout = self.layout()?.clone();
            let (roles, errors) = enki_project::roles::load_roles(&layout);
            for error in errors {
                tracing::warn!("skipping role file {error}");
            }
            self.roles = Some(roles);
        }
        self.roles
            .as_ref()
            .ok_or_else(|| "roles are not loaded".to_string())
    }

    /// Drops the loaded roles, so that the next [`Context::roles`] reads the
    /// role files again (they changed on disk).
    pub fn forget_roles(&mut self) {
        self.roles = None;
    }

    /// The calling worker's full task id; tools that act for a task need it.
    pub fn my_task(&mut self) -> Result<String, String> {
        if let Some(id) = &self.task_id {
            return Ok(id.clone());
        }
        let Some(arg) = self.task_arg.clone() else {
            return Err(format!(
                "this tool needs the task id of the calling {}: start `enki mcp --role {} --task-id <task id>`",
                self.role, self.role
            ));
        };
        let id = self
            .store()?
            .resolve_task(&arg)
            .map_err(|e| format!("--task-id {arg}: {e}"))?;
        self.task_id = Some(id.clone());
        Ok(id)
    }

    /// The task id for logs, without touching the store.
    pub fn task_label(&self) -> Option<&str> {
        self.task_id.as_deref().or(self.task_arg.as_deref())
    }

    /// This caller's mail address: the planner is `coordinator`, a worker is
    /// `worker/<task id>`.
    pub fn mailbox(&mut self) -> Result<String, String> {
        match self.role {
            McpRole::Planner => Ok(Address::Coordinator.to_string()),
            McpRole::Worker | McpRole::Merger => Ok(Address::worker_mailbox(&self.my_task()?)),
        }
    }

    /// Drops a signal file for the coordinator once this message is
    /// answered ([`Context::release`]): after the write turn is passed on,
    /// so that the next writer does not wait for the file. The database
    /// already holds the change, so a failure here only delays the reaction
    /// until the coordinator's next rescan; it is logged, not returned.
    pub fn signal(&mut self, kind: SignalKind) {
        let origin = Origin {
            role: self.role.to_string(),
            task_id: self.task_label().map(str::to_string),
        };
        self.signals
            .push(Signal::new(kind, self.session.clone(), origin));
    }

    fn write_signal(&self, signal: &Signal) {
        let Ok(layout) = self.layout() else {
            return;
        };
        if let Err(e) = write_signal(&layout.events(), signal) {
            tracing::warn!(
                "could not write a signal file in {}: {e}",
                layout.events().display()
            );
        }
    }
}

impl Drop for Context {
    /// A session that ends (or whose message panicked) passes the write
    /// turn on and writes what it still owed.
    fn drop(&mut self) {
        self.release();
    }
}
