//! Resumable event streams: every event of a session's streams has an id
//! `STREAM-N`; GET with `Last-Event-ID` replays what followed that event on
//! that stream (never another stream's), then goes on with the stream; an id
//! whose successors are no longer kept, or that the session never sent, is
//! refused with what to do. 2025-11-25 sessions get a priming event first.

use enki_tests::Project;
use serde_json::{Value, json};

use crate::{Client, EventStream, HttpServer};

/// The stream part of an event id.
fn stream_of(id: &str) -> &str {
    id.split_once('-').expect("STREAM-N").0
}

/// The place of an event in its stream.
fn place_of(id: &str) -> u64 {
    id.split_once('-')
        .expect("STREAM-N")
        .1
        .parse()
        .expect("a number")
}

/// A task created by another session, so that `enki://tasks` changes.
fn change_tasks(server: &HttpServer, title: &str) {
    let mut other = server.client();
    other.initialize();
    let created = other.call("enki_task_create", json!({"title": title}));
    assert_eq!(created["isError"], false, "{created}");
}

fn is_update(message: &Value) -> bool {
    message["method"] == "notifications/resources/updated"
}

#[test]
fn a_reconnecting_client_gets_what_followed_its_last_event_on_that_stream_only() {
    let project = Project::new();
    let server = HttpServer::start(&project);
    let mut watcher = server.client();
    watcher.initialize();
    let mut stream = watcher.stream(&[]);
    assert_eq!(stream.status, 200);
    let subscribed = watcher.request("resources/subscribe", json!({"uri": "enki://tasks"}));
    assert!(subscribed.get("error").is_none(), "{subscribed}");

    change_tasks(&server, "first");
    let (_, first) = stream.next_message_where(is_update);
    let first = first.expect("events have ids");
    // An answer streamed to a POST in between: a stream of its own.
    let message = watcher.message("ping", json!({}));
    let answer = watcher.post_stream(&message, &[("accept", "text/event-stream")]);
    assert_eq!(answer.content_type.as_deref(), Some("text/event-stream"));
    let (pong, pong_id) = answer.next_message_where(|m| m["id"] == message["id"]);
    assert_eq!(pong["result"], json!({}));
    let pong_id = pong_id.expect("a streamed answer has an id");
    assert_ne!(stream_of(&pong_id), stream_of(&first), "{pong_id} {first}");
    assert!(answer.ends(), "the answer ends its stream");

    change_tasks(&server, "second");
    let (_, second) = stream.next_message_where(is_update);
    let second = second.expect("an id");
    assert_eq!(stream_of(&second), stream_of(&first));
    // The connection breaks; the client says it read only the first.
    stream.close();
    let resumed = watcher.stream(&[("last-event-id", &first)]);
    assert_eq!(resumed.status, 200);
    let (replayed, replayed_id) = resumed.next_message_where(|_| true);
    assert!(
        is_update(&replayed),
        "only this stream's events: {replayed}"
    );
    assert_eq!(replayed_id.as_deref(), Some(second.as_str()));
    // And the stream goes on.
    change_tasks(&server, "third");
    let (_, third) = resumed.next_message_where(is_update);
    let third = third.expect("an id");
    assert_eq!(stream_of(&third), stream_of(&first));
    assert_eq!(place_of(&third), place_of(&second) + 1, "{second} {third}");

    // A streamed answer can be read again after its end, and that is all.
    let again = watcher.stream(&[("last-event-id", &format!("{}-0", stream_of(&pong_id)))]);
    assert_eq!(again.status, 200);
    let (pong_again, id_again) = again.next_message_where(|_| true);
    assert_eq!(pong_again, pong);
    assert_eq!(id_again, Some(pong_id));
    assert!(again.ends(), "a finished stream ends after the replay");
}

#[test]
fn an_id_too_old_or_never_sent_is_refused_with_what_to_do() {
    let project = Project::new();
    let server = HttpServer::start(&project);
    let mut client = server.client();
    client.initialize();
    let first = client.message("ping", json!({}));
    let answer = client.post_stream(&first, &[("accept", "text/event-stream")]);
    let (_, first_id) = answer.next_message_where(|_| true);
    let first_id = first_id.expect("an id");
    // Enough answers that the first is no longer kept (256 events a session).
    for _ in 0..300 {
        let message = client.message("ping", json!({}));
        let reply = client.post_raw(
            message.to_string().as_bytes(),
            &[("accept", "text/event-stream")],
        );
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert!(reply.text().contains("\nid: ") || reply.text().starts_with("id: "));
    }
    let start = format!("{}-0", stream_of(&first_id));
    let refused = client.method(
        "GET",
        &[("accept", "text/event-stream"), ("last-event-id", &start)],
    );
    assert_eq!(refused.status, 400, "{}", refused.text());
    let text = refused.json()["error"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        text.contains("no longer kept") && text.contains("without Last-Event-ID"),
        "{text}"
    );
    for (id, says) in [("99999-1", "never had"), ("not-an-id", "not an event id")] {
        let refused = client.method(
            "GET",
            &[("accept", "text/event-stream"), ("last-event-id", id)],
        );
        assert_eq!(refused.status, 400, "{id}: {}", refused.text());
        assert!(refused.text().contains(says), "{id}: {}", refused.text());
    }
    // A GET without Last-Event-ID is still a fresh stream.
    let fresh: EventStream = client.stream(&[]);
    assert_eq!(fresh.status, 200);
}

#[test]
fn a_2025_11_25_stream_starts_with_a_priming_event() {
    let project = Project::new();
    let server = HttpServer::start(&project);
    let mut client: Client = server.client();
    client.initialize_as("2025-11-25", json!({}));
    let stream = client.stream(&[]);
    let priming = stream.next_event();
    let id = priming.id.clone().expect("the priming event has an id");
    assert!(id.ends_with("-0"), "{id}");
    assert!(priming.data.trim().is_empty(), "{priming:?}");
    // Resuming from it right away replays nothing and goes on.
    let resumed = client.stream(&[("last-event-id", &id)]);
    assert_eq!(resumed.status, 200);
    let subscribed = client.request("resources/subscribe", json!({"uri": "enki://tasks"}));
    assert!(subscribed.get("error").is_none(), "{subscribed}");
    change_tasks(&server, "primed");
    let (update, update_id) = resumed.next_message_where(is_update);
    assert_eq!(update["params"]["uri"], "enki://tasks");
    assert_eq!(
        update_id.map(|i| stream_of(&i).to_string()),
        Some(stream_of(&id).to_string())
    );
}
