//! Every fault mode: missing agent, exit at once, garbage, no answer to
//! `initialize`, stray responses, crash or exit mid-turn, a failed turn.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use enki_acp::{
    AcpClient, AcpError, AgentCommand, AgentEvent, ClientOptions, StopReason, WithinCwd,
};
use enki_tests::one_turn;

use crate::{
    Fixture, SAFETY, Sim, events_until_exit, message_text, options, pid_exists, trace, within,
};

#[tokio::test]
async fn a_missing_agent_is_a_spawn_error() {
    let fixture = Fixture::new(&[]);
    let err = AcpClient::spawn(
        AgentCommand::new("/no/such/dir/enki-agent", fixture.cwd()),
        options(Arc::new(WithinCwd)),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&err, AcpError::Spawn { program, .. } if program == "/no/such/dir/enki-agent"),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "cannot start agent `/no/such/dir/enki-agent`: no such file"
    );

    let err = AcpClient::spawn(
        AgentCommand::new("enki-no-such-agent-on-path", fixture.cwd()),
        options(Arc::new(WithinCwd)),
    )
    .await
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot start agent `enki-no-such-agent-on-path`: not found on PATH"
    );

    let not_executable = fixture.outside("agent.txt");
    std::fs::write(&not_executable, "not a program").unwrap();
    std::fs::set_permissions(&not_executable, std::fs::Permissions::from_mode(0o644)).unwrap();
    let program = not_executable.display().to_string();
    let err = AcpClient::spawn(
        AgentCommand::new(program.clone(), fixture.cwd()),
        options(Arc::new(WithinCwd)),
    )
    .await
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("cannot start agent `{program}`: permission denied (is it executable?)")
    );
}

#[tokio::test]
async fn an_agent_that_exits_at_once_reports_its_status_and_stderr() {
    let fixture = Fixture::new(&[]);
    let missing = fixture.outside("missing.toml");
    let command = fixture.sim(&["--script", &missing.display().to_string()]);
    let (client, mut events) = AcpClient::spawn(command, options(Arc::new(WithinCwd)))
        .await
        .unwrap();
    let err = within("initialize", client.initialize()).await.unwrap_err();
    let AcpError::Exited {
        status: Some(status),
        stderr_tail,
    } = &err
    else {
        panic!("expected Exited, got {err:?}");
    };
    assert_eq!(status.code(), Some(2));
    assert!(
        stderr_tail
            .iter()
            .any(|l| l.starts_with("enki sim-agent: ") && l.contains("missing.toml")),
        "{stderr_tail:?}"
    );
    let text = err.to_string();
    assert!(
        text.starts_with("agent exited (status 2); stderr: enki sim-agent: "),
        "{text}"
    );
    assert!(text.contains(&missing.display().to_string()), "{text}");
    assert_eq!(client.stderr_tail(), *stderr_tail);
    let log = std::fs::read_to_string(fixture.log()).unwrap();
    assert!(log.contains("missing.toml"), "{log}");

    // Everything after that fails the same way, at once.
    assert!(matches!(
        client.new_session(&fixture.cwd(), &[]).await,
        Err(AcpError::Exited { .. })
    ));
    assert!(matches!(
        client.prompt("sim-1", "hello").await,
        Err(AcpError::Exited { .. })
    ));
    assert!(matches!(
        client.cancel("sim-1").await,
        Err(AcpError::Exited { .. })
    ));
    let all = events_until_exit(&mut events).await;
    assert_eq!(trace(&all), ["exited"]);
    let status = within("shutdown", client.shutdown()).await;
    assert_eq!(status.and_then(|s| s.code()), Some(2));
}

#[tokio::test]
async fn garbage_is_a_protocol_error_and_the_turn_still_completes() {
    let fixture = Fixture::new(&[(
        "g.toml",
        &one_turn(
            "{ say = \"before\" },\n\
             { garbage = \"Loading model... this is not json\" },\n\
             { say = \" still here\" }",
        ),
    )]);
    let mut sim = Sim::start(&fixture, Arc::new(WithinCwd)).await;
    assert_eq!(sim.prompt("[[sim:g]]").await.unwrap(), StopReason::EndTurn);
    let events = sim.drain();
    assert_eq!(trace(&events), ["message", "protocol_error", "message"]);
    let AgentEvent::ProtocolError(message) = &events[1] else {
        unreachable!()
    };
    assert!(
        message.starts_with("invalid message from agent (")
            && message.ends_with("): Loading model... this is not json"),
        "{message}"
    );
    assert_eq!(message_text(&events), "before still here");
    // The connection still works.
    assert_eq!(sim.prompt("[[sim:g]]").await.unwrap(), StopReason::EndTurn);
    sim.finish().await;
}

#[tokio::test]
async fn an_agent_that_never_answers_initialize_times_out_and_is_killed() {
    let fixture = Fixture::new(&[]);
    let command = AgentCommand {
        program: "/bin/sh".into(),
        args: vec![
            "-c".into(),
            "echo 'warming up the model' >&2; exec sleep 30".into(),
        ],
        cwd: fixture.cwd(),
        ..AgentCommand::default()
    };
    let grace = Duration::from_millis(300);
    let options = ClientOptions {
        request_timeout: Duration::from_millis(500),
        shutdown_grace: grace,
        permission: Arc::new(WithinCwd),
        ..ClientOptions::default()
    };
    let (client, mut events) = AcpClient::spawn(command, options).await.unwrap();
    let pid = client.pid().expect("running");
    // Wait (bounded) for its stderr line, so the tail below is known.
    let started = Instant::now();
    while client.stderr_tail().is_empty() {
        assert!(started.elapsed() < SAFETY, "no stderr from the agent");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let err = within("initialize", client.initialize()).await.unwrap_err();
    let AcpError::Timeout {
        method,
        after,
        stderr_tail,
        ..
    } = &err
    else {
        panic!("expected Timeout, got {err:?}");
    };
    assert_eq!(method, "initialize");
    assert_eq!(*after, Duration::from_millis(500));
    assert_eq!(stderr_tail, &["warming up the model"]);
    assert_eq!(
        err.to_string(),
        "agent did not answer `initialize` within 500ms; stderr: warming up the model"
    );
    assert_eq!(client.pid(), Some(pid), "a timeout alone kills nothing");

    // It ignores stdin closing: shutdown SIGTERMs its group after the grace.
    let started = Instant::now();
    let status = within("shutdown", client.shutdown()).await.expect("status");
    let took = started.elapsed();
    assert_eq!(status.signal(), Some(15), "SIGTERM: {status:?}");
    assert!(took >= grace, "{took:?}");
    assert!(took < Duration::from_secs(10), "{took:?}");
    assert!(!pid_exists(pid));
    let all = events_until_exit(&mut events).await;
    assert_eq!(trace(&all), ["exited"]);
    let AgentEvent::Exited { status, .. } = &all[0] else {
        unreachable!()
    };
    assert_eq!(status.and_then(|s| s.signal()), Some(15));
}

#[tokio::test]
async fn responses_to_unknown_ids_are_reported_and_survived() {
    let fixture = Fixture::new(&[(
        "stray.toml",
        &one_turn(
            "{ garbage = '{\"jsonrpc\":\"2.0\",\"id\":4242,\"result\":{\"late\":true}}' },\n\
             { garbage = '{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32000,\"message\":\"lost\"}}' },\n\
             { say = \"survived\" }",
        ),
    )]);
    let mut sim = Sim::start(&fixture, Arc::new(WithinCwd)).await;
    assert_eq!(
        sim.prompt("[[sim:stray]]").await.unwrap(),
        StopReason::EndTurn
    );
    let events = sim.drain();
    assert_eq!(
        trace(&events),
        ["protocol_error", "protocol_error", "message"]
    );
    assert_eq!(
        events[0],
        AgentEvent::ProtocolError(
            "agent answered request id 4242, which is not pending (unknown or timed out)".into()
        )
    );
    let AgentEvent::ProtocolError(message) = &events[1] else {
        unreachable!()
    };
    assert!(
        message.starts_with("agent sent a response with a null id") && message.contains("lost"),
        "{message}"
    );
    assert_eq!(message_text(&events), "survived");
    // The pending prompt was not confused with the stray response: the next
    // request works too.
    within("session/new", sim.client.new_session(&fixture.cwd(), &[]))
        .await
        .unwrap();
    sim.finish().await;
}

#[tokio::test]
async fn a_crash_mid_turn_ends_the_prompt_promptly() {
    let fixture = Fixture::new(&[(
        "c.toml",
        &one_turn("{ say = \"about to crash\" },\n{ crash = true },\n{ say = \"never\" }"),
    )]);
    let mut sim = Sim::start(&fixture, Arc::new(WithinCwd)).await;
    let started = Instant::now();
    let err = sim.prompt("[[sim:c]]").await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(10), "{err}");
    let AcpError::Exited {
        status: Some(status),
        stderr_tail,
    } = &err
    else {
        panic!("expected Exited, got {err:?}");
    };
    assert_eq!(status.code(), Some(3));
    assert_eq!(
        stderr_tail.last().map(String::as_str),
        Some("enki sim-agent: exiting with status 3 mid-turn, as scripted")
    );
    let text = err.to_string();
    assert!(
        text.starts_with("agent exited (status 3); stderr: ")
            && text.ends_with("enki sim-agent: exiting with status 3 mid-turn, as scripted"),
        "{text}"
    );
    let all = events_until_exit(&mut sim.events).await;
    assert_eq!(trace(&all), ["message", "exited"]);
    assert_eq!(message_text(&all), "about to crash");
    // Later requests fail at once with the same error.
    let again = sim.prompt("[[sim:c]]").await.unwrap_err();
    assert_eq!(again.to_string(), text);
    let status = within("shutdown", sim.client.shutdown()).await;
    assert_eq!(status.and_then(|s| s.code()), Some(3));
}

#[tokio::test]
async fn an_exit_step_mid_turn_ends_the_prompt_with_its_status() {
    for code in [0, 42] {
        let fixture = Fixture::new(&[("e.toml", &one_turn(&format!("{{ exit = {code} }}")))]);
        let mut sim = Sim::start(&fixture, Arc::new(WithinCwd)).await;
        let err = sim.prompt("[[sim:e]]").await.unwrap_err();
        let AcpError::Exited {
            status: Some(status),
            ..
        } = &err
        else {
            panic!("expected Exited, got {err:?}");
        };
        assert_eq!(status.code(), Some(code));
        let text = err.to_string();
        assert!(
            text.starts_with(&format!("agent exited (status {code}); stderr: "))
                && text.ends_with(&format!("exiting with status {code} mid-turn, as scripted")),
            "{text}"
        );
        let all = events_until_exit(&mut sim.events).await;
        assert_eq!(trace(&all), ["exited"]);
        within("shutdown", sim.client.shutdown()).await;
    }
}

#[tokio::test]
async fn a_failing_turn_is_an_rpc_error_and_the_agent_goes_on() {
    let fixture = Fixture::new(&[
        (
            "f.toml",
            &one_turn(
                "{ say = \"trying\" },\n{ fail = \"something broke in {{session}}\" },\n{ say = \"never\" }",
            ),
        ),
        ("ok.toml", &one_turn("{ stop = \"max_tokens\" }")),
    ]);
    let mut sim = Sim::start(&fixture, Arc::new(WithinCwd)).await;
    let err = sim.prompt("[[sim:f]]").await.unwrap_err();
    // The agent's message says it all; what it wrote on stderr stays in
    // the error value, out of the message.
    assert_eq!(
        err.to_string(),
        format!(
            "agent answered `session/prompt` with error -32603: something broke in {}",
            sim.session
        )
    );
    assert!(!err.stderr_tail().is_empty(), "{err:?}");
    assert_eq!(message_text(&sim.drain()), "trying");
    assert_eq!(
        sim.prompt("[[sim:ok]]").await.unwrap(),
        StopReason::MaxTokens
    );
    sim.finish().await;
}
