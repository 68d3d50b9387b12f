//! Steps that end or break a turn: hang then cancel, fail, stop, garbage,
//! crash and exit.

use enki_tests::one_turn;
use serde_json::{Value, json};

use crate::Fixture;

#[test]
fn hang_then_session_cancel_ends_with_cancelled() {
    let fixture = Fixture::new(&[
        (
            "hang.toml",
            &one_turn("{ say = \"hanging\" },\n{ hang = true },\n{ say = \"never\" }"),
        ),
        (
            "sleepy.toml",
            &one_turn("{ say = \"sleeping\" },\n{ sleep_ms = 600000 }"),
        ),
    ]);
    let (mut agent, session) = fixture.agent(false);
    for (script, said) in [("hang", "hanging"), ("sleepy", "sleeping")] {
        let id = agent.send_prompt(&session, &format!("[[sim:{script}]]"));
        // Wait until the turn is under way, then cancel it.
        let line: Value = serde_json::from_str(&agent.read_line()).unwrap();
        assert_eq!(line["params"]["update"]["content"]["text"], said, "{line}");
        // A second prompt while one runs is refused.
        let busy = agent.send_prompt(&session, "[[sim:hang]]");
        let refused = agent.wait_response(busy);
        assert_eq!(
            refused.response["error"]["code"], -32602,
            "{}",
            refused.response
        );
        agent.send(&json!({"jsonrpc": "2.0", "method": "session/cancel",
                           "params": {"sessionId": session}}));
        let turn = agent.wait_response(id);
        assert_eq!(turn.stop_reason(), "cancelled", "{}", turn.response);
        assert!(!turn.text().contains("never"));
    }
    // The session takes prompts again.
    let turn = agent.prompt(&session, "hello");
    assert_eq!(turn.stop_reason(), "end_turn");
    assert_eq!(agent.finish().code(), Some(0));
}

#[test]
fn fail_is_a_json_rpc_error_on_the_prompt() {
    let fixture = Fixture::new(&[(
        "f.toml",
        &one_turn(
            "{ say = \"trying\" },\n{ fail = \"something broke in {{session}}\" },\n{ say = \"never\" }",
        ),
    )]);
    let (mut agent, session) = fixture.agent(false);
    let turn = agent.prompt(&session, "[[sim:f]]");
    assert_eq!(
        turn.error_message(),
        format!("something broke in {session}")
    );
    assert_eq!(turn.text(), "trying");
    assert_eq!(agent.finish().code(), Some(0));
}

#[test]
fn stop_ends_the_turn_with_that_reason() {
    let fixture = Fixture::new(&[(
        "s.toml",
        &one_turn("{ say = \"partial\" },\n{ stop = \"max_tokens\" },\n{ say = \"never\" }"),
    )]);
    let (mut agent, session) = fixture.agent(false);
    let turn = agent.prompt(&session, "[[sim:s]]");
    assert_eq!(turn.stop_reason(), "max_tokens");
    assert_eq!(turn.text(), "partial");
    assert_eq!(agent.finish().code(), Some(0));
}

#[test]
fn garbage_writes_a_non_json_line_and_goes_on() {
    let fixture = Fixture::new(&[(
        "g.toml",
        &one_turn("{ garbage = \"this is not json\" },\n{ say = \"still here\" }"),
    )]);
    let (mut agent, session) = fixture.agent(false);
    let turn = agent.prompt(&session, "[[sim:g]]");
    assert_eq!(turn.garbage, ["this is not json"]);
    assert_eq!(turn.stop_reason(), "end_turn");
    assert_eq!(turn.text(), "still here");
    assert_eq!(agent.finish().code(), Some(0));
}

#[test]
fn crash_exits_non_zero_without_answering() {
    let fixture = Fixture::new(&[(
        "c.toml",
        &one_turn("{ say = \"about to crash\" },\n{ crash = true }"),
    )]);
    let (mut agent, session) = fixture.agent(false);
    let id = agent.send_prompt(&session, "[[sim:c]]");
    let status = agent.wait_exit();
    assert_eq!(status.code(), Some(3));
    let lines = agent.remaining_lines();
    assert_eq!(lines.len(), 1, "only the chunk before the crash: {lines:?}");
    let answered = lines
        .iter()
        .any(|l| serde_json::from_str::<Value>(l).is_ok_and(|v| v["id"] == json!(id)));
    assert!(!answered, "{lines:?}");
}

#[test]
fn exit_step_exits_with_its_code_mid_turn() {
    let fixture = Fixture::new(&[("e.toml", &one_turn("{ exit = 0 }"))]);
    let (mut agent, session) = fixture.agent(false);
    agent.send_prompt(&session, "[[sim:e]]");
    assert_eq!(agent.wait_exit().code(), Some(0));
    assert!(
        agent.remaining_lines().is_empty(),
        "no answer to the prompt"
    );

    let fixture = Fixture::new(&[("e.toml", &one_turn("{ exit = 42 }"))]);
    let (mut agent, session) = fixture.agent(false);
    agent.send_prompt(&session, "[[sim:e]]");
    assert_eq!(agent.wait_exit().code(), Some(42));
}
