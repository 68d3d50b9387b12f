//! `enki init` and the inspection commands (`status`, `tasks`, `task`, `dag`,
//! `mail`) against the real binary, with the database filled through
//! `enki_store` directly.
// An integration test: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use enki_core::id::short;
use enki_core::mail::{MailKind, Priority};
use enki_core::{Condition, MergeStatus, TaskStatus, Tier};
use enki_store::{NeedTarget, NewMessage, NewNeed, NewStep, Store};
use enki_tests::git;
use serde_json::Value;

/// `enki <args>` in `dir`, hermetic (the test's own fake home, no enki
/// environment inherited).
fn enki(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::from_std(enki_tests::enki_command());
    cmd.current_dir(dir).args(args);
    cmd
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn run(mut cmd: Command) -> Run {
    let output = cmd.output().expect("enki runs");
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Runs a command that must succeed and returns its stdout.
fn ok(dir: &Path, args: &[&str]) -> String {
    let out = run(enki(dir, args));
    assert_eq!(
        out.code,
        Some(0),
        "enki {args:?} failed\nstdout: {}\nstderr: {}",
        out.stdout,
        out.stderr
    );
    out.stdout
}

/// Runs a command that must fail with exit 1 and returns its stderr.
fn fails(dir: &Path, args: &[&str]) -> String {
    let out = run(enki(dir, args));
    assert_eq!(
        out.code,
        Some(1),
        "enki {args:?} should fail with exit 1\nstdout: {}\nstderr: {}",
        out.stdout,
        out.stderr
    );
    assert!(out.stdout.is_empty(), "errors go to stderr: {}", out.stdout);
    out.stderr
}

fn ok_json(dir: &Path, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let text = ok(dir, &all);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("enki {all:?}: not JSON ({e}): {text}"))
}

/// A temporary git repository with one commit.
fn git_project() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().canonicalize().unwrap();
    git(&root, &["init", "-q"]);
    std::fs::write(root.join("README.md"), "# scratch\n").unwrap();
    git(&root, &["add", "."]);
    git(&root, &["commit", "-q", "-m", "initial"]);
    (tmp, root)
}

#[test]
fn init_is_idempotent_and_leaves_git_clean() {
    let (_tmp, root) = git_project();

    let first = ok(&root, &["init"]);
    assert!(first.contains("initialised enki in"), "{first}");
    assert!(first.contains("created the database"), "{first}");
    assert!(first.contains("added /.enki/ to"), "{first}");
    for dir in [
        ".enki",
        ".enki/events",
        ".enki/events/rejected",
        ".enki/logs",
        ".enki/logs/mcp",
        ".enki/roles",
        ".enki/copies",
        ".enki/artifacts",
    ] {
        assert!(root.join(dir).is_dir(), "{dir} missing");
        assert!(
            first.contains(&format!("{dir}/")),
            "{dir} not reported: {first}"
        );
    }
    assert!(root.join(".enki/db.sqlite").is_file());

    let second = ok(&root, &["init"]);
    assert!(second.contains("already initialised"), "{second}");
    assert!(
        second.contains("every folder was already there"),
        "{second}"
    );
    assert!(
        second.contains("database .enki/db.sqlite was already there"),
        "{second}"
    );
    assert!(second.contains("already excluded from git"), "{second}");
    assert!(!second.contains("created"), "{second}");

    let json = ok_json(&root, &["init"]);
    assert_eq!(json["already_initialised"], true);
    assert_eq!(json["database_created"], false);
    assert_eq!(json["is_git"], true);
    assert_eq!(json["created_dirs"], serde_json::json!([]));

    let exclude = std::fs::read_to_string(root.join(".git/info/exclude")).unwrap();
    assert_eq!(
        exclude.lines().filter(|l| l.trim() == "/.enki/").count(),
        1,
        "{exclude}"
    );
    assert_eq!(git(&root, &["status", "--porcelain"]), "");
    assert_eq!(
        std::fs::read_to_string(root.join("README.md")).unwrap(),
        "# scratch\n"
    );

    // An explicit path works from anywhere, and a store opened on it is current.
    let elsewhere = tempfile::tempdir().unwrap();
    let again = ok(elsewhere.path(), &["init", root.to_str().unwrap()]);
    assert!(again.contains("already initialised"), "{again}");
    Store::open_existing(&root.join(".enki/db.sqlite")).unwrap();
}

fn step(id: &str, needs: Vec<NewNeed>) -> NewStep {
    NewStep {
        description: format!("Do {id}."),
        ..NewStep::new(id, format!("step {id} title")).needing(needs)
    }
}

fn on_step(id: &str, condition: Condition) -> NewNeed {
    NewNeed::step(id, condition)
}

/// What the populated project holds.
struct World {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    demo: String,
    other: String,
    a: String,
    b: String,
    c: String,
    x: String,
}

/// An initialised project with two executions: `other` (x, running) and
/// `demo pipeline` (a done; b needs a merged and x started; c, a checkpoint
/// with a role, needs b completed), a queued merge for a and three messages.
fn world() -> World {
    let (tmp, root) = git_project();
    ok(&root, &["init"]);
    let mut store = Store::open_existing(&root.join(".enki/db.sqlite")).unwrap();

    let other = store
        .create_execution(None, "other work", true, &[step("x", vec![])])
        .unwrap();
    let x = other.steps[0].1.clone();
    let mut b = step("b", vec![on_step("a", Condition::Merged)]);
    b.needs.push(NewNeed {
        target: NeedTarget::Task(x.clone()),
        condition: Condition::Started,
    });
    let mut c = step("c", vec![on_step("b", Condition::Completed)]);
    c.checkpoint = true;
    c.role = Some("documenter".to_string());
    c.tier = Tier::Light;
    let demo = store
        .create_execution(None, "demo pipeline", false, &[step("a", vec![]), b, c])
        .unwrap();
    let id = |s: &str| {
        demo.steps
            .iter()
            .find(|(step, _)| step == s)
            .map(|(_, id)| id.clone())
            .unwrap()
    };
    let (a, b, c) = (id("a"), id("b"), id("c"));

    store.set_task_status(&a, TaskStatus::Done).unwrap();
    store.set_task_status(&x, TaskStatus::Running).unwrap();
    store
        .record_worker_report(&b, "writing the tests", None)
        .unwrap();
    let request = store.enqueue_merge(&a, "enki/a", Some("main")).unwrap();
    store
        .set_merge_status(
            &request.id,
            MergeStatus::Queued,
            Some("waiting: uncommitted changes in README.md"),
        )
        .unwrap();

    let mail = |from: &str, to: &str, subject: &str, priority| NewMessage {
        session: None,
        from: from.to_string(),
        to: vec![to.to_string()],
        subject: subject.to_string(),
        body: format!("{subject}, please.\nSecond line."),
        priority,
        kind: MailKind::Request,
        thread_id: None,
        reply_to: None,
        reply_status: None,
        ttl_seconds: None,
    };
    store
        .send_mail(&mail(
            &format!("worker/{b}"),
            "coordinator",
            "need the schema",
            Priority::High,
        ))
        .unwrap();
    store
        .send_mail(&mail(
            "coordinator",
            &format!("worker/{b}"),
            "schema attached",
            Priority::Normal,
        ))
        .unwrap();
    store
        .send_mail(&mail(
            "coordinator",
            "user",
            "all good so far",
            Priority::Low,
        ))
        .unwrap();

    World {
        _tmp: tmp,
        root,
        demo: demo.execution_id,
        other: other.execution_id,
        a,
        b,
        c,
        x,
    }
}

#[test]
fn status_counts_tasks_and_lists_executions() {
    let w = world();
    let text = ok(&w.root, &["status"]);
    assert!(
        text.contains(
            "4 tasks: 2 pending, 1 running, 1 done · 0 running workers · merge queue: 1 · 2 active executions"
        ),
        "{text}"
    );
    // No coordinator runs here: the running task's agent is not working.
    assert!(text.contains("\ninterrupted:\n"), "{text}");
    assert!(!text.contains("workers:"), "{text}");
    assert!(text.contains("executions:"), "{text}");
    let queued = text
        .lines()
        .skip_while(|l| *l != "merge queue:")
        .nth(1)
        .unwrap_or_else(|| panic!("no merge queue listing: {text}"));
    assert!(
        queued.contains("queued")
            && queued.contains("[a] step a")
            && queued.contains("— waiting: uncommitted changes in README.md"),
        "{queued}"
    );
    for (id, title) in [(&w.demo, "demo pipeline"), (&w.other, "other work")] {
        let line = text
            .lines()
            .find(|l| l.contains(short(id)))
            .unwrap_or_else(|| panic!("{id} missing: {text}"));
        assert!(line.contains("running") && line.contains(title), "{line}");
    }

    let json = ok_json(&w.root, &["status"]);
    assert_eq!(json["counts"]["total"], 4);
    assert_eq!(json["counts"]["by_status"]["pending"], 2);
    assert_eq!(json["counts"]["merge_queue"], 1);
    assert_eq!(json["merge_queue"][0]["step_id"], "a");
    assert_eq!(json["merge_queue"][0]["request"]["status"], "queued");
    let mut titles: Vec<&str> = json["executions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["title"].as_str().unwrap())
        .collect();
    titles.sort_unstable();
    assert_eq!(titles, vec!["demo pipeline", "other work"]);

    // ENKI_SESSION_ID scopes the counts: nothing belongs to this session.
    let mut scoped = enki(&w.root, &["status"]);
    scoped.env("ENKI_SESSION_ID", "sess-01JNOSUCHSESSION");
    let out = run(scoped);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out.stdout.contains("no tasks yet"), "{}", out.stdout);
    assert!(out.stdout.contains("no executions"), "{}", out.stdout);
}

#[test]
fn tasks_lists_and_filters() {
    let w = world();
    let text = ok(&w.root, &["tasks"]);
    // A header, 4 tasks, and what no coordinator means for the running one.
    assert_eq!(text.lines().count(), 6, "{text}");
    assert!(
        text.trim_end()
            .ends_with("`enki run` (or `enki`) runs them again"),
        "{text}"
    );
    assert!(text.starts_with("TASK "), "{text}");
    let line_of = |id: &str| {
        text.lines()
            .find(|l| l.starts_with(short(id)))
            .unwrap_or_else(|| panic!("{id} missing: {text}"))
            .to_string()
    };
    let b = line_of(&w.b);
    assert!(
        b.contains("pending") && b.contains("standard") && b.contains("step b title"),
        "{b}"
    );
    assert!(b.ends_with("writing the tests"), "{b}");
    let c = line_of(&w.c);
    assert!(c.contains("light") && c.contains("documenter"), "{c}");
    assert!(line_of(&w.x).contains("running"), "{text}");

    let done = ok(&w.root, &["tasks", "--status", "done"]);
    assert_eq!(done.lines().count(), 2, "{done}");
    assert!(
        done.lines().nth(1).unwrap().starts_with(short(&w.a)),
        "{done}"
    );

    let demo_only = ok(&w.root, &["tasks", "--execution", short(&w.demo)]);
    assert_eq!(demo_only.lines().count(), 4, "{demo_only}");
    assert!(!demo_only.contains(short(&w.x)), "{demo_only}");

    assert_eq!(
        ok(&w.root, &["tasks", "--status", "failed"]).trim(),
        "no tasks"
    );

    let json = ok_json(&w.root, &["tasks", "--execution", short(&w.demo)]);
    let tasks = json["tasks"].as_array().unwrap();
    let steps: Vec<&str> = tasks
        .iter()
        .map(|t| t["step_id"].as_str().unwrap())
        .collect();
    assert_eq!(steps, vec!["a", "b", "c"]);
    assert_eq!(tasks[1]["activity"], "writing the tests");

    // A bad status is a usage error.
    let out = run(enki(&w.root, &["tasks", "--status", "sleeping"]));
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("sleeping"), "{}", out.stderr);
}

#[test]
fn task_shows_one_task_by_prefix() {
    let w = world();
    let text = ok(&w.root, &["task", short(&w.b)]);
    assert!(
        text.starts_with(&format!("{}  step b title", w.b)),
        "{text}"
    );
    for expected in [
        "step:        b (#2 in the execution)".to_string(),
        "status:      pending".to_string(),
        "activity:    writing the tests".to_string(),
        format!("a ({})", short(&w.a)),
        "merged   is done".to_string(),
        format!("{} (step x of {})", short(&w.x), short(&w.other)),
        "started  is running".to_string(),
        format!("{}  needs it completed  ✗", short(&w.c)),
        "merge requests: none".to_string(),
        "description:\n    Do b.".to_string(),
        "events:".to_string(),
        "report".to_string(),
    ] {
        assert!(text.contains(&expected), "missing {expected:?} in\n{text}");
    }
    assert_eq!(text.matches('✓').count(), 2, "{text}");

    let a = ok(&w.root, &["task", &w.a[..w.a.len() - 3]]);
    assert!(a.contains("queued  enki/a -> main"), "{a}");

    let json = ok_json(&w.root, &["task", short(&w.b)]);
    assert_eq!(json["task"]["id"], w.b.as_str());
    assert_eq!(json["task"]["step_id"], "b");
    assert_eq!(json["needs"].as_array().unwrap().len(), 2);
    assert_eq!(json["dependents"][0]["task_id"], w.c.as_str());
    assert_eq!(json["execution"]["title"], "demo pipeline");
    let kinds: Vec<&str> = json["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, vec!["created", "report"]);
}

#[test]
fn dag_renders_levels_and_cross_execution_needs() {
    let w = world();
    let text = ok(&w.root, &["dag"]);
    assert!(
        text.contains(&format!(
            "{}  demo pipeline  [running]  3 steps",
            short(&w.demo)
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "{}  other work  [running]  standalone task",
            short(&w.other)
        )),
        "{text}"
    );
    let lines: Vec<&str> = text.lines().collect();
    let row = |prefix: &str| {
        lines
            .iter()
            .position(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no line starting {prefix:?}: {text}"))
    };
    let a = row("  L0  a ");
    let b = row("  L1    b ");
    let c = row("  L2      c ");
    assert!(a < b && b < c, "{text}");
    assert!(lines[a].contains("done"), "{text}");
    assert_eq!(
        lines[b + 1].trim(),
        format!(
            "needs a (merged ✓), {} in another execution (started ✓)",
            short(&w.x)
        )
    );
    assert_eq!(lines[c + 1].trim(), "needs b (completed ✗)");
    assert!(lines[c].ends_with("checkpoint"), "{text}");

    let one = ok(&w.root, &["dag", short(&w.demo)]);
    assert!(
        one.contains("demo pipeline") && !one.contains("other work"),
        "{one}"
    );

    let json = ok_json(&w.root, &["dag", short(&w.demo)]);
    let executions = json["executions"].as_array().unwrap();
    assert_eq!(executions.len(), 1);
    let demo = &executions[0];
    assert_eq!(demo["id"], w.demo.as_str());
    let levels: Vec<(String, i64)> = demo["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["step_id"].as_str().unwrap().to_string(),
                n["level"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        levels,
        vec![("a".into(), 0), ("b".into(), 1), ("c".into(), 2)]
    );
    let edges = demo["edges"].as_array().unwrap();
    assert_eq!(edges.len(), 3);
    assert!(edges.iter().any(|e| e["from"] == w.x.as_str()
        && e["to"] == w.b.as_str()
        && e["condition"] == "started"
        && e["satisfied"] == true));

    let err = fails(&w.root, &["dag", "exec-7ZZZZ"]);
    assert!(err.contains("no execution matches 'exec-7ZZZZ'"), "{err}");
}

#[test]
fn mail_lists_by_mailbox() {
    let w = world();
    let text = ok(&w.root, &["mail", "--to", "coordinator"]);
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.contains("need the schema"), "{text}");
    assert!(text.contains("high"), "{text}");
    assert!(text.contains("(unread)"), "{text}");
    assert!(
        text.contains(&format!("worker/{} -> coordinator", short(&w.b))),
        "{text}"
    );

    let worker = ok(
        &w.root,
        &["mail", "--to", &format!("worker/{}", short(&w.b))],
    );
    assert_eq!(worker.lines().count(), 1, "{worker}");
    assert!(worker.contains("schema attached"), "{worker}");

    let all = ok(&w.root, &["mail", "--unread"]);
    assert_eq!(all.lines().count(), 3, "{all}");
    // Unread listings put the most pressing first.
    assert!(
        all.lines().next().unwrap().contains("need the schema"),
        "{all}"
    );

    let json = ok_json(&w.root, &["mail", "--to", "coordinator"]);
    let messages = json["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["subject"], "need the schema");
    assert_eq!(messages[0]["from"], format!("worker/{}", w.b));
    assert_eq!(messages[0]["read_at"], Value::Null);

    let id = messages[0]["id"].as_str().unwrap();
    let shown = ok(&w.root, &["mail", short(id)]);
    assert!(
        shown
            .lines()
            .any(|l| l.trim_start().starts_with("subject:") && l.ends_with(" need the schema")),
        "{shown}"
    );
    assert!(shown.starts_with(&format!("message {id}")), "{shown}");
    assert!(
        shown.contains("need the schema, please.\nSecond line."),
        "{shown}"
    );
    // Looking is not reading.
    let still = ok_json(&w.root, &["mail", "--to", "coordinator", "--unread"]);
    assert_eq!(still["messages"].as_array().unwrap().len(), 1);

    assert_eq!(
        ok(&w.root, &["mail", "--to", "user", "--unread"])
            .lines()
            .count(),
        1
    );
    let err = fails(&w.root, &["mail", "--to", "nobody"]);
    assert!(err.contains("invalid address 'nobody'"), "{err}");
}

#[test]
fn a_task_is_named_by_its_step_or_execution_and_step() {
    let w = world();
    let by_step = ok(&w.root, &["task", "b"]);
    assert!(by_step.contains(&w.b), "{by_step}");
    let qualified = format!("{}:c", short(&w.demo));
    let by_both = ok(&w.root, &["task", &qualified]);
    assert!(by_both.contains(&w.c), "{by_both}");
    let err = fails(&w.root, &["task", "nope"]);
    assert!(err.contains("no task matches 'nope'"), "{err}");
    let err = fails(&w.root, &["task", &format!("{}:x", short(&w.demo))]);
    assert!(err.contains("has no step 'x'"), "{err}");
}

#[test]
fn errors_are_clear_and_exit_1() {
    // No .enki/ anywhere above an empty temp dir.
    let empty = tempfile::tempdir().unwrap();
    for args in [
        &["status"][..],
        &["tasks"],
        &["task", "01J"],
        &["dag"],
        &["mail"],
    ] {
        let err = fails(empty.path(), args);
        assert!(err.contains("enki init"), "{args:?}: {err}");
        assert!(err.contains(".enki"), "{args:?}: {err}");
    }

    let w = world();
    // Every task id starts with `task-0` today: ambiguous, candidates listed.
    let err = fails(&w.root, &["task", "task-0"]);
    assert!(err.contains("ambiguous"), "{err}");
    for id in [&w.a, &w.b, &w.c, &w.x] {
        assert!(err.contains(id.as_str()), "{id} not listed: {err}");
    }
    let err = fails(&w.root, &["task", "task-7ZZZZ"]);
    assert!(err.contains("no task matches 'task-7ZZZZ'"), "{err}");

    // A database from a newer enki is refused.
    let store = Store::open_existing(&w.root.join(".enki/db.sqlite")).unwrap();
    store
        .connection()
        .pragma_update(None, "user_version", 999)
        .unwrap();
    drop(store);
    for args in [&["status"][..], &["tasks"], &["dag"]] {
        let err = fails(&w.root, args);
        assert!(err.contains("newer"), "{args:?}: {err}");
        assert!(err.contains("999"), "{args:?}: {err}");
    }
}

#[test]
fn a_user_configuration_is_read_from_the_tests_own_fake_home_only() {
    let project = enki_tests::Project::new();
    let user_dir = project.home.config_dir().join("enki");
    std::fs::create_dir_all(&user_dir).unwrap();
    std::fs::write(
        user_dir.join("enki.toml"),
        "[agent]\ncommand = \"/no/such/user-agent\"\n",
    )
    .unwrap();
    let doctor = |project: &enki_tests::Project| {
        let output = project
            .enki(&["doctor"])
            .output()
            .expect("enki doctor runs");
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let text = doctor(&project);
    assert!(text.contains("/no/such/user-agent"), "{text}");
    // Another test's home, and the developer's, are never read.
    let text = doctor(&enki_tests::Project::new());
    assert!(!text.contains("/no/such/user-agent"), "{text}");
}
