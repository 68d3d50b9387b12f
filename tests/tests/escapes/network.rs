//! `[sandbox] network = "loopback"` with a real `sim` worker: its shell
//! finds only its own loopback (no port of the host's loopback, no outside
//! address, no UDP), reaches a port listed in `loopback_ports` through
//! enki's relay, and its enki tools over HTTP (relayed the same way) still
//! work, so its work lands. With `network = "any"` the same probe reaches
//! the host, so the test sees an escape when there is one.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;

use enki_tests::{Project, describe, one_turn};

const ONE_STEP: &str = "title = \"Network\"\n[[steps]]\nid = \"w\"\ntitle = \"Probe\"\ndescription = \"[[sim:prober]]\"\n";

/// Answers each connection's first line with `pong <line>`.
fn echo_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
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

/// A bash script (outside the project: agents may read anywhere) that
/// prints what the agent reaches; `outside` adds an address of the outside
/// (TEST-NET-1, which must fail at once: no route; with one, a TCP connect
/// there would wait for its timeout).
fn probe(dir: &Path, host_port: u16, forwarded: u16, outside: bool) -> String {
    let script = dir.join("probe.sh");
    let outside = if outside {
        "try tcp outside 192.0.2.1 80\ntry udp outside-udp 192.0.2.1 53\n"
    } else {
        ""
    };
    std::fs::write(
        &script,
        format!(
            "try() {{ if (exec 3<>/dev/$1/$3/$4) 2>/dev/null; then echo \"$2 reached\"; \
             else echo \"$2 refused\"; fi; }}\n\
             try tcp host 127.0.0.1 {host_port}\n{outside}\
             exec 4<>/dev/tcp/127.0.0.1/{forwarded} && echo ping >&4 && read -r reply <&4 \
             && echo \"forwarded $reply\"\n"
        ),
    )
    .unwrap();
    script.display().to_string()
}

/// Runs one worker under `network` that probes, reports through enki's
/// tools and writes the probe's findings into its copy; returns them as
/// they landed on the project.
fn probe_as_a_worker(network: &str) -> String {
    let forwarded = echo_server();
    let host_only = TcpListener::bind("127.0.0.1:0").unwrap();
    let host_port = host_only.local_addr().unwrap().port();
    let project = Project::with_sim(&format!(
        "[workers]\nretries = 0\n[sandbox]\nnetwork = \"{network}\"\nloopback_ports = [{forwarded}]\n"
    ));
    let outside = tempfile::tempdir().unwrap();
    let script = probe(outside.path(), host_port, forwarded, network == "loopback");
    project.script(
        "prober",
        &one_turn(&format!(
            "  {{ tool = \"enki_worker_report\", args = {{ status = \"probing\" }} }},\n  \
             {{ run = 'bash {script} > network.txt' }},\n  \
             {{ tool = \"enki_task_list\" }},\n  \
             {{ say = \"[OUTPUT]probed[/OUTPUT]\" }},"
        )),
    );
    let plan = project.plan(ONE_STEP);
    let output = project.run_enki(&["run", "--plan", plan.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    drop(host_only);
    std::fs::read_to_string(project.root.join("network.txt")).unwrap()
}

#[test]
fn a_loopback_worker_reaches_only_its_forwarded_ports_and_its_work_lands() {
    assert_eq!(
        probe_as_a_worker("loopback"),
        "host refused\noutside refused\noutside-udp refused\nforwarded pong ping\n"
    );
}

#[test]
fn with_any_network_the_same_probe_reaches_the_hosts_loopback() {
    assert_eq!(
        probe_as_a_worker("any"),
        "host reached\nforwarded pong ping\n"
    );
}
