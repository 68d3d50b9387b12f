//! `resources/list`, `resources/templates/list` and `resources/read`: what
//! each role may read, that a resource shows exactly what its tool shows,
//! and template ids given as unique prefixes.

use enki_tests::Project;
use serde_json::json;

use crate::{error, execution, field, merger, ok, planner, read, tool_text, worker};

#[test]
fn initialize_declares_resources_prompts_completions_and_logging() {
    let project = Project::new();
    let mut client = project.mcp_uninitialized(&["--role", "worker"], &[]);
    let result = client.initialize();
    let capabilities = &result["capabilities"];
    assert_eq!(
        capabilities["resources"],
        json!({"subscribe": true, "listChanged": false})
    );
    assert_eq!(capabilities["prompts"], json!({"listChanged": true}));
    assert_eq!(capabilities["completions"], json!({}));
    assert_eq!(capabilities["logging"], json!({}));
}

#[test]
fn each_role_lists_the_resources_its_tools_would_show_it() {
    let project = Project::new();
    let mut boss = planner(&project);
    let (exec, tasks) = execution(&mut boss);
    let a = &tasks["a"];

    let listed = ok(&mut boss, "resources/list", json!({}));
    assert_eq!(
        field(&listed, "resources", "uri"),
        ["enki://status", "enki://tasks", "enki://mail/inbox"]
    );
    for resource in listed["resources"].as_array().unwrap() {
        assert_eq!(resource["mimeType"], "text/plain", "{resource}");
        assert!(resource["description"].as_str().is_some(), "{resource}");
    }
    let templates = ok(&mut boss, "resources/templates/list", json!({}));
    assert_eq!(
        field(&templates, "resourceTemplates", "uriTemplate"),
        ["enki://task/{id}", "enki://execution/{id}/dag"]
    );

    // A worker also finds its own task and its execution's graph.
    // 20 characters: tasks made in the same millisecond share their first 15.
    let mut hand = worker(&project, &a[..20]);
    let listed = ok(&mut hand, "resources/list", json!({}));
    assert_eq!(
        field(&listed, "resources", "uri"),
        [
            "enki://status".to_string(),
            "enki://tasks".to_string(),
            "enki://mail/inbox".to_string(),
            format!("enki://task/{a}"),
            format!("enki://execution/{exec}/dag"),
        ]
    );

    // The merger has no mail tools, so no inbox.
    let mut merging = merger(&project, a);
    let listed = ok(&mut merging, "resources/list", json!({}));
    assert_eq!(
        field(&listed, "resources", "uri"),
        [
            "enki://status".to_string(),
            "enki://tasks".to_string(),
            format!("enki://task/{a}"),
            format!("enki://execution/{exec}/dag"),
        ]
    );
    let templates = ok(&mut merging, "resources/templates/list", json!({}));
    assert_eq!(
        field(&templates, "resourceTemplates", "name"),
        ["task", "dag"]
    );
}

#[test]
fn every_resource_shows_what_its_tool_shows_to_each_role() {
    let project = Project::new();
    let mut boss = planner(&project);
    let (exec, tasks) = execution(&mut boss);
    let a = tasks["a"].clone();
    boss.call_ok(
        "enki_mail_send",
        json!({"to": format!("worker/{a}"), "subject": "hello", "body": "a word"}),
    );
    let mut hand = worker(&project, &a);
    let mut merging = merger(&project, &a);

    for client in [&mut boss, &mut hand, &mut merging] {
        let pairs = [
            ("enki://status".to_string(), "enki_status", json!({})),
            ("enki://tasks".to_string(), "enki_task_list", json!({})),
            (
                format!("enki://task/{a}"),
                "enki_task_show",
                json!({"task_id": a}),
            ),
            (
                format!("enki://execution/{exec}/dag"),
                "enki_dag",
                json!({"execution_id": exec}),
            ),
        ];
        for (uri, tool, arguments) in pairs {
            let shown = read(client, &uri);
            let told = tool_text(client, tool, arguments);
            // A worker's tool results end with a notice of unread mail; the
            // resource is the view alone.
            let told = told.split("\n[mail]").next().unwrap_or_default();
            assert_eq!(shown, told, "{uri}");
        }
    }

    let inbox = read(&mut boss, "enki://mail/inbox");
    assert_eq!(inbox, tool_text(&mut boss, "enki_mail_inbox", json!({})));
    assert!(inbox.contains("No mail for coordinator"), "{inbox}");
    let inbox = read(&mut hand, "enki://mail/inbox");
    assert!(
        inbox.contains(&format!("for worker/{a}")) && inbox.contains("hello"),
        "the worker's own mailbox: {inbox}"
    );
    let told = tool_text(&mut hand, "enki_mail_inbox", json!({}));
    assert!(told.starts_with(&inbox), "{told}");

    let refused = error(
        &mut merging,
        "resources/read",
        json!({"uri": "enki://mail/inbox"}),
    );
    assert_eq!(refused["code"], -32002, "{refused}");
    let message = refused["message"].as_str().unwrap();
    assert!(
        message.contains("not available for role 'merger'") && message.contains("enki_mail_inbox"),
        "{message}"
    );
}

#[test]
fn template_ids_may_be_unique_prefixes_in_any_case() {
    let project = Project::new();
    let mut boss = planner(&project);
    let (exec, tasks) = execution(&mut boss);
    let a = &tasks["a"];
    let full = read(&mut boss, &format!("enki://task/{a}"));
    assert!(full.contains("first step"), "{full}");
    assert_eq!(read(&mut boss, &format!("enki://task/{}", &a[..22])), full);
    let lower = a[5..24].to_lowercase();
    assert_eq!(read(&mut boss, &format!("enki://task/{lower}")), full);
    let dag = read(&mut boss, &format!("enki://execution/{}/dag", &exec[..18]));
    assert!(
        dag.contains("first step") && dag.contains("second step"),
        "{dag}"
    );

    let ambiguous = error(
        &mut boss,
        "resources/read",
        json!({"uri": "enki://task/task-0"}),
    );
    assert_eq!(ambiguous["code"], -32002);
    let message = ambiguous["message"].as_str().unwrap();
    assert!(
        message.contains("ambiguous") && message.contains(a),
        "{message}"
    );

    let missing = error(
        &mut boss,
        "resources/read",
        json!({"uri": "enki://task/task-7ZZZZZZZ"}),
    );
    assert_eq!(missing["code"], -32002);
    assert!(
        missing["message"]
            .as_str()
            .unwrap()
            .contains("no task matches"),
        "{missing}"
    );

    for uri in ["enki://nothing", "enki://task/", "https://example.com/"] {
        let wrong = error(&mut boss, "resources/read", json!({"uri": uri}));
        assert_eq!(wrong["code"], -32002, "{uri}: {wrong}");
        assert!(
            wrong["message"].as_str().unwrap().contains("enki://status"),
            "the error lists what exists: {wrong}"
        );
    }
    let no_uri = error(&mut boss, "resources/read", json!({}));
    assert_eq!(no_uri["code"], -32602);
    assert!(no_uri["message"].as_str().unwrap().contains("needs `uri`"));
}

#[test]
fn a_huge_task_is_read_within_the_cap_of_a_tool_result() {
    let project = Project::new();
    let mut boss = planner(&project);
    let description = "very long line of a description\n".repeat(20_000);
    let created = boss.call_ok(
        "enki_task_create",
        json!({"title": "huge", "description": description}),
    );
    let id = created["structuredContent"]["task_id"].as_str().unwrap();
    let text = read(&mut boss, &format!("enki://task/{id}"));
    assert!(text.len() <= 256 * 1024, "{} bytes", text.len());
    assert!(text.contains("huge"), "the start is kept");
    assert!(text.contains("[… cut here"), "and the cut is marked");
}
