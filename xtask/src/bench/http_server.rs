//! A running `enki mcp --transport http` on 127.0.0.1:0, for `bench mcp`
//! and `interop-mcp`: started with its token in `ENKI_MCP_TOKEN`, its
//! address read from the line it prints on stderr, stopped with SIGTERM.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::channel;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// A running `enki mcp --transport http --role planner`, killed when dropped.
pub struct HttpServer {
    child: Child,
    pub addr: SocketAddr,
    /// Everything it wrote on stderr so far.
    stderr: Arc<Mutex<String>>,
}

impl HttpServer {
    /// Starts it in `project` (whose `.enki/` it serves) with bearer token
    /// `token`; returns once it says where it listens.
    pub fn start(bin: &Path, project: &Path, token: &str, timeout: Duration) -> Result<HttpServer> {
        let mut child = Command::new(bin)
            .args(["mcp", "--transport", "http", "--addr", "127.0.0.1:0"])
            .args(["--role", "planner"])
            .env("ENKI_MCP_TOKEN", token)
            .env("ENKI_DIR", project.join(".enki"))
            .env_remove("ENKI_SESSION_ID")
            .current_dir(project)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting `enki mcp --transport http`")?;
        let stderr = child.stderr.take().context("stderr is piped")?;
        let (send, lines) = channel();
        let collected = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&collected);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                sink.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push_str(&format!("{line}\n"));
                // Nobody listens once the address is known.
                let _ = send.send(line);
            }
        });
        let deadline = Instant::now() + timeout;
        let addr = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(line) = lines.recv_timeout(left) else {
                let _ = child.kill();
                let status = child.wait().ok();
                bail!(
                    "`enki mcp --transport http` did not say where it listens (exit {status:?}); stderr:\n{}",
                    collected.lock().unwrap_or_else(|e| e.into_inner())
                );
            };
            let url = line.strip_prefix("enki mcp: listening on http://");
            if let Some(addr) = url.and_then(|url| url.strip_suffix("/mcp")) {
                break addr
                    .parse()
                    .with_context(|| format!("not a socket address in {line:?}"))?;
            }
        };
        Ok(HttpServer {
            child,
            addr,
            stderr: collected,
        })
    }

    /// `http://ADDR/mcp`.
    pub fn url(&self) -> String {
        format!("http://{}/mcp", self.addr)
    }

    pub fn stderr(&self) -> String {
        self.stderr
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// SIGTERM, then its exit (which should be 0); killed after `timeout`.
    pub fn stop(mut self, timeout: Duration) -> Result<ExitStatus> {
        let pid = libc::pid_t::try_from(self.child.id()).context("a pid")?;
        // SAFETY: signals our own child, which has not been waited for yet.
        #[allow(unsafe_code)]
        unsafe {
            libc::kill(pid, libc::SIGTERM)
        };
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            if Instant::now() >= deadline {
                bail!("`enki mcp --transport http` did not end within {timeout:?} of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A token of 32 hex digits from the operating system's randomness.
pub fn random_token() -> Result<String> {
    use std::io::Read;
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .context("reading /dev/urandom")?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}
