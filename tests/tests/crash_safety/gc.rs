//! `git gc --prune=now` while a merge waits: the squash commit the queue
//! holds in memory is kept under `refs/enki/landing/`, so it is not pruned
//! and the merge lands once it can.

use std::time::Duration;

use enki_tests::{Project, describe, git, wait_output};

#[test]
fn a_gc_while_a_merge_waits_does_not_strand_it() {
    let project = Project::with_sim("");
    project.commit_file("notes.txt", "committed\n", "notes");
    // The user's unsaved edit is in the way of the task's change.
    std::fs::write(project.root.join("notes.txt"), "the user's notes\n").unwrap();
    project.writer_script("n", "notes.txt", "from the task\n");
    let plan = project.plan("[[steps]]\nid = \"n\"\ntitle = \"N\"\ndescription = \"[[sim:n]]\"\n");
    let child = project.spawn_enki(&["run", "--plan", plan.to_str().unwrap()]);
    project.wait_until("the merge to wait for the user", || {
        let output = project.enki(&["status", "--json"]).output().unwrap();
        let status: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_default();
        status["merge_queue"][0]["request"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("uncommitted changes"))
    });
    let kept = git(
        &project.root,
        &["for-each-ref", "--format=%(objectname)", "refs/enki"],
    );
    assert_eq!(
        kept.lines().count(),
        1,
        "the computed squash is kept: {kept:?}"
    );

    git(
        &project.root,
        &["reflog", "expire", "--expire=now", "--all"],
    );
    git(&project.root, &["gc", "--quiet", "--prune=now"]);
    git(&project.root, &["checkout", "--", "notes.txt"]);

    let output = wait_output(child, Duration::from_secs(60));
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert_eq!(
        std::fs::read_to_string(project.root.join("notes.txt")).unwrap(),
        "from the task\n"
    );
    let refs = git(&project.root, &["for-each-ref", "refs/enki"]);
    assert!(refs.trim().is_empty(), "cleaned up after landing: {refs}");
}
