//! Taking over the terminal (raw mode, alternate screen, mouse, bracketed
//! paste, unambiguous keys) and giving it back — on a normal exit, on an
//! error, and from the panic hook, so a crash never leaves the user's
//! shell in raw mode.

use std::io::{Stdout, Write, stdout};
use std::sync::{Mutex, OnceLock};
use std::thread::ThreadId;

use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::event::{
    DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste, EnableMouseCapture,
    KeyboardEnhancementFlags, PopKeyboardEnhancementFlags, PushKeyboardEnhancementFlags,
};
use ratatui::crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use ratatui::crossterm::{cursor, execute};

pub type Tui = Terminal<CrosstermBackend<Stdout>>;

/// The thread that owns the screen; only its panics restore the terminal.
static UI_THREAD: OnceLock<ThreadId> = OnceLock::new();
/// Panics of other threads, printed once the terminal is back.
static OTHER_PANICS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Enters the TUI's terminal mode. On failure the terminal is restored.
pub fn enter() -> std::io::Result<Tui> {
    enable_raw_mode()?;
    let mut out = stdout();
    let entered = execute!(
        out,
        EnterAlternateScreen,
        EnableMouseCapture,
        EnableBracketedPaste,
    )
    .and_then(|()| {
        // Lets terminals that know the kitty protocol report Shift-Enter;
        // the others ignore the sequence.
        execute!(
            out,
            PushKeyboardEnhancementFlags(KeyboardEnhancementFlags::DISAMBIGUATE_ESCAPE_CODES)
        )
    })
    .and_then(|()| Terminal::new(CrosstermBackend::new(stdout())));
    if entered.is_err() {
        restore();
    }
    entered
}

/// Leaves the TUI's terminal mode. Safe to call more than once.
pub fn restore() {
    let mut out = stdout();
    let _ = execute!(
        out,
        PopKeyboardEnhancementFlags,
        DisableBracketedPaste,
        DisableMouseCapture,
        LeaveAlternateScreen,
        cursor::Show,
    );
    let _ = disable_raw_mode();
    let _ = out.flush();
}

/// Restores the terminal before a panic of the UI thread is reported.
/// Panics of other threads are kept (printing them would garble the
/// screen) and handed out by [`take_other_panics`].
pub fn install_panic_hook() {
    let _ = UI_THREAD.set(std::thread::current().id());
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if UI_THREAD.get() == Some(&std::thread::current().id()) {
            restore();
            previous(info);
        } else {
            let name = std::thread::current()
                .name()
                .unwrap_or("unnamed")
                .to_string();
            if let Ok(mut panics) = OTHER_PANICS.lock() {
                panics.push(format!("thread '{name}' {info}"));
            }
        }
    }));
}

pub fn take_other_panics() -> Vec<String> {
    OTHER_PANICS
        .lock()
        .map(|mut p| std::mem::take(&mut *p))
        .unwrap_or_default()
}
