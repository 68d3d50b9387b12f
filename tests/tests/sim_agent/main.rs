//! `enki sim-agent`, the built-in scripted ACP agent, driven over its stdio
//! by a minimal blocking ACP client: handshake, script selection (marker,
//! role, --script, built-in), every observable step kind, ACP fs requests,
//! permission requests, cancellation, crashes and exits, and a tool call
//! through a real `enki mcp` server that lands in the project's database
//! (WORKERS.md, "Built-in simulated agent").
//!
//! Choice documented here: a permission step denied with `on_deny = "fail"`
//! ends the turn with stopReason `refusal` (not a JSON-RPC error).
//!
//! This file holds the shared fixture; the ACP client lives in `client`.
// An integration test: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod client;
mod endings;
mod enki_mcp;
mod protocol;
mod steps;

use std::path::{Path, PathBuf};

use serde_json::json;

use client::AcpClient;

/// A temporary dir of scripts, and a canonical temporary working dir.
struct Fixture {
    scripts: tempfile::TempDir,
    cwd_dir: tempfile::TempDir,
}

impl Fixture {
    fn new(scripts: &[(&str, &str)]) -> Fixture {
        let fixture = Fixture {
            scripts: tempfile::tempdir().unwrap(),
            cwd_dir: tempfile::tempdir().unwrap(),
        };
        for (name, text) in scripts {
            std::fs::write(fixture.scripts.path().join(name), text).unwrap();
        }
        fixture
    }

    fn dir(&self) -> &Path {
        self.scripts.path()
    }

    fn cwd(&self) -> PathBuf {
        self.cwd_dir.path().canonicalize().unwrap()
    }

    /// An initialized agent with one session in the working dir.
    fn agent(&self, fs: bool) -> (AcpClient, String) {
        let mut agent = AcpClient::start(self.dir(), fs);
        let session = agent.new_session(&self.cwd(), json!([]));
        (agent, session)
    }
}
