//! `resources/subscribe` and `notifications/resources/updated`: changes
//! made by another `enki mcp` process reach a subscriber on the server's
//! timer, its own changes right after the call, and nothing is sent for
//! what it did not subscribe to or unsubscribed from.

use std::time::Duration;

use enki_tests::{Project, is_notification};
use serde_json::{Value, json};

use crate::{NOTICE, error, execution, merger, ok, planner, read, worker};

fn updated_uri(notification: &Value) -> String {
    notification["params"]["uri"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn wait_updated(client: &mut enki_tests::McpClient, uri: &str) -> Value {
    client.wait_notification("notifications/resources/updated", NOTICE, |n| {
        updated_uri(n) == uri
    })
}

/// The `updated` URIs among the notifications kept so far.
fn kept_updates(client: &mut enki_tests::McpClient) -> Vec<String> {
    client
        .take_notifications()
        .iter()
        .filter(|n| n["method"] == "notifications/resources/updated")
        .map(updated_uri)
        .collect()
}

#[test]
fn a_subscriber_is_told_when_another_server_changes_what_a_resource_shows() {
    let project = Project::new();
    let mut boss = planner(&project);
    let (_, tasks) = execution(&mut boss);
    let a = tasks["a"].clone();
    let task_uri = format!("enki://task/{}", &a[..20]);
    ok(&mut boss, "resources/subscribe", json!({"uri": task_uri}));
    ok(
        &mut boss,
        "resources/subscribe",
        json!({"uri": "enki://status"}),
    );
    ok(&mut boss, "ping", json!({}));
    assert!(kept_updates(&mut boss).is_empty(), "nothing changed yet");

    // A worker's own server records what it is doing: its task changes,
    // the counts do not.
    let mut hand = worker(&project, &a);
    hand.call_ok(
        "enki_worker_report",
        json!({"status": "compiling the parser"}),
    );
    let told = wait_updated(&mut boss, &task_uri);
    assert_eq!(told["jsonrpc"], "2.0");
    assert!(is_notification(&told), "{told}");
    assert!(read(&mut boss, &task_uri).contains("compiling the parser"));
    ok(&mut boss, "ping", json!({}));
    assert_eq!(
        kept_updates(&mut boss),
        Vec::<String>::new(),
        "status is unchanged"
    );

    // Another planner adds a task: the counts change.
    let mut other = planner(&project);
    other.call_ok("enki_task_create", json!({"title": "one more"}));
    wait_updated(&mut boss, "enki://status");
    assert!(read(&mut boss, "enki://status").contains("3 tasks"));
}

#[test]
fn a_servers_own_tool_calls_are_seen_at_once_and_unsubscribing_stops_updates() {
    let project = Project::new();
    let mut boss = planner(&project);
    let (_, tasks) = execution(&mut boss);
    let a = tasks["a"].clone();
    ok(
        &mut boss,
        "resources/subscribe",
        json!({"uri": "enki://tasks"}),
    );
    // Its own write does not move its connection's data_version: the call
    // itself makes the server look.
    boss.call_ok("enki_task_create", json!({"title": "written by me"}));
    ok(&mut boss, "ping", json!({}));
    assert_eq!(kept_updates(&mut boss), ["enki://tasks"]);

    // A worker's inbox, changed by the planner's mail.
    let mut hand = worker(&project, &a);
    ok(
        &mut hand,
        "resources/subscribe",
        json!({"uri": "enki://mail/inbox"}),
    );
    boss.call_ok(
        "enki_mail_send",
        json!({"to": format!("worker/{a}"), "subject": "first", "body": "x"}),
    );
    wait_updated(&mut hand, "enki://mail/inbox");
    ok(
        &mut hand,
        "resources/unsubscribe",
        json!({"uri": "enki://mail/inbox"}),
    );
    boss.call_ok(
        "enki_mail_send",
        json!({"to": format!("worker/{a}"), "subject": "second", "body": "y"}),
    );
    // Longer than the timer's period: it has looked at least once.
    std::thread::sleep(Duration::from_millis(2500));
    ok(&mut hand, "ping", json!({}));
    assert!(kept_updates(&mut hand).is_empty(), "unsubscribed");
    assert!(read(&mut hand, "enki://mail/inbox").contains("second"));
}

#[test]
fn only_resources_the_role_may_read_can_be_subscribed() {
    let project = Project::new();
    let mut boss = planner(&project);
    let (_, tasks) = execution(&mut boss);
    let mut merging = merger(&project, &tasks["a"]);
    let refused = error(
        &mut merging,
        "resources/subscribe",
        json!({"uri": "enki://mail/inbox"}),
    );
    assert_eq!(refused["code"], -32002, "{refused}");
    let unknown = error(
        &mut boss,
        "resources/subscribe",
        json!({"uri": "enki://task/task-7ZZZZZ"}),
    );
    assert_eq!(unknown["code"], -32002, "{unknown}");
    let no_uri = error(
        &mut boss,
        "resources/subscribe",
        json!({"url": "enki://status"}),
    );
    assert_eq!(no_uri["code"], -32602, "{no_uri}");
    // Unsubscribing from what was never subscribed is harmless.
    ok(
        &mut boss,
        "resources/unsubscribe",
        json!({"uri": "enki://status"}),
    );
}
