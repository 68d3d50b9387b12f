//! Merging a branch tip into a base tip without a work tree (`git
//! merge-tree`), together with the base's own tree, which says whether the
//! merge changes anything: one git process for both where git reads merges
//! from its stdin (`--stdin`), two on an older git that cannot.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::git::{Git, GitError};

/// What merging a branch tip into a base tip gave.
pub(crate) enum Merged {
    /// The merged tree and the base's own tree: equal when the branch adds
    /// nothing to the base.
    Tree { merged: String, base: String },
    /// The branch conflicts with the base in these files.
    Conflict(Vec<String>),
}

/// Set once this git refused `merge-tree --stdin` (an older one): the
/// merge and the base's tree are asked for separately from then on.
static NO_STDIN_MERGES: AtomicBool = AtomicBool::new(false);

const MERGE_TREE: [&str; 4] = ["merge-tree", "--write-tree", "--name-only", "--no-messages"];

/// git's exit status for options it does not know.
const USAGE_ERROR: i32 = 129;

/// Merges `branch_tip` into `base_tip` and finds the base's tree.
pub(crate) fn merge_trees(
    project: &Git,
    base_tip: &str,
    branch_tip: &str,
) -> Result<Merged, GitError> {
    if project.known_tree(base_tip).is_none() && !NO_STDIN_MERGES.load(Ordering::Relaxed) {
        if let Some(merged) = merge_with_base_tree(project, base_tip, branch_tip)? {
            return Ok(merged);
        }
        NO_STDIN_MERGES.store(true, Ordering::Relaxed);
    }
    merge_alone(project, base_tip, branch_tip)
}

/// Both in one process: the branch merged into the base, and the base
/// merged into itself, whose result is the base's own tree (all three sides
/// are the same, so git resolves it at the top without reading further).
/// `None` when this git has no `--stdin`.
fn merge_with_base_tree(
    project: &Git,
    base_tip: &str,
    branch_tip: &str,
) -> Result<Option<Merged>, GitError> {
    let mut args = MERGE_TREE.to_vec();
    args.push("--stdin");
    let input = format!("{base_tip} {branch_tip}\n{base_tip} {base_tip}\n");
    let output = project.output_with_stdin(&args, input.as_bytes())?;
    match output.status.code() {
        Some(0) => {}
        Some(USAGE_ERROR) => return Ok(None),
        _ => {
            return Err(GitError::Failed {
                args: format!("merge-tree --stdin ({base_tip} {branch_tip})"),
                dir: project.dir().to_path_buf(),
                stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
            });
        }
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let mut fields = text.split('\0');
    match (read_merge(&mut fields), read_merge(&mut fields)) {
        (Some(branch), Some(base)) if base.clean => Ok(Some(if branch.clean {
            Merged::Tree {
                merged: branch.tree,
                base: base.tree,
            }
        } else {
            Merged::Conflict(branch.files)
        })),
        _ => Err(GitError::Invalid(format!(
            "`git merge-tree --stdin` of {base_tip} and {branch_tip} in {} answered what enki cannot read: {text:?}",
            project.dir().display()
        ))),
    }
}

/// One merge as `merge-tree --stdin --name-only --no-messages` tells it.
struct MergeRecord {
    clean: bool,
    tree: String,
    /// The conflicted files, sorted, each once.
    files: Vec<String>,
}

/// Reads one merge's record, `<1 clean | 0 conflicted> NUL <tree> NUL
/// [<file> NUL]… NUL`, off `fields` (git's output split at NUL).
fn read_merge<'a>(fields: &mut impl Iterator<Item = &'a str>) -> Option<MergeRecord> {
    let clean = match fields.next()? {
        "1" => true,
        "0" => false,
        _ => return None,
    };
    let tree = fields.next().filter(|tree| !tree.is_empty())?.to_string();
    let files = file_list(fields.take_while(|file| !file.is_empty()));
    Some(MergeRecord { clean, tree, files })
}

/// The conflicted files git named, sorted, each once (git may name a file
/// once per message about it).
pub(crate) fn file_list<'a>(names: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut files: Vec<String> = names.map(str::to_string).collect();
    files.sort();
    files.dedup();
    files
}

/// The merge by itself, and the base's tree from memory or asked for
/// (only when the merge is clean).
fn merge_alone(project: &Git, base_tip: &str, branch_tip: &str) -> Result<Merged, GitError> {
    let mut args = MERGE_TREE.to_vec();
    args.extend([base_tip, branch_tip]);
    let merge = project.output(&args)?;
    let text = String::from_utf8_lossy(&merge.stdout).to_string();
    let mut lines = text.lines();
    let tree = lines.next().unwrap_or_default().trim().to_string();
    match merge.status.code() {
        Some(0) if !tree.is_empty() => Ok(Merged::Tree {
            base: tree_of(project, base_tip)?,
            merged: tree,
        }),
        Some(1) => Ok(Merged::Conflict(file_list(lines.filter(|l| !l.is_empty())))),
        _ => Err(GitError::Failed {
            args: format!("merge-tree {base_tip} {branch_tip}"),
            dir: project.dir().to_path_buf(),
            stderr: String::from_utf8_lossy(&merge.stderr).trim().to_string(),
        }),
    }
}

fn tree_of(project: &Git, commit: &str) -> Result<String, GitError> {
    if let Some(tree) = project.known_tree(commit) {
        return Ok(tree);
    }
    project.run(&["rev-parse", &format!("{commit}^{{tree}}")])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::repo;

    /// What a merge gave, comparable.
    fn seen(merged: Merged) -> (Option<(String, String)>, Vec<String>) {
        match merged {
            Merged::Tree { merged, base } => (Some((merged, base)), Vec::new()),
            Merged::Conflict(files) => (None, files),
        }
    }

    /// A commit on `parent` with `file` holding `text`, made without a checkout.
    fn commit_on(git: &Git, parent: &str, file: &str, text: &str) -> String {
        let blob = git
            .run_with_input(&["hash-object", "-w", "--stdin"], text.as_bytes())
            .unwrap();
        let listing = git.run(&["ls-tree", parent]).unwrap();
        let mut entries: Vec<String> = listing
            .lines()
            .filter(|line| !line.ends_with(&format!("\t{file}")))
            .map(|line| format!("{line}\n"))
            .collect();
        entries.push(format!("100644 blob {blob}\t{file}\n"));
        let tree = git
            .run_with_input(&["mktree"], entries.concat().as_bytes())
            .unwrap();
        git.run(&["commit-tree", &tree, "-p", parent, "-m", file])
            .unwrap()
    }

    #[test]
    fn one_process_and_two_give_the_same_merges() {
        let (_dir, git) = repo();
        let base = git.rev_parse("HEAD").unwrap();
        let adds = commit_on(&git, &base, "b.txt", "b\n");
        let moved = commit_on(&git, &base, "a.txt", "base\n");
        let conflicts = commit_on(&git, &base, "a.txt", "branch\n");
        for (onto, branch) in [(&base, &adds), (&adds, &base), (&moved, &conflicts)] {
            let one = merge_with_base_tree(&git, onto, branch).unwrap().unwrap();
            let two = merge_alone(&git, onto, branch).unwrap();
            assert_eq!(seen(one), seen(two), "{onto} ← {branch}");
        }
        let (tree, _) = seen(merge_with_base_tree(&git, &base, &adds).unwrap().unwrap());
        let (merged, base_tree) = tree.unwrap();
        assert_ne!(merged, base_tree, "the branch adds b.txt");
        let (_, files) = seen(
            merge_with_base_tree(&git, &moved, &conflicts)
                .unwrap()
                .unwrap(),
        );
        assert_eq!(files, ["a.txt"]);
    }

    #[test]
    fn both_merges_are_read_from_one_answer() {
        let answer = ["0", "t1", "b.txt", "a.txt", "b.txt", "", "1", "t2", "", ""].join("\0");
        let mut fields = answer.split('\0');
        let branch = read_merge(&mut fields).unwrap();
        assert!(!branch.clean);
        assert_eq!(branch.tree, "t1");
        assert_eq!(branch.files, ["a.txt", "b.txt"]);
        let base = read_merge(&mut fields).unwrap();
        assert!(base.clean);
        assert_eq!(base.tree, "t2");
        assert!(base.files.is_empty());
    }

    #[test]
    fn an_answer_cut_short_is_not_read_as_a_merge() {
        assert!(read_merge(&mut "".split('\0')).is_none());
        assert!(read_merge(&mut "1\0".split('\0')).is_none());
        assert!(read_merge(&mut "fatal: no\0t\0\0".split('\0')).is_none());
    }
}
