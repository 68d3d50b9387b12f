//! `session/load` and `session/resume` through the client against the sim:
//! a second agent process takes up the first one's session, a load replays
//! its prompts, and the session's turn counter goes on.

use std::sync::Arc;

use enki_acp::{AcpClient, AgentEvent, Continuation, SessionUpdate, WithinCwd};

use crate::{Fixture, message_text, options, within};

const TWO_TURNS: &str = r#"
[[turn]]
steps = [{ say = "turn one" }]
[[turn]]
steps = [{ say = "turn two" }]
"#;

/// Runs one prompt in a new session of a first sim and returns its id.
async fn first_session(fixture: &Fixture) -> String {
    let (client, mut events) = AcpClient::spawn(fixture.sim(&[]), options(Arc::new(WithinCwd)))
        .await
        .unwrap();
    within("initialize", client.initialize()).await.unwrap();
    let session = within("session/new", client.new_session(&fixture.cwd(), &[]))
        .await
        .unwrap();
    within("prompt", client.prompt(&session, "[[sim:two]] start"))
        .await
        .unwrap();
    client.shutdown().await;
    let mut seen = Vec::new();
    while let Ok(event) = events.try_recv() {
        seen.push(event);
    }
    assert_eq!(message_text(&seen), "turn one");
    session
}

/// Takes the session up in a second sim, `how`, and prompts it once more;
/// returns what arrived before the prompt and the prompt's message text.
async fn take_up(fixture: &Fixture, session: &str, how: Continuation) -> (Vec<AgentEvent>, String) {
    let (client, mut events) = AcpClient::spawn(fixture.sim(&[]), options(Arc::new(WithinCwd)))
        .await
        .unwrap();
    let init = within("initialize", client.initialize()).await.unwrap();
    assert_eq!(init.continuation(), Some(Continuation::Resume));
    let taken = within(
        how.method(),
        client.continue_session(how, session, &fixture.cwd(), &[]),
    )
    .await
    .unwrap();
    assert_eq!(taken.session_id, session);
    let mut before = Vec::new();
    while let Ok(event) = events.try_recv() {
        before.push(event);
    }
    within("prompt", client.prompt(session, "continue"))
        .await
        .unwrap();
    client.shutdown().await;
    let mut after = Vec::new();
    while let Ok(event) = events.try_recv() {
        after.push(event);
    }
    (before, message_text(&after))
}

#[tokio::test]
async fn a_loaded_session_replays_its_prompts_and_runs_its_next_turn() {
    let fixture = Fixture::new(&[("two.toml", TWO_TURNS)]);
    let session = first_session(&fixture).await;
    let (replayed, said) = take_up(&fixture, &session, Continuation::Load).await;
    let prompts: Vec<&str> = replayed
        .iter()
        .filter_map(|e| match e {
            AgentEvent::Update {
                update: SessionUpdate::UserMessageChunk { text },
                ..
            } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(prompts, ["[[sim:two]] start"]);
    assert_eq!(said, "turn two");
}

#[tokio::test]
async fn a_resumed_session_replays_nothing_and_runs_its_next_turn() {
    let fixture = Fixture::new(&[("two.toml", TWO_TURNS)]);
    let session = first_session(&fixture).await;
    let (replayed, said) = take_up(&fixture, &session, Continuation::Resume).await;
    assert!(
        !replayed
            .iter()
            .any(|e| matches!(e, AgentEvent::Update { .. })),
        "{replayed:?}"
    );
    assert_eq!(said, "turn two");
}

#[tokio::test]
async fn an_unknown_session_is_refused_with_the_reason() {
    let fixture = Fixture::new(&[]);
    let (client, _events) = AcpClient::spawn(fixture.sim(&[]), options(Arc::new(WithinCwd)))
        .await
        .unwrap();
    within("initialize", client.initialize()).await.unwrap();
    let error = within(
        "session/load",
        client.continue_session(Continuation::Load, "sim-none", &fixture.cwd(), &[]),
    )
    .await
    .unwrap_err();
    assert!(
        error.to_string().contains("no session 'sim-none' is kept"),
        "{error}"
    );
    client.shutdown().await;
}
