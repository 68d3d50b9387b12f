//! A worker's failed tool calls and refused permissions name the tool and
//! say why, in `enki logs` and `enki task`.
// An integration test: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use enki_tests::{Project, describe, stdout};

/// Runs a plan of one step `w` with the sim script `w`.
fn run_w(project: &Project) -> std::process::Output {
    let plan = project.plan("[[steps]]\nid = \"w\"\ntitle = \"W\"\ndescription = \"[[sim:w]]\"\n");
    project.run_enki(&["run", "--plan", plan.to_str().unwrap()])
}
#[test]
fn a_failed_tool_call_and_a_refused_permission_name_the_tool_and_the_reason() {
    let project = Project::with_sim("[permissions]\npolicy = \"deny_all\"\n");
    project.script(
        "w",
        r#"[[turn]]
steps = [
  { tool = "enki_read_file", args = { path = "no-such-file.txt" }, allow_error = true },
  { permission = "Run rm -rf build", kind = "execute", on_deny = "continue" },
  { write = "w.txt", content = "w\n" },
  { say = "[OUTPUT]done[/OUTPUT]" },
]
"#,
    );
    let output = run_w(&project);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let id = project.task_id("w");
    let logs = stdout(&project.enki(&["logs", &id]).output().unwrap());
    let failed = logs
        .lines()
        .find(|l| l.contains("tool_call_update") && l.contains("failed"))
        .unwrap_or_else(|| panic!("no failed tool call in\n{logs}"));
    assert!(
        failed.contains("enki_read_file") && failed.contains("no-such-file.txt"),
        "{failed}"
    );
    let refused = logs
        .lines()
        .find(|l| l.contains("permission"))
        .unwrap_or_else(|| panic!("no permission in\n{logs}"));
    assert!(
        refused.contains("Run rm -rf build")
            && refused.contains("reject")
            && refused.contains("the permission policy refuses everything (deny_all)"),
        "{refused}"
    );
}

#[test]
fn a_refused_permission_says_why_in_the_log_the_task_and_the_runs_lines() {
    let project = Project::with_sim("");
    project.script(
        "w",
        r#"[[turn]]
steps = [
  { permission = "Edit /etc/hosts", kind = "edit", path = "/etc/hosts", on_deny = "continue" },
  { write = "w.txt", content = "w\n" },
  { say = "[OUTPUT]done[/OUTPUT]" },
]
"#,
    );
    let output = run_w(&project);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let why = "/etc/hosts lies outside the agent's folder";
    let printed = stdout(&output);
    let line = printed
        .lines()
        .find(|l| l.contains("refused"))
        .unwrap_or_else(|| panic!("no refusal printed in\n{printed}"));
    assert!(
        line.contains("[w]")
            && line.contains("Edit /etc/hosts: reject_once: ")
            && line.contains(why),
        "{line}"
    );
    let id = project.task_id("w");
    for view in [vec!["logs", id.as_str()], vec!["task", id.as_str()]] {
        let text = stdout(&project.enki(&view).output().unwrap());
        let refused = text
            .lines()
            .find(|l| l.contains("permission"))
            .unwrap_or_else(|| panic!("no permission in enki {}:\n{text}", view[0]));
        assert!(
            refused.contains("Edit /etc/hosts")
                && refused.contains("reject_once")
                && refused.contains(why),
            "enki {}: {refused}",
            view[0]
        );
    }
}

/// Runs one step `w` with `script` to its end (no retries) and returns
/// what `enki run` printed and what `enki task` says of it.
fn failed_step(script: &str) -> (String, String) {
    let project = Project::with_sim("[workers]\nretries = 0\n");
    project.script("w", script);
    let output = run_w(&project);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let id = project.task_id("w");
    let task = stdout(&project.enki(&["task", &id]).output().unwrap());
    (stdout(&output), task)
}

#[test]
fn an_agent_that_dies_is_explained_by_its_stderr_without_the_noise() {
    let (printed, task) = failed_step(
        r#"[[turn]]
steps = [
  { stderr = "Downloading  10%\rDownloading  90%\r\n\n[=======>    ] 70%\n⠋⠙⠹\n" },
  { stderr = "Error: cannot reach the model API (connection refused)\n" },
  { stderr = "   \n██████████░░░░ 71%\n" },
  { exit = 1 },
]
"#,
    );
    let failed = printed
        .lines()
        .find(|l| l.contains("[w]") && l.contains("failed"))
        .unwrap_or_else(|| panic!("no failure in\n{printed}"));
    assert!(
        failed.contains("agent exited (status 1)")
            && failed.contains("Error: cannot reach the model API (connection refused)"),
        "{failed}"
    );
    for noise in ["70%", "71%", "⠋", "10%"] {
        assert!(!failed.contains(noise), "{noise} in {failed}");
        assert!(!task.contains(noise), "{noise} in enki task:\n{task}");
    }
    assert!(
        task.contains("Error: cannot reach the model API"),
        "enki task:\n{task}"
    );
}

#[test]
fn an_error_the_agent_answered_carries_no_stderr() {
    let (printed, task) = failed_step(
        r#"[[turn]]
steps = [
  { stderr = "debug: loaded 3 plugins\n" },
  { fail = "the model refused the request" },
]
"#,
    );
    let failed = printed
        .lines()
        .find(|l| l.contains("[w]") && l.contains("failed"))
        .unwrap_or_else(|| panic!("no failure in\n{printed}"));
    assert!(failed.contains("the model refused the request"), "{failed}");
    assert!(!failed.contains("plugins"), "{failed}");
    assert!(!task.contains("plugins"), "enki task:\n{task}");
}

#[test]
fn each_agent_message_is_its_own_entry_in_the_log_and_the_planners_lines() {
    let project = Project::with_sim("");
    project.script(
        "planner",
        r#"[[turn]]
steps = [
  { say = "Looking at what is going on." },
  { think = "nothing to do" },
  { say = "I was not asked for anything." },
]
"#,
    );
    let output = project.run_enki(&["run", "do nothing"]);
    assert_eq!(output.status.code(), Some(3), "{}", describe(&output));
    let printed = stdout(&output);
    let said: Vec<&str> = printed
        .lines()
        .filter(|l| l.starts_with("planner: "))
        .collect();
    assert_eq!(
        said,
        [
            "planner: Looking at what is going on.",
            "planner: I was not asked for anything."
        ],
        "{printed}"
    );
    // The reason nothing ran quotes both messages, apart.
    let told = describe(&output);
    assert!(
        told.contains("\"Looking at what is going on. I was not asked for anything.\""),
        "{told}"
    );

    let project = Project::with_sim("");
    project.script(
        "w",
        r#"[[turn]]
steps = [
  { say = "Looking." },
  { tool = "enki_worker_report", args = { status = "reading" } },
  { say = "Still " },
  { say = "looking." },
  { think = "done" },
  { say = "[OUTPUT]done[/OUTPUT]" },
]
"#,
    );
    let output = run_w(&project);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let id = project.task_id("w");
    let logs = stdout(&project.enki(&["logs", &id]).output().unwrap());
    let messages: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains(" message "))
        .map(|l| l.split_once("text=").map_or("", |(_, text)| text))
        .collect();
    assert_eq!(
        messages,
        ["Looking.", "Still looking.", "[OUTPUT]done[/OUTPUT]"],
        "{logs}"
    );
    assert_eq!(project.task_by_step("w")["output"], "done");
}
