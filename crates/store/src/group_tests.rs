//! Tests of group commit: each write of a group is kept or undone alone,
//! and nothing of a group is seen or kept before its commit.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::{Store, StoreError};

fn store() -> (tempfile::TempDir, Store) {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(&tmp.path().join("db.sqlite")).unwrap();
    (tmp, store)
}

fn add_session(store: &mut Store, id: &str) -> Result<(), StoreError> {
    store.write(|tx| {
        tx.execute(
            "INSERT INTO sessions (id, started_at) VALUES (?1, 'now')",
            [id],
        )?;
        Ok(())
    })
}

fn sessions(path: &Path) -> Vec<String> {
    let reader = Store::open_existing(path).unwrap();
    let mut stmt = reader
        .conn
        .prepare("SELECT id FROM sessions ORDER BY id")
        .unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn a_failing_write_of_a_group_is_undone_alone_and_the_others_land_at_the_commit() {
    let (tmp, mut store) = store();
    let path = tmp.path().join("db.sqlite");
    store.begin_group().unwrap();
    add_session(&mut store, "a").unwrap();
    let failed: Result<(), StoreError> = store.write(|tx| {
        tx.execute(
            "INSERT INTO sessions (id, started_at) VALUES ('b', 'now')",
            [],
        )?;
        Err(StoreError::invalid("b changed its mind"))
    });
    assert_eq!(failed.unwrap_err().to_string(), "b changed its mind");
    // A constraint error of SQLite's own undoes its write alone too.
    let duplicate = add_session(&mut store, "a").unwrap_err();
    assert!(duplicate.to_string().contains("UNIQUE"), "{duplicate}");
    let panicked = catch_unwind(AssertUnwindSafe(|| {
        store.write(|tx| -> Result<(), StoreError> {
            tx.execute(
                "INSERT INTO sessions (id, started_at) VALUES ('p', 'now')",
                [],
            )?;
            panic!("a bug in a caller");
        })
    }));
    assert!(panicked.is_err());
    add_session(&mut store, "c").unwrap();
    // The group's writes are not seen, let alone kept, before its commit.
    assert!(sessions(&path).is_empty());
    assert!(store.in_group());
    store.commit_group().unwrap();
    assert!(!store.in_group());
    assert_eq!(sessions(&path), ["a", "c"]);
    // After the commit, writes are transactions of their own again.
    add_session(&mut store, "d").unwrap();
    assert_eq!(sessions(&path), ["a", "c", "d"]);
}

#[test]
fn a_group_whose_transaction_sqlite_rolled_back_keeps_nothing_and_says_so() {
    let (tmp, mut store) = store();
    let path = tmp.path().join("db.sqlite");
    store.begin_group().unwrap();
    add_session(&mut store, "a").unwrap();
    // What an I/O error or a full disk may do: the whole transaction is
    // rolled back under the writes that already returned Ok.
    let err = store
        .write(|tx| {
            tx.execute_batch("ROLLBACK")?;
            Err::<(), _>(StoreError::invalid("the disk failed"))
        })
        .unwrap_err();
    assert_eq!(err.to_string(), "the disk failed");
    let later = add_session(&mut store, "b").unwrap_err();
    assert!(matches!(later, StoreError::GroupLost(_)), "{later}");
    let commit = store.commit_group().unwrap_err();
    let text = commit.to_string();
    assert!(
        text.contains("the disk failed") && text.contains("nothing was changed, try again"),
        "{text}"
    );
    assert!(sessions(&path).is_empty(), "nothing of the group is kept");
    // The connection writes again, on its own or in a new group.
    add_session(&mut store, "c").unwrap();
    store.begin_group().unwrap();
    add_session(&mut store, "d").unwrap();
    store.commit_group().unwrap();
    assert_eq!(sessions(&path), ["c", "d"]);
}

#[test]
fn a_group_waits_for_another_connections_lock_within_the_budget_only() {
    let (tmp, _store) = store();
    let path = tmp.path().join("db.sqlite");
    let holder = Store::open_existing(&path).unwrap();
    holder.conn.execute_batch("BEGIN IMMEDIATE").unwrap();
    let mut quick = Store::open_existing_within(&path, Duration::from_millis(200)).unwrap();
    let started = Instant::now();
    let err = quick.begin_group().unwrap_err();
    assert!(matches!(err, StoreError::Busy(_)), "{err}");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(!quick.in_group());
    holder.conn.execute_batch("COMMIT").unwrap();
    quick.begin_group().unwrap();
    add_session(&mut quick, "a").unwrap();
    quick.commit_group().unwrap();
    assert_eq!(sessions(&path), ["a"]);
}
