//! `completion/complete` for prompt arguments and template ids, and
//! `logging/setLevel` with the server's own warnings sent as
//! `notifications/message` at or above the level, and only then.

use enki_tests::{McpClient, Project};
use serde_json::{Value, json};

use crate::{NOTICE, error, execution, ok, planner, role_file, worker};

fn complete(
    client: &mut McpClient,
    reference: Value,
    name: &str,
    value: &str,
) -> (Vec<String>, bool) {
    let result = ok(
        client,
        "completion/complete",
        json!({"ref": reference, "argument": {"name": name, "value": value}}),
    );
    let completion = &result["completion"];
    let values = completion["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    (values, completion["hasMore"].as_bool().unwrap())
}

fn task_template() -> Value {
    json!({"type": "ref/resource", "uri": "enki://task/{id}"})
}

#[test]
fn task_ids_complete_by_prefix_for_the_template_and_the_prompts() {
    let project = Project::new();
    let mut boss = planner(&project);
    let (exec, tasks) = execution(&mut boss);
    let mut newest_first = vec![tasks["a"].clone(), tasks["b"].clone()];
    newest_first.sort();
    newest_first.reverse();

    let (all, more) = complete(&mut boss, task_template(), "id", "");
    assert_eq!((all, more), (newest_first.clone(), false));
    let (one, _) = complete(
        &mut boss,
        task_template(),
        "id",
        &tasks["b"][..24].to_lowercase(),
    );
    assert_eq!(one, [tasks["b"].clone()]);
    let (none, _) = complete(&mut boss, task_template(), "id", "task-7ZZZ");
    assert!(none.is_empty());

    let dag = json!({"type": "ref/resource", "uri": "enki://execution/{id}/dag"});
    assert_eq!(complete(&mut boss, dag, "id", "ex").0, [exec.as_str()]);

    // Prompt arguments: ids where they take one, nothing for free text.
    let plan = json!({"type": "ref/prompt", "name": "plan"});
    assert_eq!(
        complete(&mut boss, plan.clone(), "execution_id", "").0,
        [exec]
    );
    assert!(complete(&mut boss, plan, "request", "Add").0.is_empty());
    let mut hand = worker(&project, &tasks["a"]);
    let role = json!({"type": "ref/prompt", "name": "role_researcher"});
    assert_eq!(
        complete(&mut hand, role, "task_id", "task-").0,
        newest_first
    );

    for (params, expected) in [
        (
            json!({"ref": {"type": "ref/prompt", "name": "plan"}, "argument": {"name": "colour", "value": ""}}),
            "prompt 'plan' has no argument `colour`",
        ),
        (
            json!({"ref": {"type": "ref/prompt", "name": "nope"}, "argument": {"name": "x", "value": ""}}),
            "unknown prompt 'nope'",
        ),
        (
            json!({"ref": {"type": "ref/resource", "uri": "enki://nope/{id}"}, "argument": {"name": "id", "value": ""}}),
            "no resource template 'enki://nope/{id}'",
        ),
        (
            json!({"ref": task_template(), "argument": {"name": "task", "value": ""}}),
            "has one parameter, `id`",
        ),
        (json!({"ref": task_template()}), "needs `argument`"),
        (
            json!({"argument": {"name": "id", "value": ""}}),
            "`ref` must be",
        ),
    ] {
        let wrong = error(&mut boss, "completion/complete", params.clone());
        assert_eq!(wrong["code"], -32602, "{params}: {wrong}");
        let message = wrong["message"].as_str().unwrap();
        assert!(message.contains(expected), "{params}: {message}");
    }
    // The worker has no plan prompt, so no completion for it either.
    let refused = error(
        &mut hand,
        "completion/complete",
        json!({"ref": {"type": "ref/prompt", "name": "plan"}, "argument": {"name": "execution_id", "value": ""}}),
    );
    assert_eq!(refused["code"], -32602, "{refused}");
}

/// The `notifications/message` kept so far whose text mentions `needle`.
fn messages_about(client: &mut McpClient, needle: &str) -> Vec<Value> {
    client
        .take_notifications()
        .into_iter()
        .filter(|n| n["method"] == "notifications/message")
        .filter(|n| {
            n["params"]["data"]
                .as_str()
                .unwrap_or_default()
                .contains(needle)
        })
        .collect()
}

#[test]
fn the_servers_warnings_reach_a_client_at_or_above_the_level_it_set() {
    let project = Project::new();
    let mut boss = planner(&project);
    ok(&mut boss, "prompts/list", json!({}));

    // Before logging/setLevel nothing is sent.
    role_file(&project, "broken", "name = 3\n");
    ok(&mut boss, "prompts/list", json!({}));
    ok(&mut boss, "ping", json!({}));
    assert!(messages_about(&mut boss, "broken.toml").is_empty());

    let wrong = error(&mut boss, "logging/setLevel", json!({"level": "verbose"}));
    assert_eq!(wrong["code"], -32602);
    assert!(
        wrong["message"]
            .as_str()
            .unwrap()
            .contains("debug, info, notice, warning, error"),
        "{wrong}"
    );
    assert_eq!(
        ok(&mut boss, "logging/setLevel", json!({"level": "warning"})),
        json!({})
    );
    role_file(&project, "broken", "name = 4\n");
    ok(&mut boss, "prompts/list", json!({}));
    let told = boss.wait_notification("notifications/message", NOTICE, |n| {
        n["params"]["data"]
            .as_str()
            .unwrap_or_default()
            .contains("broken.toml")
    });
    assert_eq!(told["params"]["level"], "warning", "{told}");
    assert_eq!(told["params"]["logger"], "enki", "{told}");
    assert!(
        told["params"]["data"]
            .as_str()
            .unwrap()
            .contains("skipping role file"),
        "{told}"
    );

    // Above the level: not sent.
    ok(&mut boss, "logging/setLevel", json!({"level": "error"}));
    role_file(&project, "broken", "name = 5\n");
    ok(&mut boss, "prompts/list", json!({}));
    ok(&mut boss, "ping", json!({}));
    assert!(messages_about(&mut boss, "broken.toml").is_empty());

    // stdout stayed protocol: every line was JSON-RPC (the client checks),
    // and the warning still reached stderr.
    let (status, stderr) = boss.finish();
    assert!(status.success(), "{stderr}");
    assert!(stderr.contains("skipping role file"), "{stderr}");
}
