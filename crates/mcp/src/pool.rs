//! The database connections of an HTTP server, shared by its sessions: one
//! writer connection handed from tool call to tool call in arrival order
//! (the write turn), and reader connections taken and given back.
//!
//! With a connection per session, 64 sessions writing at once took turns
//! by sleeping in SQLite's busy handler, and every commit made the other
//! 63 connections read their pages again. Here the writes of one process
//! queue in the process (a first-come first-served turn that still gives
//! up at each call's busy budget), all on one connection whose pages stay
//! warm; only the write lock of other processes (the coordinator, stdio
//! servers) is left to SQLite. Reads never wait for the turn: a reader is
//! taken from the idle ones, or opened when none is idle.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::thread::Thread;
use std::time::{Duration, Instant};

use enki_store::Store;

/// Idle reader connections kept for the next reads; more are closed.
const READERS_KEPT: usize = 32;

pub struct StorePool {
    db: PathBuf,
    readers: Mutex<Vec<Store>>,
    turn: Mutex<Turn>,
}

/// The write turn: who holds it, who waits (first come, first served), and
/// the writer connection while nobody holds it.
#[derive(Default)]
struct Turn {
    held: bool,
    waiting: VecDeque<(u64, Thread)>,
    next_ticket: u64,
    /// Opened by the first writer; `None` while a writer holds it.
    writer: Option<Store>,
}

impl StorePool {
    /// The connections to the database at `db` (opened when first needed).
    pub fn new(db: PathBuf) -> StorePool {
        StorePool {
            db,
            readers: Mutex::new(Vec::new()),
            turn: Mutex::new(Turn::default()),
        }
    }

    /// A reader connection, idle or newly opened; never waits for a writer.
    pub fn reader(&self, busy_budget: Duration) -> Result<Store, String> {
        if let Some(mut store) = lock(&self.readers).pop() {
            store.set_busy_budget(busy_budget);
            return Ok(store);
        }
        Store::open_existing_within(&self.db, busy_budget).map_err(|e| e.to_string())
    }

    /// Gives a reader connection back for the next reads.
    pub fn give_back_reader(&self, store: Store) {
        let mut readers = lock(&self.readers);
        if readers.len() < READERS_KEPT {
            readers.push(store);
        }
    }

    /// The writer connection once every writer that came earlier is done,
    /// or the busy error when that takes past `deadline`. Its writes wait
    /// for other processes until the same deadline.
    pub fn writer(&self, deadline: Instant) -> Result<Store, String> {
        let started = Instant::now();
        let kept = self.take_turn(deadline).ok_or_else(|| {
            format!(
                "the database is busy: other sessions of this server kept its write turn for {:.1} s; nothing was changed, try again in a few seconds",
                started.elapsed().as_secs_f64()
            )
        })?;
        let budget = deadline.saturating_duration_since(Instant::now());
        let opened = match kept {
            Some(mut store) => {
                store.set_busy_budget(budget);
                Ok(store)
            }
            None => Store::open_existing_within(&self.db, budget).map_err(|e| e.to_string()),
        };
        if opened.is_err() {
            self.end_turn(None);
        }
        opened
    }

    /// Gives the writer connection back and passes the turn on.
    pub fn give_back_writer(&self, store: Store) {
        self.end_turn(Some(store));
    }

    /// Waits for the turn in arrival order; `Some(the writer connection if
    /// one is open)` once held, `None` at the deadline.
    fn take_turn(&self, deadline: Instant) -> Option<Option<Store>> {
        let mut turn = lock(&self.turn);
        if !turn.held && turn.waiting.is_empty() {
            turn.held = true;
            return Some(turn.writer.take());
        }
        let ticket = turn.next_ticket;
        turn.next_ticket += 1;
        turn.waiting.push_back((ticket, std::thread::current()));
        loop {
            let first = turn.waiting.front().is_some_and(|(t, _)| *t == ticket);
            if first && !turn.held {
                turn.waiting.pop_front();
                turn.held = true;
                return Some(turn.writer.take());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                turn.waiting.retain(|(t, _)| *t != ticket);
                // It may have been woken to take a free turn: the next one
                // in line takes it instead.
                if !turn.held
                    && let Some((_, next)) = turn.waiting.front()
                {
                    next.unpark();
                }
                return None;
            }
            drop(turn);
            std::thread::park_timeout(left);
            turn = lock(&self.turn);
        }
    }

    fn end_turn(&self, writer: Option<Store>) {
        let mut turn = lock(&self.turn);
        if writer.is_some() {
            turn.writer = writer;
        }
        turn.held = false;
        if let Some((_, next)) = turn.waiting.front() {
            next.unpark();
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::mpsc;

    fn pool() -> (tempfile::TempDir, Arc<StorePool>) {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("db.sqlite");
        drop(Store::open(&db).expect("a database"));
        (dir, Arc::new(StorePool::new(db)))
    }

    fn far() -> Instant {
        Instant::now() + Duration::from_secs(30)
    }

    #[test]
    fn writers_take_the_turn_in_the_order_they_came() {
        let (_dir, pool) = pool();
        let held = pool.writer(far()).expect("the turn");
        let (order_tx, order_rx) = mpsc::channel();
        let mut threads = Vec::new();
        for n in 0..5 {
            let (shared, order_tx) = (Arc::clone(&pool), order_tx.clone());
            threads.push(std::thread::spawn(move || {
                let store = shared.writer(far()).expect("the turn");
                order_tx.send(n).expect("send");
                shared.give_back_writer(store);
            }));
            // The next one comes once this one waits in line.
            while lock(&pool.turn).waiting.len() < n + 1 {
                std::thread::yield_now();
            }
        }
        pool.give_back_writer(held);
        for thread in threads {
            thread.join().expect("a writer");
        }
        let order: Vec<usize> = order_rx.try_iter().collect();
        assert_eq!(order, [0, 1, 2, 3, 4]);
    }

    #[test]
    fn a_writer_gives_up_at_its_deadline_and_the_next_one_still_gets_the_turn() {
        let (_dir, pool) = pool();
        let held = pool.writer(far()).expect("the turn");
        let started = Instant::now();
        let Err(err) = pool.writer(Instant::now() + Duration::from_millis(200)) else {
            panic!("the turn is held, yet a second writer got it");
        };
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(200) && waited < Duration::from_secs(5),
            "{waited:?}"
        );
        assert!(
            err.contains("the database is busy")
                && err.contains("nothing was changed")
                && err.contains("try again"),
            "{err}"
        );
        assert!(lock(&pool.turn).waiting.is_empty(), "it left the line");
        let later = {
            let pool = Arc::clone(&pool);
            std::thread::spawn(move || pool.writer(far()).map(|s| pool.give_back_writer(s)))
        };
        while lock(&pool.turn).waiting.is_empty() {
            std::thread::yield_now();
        }
        pool.give_back_writer(held);
        later.join().expect("a writer").expect("the turn");
    }

    #[test]
    fn readers_never_wait_for_the_turn_and_are_kept_for_the_next_reads() {
        let (_dir, pool) = pool();
        let writer = pool.writer(far()).expect("the turn");
        let budget = Duration::from_secs(1);
        let (a, b) = (pool.reader(budget), pool.reader(budget));
        let (a, b) = (a.expect("a reader"), b.expect("another reader"));
        pool.give_back_reader(a);
        pool.give_back_reader(b);
        assert_eq!(lock(&pool.readers).len(), 2);
        let again = pool.reader(budget).expect("an idle reader");
        assert_eq!(lock(&pool.readers).len(), 1);
        pool.give_back_reader(again);
        pool.give_back_writer(writer);
    }
}
