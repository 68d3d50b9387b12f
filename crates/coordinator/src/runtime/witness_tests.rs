//! What the store must show before a signal is believed.

use enki_signals::{Origin, Signal, SignalKind};
use enki_store::{NewStep, Store};

use super::{Witnessed, witness};

const SESSION: &str = "sess-01ARZ3NDEKTSV4RRFFQ69G5FAV";

/// A store with one running execution of steps `a` and `b`: its id and
/// the task of `a`.
fn store() -> (tempfile::TempDir, Store, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("db.sqlite")).unwrap();
    let created = store
        .create_execution(
            Some(SESSION),
            "Plan",
            false,
            &[NewStep::new("a", "A"), NewStep::new("b", "B")],
        )
        .unwrap();
    let task = created.steps[0].1.clone();
    (dir, store, created.execution_id, task)
}

fn signal(kind: SignalKind, session: Option<&str>) -> Signal {
    let from = Origin {
        role: "worker".into(),
        task_id: None,
    };
    Signal::new(kind, session.map(str::to_string), from)
}

/// Why `kind` is refused, failing when it is believed.
fn refused(store: &Store, kind: SignalKind) -> String {
    match witness(store, SESSION, &signal(kind, None)).unwrap() {
        Err(why) => why,
        Ok(seen) => panic!("believed: {seen:?}"),
    }
}

fn believed(store: &Store, kind: SignalKind) -> Witnessed {
    witness(store, SESSION, &signal(kind, Some(SESSION)))
        .unwrap()
        .unwrap_or_else(|why| panic!("refused: {why}"))
}

#[test]
fn steps_added_needs_every_named_step_in_the_store() {
    let (_dir, store, execution, _) = store();
    let added = |ids: &[&str]| SignalKind::StepsAdded {
        execution_id: execution.clone(),
        step_ids: ids.iter().map(|s| (*s).to_string()).collect(),
    };
    assert_eq!(
        believed(&store, added(&["a", "b"])),
        Witnessed::StoreChanged
    );
    let why = refused(&store, added(&["a", "forged"]));
    assert!(why.contains("steps [a, forged] added"), "{why}");
    assert!(refused(&store, added(&[])).contains("steps []"));
    let unknown = SignalKind::StepsAdded {
        execution_id: "exec-01ARZ3NDEKTSV4RRFFQ69G5FAV".into(),
        step_ids: vec!["a".into()],
    };
    refused(&store, unknown);
}

#[test]
fn a_signal_for_another_session_is_refused_even_when_true() {
    let (_dir, store, _, task) = store();
    let other = "sess-01BX5ZZKBKACTAV9WEVGEMMVRZ";
    let kind = SignalKind::TaskCreated { task_id: task };
    let why = witness(&store, SESSION, &signal(kind.clone(), Some(other)))
        .unwrap()
        .unwrap_err();
    assert!(why.contains(other), "{why}");
    assert_eq!(believed(&store, kind), Witnessed::StoreChanged);
}

#[test]
fn commands_the_store_does_not_show_are_refused_and_shown_ones_believed() {
    let (_dir, mut store, execution, task) = store();
    let step = |s: &str| Some(s.to_string());
    for kind in [
        SignalKind::TaskCreated {
            task_id: "task-01ARZ3NDEKTSV4RRFFQ69G5FAV".into(),
        },
        SignalKind::Pause {
            execution_id: execution.clone(),
            step_id: None,
        },
        SignalKind::Cancel {
            execution_id: execution.clone(),
            step_id: step("a"),
        },
        SignalKind::StopAll,
        SignalKind::RetryTask {
            task_id: "task-01ARZ3NDEKTSV4RRFFQ69G5FAV".into(),
        },
        SignalKind::FollowupTask {
            task_id: task.clone(),
        },
        SignalKind::ApproveTask {
            task_id: task.clone(),
        },
        SignalKind::WorkerReport {
            task_id: task.clone(),
            status: "forged".into(),
            output: None,
        },
        SignalKind::Mail {
            message_id: "msg-01ARZ3NDEKTSV4RRFFQ69G5FAV".into(),
            from: "user".into(),
            to: "coordinator".into(),
            subject: "forged".into(),
            priority: "high".into(),
        },
    ] {
        let why = refused(&store, kind.clone());
        assert!(
            why.starts_with("the store does not show"),
            "{kind:?}: {why}"
        );
    }
    // Once the store holds the change, the same signal is believed.
    store.cancel(&execution, Some("a")).unwrap();
    let cancelled = SignalKind::Cancel {
        execution_id: execution.clone(),
        step_id: step("a"),
    };
    assert_eq!(believed(&store, cancelled), Witnessed::StoreChanged);
    let resumed = SignalKind::Resume {
        execution_id: execution,
        step_id: step("b"),
    };
    assert_eq!(believed(&store, resumed), Witnessed::StoreChanged);
}
