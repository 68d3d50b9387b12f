//! Loading the role cascade from disk: built-ins, `~/.enki/roles/`, then the
//! project's `.enki/roles/`.

use std::path::{Path, PathBuf};

use enki_core::role::{RoleFileError, RoleSet};

use crate::layout::Layout;

/// The user-wide roles folder, `~/.enki/roles/`, if a home is known.
pub fn home_roles_dir() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| PathBuf::from(h).join(".enki").join("roles"))
}

/// `*.toml` files of a folder in name order; a missing folder has none.
pub fn role_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|ext| ext == "toml") && p.is_file())
        .collect();
    files.sort();
    files
}

/// Loads roles from the given folders in cascade order. Files that cannot be
/// read or parsed are skipped and reported.
pub fn load_roles_from(dirs: &[PathBuf]) -> (RoleSet, Vec<RoleFileError>) {
    let mut texts: Vec<(String, String)> = Vec::new();
    let mut errors = Vec::new();
    for dir in dirs {
        for file in role_files(dir) {
            let name = file.display().to_string();
            match std::fs::read_to_string(&file) {
                Ok(text) => texts.push((name, text)),
                Err(e) => errors.push(RoleFileError {
                    source_name: name,
                    line: None,
                    message: format!("cannot read: {e}"),
                }),
            }
        }
    }
    let (set, mut parse_errors) = RoleSet::builtin().with_files(
        texts
            .iter()
            .map(|(name, text)| (name.as_str(), text.as_str())),
    );
    errors.append(&mut parse_errors);
    (set, errors)
}

/// The folders of a project's cascade, in order: `~/.enki/roles/`, then
/// the project's `.enki/roles/`.
pub fn role_dirs(layout: &Layout) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(home) = home_roles_dir() {
        dirs.push(home);
    }
    dirs.push(layout.roles());
    dirs
}

/// The full cascade for a project.
pub fn load_roles(layout: &Layout) -> (RoleSet, Vec<RoleFileError>) {
    load_roles_from(&role_dirs(layout))
}

/// A cheap summary of the cascade's files (names and contents): it changes
/// when a role file is added, removed or edited, so a long-lived process
/// knows when to load the roles again.
pub fn role_files_fingerprint(layout: &Layout) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::hash::DefaultHasher::new();
    for dir in role_dirs(layout) {
        for file in role_files(&dir) {
            file.hash(&mut hasher);
            std::fs::read(&file).ok().hash(&mut hasher);
        }
    }
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_roles_override_home_roles_and_bad_files_are_reported() {
        let tmp = tempfile::tempdir().unwrap();
        let home = tmp.path().join("home");
        let project = tmp.path().join("project");
        std::fs::create_dir_all(&home).unwrap();
        std::fs::create_dir_all(&project).unwrap();
        std::fs::write(
            home.join("a.toml"),
            "name = \"auditor\"\nlabel = \"home\"\n",
        )
        .unwrap();
        std::fs::write(
            project.join("a.toml"),
            "name = \"auditor\"\nlabel = \"project\"\n",
        )
        .unwrap();
        std::fs::write(project.join("bad.toml"), "name = 3\n").unwrap();
        std::fs::write(project.join("notes.txt"), "ignored").unwrap();
        let (set, errors) = load_roles_from(&[home, project.clone(), tmp.path().join("missing")]);
        assert_eq!(set.get("auditor").unwrap().label, "project");
        assert_eq!(errors.len(), 1);
        assert!(errors[0].source_name.ends_with("bad.toml"));
        assert_eq!(errors[0].line, Some(1));
        assert!(set.contains("researcher"));
    }

    #[test]
    fn the_fingerprint_follows_the_project_role_files() {
        let tmp = tempfile::tempdir().unwrap();
        let layout = Layout::for_project(tmp.path());
        let empty = role_files_fingerprint(&layout);
        std::fs::create_dir_all(layout.roles()).unwrap();
        let file = layout.roles().join("x.toml");
        std::fs::write(&file, "name = \"x\"\n").unwrap();
        let one = role_files_fingerprint(&layout);
        assert_ne!(one, empty);
        assert_eq!(role_files_fingerprint(&layout), one, "stable");
        std::fs::write(&file, "name = \"x\"\ndescription = \"d\"\n").unwrap();
        assert_ne!(role_files_fingerprint(&layout), one, "an edit shows");
        std::fs::remove_file(&file).unwrap();
        assert_eq!(role_files_fingerprint(&layout), empty);
    }
}
