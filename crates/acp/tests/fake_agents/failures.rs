//! Agents that misbehave: exit at once or mid-turn, stay silent, write
//! garbage, or let a turn run past its time limit.

use std::time::{Duration, Instant};

use enki_acp::{AcpClient, AcpError, AgentEvent, SessionUpdate};

use crate::{Fixture, SAFETY, drain, events_until_exit, next_event, options, wait_until};

#[tokio::test]
async fn agent_that_exits_at_once_reports_status_and_stderr() {
    let fx = Fixture::new();
    let mut command = fx.agent(
        "dies.sh",
        "echo 'starting up' >&2\necho 'fatal: no API key configured' >&2\nexit 3\n",
    );
    command.stderr_log = Some(fx.path("agent.log"));
    let (client, mut events) = AcpClient::spawn(command, options()).await.unwrap();
    let err = client.initialize().await.unwrap_err();
    let AcpError::Exited {
        status: Some(status),
        stderr_tail,
    } = &err
    else {
        panic!("expected Exited, got {err:?}");
    };
    assert_eq!(status.code(), Some(3));
    assert_eq!(
        stderr_tail,
        &["starting up", "fatal: no API key configured"]
    );
    let text = err.to_string();
    assert!(text.contains("agent exited (status 3)"), "{text}");
    assert!(text.contains("fatal: no API key configured"), "{text}");
    assert_eq!(client.stderr_tail(), *stderr_tail);
    assert!(fx.read("agent.log").contains("fatal: no API key"));

    // Everything after that fails the same way, at once.
    assert!(matches!(
        client.new_session(&fx.cwd(), &[]).await,
        Err(AcpError::Exited { .. })
    ));
    assert!(matches!(
        client.cancel("s").await,
        Err(AcpError::Exited { .. })
    ));
    let all = events_until_exit(&mut events).await;
    assert!(
        matches!(all.as_slice(), [AgentEvent::Exited { status: Some(s), .. }] if s.code() == Some(3))
    );
    assert_eq!(client.shutdown().await.unwrap().code(), Some(3));
}

#[tokio::test]
async fn agent_dying_mid_turn_ends_the_prompt() {
    let fx = Fixture::new();
    let body = r#"
while IFS= read -r line; do
  id=$(idof "$line")
  case "$line" in
    *'"method":"initialize"'*) reply "$id" "$INIT" ;;
    *'"method":"session/new"'*) reply "$id" '{"sessionId":"sess-1"}' ;;
    *'"method":"session/prompt"'*)
      update '{"sessionUpdate":"agent_message_chunk","content":{"type":"text","text":"working"}}'
      echo "panic: out of memory" >&2
      exit 7 ;;
  esac
done
"#;
    let (client, mut events) = AcpClient::spawn(fx.agent("crash.sh", body), options())
        .await
        .unwrap();
    client.initialize().await.unwrap();
    let session = client.new_session(&fx.cwd(), &[]).await.unwrap();
    let err = client.prompt(&session, "go").await.unwrap_err();
    assert!(
        matches!(&err, AcpError::Exited { status: Some(s), stderr_tail } if s.code() == Some(7) && stderr_tail == &["panic: out of memory"]),
        "{err:?}"
    );
    let all = events_until_exit(&mut events).await;
    assert!(matches!(
        &all[0],
        AgentEvent::Update { update: SessionUpdate::AgentMessageChunk { text }, .. } if text == "working"
    ));
    assert_eq!(all.len(), 2, "{all:?}");
    client.shutdown().await;
}

#[tokio::test]
async fn silent_agent_times_out_with_stderr_tail() {
    let fx = Fixture::new();
    let body = "echo 'booting slowly' >&2\nwhile IFS= read -r line; do :; done\n";
    let mut opts = options();
    opts.request_timeout = Duration::from_millis(300);
    let (client, mut events) = AcpClient::spawn(fx.agent("silent.sh", body), opts)
        .await
        .unwrap();
    wait_until("the stderr line", || {
        client.stderr_tail() == ["booting slowly"]
    })
    .await;
    let err = client.initialize().await.unwrap_err();
    let AcpError::Timeout {
        method,
        after,
        stderr_tail,
        protocol_errors,
    } = &err
    else {
        panic!("expected Timeout, got {err:?}");
    };
    assert_eq!(method, "initialize");
    assert_eq!(*after, Duration::from_millis(300));
    assert_eq!(stderr_tail, &["booting slowly"]);
    assert!(protocol_errors.is_empty());
    assert_eq!(
        err.to_string(),
        "agent did not answer `initialize` within 300ms; stderr: booting slowly"
    );
    // The agent reads stdin, so closing it ends it.
    assert_eq!(client.shutdown().await.unwrap().code(), Some(0));
    assert!(matches!(
        events_until_exit(&mut events).await.as_slice(),
        [AgentEvent::Exited { .. }]
    ));
}

#[tokio::test]
async fn garbage_and_unknown_response_ids_are_reported_and_survived() {
    let fx = Fixture::new();
    let body = r#"
while IFS= read -r line; do
  id=$(idof "$line")
  case "$line" in
    *'"method":"initialize"'*)
      echo 'Loading model... this is not JSON'
      echo '{"jsonrpc":"2.0","id":4242,"result":{"late":true}}'
      echo '[1,2,3]'
      echo ''
      reply "$id" "$INIT" ;;
    *'"method":"session/new"'*) reply "$id" '{"sessionId":"sess-1"}' ;;
  esac
done
"#;
    let (client, mut events) = AcpClient::spawn(fx.agent("noisy.sh", body), options())
        .await
        .unwrap();
    client.initialize().await.unwrap();
    let errors: Vec<String> = drain(&mut events)
        .into_iter()
        .map(|e| match e {
            AgentEvent::ProtocolError(msg) => msg,
            other => panic!("unexpected event {other:?}"),
        })
        .collect();
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert!(errors[0].contains("Loading model"), "{}", errors[0]);
    assert!(errors[1].contains("4242"), "{}", errors[1]);
    assert!(errors[2].contains("batch"), "{}", errors[2]);
    assert_eq!(client.new_session(&fx.cwd(), &[]).await.unwrap(), "sess-1");
    assert_eq!(client.shutdown().await.unwrap().code(), Some(0));
}

#[tokio::test]
async fn an_agent_that_writes_only_garbage_fails_initialize_early() {
    let fx = Fixture::new();
    // Like an agent started without its ACP flag: prose on stdout.
    let body =
        "echo 'starting up' >&2\nwhile IFS= read -r line; do echo 'this is not json'; done\n";
    let mut opts = options();
    opts.not_acp_grace = Duration::from_millis(200);
    let (client, mut events) = AcpClient::spawn(fx.agent("garbage.sh", body), opts)
        .await
        .unwrap();
    let started = Instant::now();
    let err = client.initialize().await.unwrap_err();
    assert!(started.elapsed() < SAFETY, "failed early");
    let AcpError::NotAcp { method, line, .. } = &err else {
        panic!("expected NotAcp, got {err:?}");
    };
    assert_eq!(
        (method.as_str(), line.as_str()),
        ("initialize", "this is not json")
    );
    let text = err.to_string();
    assert!(
        text.starts_with(
            "agent did not answer `initialize`: its stdout is not ACP (it wrote `this is not json`"
        ),
        "{text}"
    );
    assert!(
        matches!(next_event(&mut events).await, AgentEvent::ProtocolError(m) if m.contains("this is not json"))
    );
    client.shutdown().await;
}

/// Never answers a prompt; answers `session/cancel` with `cancelled` only
/// when `$1` is `polite`.
const SLOW_AGENT: &str = r#"
prompt=
while IFS= read -r line; do
  id=$(idof "$line")
  case "$line" in
    *'"method":"initialize"'*) reply "$id" "$INIT" ;;
    *'"method":"session/new"'*) reply "$id" '{"sessionId":"sess-1"}' ;;
    *'"method":"session/prompt"'*) prompt=$id; echo "prompt received" >&2 ;;
    *'"method":"session/cancel"'*)
      if [ "$MODE" = polite ]; then reply "$prompt" '{"stopReason":"cancelled"}'; fi ;;
  esac
done
"#;

#[tokio::test]
async fn a_turn_with_a_time_limit_is_cancelled_when_it_runs_out() {
    for polite in [true, false] {
        let fx = Fixture::new();
        let mut command = fx.agent("slow.sh", SLOW_AGENT);
        command.env = vec![("MODE".into(), if polite { "polite" } else { "rude" }.into())];
        let mut opts = options();
        opts.shutdown_grace = Duration::from_millis(300);
        let (client, _events) = AcpClient::spawn(command, opts).await.unwrap();
        client.initialize().await.unwrap();
        let session = client.new_session(&fx.cwd(), &[]).await.unwrap();
        let limit = Duration::from_millis(300);
        let err = client
            .prompt_within(&session, "go", limit)
            .await
            .unwrap_err();
        let AcpError::TurnTimeout { after, stopped, .. } = &err else {
            panic!("expected TurnTimeout, got {err:?}");
        };
        assert_eq!(*after, limit);
        assert_eq!(*stopped, polite, "{err}");
        assert!(
            err.to_string().starts_with(
                "agent did not finish the turn within 300ms; enki sent session/cancel and "
            ),
            "{err}"
        );
        client.shutdown().await;
    }
}
