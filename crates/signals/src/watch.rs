//! Telling the consumer when signal files may be waiting.
//!
//! Three sources, so a reaction is at worst delayed, never lost: a `notify` watcher (fast
//! path, milliseconds), a periodic rescan tick (covers watcher overflow, missed renames, a
//! watcher that failed to start, files written while nobody watched) and one initial wake (the
//! start-up scan). Wakes are level-triggered flags, not a queue: any number of events before
//! the consumer looks become a single wake, since one [`crate::scan`] covers them all.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};
use std::{fs, io};

use notify::event::{AccessKind, AccessMode, ModifyKind, RenameMode};
use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher};

use crate::name::is_signal_file_name;

/// The rescan period SIGNALS.md asks for ("about once a second").
pub const DEFAULT_RESCAN_EVERY: Duration = Duration::from_secs(1);

/// Floor for the rescan period, so a zero interval cannot spin a core.
const MIN_RESCAN_EVERY: Duration = Duration::from_millis(10);

/// Why [`SignalWatcher::wait`] returned. When several causes are pending at once they are
/// reported as one wake, the first of `Initial`, `FileEvent`, `Rescan` that applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// The first wake after start: scan for signals written while no coordinator ran.
    Initial,
    /// The file-system watcher saw a signal file arrive.
    FileEvent,
    /// The periodic rescan tick (also raised when the watcher reports an overflow or error).
    Rescan,
}

/// Watches an events directory and wakes a consumer when signal files may be waiting.
///
/// Use: loop { `wait`; [`crate::scan`]; apply and [`crate::acknowledge`] each ready signal }.
/// `wait` blocks, so an async consumer calls it from a blocking thread (e.g. tokio's
/// `spawn_blocking` with an `Arc<SignalWatcher>`; the type is `Send + Sync`) and uses a
/// timeout to check for shutdown. Dropping the watcher stops the file-system watcher and joins
/// the rescan thread; it returns promptly.
pub struct SignalWatcher {
    shared: Arc<Shared>,
    events_dir: PathBuf,
    /// `None` when the file-system watcher failed to start (rescan tick only).
    watcher: Option<RecommendedWatcher>,
    stop_timer: Option<mpsc::Sender<()>>,
    timer: Option<JoinHandle<()>>,
}

impl SignalWatcher {
    /// Starts watching `events_dir` (created if missing), with a rescan tick every
    /// `rescan_every` (at least 10 ms; [`DEFAULT_RESCAN_EVERY`] is the usual choice). The first
    /// [`wait`](Self::wait) returns [`Wake::Initial`] at once.
    ///
    /// If the file-system watcher cannot start, that is logged as a warning and the rescan
    /// tick alone keeps things moving ([`watcher_active`](Self::watcher_active) is false).
    /// Errors only if the directory cannot be created or the rescan thread cannot be spawned.
    pub fn start(events_dir: &Path, rescan_every: Duration) -> io::Result<SignalWatcher> {
        Self::start_inner(events_dir, rescan_every, true)
    }

    fn start_inner(
        events_dir: &Path,
        rescan_every: Duration,
        use_notify: bool,
    ) -> io::Result<SignalWatcher> {
        fs::create_dir_all(events_dir)?;
        let shared = Arc::new(Shared {
            pending: Mutex::new(Pending {
                initial: true,
                ..Pending::default()
            }),
            changed: Condvar::new(),
        });
        let watcher = if use_notify {
            match start_notify(events_dir, &shared) {
                Ok(watcher) => Some(watcher),
                Err(e) => {
                    tracing::warn!(
                        dir = %events_dir.display(),
                        error = %e,
                        "signal file watcher failed to start; relying on the periodic rescan"
                    );
                    None
                }
            }
        } else {
            None
        };
        let (stop_timer, stopped) = mpsc::channel();
        let timer = {
            let shared = Arc::clone(&shared);
            let every = rescan_every.max(MIN_RESCAN_EVERY);
            thread::Builder::new()
                .name("enki-signals-rescan".into())
                .spawn(move || rescan_loop(&shared, every, &stopped))?
        };
        Ok(SignalWatcher {
            shared,
            events_dir: events_dir.to_path_buf(),
            watcher,
            stop_timer: Some(stop_timer),
            timer: Some(timer),
        })
    }

    /// Blocks until a wake-up is pending or `timeout` passes (`None`). All causes pending at
    /// that moment are consumed by this one call.
    pub fn wait(&self, timeout: Duration) -> Option<Wake> {
        let deadline = Instant::now().checked_add(timeout);
        let mut pending = self.shared.lock();
        loop {
            if let Some(wake) = pending.take() {
                return Some(wake);
            }
            pending = match deadline {
                None => self
                    .shared
                    .changed
                    .wait(pending)
                    .unwrap_or_else(PoisonError::into_inner),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return None;
                    }
                    self.shared
                        .changed
                        .wait_timeout(pending, left)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
            };
        }
    }

    /// Whether the file-system watcher is running (false: rescan tick only).
    pub fn watcher_active(&self) -> bool {
        self.watcher.is_some()
    }

    /// The directory being watched.
    pub fn events_dir(&self) -> &Path {
        &self.events_dir
    }
}

impl Drop for SignalWatcher {
    fn drop(&mut self) {
        drop(self.watcher.take());
        // Closing the channel ends the rescan thread's wait at once.
        drop(self.stop_timer.take());
        if let Some(timer) = self.timer.take() {
            let _ = timer.join();
        }
    }
}

impl std::fmt::Debug for SignalWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignalWatcher")
            .field("events_dir", &self.events_dir)
            .field("watcher_active", &self.watcher_active())
            .finish_non_exhaustive()
    }
}

/// Wake causes raised but not yet consumed by `wait`.
#[derive(Debug, Default)]
struct Pending {
    initial: bool,
    file_event: bool,
    rescan: bool,
}

impl Pending {
    fn take(&mut self) -> Option<Wake> {
        let wake = if self.initial {
            Wake::Initial
        } else if self.file_event {
            Wake::FileEvent
        } else if self.rescan {
            Wake::Rescan
        } else {
            return None;
        };
        *self = Pending::default();
        Some(wake)
    }
}

struct Shared {
    pending: Mutex<Pending>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn raise(&self, wake: Wake) {
        let mut pending = self.lock();
        match wake {
            Wake::Initial => pending.initial = true,
            Wake::FileEvent => pending.file_event = true,
            Wake::Rescan => pending.rescan = true,
        }
        drop(pending);
        self.changed.notify_all();
    }
}

fn start_notify(events_dir: &Path, shared: &Arc<Shared>) -> notify::Result<RecommendedWatcher> {
    let shared = Arc::clone(shared);
    let mut watcher =
        notify::recommended_watcher(move |result: notify::Result<Event>| match result {
            Ok(event) if event.need_rescan() => shared.raise(Wake::Rescan),
            Ok(event) if signal_may_have_arrived(&event) => shared.raise(Wake::FileEvent),
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "signal file watcher error; rescanning");
                shared.raise(Wake::Rescan);
            }
        })?;
    watcher.watch(events_dir, RecursiveMode::NonRecursive)?;
    Ok(watcher)
}

/// Whether `event` may mean a new signal file. Our own traffic — reads (open/close),
/// deletes by `acknowledge`, moves into `rejected/`, temp files — must not wake the consumer,
/// or every scan would cause another.
fn signal_may_have_arrived(event: &Event) -> bool {
    let arrival = match event.kind {
        EventKind::Create(_) | EventKind::Any | EventKind::Other => true,
        EventKind::Modify(ModifyKind::Name(RenameMode::From) | ModifyKind::Metadata(_)) => false,
        EventKind::Modify(_) => true,
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) | EventKind::Remove(_) => false,
    };
    arrival
        && (event.paths.is_empty()
            || event.paths.iter().any(|path| {
                path.file_name()
                    .and_then(|name| name.to_str())
                    .is_some_and(is_signal_file_name)
            }))
}

/// Raises [`Wake::Rescan`] every `every` until the stop channel closes. Ticks are scheduled
/// on a fixed grid so a slow consumer does not drift them; missed ticks are not replayed.
fn rescan_loop(shared: &Shared, every: Duration, stopped: &mpsc::Receiver<()>) {
    let mut next = Instant::now() + every;
    loop {
        match stopped.recv_timeout(next.saturating_duration_since(Instant::now())) {
            Err(RecvTimeoutError::Timeout) => {
                shared.raise(Wake::Rescan);
                let now = Instant::now();
                next += every;
                if next <= now {
                    next = now + every;
                }
            }
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Origin, Signal, SignalKind, scan, write_signal};
    use notify::event::{CreateKind, RemoveKind};

    const SAFETY_NET: Duration = Duration::from_secs(10);
    const LONG: Duration = Duration::from_secs(3600);

    fn signal() -> Signal {
        Signal::new(
            SignalKind::StopAll,
            None,
            Origin {
                role: "planner".into(),
                task_id: None,
            },
        )
    }

    /// Waits (up to the safety net) for a wake accepted by `want`; returns what it saw.
    fn wait_for(watcher: &SignalWatcher, want: impl Fn(Wake) -> bool) -> Vec<Wake> {
        let deadline = Instant::now() + SAFETY_NET;
        let mut seen = Vec::new();
        while let Some(wake) = watcher.wait(deadline.saturating_duration_since(Instant::now())) {
            seen.push(wake);
            if want(wake) {
                return seen;
            }
        }
        panic!("no wanted wake within {SAFETY_NET:?}; saw {seen:?}");
    }

    #[test]
    fn is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<SignalWatcher>();
    }

    #[test]
    fn first_wake_is_initial_then_quiet() {
        let dir = tempfile::tempdir().expect("tempdir");
        let events = dir.path().join("events");
        let watcher = SignalWatcher::start(&events, LONG).expect("start");
        assert!(events.is_dir());
        assert_eq!(watcher.events_dir(), events);
        assert_eq!(watcher.wait(Duration::ZERO), Some(Wake::Initial));
        assert_eq!(watcher.wait(Duration::from_millis(20)), None);
    }

    #[test]
    fn bursts_coalesce_into_one_wake() {
        let dir = tempfile::tempdir().expect("tempdir");
        let watcher = SignalWatcher::start_inner(dir.path(), LONG, false).expect("start");
        for _ in 0..5 {
            watcher.shared.raise(Wake::FileEvent);
            watcher.shared.raise(Wake::Rescan);
        }
        assert_eq!(watcher.wait(Duration::ZERO), Some(Wake::Initial));
        assert_eq!(watcher.wait(Duration::ZERO), None);

        watcher.shared.raise(Wake::Rescan);
        watcher.shared.raise(Wake::FileEvent);
        watcher.shared.raise(Wake::FileEvent);
        assert_eq!(watcher.wait(Duration::ZERO), Some(Wake::FileEvent));
        assert_eq!(watcher.wait(Duration::ZERO), None);
    }

    #[test]
    fn wait_is_woken_from_another_thread() {
        let dir = tempfile::tempdir().expect("tempdir");
        let watcher = SignalWatcher::start_inner(dir.path(), LONG, false).expect("start");
        assert_eq!(watcher.wait(Duration::ZERO), Some(Wake::Initial));
        thread::scope(|s| {
            s.spawn(|| watcher.shared.raise(Wake::FileEvent));
            assert_eq!(watcher.wait(SAFETY_NET), Some(Wake::FileEvent));
        });
    }

    #[test]
    fn wakes_on_a_new_signal() {
        let dir = tempfile::tempdir().expect("tempdir");
        let watcher = SignalWatcher::start(dir.path(), DEFAULT_RESCAN_EVERY).expect("start");
        assert_eq!(watcher.wait(Duration::ZERO), Some(Wake::Initial));
        let path = write_signal(dir.path(), &signal()).expect("write");
        wait_for(&watcher, |w| matches!(w, Wake::FileEvent | Wake::Rescan));
        let found = scan(dir.path()).expect("scan");
        assert_eq!(found.ready.len(), 1);
        assert_eq!(found.ready[0].path, path);
    }

    #[test]
    fn file_event_arrives_without_rescan() {
        let dir = tempfile::tempdir().expect("tempdir");
        let watcher = SignalWatcher::start(dir.path(), LONG).expect("start");
        if !watcher.watcher_active() {
            eprintln!("no file-system watcher on this machine; skipping");
            return;
        }
        assert_eq!(watcher.wait(Duration::ZERO), Some(Wake::Initial));
        write_signal(dir.path(), &signal()).expect("write");
        assert_eq!(watcher.wait(SAFETY_NET), Some(Wake::FileEvent));
        assert_eq!(scan(dir.path()).expect("scan").ready.len(), 1);
    }

    #[test]
    fn own_traffic_does_not_wake() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = write_signal(dir.path(), &signal()).expect("write");
        std::fs::write(dir.path().join("sig-bad.json"), b"junk").expect("write");
        let watcher = SignalWatcher::start(dir.path(), LONG).expect("start");
        assert_eq!(watcher.wait(Duration::ZERO), Some(Wake::Initial));
        // Reading, rejecting and acknowledging raise only ignored events.
        let found = scan(dir.path()).expect("scan");
        assert_eq!(found.rejected.len(), 1);
        crate::acknowledge(&found.ready[0]).expect("ack");
        assert!(!path.exists());
        // Negative check: a late event can only make this pass wrongly, never fail wrongly.
        if watcher.watcher_active() {
            assert_eq!(watcher.wait(Duration::from_millis(200)), None);
        }
    }

    #[test]
    fn event_filter() {
        let event = |kind, name: &str| Event::new(kind).add_path(PathBuf::from("/e").join(name));
        let sig = "sig-01ARZ3NDEKTSV4RRFFQ69G5FAV.json";
        let tmp = ".sig-01ARZ3NDEKTSV4RRFFQ69G5FAV.tmp";
        let arrived = EventKind::Modify(ModifyKind::Name(RenameMode::To));
        assert!(signal_may_have_arrived(&event(arrived, sig)));
        assert!(signal_may_have_arrived(
            &Event::new(EventKind::Modify(ModifyKind::Name(RenameMode::Both)))
                .add_path(PathBuf::from("/e").join(tmp))
                .add_path(PathBuf::from("/e").join(sig))
        ));
        assert!(signal_may_have_arrived(&event(
            EventKind::Create(CreateKind::File),
            sig
        )));
        assert!(signal_may_have_arrived(&Event::new(EventKind::Any)));
        assert!(!signal_may_have_arrived(&event(
            EventKind::Create(CreateKind::File),
            tmp
        )));
        assert!(!signal_may_have_arrived(&event(
            EventKind::Create(CreateKind::Folder),
            "rejected"
        )));
        assert!(!signal_may_have_arrived(&event(
            EventKind::Remove(RemoveKind::File),
            sig
        )));
        assert!(!signal_may_have_arrived(&event(
            EventKind::Modify(ModifyKind::Name(RenameMode::From)),
            sig
        )));
        assert!(!signal_may_have_arrived(&event(
            EventKind::Access(AccessKind::Open(AccessMode::Read)),
            sig
        )));
    }

    #[test]
    fn rescan_finds_a_file_the_watcher_never_saw() {
        let dir = tempfile::tempdir().expect("tempdir");
        // No file-system watcher at all: only the tick can find the file.
        let watcher = SignalWatcher::start_inner(dir.path(), Duration::from_millis(20), false)
            .expect("start");
        assert!(!watcher.watcher_active());
        assert_eq!(watcher.wait(Duration::ZERO), Some(Wake::Initial));
        let path = write_signal(dir.path(), &signal()).expect("write");
        let seen = wait_for(&watcher, |w| w == Wake::Rescan);
        assert!(!seen.contains(&Wake::FileEvent), "{seen:?}");
        let found = scan(dir.path()).expect("scan");
        assert_eq!(found.ready.len(), 1);
        assert_eq!(found.ready[0].path, path);
    }

    #[test]
    fn rescan_ticks_alongside_the_watcher() {
        let dir = tempfile::tempdir().expect("tempdir");
        let watcher = SignalWatcher::start(dir.path(), Duration::from_millis(20)).expect("start");
        assert_eq!(watcher.wait(Duration::ZERO), Some(Wake::Initial));
        wait_for(&watcher, |w| w == Wake::Rescan);
        wait_for(&watcher, |w| w == Wake::Rescan);
    }

    #[test]
    fn zero_interval_is_clamped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let watcher = SignalWatcher::start_inner(dir.path(), Duration::ZERO, false).expect("start");
        assert_eq!(watcher.wait(Duration::ZERO), Some(Wake::Initial));
        wait_for(&watcher, |w| w == Wake::Rescan);
    }

    #[test]
    fn drop_returns_promptly() {
        let dir = tempfile::tempdir().expect("tempdir");
        let watcher = SignalWatcher::start(dir.path(), LONG).expect("start");
        let shared = Arc::clone(&watcher.shared);
        let started = Instant::now();
        drop(watcher);
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        // The rescan thread has been joined, so only our clone and (briefly) notify's
        // callback can still hold the shared state; the timer's clone is gone.
        assert!(Arc::strong_count(&shared) <= 2);
    }
}
