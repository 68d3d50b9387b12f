//! What a tool handler can reach: the caller's identity, the project's
//! `.enki/`, the store (opened on first use so `initialize` stays fast), the
//! roles, and the signal directory.

use std::time::Duration;

use enki_core::mail::Address;
use enki_core::role::RoleSet;
use enki_project::Layout;
use enki_signals::{Origin, Signal, SignalKind, write_signal};
use enki_store::Store;

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
    /// How long a write waits for another process's write lock before the
    /// tool answers that the database is busy (`[mcp] busy_timeout_ms`).
    busy_budget: Duration,
    roles: Option<RoleSet>,
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
            busy_budget: Duration::from_millis(enki_config::McpConfig::default().busy_timeout_ms),
            roles: None,
        }
    }

    /// Sets how long the store waits for a busy database (before it is opened).
    pub fn set_busy_budget(&mut self, budget: Duration) {
        self.busy_budget = budget;
    }

    pub fn layout(&self) -> Result<&Layout, String> {
        self.layout.as_ref().map_err(Clone::clone)
    }

    /// The store, opened on first use.
    pub fn store(&mut self) -> Result<&mut Store, String> {
        if self.store.is_none() {
            let layout = self.layout()?;
            let store = Store::open_existing_within(&layout.db(), self.busy_budget)
                .map_err(|e| e.to_string())?;
            self.store = Some(store);
        }
        self.store
            .as_mut()
            .ok_or_else(|| "the database is not open".to_string())
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

    /// Drops a signal file for the coordinator. The database already holds
    /// the change, so a failure here only delays the reaction until the
    /// coordinator's next rescan; it is logged, not returned.
    pub fn signal(&self, kind: SignalKind) {
        let Ok(layout) = self.layout() else {
            return;
        };
        let origin = Origin {
            role: self.role.to_string(),
            task_id: self.task_label().map(str::to_string),
        };
        let signal = Signal::new(kind, self.session.clone(), origin);
        if let Err(e) = write_signal(&layout.events(), &signal) {
            tracing::warn!(
                "could not write a signal file in {}: {e}",
                layout.events().display()
            );
        }
    }
}
