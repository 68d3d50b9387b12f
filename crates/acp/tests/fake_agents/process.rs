//! The agent as an OS process: spawn errors, its environment, and killing
//! it with its whole process group on shutdown or drop.

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::time::{Duration, Instant};

use enki_acp::{AcpClient, AcpError, AgentCommand, AgentEvent};

use crate::{Fixture, HAPPY, events_until_exit, options, pid_exists, wait_until};

#[tokio::test]
async fn stubborn_agent_is_killed_with_its_whole_process_group() {
    let fx = Fixture::new();
    let body = r#"
trap '' TERM
sh -c "$OWN_PID > ../child.pid; exec sleep 1000" &
while [ ! -s ../child.pid ]; do sleep 0.01; done
IFS= read -r line
reply "$(idof "$line")" "$INIT"
while :; do sleep 1; done
"#;
    let grace = Duration::from_millis(200);
    let mut opts = options();
    opts.shutdown_grace = grace;
    let (client, mut events) = AcpClient::spawn(fx.agent("stubborn.sh", &with_own_pid(body)), opts)
        .await
        .unwrap();
    client.initialize().await.unwrap();
    let leader = client.pid().unwrap();
    let child: u32 = fx.read("child.pid").trim().parse().unwrap();
    assert!(process_running(child), "the background child should run");
    assert_eq!(process_group(child), Some(leader));

    let started = Instant::now();
    let status = client.shutdown().await.expect("status");
    // Ignored stdin close, then ignored SIGTERM: SIGKILL after two graces.
    assert!(started.elapsed() >= grace * 2, "{:?}", started.elapsed());
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    assert!(!pid_exists(leader), "the leader was reaped");
    wait_until("the child to die", || !process_running(child)).await;

    let all = events_until_exit(&mut events).await;
    assert!(matches!(
        all.as_slice(),
        [AgentEvent::Exited { status: Some(s), .. }] if s.signal() == Some(libc::SIGKILL)
    ));
    assert!(matches!(
        client.prompt("sess", "x").await,
        Err(AcpError::Exited { .. })
    ));
}

/// Shell, for inside a double-quoted `sh -c`, that prints the pid of the
/// shell running it as the host sees it (`/proc` is the host's; `$$` and
/// `$!` count inside the agent's PID namespace).
const OWN_PID: &str = r#"read -r pid rest < /proc/self/stat; echo \$pid"#;

fn with_own_pid(body: &str) -> String {
    body.replace("$OWN_PID", OWN_PID)
}

#[tokio::test]
async fn a_daemon_the_agent_started_ends_with_it() {
    let fx = Fixture::new();
    // The daemon leaves the agent's session and process group: only the
    // agent's PID namespace still holds it.
    let body = with_own_pid(
        r#"
setsid sh -c "$OWN_PID > ../daemon.pid; exec sleep 1000" > /dev/null 2>&1 < /dev/null &
while [ ! -s ../daemon.pid ]; do sleep 0.01; done
IFS= read -r line
reply "$(idof "$line")" "$INIT"
while IFS= read -r line; do :; done
"#,
    );
    let (client, _events) = AcpClient::spawn(fx.agent("daemon.sh", &body), options())
        .await
        .unwrap();
    client.initialize().await.unwrap();
    let leader = client.pid().unwrap();
    let daemon: u32 = fx.read("daemon.pid").trim().parse().unwrap();
    assert!(process_running(daemon), "the daemon should run");
    assert_ne!(process_group(daemon), Some(leader), "it left the group");
    let status = client.shutdown().await.expect("status");
    assert!(status.success(), "{status:?}");
    // Gone as soon as the agent is: the agent's exit ends its namespace.
    if enki_sandbox::containment().is_complete() {
        assert!(!process_running(daemon), "the daemon outlived its agent");
    } else {
        // SAFETY: kills the test's own leftover.
        #[allow(unsafe_code)]
        unsafe {
            libc::kill(daemon as libc::pid_t, libc::SIGKILL)
        };
    }
}

#[tokio::test]
async fn environment_is_inherited_or_exactly_given() {
    let fx = Fixture::new();
    let body = r#"
export -p > ../env.txt
IFS= read -r line
reply "$(idof "$line")" "$INIT"
"#;
    let have_home = std::env::var_os("HOME").is_some();
    for clear_env in [false, true] {
        let mut command = fx.agent("env.sh", body);
        command.env = vec![("ENKI_TEST_VAR".into(), "va lue".into())];
        command.clear_env = clear_env;
        let (client, _events) = AcpClient::spawn(command, options()).await.unwrap();
        client.initialize().await.unwrap();
        let env = fx.read("env.txt");
        assert!(env.contains("ENKI_TEST_VAR='va lue'"), "{env}");
        if have_home {
            assert_eq!(env.contains("HOME="), !clear_env, "{env}");
        }
        client.shutdown().await;
    }
}

#[tokio::test]
async fn missing_program_and_bad_arguments_are_clear_errors() {
    let fx = Fixture::new();
    let err = AcpClient::spawn(
        AgentCommand::new("enki-no-such-agent-binary", fx.cwd()),
        options(),
    )
    .await
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot start agent `enki-no-such-agent-binary`: not found on PATH"
    );
    let err = AcpClient::spawn(
        AgentCommand::new("/bin/sh", fx.path("does-not-exist")),
        options(),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("does not exist"), "{err}");

    let (client, _events) = AcpClient::spawn(fx.agent("happy.sh", HAPPY), options())
        .await
        .unwrap();
    client.initialize().await.unwrap();
    let err = client
        .new_session(Path::new("relative/dir"), &[])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("must be absolute"), "{err}");
    client.shutdown().await;
}

#[tokio::test]
async fn dropping_the_client_kills_the_agent() {
    let fx = Fixture::new();
    let body = r#"
trap '' TERM
IFS= read -r line
reply "$(idof "$line")" "$INIT"
while :; do sleep 1; done
"#;
    let (client, mut events) = AcpClient::spawn(fx.agent("orphan.sh", body), options())
        .await
        .unwrap();
    client.initialize().await.unwrap();
    let pid = client.pid().unwrap();
    drop(client);
    let all = events_until_exit(&mut events).await;
    assert!(matches!(
        all.as_slice(),
        [AgentEvent::Exited { status: Some(s), .. }] if s.signal() == Some(libc::SIGKILL)
    ));
    assert!(!pid_exists(pid));
}

/// Running (not gone, not a zombie waiting for init to reap it).
fn process_running(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat.rsplit(')').next().unwrap_or("").trim_start();
            !state.starts_with('Z') && !state.starts_with('X')
        }
        Err(_) => false,
    }
}

fn process_group(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command: state ppid pgrp ...
    let rest = stat.rsplit(')').next()?;
    rest.split_whitespace().nth(2)?.parse().ok()
}
