//! `enki agent-test` against `/bin/sh` fake agents: a turn that never ends,
//! stdout that is not ACP, requests made mid-turn, and authentication.

use std::time::Duration;

use enki_tests::Project;

use crate::{agent_test_log, enki};

/// Shell helpers every fake agent starts with. enki's request ids are
/// plain numbers; `idof` extracts them.
const PRELUDE: &str = r#"
reply() { printf '{"jsonrpc":"2.0","id":%s,"result":%s}\n' "$1" "$2"; }
idof() { printf '%s\n' "$1" | sed -n 's/.*"id":\([0-9][0-9]*\).*/\1/p'; }
INIT='{"protocolVersion":1,"agentCapabilities":{},"authMethods":[]}'
"#;

/// Writes a fake agent script into the project and returns the `--agent`
/// that runs it with `/bin/sh` (never exec'd directly, so no "text file
/// busy" race with other tests writing files).
pub(crate) fn fake_agent(project: &Project, name: &str, body: &str) -> String {
    let path = project.root.join(name);
    std::fs::write(&path, format!("{PRELUDE}\n{body}")).unwrap();
    format!("/bin/sh {}", path.display())
}

/// Whether a process is still alive (not gone, not a zombie).
fn process_running(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat.rsplit(')').next().unwrap_or("").trim_start();
            !state.starts_with('Z') && !state.starts_with('X')
        }
        Err(_) => false,
    }
}

/// Answers the handshake, never the prompt; ignores SIGTERM, stdin closing
/// and `session/cancel`, and keeps a child in its process group (which
/// writes its pid as the host's `/proc` names it: `$!` would count inside
/// the agent's PID namespace).
const NEVER_ANSWERS: &str = r#"
trap '' TERM
sh -c 'read -r pid rest < /proc/self/stat; echo $pid > never-child.pid; exec sleep 1000' &
while [ ! -s never-child.pid ]; do sleep 0.01; done
while IFS= read -r line; do
  id=$(idof "$line")
  case "$line" in
    *'"method":"initialize"'*) reply "$id" "$INIT" ;;
    *'"method":"session/new"'*) reply "$id" '{"sessionId":"s1"}' ;;
    *'"method":"session/prompt"'*) echo "prompt received" >&2 ;;
  esac
done
while :; do sleep 1; done
"#;

#[test]
fn agent_test_gives_up_on_a_turn_that_never_ends() {
    let project = Project::with_sim("");
    let agent = fake_agent(&project, "never.sh", NEVER_ANSWERS);
    // The agent's cwd is a scratch folder; have it write its child's pid
    // into the project.
    let agent = format!("sh -c 'cd {} && exec {agent}'", project.root.display());
    let run = enki(
        &project,
        &["agent-test", "--agent", &agent, "--timeout", "1"],
    );
    assert_eq!(run.code, Some(1), "{}{}", run.stdout, run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with("✘ "))
        .unwrap_or_else(|| panic!("no error in\n{}", run.stdout));
    // enki's own time limit: no stderr in the message.
    assert_eq!(
        lines[at],
        "✘ agent did not finish the turn within 1s; enki sent session/cancel and the agent did not end the turn within the grace period",
        "{}",
        run.stdout
    );
    assert_eq!(
        lines[at + 1],
        "  the agent was stopped (its whole process group)"
    );
    let log = agent_test_log(&project, &run.stdout);
    assert_eq!(
        lines[at + 2],
        format!("  the agent's stderr is in {}", log.display())
    );
    assert!(
        std::fs::read_to_string(&log)
            .unwrap()
            .contains("prompt received")
    );
    // The whole group is gone, even the child that ignores SIGTERM.
    let child: u32 = std::fs::read_to_string(project.root.join("never-child.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let started = std::time::Instant::now();
    while process_running(child) {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the agent's child {child} survived"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Prose on stdout: not an ACP agent.
const GARBAGE: &str = r#"
echo "starting up" >&2
while IFS= read -r line; do echo "this is not json"; done
"#;

#[test]
fn agent_test_says_when_stdout_is_not_acp() {
    let project = Project::with_sim("");
    let agent = fake_agent(&project, "garbage.sh", GARBAGE);
    let run = enki(&project, &["agent-test", "--agent", &agent]);
    assert_eq!(run.code, Some(1), "{}{}", run.stdout, run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with("→ initialize"))
        .unwrap();
    assert!(
        lines[at + 1].starts_with("  protocol error: invalid message from agent")
            && lines[at + 1].ends_with("this is not json"),
        "{}",
        run.stdout
    );
    assert_eq!(
        lines[at + 2],
        "✘ agent did not answer `initialize`: its stdout is not ACP (it wrote `this is not json` and no JSON-RPC message within 5s; an ACP agent's stdout carries only protocol); stderr: starting up"
    );
}

/// Asks permission, reads and writes a file without waiting for the
/// answers, then ends the turn at once.
const EAGER: &str = r#"
OPTIONS='[{"optionId":"yes","name":"Allow","kind":"allow_once"},{"optionId":"no","name":"Reject","kind":"reject_once"}]'
while IFS= read -r line; do
  id=$(idof "$line")
  case "$line" in
    *'"method":"initialize"'*) reply "$id" "$INIT" ;;
    *'"method":"session/new"'*) cwd=$(printf '%s\n' "$line" | sed -n 's/.*"cwd":"\([^"]*\)".*/\1/p'); reply "$id" '{"sessionId":"s1"}' ;;
    *'"method":"session/prompt"'*)
      printf '%s\n' '{"jsonrpc":"2.0","id":"p1","method":"session/request_permission","params":{"sessionId":"s1","toolCall":{"toolCallId":"t1","title":"Run the tests","kind":"execute"},"options":'"$OPTIONS"'}}'
      printf '%s\n' '{"jsonrpc":"2.0","id":"r1","method":"fs/read_text_file","params":{"sessionId":"s1","path":"'"$cwd"'/missing.txt"}}'
      printf '%s\n' '{"jsonrpc":"2.0","id":"w1","method":"fs/write_text_file","params":{"sessionId":"s1","path":"'"$cwd"'/hello.txt","content":"hi"}}'
      reply "$id" '{"stopReason":"end_turn"}' ;;
  esac
done
"#;

#[test]
fn agent_test_shows_every_request_the_agent_made_in_its_turn() {
    let project = Project::with_sim("");
    let agent = fake_agent(&project, "eager.sh", EAGER);
    for round in 0..8 {
        let run = enki(&project, &["agent-test", "--agent", &agent]);
        assert_eq!(run.code, Some(0), "{}{}", run.stdout, run.stderr);
        let lines: Vec<&str> = run.stdout.lines().collect();
        let prompt = lines
            .iter()
            .position(|l| l.starts_with("→ session/prompt"))
            .unwrap();
        let mut turn: Vec<&str> = lines[prompt + 1..lines.len() - 1].to_vec();
        turn.sort();
        assert_eq!(turn.len(), 3, "round {round}:\n{}", run.stdout);
        assert!(
            turn[0].starts_with("  fs read ") && turn[0].ends_with("/missing.txt (served)"),
            "round {round}:\n{}",
            run.stdout
        );
        assert!(
            turn[1].starts_with("  fs write ") && turn[1].ends_with("/hello.txt (served)"),
            "round {round}:\n{}",
            run.stdout
        );
        assert_eq!(turn[2], "  permission asked: Run the tests → reject_once");
        assert_eq!(lines.last(), Some(&"← stopReason end_turn"));
    }
}

/// Advertises an API-key method and refuses `session/new` until
/// `authenticate` was called.
pub(crate) const NEEDS_AUTH: &str = r#"
authed=no
while IFS= read -r line; do
  id=$(idof "$line")
  case "$line" in
    *'"method":"initialize"'*) reply "$id" '{"protocolVersion":1,"authMethods":[{"id":"key","name":"API key"},{"id":"oauth","name":"oauth"}]}' ;;
    *'"method":"authenticate"'*) authed=yes; reply "$id" '{}' ;;
    *'"method":"session/new"'*)
      if [ "$authed" = yes ]; then reply "$id" '{"sessionId":"s1"}'
      else printf '{"jsonrpc":"2.0","id":%s,"error":{"code":-32000,"message":"Authentication required"}}\n' "$id"; fi ;;
    *'"method":"session/prompt"'*) reply "$id" '{"stopReason":"end_turn"}' ;;
  esac
done
"#;

#[test]
fn agent_test_authenticates_only_with_an_advertised_method_and_says_how_to_set_one() {
    let project = Project::with_sim("");
    let agent = fake_agent(&project, "auth.sh", NEEDS_AUTH);
    let run = enki(&project, &["agent-test", "--agent", &agent]);
    assert_eq!(run.code, Some(1), "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("\n← protocol 1; auth methods: key (API key), oauth\n"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.ends_with(
            "✘ agent answered `session/new` with error -32000: Authentication required\n  \
             the agent needs authentication: set `auth_method` in the [agent] section of enki.toml to one the agent advertised: key (API key), oauth\n"
        ),
        "{}",
        run.stdout
    );

    // A configured method the agent does not offer is not used.
    let config = project.enki_dir().join("enki.toml");
    let base = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        base.replace("[agent]\n", "[agent]\nauth_method = \"token\"\n"),
    )
    .unwrap();
    let run = enki(&project, &["agent-test", "--agent", &agent]);
    assert_eq!(run.code, Some(1), "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains(
            "\n  not authenticating: the configured auth_method `token` is not one the agent advertised\n"
        ),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("→ authenticate"), "{}", run.stdout);
    assert!(
        run.stdout.contains(
            "the configured auth_method `token` is not one it advertised: set `auth_method`"
        ),
        "{}",
        run.stdout
    );

    // An advertised one is.
    std::fs::write(
        &config,
        base.replace("[agent]\n", "[agent]\nauth_method = \"key\"\n"),
    )
    .unwrap();
    let run = enki(&project, &["agent-test", "--agent", &agent]);
    assert_eq!(run.code, Some(0), "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("\n→ authenticate key\n→ session/new in "),
        "{}",
        run.stdout
    );
}
