//! A worker's copy cannot make enki's git run a command it planted.

use std::path::Path;

use super::{repo, request};
use crate::{commit_all, create_copy};

/// A shell command that leaves `marker` behind when git runs it.
fn plant(marker: &Path) -> String {
    format!("touch '{}'", marker.display())
}

#[test]
fn planted_git_dirs_hooks_fsmonitor_and_filters_never_run_and_the_work_still_lands() {
    let (_dir, git) = repo();
    let copies = git.dir().join(".enki/copies");
    let copy = create_copy(&request(&git, &copies, "t-evil")).unwrap();
    let marker = git.dir().join("PWNED");
    let command = plant(&marker);

    // A git directory of the worker's making, with every way git executes.
    let fake = copy.path.join("fake-git");
    crate::Git::new(&copy.path)
        .run(&["init", "-q", "--bare", &fake.to_string_lossy()])
        .unwrap();
    let hooks = copy.path.join("my-hooks");
    std::fs::create_dir_all(&hooks).unwrap();
    for dir in [&hooks, &fake.join("hooks")] {
        for hook in [
            "pre-commit",
            "post-commit",
            "post-index-change",
            "reference-transaction",
        ] {
            let path = dir.join(hook);
            std::fs::write(&path, format!("#!/bin/sh\n{command}\n")).unwrap();
            std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
                .unwrap();
        }
    }
    let config = format!(
        "[core]\n\tbare = false\n\tfsmonitor = \"{command}\"\n\thooksPath = {}\n\
[filter \"evil\"]\n\tclean = \"{command}; cat\"\n\tsmudge = cat\n\trequired = true\n\
[diff \"evil\"]\n\ttextconv = \"{command}; cat\"\n",
        hooks.display()
    );
    std::fs::write(fake.join("config"), config).unwrap();
    std::fs::write(
        copy.path.join(".gitattributes"),
        "* filter=evil diff=evil\n",
    )
    .unwrap();
    // The copy's `.git` now names the worker's directory.
    std::fs::write(
        copy.path.join(".git"),
        format!("gitdir: {}\n", fake.display()),
    )
    .unwrap();
    std::fs::write(copy.path.join("work.txt"), "the real work\n").unwrap();

    let commit = commit_all(&git, &copy.path, "work (t-evil)")
        .unwrap()
        .expect("the work is committed");
    assert!(!marker.exists(), "a planted command ran");
    assert_eq!(
        git.run(&["show", &format!("{commit}:work.txt")]).unwrap(),
        "the real work"
    );
    assert_eq!(
        git.rev_parse("enki/t-evil").unwrap(),
        commit,
        "on the task branch"
    );
    git.run(&["diff", "main", &commit]).unwrap();
    assert!(!marker.exists(), "a planted textconv ran");
}
