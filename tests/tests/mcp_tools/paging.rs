//! Listings come in pages: `enki_task_list`, `enki_dag` and the mail
//! listings take a `cursor` and answer a `next_cursor` while there is more,
//! each page small whatever the rows hold (a 1 MB title among 150 tasks).

use std::collections::HashSet;

use enki_core::mail::{MailKind, Priority};
use enki_store::NewMessage;
use enki_tests::{McpClient, Project, text_of};
use serde_json::{Value, json};

use crate::{Execution, create_execution, planner, store};

/// A page answer must stay well under the 256 KiB result cap.
const PAGE_LIMIT: usize = 200 * 1024;

/// 150 steps in one execution; step `s007` has a title of 1 MB.
fn big_plan(client: &mut McpClient) -> Execution {
    let steps: Vec<Value> = (0..150)
        .map(|i| {
            let title = if i == 7 {
                "T".repeat(1024 * 1024)
            } else {
                format!("step {i}")
            };
            json!({"id": format!("s{i:03}"), "title": title})
        })
        .collect();
    create_execution(client, json!(steps))
}

/// Every page of `tool`, following `next_cursor`; checks each page's size.
fn all_pages(client: &mut McpClient, tool: &str, arguments: Value) -> Vec<Value> {
    let mut pages = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut call = arguments.clone();
        if let (Some(c), Some(map)) = (&cursor, call.as_object_mut()) {
            map.insert("cursor".into(), json!(c));
        }
        let response = client.request("tools/call", json!({"name": tool, "arguments": call}));
        let size = response.to_string().len();
        assert!(
            size < PAGE_LIMIT,
            "{tool} page {}: {size} bytes",
            pages.len() + 1
        );
        let result = response["result"].clone();
        assert_eq!(result["isError"], false, "{result}");
        cursor = result["structuredContent"]["next_cursor"]
            .as_str()
            .map(str::to_string);
        let more = cursor.is_some();
        if more {
            assert!(
                text_of(&result).contains("for the next page call"),
                "the text says how to go on"
            );
        }
        pages.push(result);
        if !more {
            return pages;
        }
        assert!(pages.len() < 50, "{tool} never ends");
    }
}

#[test]
fn the_task_list_comes_in_small_pages_that_cover_every_task_once() {
    let project = Project::new();
    let mut client = planner(&project);
    let plan = big_plan(&mut client);
    let pages = all_pages(&mut client, "enki_task_list", json!({}));
    assert!(pages.len() >= 2, "150 tasks take more than one page");
    let mut seen = HashSet::new();
    for page in &pages {
        let data = &page["structuredContent"];
        assert_eq!(data["total"], 150);
        for task in data["tasks"].as_array().expect("tasks") {
            let id = task["id"].as_str().expect("id").to_string();
            assert!(seen.insert(id.clone()), "{id} listed twice");
            let title = task["title"].as_str().unwrap_or_default();
            assert!(
                title.len() < 3000,
                "a listed title is cut: {} bytes",
                title.len()
            );
        }
    }
    assert_eq!(seen.len(), 150);
    let huge = plan.task("s007");
    let listed = pages
        .iter()
        .flat_map(|p| {
            p["structuredContent"]["tasks"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .find(|t| t["id"] == huge)
        .expect("the huge task is listed");
    assert!(
        listed["title"]
            .as_str()
            .is_some_and(|t| t.ends_with("(1048576 chars)")),
        "says how long it was"
    );
    assert!(
        pages
            .last()
            .is_some_and(|p| p["structuredContent"].get("next_cursor").is_none()),
        "the last page has no cursor"
    );

    // Filters still apply, and a cursor of another listing is refused.
    let filtered = all_pages(
        &mut client,
        "enki_task_list",
        json!({"execution_id": plan.id}),
    );
    let count: usize = filtered
        .iter()
        .map(|p| {
            p["structuredContent"]["tasks"]
                .as_array()
                .map_or(0, Vec::len)
        })
        .sum();
    assert_eq!(count, 150);
    let text = client.call_err("enki_task_list", json!({"cursor": "dag.100.task-x"}));
    assert!(text.contains("not a cursor of this listing"), "{text}");
}

#[test]
fn the_dag_comes_in_pages_of_steps_with_their_real_levels() {
    let project = Project::new();
    let mut client = planner(&project);
    // A chain: every step needs the one before, so levels run 0..=119.
    let steps: Vec<Value> = (0..120)
        .map(|i| {
            let needs: Vec<String> = if i == 0 {
                vec![]
            } else {
                vec![format!("s{:03}", i - 1)]
            };
            let title = if i == 50 {
                "D".repeat(1024 * 1024)
            } else {
                format!("step {i}")
            };
            json!({"id": format!("s{i:03}"), "title": title, "needs": needs})
        })
        .collect();
    let plan = create_execution(&mut client, json!(steps));
    create_execution(
        &mut client,
        json!([{"id": "solo", "title": "another execution"}]),
    );

    for arguments in [json!({}), json!({"execution_id": plan.id})] {
        let pages = all_pages(&mut client, "enki_dag", arguments.clone());
        assert!(
            pages.len() >= 2,
            "{arguments}: 120 steps take more than one page"
        );
        let mut levels = Vec::new();
        let mut edges = 0;
        for page in &pages {
            for execution in page["structuredContent"]["executions"]
                .as_array()
                .expect("executions")
            {
                if execution["id"] != plan.id.as_str() {
                    continue;
                }
                for node in execution["nodes"].as_array().expect("nodes") {
                    levels.push(node["level"].as_u64().expect("level"));
                    assert!(node["title"].as_str().unwrap_or_default().len() < 3000);
                }
                edges += execution["edges"].as_array().map_or(0, Vec::len);
            }
        }
        let expected: Vec<u64> = (0..120).collect();
        assert_eq!(
            levels, expected,
            "{arguments}: every step once, at its level in the whole graph"
        );
        assert_eq!(
            edges, 119,
            "{arguments}: each edge once, with the step that needs it"
        );
        let second = text_of(&pages[1]);
        assert!(second.contains("(showing 101-120)"), "{second}");
    }
}

#[test]
fn mail_listings_come_in_pages() {
    let project = Project::new();
    let mut client = planner(&project);
    let mut db = store(&project);
    let mut thread = None;
    for i in 0..130 {
        let body = if i == 3 {
            "B".repeat(1024 * 1024)
        } else {
            format!("body {i}")
        };
        let rows = db
            .send_mail(&NewMessage {
                session: None,
                from: "user".into(),
                to: vec!["coordinator".into()],
                subject: format!("message {i}"),
                body,
                priority: Priority::Normal,
                kind: MailKind::Info,
                thread_id: thread.clone(),
                reply_to: None,
                reply_status: None,
                ttl_seconds: None,
            })
            .expect("send mail");
        thread.get_or_insert_with(|| rows[0].thread_id.clone());
    }
    let thread = thread.expect("a thread");
    for (tool, arguments) in [
        ("enki_mail_inbox", json!({})),
        ("enki_mail_check", json!({})),
        ("enki_mail_thread", json!({"thread_id": thread})),
    ] {
        let pages = all_pages(&mut client, tool, arguments);
        assert!(
            pages.len() >= 2,
            "{tool}: 130 messages take more than one page"
        );
        let mut seen = HashSet::new();
        for page in &pages {
            for message in page["structuredContent"]["messages"]
                .as_array()
                .expect("messages")
            {
                assert!(
                    seen.insert(message["id"].to_string()),
                    "{tool}: a message twice"
                );
                assert!(message["body"].as_str().unwrap_or_default().len() < 3000);
            }
        }
        assert_eq!(seen.len(), 130, "{tool}");
    }
    // A made-up cursor is refused.
    let text = client.call_err("enki_mail_inbox", json!({"cursor": "inbox.x"}));
    assert!(text.contains("`cursor`"), "{text}");
}
