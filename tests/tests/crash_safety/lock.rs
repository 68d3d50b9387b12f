//! One coordinator per project: two `enki run` started at the same instant,
//! a hundred times; the store's sessions never overlap.

use std::sync::{Arc, Barrier};

use enki_tests::{Project, describe, stdout, wait_output};

/// Each session's (start, end) as the store recorded them, oldest first.
fn sessions(project: &Project) -> Vec<(String, String)> {
    let db = rusqlite::Connection::open(project.db_path()).unwrap();
    let mut stmt = db
        .prepare("SELECT started_at, ended_at FROM sessions ORDER BY started_at")
        .unwrap();
    stmt.query_map([], |row| {
        Ok((row.get::<_, String>(0)?, row.get::<_, Option<String>>(1)?))
    })
    .unwrap()
    .map(|row| {
        let (start, end) = row.unwrap();
        (start, end.expect("every session ended"))
    })
    .collect()
}

#[test]
fn of_two_coordinators_started_at_the_same_instant_never_both_run() {
    let project = Project::with_sim("");
    let rounds = 100;
    let mut refused = 0;
    for _ in 0..rounds {
        let barrier = Arc::new(Barrier::new(2));
        let runs: Vec<_> = (0..2)
            .map(|_| {
                let barrier = barrier.clone();
                // The planner cannot start, so a run that wins ends at once.
                let mut cmd = project.enki(&["run", "--agent", "/no/such/agent", "plan"]);
                std::thread::spawn(move || {
                    barrier.wait();
                    let child = cmd
                        .stdin(std::process::Stdio::null())
                        .stdout(std::process::Stdio::piped())
                        .stderr(std::process::Stdio::piped())
                        .spawn()
                        .unwrap();
                    wait_output(child, std::time::Duration::from_secs(60))
                })
            })
            .collect();
        for run in runs {
            let output = run.join().unwrap();
            let text = format!(
                "{}{}",
                stdout(&output),
                String::from_utf8_lossy(&output.stderr)
            );
            if text.contains("another enki coordinator is running") {
                refused += 1;
            } else {
                // The planner could not start (the run that had the lock).
                assert!(text.contains("/no/such/agent"), "{}", describe(&output));
            }
            // Either way nothing ran.
            assert_eq!(output.status.code(), Some(3), "{}", describe(&output));
        }
    }
    let sessions = sessions(&project);
    assert_eq!(
        sessions.len(),
        2 * rounds - refused,
        "one session per run that started"
    );
    for pair in sessions.windows(2) {
        assert!(
            pair[0].1 <= pair[1].0,
            "two coordinators ran at once: {:?} overlaps {:?}",
            pair[0],
            pair[1]
        );
    }
}

#[test]
fn status_says_when_no_coordinator_runs_the_work_shown_as_running() {
    let project = Project::with_sim("");
    project.gated_script("gate", "go", "g.txt");
    let plan =
        project.plan("[[steps]]\nid = \"g\"\ntitle = \"Gated\"\ndescription = \"[[sim:gate]]\"\n");
    let mut child = project.spawn_enki(&["run", "--plan", plan.to_str().unwrap()]);
    project.wait_until("step g running", || project.status_of("g") == "running");
    let status = |project: &Project| {
        let output = project.enki(&["status", "--json"]).output().unwrap();
        serde_json::from_slice::<serde_json::Value>(&output.stdout).unwrap()
    };
    assert_eq!(status(&project)["coordinator"]["running"], true);
    // Killed outright: the store still says running, the lock is free.
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(project.status_of("g"), "running");
    let after = status(&project);
    assert_eq!(after["coordinator"]["running"], false, "{after:#}");
    // No worker runs without a coordinator: the task is listed as interrupted.
    assert_eq!(after["counts"]["running_workers"], 0, "{after:#}");
    assert_eq!(after["workers"], serde_json::json!([]), "{after:#}");
    assert_eq!(after["interrupted"][0]["step_id"], "g", "{after:#}");
    let output = project.enki(&["status"]).output().unwrap();
    let text = stdout(&output);
    assert!(
        text.contains("coordinator: none is running; the 1 running task(s) shown were interrupted"),
        "{text}"
    );
    assert!(text.contains("0 running workers"), "{text}");
    assert!(
        text.contains("interrupted (its agent's last state:"),
        "{text}"
    );
    // `enki tasks` and `enki task` say so too.
    let id = project.task_id("g");
    let listed = stdout(&project.enki(&["tasks"]).output().unwrap());
    assert!(
        listed.contains("no coordinator runs: the 1 task(s) shown running were interrupted"),
        "{listed}"
    );
    let listed: serde_json::Value =
        serde_json::from_slice(&project.enki(&["tasks", "--json"]).output().unwrap().stdout)
            .unwrap();
    assert_eq!(listed["interrupted"], serde_json::json!([id]), "{listed:#}");
    let detail = stdout(&project.enki(&["task", "g"]).output().unwrap());
    assert!(
        detail.contains("interrupted: no coordinator runs"),
        "{detail}"
    );
    // The next start takes over.
    std::fs::write(project.enki_dir().join("go"), "").unwrap();
    let output = project.run_enki(&["run"]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert_eq!(project.status_of("g"), "done");
}
