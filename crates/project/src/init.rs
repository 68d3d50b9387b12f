//! `enki init`: create `.enki/` and keep it out of git.
//!
//! Idempotent: running it again creates only what is missing and never
//! touches tracked files (the exclusion goes to `.git/info/exclude`, which
//! git does not track, not to `.gitignore`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::layout::Layout;

/// What `init` did, for the CLI to print.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InitReport {
    pub created_dirs: Vec<PathBuf>,
    /// The exclude file that gained a `.enki/` line, if any.
    pub excluded_in: Option<PathBuf>,
    /// The line it gained (`/.enki/`, or `/app/.enki/` for a project in a
    /// sub-folder of its repository).
    pub excluded_pattern: Option<String>,
    /// Whether the project is a git repository.
    pub is_git: bool,
}

/// The folders `init` creates inside `.enki/`.
pub fn required_dirs(layout: &Layout) -> Vec<PathBuf> {
    vec![
        layout.dir.clone(),
        layout.events(),
        layout.events().join("rejected"),
        layout.logs(),
        layout.mcp_logs(),
        layout.roles(),
        layout.copies(),
        layout.artifacts(),
    ]
}

/// Creates the folder structure (not the database: the store does that).
pub fn create_dirs(layout: &Layout) -> std::io::Result<Vec<PathBuf>> {
    let mut created = Vec::new();
    for dir in required_dirs(layout) {
        if !dir.is_dir() {
            std::fs::create_dir_all(&dir)?;
            created.push(dir);
        }
    }
    Ok(created)
}

/// What `git -C dir rev-parse <args>` prints, trimmed; `None` outside git
/// or when git fails.
fn rev_parse(dir: &Path, args: &[&str]) -> Option<String> {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .arg("rev-parse")
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    String::from_utf8(output.stdout)
        .ok()
        .map(|s| s.trim().to_string())
}

/// The repository's exclude file, asking git so that worktrees and
/// submodules (where `.git` is a file) are handled. `None` outside git.
pub fn git_exclude_file(project_root: &Path) -> Option<PathBuf> {
    rev_parse(
        project_root,
        &["--path-format=absolute", "--git-path", "info/exclude"],
    )
    .filter(|path| !path.is_empty())
    .map(PathBuf::from)
}

/// The top folder of the git repository holding `dir`; `None` outside git.
pub fn repository_top(dir: &Path) -> Option<PathBuf> {
    rev_parse(dir, &["--show-toplevel"])
        .map(PathBuf::from)
        .filter(|path| path.is_dir())
}

/// Where the project sits inside its repository (`""` at the top, `"app/"`
/// for a sub-folder), so the exclusion names the right `.enki/`.
pub fn prefix_in_repository(project_root: &Path) -> String {
    rev_parse(project_root, &["--show-prefix"]).unwrap_or_default()
}

/// The exclude line for the `.enki/` of a project at `prefix` in its repository.
pub fn exclude_pattern(prefix: &str) -> String {
    format!("/{prefix}.enki/")
}

/// Adds `/<prefix>.enki/` to the exclude file unless an equivalent line is
/// there. Returns whether the file changed.
pub fn exclude_enki_dir(exclude_file: &Path, prefix: &str) -> std::io::Result<bool> {
    let pattern = exclude_pattern(prefix);
    let existing = match std::fs::read_to_string(exclude_file) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e),
    };
    let already = existing.lines().map(str::trim).any(|line| {
        line == pattern
            || line == pattern.trim_end_matches('/')
            || (prefix.is_empty() && matches!(line, ".enki" | ".enki/"))
    });
    if already {
        return Ok(false);
    }
    if let Some(parent) = exclude_file.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(exclude_file)?;
    let separator = if existing.is_empty() || existing.ends_with('\n') {
        ""
    } else {
        "\n"
    };
    write!(file, "{separator}# enki's working folder\n{pattern}\n")?;
    Ok(true)
}

/// Creates `.enki/` under `project_root` and keeps it out of git.
pub fn init_dirs(project_root: &Path) -> std::io::Result<(Layout, InitReport)> {
    let layout = Layout::for_project(project_root);
    let created_dirs = create_dirs(&layout)?;
    let mut report = InitReport {
        created_dirs,
        ..InitReport::default()
    };
    if let Some(exclude) = git_exclude_file(project_root) {
        report.is_git = true;
        let prefix = prefix_in_repository(project_root);
        if exclude_enki_dir(&exclude, &prefix)? {
            report.excluded_in = Some(exclude);
            report.excluded_pattern = Some(exclude_pattern(&prefix));
        }
    }
    Ok((layout, report))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exclusion_is_added_once_and_keeps_existing_lines() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("info/exclude");
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, "*.log").unwrap();
        assert!(exclude_enki_dir(&file, "").unwrap());
        assert!(!exclude_enki_dir(&file, "").unwrap());
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(text.starts_with("*.log\n"), "{text}");
        assert_eq!(text.matches("/.enki/").count(), 1);
        // A project in a sub-folder of the repository gets its own line.
        assert!(exclude_enki_dir(&file, "app/").unwrap());
        assert!(!exclude_enki_dir(&file, "app/").unwrap());
        assert!(
            std::fs::read_to_string(&file)
                .unwrap()
                .contains("\n/app/.enki/\n")
        );
    }

    #[test]
    fn a_sub_folder_reports_the_line_it_excluded() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        let status = Command::new("git")
            .arg("-C")
            .arg(&root)
            .args(["init", "-q"])
            .status()
            .unwrap();
        assert!(status.success());
        let sub = root.join("sub");
        std::fs::create_dir_all(&sub).unwrap();
        let (_, report) = init_dirs(&sub).unwrap();
        assert!(report.is_git);
        assert_eq!(report.excluded_pattern.as_deref(), Some("/sub/.enki/"));
        let exclude = report.excluded_in.expect("an exclude file");
        assert!(
            std::fs::read_to_string(exclude)
                .unwrap()
                .contains("\n/sub/.enki/\n")
        );
        let (_, again) = init_dirs(&sub).unwrap();
        assert_eq!(
            again.excluded_pattern, None,
            "nothing added the second time"
        );
    }

    #[test]
    fn dirs_are_created_idempotently_outside_git() {
        let tmp = tempfile::tempdir().unwrap();
        let (layout, first) = init_dirs(tmp.path()).unwrap();
        assert!(!first.is_git);
        assert_eq!(first.created_dirs.len(), required_dirs(&layout).len());
        let (_, second) = init_dirs(tmp.path()).unwrap();
        assert!(second.created_dirs.is_empty());
        for dir in required_dirs(&layout) {
            assert!(dir.is_dir(), "{}", dir.display());
        }
    }
}
