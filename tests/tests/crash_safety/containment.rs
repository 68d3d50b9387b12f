//! Nothing outlives enki: `enki run` killed by SIGKILL (or stopped by
//! SIGTERM or SIGHUP) while its worker has a command running in the
//! background and a daemon (`setsid`, its own session, out of the worker's
//! process group and out of `.enki/`), or while the verify hook hangs with a
//! daemon of its own, leaves no process of the project: the kernel ends
//! each agent's and hook's PID namespace with enki. The store tells the
//! truth at the next start, which finishes the work.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use enki_tests::{Project, describe, processes_in, stdout, wait_output};
use serde_json::Value;

/// How long the kernel may take to end what was contained.
const GONE_WITHIN: Duration = Duration::from_secs(2);

/// A number that only this test's processes carry in their command lines
/// (as `sleep`'s argument, so it is also how long they would sleep).
fn marker() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "9{}{:07}",
        NEXT.fetch_add(1, Ordering::SeqCst),
        std::process::id()
    )
}

/// Live processes whose command line holds `marker`.
fn carrying(marker: &str) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| enki_tests::is_alive(*pid))
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|cmdline| String::from_utf8_lossy(&cmdline).contains(marker))
        })
        .collect()
}

/// Shell that starts `sleep <marker>` in the background and a second one as
/// a daemon in `/`, then returns at once.
fn background_and_daemon(marker: &str) -> String {
    format!(
        "sleep {marker} > /dev/null 2>&1 & setsid sh -c 'cd /; exec sleep {marker}' > /dev/null 2>&1 < /dev/null &"
    )
}

fn kill(child: &std::process::Child, signal: &str) {
    let sent = std::process::Command::new("kill")
        .args([format!("-{signal}"), child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
}

/// Asserts that, within [`GONE_WITHIN`], no process works under `.enki/`
/// and none carries `marker`.
fn assert_nothing_left(project: &Project, marker: &str, context: &str) {
    let started = Instant::now();
    loop {
        let (under, marked) = (processes_in(&project.enki_dir()), carrying(marker));
        if under.is_empty() && marked.is_empty() {
            return;
        }
        assert!(
            started.elapsed() < GONE_WITHIN,
            "{context}: still running {:?} after enki ended: under .enki/ {under:?}, carrying the marker {marked:?}",
            started.elapsed()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn status_json(project: &Project) -> Value {
    serde_json::from_slice(&project.enki(&["status", "--json"]).output().unwrap().stdout).unwrap()
}

/// A worker that starts a background command and a daemon, then waits for
/// `go`; enki ends by `signal`.
fn a_workers_descendants_end_with_enki(signal: &str) {
    let project = Project::with_sim("");
    let marker = marker();
    project.script(
        "busy",
        &format!(
            "[[turn]]\nsteps = [\n  {{ run = {:?} }},\n  {{ tool = \"enki_worker_report\", args = {{ status = \"started its helpers\" }} }},\n  {{ run = \"while [ ! -f \\\"$ENKI_DIR/go\\\" ]; do sleep 0.02; done\" }},\n  {{ write = \"b.txt\", content = \"b\\n\" }},\n  {{ say = \"[OUTPUT]wrote b.txt[/OUTPUT]\" }},\n]\n",
            background_and_daemon(&marker)
        ),
    );
    let plan =
        project.plan("[[steps]]\nid = \"b\"\ntitle = \"B\"\ndescription = \"[[sim:busy]]\"\n");
    let child = project.spawn_enki(&["run", "--plan", plan.to_str().unwrap()]);
    project.wait_until("both helpers to run", || carrying(&marker).len() >= 2);
    kill(&child, signal);
    let output = wait_output(child, Duration::from_secs(30));
    if signal == "KILL" {
        assert_eq!(output.status.code(), None, "{}", describe(&output));
    } else {
        assert!(
            stdout(&output).contains("stopped 1 worker(s)"),
            "{signal}: {}",
            describe(&output)
        );
    }
    assert_nothing_left(&project, &marker, signal);

    // The store never claims a coordinator that is gone.
    let status = status_json(&project);
    assert_eq!(status["coordinator"]["running"], false, "{status}");
    // The next start runs the task again; its helpers end with its agent.
    std::fs::write(project.enki_dir().join("go"), "").unwrap();
    let output = project.run_enki(&["run"]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert!(project.root.join("b.txt").exists());
    assert_eq!(project.status_of("b"), "done");
    let id = project.task_id("b");
    let detail: Value = serde_json::from_slice(
        &project
            .enki(&["task", &id, "--json"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let history = detail["attempt_history"].as_array().unwrap();
    assert_eq!(history.len(), 2, "{detail}");
    assert_eq!(history[0]["outcome"], "interrupted", "{detail}");
    assert_eq!(history[1]["outcome"], "succeeded", "{detail}");
    assert_nothing_left(&project, &marker, "after the second run");
}

#[test]
fn sigkill_of_enki_ends_its_workers_background_commands_and_daemons() {
    a_workers_descendants_end_with_enki("KILL");
}

#[test]
fn sigterm_of_enki_ends_its_workers_background_commands_and_daemons() {
    a_workers_descendants_end_with_enki("TERM");
}

#[test]
fn sighup_of_enki_ends_its_workers_background_commands_and_daemons() {
    a_workers_descendants_end_with_enki("HUP");
}

/// A verify hook that hangs after starting a daemon; enki ends by `signal`.
fn a_hanging_verify_hook_ends_with_enki(signal: &str) {
    let marker = marker();
    let hanging = format!("{} sleep {marker}", background_and_daemon(&marker));
    let project = Project::with_sim(&format!("[merge]\nverify = {hanging:?}\n"));
    project.writer_script("w", "w.txt", "w\n");
    let plan = project.plan("[[steps]]\nid = \"w\"\ntitle = \"W\"\ndescription = \"[[sim:w]]\"\n");
    let child = project.spawn_enki(&["run", "--plan", plan.to_str().unwrap()]);
    project.wait_until("the hook and its helpers to run", || {
        carrying(&marker).len() >= 3
    });
    kill(&child, signal);
    let output = wait_output(child, Duration::from_secs(30));
    if signal == "KILL" {
        assert_eq!(output.status.code(), None, "{}", describe(&output));
    }
    assert_nothing_left(&project, &marker, signal);
    let status = status_json(&project);
    assert_eq!(status["coordinator"]["running"], false, "{status}");
    assert!(!project.root.join("w.txt").exists(), "nothing landed");

    // With a hook that passes, the next start lands the work once.
    let config = project.enki_dir().join("enki.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, text.replace(&format!("{hanging:?}"), "\"true\"")).unwrap();
    let output = project.run_enki(&["run"]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert_eq!(
        std::fs::read_to_string(project.root.join("w.txt")).unwrap(),
        "w\n"
    );
    assert_eq!(project.status_of("w"), "done");
    let landed = project
        .commit_subjects("main")
        .iter()
        .filter(|s| s.starts_with("W ("))
        .count();
    assert_eq!(landed, 1, "{:?}", project.commit_subjects("main"));
    assert_nothing_left(&project, &marker, "after the second run");
}

#[test]
fn sigkill_of_enki_ends_a_hanging_verify_hook_and_its_daemon() {
    a_hanging_verify_hook_ends_with_enki("KILL");
}

#[test]
fn sigterm_of_enki_ends_a_hanging_verify_hook_and_its_daemon() {
    a_hanging_verify_hook_ends_with_enki("TERM");
}
