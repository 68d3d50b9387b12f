//! Planning tools: `enki_task_create`, `enki_execution_create` and
//! `enki_execution_add_steps`, what they persist and signal, and blocked starts.

use std::collections::HashMap;

use enki_core::TaskStatus;
use enki_tests::{Project, text_of};
use serde_json::{Value, json};

use crate::{
    assert_envelope, chain, create_execution, create_task, only_signal, planner,
    refused_without_effect, set_status, steps_of, store, task_row,
};

#[test]
fn task_create_writes_the_task_its_needs_and_a_signal() {
    let project = Project::new();
    let mut client = planner(&project);
    let base = create_task(&mut client, "base");
    project.clear_signals();

    let result = client.call_ok(
        "enki_task_create",
        json!({"title": "  follow up ", "description": "after base", "tier": "heavy", "role": "bug_fixer",
               "needs": [{"task": enki_core::id::short(&base), "condition": "started"}]}),
    );
    let data = &result["structuredContent"];
    let id = data["task_id"].as_str().expect("task_id").to_string();
    assert!(id.starts_with("task-"), "{id}");
    assert_eq!(data["status"], "pending");
    assert_eq!(data["tier"], "heavy");
    let text = text_of(&result);
    assert!(
        text.contains("follow up") && text.contains(enki_core::id::short(&id)),
        "{text}"
    );

    let row = task_row(&project, &id);
    assert_eq!(row.title, "follow up");
    assert_eq!(row.description, "after base");
    assert_eq!(row.tier.as_str(), "heavy");
    assert_eq!(row.role.as_deref(), Some("bug_fixer"));
    assert_eq!(row.status, TaskStatus::Pending);
    assert_eq!(row.session_id, None);
    let deps = store(&project).dependencies_of(&id).unwrap();
    assert_eq!(deps.len(), 1);
    assert_eq!(deps[0].needs_task_id, base, "the prefix was resolved");
    assert_eq!(deps[0].condition.as_str(), "started");
    let exec = store(&project)
        .execution(&row.execution_id)
        .unwrap()
        .expect("its execution");
    assert!(
        exec.standalone,
        "a standalone task is an execution of one step"
    );

    let signal = only_signal(&project);
    assert_envelope(&signal, "task_created", "planner", None);
    assert_eq!(signal["session"], Value::Null);
    assert_eq!(signal["task_id"], id.as_str());

    // Plain ids default to `merged`, and the tier to `standard`.
    let plain = client.call_ok(
        "enki_task_create",
        json!({"title": "plain", "needs": [base]}),
    );
    let plain = plain["structuredContent"]["task_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        store(&project).dependencies_of(&plain).unwrap()[0]
            .condition
            .as_str(),
        "merged"
    );
    assert_eq!(task_row(&project, &plain).tier.as_str(), "standard");
}

#[test]
fn execution_create_persists_roles_checkpoints_and_every_condition() {
    let project = Project::new();
    let mut client = planner(&project);
    let outside = create_task(&mut client, "outside");
    project.clear_signals();

    let plan = create_execution(
        &mut client,
        json!([
            {"id": "research", "title": "Research", "role": "researcher", "tier": "light"},
            {"id": "build", "title": "Build", "checkpoint": true,
             "needs": [{"step": "research", "condition": "completed"}]},
            {"id": "polish", "title": "Polish", "role": "documenter",
             "needs": ["research", {"step": "build", "condition": "started"},
                       {"task": enki_core::id::short(&outside), "condition": "completed"}]},
        ]),
    );
    assert_eq!(plan.tasks.len(), 3);

    let signal = only_signal(&project);
    assert_envelope(&signal, "execution_created", "planner", None);
    assert_eq!(signal["execution_id"], plan.id.as_str());

    let research = task_row(&project, plan.task("research"));
    assert_eq!(research.role.as_deref(), Some("researcher"));
    assert_eq!(research.tier.as_str(), "light");
    assert!(!research.checkpoint);
    let build = task_row(&project, plan.task("build"));
    assert!(build.checkpoint, "the checkpoint is persisted");
    assert_eq!(build.role, None);
    assert_eq!(build.execution_id, plan.id);
    assert_eq!((research.step_index, build.step_index), (0, 1));

    let conditions = |task: &str| -> Vec<(String, String)> {
        let mut list: Vec<(String, String)> = store(&project)
            .dependencies_of(task)
            .unwrap()
            .into_iter()
            .map(|d| (d.needs_task_id, d.condition.as_str().to_string()))
            .collect();
        list.sort();
        list
    };
    assert_eq!(
        conditions(plan.task("build")),
        vec![(plan.task("research").to_string(), "completed".to_string())]
    );
    let mut expected = vec![
        (plan.task("research").to_string(), "merged".to_string()),
        (plan.task("build").to_string(), "started".to_string()),
        (outside.clone(), "completed".to_string()),
    ];
    expected.sort();
    assert_eq!(conditions(plan.task("polish")), expected);

    // The same through the tool.
    let shown = client.call_ok("enki_task_show", json!({"task_id": plan.task("polish")}));
    let data = &shown["structuredContent"];
    assert_eq!(data["task"]["role"], "documenter");
    let mut seen: Vec<String> = data["needs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            format!(
                "{}:{}",
                n["needs_task_id"].as_str().unwrap(),
                n["condition"].as_str().unwrap()
            )
        })
        .collect();
    seen.sort();
    let mut want: Vec<String> = expected.iter().map(|(t, c)| format!("{t}:{c}")).collect();
    want.sort();
    assert_eq!(seen, want);
    let shown = client.call_ok("enki_task_show", json!({"task_id": plan.task("build")}));
    assert_eq!(shown["structuredContent"]["task"]["checkpoint"], true);
}

#[test]
fn add_steps_extends_an_execution_and_signals_the_new_step_ids() {
    let project = Project::new();
    let mut client = planner(&project);
    let plan = chain(&mut client);
    project.clear_signals();

    let result = client.call_ok(
        "enki_execution_add_steps",
        json!({"execution_id": enki_core::id::short(&plan.id), "steps": [
            {"id": "d", "title": "fourth", "needs": [{"step": "c", "condition": "completed"}]},
            {"id": "e", "title": "fifth", "needs": ["d", "a"]},
        ]}),
    );
    let added = steps_of(&result["structuredContent"]);
    assert_eq!(
        result["structuredContent"]["execution_id"],
        plan.id.as_str()
    );
    assert_eq!(added.len(), 2);

    let signal = only_signal(&project);
    assert_envelope(&signal, "steps_added", "planner", None);
    assert_eq!(signal["execution_id"], plan.id.as_str());
    assert_eq!(signal["step_ids"], json!(["d", "e"]));

    let d = task_row(&project, &added["d"]);
    assert_eq!(
        (d.execution_id.as_str(), d.step_index, d.status),
        (plan.id.as_str(), 3, TaskStatus::Pending)
    );
    let deps = store(&project).dependencies_of(&added["d"]).unwrap();
    assert_eq!(deps.len(), 1);
    assert_eq!(
        (deps[0].needs_task_id.as_str(), deps[0].condition.as_str()),
        (plan.task("c"), "completed")
    );
    assert_eq!(
        store(&project).dependencies_of(&added["e"]).unwrap().len(),
        2
    );
    project.clear_signals();

    let mut fails = |arguments: Value| {
        refused_without_effect(&project, &mut client, "enki_execution_add_steps", arguments)
    };
    let text = fails(json!({"execution_id": plan.id, "steps": [{"id": "a", "title": "again"}]}));
    assert!(
        text.contains("'a'") && text.contains("already exists"),
        "{text}"
    );
    let text = fails(json!({"execution_id": plan.id, "steps": [
        {"id": "x", "title": "X", "needs": ["y"]}, {"id": "y", "title": "Y", "needs": ["x"]}]}));
    assert!(text.contains("cycle"), "{text}");
    let text =
        fails(json!({"execution_id": "exec-01ZZZZZZZZ", "steps": [{"id": "x", "title": "X"}]}));
    assert!(text.contains("no execution matches"), "{text}");
    let text = fails(json!({"execution_id": plan.id}));
    assert!(text.contains("steps"), "{text}");
}

#[test]
fn a_task_that_needs_a_failed_or_cancelled_task_is_created_blocked() {
    let project = Project::new();
    let mut client = planner(&project);
    let failed = create_task(&mut client, "broken");
    set_status(&project, &failed, TaskStatus::Failed);
    let landed = create_task(&mut client, "landed");
    set_status(&project, &landed, TaskStatus::Done);
    project.clear_signals();

    let result = client.call_ok(
        "enki_task_create",
        json!({"title": "after broken", "needs": [{"task": failed, "condition": "started"}]}),
    );
    let data = &result["structuredContent"];
    let blocked = data["task_id"].as_str().expect("task_id").to_string();
    assert_eq!(data["status"], "blocked");
    assert!(
        data["blocked_because"]
            .as_str()
            .is_some_and(|why| why.contains(&failed) && why.contains("failed")),
        "{data}"
    );
    let text = text_of(&result);
    assert!(
        text.contains("status: blocked")
            && text.contains(&failed)
            && text.contains("enki_task_retry"),
        "{text}"
    );
    assert_eq!(task_row(&project, &blocked).status, TaskStatus::Blocked);
    assert_eq!(only_signal(&project)["type"], "task_created");

    // A need that already holds does not block.
    let fine = client.call_ok(
        "enki_task_create",
        json!({"title": "after landed", "needs": [landed]}),
    );
    assert_eq!(fine["structuredContent"]["status"], "pending");
    assert!(
        text_of(&fine).contains("status: pending"),
        "{}",
        text_of(&fine)
    );

    // Retrying the failed task unblocks it.
    client.call_ok("enki_task_retry", json!({"task_id": failed}));
    assert_eq!(task_row(&project, &blocked).status, TaskStatus::Pending);

    // Steps: a cancelled need blocks its step and what needs that step.
    let cancelled = create_task(&mut client, "dropped");
    set_status(&project, &cancelled, TaskStatus::Cancelled);
    let result = client.call_ok(
        "enki_execution_create",
        json!({"title": "plan", "steps": [
            {"id": "a", "title": "A", "needs": [{"task": cancelled}]},
            {"id": "b", "title": "B", "needs": ["a"]},
            {"id": "c", "title": "C"},
        ]}),
    );
    let plan = steps_of(&result["structuredContent"]);
    let statuses: HashMap<String, String> = result["structuredContent"]["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| {
            (
                s["step_id"].as_str().unwrap_or_default().to_string(),
                s["status"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_eq!(statuses["a"], "blocked");
    assert_eq!(statuses["b"], "blocked");
    assert_eq!(statuses["c"], "pending");
    assert_eq!(task_row(&project, &plan["a"]).status, TaskStatus::Blocked);
    assert_eq!(task_row(&project, &plan["b"]).status, TaskStatus::Blocked);
    assert_eq!(task_row(&project, &plan["c"]).status, TaskStatus::Pending);
    let text = text_of(&result);
    assert!(
        text.contains("a -> ")
            && text.contains("(blocked: needs")
            && text.contains("2 of them are blocked"),
        "{text}"
    );

    // Added steps that need a failed step start blocked too.
    let execution = result["structuredContent"]["execution_id"]
        .as_str()
        .expect("execution_id")
        .to_string();
    set_status(&project, &plan["c"], TaskStatus::Failed);
    let added = client.call_ok(
        "enki_execution_add_steps",
        json!({"execution_id": execution, "steps": [{"id": "d", "title": "D", "needs": ["c"]}]}),
    );
    let d = steps_of(&added["structuredContent"])["d"].clone();
    assert_eq!(task_row(&project, &d).status, TaskStatus::Blocked);
    assert!(
        text_of(&added).contains("step 'c'") || text_of(&added).contains(&plan["c"]),
        "{}",
        text_of(&added)
    );
}
