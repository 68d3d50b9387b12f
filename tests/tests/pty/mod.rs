//! A pseudo-terminal session of the real `enki` binary for the TUI's
//! end-to-end tests: keys in, the screen (parsed by vt100) out.

use std::io::{Read, Write};
use std::num::NonZeroU16;
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use enki_tests::{Project, enki_bin};
use portable_pty::{Child, CommandBuilder, PtySize, native_pty_system};

/// Safety net for every wait; the test never sleeps to race.
const DEADLINE: Duration = Duration::from_secs(90);
const ROWS: NonZeroU16 = NonZeroU16::new(40).expect("non-zero");
const COLS: NonZeroU16 = NonZeroU16::new(140).expect("non-zero");

pub struct Session {
    pub child: Box<dyn Child + Send + Sync>,
    writer: Box<dyn Write + Send>,
    output: Receiver<Vec<u8>>,
    parser: vt100::Parser,
    closed: bool,
}

impl Session {
    pub fn start(project: &Project, args: &[&str]) -> Session {
        let pty = native_pty_system();
        let pair = pty
            .openpty(PtySize {
                rows: ROWS.get(),
                cols: COLS.get(),
                pixel_width: 0,
                pixel_height: 0,
            })
            .expect("open a pty");
        let mut cmd = CommandBuilder::new(enki_bin());
        cmd.args(args);
        cmd.cwd(&project.root);
        for (name, value) in project.home.env() {
            match value {
                Some(value) => cmd.env(name, value),
                None => cmd.env_remove(name),
            }
        }
        cmd.env("TERM", "xterm-256color");
        cmd.env("ENKI_NO_DESKTOP_NOTIFY", "1");
        let child = pair
            .slave
            .spawn_command(cmd)
            .expect("spawn enki in the pty");
        drop(pair.slave);
        let mut reader = pair.master.try_clone_reader().expect("pty reader");
        let writer = pair.master.take_writer().expect("pty writer");
        let (tx, output) = channel();
        std::thread::spawn(move || {
            // Keeps the master alive as long as the reader runs.
            let _master = pair.master;
            let mut buf = [0u8; 8192];
            loop {
                match reader.read(&mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        if tx.send(buf[..n].to_vec()).is_err() {
                            return;
                        }
                    }
                }
            }
        });
        Session {
            child,
            writer,
            output,
            parser: vt100::Parser::new(ROWS, COLS, 0),
            closed: false,
        }
    }

    pub fn screen(&self) -> String {
        self.parser.screen().contents()
    }

    /// Reads output until `check` holds for the screen or `limit` passes;
    /// whether it held.
    pub fn holds_within(&mut self, limit: Duration, check: impl Fn(&str) -> bool) -> bool {
        let started = Instant::now();
        while !check(&self.screen()) {
            let left = limit.saturating_sub(started.elapsed());
            if left.is_zero() || self.closed {
                return false;
            }
            match self.output.recv_timeout(left) {
                Ok(bytes) => self.parser.process(&bytes),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => self.closed = true,
            }
        }
        true
    }

    /// Reads output until `check` holds for the screen.
    pub fn wait_for(&mut self, what: &str, check: impl Fn(&str) -> bool) {
        assert!(
            self.holds_within(DEADLINE, check),
            "timed out waiting for {what}; the screen:\n{}",
            self.screen()
        );
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).expect("write to the pty");
        self.writer.flush().expect("flush the pty");
    }

    /// Waits for the process to exit, answering a quit confirmation if
    /// one shows up.
    pub fn wait_exit(&mut self) -> portable_pty::ExitStatus {
        let started = Instant::now();
        let mut confirmed = false;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait on enki") {
                return status;
            }
            if !confirmed && self.screen().contains("Quit enki?") {
                confirmed = true;
                self.send(b"y");
            }
            if started.elapsed() > DEADLINE {
                let _ = self.child.kill();
                panic!("enki did not exit; the screen:\n{}", self.screen());
            }
            match self.output.recv_timeout(Duration::from_millis(100)) {
                Ok(bytes) => self.parser.process(&bytes),
                Err(RecvTimeoutError::Timeout) => {}
                // Output closed: the process is gone or going; poll it.
                Err(RecvTimeoutError::Disconnected) => {
                    if let Ok(status) = self.child.wait() {
                        return status;
                    }
                }
            }
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
    }
}

/// A TUI whose planner starts one step `g` running the `gate` script.
#[allow(dead_code, reason = "not every TUI test file starts a gated step")]
pub fn start_gated_step(project: &Project) -> Session {
    project.script(
        "planner",
        r#"[[turn]]
steps = [
  { tool = "enki_execution_create", args = { title = "Gated", steps = [ { id = "g", title = "Wait", description = "[[sim:gate]]" } ] } },
  { say = "Started." },
]
"#,
    );
    let mut session = Session::start(project, &[]);
    session.wait_for("the message box", |s| s.contains("Message"));
    session.send(b"start the gated step\r");
    session.wait_for("the planner's answer", |s| s.contains("Started."));
    session
}

/// The mail to the worker of step `step`, as stored.
#[allow(dead_code, reason = "not every TUI test file reads mail")]
pub fn mail_to_worker(project: &Project, step: &str) -> Vec<enki_store::MessageRow> {
    let store = enki_store::Store::open(&project.db_path()).unwrap();
    store
        .messages(&enki_store::MailFilter {
            to: Some(format!("worker/{}", project.task_id(step))),
            session: None,
            unread_only: false,
            include_expired: false,
        })
        .unwrap()
}
