//! End to end: the real `enki` binary's interactive session in a
//! pseudo-terminal, with the `sim` agent. A request typed into the message
//! box makes the scripted planner create a one-step execution; the screen
//! (parsed by vt100) shows it finish; Ctrl-C quits cleanly and the worker's
//! file has been merged into the project.
// An integration test: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod pty;

use enki_tests::Project;
use pty::{Session, mail_to_worker, start_gated_step};

#[test]
fn a_request_typed_in_the_tui_runs_to_a_merged_file_and_ctrl_c_quits() {
    let project = Project::with_sim("");
    project.writer_script("w-hello", "hello.txt", "hello from the TUI\n");
    project.script(
        "planner",
        r#"[[turn]]
steps = [
  { say = "Planning **one** step:\n\n- write `hello.txt`\n" },
  { tool = "enki_execution_create", args = { title = "Say hello", steps = [ { id = "hello", title = "Write hello", description = "[[sim:w-hello]]" } ] } },
]

[[turn]]
steps = [ { say = "Noted." } ]
"#,
    );
    let mut session = Session::start(&project, &[]);
    session.wait_for("the message box", |s| {
        s.contains("Message") && s.contains("agent sim")
    });
    session.send(b"write a hello file");
    session.wait_for("the typed text", |s| s.contains("write a hello file"));
    session.send(b"\r");
    session.wait_for("the planner's answer", |s| s.contains("Planning one step"));
    session.wait_for("the execution to finish", |s| {
        s.contains("execution \"Say hello\"") && s.contains(") done")
    });
    assert!(
        session.screen().contains("merged as"),
        "{}",
        session.screen()
    );
    session.send(b"\x03");
    let status = session.wait_exit();
    assert!(status.success(), "enki exited with {status:?}");
    assert_eq!(
        std::fs::read_to_string(project.root.join("hello.txt")).expect("hello.txt merged"),
        "hello from the TUI\n"
    );
    assert!(
        project
            .commit_subjects("main")
            .iter()
            .any(|s| s.starts_with("Write hello (")),
        "{:?}",
        project.commit_subjects("main")
    );
}

#[test]
fn first_run_initialises_enki_and_slash_quit_leaves() {
    let project = Project::bare();
    enki_tests::git(&project.root, &["init", "-q", "-b", "main"]);
    std::fs::write(project.root.join("README.md"), "# x\n").expect("write README");
    enki_tests::git(&project.root, &["add", "."]);
    enki_tests::git(&project.root, &["commit", "-q", "-m", "initial"]);
    let mut session = Session::start(&project, &["--agent", "sim"]);
    session.wait_for("the first-run notice", |s| {
        s.contains("initialised enki in")
    });
    session.send(b"/quit\r");
    let status = session.wait_exit();
    assert!(status.success(), "enki exited with {status:?}");
    assert!(project.enki_dir().join("db.sqlite").is_file());
}

#[test]
fn a_permission_request_waits_for_the_user_in_the_tui() {
    let project = Project::with_sim("[permissions]\npolicy = \"ask\"\n");
    project.script(
        "w-careful",
        r#"[[turn]]
steps = [
  { permission = "Run the test suite" },
  { write = "checked.txt", content = "allowed\n" },
  { say = "[OUTPUT]wrote checked.txt[/OUTPUT]" },
]
"#,
    );
    project.script(
        "planner",
        r#"[[turn]]
steps = [
  { tool = "enki_execution_create", args = { title = "Careful", steps = [ { id = "check", title = "Run checks", description = "[[sim:w-careful]]" } ] } },
]

[[turn]]
steps = [ { say = "Noted." } ]
"#,
    );
    let mut session = Session::start(&project, &[]);
    session.wait_for("the message box", |s| s.contains("Message"));
    session.send(b"run the checks\r");
    // The request waits in a bar; it takes no keys by itself.
    session.wait_for("the permission bar", |s| {
        s.contains("F2 to answer") && s.contains("asks to: Run the test suite")
    });
    assert!(!session.screen().contains("Permission needed"));
    // Typing "yes" goes to the message box and answers nothing.
    session.send(b"yes");
    session.wait_for("the typed text", |s| s.contains("› yes"));
    assert!(session.screen().contains("1 permission request waiting"));
    session.send(b"\x15"); // Ctrl-U: clear the message
    // F2 opens the prompt; y answers it.
    session.send(b"\x1bOQ");
    session.wait_for("the permission prompt", |s| s.contains("Permission needed"));
    let screen = session.screen();
    assert!(
        screen.contains("[check] Run checks asks to:")
            && screen.contains("Run the test suite")
            && screen.contains("allow always"),
        "{screen}"
    );
    session.send(b"y");
    session.wait_for("the answer in the chat", |s| {
        s.contains("[check] allowed once: Run the test suite")
    });
    session.wait_for("the execution to finish", |s| {
        s.contains("execution \"Careful\"") && s.contains(") done")
    });
    session.send(b"/quit\r");
    let status = session.wait_exit();
    assert!(status.success(), "enki exited with {status:?}");
    assert_eq!(
        std::fs::read_to_string(project.root.join("checked.txt")).expect("checked.txt merged"),
        "allowed\n"
    );
}

#[test]
fn sigterm_stops_the_tuis_workers_cleanly_without_asking() {
    let project = Project::with_sim("");
    project.gated_script("gate", "never", "g.txt");
    let mut session = start_gated_step(&project);
    project.wait_until("step g running", || project.status_of("g") == "running");
    let pid = session.child.process_id().expect("enki's pid");
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(sent.success());
    let status = session.wait_exit();
    assert!(status.success(), "enki exited with {status:?}");
    assert!(
        !session.screen().contains("Quit enki?"),
        "a stop signal asks nobody: {}",
        session.screen()
    );
    let left = enki_tests::processes_in(&project.enki_dir());
    assert!(left.is_empty(), "left running: {left:?}");
    assert_eq!(project.status_of("g"), "ready");
}

#[test]
fn a_worker_waiting_on_a_permission_is_never_stopped_as_stalled() {
    let stall = 1;
    let project = Project::with_sim(&format!(
        "[permissions]\npolicy = \"ask\"\n\n[workers]\nretries = 0\nstall_timeout_secs = {stall}\n"
    ));
    project.script(
        "w-waits",
        r#"[[turn]]
steps = [
  { permission = "Run the slow suite" },
  { write = "slow.txt", content = "ran\n" },
  { say = "[OUTPUT]wrote slow.txt[/OUTPUT]" },
]
"#,
    );
    project.script(
        "planner",
        r#"[[turn]]
steps = [
  { tool = "enki_execution_create", args = { title = "Slow", steps = [ { id = "slow", title = "Run slow", description = "[[sim:w-waits]]" } ] } },
]

[[turn]]
steps = [ { say = "Noted." } ]
"#,
    );
    let mut session = Session::start(&project, &[]);
    session.wait_for("the message box", |s| s.contains("Message"));
    session.send(b"run the slow suite\r");
    session.wait_for("the permission bar", |s| {
        s.contains("asks to: Run the slow suite")
    });
    session.wait_for("the worker row", |s| s.contains("waiting for permission"));
    // Unanswered far longer than the stall timeout: still its first attempt.
    let waited = || {
        let task = project.task_by_step("slow");
        let since = task["agent_state_since"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        task["agent_state"] == "waiting_permission"
            && enki_store::seconds_between(&since, &enki_store::now_rfc3339())
                .is_some_and(|s| s > 3 * stall)
    };
    project.wait_until("three stall timeouts of waiting", waited);
    let task = project.task_by_step("slow");
    assert_eq!(task["status"], "running", "{task}");
    assert_eq!(task["attempts"], 1, "{task}");
    assert_eq!(task["agent_state_reason"], "Run the slow suite");
    // Answered, it goes on and its work lands.
    session.send(b"\x10"); // Ctrl-P opens the prompt
    session.wait_for("the permission prompt", |s| s.contains("Permission needed"));
    session.send(b"y");
    session.wait_for("the execution to finish", |s| {
        s.contains("execution \"Slow\"") && s.contains(") done")
    });
    session.send(b"/quit\r");
    let status = session.wait_exit();
    assert!(status.success(), "enki exited with {status:?}");
    assert_eq!(
        std::fs::read_to_string(project.root.join("slow.txt")).expect("slow.txt merged"),
        "ran\n"
    );
    let task = project.task_by_step("slow");
    assert_eq!(task["attempts"], 1, "{task}");
}

#[test]
fn text_typed_in_a_workers_transcript_reaches_that_worker_as_mail() {
    let project = Project::with_sim("");
    project.gated_script("gate", "go", "g.txt");
    let mut session = start_gated_step(&project);
    session.wait_for("the worker row", |s| s.contains("[g] Wait"));
    // Tab twice: the workers pane; Enter: the worker's transcript.
    session.send(b"\t\t\r");
    session.wait_for("the mail box title", |s| s.contains("Mail to [g]"));
    session.send(b"use the staging database\r");
    session.wait_for("the mail in the transcript", |s| {
        s.contains("you: use the staging database")
    });
    project.wait_until("the mail stored", || {
        mail_to_worker(&project, "g")
            .iter()
            .any(|m| m.from == "user" && m.body == "use the staging database")
    });
    std::fs::write(project.enki_dir().join("go"), "").unwrap();
    session.wait_for("the step done", |s| s.contains("g.txt"));
    session.send(b"\x1b");
    session.send(b"/quit\r");
    let status = session.wait_exit();
    assert!(status.success(), "enki exited with {status:?}");
}

#[test]
fn the_conversation_comes_back_after_a_restart() {
    let project = Project::with_sim("");
    project.script(
        "planner",
        "[[turn]]\nsteps = [ { say = \"Noted: nothing to run.\" } ]\n",
    );
    let mut session = Session::start(&project, &[]);
    session.wait_for("the message box", |s| s.contains("Message"));
    session.send(b"remember the staging database\r");
    session.wait_for("the planner's answer", |s| {
        s.contains("Noted: nothing to run.")
    });
    session.send(b"/quit\r");
    assert!(session.wait_exit().success());

    let mut again = Session::start(&project, &[]);
    again.wait_for("the earlier conversation and the marker", |s| {
        s.contains("remember the staging database")
            && s.contains("Noted: nothing to run.")
            && s.contains("this session starts here")
    });
    again.send(b"/quit\r");
    assert!(again.wait_exit().success());
}

/// The prompts the `sim` agent's kept sessions were given, per session.
fn sim_sessions(project: &Project) -> Vec<Vec<String>> {
    let dir = project.home.path().join(".local/state/enki-sim/sessions");
    let mut sessions = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        let saved: serde_json::Value = serde_json::from_str(&text).unwrap();
        let prompts = saved["prompts"].as_array().unwrap().iter();
        sessions.push(prompts.map(|p| p.as_str().unwrap().to_string()).collect());
    }
    sessions
}

/// Two turns of a planner: the second start's message runs the second
/// turn only when the planner's session was taken up.
const TWO_TURNS: &str = "[[turn]]\nsteps = [ { say = \"First turn.\" } ]\n\
                         [[turn]]\nsteps = [ { say = \"Second turn.\" } ]\n";

/// Starts the TUI, sends `message`, waits until the planner's turn ended
/// with `answer` shown `times` times (earlier sessions' chat included), quits.
fn ask_and_quit(project: &Project, message: &[u8], answer: &str, times: usize) {
    let mut session = Session::start(project, &[]);
    session.wait_for("the message box", |s| s.contains("Message"));
    session.send(message);
    session.wait_for(answer, |s| {
        s.matches(answer).count() >= times && !s.contains("planner working")
    });
    session.send(b"/quit\r");
    assert!(session.wait_exit().success());
}

#[test]
fn the_planner_takes_its_session_up_after_a_restart() {
    let project = Project::with_sim("");
    project.script("planner", TWO_TURNS);
    ask_and_quit(
        &project,
        b"remember the staging database\r",
        "First turn.",
        1,
    );
    ask_and_quit(&project, b"which database?\r", "Second turn.", 1);
    let sessions = sim_sessions(&project);
    assert_eq!(
        sessions.len(),
        1,
        "one planner session, taken up: {sessions:?}"
    );
    assert_eq!(sessions[0].len(), 2, "{sessions:?}");
    assert!(sessions[0][1].ends_with("which database?"), "{sessions:?}");
}

#[test]
fn a_planner_that_cannot_continue_is_told_the_earlier_conversation() {
    let project = Project::with_sim("");
    project.script("planner", TWO_TURNS);
    std::fs::write(
        project.enki_dir().join("sim").join("capabilities.toml"),
        "load_session = false\nresume = false\n",
    )
    .unwrap();
    ask_and_quit(
        &project,
        b"remember the staging database\r",
        "First turn.",
        1,
    );
    ask_and_quit(&project, b"which database?\r", "First turn.", 2);
    let mut sessions = sim_sessions(&project);
    assert_eq!(sessions.len(), 2, "a new planner session: {sessions:?}");
    sessions.sort_by_key(|prompts| prompts[0].starts_with("# The conversation so far"));
    let recap = &sessions[1][0];
    assert!(
        recap.starts_with("# The conversation so far")
            && recap.contains("user: remember the staging database\nyou: First turn.")
            && recap.ends_with("which database?"),
        "{recap}"
    );
    assert!(
        !sessions[0][0].contains("# The conversation so far"),
        "{sessions:?}"
    );
}
