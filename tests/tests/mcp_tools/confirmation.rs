//! Typed confirmation of destructive tools: `enki_stop_all` and
//! `enki_cancel` of a whole execution. A client without the `elicitation`
//! capability passes `confirm` (the target, exactly); a client with it is
//! sent `elicitation/create` and its user's answer decides. Nothing happens
//! before the confirmation.

use enki_core::TaskStatus;
use enki_tests::{McpClient, Project, text_of};
use serde_json::{Value, json};

use crate::{chain, planner, snapshot, store, task_row};

/// A planner whose client declared `elicitation` (form mode).
fn eliciting_planner(project: &Project) -> McpClient {
    let mut client = project.mcp_uninitialized(&["--role", "planner"], &[]);
    let response = client.request(
        "initialize",
        json!({
            "protocolVersion": "2025-06-18",
            "capabilities": {"elicitation": {}},
            "clientInfo": {"name": "enki-tests", "version": "0"},
        }),
    );
    assert!(
        response["result"]["protocolVersion"].is_string(),
        "{response}"
    );
    client.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
    client
}

/// Sends a `tools/call` with id `id` and returns the server's next message
/// (an `elicitation/create` request, or the call's response).
fn start_call(client: &mut McpClient, id: i64, tool: &str, arguments: Value) -> Value {
    client.send(&json!({
        "jsonrpc": "2.0", "id": id, "method": "tools/call",
        "params": {"name": tool, "arguments": arguments},
    }));
    client.read()
}

fn answer(client: &mut McpClient, request: &Value, result: Value) {
    client.send(&json!({"jsonrpc": "2.0", "id": request["id"], "result": result}));
}

fn execution_status(project: &Project, id: &str) -> String {
    store(project)
        .execution(id)
        .expect("read the execution")
        .expect("the execution")
        .status
        .as_str()
        .to_string()
}

#[test]
fn without_elicitation_stop_all_needs_confirm_stop_all_exactly() {
    let project = Project::new();
    let mut client = planner(&project);
    let plan = chain(&mut client);
    project.clear_signals();
    let before = snapshot(&project);

    let text = client.call_err("enki_stop_all", json!({}));
    assert!(
        text.contains("needs a typed confirmation") && text.contains(r#""confirm": "stop all""#),
        "{text}"
    );
    let text = client.call_err("enki_stop_all", json!({"confirm": "stop"}));
    assert!(
        text.contains(r#"`confirm` must be exactly "stop all""#) && text.contains(r#"got "stop""#),
        "{text}"
    );
    assert_eq!(snapshot(&project), before, "nothing was done");
    assert_eq!(execution_status(&project, &plan.id), "running");
    let audit = project.audit_lines();
    assert_eq!(audit[audit.len() - 1]["outcome"], "refused");

    client.call_ok("enki_stop_all", json!({"confirm": "stop all"}));
    assert_eq!(execution_status(&project, &plan.id), "paused");
    assert_eq!(project.signals().len(), 1, "one stop_all signal");
}

#[test]
fn without_elicitation_cancelling_a_whole_execution_needs_its_full_id() {
    let project = Project::new();
    let mut client = planner(&project);
    let plan = chain(&mut client);
    project.clear_signals();
    let before = snapshot(&project);
    let prefix = &plan.id[..12];

    let text = client.call_err("enki_cancel", json!({"execution_id": prefix}));
    assert!(
        text.contains(&format!(r#""confirm": "{}""#, plan.id)),
        "the refusal says what to type: {text}"
    );
    let text = client.call_err(
        "enki_cancel",
        json!({"execution_id": prefix, "confirm": prefix}),
    );
    assert!(
        text.contains(&format!(r#"must be exactly "{}""#, plan.id)),
        "{text}"
    );
    assert_eq!(snapshot(&project), before, "nothing was done");

    // One step needs no confirmation.
    client.call_ok(
        "enki_cancel",
        json!({"execution_id": prefix, "step_id": "c"}),
    );
    assert_eq!(
        task_row(&project, plan.task("c")).status,
        TaskStatus::Cancelled
    );
    client.call_ok(
        "enki_cancel",
        json!({"execution_id": prefix, "confirm": plan.id}),
    );
    assert_eq!(
        task_row(&project, plan.task("a")).status,
        TaskStatus::Cancelled
    );
}

#[test]
fn with_elicitation_the_user_types_the_target() {
    let project = Project::new();
    let mut client = eliciting_planner(&project);
    let plan = chain(&mut client);
    project.clear_signals();

    let asked = start_call(&mut client, 100, "enki_stop_all", json!({}));
    assert_eq!(asked["method"], "elicitation/create", "{asked}");
    assert!(
        asked["id"].is_number() || asked["id"].is_string(),
        "{asked}"
    );
    let params = &asked["params"];
    assert!(
        params["message"]
            .as_str()
            .unwrap_or_default()
            .contains("stop all"),
        "{params}"
    );
    assert_eq!(params["requestedSchema"]["type"], "object");
    assert_eq!(
        params["requestedSchema"]["properties"]["confirm"]["type"],
        "string"
    );
    assert_eq!(
        execution_status(&project, &plan.id),
        "running",
        "not before the answer"
    );
    answer(
        &mut client,
        &asked,
        json!({"action": "accept", "content": {"confirm": "stop all"}}),
    );
    let response = client.read();
    assert_eq!(response["id"], 100, "{response}");
    assert_eq!(response["result"]["isError"], false, "{response}");
    assert_eq!(execution_status(&project, &plan.id), "paused");

    // Cancelling the execution: the user is asked for its id.
    let asked = start_call(
        &mut client,
        101,
        "enki_cancel",
        json!({"execution_id": plan.id}),
    );
    assert!(
        asked["params"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains(&plan.id),
        "{asked}"
    );
    answer(
        &mut client,
        &asked,
        json!({"action": "accept", "content": {"confirm": plan.id}}),
    );
    let response = client.read();
    assert_eq!(response["result"]["isError"], false, "{response}");
    assert_eq!(execution_status(&project, &plan.id), "cancelled");
}

#[test]
fn with_elicitation_a_decline_or_a_wrong_text_changes_nothing() {
    let project = Project::new();
    let mut client = eliciting_planner(&project);
    let plan = chain(&mut client);
    project.clear_signals();
    let before = snapshot(&project);

    let asked = start_call(
        &mut client,
        7,
        "enki_stop_all",
        json!({"confirm": "stop all"}),
    );
    assert_eq!(
        asked["method"], "elicitation/create",
        "the user is asked all the same"
    );
    answer(&mut client, &asked, json!({"action": "decline"}));
    let response = client.read();
    assert_eq!(response["id"], 7);
    assert_eq!(response["result"]["isError"], true);
    assert!(
        text_of(&response["result"]).contains("declined"),
        "{response}"
    );

    let asked = start_call(&mut client, 8, "enki_stop_all", json!({}));
    answer(
        &mut client,
        &asked,
        json!({"action": "accept", "content": {"confirm": "stop everything"}}),
    );
    let text = text_of(&client.read()["result"]);
    assert!(
        text.contains(r#"typed "stop everything", not "stop all""#),
        "{text}"
    );
    assert_eq!(snapshot(&project), before, "nothing was done");
    assert_eq!(execution_status(&project, &plan.id), "running");
}

#[test]
fn requests_sent_while_the_user_is_asked_are_answered_after_in_order() {
    let project = Project::new();
    let mut client = eliciting_planner(&project);
    let asked = start_call(&mut client, 1, "enki_stop_all", json!({}));
    assert_eq!(asked["method"], "elicitation/create");
    client.send(&json!({"jsonrpc": "2.0", "id": 2, "method": "ping"}));
    client.send(&json!({"jsonrpc": "2.0", "id": "stray", "result": {}}));
    answer(
        &mut client,
        &asked,
        json!({"action": "accept", "content": {"confirm": "stop all"}}),
    );
    let first = client.read();
    assert_eq!(
        (first["id"].clone(), first["result"]["isError"].clone()),
        (json!(1), json!(false))
    );
    let second = client.read();
    assert_eq!(
        (second["id"].clone(), second["result"].clone()),
        (json!(2), json!({}))
    );

    // A cancelled call stops waiting, and the server goes on serving.
    let asked = start_call(&mut client, 3, "enki_stop_all", json!({}));
    assert_eq!(asked["method"], "elicitation/create");
    client.send(&json!({
        "jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 3},
    }));
    let cancelled = client.read();
    assert_eq!(cancelled["id"], 3);
    assert!(
        text_of(&cancelled["result"]).contains("cancelled"),
        "{cancelled}"
    );
    assert_eq!(client.request("ping", json!({}))["result"], json!({}));
}
