//! Loopback mode on the running kernel: a contained program sees only its
//! own `lo`, reaches neither the host's loopback nor any other address, and
//! reaches a forwarded port of the host through the coordinator's relay.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use super::*;
use crate::{Environment, Network, Policy};

/// Answers each connection's first line with `pong <line>`.
fn echo_server() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut line = String::new();
            if BufReader::new(&stream).read_line(&mut line).is_ok() {
                let _ = (&stream).write_all(format!("pong {line}").as_bytes());
            }
        }
    });
    port
}

/// Runs bash `script` contained in loopback mode with `forwarded` relayed
/// by this test's runtime, and returns its standard output.
async fn run_in_loopback(script: &str, forwarded: Vec<u16>) -> String {
    loopback_support().unwrap();
    run_contained(
        script,
        forwarded,
        Command::new("bash"),
        crate::containment(),
    )
    .await
}

/// [`run_in_loopback`] from `command` (bash, maybe with hooks of its own)
/// contained as `how`.
async fn run_contained(
    script: &str,
    forwarded: Vec<u16>,
    mut command: Command,
    how: &crate::Containment,
) -> String {
    let mut sandbox = crate::prepare(&Policy {
        network: Network::Loopback,
        loopback_ports: forwarded,
        ..Policy::default()
    })
    .unwrap();
    let forwarding = sandbox.take_forwarding().unwrap();
    command
        .arg("-c")
        .arg(script)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    crate::contain_as(how, &mut command, Environment::Inherit, Some(sandbox)).unwrap();
    let child = command.spawn().unwrap();
    let _relay = relay(forwarding.receive().unwrap()).unwrap();
    let output = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).unwrap()
}

/// `reached` or `refused`, as the program saw a connection to `host:port`.
fn try_connect(name: &str, host: &str, port: u16) -> String {
    format!(
        "if (exec 3<>/dev/tcp/{host}/{port}) 2>/dev/null; then echo {name} reached; \
         else echo {name} refused; fi"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loopback_agent_reaches_only_its_own_loopback_and_the_forwarded_ports() {
    if crate::landlock_abi().is_err() {
        eprintln!("skipped: no Landlock here");
        return;
    }
    let forwarded = echo_server();
    let host_only = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let host_port = host_only.local_addr().unwrap().port();
    let script = [
        // Its own loopback works: a listener of its own, reached.
        "(exec 3<>/dev/tcp/127.0.0.1/9) 2>/dev/null; echo own lo up".to_string(),
        format!(
            "exec 4<>/dev/tcp/127.0.0.1/{forwarded} && echo ping >&4 && read -r reply <&4 \
             && echo \"forwarded $reply\""
        ),
        try_connect("host", "127.0.0.1", host_port),
        try_connect("outside", "192.0.2.1", 80),
        try_connect("outside6", "2001:db8::1", 80),
        "echo interfaces $(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ')".to_string(),
        // The host's namespace is out of reach (Landlock refuses ptrace
        // access to processes outside the sandbox, even to root).
        "if readlink /proc/1/ns/net >/dev/null 2>&1; then echo host ns readable; \
         else echo host ns hidden; fi"
            .to_string(),
    ]
    .join("\n");
    let out = run_in_loopback(&script, vec![forwarded]).await;
    assert_eq!(
        out,
        "own lo up\nforwarded pong ping\nhost refused\noutside refused\noutside6 refused\n\
         interfaces lo\nhost ns hidden\n"
    );
    drop(host_only);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unprivileged_user_gets_the_same_loopback_inside_a_user_namespace() {
    use std::os::unix::process::CommandExt;
    // SAFETY: geteuid has no preconditions.
    #[allow(unsafe_code)]
    if crate::landlock_abi().is_err() || unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: becoming another user needs root (and Landlock)");
        return;
    }
    let forwarded = echo_server();
    let mut command = Command::new("bash");
    command.current_dir("/");
    // SAFETY: system calls only; made dumpable again, as an ordinary
    // user's process is, so that its /proc/self files are its own.
    #[allow(unsafe_code)]
    unsafe {
        command.pre_exec(|| {
            if libc::setgid(65534) != 0
                || libc::setuid(65534) != 0
                || libc::prctl(libc::PR_SET_DUMPABLE, 1) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let script = format!(
        "exec 4<>/dev/tcp/127.0.0.1/{forwarded} && echo ping >&4 && read -r reply <&4 \
         && echo \"$(id -u) forwarded $reply\"\n\
         echo interfaces $(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ')"
    );
    let how = crate::Containment::PidNamespace {
        user_namespace: true,
    };
    let out = run_contained(&script, vec![forwarded], command, &how).await;
    assert_eq!(out, "65534 forwarded pong ping\ninterfaces lo\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forwarded_port_nothing_listens_on_closes_the_agents_connection() {
    if crate::landlock_abi().is_err() {
        eprintln!("skipped: no Landlock here");
        return;
    }
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = free.local_addr().unwrap().port();
    drop(free);
    let script = format!(
        "exec 3<>/dev/tcp/127.0.0.1/{port} && echo accepted; \
         if read -r line <&3; then echo got \"$line\"; else echo closed; fi"
    );
    let out = run_in_loopback(&script, vec![port]).await;
    assert_eq!(out, "accepted\nclosed\n");
}

#[test]
fn loopback_needs_a_namespace_and_says_so_where_none_can_be_made() {
    if crate::landlock_abi().is_err() {
        eprintln!("skipped: no Landlock here");
        return;
    }
    let sandbox = crate::prepare(&Policy {
        network: Network::Loopback,
        ..Policy::default()
    })
    .unwrap();
    let how = crate::Containment::ParentDeathOnly {
        reason: "user namespaces are disabled".into(),
    };
    let mut command = Command::new("true");
    let err = crate::contain_as(&how, &mut command, Environment::Inherit, Some(sandbox))
        .unwrap_err()
        .to_string();
    assert!(err.contains("network = \"loopback\""), "{err}");
    assert!(err.contains("user namespaces are disabled"), "{err}");
}

#[test]
fn the_ports_to_forward_are_checked_before_the_fork() {
    assert!(link(&[0]).unwrap_err().contains("port 0"));
    let many: Vec<u16> = (1..=40).collect();
    assert!(link(&many).unwrap_err().contains("at most 32"));
    let (child, parent) = link(&[8080, 11434, 8080]).unwrap();
    assert_eq!(child.count, 2);
    assert_eq!(parent.ports, [8080, 11434]);
}
