//! An execution's status as the coordinator reports it: a finished status
//! never buries work the store knows and the coordinator has not loaded.

use enki_core::{ExecutionStatus, TaskStatus};

use crate::{NewStep, Store};

#[test]
fn a_finished_status_from_the_coordinator_never_buries_steps_just_added() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("db.sqlite")).unwrap();
    let created = store
        .create_execution(None, "x", false, &[NewStep::new("a", "step a")])
        .unwrap();
    let id = created.execution_id.clone();
    store
        .set_task_status(&created.steps[0].1, TaskStatus::Done)
        .unwrap();
    let status = |store: &Store| store.execution(&id).unwrap().unwrap().status;
    assert_eq!(status(&store), ExecutionStatus::Done);
    // An agent adds a step (the execution runs again) before the
    // coordinator, which has not loaded it, reports the execution done.
    store
        .add_steps(None, &id, &[NewStep::new("b", "step b")])
        .unwrap();
    assert_eq!(status(&store), ExecutionStatus::Running);
    store
        .record_execution_status(&id, ExecutionStatus::Done)
        .unwrap();
    assert_eq!(
        status(&store),
        ExecutionStatus::Running,
        "b is still to run"
    );
    // A pause is recorded as it is.
    store
        .record_execution_status(&id, ExecutionStatus::Paused)
        .unwrap();
    assert_eq!(status(&store), ExecutionStatus::Paused);
}
