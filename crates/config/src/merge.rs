//! Applying one parsed file on top of the configuration so far, field by
//! field: a value the file sets replaces the earlier one (`args` as a whole),
//! `env` maps merge key by key, anything the file leaves out is kept.

use std::path::Path;

use crate::command::anchor_command;
use crate::config::{AgentSpec, Config};
use crate::schema::{FileAgentSpec, FileConfig};

fn set<T>(slot: &mut T, value: Option<T>) {
    if let Some(value) = value {
        *slot = value;
    }
}

fn set_some<T>(slot: &mut Option<T>, value: Option<T>) {
    if value.is_some() {
        *slot = value;
    }
}

/// An empty string clears the value (so a project can undo a home setting).
fn set_or_clear(slot: &mut Option<String>, value: Option<String>) {
    if let Some(value) = value {
        *slot = (!value.trim().is_empty()).then_some(value);
    }
}

impl AgentSpec {
    /// `dir` is the folder of the file: a relative program path in
    /// `command` is resolved against it (like `[sim] scripts`).
    fn apply(&mut self, file: FileAgentSpec, dir: &Path) {
        set_some(
            &mut self.command,
            file.command.map(|command| anchor_command(&command, dir)),
        );
        set_some(&mut self.args, file.args);
        self.env.extend(file.env);
    }
}

impl Config {
    /// Applies `file`, which was read from a file in directory `dir`.
    pub(crate) fn apply(&mut self, file: FileConfig, dir: &Path) {
        crate::spend::apply_budget(&mut self.budget, file.budget);
        crate::spend::apply_prices(&mut self.prices, file.prices);
        let w = file.workers;
        set(&mut self.workers.max_workers, w.max_workers);
        set_some(&mut self.workers.max_light, w.max_light);
        set_some(&mut self.workers.max_standard, w.max_standard);
        set_some(&mut self.workers.max_heavy, w.max_heavy);
        set(&mut self.workers.retries, w.retries);
        set(&mut self.workers.stall_timeout_secs, w.stall_timeout_secs);
        set(
            &mut self.workers.api_retry_limit_secs,
            w.api_retry_limit_secs,
        );
        set(&mut self.workers.limit_backoff_secs, w.limit_backoff_secs);
        set(
            &mut self.workers.limit_backoff_max_secs,
            w.limit_backoff_max_secs,
        );
        set(&mut self.workers.copy_ignored, w.copy_ignored);
        set(&mut self.workers.include, w.include);
        set_some(&mut self.workers.setup, w.setup);
        set(&mut self.workers.setup_timeout_secs, w.setup_timeout_secs);

        let a = file.agent;
        self.agent.base.apply(
            FileAgentSpec {
                command: a.command,
                args: a.args,
                env: a.env,
            },
            dir,
        );
        set(
            &mut self.agent.planner_turn_timeout_secs,
            a.coordinator.turn_timeout_secs,
        );
        self.agent
            .coordinator
            .apply(a.coordinator.agent_spec(), dir);
        self.agent.worker.apply(a.worker, dir);
        self.agent.merger.apply(a.merger, dir);
        self.agent.light.apply(a.light, dir);
        self.agent.standard.apply(a.standard, dir);
        self.agent.heavy.apply(a.heavy, dir);
        set_some(&mut self.agent.auth_method, a.auth_method);
        set(&mut self.agent.init_timeout_secs, a.init_timeout_secs);

        set_or_clear(&mut self.git.commit_suffix, file.git.commit_suffix);
        set_some(&mut self.git.base_branch, file.git.base_branch);

        set_or_clear(&mut self.merge.verify, file.merge.verify);
        set(
            &mut self.merge.verify_timeout_secs,
            file.merge.verify_timeout_secs,
        );
        set(
            &mut self.merge.resolve_timeout_secs,
            file.merge.resolve_timeout_secs,
        );
        set(&mut self.merge.review, file.merge.review);

        set(&mut self.permissions.policy, file.permissions.policy);
        set(
            &mut self.permissions.agent_decides,
            file.permissions.agent_decides,
        );

        let network = file.sandbox.network().ok().flatten();
        set(&mut self.sandbox.mode, file.sandbox.mode);
        set(&mut self.sandbox.network, network);
        if let Some(ports) = file.sandbox.loopback_ports {
            self.sandbox.loopback_ports = ports;
        }
        if let Some(paths) = file.sandbox.writable {
            // `~/` stays for the coordinator to expand; the rest is anchored.
            self.sandbox.writable = paths
                .into_iter()
                .map(|p| if p.starts_with("~") { p } else { dir.join(p) })
                .collect();
        }

        if let Some(scripts) = file.sim.scripts {
            self.sim.scripts = Some(dir.join(scripts));
        }

        let n = file.notify;
        set(&mut self.notify.bell, n.bell);
        set(&mut self.notify.desktop, n.desktop);
        set_or_clear(&mut self.notify.webhook, n.webhook);
        set(
            &mut self.notify.webhook_timeout_secs,
            n.webhook_timeout_secs,
        );
        set(&mut self.tui.glyphs, file.tui.glyphs);

        let m = file.mcp;
        set(&mut self.mcp.rate_limit.per_second, m.rate_limit.per_second);
        set(&mut self.mcp.rate_limit.burst, m.rate_limit.burst);
        set(&mut self.mcp.busy_timeout_ms, m.busy_timeout_ms);
        set(&mut self.mcp.traffic_log_max_bytes, m.traffic_log_max_bytes);
    }
}
