//! The worker's own tools: `enki_worker_report`, and `enki_read_file` /
//! `enki_edit_file` with hashline anchors, confined to the task's copy.

use enki_tests::{Project, text_of};
use serde_json::{Value, json};

use crate::{
    assert_envelope, copy_dir, create_task, only_signal, planner, refused_without_effect, store,
    task_row, worker, worker_with_copy,
};

#[test]
fn worker_report_stores_activity_and_output_and_signals() {
    let project = Project::new();
    let task = create_task(&mut planner(&project), "work");
    project.clear_signals();
    let mut client = worker(&project, enki_core::id::short(&task));

    let result = client.call_ok("enki_worker_report", json!({"status": "writing tests"}));
    assert!(
        text_of(&result).contains("writing tests"),
        "{}",
        text_of(&result)
    );
    let row = task_row(&project, &task);
    assert_eq!(row.activity.as_deref(), Some("writing tests"));
    assert!(row.activity_at.is_some());
    assert_eq!(row.output, None);
    let signal = only_signal(&project);
    assert_envelope(&signal, "worker_report", "worker", Some(&task));
    assert_eq!(signal["task_id"], task.as_str());
    assert_eq!(signal["status"], "writing tests");
    assert!(signal.get("output").is_none_or(Value::is_null), "{signal}");
    project.clear_signals();

    client.call_ok(
        "enki_worker_report",
        json!({"status": "done", "output": "[OUTPUT] all good [/OUTPUT]"}),
    );
    let row = task_row(&project, &task);
    assert_eq!(row.activity.as_deref(), Some("done"));
    assert_eq!(row.output.as_deref(), Some("[OUTPUT] all good [/OUTPUT]"));
    assert_eq!(
        only_signal(&project)["output"],
        "[OUTPUT] all good [/OUTPUT]"
    );
    project.clear_signals();

    let text = refused_without_effect(
        &project,
        &mut client,
        "enki_worker_report",
        json!({"status": "  "}),
    );
    assert!(text.contains("status"), "{text}");
    let text = refused_without_effect(
        &project,
        &mut client,
        "enki_worker_report",
        json!({"output": "x"}),
    );
    assert!(text.contains("status"), "{text}");
}

#[test]
fn worker_report_without_a_task_id_is_a_clear_error() {
    let project = Project::new();
    create_task(&mut planner(&project), "work");
    project.clear_signals();
    let mut client = project.mcp(&["--role", "worker"]);
    let text = refused_without_effect(
        &project,
        &mut client,
        "enki_worker_report",
        json!({"status": "busy"}),
    );
    assert!(text.contains("--task-id"), "tells how to fix it: {text}");
    // The server still answers tools that need no task.
    client.call_ok("enki_status", json!({}));

    let mut client = worker(&project, "task-01ZZZZZZZZZZ");
    let text = refused_without_effect(
        &project,
        &mut client,
        "enki_worker_report",
        json!({"status": "busy"}),
    );
    assert!(
        text.contains("task-01ZZZZZZZZZZ"),
        "names the unknown task: {text}"
    );
}

/// The `N:hash` anchors of a hashline read, by line number (1-based).
fn anchors(read_text: &str) -> Vec<String> {
    read_text
        .lines()
        .filter_map(|line| {
            let (anchor, _) = line.split_once('|')?;
            let (number, hash) = anchor.split_once(':')?;
            (number.parse::<usize>().is_ok() && hash.len() == 4).then(|| anchor.to_string())
        })
        .collect()
}

#[test]
fn read_file_shows_hashlines_and_edit_file_applies_anchored_edits() {
    let project = Project::new();
    let (_task, copy, mut client) = worker_with_copy(&project);

    let read = client.call_ok("enki_read_file", json!({"path": "src.txt"}));
    let text = text_of(&read);
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].contains("src.txt") && lines[0].contains("3 lines"),
        "{text}"
    );
    for (i, expected) in ["alpha", "beta", "gamma"].iter().enumerate() {
        let line = lines[i + 1];
        let (anchor, body) = line
            .split_once('|')
            .unwrap_or_else(|| panic!("hashline: {line}"));
        let (number, hash) = anchor.split_once(':').unwrap();
        assert_eq!(number, (i + 1).to_string());
        assert_eq!(hash, enki_core::hashline::line_hash(expected));
        assert_eq!(body, *expected);
    }
    assert_eq!(read["structuredContent"]["total_lines"], 3);
    let window = client.call_ok(
        "enki_read_file",
        json!({"path": "src.txt", "offset": 2, "limit": 1}),
    );
    let anchors = anchors(&text);
    assert_eq!(anchors.len(), 3);
    assert_eq!(self::anchors(&text_of(&window)), vec![anchors[1].clone()]);

    let result = client.call_ok(
        "enki_edit_file",
        json!({"path": "src.txt", "edits": [
            {"op": "replace", "start": anchors[1], "lines": ["BETA"]},
            {"op": "insert_before", "anchor": anchors[0], "lines": ["zero"]},
            {"op": "delete", "start": anchors[2]},
        ]}),
    );
    assert!(
        text_of(&result).contains("Edited src.txt"),
        "{}",
        text_of(&result)
    );
    assert_eq!(
        std::fs::read_to_string(copy.join("src.txt")).unwrap(),
        "zero\nalpha\nBETA\n"
    );
    let absolute = copy.join("src.txt");
    let again = client.call_ok(
        "enki_read_file",
        json!({"path": absolute.to_str().unwrap()}),
    );
    assert!(
        text_of(&again).contains("|BETA"),
        "an absolute path inside the copy is fine"
    );
    assert!(project.signals().is_empty(), "file edits write no signal");

    let text = client.call_err("enki_read_file", json!({"path": "missing.txt"}));
    assert!(text.contains("missing.txt"), "{text}");
}

#[test]
fn a_stale_anchor_is_refused_and_names_the_line() {
    let project = Project::new();
    let (_task, copy, mut client) = worker_with_copy(&project);
    let old = anchors(&text_of(
        &client.call_ok("enki_read_file", json!({"path": "src.txt"})),
    ));
    std::fs::write(
        copy.join("src.txt"),
        "alpha\nchanged behind your back\ngamma\n",
    )
    .unwrap();

    let text = client.call_err(
        "enki_edit_file",
        json!({"path": "src.txt", "edits": [
            {"op": "replace", "start": old[0], "lines": ["ALPHA"]},
            {"op": "replace", "start": old[1], "lines": ["BETA"]},
        ]}),
    );
    assert!(text.contains("line 2"), "names the line: {text}");
    assert!(
        text.contains("changed behind your back"),
        "shows what it is now: {text}"
    );
    assert_eq!(
        std::fs::read_to_string(copy.join("src.txt")).unwrap(),
        "alpha\nchanged behind your back\ngamma\n",
        "nothing was written"
    );

    let text = client.call_err(
        "enki_edit_file",
        json!({"path": "src.txt", "edits": [{"op": "delete", "start": "nonsense"}]}),
    );
    assert!(
        text.contains("edits[0]") && text.contains("nonsense"),
        "{text}"
    );
    let text = client.call_err(
        "enki_edit_file",
        json!({"path": "src.txt", "edits": [{"op": "explode"}]}),
    );
    assert!(text.contains("explode"), "{text}");
    let text = client.call_err("enki_edit_file", json!({"path": "src.txt", "edits": []}));
    assert!(text.contains("edits"), "{text}");
}

#[test]
fn edit_file_creates_a_new_file_with_append() {
    let project = Project::new();
    let (_task, copy, mut client) = worker_with_copy(&project);
    let result = client.call_ok(
        "enki_edit_file",
        json!({"path": "docs/notes.md", "edits": [{"op": "append", "lines": ["# Notes", "", "first"]}]}),
    );
    assert_eq!(result["structuredContent"]["created"], true);
    assert!(
        text_of(&result).contains("Created docs/notes.md"),
        "{}",
        text_of(&result)
    );
    assert_eq!(
        std::fs::read_to_string(copy.join("docs/notes.md")).unwrap(),
        "# Notes\n\nfirst\n"
    );
    let read = client.call_ok("enki_read_file", json!({"path": "docs/notes.md"}));
    assert_eq!(anchors(&text_of(&read)).len(), 3);
}

#[test]
fn edits_keep_crlf_endings_and_a_missing_final_newline() {
    let project = Project::new();
    let (_task, copy, mut client) = worker_with_copy(&project);
    std::fs::write(copy.join("dos.txt"), "one\r\ntwo\r\n").unwrap();
    std::fs::write(copy.join("open.txt"), "x\ny").unwrap();

    let dos = anchors(&text_of(
        &client.call_ok("enki_read_file", json!({"path": "dos.txt"})),
    ));
    assert_eq!(
        dos[0],
        format!("1:{}", enki_core::hashline::line_hash("one")),
        "CR is not part of the text"
    );
    client.call_ok(
        "enki_edit_file",
        json!({"path": "dos.txt", "edits": [{"op": "insert_after", "anchor": dos[1], "lines": ["three"]},
                                            {"op": "replace", "start": dos[0], "lines": ["ONE"]}]}),
    );
    assert_eq!(
        std::fs::read_to_string(copy.join("dos.txt")).unwrap(),
        "ONE\r\ntwo\r\nthree\r\n"
    );

    let open = anchors(&text_of(
        &client.call_ok("enki_read_file", json!({"path": "open.txt"})),
    ));
    client.call_ok(
        "enki_edit_file",
        json!({"path": "open.txt", "edits": [{"op": "replace", "start": open[1], "lines": ["Y"]}]}),
    );
    assert_eq!(
        std::fs::read_to_string(copy.join("open.txt")).unwrap(),
        "x\nY",
        "still no final newline"
    );

    std::fs::write(copy.join("empty.txt"), "").unwrap();
    let read = client.call_ok("enki_read_file", json!({"path": "empty.txt"}));
    assert_eq!(read["structuredContent"]["total_lines"], 0);
    client.call_ok(
        "enki_edit_file",
        json!({"path": "empty.txt", "edits": [{"op": "prepend", "lines": ["first"]}]}),
    );
    assert_eq!(
        std::fs::read_to_string(copy.join("empty.txt")).unwrap(),
        "first\n"
    );
}

#[test]
fn the_copy_recorded_on_the_task_is_the_one_used() {
    let project = Project::new();
    let task = create_task(&mut planner(&project), "elsewhere");
    let elsewhere = project.root.join("workspaces").join("w1");
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::fs::write(elsewhere.join("here.txt"), "found\n").unwrap();
    store(&project)
        .set_task_workspace(&task, Some(elsewhere.to_str().unwrap()), Some("enki/w1"))
        .unwrap();
    let mut client = worker(&project, &task);
    let text = text_of(&client.call_ok("enki_read_file", json!({"path": "here.txt"})));
    assert!(text.contains("|found"), "{text}");
    client.call_ok(
        "enki_edit_file",
        json!({"path": "new.txt", "edits": [{"op": "append", "lines": ["n"]}]}),
    );
    assert!(elsewhere.join("new.txt").is_file());
    assert!(!copy_dir(&project, &task).exists());
}

#[test]
fn paths_that_leave_the_copy_are_refused_and_nothing_outside_is_written() {
    let project = Project::new();
    let (_task, copy, mut client) = worker_with_copy(&project);
    let append =
        |path: &str| json!({"path": path, "edits": [{"op": "append", "lines": ["pwned"]}]});

    let text = client.call_err("enki_edit_file", append("../outside.txt"));
    assert!(text.contains("leaves"), "{text}");
    assert!(!copy.parent().unwrap().join("outside.txt").exists());

    let text = client.call_err("enki_read_file", json!({"path": "/etc/passwd"}));
    assert!(
        text.contains("/etc/passwd") && text.contains("leaves"),
        "{text}"
    );
    let target = project.root.join("abs.txt");
    let text = client.call_err("enki_edit_file", append(target.to_str().unwrap()));
    assert!(text.contains("leaves"), "{text}");
    assert!(!target.exists());

    let outside = project.root.join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("secret.txt"), "secret\n").unwrap();
    std::os::unix::fs::symlink(&outside, copy.join("link")).unwrap();
    std::os::unix::fs::symlink(outside.join("secret.txt"), copy.join("secret.txt")).unwrap();

    let text = client.call_err("enki_edit_file", append("link/new.txt"));
    assert!(text.contains("symlink"), "{text}");
    assert!(!outside.join("new.txt").exists());
    let text = client.call_err("enki_edit_file", append("secret.txt"));
    assert!(text.contains("symlink"), "{text}");
    let text = client.call_err("enki_read_file", json!({"path": "link/secret.txt"}));
    assert!(text.contains("symlink"), "{text}");
    assert_eq!(
        std::fs::read_to_string(outside.join("secret.txt")).unwrap(),
        "secret\n"
    );
}

#[test]
fn file_tools_without_a_copy_fail_clearly() {
    let project = Project::new();
    let task = create_task(&mut planner(&project), "no copy yet");
    let mut client = worker(&project, &task);
    let text = client.call_err("enki_read_file", json!({"path": "README.md"}));
    assert!(text.contains("copy") && text.contains(&task), "{text}");
    let text = client.call_err(
        "enki_edit_file",
        json!({"path": "x.txt", "edits": [{"op": "append", "lines": ["x"]}]}),
    );
    assert!(
        text.contains("copy") && text.contains("does not exist"),
        "{text}"
    );
    assert!(
        !copy_dir(&project, &task).exists(),
        "the copy is not created by a failed edit"
    );

    let mut anonymous = project.mcp(&["--role", "worker"]);
    let text = anonymous.call_err("enki_read_file", json!({"path": "README.md"}));
    assert!(text.contains("--task-id"), "{text}");
}
