//! A turn's cancellation flag (set by `session/cancel`), with interruptible
//! waits.

use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How often a wait on a channel looks at the flag.
const POLL: Duration = Duration::from_millis(10);

#[derive(Debug, Default)]
pub struct Cancel {
    flag: Mutex<bool>,
    cv: Condvar,
}

/// How a wait ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Wait<T> {
    Got(T),
    Cancelled,
    TimedOut,
    /// The sender went away.
    Closed,
}

impl Cancel {
    pub fn new() -> Cancel {
        Cancel::default()
    }

    pub fn cancel(&self) {
        *self.flag.lock().unwrap_or_else(PoisonError::into_inner) = true;
        self.cv.notify_all();
    }

    pub fn is_cancelled(&self) -> bool {
        *self.flag.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sleeps for `duration` (forever if `None`) or until cancelled.
    /// Returns true if cancelled.
    pub fn sleep(&self, duration: Option<Duration>) -> bool {
        let deadline = duration.and_then(|d| Instant::now().checked_add(d));
        let mut flag = self.flag.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if *flag {
                return true;
            }
            let timeout = match (duration, deadline) {
                (None, _) | (Some(_), None) => Duration::from_secs(3600),
                (Some(_), Some(deadline)) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return false;
                    }
                    deadline - now
                }
            };
            flag = self
                .cv
                .wait_timeout(flag, timeout)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Receives from `rx`, giving up when cancelled or after `timeout`.
    pub fn recv<T>(&self, rx: &Receiver<T>, timeout: Option<Duration>) -> Wait<T> {
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        loop {
            if self.is_cancelled() {
                return Wait::Cancelled;
            }
            let slice = match deadline {
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return Wait::TimedOut;
                    }
                    (deadline - now).min(POLL)
                }
                None => POLL,
            };
            match rx.recv_timeout(slice) {
                Ok(value) => return Wait::Got(value),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return Wait::Closed,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::mpsc::channel;

    #[test]
    fn sleep_ends_early_when_cancelled() {
        let cancel = Arc::new(Cancel::new());
        assert!(!cancel.sleep(Some(Duration::from_millis(1))));
        let other = Arc::clone(&cancel);
        let t = std::thread::spawn(move || other.sleep(None));
        cancel.cancel();
        assert!(t.join().unwrap());
        assert!(cancel.is_cancelled());
        assert!(cancel.sleep(Some(Duration::from_secs(60))));
    }

    #[test]
    fn recv_outcomes() {
        let cancel = Cancel::new();
        let (tx, rx) = channel();
        tx.send(5).unwrap();
        assert_eq!(cancel.recv(&rx, None), Wait::Got(5));
        assert_eq!(
            cancel.recv(&rx, Some(Duration::from_millis(1))),
            Wait::TimedOut
        );
        drop(tx);
        assert_eq!(cancel.recv(&rx, None), Wait::<i32>::Closed);
        cancel.cancel();
        let (_tx, rx) = channel::<i32>();
        assert_eq!(cancel.recv(&rx, None), Wait::Cancelled);
    }
}
