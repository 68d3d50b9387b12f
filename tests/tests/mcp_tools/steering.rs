//! Steering tools: `enki_task_retry`, `enki_pause`, `enki_resume`,
//! `enki_cancel` and `enki_stop_all`, their effects, signals and refusals.

use enki_core::TaskStatus;
use enki_store::TaskFilter;
use enki_tests::{Project, text_of};
use serde_json::{Value, json};

use crate::{
    assert_envelope, chain, create_task, only_signal, planner, refused_without_effect, set_status,
    store, task_row,
};

#[test]
fn retry_refuses_a_pending_task_and_resets_a_failed_one_with_its_blocked_dependents() {
    let project = Project::new();
    let mut client = planner(&project);
    let plan = chain(&mut client);
    project.clear_signals();

    let text = refused_without_effect(
        &project,
        &mut client,
        "enki_task_retry",
        json!({"task_id": plan.task("a")}),
    );
    assert!(
        text.contains("pending") && text.contains("failed or blocked"),
        "{text}"
    );

    set_status(&project, plan.task("a"), TaskStatus::Failed);
    set_status(&project, plan.task("b"), TaskStatus::Blocked);
    set_status(&project, plan.task("c"), TaskStatus::Blocked);
    let result = client.call_ok(
        "enki_task_retry",
        json!({"task_id": enki_core::id::short(plan.task("a"))}),
    );
    assert!(
        text_of(&result).contains("2 blocked dependents unblocked"),
        "{}",
        text_of(&result)
    );
    for step in ["a", "b", "c"] {
        let row = task_row(&project, plan.task(step));
        assert_eq!(row.status, TaskStatus::Pending, "{step}");
        assert_eq!(row.failures, 0, "{step}: fresh retry budget");
    }
    let signal = only_signal(&project);
    assert_envelope(&signal, "retry_task", "planner", None);
    assert_eq!(signal["task_id"], plan.task("a"));

    set_status(&project, plan.task("b"), TaskStatus::Blocked);
    project.clear_signals();
    client.call_ok("enki_task_retry", json!({"task_id": plan.task("b")}));
    assert_eq!(
        task_row(&project, plan.task("b")).status,
        TaskStatus::Pending,
        "blocked tasks can be retried"
    );
    assert_eq!(only_signal(&project)["type"], "retry_task");
}

#[test]
fn pause_and_resume_an_execution_or_one_step() {
    let project = Project::new();
    let mut client = planner(&project);
    let plan = chain(&mut client);
    let execution_status = |project: &Project| {
        store(project)
            .execution(&plan.id)
            .unwrap()
            .unwrap()
            .status
            .as_str()
    };
    project.clear_signals();

    client.call_ok("enki_pause", json!({"execution_id": plan.id}));
    assert_eq!(execution_status(&project), "paused");
    let signal = only_signal(&project);
    assert_envelope(&signal, "pause", "planner", None);
    assert_eq!(signal["execution_id"], plan.id.as_str());
    assert!(signal.get("step_id").is_none_or(Value::is_null), "{signal}");
    project.clear_signals();

    client.call_ok(
        "enki_resume",
        json!({"execution_id": enki_core::id::short(&plan.id)}),
    );
    assert_eq!(execution_status(&project), "running");
    assert_eq!(only_signal(&project)["type"], "resume");
    project.clear_signals();

    client.call_ok(
        "enki_pause",
        json!({"execution_id": plan.id, "step_id": "b"}),
    );
    assert_eq!(
        task_row(&project, plan.task("b")).status,
        TaskStatus::Paused
    );
    assert_eq!(
        task_row(&project, plan.task("a")).status,
        TaskStatus::Pending
    );
    let signal = only_signal(&project);
    assert_envelope(&signal, "pause", "planner", None);
    assert_eq!(signal["step_id"], "b");
    project.clear_signals();

    client.call_ok(
        "enki_resume",
        json!({"execution_id": plan.id, "step_id": "b"}),
    );
    assert_eq!(
        task_row(&project, plan.task("b")).status,
        TaskStatus::Pending
    );
    let signal = only_signal(&project);
    assert_eq!(
        (signal["type"].as_str(), signal["step_id"].as_str()),
        (Some("resume"), Some("b"))
    );
    project.clear_signals();

    let text = refused_without_effect(
        &project,
        &mut client,
        "enki_resume",
        json!({"execution_id": plan.id, "step_id": "b"}),
    );
    assert!(text.contains("not paused"), "{text}");
    let text = refused_without_effect(
        &project,
        &mut client,
        "enki_pause",
        json!({"execution_id": plan.id, "step_id": "zz"}),
    );
    assert!(text.contains("zz"), "{text}");
    let text = refused_without_effect(
        &project,
        &mut client,
        "enki_pause",
        json!({"execution_id": "exec-01ZZZZZZZZ"}),
    );
    assert!(text.contains("no execution matches"), "{text}");
}

#[test]
fn cancelling_a_step_cascades_to_its_dependents() {
    let project = Project::new();
    let mut client = planner(&project);
    let plan = chain(&mut client);
    let elsewhere = client.call_ok(
        "enki_task_create",
        json!({"title": "needs b", "needs": [{"task": plan.task("b"), "condition": "completed"}]}),
    )["structuredContent"]["task_id"]
        .as_str()
        .unwrap()
        .to_string();
    let unrelated = create_task(&mut client, "unrelated");
    project.clear_signals();

    let result = client.call_ok(
        "enki_cancel",
        json!({"execution_id": plan.id, "step_id": "b"}),
    );
    let mut cancelled: Vec<String> = result["structuredContent"]["cancelled"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    cancelled.sort();
    let mut expected = vec![
        plan.task("b").to_string(),
        plan.task("c").to_string(),
        elsewhere.clone(),
    ];
    expected.sort();
    assert_eq!(
        cancelled, expected,
        "b, its dependent c and the task in another execution"
    );
    assert_eq!(
        task_row(&project, plan.task("a")).status,
        TaskStatus::Pending
    );
    assert_eq!(
        task_row(&project, plan.task("b")).status,
        TaskStatus::Cancelled
    );
    assert_eq!(
        task_row(&project, plan.task("c")).status,
        TaskStatus::Cancelled
    );
    assert_eq!(task_row(&project, &elsewhere).status, TaskStatus::Cancelled);
    assert_eq!(task_row(&project, &unrelated).status, TaskStatus::Pending);

    let signal = only_signal(&project);
    assert_envelope(&signal, "cancel", "planner", None);
    assert_eq!(signal["execution_id"], plan.id.as_str());
    assert_eq!(signal["step_id"], "b");
    project.clear_signals();

    client.call_ok(
        "enki_cancel",
        json!({"execution_id": plan.id, "confirm": plan.id}),
    );
    assert_eq!(
        task_row(&project, plan.task("a")).status,
        TaskStatus::Cancelled
    );
    assert_eq!(
        store(&project)
            .execution(&plan.id)
            .unwrap()
            .unwrap()
            .status
            .as_str(),
        "cancelled"
    );
    let signal = only_signal(&project);
    assert_eq!(signal["type"], "cancel");
    assert!(signal.get("step_id").is_none_or(Value::is_null), "{signal}");
}

#[test]
fn cancel_refuses_unknown_targets_and_finished_steps_without_effect() {
    let project = Project::new();
    let mut client = planner(&project);
    let plan = chain(&mut client);
    set_status(&project, plan.task("a"), TaskStatus::Done);
    project.clear_signals();

    let text = refused_without_effect(
        &project,
        &mut client,
        "enki_cancel",
        json!({"execution_id": plan.id, "step_id": "zz"}),
    );
    assert!(text.contains("has no step 'zz'"), "{text}");
    let text = refused_without_effect(
        &project,
        &mut client,
        "enki_cancel",
        json!({"execution_id": "exec-01ZZZZZZZZ"}),
    );
    assert!(text.contains("no execution matches"), "{text}");
    let text = refused_without_effect(
        &project,
        &mut client,
        "enki_cancel",
        json!({"execution_id": plan.id, "step_id": "a"}),
    );
    assert!(
        text.contains("step 'a' is done") && text.contains("nothing to cancel"),
        "{text}"
    );
    for step in ["b", "c"] {
        assert_eq!(
            task_row(&project, plan.task(step)).status,
            TaskStatus::Pending,
            "{step} untouched"
        );
    }
}

#[test]
fn stop_all_pauses_every_execution_and_signals() {
    let project = Project::new();
    let mut client = planner(&project);
    let plan = chain(&mut client);
    let single = create_task(&mut client, "single");
    set_status(&project, plan.task("a"), TaskStatus::Running);
    project.clear_signals();

    let result = client.call_ok("enki_stop_all", json!({"confirm": "stop all"}));
    let paused = result["structuredContent"]["paused_executions"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(paused, 2);
    let store = store(&project);
    for execution in store.executions(None).unwrap() {
        assert_eq!(execution.status.as_str(), "paused", "{}", execution.id);
    }
    assert_eq!(
        store.tasks(&TaskFilter::default()).unwrap().len(),
        4,
        "nothing is deleted"
    );
    assert!(store.task(&single).unwrap().is_some());

    let signal = only_signal(&project);
    assert_envelope(&signal, "stop_all", "planner", None);
    let keys: Vec<&str> = signal
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for key in keys {
        assert!(
            ["v", "type", "at", "session", "from"].contains(&key),
            "stop_all has no field {key}"
        );
    }
}

#[test]
fn stop_all_reports_the_executions_it_paused() {
    let project = Project::new();
    let mut client = planner(&project);
    let first = chain(&mut client);
    let second = chain(&mut client);
    let already = chain(&mut client);
    client.call_ok("enki_pause", json!({"execution_id": already.id}));
    project.clear_signals();

    let result = client.call_ok("enki_stop_all", json!({"confirm": "stop all"}));
    assert_eq!(
        text_of(&result),
        "Stopping every running worker; 2 executions paused. Nothing was deleted: use enki_resume to continue."
    );
    assert_eq!(
        result["structuredContent"]["paused_executions"],
        json!([first.id, second.id]),
        "the running ones, oldest first; the paused one is not counted again"
    );
    assert_eq!(only_signal(&project)["type"], "stop_all");

    // Nothing left to pause: it still stops workers and says so.
    let again = client.call_ok("enki_stop_all", json!({"confirm": "stop all"}));
    assert!(
        text_of(&again).contains("0 executions paused"),
        "{}",
        text_of(&again)
    );
}
