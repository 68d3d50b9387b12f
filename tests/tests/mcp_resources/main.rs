//! Resources, prompts, completion and logging of the real `enki mcp`
//! binary, over stdio (docs/MCP.md "Resources", "Prompts", "Completion and
//! logging"): every resource per role, template prefixes, subscriptions
//! told of changes made by another `enki mcp`, the prompts and their
//! `list_changed`, completion of prompt arguments and task ids, and the
//! server's warnings as `notifications/message` at the level the client
//! set. This file holds the helpers the groups below share.
// An integration test: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod completion_logging;
mod prompts;
mod resources;
mod subscriptions;

use std::collections::HashMap;
use std::time::Duration;

use enki_tests::{McpClient, Project};
use serde_json::{Value, json};

/// How long a test waits for a notification the timer sends (it looks
/// every second).
const NOTICE: Duration = Duration::from_secs(10);

fn planner(project: &Project) -> McpClient {
    project.mcp(&["--role", "planner"])
}

fn worker(project: &Project, task_id: &str) -> McpClient {
    project.mcp(&["--role", "worker", "--task-id", task_id])
}

fn merger(project: &Project, task_id: &str) -> McpClient {
    project.mcp(&["--role", "merger", "--task-id", task_id])
}

/// An execution a -> b created by the planner: its id and step -> task id.
fn execution(client: &mut McpClient) -> (String, HashMap<String, String>) {
    let result = client.call_ok(
        "enki_execution_create",
        json!({"title": "plan", "steps": [
            {"id": "a", "title": "first step"},
            {"id": "b", "title": "second step", "needs": ["a"]},
        ]}),
    );
    let data = &result["structuredContent"];
    let tasks = data["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["step_id"].as_str().unwrap().to_string(),
                s["task_id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    (data["execution_id"].as_str().unwrap().to_string(), tasks)
}

/// A request that must succeed; its result.
fn ok(client: &mut McpClient, method: &str, params: Value) -> Value {
    let response = client.request(method, params.clone());
    assert!(
        response.get("error").is_none(),
        "{method}({params}) failed: {response}"
    );
    response["result"].clone()
}

/// A request that must fail; its error object.
fn error(client: &mut McpClient, method: &str, params: Value) -> Value {
    let response = client.request(method, params.clone());
    assert!(
        response.get("result").is_none(),
        "{method}({params}) should fail: {response}"
    );
    response["error"].clone()
}

/// The text `resources/read` gives for a URI.
fn read(client: &mut McpClient, uri: &str) -> String {
    let result = ok(client, "resources/read", json!({"uri": uri}));
    let contents = result["contents"].as_array().unwrap();
    assert_eq!(contents.len(), 1, "{result}");
    assert_eq!(contents[0]["uri"], uri);
    assert_eq!(contents[0]["mimeType"], "text/plain");
    contents[0]["text"].as_str().unwrap().to_string()
}

/// The text a tool call gives (what a resource must show).
fn tool_text(client: &mut McpClient, tool: &str, arguments: Value) -> String {
    enki_tests::text_of(&client.call_ok(tool, arguments))
}

/// A field of each item of a list result, in order.
fn field(result: &Value, list: &str, key: &str) -> Vec<String> {
    result[list]
        .as_array()
        .unwrap_or_else(|| panic!("no {list} in {result}"))
        .iter()
        .map(|item| item[key].as_str().unwrap().to_string())
        .collect()
}

/// Writes `.enki/roles/<name>.toml`.
fn role_file(project: &Project, name: &str, text: &str) {
    let dir = project.enki_dir().join("roles");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{name}.toml")), text).unwrap();
}
