//! A project that is not a git repository, end to end: enki tracks it with
//! its own hidden metadata in `.enki/git`, lands work in the folder, keeps
//! the user's edits and leaves no repository behind in the project.
// An integration test: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

use enki_tests::{Project, describe};

/// A plain folder with two files of the user's, `enki init` done and the
/// `sim` agent configured for every role.
fn plain_folder() -> Project {
    let project = Project::bare();
    std::fs::write(project.root.join("notes.txt"), "the user's notes\n").unwrap();
    std::fs::create_dir_all(project.root.join("docs")).unwrap();
    std::fs::write(project.root.join("docs/guide.md"), "# Guide\n").unwrap();
    project.init();
    std::fs::create_dir_all(project.enki_dir().join("sim")).unwrap();
    std::fs::write(
        project.enki_dir().join("enki.toml"),
        "[agent]\ncommand = \"sim\"\n\n[sim]\nscripts = \"sim\"\n",
    )
    .unwrap();
    project
}

/// git on enki's hidden repository (explicit GIT_DIR, so the test does not
/// depend on anything found by searching upwards).
fn hidden_git(project: &Project, args: &[&str]) -> String {
    let output = Command::new("git")
        .arg("-C")
        .arg(&project.root)
        .args(args)
        .env("GIT_DIR", project.enki_dir().join("git"))
        .env("GIT_WORK_TREE", &project.root)
        .output()
        .expect("git runs");
    assert!(
        output.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// No `.git` file or folder anywhere in the project outside `.enki/`, and
/// git finds no repository rooted at the project.
fn assert_no_repository(root: &Path) {
    fn walk(dir: &Path, root: &Path) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            let name = entry.file_name();
            if dir == root && name == ".enki" {
                continue;
            }
            assert!(name != ".git", "{} exists", path.display());
            if entry.file_type().unwrap().is_dir() {
                walk(&path, root);
            }
        }
    }
    walk(root, root);
    let output = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["rev-parse", "--show-toplevel"])
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .output()
        .expect("git runs");
    if output.status.success() {
        let top = String::from_utf8_lossy(&output.stdout).trim().to_string();
        assert_ne!(
            Path::new(&top).canonicalize().unwrap(),
            root.to_path_buf(),
            "a repository is rooted at the project"
        );
    }
}

fn read(project: &Project, file: &str) -> String {
    std::fs::read_to_string(project.root.join(file))
        .unwrap_or_else(|e| panic!("reading {file}: {e}"))
}

#[test]
fn a_plain_folder_gets_work_landed_and_no_repository() {
    let project = plain_folder();
    assert_no_repository(&project.root);
    project.writer_script("w-a", "a.txt", "from a\n");
    project.writer_script("w-b", "src/b.txt", "from b\n");
    let plan = project.plan(
        r#"title = "Two files"
[[steps]]
id = "a"
title = "Write a"
description = "[[sim:w-a]]"
[[steps]]
id = "b"
title = "Write b"
description = "[[sim:w-b]]"
needs = ["a"]
"#,
    );
    let output = project.run_enki(&["run", "--plan", plan.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));

    assert_eq!(read(&project, "a.txt"), "from a\n");
    assert_eq!(read(&project, "src/b.txt"), "from b\n");
    assert_eq!(read(&project, "notes.txt"), "the user's notes\n");
    assert_eq!(read(&project, "docs/guide.md"), "# Guide\n");
    assert_no_repository(&project.root);

    // The hidden repository holds the baseline and one commit per step,
    // and agrees with the folder.
    let subjects = hidden_git(&project, &["log", "--reverse", "--format=%s", "main"]);
    let subjects: Vec<&str> = subjects.lines().collect();
    assert_eq!(subjects.len(), 3, "{subjects:?}");
    assert_eq!(subjects[0], "enki: baseline of the project");
    assert!(subjects[1].starts_with("Write a (task-"), "{subjects:?}");
    assert!(subjects[2].starts_with("Write b (task-"), "{subjects:?}");
    assert!(
        hidden_git(&project, &["status", "--porcelain"])
            .trim()
            .is_empty()
    );
    // Landed copies and branches are cleaned up.
    assert!(
        hidden_git(&project, &["branch", "--list", "enki/*"])
            .trim()
            .is_empty()
    );

    // `enki doctor` says how the project is tracked.
    let output = project.enki(&["doctor", "--json"]).output().unwrap();
    let report: serde_json::Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("doctor JSON ({e}): {}", describe(&output)));
    let tracking = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "project")
        .unwrap_or_else(|| panic!("no project check: {report}"));
    assert_eq!(tracking["level"], "ok");
    let detail = tracking["detail"].as_str().unwrap();
    assert!(detail.contains("hidden metadata"), "{detail}");
}

#[test]
fn a_second_run_keeps_the_users_edit_and_lands_on_top_of_it() {
    let project = plain_folder();
    project.writer_script("w-a", "a.txt", "from a\n");
    let first = project.plan(
        r#"[[steps]]
id = "a"
title = "Write a"
description = "[[sim:w-a]]"
"#,
    );
    let output = project.run_enki(&["run", "--plan", first.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert_eq!(read(&project, "a.txt"), "from a\n");

    // The user edits their notes and one of enki's files between runs.
    std::fs::write(
        project.root.join("notes.txt"),
        "the user's notes\nan edit between runs\n",
    )
    .unwrap();
    std::fs::write(project.root.join("a.txt"), "from a\nand the user\n").unwrap();

    // The next worker appends to the edited notes: it sees the user's edit.
    project.script(
        "append",
        "[[turn]]\nsteps = [\n  { run = \"printf 'a line from the worker\\\\n' >> notes.txt\" },\n  { write = \"c.txt\", content = \"from c\\n\" },\n  { say = \"[OUTPUT]appended[/OUTPUT]\" },\n]\n",
    );
    let second = project.plan(
        r#"[[steps]]
id = "c"
title = "Append to the notes"
description = "[[sim:append]]"
"#,
    );
    let output = project.run_enki(&["run", "--plan", second.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));

    assert_eq!(
        read(&project, "notes.txt"),
        "the user's notes\nan edit between runs\na line from the worker\n"
    );
    assert_eq!(read(&project, "a.txt"), "from a\nand the user\n");
    assert_eq!(read(&project, "c.txt"), "from c\n");
    assert_eq!(read(&project, "docs/guide.md"), "# Guide\n");
    assert_no_repository(&project.root);

    let subjects = hidden_git(&project, &["log", "--reverse", "--format=%s", "main"]);
    let subjects: Vec<&str> = subjects.lines().collect();
    assert_eq!(subjects.len(), 4, "{subjects:?}");
    assert_eq!(subjects[2], "enki: user changes");
    assert!(
        subjects[3].starts_with("Append to the notes (task-"),
        "{subjects:?}"
    );
    assert!(
        hidden_git(&project, &["status", "--porcelain"])
            .trim()
            .is_empty()
    );
}

#[test]
fn a_folder_inside_a_bigger_repository_is_tracked_on_its_own() {
    let outer = Project::bare();
    enki_tests::git(&outer.root, &["init", "-q", "-b", "main"]);
    std::fs::write(outer.root.join("README.md"), "# outer\n").unwrap();
    enki_tests::git(&outer.root, &["add", "."]);
    enki_tests::git(&outer.root, &["commit", "-q", "-m", "outer"]);
    let outer_head = enki_tests::git(&outer.root, &["rev-parse", "HEAD"]);
    let app = outer.root.join("app");
    std::fs::create_dir_all(app.join(".enki/sim")).unwrap();
    std::fs::write(app.join("notes.txt"), "app notes\n").unwrap();
    let enki = |args: &[&str]| {
        let child = enki_tests::enki_command()
            .args(args)
            .current_dir(&app)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        enki_tests::wait_output(child, std::time::Duration::from_secs(120))
    };
    let output = enki(&["init"]);
    assert!(output.status.success(), "{}", describe(&output));
    std::fs::write(
        app.join(".enki/enki.toml"),
        "[agent]\ncommand = \"sim\"\n\n[sim]\nscripts = \"sim\"\n",
    )
    .unwrap();
    std::fs::write(
        app.join(".enki/sim/w-a.toml"),
        "[[turn]]\nsteps = [\n  { write = \"a.txt\", content = \"from a\\n\" },\n  { say = \"[OUTPUT]wrote a.txt[/OUTPUT]\" },\n]\n",
    )
    .unwrap();
    let plan = app.join(".enki/plan.toml");
    std::fs::write(
        &plan,
        "[[steps]]\nid = \"a\"\ntitle = \"Write a\"\ndescription = \"[[sim:w-a]]\"\n",
    )
    .unwrap();
    let output = enki(&["run", "--plan", plan.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));

    // The work landed in the project folder, tracked by enki's metadata.
    assert_eq!(
        std::fs::read_to_string(app.join("a.txt")).unwrap(),
        "from a\n"
    );
    assert_eq!(
        std::fs::read_to_string(app.join("notes.txt")).unwrap(),
        "app notes\n"
    );
    assert!(app.join(".enki/git/HEAD").is_file());
    assert!(!app.join(".git").exists());
    // The outer repository gained no commit and no branch.
    assert_eq!(
        enki_tests::git(&outer.root, &["rev-parse", "HEAD"]),
        outer_head
    );
    assert_eq!(
        enki_tests::git(&outer.root, &["branch", "--format=%(refname:short)"]).trim(),
        "main"
    );
}
