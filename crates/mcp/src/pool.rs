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
//!
//! Group commit: the calls that queued for the turn while one wrote share
//! its transaction (`enki_store`'s `group.rs`), each call's writes in a
//! savepoint of their own. A call that is done passes the turn on with the
//! transaction open when another call waits for it, and then waits for the
//! commit; the last call of the group (nobody waiting, or
//! [`GROUP_MOST`] calls in it) commits for all and wakes them. A call
//! answers only once the commit that holds its writes returned, so what it
//! reports as done is as durable as a transaction of its own would be.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::thread::Thread;
use std::time::{Duration, Instant};

use enki_store::Store;

/// Idle reader connections kept for the next reads; more are closed.
const READERS_KEPT: usize = 32;
/// Most calls one commit carries: a bound on how long the first of a
/// group waits for the others' writes.
pub const GROUP_MOST: usize = 64;

pub struct StorePool {
    db: PathBuf,
    readers: Mutex<Vec<Store>>,
    turn: Mutex<Turn>,
}

/// The write turn: who holds it, who waits (first come, first served), the
/// writer connection while nobody holds it, and the group of calls whose
/// writes its open transaction holds.
#[derive(Default)]
struct Turn {
    held: bool,
    waiting: VecDeque<(u64, Thread)>,
    next_ticket: u64,
    /// Opened by the first writer; `None` while a writer holds it.
    writer: Option<Store>,
    /// The open group's outcome, once committed; `None`: no call is in
    /// the writer's open transaction yet.
    group: Option<Arc<OnceLock<Result<(), String>>>>,
    /// The calls of the open group that wait for its commit.
    members: Vec<Thread>,
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

    /// The writer connection, in a group transaction, once every writer
    /// that came earlier is done, or the busy error when that takes past
    /// `deadline`. Opening the group waits for other processes until the
    /// same deadline.
    pub fn writer(&self, deadline: Instant) -> Result<Store, String> {
        let started = Instant::now();
        let kept = self.take_turn(deadline).ok_or_else(|| {
            format!(
                "the database is busy: other sessions of this server kept its write turn for {:.1} s; nothing was changed, try again in a few seconds",
                started.elapsed().as_secs_f64()
            )
        })?;
        let budget = deadline.saturating_duration_since(Instant::now());
        let mut store = match kept {
            Some(mut store) => {
                store.set_busy_budget(budget);
                store
            }
            None => match Store::open_existing_within(&self.db, budget) {
                Ok(store) => store,
                Err(e) => {
                    self.end_turn(None);
                    return Err(e.to_string());
                }
            },
        };
        if let Err(e) = store.begin_group() {
            self.end_turn(Some(store));
            return Err(e.to_string());
        }
        Ok(store)
    }

    /// Gives the writer connection back once a call's writes are done, and
    /// returns once they are committed (`Err`: nothing of them was kept,
    /// the text says why). Passes the turn on, with the transaction open
    /// when another call waits for it.
    pub fn give_back_writer(&self, store: Store) -> Result<(), String> {
        let mut turn = lock(&self.turn);
        let group = Arc::clone(turn.group.get_or_insert_with(Default::default));
        let grows = !turn.waiting.is_empty() && turn.members.len() + 1 < GROUP_MOST;
        if grows && store.group_intact() {
            turn.members.push(std::thread::current());
            turn.writer = Some(store);
            pass_on(&mut turn);
            drop(turn);
            return wait_for(&group);
        }
        self.commit(turn, store)
    }

    /// Commits the open group with `store` (whose turn `turn` holds), passes
    /// the turn on and wakes the group's calls.
    fn commit(&self, mut turn: MutexGuard<'_, Turn>, mut store: Store) -> Result<(), String> {
        let group = turn.group.take();
        let members = std::mem::take(&mut turn.members);
        // Calls that come now wait in line for the next group.
        drop(turn);
        let outcome = store.commit_group().map_err(|e| e.to_string());
        self.end_turn(Some(store));
        if let Some(group) = group {
            let _ = group.set(outcome.clone());
        }
        for member in members {
            member.unpark();
        }
        outcome
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
                Self::give_up_turn(turn);
                return None;
            }
            drop(turn);
            std::thread::park_timeout(left);
            turn = lock(&self.turn);
        }
    }

    /// After a writer left the line at its deadline: it may have been woken
    /// to take a free turn, so the next one in line takes it instead. (A
    /// group handed over with its transaction open is never left without a
    /// writer to commit it: the first in line takes a free turn before it
    /// looks at its deadline.)
    fn give_up_turn(turn: MutexGuard<'_, Turn>) {
        if !turn.held
            && let Some((_, next)) = turn.waiting.front()
        {
            next.unpark();
        }
    }

    fn end_turn(&self, writer: Option<Store>) {
        let mut turn = lock(&self.turn);
        if writer.is_some() {
            turn.writer = writer;
        }
        pass_on(&mut turn);
    }
}

/// Frees the turn and wakes the first writer in line.
fn pass_on(turn: &mut Turn) {
    turn.held = false;
    if let Some((_, next)) = turn.waiting.front() {
        next.unpark();
    }
}

/// Waits for the commit of a group this thread's writes are in.
fn wait_for(group: &OnceLock<Result<(), String>>) -> Result<(), String> {
    loop {
        if let Some(outcome) = group.get() {
            return outcome.clone();
        }
        std::thread::park();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
#[path = "pool_tests.rs"]
mod tests;
