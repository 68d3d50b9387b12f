//! What each role is offered: tool lists, titles, annotations and input
//! schemas, and that validation refuses what the schemas exclude.

use enki_tests::{Project, text_of};
use serde_json::{Value, json};

use crate::{
    copy_dir, create_task, planner, refused_without_effect, tools_of, worker, worker_with_copy,
};

const READ_TOOLS: &[&str] = &[
    "enki_status",
    "enki_task_list",
    "enki_task_show",
    "enki_dag",
    "enki_read_file",
    "enki_mail_check",
    "enki_mail_inbox",
    "enki_mail_thread",
];

/// Tools whose repeated call with the same arguments changes things again.
const NOT_IDEMPOTENT: &[&str] = &[
    "enki_task_create",
    "enki_execution_create",
    "enki_execution_add_steps",
    "enki_worker_report",
    "enki_mail_send",
    "enki_mail_reply",
];

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[test]
fn each_role_lists_exactly_its_tools() {
    let project = Project::new();
    let planner_tools = [
        "enki_status",
        "enki_task_list",
        "enki_task_show",
        "enki_dag",
        "enki_task_create",
        "enki_execution_create",
        "enki_execution_add_steps",
        "enki_task_retry",
        "enki_pause",
        "enki_resume",
        "enki_cancel",
        "enki_stop_all",
        "enki_mail_send",
        "enki_mail_check",
        "enki_mail_read",
        "enki_mail_inbox",
        "enki_mail_reply",
        "enki_mail_thread",
    ];
    let worker_tools = [
        "enki_status",
        "enki_task_list",
        "enki_task_show",
        "enki_dag",
        "enki_worker_report",
        "enki_read_file",
        "enki_edit_file",
        "enki_mail_send",
        "enki_mail_check",
        "enki_mail_read",
        "enki_mail_inbox",
        "enki_mail_reply",
        "enki_mail_thread",
    ];
    let no_edit_tools: Vec<&str> = worker_tools
        .iter()
        .copied()
        .filter(|t| *t != "enki_edit_file")
        .collect();
    let merger_tools = [
        "enki_status",
        "enki_task_list",
        "enki_task_show",
        "enki_dag",
    ];

    assert_eq!(
        project.mcp(&[]).tool_names(),
        names(&planner_tools),
        "planner is the default role"
    );
    assert_eq!(
        project.mcp(&["--role", "planner"]).tool_names(),
        names(&planner_tools)
    );
    assert_eq!(
        project
            .mcp(&["--role", "worker", "--task-id", "task-01"])
            .tool_names(),
        names(&worker_tools)
    );
    assert_eq!(
        project
            .mcp(&["--role", "worker", "--task-id", "task-01", "--no-edit"])
            .tool_names(),
        names(&no_edit_tools)
    );
    assert_eq!(
        project
            .mcp(&["--role", "merger", "--task-id", "task-01"])
            .tool_names(),
        names(&merger_tools)
    );
}

#[test]
fn every_tool_has_a_strict_schema_and_truthful_annotations() {
    let project = Project::new();
    let mut tools = tools_of(&mut project.mcp(&["--role", "planner"]));
    tools.extend(tools_of(&mut project.mcp(&[
        "--role",
        "worker",
        "--task-id",
        "task-01",
    ])));
    let mut seen = std::collections::BTreeSet::new();
    for tool in &tools {
        let name = tool["name"].as_str().expect("name");
        seen.insert(name.to_string());
        assert!(
            tool["title"].as_str().is_some_and(|t| !t.is_empty()),
            "{name}: title"
        );
        assert!(
            tool["description"].as_str().is_some_and(|d| d.len() > 10),
            "{name}: description"
        );
        let schema = &tool["inputSchema"];
        assert_eq!(schema["type"], "object", "{name}: {schema}");
        assert_eq!(schema["additionalProperties"], false, "{name}: {schema}");
        assert!(schema["properties"].is_object(), "{name}: {schema}");
        let text = schema.to_string();
        assert!(
            !text.contains("$ref") && !text.contains("$defs"),
            "{name}: self-contained schema: {text}"
        );
        let required = schema["required"]
            .as_array()
            .unwrap_or_else(|| panic!("{name}: required array: {schema}"));
        for field in required {
            let field = field.as_str().expect("required names are strings");
            assert!(
                schema["properties"].get(field).is_some(),
                "{name}: required `{field}` is a property"
            );
        }
        let hints = &tool["annotations"];
        for hint in [
            "readOnlyHint",
            "destructiveHint",
            "idempotentHint",
            "openWorldHint",
        ] {
            assert!(hints[hint].is_boolean(), "{name}: {hint} in {hints}");
        }
        assert_eq!(hints["openWorldHint"], false, "{name}");
        let read_only = READ_TOOLS.contains(&name);
        assert_eq!(hints["readOnlyHint"], read_only, "{name}: readOnlyHint");
        let destructive = ["enki_cancel", "enki_stop_all", "enki_edit_file"].contains(&name);
        assert_eq!(
            hints["destructiveHint"], destructive,
            "{name}: destructiveHint"
        );
        if read_only {
            assert_eq!(
                hints["idempotentHint"], true,
                "{name}: a read is idempotent"
            );
        }
    }
    assert_eq!(
        seen.len(),
        21,
        "planner and worker together offer every tool: {seen:?}"
    );

    let schema_of = |name: &str| -> Value {
        tools
            .iter()
            .find(|t| t["name"] == name)
            .map(|t| t["inputSchema"].clone())
            .unwrap_or_else(|| panic!("{name} is listed"))
    };
    let required = |name: &str| schema_of(name)["required"].clone();
    assert_eq!(required("enki_task_create"), json!(["title"]));
    assert_eq!(required("enki_execution_create"), json!(["steps"]));
    assert_eq!(
        required("enki_execution_add_steps"),
        json!(["execution_id", "steps"])
    );
    assert_eq!(required("enki_task_show"), json!(["task_id"]));
    assert_eq!(required("enki_worker_report"), json!(["status"]));
    assert_eq!(required("enki_status"), json!([]));
    assert_eq!(required("enki_mail_send"), json!(["to", "subject", "body"]));
    let tier = schema_of("enki_task_create")["properties"]["tier"].to_string();
    for level in ["light", "standard", "heavy"] {
        assert!(tier.contains(level), "tier schema lists {level}: {tier}");
    }
}

#[test]
fn tools_that_add_are_not_marked_idempotent() {
    let project = Project::new();
    let mut tools = tools_of(&mut project.mcp(&["--role", "planner"]));
    tools.extend(tools_of(&mut project.mcp(&[
        "--role",
        "worker",
        "--task-id",
        "task-01",
    ])));
    for name in NOT_IDEMPOTENT {
        let tool = tools.iter().find(|t| t["name"] == *name).expect("listed");
        assert_eq!(tool["annotations"]["readOnlyHint"], false, "{name}");
        assert_eq!(
            tool["annotations"]["idempotentHint"], false,
            "{name}: calling it twice with the same arguments changes things twice"
        );
    }
}

#[test]
fn edit_file_is_not_idempotent_and_must_not_be_annotated_so() {
    // `idempotentHint: true` promises that repeating a call with the same
    // arguments has no additional effect; an append (or insert) repeated
    // edits the file again, so the hint must be false (MCP.md: annotations
    // "true to what the tool does").
    let project = Project::new();
    let task = create_task(&mut planner(&project), "edit");
    std::fs::create_dir_all(copy_dir(&project, &task)).unwrap();
    let mut client = worker(&project, &task);
    let edit = json!({"path": "log.txt", "edits": [{"op": "append", "lines": ["entry"]}]});
    client.call_ok("enki_edit_file", edit.clone());
    client.call_ok("enki_edit_file", edit);
    let text = std::fs::read_to_string(copy_dir(&project, &task).join("log.txt")).unwrap();
    assert_eq!(text, "entry\nentry\n");
    let tools = tools_of(&mut client);
    let hint = &tools
        .iter()
        .find(|t| t["name"] == "enki_edit_file")
        .expect("listed")["annotations"]["idempotentHint"];
    assert_eq!(
        hint,
        &json!(false),
        "enki_edit_file is annotated idempotent but is not"
    );
}

/// Walks a schema: every object schema has `required` and
/// `additionalProperties: false`, every property a description, and no
/// schema admits `null` (validation refuses it everywhere).
fn check_schema(tool: &str, path: &str, schema: &Value) {
    let Some(map) = schema.as_object() else {
        panic!("{tool} {path}: a schema is an object: {schema}");
    };
    let types: Vec<&Value> = match map.get("type") {
        Some(Value::Array(types)) => types.iter().collect(),
        Some(one) => vec![one],
        None => Vec::new(),
    };
    assert!(
        !types.contains(&&json!("null")),
        "{tool} {path}: null is not accepted, so not advertised: {schema}"
    );
    if types.contains(&&json!("object")) || map.contains_key("properties") {
        assert!(
            map.get("required").is_some_and(Value::is_array),
            "{tool} {path}: `required` listed: {schema}"
        );
        assert_eq!(
            map.get("additionalProperties"),
            Some(&json!(false)),
            "{tool} {path}: closed object: {schema}"
        );
        let properties = map
            .get("properties")
            .and_then(Value::as_object)
            .unwrap_or_else(|| panic!("{tool} {path}: properties: {schema}"));
        for (name, property) in properties {
            assert!(
                property["description"]
                    .as_str()
                    .is_some_and(|d| d.trim().len() > 3),
                "{tool} {path}.{name} has no description: {property}"
            );
            check_schema(tool, &format!("{path}.{name}"), property);
        }
    }
    if let Some(items) = map.get("items") {
        check_schema(tool, &format!("{path}[]"), items);
    }
    for key in ["oneOf", "anyOf", "allOf"] {
        if let Some(Value::Array(options)) = map.get(key) {
            for (i, option) in options.iter().enumerate() {
                check_schema(tool, &format!("{path}/{key}[{i}]"), option);
            }
        }
    }
}

#[test]
fn every_property_of_every_tool_is_described_and_every_object_is_closed() {
    let project = Project::new();
    let mut tools = tools_of(&mut project.mcp(&["--role", "planner"]));
    tools.extend(tools_of(&mut project.mcp(&[
        "--role",
        "worker",
        "--task-id",
        "task-01",
    ])));
    for tool in &tools {
        let name = tool["name"].as_str().expect("name");
        check_schema(name, "", &tool["inputSchema"]);
    }

    let schema = |name: &str| -> Value {
        tools
            .iter()
            .find(|t| t["name"] == name)
            .map(|t| t["inputSchema"].clone())
            .unwrap_or_else(|| panic!("{name} is listed"))
    };
    let create = schema("enki_execution_create");
    assert_eq!(create["properties"]["steps"]["minItems"], 1);
    let step = &create["properties"]["steps"]["items"];
    assert_eq!(step["properties"]["title"]["minLength"], 1);
    assert_eq!(
        step["properties"]["id"]["pattern"],
        enki_core::dag::STEP_ID_PATTERN
    );
    assert_eq!(
        schema("enki_execution_add_steps")["properties"]["steps"]["minItems"],
        1
    );
    assert_eq!(
        schema("enki_task_create")["properties"]["title"]["minLength"],
        1
    );
    assert_eq!(
        schema("enki_worker_report")["properties"]["status"]["minLength"],
        1
    );
    let read = schema("enki_read_file");
    assert_eq!(read["properties"]["offset"]["minimum"], 1);
    assert_eq!(read["properties"]["limit"]["minimum"], 1);
    assert_eq!(
        schema("enki_edit_file")["properties"]["edits"]["minItems"],
        1
    );
    assert_eq!(
        schema("enki_mail_send")["properties"]["subject"]["minLength"],
        1
    );
}

#[test]
fn values_the_schema_excludes_are_refused_naming_the_field() {
    let project = Project::new();
    let mut client = planner(&project);
    project.clear_signals();
    for (tool, arguments, field) in [
        ("enki_task_create", json!({"title": ""}), "title"),
        (
            "enki_task_create",
            json!({"title": "t", "tier": null}),
            "tier",
        ),
        (
            "enki_task_create",
            json!({"title": "t", "needs": [{"task": "task-01", "condition": null}]}),
            "needs[0].condition",
        ),
        (
            "enki_execution_create",
            json!({"steps": [{"id": "a", "title": ""}]}),
            "steps[0].title",
        ),
        (
            "enki_execution_create",
            json!({"steps": [{"id": "a".repeat(65), "title": "A"}]}),
            "steps[0].id",
        ),
        (
            "enki_mail_send",
            json!({"to": "user", "subject": "", "body": "b"}),
            "subject",
        ),
    ] {
        let text = refused_without_effect(&project, &mut client, tool, arguments.clone());
        assert!(
            text.contains(&format!("`{field}`")),
            "{tool}({arguments}): names `{field}`: {text}"
        );
    }
    let text = client.call_err("enki_task_create", json!({"title": "t", "tier": null}));
    assert!(text.contains("null"), "{text}");

    let (_task, copy, mut worker) = worker_with_copy(&project);
    for (arguments, field) in [
        (json!({"path": "src.txt", "offset": 0}), "offset"),
        (json!({"path": "src.txt", "limit": 0}), "limit"),
    ] {
        let text = worker.call_err("enki_read_file", arguments);
        assert!(text.contains(&format!("`{field}`")), "{text}");
    }
    let text = worker.call_err("enki_edit_file", json!({"path": "src.txt", "edits": []}));
    assert!(
        text.contains("`edits`") && text.contains("at least one"),
        "{text}"
    );
    let text = worker.call_err("enki_worker_report", json!({"status": ""}));
    assert!(text.contains("`status`"), "{text}");
    assert_eq!(
        std::fs::read_to_string(copy.join("src.txt")).unwrap(),
        "alpha\nbeta\ngamma\n"
    );
    // offset 1 is the first line.
    let first = worker.call_ok(
        "enki_read_file",
        json!({"path": "src.txt", "offset": 1, "limit": 1}),
    );
    assert!(text_of(&first).contains("|alpha"), "{}", text_of(&first));
}
