//! `prompts/list` and `prompts/get`: `plan`, `triage` and one prompt per
//! role of the cascade (a custom `.enki/roles/x.toml` included), and
//! `notifications/prompts/list_changed` when the role files change.

use enki_core::TaskStatus;
use enki_store::Store;
use enki_tests::Project;
use serde_json::{Value, json};

use crate::{NOTICE, error, execution, field, ok, planner, role_file, worker};

const AUDITOR: &str = "name = \"auditor\"\nlabel = \"Security auditor\"\n\
description = \"Reviews code for security holes.\"\ncan_edit = false\noutput = \"artifact\"\n\
system_prompt = \"Look for injection, unchecked input and leaked secrets.\"\n";

/// The one user message's text of a `prompts/get`.
fn prompt_text(client: &mut enki_tests::McpClient, name: &str, arguments: Value) -> String {
    let result = ok(
        client,
        "prompts/get",
        json!({"name": name, "arguments": arguments}),
    );
    let messages = result["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 1, "{result}");
    assert_eq!(messages[0]["role"], "user");
    assert_eq!(messages[0]["content"]["type"], "text");
    assert!(result["description"].as_str().is_some(), "{result}");
    messages[0]["content"]["text"].as_str().unwrap().to_string()
}

#[test]
fn the_planner_gets_plan_triage_and_a_prompt_per_role_and_a_worker_the_role_prompts() {
    let project = Project::new();
    role_file(&project, "auditor", AUDITOR);
    let mut boss = planner(&project);
    let listed = ok(&mut boss, "prompts/list", json!({}));
    let names = field(&listed, "prompts", "name");
    assert_eq!(
        names,
        [
            "plan",
            "triage",
            "role_auditor",
            "role_bug_fixer",
            "role_code_referencer",
            "role_documenter",
            "role_feature_developer",
            "role_ralph",
            "role_researcher",
        ]
    );
    let plan = &listed["prompts"][0];
    assert_eq!(
        plan["arguments"],
        json!([
            {"name": "request", "description": "What the user wants done, in their words.", "required": true},
            {"name": "execution_id", "description": "An existing execution to add the steps to (a unique prefix is enough).", "required": false},
        ])
    );
    let auditor = &listed["prompts"][2];
    assert_eq!(auditor["title"], "Security auditor");
    assert!(
        auditor["description"]
            .as_str()
            .unwrap()
            .contains("Reviews code for security holes."),
        "{auditor}"
    );

    // plan and triage need the planner's tools.
    let (_, tasks) = execution(&mut boss);
    let mut hand = worker(&project, &tasks["a"]);
    let listed = ok(&mut hand, "prompts/list", json!({}));
    let names = field(&listed, "prompts", "name");
    assert_eq!(names.first().map(String::as_str), Some("role_auditor"));
    assert!(
        !names.iter().any(|n| n == "plan" || n == "triage"),
        "{names:?}"
    );
    let refused = error(
        &mut hand,
        "prompts/get",
        json!({"name": "plan", "arguments": {"request": "x"}}),
    );
    assert_eq!(refused["code"], -32602);
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("unknown prompt 'plan' for role 'worker'"),
        "{refused}"
    );
}

#[test]
fn plan_turns_a_request_into_enki_tool_calls_with_the_projects_roles() {
    let project = Project::new();
    role_file(&project, "auditor", AUDITOR);
    let mut boss = planner(&project);
    let text = prompt_text(
        &mut boss,
        "plan",
        json!({"request": "Add a --json flag to the CLI"}),
    );
    assert!(text.contains("Add a --json flag to the CLI"), "{text}");
    assert!(text.contains("enki_execution_create"), "{text}");
    assert!(
        text.contains("- auditor (Security auditor): Reviews code for security holes. [changes no files, writes a report]"),
        "{text}"
    );
    assert!(text.contains("- bug_fixer (Bug fixer):"), "{text}");

    // Into an existing execution (by prefix): add steps, and see its graph.
    let (exec, _) = execution(&mut boss);
    let text = prompt_text(
        &mut boss,
        "plan",
        json!({"request": "Also document it", "execution_id": &exec[..16]}),
    );
    assert!(text.contains("enki_execution_add_steps"), "{text}");
    assert!(text.contains("second step"), "the graph is shown: {text}");

    for (arguments, expected) in [
        (json!({}), "missing argument `request`"),
        (json!({"request": "  "}), "missing argument `request`"),
        (
            json!({"request": "x", "colour": "red"}),
            "unknown argument `colour`",
        ),
        (json!({"request": 5}), "argument `request` must be a string"),
        (
            json!({"request": "x", "execution_id": "exec-7ZZZZ"}),
            "no execution matches",
        ),
    ] {
        let wrong = error(
            &mut boss,
            "prompts/get",
            json!({"name": "plan", "arguments": arguments}),
        );
        assert_eq!(wrong["code"], -32602, "{arguments}: {wrong}");
        let message = wrong["message"].as_str().unwrap();
        assert!(message.contains(expected), "{arguments}: {message}");
    }
    let unknown = error(&mut boss, "prompts/get", json!({"name": "nope"}));
    assert!(
        unknown["message"]
            .as_str()
            .unwrap()
            .contains("its prompts: plan, triage"),
        "{unknown}"
    );
}

#[test]
fn triage_shows_the_failed_and_blocked_tasks_and_asks_for_proposals() {
    let project = Project::new();
    let mut boss = planner(&project);
    let calm = prompt_text(&mut boss, "triage", json!({}));
    assert!(calm.contains("nothing to triage"), "{calm}");

    let (exec, tasks) = execution(&mut boss);
    let mut store = Store::open(&project.db_path()).unwrap();
    store.start_attempt(&tasks["a"]).unwrap();
    store
        .end_attempt(
            &tasks["a"],
            "failed",
            Some("cargo test: 3 tests failed in parser"),
        )
        .unwrap();
    store
        .record_status(
            &tasks["a"],
            TaskStatus::Running,
            TaskStatus::Failed,
            Some("tests failed"),
        )
        .unwrap();
    store
        .set_task_status(&tasks["b"], TaskStatus::Blocked)
        .unwrap();

    for arguments in [json!({}), json!({"execution_id": &exec[..16]})] {
        let text = prompt_text(&mut boss, "triage", arguments);
        assert!(
            text.contains("1 failed:") && text.contains("1 blocked:"),
            "{text}"
        );
        assert!(text.contains(enki_core::id::short(&tasks["a"])), "{text}");
        assert!(
            text.contains("cargo test: 3 tests failed in parser"),
            "{text}"
        );
        assert!(text.contains("enki_task_retry"), "{text}");
        assert!(text.contains("Propose first"), "{text}");
    }
}

#[test]
fn a_role_prompt_gives_the_roles_instructions_and_the_task() {
    let project = Project::new();
    role_file(&project, "auditor", AUDITOR);
    let mut boss = planner(&project);
    let (_, tasks) = execution(&mut boss);
    let mut hand = worker(&project, &tasks["a"]);
    let text = prompt_text(&mut hand, "role_auditor", json!({}));
    assert!(
        text.starts_with(
            "You work as Security auditor (role `auditor`). Reviews code for security holes."
        ),
        "{text}"
    );
    assert!(
        text.contains("Look for injection, unchecked input and leaked secrets."),
        "{text}"
    );
    assert!(text.contains("This role changes no files."), "{text}");
    assert!(!text.contains("Your task:"), "{text}");
    let text = prompt_text(
        &mut hand,
        "role_auditor",
        json!({"task_id": &tasks["a"][..20]}),
    );
    assert!(
        text.contains("Your task:") && text.contains("first step"),
        "{text}"
    );
}

#[test]
fn a_client_that_listed_the_prompts_is_told_when_the_role_files_change_them() {
    let project = Project::new();
    let mut boss = planner(&project);
    let before = field(&ok(&mut boss, "prompts/list", json!({})), "prompts", "name");
    assert!(!before.iter().any(|n| n == "role_auditor"), "{before:?}");

    role_file(&project, "auditor", AUDITOR);
    boss.wait_notification("notifications/prompts/list_changed", NOTICE, |_| true);
    let after = field(&ok(&mut boss, "prompts/list", json!({})), "prompts", "name");
    assert!(after.iter().any(|n| n == "role_auditor"), "{after:?}");

    // An edit of what a prompt says is a change of the list too.
    role_file(
        &project,
        "auditor",
        &AUDITOR.replace(
            "Reviews code for security holes.",
            "Reviews the threat model.",
        ),
    );
    boss.wait_notification("notifications/prompts/list_changed", NOTICE, |_| true);
    let listed = ok(&mut boss, "prompts/list", json!({}));
    assert!(
        listed.to_string().contains("Reviews the threat model."),
        "{listed}"
    );
    // prompts/get follows the files at once, without waiting for the timer.
    role_file(
        &project,
        "auditor",
        &AUDITOR.replace("Security auditor", "Auditor two"),
    );
    let text = prompt_text(&mut boss, "role_auditor", json!({}));
    assert!(text.starts_with("You work as Auditor two"), "{text}");
}
