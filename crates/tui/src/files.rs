//! The project's files, for `@` completion: `git ls-files` (tracked and
//! untracked, minus ignored), else a directory walk. Run on a background
//! thread; the list is capped so a huge tree cannot stall completion.

use std::path::Path;
use std::process::{Command, Stdio};

/// Paths listed at most.
pub const MAX_FILES: usize = 50_000;

/// Folders a walk skips.
const SKIP_DIRS: &[&str] = &[".git", ".enki", "target", "node_modules", ".venv"];

pub fn list(root: &Path) -> Vec<String> {
    let mut files = git_files(root).unwrap_or_else(|| walk(root));
    files.sort();
    files.dedup();
    files.truncate(MAX_FILES);
    files
}

fn git_files(root: &Path) -> Option<Vec<String>> {
    let output = Command::new("git")
        .arg("-C")
        .arg(root)
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    Some(
        output
            .stdout
            .split(|b| *b == 0)
            .filter(|p| !p.is_empty())
            .filter_map(|p| std::str::from_utf8(p).ok())
            .filter(|p| !p.starts_with(".enki/"))
            .take(MAX_FILES)
            .map(str::to_string)
            .collect(),
    )
}

fn walk(root: &Path) -> Vec<String> {
    let mut files = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            let name = entry.file_name();
            if kind.is_dir() {
                if !SKIP_DIRS.iter().any(|s| name == *s) {
                    stack.push(path);
                }
            } else if kind.is_file()
                && let Ok(relative) = path.strip_prefix(root)
                && let Some(text) = relative.to_str()
            {
                files.push(text.to_string());
                if files.len() >= MAX_FILES {
                    return files;
                }
            }
        }
    }
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_a_plain_folder_skipping_build_output() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("src")).unwrap();
        std::fs::create_dir_all(dir.path().join("target/debug")).unwrap();
        std::fs::write(dir.path().join("src/lib.rs"), "").unwrap();
        std::fs::write(dir.path().join("README.md"), "").unwrap();
        std::fs::write(dir.path().join("target/debug/x"), "").unwrap();
        let mut files = walk(dir.path());
        files.sort();
        assert_eq!(files, ["README.md", "src/lib.rs"]);
    }
}
