//! The signals that stop a coordinator cleanly, as Ctrl-C does: SIGINT,
//! SIGTERM (`kill`, service managers) and SIGHUP (the terminal closed).
//! Both front ends wait on [`stop_signal`] and then stop the workers, so no
//! agent is left working after any of them.

use tokio::signal::unix::{Signal, SignalKind, signal};

/// Resolves with the signal's name at the first SIGINT, SIGTERM or SIGHUP.
/// A signal whose handler cannot be installed keeps its default action (the
/// process ends; the next start sweeps what it left).
pub async fn stop_signal() -> &'static str {
    let mut interrupt = listen(SignalKind::interrupt(), "SIGINT");
    let mut terminate = listen(SignalKind::terminate(), "SIGTERM");
    let mut hangup = listen(SignalKind::hangup(), "SIGHUP");
    tokio::select! {
        () = next(&mut interrupt) => "SIGINT",
        () = next(&mut terminate) => "SIGTERM",
        () = next(&mut hangup) => "SIGHUP",
    }
}

fn listen(kind: SignalKind, name: &str) -> Option<Signal> {
    signal(kind)
        .map_err(|e| tracing::warn!("cannot handle {name}: {e}"))
        .ok()
}

async fn next(stream: &mut Option<Signal>) {
    match stream {
        Some(stream) => {
            stream.recv().await;
        }
        None => std::future::pending().await,
    }
}
