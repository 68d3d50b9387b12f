//! `enki` with no command: prepares the coordinator (with the `ask`
//! permission policy answered here), runs it on a tokio runtime and feeds
//! everything into the [`App`] through one channel. The UI thread blocks on
//! that channel — redrawing after each batch of messages and once a second
//! only while workers run — so an idle session uses no CPU.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::time::{Duration, Instant};

use enki_coordinator::{Control, RunOptions, StartOptions};
use enki_project::{Layout, LocateError};
use ratatui::crossterm::event::{self, Event};
use tokio::sync::mpsc as async_mpsc;

use crate::msg::{Effect, Msg, StoreRequest};
use crate::permission::AskUser;
use crate::state::{App, QuitState};
use crate::terminal::{self, Tui};
use crate::update::{self, update};
use crate::{backend, files, ui};
use enki_notify::{Notifier, TerminalEnv};

/// How many messages of earlier sessions the chat shows again.
const EARLIER_CHAT: usize = 200;

/// Exit codes.
pub const EXIT_OK: u8 = 0;
pub const EXIT_ERROR: u8 = 1;
pub const EXIT_USAGE: u8 = 2;

/// Redraw period while something on screen moves by itself (elapsed times).
const LIVE_TICK: Duration = Duration::from_secs(1);
/// Wake-up period otherwise (nothing is drawn unless something changed).
const IDLE_TICK: Duration = Duration::from_secs(30);
/// Messages handled before a frame is drawn, so a flood cannot starve the screen.
const MAX_BATCH: usize = 2_000;

#[derive(Debug, Clone, Default)]
pub struct TuiOptions {
    /// `--agent`: the agent for every role.
    pub agent: Option<String>,
}

/// Runs the interactive session; returns the process exit code.
pub fn run_tui(options: TuiOptions) -> u8 {
    if !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal() {
        eprintln!(
            "enki: the interactive session needs a terminal; for scripts use `enki run \"<request>\"` (see `enki --help`)"
        );
        return EXIT_USAGE;
    }
    let notice = match ensure_initialised() {
        Ok(notice) => notice,
        Err(e) => {
            eprintln!("enki: error: {e}");
            return EXIT_ERROR;
        }
    };
    match session(options, notice) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("enki: error: {e}");
            EXIT_ERROR
        }
    }
}

/// First run: creates `.enki/` (like `enki init`) at the top of the git
/// project, or in the current folder outside one.
fn ensure_initialised() -> Result<Option<String>, String> {
    let root = match Layout::locate_from_env() {
        Ok(_) => return Ok(None),
        Err(LocateError::NotFound(start)) => {
            enki_project::init::repository_top(&start).unwrap_or(start)
        }
        Err(LocateError::NotInitialised(dir)) if dir.file_name() == Some(".enki".as_ref()) => {
            match dir.parent() {
                Some(parent) => parent.to_path_buf(),
                None => return Err(format!("cannot initialise {}", dir.display())),
            }
        }
        Err(e) => return Err(e.to_string()),
    };
    let (layout, _) = enki_project::init::init_dirs(&root)
        .map_err(|e| format!("cannot create .enki/ in {}: {e}", root.display()))?;
    drop(enki_store::Store::open(&layout.db()).map_err(|e| e.to_string())?);
    Ok(Some(format!(
        "initialised enki in {} (kept out of git)",
        layout.dir.display()
    )))
}

fn session(options: TuiOptions, notice: Option<String>) -> Result<u8, String> {
    let (ui_tx, ui_rx) = channel::<Msg>();
    let layout = Layout::locate_from_env().map_err(|e| e.to_string())?;
    let ask = Arc::new(AskUser::new(ui_tx.clone(), layout.copies()));
    let (ctx, _lock) = enki_coordinator::prepare(&StartOptions {
        enki_dir: None,
        agent: options.agent,
        ask_policy: Some(ask.clone()),
    })
    .map_err(|e| e.to_string())?;
    // enki's log: everything to `.enki/logs/enki.log`, warnings also to the
    // status line. Kept to the end of the session: dropping it flushes the file.
    let _log = {
        let ui = ui_tx.clone();
        enki_log::init(enki_log::LogOptions {
            file: ctx.layout.log_file(),
            warnings: Some(enki_log::callback_sink(move |text| {
                let _ = ui.send(Msg::Warning(text));
            })),
            buffered_lines: enki_log::LONG_RUN_BUFFERED_LINES,
        })
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("enki-coordinator")
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;

    let store = backend::spawn(
        ctx.layout.clone(),
        ctx.session_id.clone(),
        ctx.config.prices.clone(),
        ui_tx.clone(),
    )
    .map_err(|e| format!("cannot start the store thread: {e}"))?;
    spawn_file_list(ctx.project_root.clone(), ui_tx.clone());
    let control = spawn_coordinator(&runtime, ctx.clone(), ui_tx.clone());
    // SIGTERM and SIGHUP (the terminal closed) stop as a confirmed quit does;
    // in raw mode Ctrl-C is a key, so a SIGINT comes from outside too.
    let stop = ui_tx.clone();
    runtime.spawn(async move {
        loop {
            let name = enki_coordinator::stop_signal().await;
            if stop.send(Msg::StopSignal(name)).is_err() {
                break;
            }
        }
    });
    if let Some(notice) = notice {
        let _ = ui_tx.send(Msg::Notice(notice));
    }

    let mut tui = terminal::enter().map_err(|e| format!("cannot set up the terminal: {e}"))?;
    terminal::install_panic_hook();
    spawn_input(ui_tx.clone());
    let mut app = App::new();
    app.glyphs = ctx.config.tui.glyphs;
    // The conversation of earlier sessions comes back first.
    match enki_store::Store::open_existing(&ctx.layout.db())
        .and_then(|store| store.earlier_chat(&ctx.session_id, EARLIER_CHAT))
    {
        Ok(rows) => app.restore_chat(&rows),
        Err(e) => {
            let _ = ui_tx.send(Msg::Warning(format!("cannot read the earlier chat: {e}")));
        }
    }
    let mut looper = Loop {
        app,
        started: Instant::now(),
        control,
        store,
        ask,
        ui_tx,
        root: ctx.project_root.clone(),
        notifier: Notifier::new(
            &ctx.config.notify,
            &TerminalEnv::from_process(),
            &ctx.project_root,
        ),
        terminal_lost: false,
    };
    let result = looper.run(&mut tui, &ui_rx);
    terminal::restore();
    drop(tui);
    // What is still held goes out now, not never.
    looper.notifier.finish(&mut std::io::stderr());
    for panic in terminal::take_other_panics() {
        eprintln!("enki: {panic}");
    }
    // The coordinator has returned (or the user insisted on leaving):
    // give stragglers a moment, then go.
    runtime.shutdown_timeout(Duration::from_secs(2));
    let failed = matches!(looper.app.coordinator_done, Some(Some(_)));
    result.map(|()| if failed { EXIT_ERROR } else { EXIT_OK })
}

/// Starts the coordinator; returns its control channel. Progress is
/// forwarded to the UI, then the coordinator's outcome.
fn spawn_coordinator(
    runtime: &tokio::runtime::Runtime,
    ctx: enki_coordinator::Shared,
    ui: Sender<Msg>,
) -> async_mpsc::UnboundedSender<Control> {
    let (control_tx, control_rx) = async_mpsc::unbounded_channel();
    let (progress_tx, mut progress_rx) = async_mpsc::unbounded_channel();
    let forward_ui = ui.clone();
    runtime.spawn(async move {
        let forward = tokio::spawn(async move {
            while let Some(progress) = progress_rx.recv().await {
                if forward_ui.send(Msg::Progress(progress)).is_err() {
                    break;
                }
            }
        });
        let options = RunOptions {
            request: None,
            exit_when_idle: false,
            continue_planner: true,
        };
        let result = enki_coordinator::run(ctx, options, progress_tx, control_rx).await;
        let _ = forward.await;
        let _ = ui.send(Msg::CoordinatorDone(result.map(|_| ())));
    });
    control_tx
}

fn spawn_file_list(root: PathBuf, ui: Sender<Msg>) {
    let _ = std::thread::Builder::new()
        .name("enki-tui-files".into())
        .spawn(move || {
            let _ = ui.send(Msg::Files(files::list(&root)));
        });
}

/// Terminal events, read on their own thread (blocking, no polling).
fn spawn_input(ui: Sender<Msg>) {
    let _ = std::thread::Builder::new()
        .name("enki-tui-input".into())
        .spawn(move || {
            loop {
                let msg = match event::read() {
                    Ok(Event::Key(key)) => Msg::Key(key),
                    Ok(Event::Mouse(mouse)) => Msg::Mouse(mouse),
                    Ok(Event::Paste(text)) => Msg::Paste(text),
                    Ok(Event::Resize(w, h)) => Msg::Resize(w, h),
                    Ok(_) => continue,
                    Err(_) => return,
                };
                if ui.send(msg).is_err() {
                    return;
                }
            }
        });
}

struct Loop {
    app: App,
    started: Instant,
    control: async_mpsc::UnboundedSender<Control>,
    store: Sender<StoreRequest>,
    ask: Arc<AskUser>,
    ui_tx: Sender<Msg>,
    root: PathBuf,
    notifier: Notifier,
    /// Drawing failed: the loop only waits for the workers to stop.
    terminal_lost: bool,
}

impl Loop {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn run(&mut self, tui: &mut Tui, rx: &Receiver<Msg>) -> Result<(), String> {
        if let Ok(size) = tui.size() {
            self.app.size = (size.width, size.height);
        }
        loop {
            if self.app.dirty && !self.terminal_lost {
                self.app.dirty = false;
                if let Ok(size) = tui.size() {
                    update::fit(&mut self.app, size.width, size.height);
                }
                if tui.draw(|frame| ui::draw(frame, &self.app)).is_err() {
                    // The terminal is gone (closed under a SIGHUP, say):
                    // stop the workers cleanly, drawing nothing more.
                    self.terminal_lost = true;
                    if self.handle(tui, Msg::StopSignal("terminal lost")) {
                        return Ok(());
                    }
                }
            }
            let live = self.app.running_workers() > 0 || self.app.quit == QuitState::Stopping;
            let mut wait = if live { LIVE_TICK } else { IDLE_TICK };
            // Held desktop notifications go out when due.
            if let Some(due) = self.notifier.due() {
                wait = wait.min(due.saturating_duration_since(Instant::now()));
            }
            let first = match rx.recv_timeout(wait) {
                Ok(msg) => msg,
                Err(RecvTimeoutError::Timeout) => Msg::Tick(self.now_ms()),
                Err(RecvTimeoutError::Disconnected) => return Ok(()),
            };
            let mut exit = self.handle(tui, first);
            for msg in rx.try_iter().take(MAX_BATCH) {
                exit |= self.handle(tui, msg);
            }
            self.notifier.flush(tui.backend_mut());
            if exit {
                return Ok(());
            }
        }
    }

    /// Applies one message and carries out its effects; true to leave.
    fn handle(&mut self, tui: &mut Tui, msg: Msg) -> bool {
        let dirty = self.app.dirty;
        self.app.now_ms = self.now_ms();
        let effects = update(&mut self.app, msg);
        self.app.dirty |= dirty;
        let mut exit = false;
        for effect in effects {
            match effect {
                Effect::Planner(text) => {
                    let _ = self.control.send(Control::UserMessage(text));
                }
                Effect::RaiseBudget(ask) => {
                    let _ = self.control.send(Control::RaiseBudget {
                        execution: ask.execution,
                        scope: ask.scope,
                        measure: ask.measure,
                        to: ask.raise_to,
                    });
                }
                Effect::Store(request) => {
                    let _ = self.store.send(request);
                }
                Effect::Answer(id, decision) => self.ask.answer(id, decision),
                Effect::Notify {
                    title,
                    body,
                    urgent,
                } => self
                    .notifier
                    .notify(tui.backend_mut(), &title, &body, urgent),
                Effect::RefreshFiles => spawn_file_list(self.root.clone(), self.ui_tx.clone()),
                Effect::Shutdown => {
                    if self.control.send(Control::Shutdown).is_err() {
                        exit = true;
                    }
                }
                Effect::Exit => exit = true,
            }
        }
        exit
    }
}
