//! An execution lands on the branch it was started on: a restart while the
//! user has another branch checked out lands the rest there, not on the
//! checked-out branch, and leaves the user's checkout alone.

use enki_tests::{Project, describe, git, stdout};

#[test]
fn a_restart_on_another_branch_lands_the_rest_on_the_executions_branch() {
    let project = Project::with_sim("");
    project.writer_script("a", "a.txt", "a\n");
    project.gated_script("gate", "go", "b.txt");
    let plan = project.plan(
        "[[steps]]\nid = \"a\"\ntitle = \"A\"\ndescription = \"[[sim:a]]\"\n\
         [[steps]]\nid = \"b\"\ntitle = \"B\"\ndescription = \"[[sim:gate]]\"\nneeds = [\"a\"]\n",
    );
    let mut child = project.spawn_enki(&["run", "--plan", plan.to_str().unwrap()]);
    project.wait_until("a landed and b running", || {
        project.status_of("a") == "done" && project.status_of("b") == "running"
    });
    child.kill().unwrap();
    child.wait().unwrap();

    // The user moves on to a branch of their own meanwhile.
    git(&project.root, &["checkout", "-q", "-b", "feature"]);
    project.commit_file("mine.txt", "mine\n", "my own work");
    let feature_before = git(&project.root, &["rev-parse", "feature"]);

    std::fs::write(project.enki_dir().join("go"), "").unwrap();
    let output = project.run_enki(&["run"]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert!(
        stdout(&output).contains("finished: 2 done"),
        "{}",
        describe(&output)
    );

    assert_eq!(git(&project.root, &["show", "main:b.txt"]), "b.txt\n");
    assert_eq!(
        git(&project.root, &["rev-parse", "feature"]),
        feature_before
    );
    assert_eq!(
        git(&project.root, &["branch", "--show-current"]).trim(),
        "feature"
    );
    assert!(
        !project.root.join("b.txt").exists(),
        "the user's checkout was left alone"
    );
    let status = git(&project.root, &["status", "--porcelain"]);
    assert!(status.trim().is_empty(), "{status}");
}
