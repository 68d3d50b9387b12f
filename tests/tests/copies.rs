//! What a worker's copy gets, end to end with the `sim` agent: with
//! `[workers] copy_ignored = "listed"` only the ignored files that
//! `.worktreeinclude` or `[workers] include` list (never a build folder);
//! with `"all"` every ignored file; `[workers] setup` runs in the new copy
//! before its agent starts, and a setup that fails fails the attempt,
//! naming the command and showing its output.
// An integration test: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use enki_tests::{Project, describe, git};

/// A project whose `.gitignore` ignores a secret, a build folder, local
/// configuration and what the setup writes; `.worktreeinclude` lists the
/// secret.
fn project(workers: &str) -> Project {
    let project = Project::with_sim(&format!("[workers]\nretries = 0\n{workers}"));
    let root = &project.root;
    std::fs::write(
        root.join(".gitignore"),
        ".env\ntarget/\nconfig/*.local\nsetup-ran.txt\n",
    )
    .unwrap();
    std::fs::write(
        root.join(".worktreeinclude"),
        "# secrets the tests need\n.env\n",
    )
    .unwrap();
    git(root, &["add", ".gitignore", ".worktreeinclude"]);
    git(root, &["commit", "-q", "-m", "ignore rules"]);
    std::fs::write(root.join(".env"), "KEY=secret\n").unwrap();
    std::fs::create_dir_all(root.join("target")).unwrap();
    std::fs::write(root.join("target/app.bin"), "built\n").unwrap();
    std::fs::create_dir_all(root.join("config")).unwrap();
    std::fs::write(root.join("config/db.local"), "db=local\n").unwrap();
    // The worker writes down what its copy holds; that file lands.
    project.script(
        "look",
        r#"[[turn]]
steps = [
  { run = "for f in .env config/db.local target/app.bin setup-ran.txt; do if [ -e $f ]; then echo \"$f: $(cat $f)\"; else echo \"$f: absent\"; fi; done > seen.txt", expect_status = 0 },
  { say = "[OUTPUT]looked[/OUTPUT]" },
]
"#,
    );
    project
}

fn run_one_step(project: &Project) -> std::process::Output {
    let plan = project
        .plan("[[steps]]\nid = \"look\"\ntitle = \"Look\"\ndescription = \"[[sim:look]]\"\n");
    project.run_enki(&["run", "--plan", plan.to_str().unwrap()])
}

fn seen(project: &Project) -> String {
    git(&project.root, &["show", "main:seen.txt"])
}

#[test]
fn a_copy_gets_only_the_listed_ignored_files_and_is_set_up_first() {
    let project = project(
        "copy_ignored = \"listed\"\ninclude = [\"config/*.local\"]\nsetup = \"echo \\\"from $ENKI_PROJECT\\\" > setup-ran.txt\"\n",
    );
    let output = run_one_step(&project);
    assert!(output.status.success(), "{}", describe(&output));
    let root = project.root.display();
    assert_eq!(
        seen(&project),
        format!(
            ".env: KEY=secret\nconfig/db.local: db=local\ntarget/app.bin: absent\nsetup-ran.txt: from {root}\n"
        )
    );
    let log = std::fs::read_to_string(
        project
            .enki_dir()
            .join("logs/setup")
            .join(format!("{}.log", project.task_id("look"))),
    );
    assert!(log.is_ok(), "the setup's log is kept");
}

#[test]
fn with_all_a_copy_gets_every_ignored_file() {
    let project = project("copy_ignored = \"all\"\n");
    let output = run_one_step(&project);
    assert!(output.status.success(), "{}", describe(&output));
    assert_eq!(
        seen(&project),
        ".env: KEY=secret\nconfig/db.local: db=local\ntarget/app.bin: built\nsetup-ran.txt: absent\n"
    );
}

#[test]
fn a_setup_that_fails_fails_the_attempt_and_says_why() {
    let project = project("setup = \"echo cannot install >&2; exit 3\"\n");
    let output = run_one_step(&project);
    assert!(!output.status.success(), "{}", describe(&output));
    let task = project.task_by_step("look");
    assert_eq!(task["status"], "failed", "{task}");
    let error = task["last_error"].as_str().unwrap();
    assert!(
        error.contains("the setup command `echo cannot install >&2; exit 3` failed")
            && error.contains("cannot install")
            && error.contains("[workers] setup"),
        "{error}"
    );
}
