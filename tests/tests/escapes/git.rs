//! Git that no agent can steer, end to end: a `sim` worker plants every way
//! git runs a command (a git directory of its own with `core.fsmonitor`,
//! hooks, filter and diff drivers, `core.sshCommand`, an editor, a pager,
//! signing and credential programs, and `.gitattributes` naming them), points
//! its copy's `.git` file at that directory and finishes normally. None of
//! the planted commands runs when enki commits and lands the copy (each would
//! leave a marker in a folder the sandboxed agent cannot write), the agent's
//! own `git commit` fails clearly, and its work lands on main. A control test
//! runs the same plants under an ordinary git, which does run them.

use std::path::{Path, PathBuf};
use std::process::Command;

use enki_tests::{Project, describe, git};

/// Every program the plants name, each leaving a marker of its name.
const PLANTED: &[&str] = &[
    "fsmonitor",
    "ssh-command",
    "editor",
    "pager",
    "filter-clean",
    "filter-smudge",
    "diff-external",
    "diff-command",
    "textconv",
    "merge-driver",
    "gpg",
    "credential",
    "askpass",
];

/// Hooks planted both in the worker's git directory and in a `hooksPath`.
const HOOKS: &[&str] = &[
    "pre-commit",
    "prepare-commit-msg",
    "commit-msg",
    "post-commit",
    "post-index-change",
    "reference-transaction",
    "post-checkout",
    "post-merge",
    "post-rewrite",
    "pre-auto-gc",
];

/// The shell script that plants everything in the current folder (a
/// copy), with markers going to `markers`, and swaps `.git` to the
/// planted git directory.
fn plant_script(markers: &Path) -> String {
    let planted = PLANTED.join(" ");
    let hooks = HOOKS.join(" ");
    format!(
        r#"set -e
markers='{markers}'
here=$(pwd)
mkdir -p planted/hooks
for name in {planted}; do
  printf '#!/bin/sh\ntouch "%s/%s"\n' "$markers" "$name" > "planted/$name"
  chmod +x "planted/$name"
done
git init -q --bare planted/git
for hook in {hooks}; do
  for dir in planted/hooks planted/git/hooks; do
    printf '#!/bin/sh\ntouch "%s/hook-%s"\n' "$markers" "$hook" > "$dir/$hook"
    chmod +x "$dir/$hook"
  done
done
p="$here/planted"
cat > planted/git/config <<EOF
[core]
	repositoryformatversion = 0
	bare = false
	fsmonitor = $p/fsmonitor
	hooksPath = $p/hooks
	sshCommand = $p/ssh-command
	editor = $p/editor
	pager = $p/pager
	askPass = $p/askpass
[filter "evil"]
	clean = "$p/filter-clean; cat"
	smudge = "$p/filter-smudge; cat"
	required = true
[diff]
	external = $p/diff-external
[diff "evil"]
	command = $p/diff-command
	textconv = $p/textconv
[merge "evil"]
	driver = $p/merge-driver
[commit]
	gpgSign = true
[gpg]
	program = $p/gpg
[credential]
	helper = $p/credential
[remote "origin"]
	url = ssh://git.invalid/evil.git
EOF
printf '* filter=evil diff=evil merge=evil\n' > .gitattributes
printf 'gitdir: %s\n' "$here/planted/git" > .git
"#,
        markers = markers.display()
    )
}

/// The worker's own attempt to commit in its copy, before the swap: its
/// output and exit statuses go to `own-git.txt`, which lands with the work.
const OWN_COMMIT: &str = "echo mine > mine.txt; \
git add mine.txt 2> own-git.txt; echo \"add: $?\" >> own-git.txt; \
git -c user.name=w -c user.email=w@enki.invalid commit -qam mine 2>> own-git.txt; \
echo \"commit: $?\" >> own-git.txt";

/// A TOML literal string holding `text` (which has no `'''`).
fn literal(text: &str) -> String {
    assert!(!text.contains("'''"));
    format!("'''\n{text}'''")
}

fn markers_left(markers: &Path) -> Vec<String> {
    let mut left: Vec<String> = std::fs::read_dir(markers)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    left
}

/// A folder for markers outside every copy: in `.enki/`, which no agent
/// may write.
fn markers_folder(project: &Project) -> PathBuf {
    let markers = project.enki_dir().join("markers");
    std::fs::create_dir(&markers).unwrap();
    markers
}

#[test]
fn planted_git_config_hooks_filters_and_a_swapped_git_dir_never_run_and_the_work_lands() {
    let project = Project::with_sim("[workers]\nretries = 0\n");
    let markers = markers_folder(&project);
    project.script(
        "planter",
        &format!(
            "[[turn]]\n\
             [[turn.steps]]\nrun = {}\n\
             [[turn.steps]]\nrun = {}\n\
             [[turn.steps]]\nwrite = \"work.txt\"\ncontent = \"the real work\\n\"\n\
             [[turn.steps]]\nsay = \"[OUTPUT]done[/OUTPUT]\"\n",
            literal(OWN_COMMIT),
            literal(&plant_script(&markers)),
        ),
    );
    let plan = project.plan(
        "title = \"Plant\"\n[[steps]]\nid = \"w\"\ntitle = \"Plant\"\ndescription = \"[[sim:planter]]\"\n",
    );
    let git_config = std::fs::read_to_string(project.root.join(".git/config")).unwrap();

    let output = project.run_enki(&["run", "--plan", plan.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));

    assert_eq!(
        markers_left(&markers),
        Vec::<String>::new(),
        "planted commands ran"
    );
    assert_eq!(
        git(&project.root, &["show", "main:work.txt"]),
        "the real work\n"
    );
    assert_eq!(
        std::fs::read_to_string(project.root.join("work.txt")).unwrap(),
        "the real work\n"
    );
    // The worker's own git could write neither the index nor objects of its
    // copy's metadata, which is the repository's, outside the copy.
    let own = git(&project.root, &["show", "main:own-git.txt"]);
    assert!(
        own.contains("add: 128") && own.contains("commit: 128"),
        "{own}"
    );
    assert!(
        own.contains("index.lock") && own.contains("Permission denied"),
        "{own}"
    );
    assert_eq!(
        std::fs::read_to_string(project.root.join(".git/config")).unwrap(),
        git_config
    );
    // The copy, its `.git` swapped, was still removed.
    let worktrees = git(&project.root, &["worktree", "list", "--porcelain"]);
    assert_eq!(worktrees.matches("worktree ").count(), 1, "{worktrees}");
    // What it planted landed as inert files.
    let tree = git(&project.root, &["ls-tree", "-r", "--name-only", "main"]);
    assert!(tree.lines().any(|l| l == "planted/git/config"), "{tree}");
    assert_eq!(
        markers_left(&markers),
        Vec::<String>::new(),
        "planted commands ran"
    );
}

/// The plants are live: an ordinary git in a worktree carrying them runs
/// them, so the test above would see an escape if enki's git ran one.
#[test]
fn under_an_ordinary_git_the_same_plants_run() {
    let project = Project::new();
    let markers = markers_folder(&project);
    let copy = project.root.join("copy");
    git(
        &project.root,
        &["worktree", "add", "-q", "-b", "copy", "copy"],
    );
    let mut plant = Command::new("sh");
    plant
        .arg("-c")
        .arg(plant_script(&markers))
        .current_dir(&copy);
    project.home.apply(&mut plant);
    let planted = plant.output().unwrap();
    assert!(planted.status.success(), "{planted:?}");
    std::fs::write(copy.join("work.txt"), "work\n").unwrap();
    let ordinary_git = |args: &[&str]| {
        let mut ordinary = Command::new("git");
        ordinary.args(args).current_dir(&copy);
        project.home.apply(&mut ordinary);
        ordinary.output().unwrap();
    };
    ordinary_git(&["add", "--all"]);
    // The planted `gpg` signs nothing, so the commit fails after the hooks.
    ordinary_git(&["commit", "-q", "-m", "work"]);
    std::fs::write(copy.join("work.txt"), "more work\n").unwrap();
    ordinary_git(&["diff"]);
    let left = markers_left(&markers);
    for marker in [
        "fsmonitor",
        "filter-clean",
        "hook-pre-commit",
        "gpg",
        "diff-command",
    ] {
        assert!(
            left.iter().any(|m| m == marker),
            "{marker} did not run: {left:?}"
        );
    }
}
