//! Tests of the write turn, group commit and the readers of `pool.rs`.

use super::*;
use std::path::Path;
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
            shared.give_back_writer(store).expect("committed");
        }));
        // The next one comes once this one waits in line.
        while lock(&pool.turn).waiting.len() < n + 1 {
            std::thread::yield_now();
        }
    }
    pool.give_back_writer(held).expect("committed");
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
        std::thread::spawn(move || pool.writer(far()).and_then(|s| pool.give_back_writer(s)))
    };
    while lock(&pool.turn).waiting.is_empty() {
        std::thread::yield_now();
    }
    pool.give_back_writer(held).expect("committed");
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
    pool.give_back_writer(writer).expect("committed");
}

fn add_session(store: &mut Store, id: &str) -> Result<(), String> {
    store
        .write(|tx| {
            tx.execute(
                "INSERT INTO sessions (id, started_at) VALUES (?1, 'now')",
                [id],
            )?;
            Ok(())
        })
        .map_err(|e| e.to_string())
}

fn sessions(db: &Path) -> Vec<String> {
    let reader = Store::open_existing(db).expect("a reader");
    let mut stmt = reader
        .connection()
        .prepare("SELECT id FROM sessions ORDER BY id")
        .expect("a query");
    stmt.query_map([], |r| r.get(0))
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("ids")
}

/// How many commits the WAL file of `db` holds since it last restarted:
/// its frames of the current salt whose header gives the database size
/// after a commit (the SQLite file format, "WAL File Format").
fn commits_in_wal(db: &Path) -> usize {
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    let bytes = std::fs::read(wal).unwrap_or_default();
    if bytes.len() < 32 {
        return 0;
    }
    let be = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    let page_size = be(8) as usize;
    let salts = &bytes[16..24];
    let mut commits = 0;
    let mut frame = 32;
    while frame + 24 + page_size <= bytes.len() && &bytes[frame + 8..frame + 16] == salts {
        if be(frame + 4) != 0 {
            commits += 1;
        }
        frame += 24 + page_size;
    }
    commits
}

#[test]
fn concurrent_writers_share_one_commit_and_one_that_fails_is_undone_alone() {
    let (dir, pool) = pool();
    let db = dir.path().join("db.sqlite");
    let mut held = pool.writer(far()).expect("the turn");
    add_session(&mut held, "first").expect("a write");
    let commits_before = commits_in_wal(&db);
    let mut threads = Vec::new();
    for n in 0..6 {
        let shared = Arc::clone(&pool);
        threads.push(std::thread::spawn(move || {
            let mut store = shared.writer(far()).expect("the turn");
            // The fourth one's write fails: its id is taken.
            let id = if n == 3 {
                "first".into()
            } else {
                format!("s{n}")
            };
            let written = add_session(&mut store, &id);
            (written, shared.give_back_writer(store))
        }));
        while lock(&pool.turn).waiting.len() < n + 1 {
            std::thread::yield_now();
        }
    }
    pool.give_back_writer(held).expect("committed");
    for (n, thread) in threads.into_iter().enumerate() {
        let (written, committed) = thread.join().expect("a writer");
        committed.expect("the group committed");
        match (n, written) {
            (3, Err(e)) => assert!(e.contains("UNIQUE"), "{e}"),
            (3, Ok(())) => panic!("a taken id was written again"),
            (_, written) => written.expect("its own write"),
        }
    }
    // Every call was answered only after its commit: all of them are kept,
    // by one commit, but the failed one.
    assert_eq!(sessions(&db), ["first", "s0", "s1", "s2", "s4", "s5"]);
    assert_eq!(commits_in_wal(&db), commits_before + 1);
    // The next write starts a group of its own.
    let mut next = pool.writer(far()).expect("the turn");
    add_session(&mut next, "later").expect("a write");
    pool.give_back_writer(next).expect("committed");
    assert_eq!(commits_in_wal(&db), commits_before + 2);
}

#[test]
fn a_group_of_the_most_calls_is_committed_without_waiting_for_the_rest_of_the_line() {
    let (dir, pool) = pool();
    let db = dir.path().join("db.sqlite");
    let held = pool.writer(far()).expect("the turn");
    let mut threads = Vec::new();
    for n in 0..GROUP_MOST + 3 {
        let shared = Arc::clone(&pool);
        threads.push(std::thread::spawn(move || {
            let mut store = shared.writer(far()).expect("the turn");
            add_session(&mut store, &format!("s{n:03}")).expect("a write");
            shared.give_back_writer(store)
        }));
        while lock(&pool.turn).waiting.len() < n + 1 {
            std::thread::yield_now();
        }
    }
    let commits_before = commits_in_wal(&db);
    pool.give_back_writer(held).expect("committed");
    for thread in threads {
        thread.join().expect("a writer").expect("committed");
    }
    assert_eq!(sessions(&db).len(), GROUP_MOST + 3);
    // The holder and GROUP_MOST - 1 of the line, then the last four.
    assert_eq!(commits_in_wal(&db), commits_before + 2);
}
