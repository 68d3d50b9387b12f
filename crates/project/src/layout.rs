//! Where things live inside `.enki/`, and how a process finds that folder.

use std::path::{Path, PathBuf};

use thiserror::Error;

/// Name of the folder enki keeps in a project.
pub const ENKI_DIR_NAME: &str = ".enki";

/// Absolute paths of everything enki keeps for one project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// The `.enki/` folder itself.
    pub dir: PathBuf,
}

#[derive(Debug, Error)]
pub enum LocateError {
    #[error("ENKI_DIR is set to '{0}', which is not an absolute path")]
    RelativeEnkiDir(PathBuf),
    #[error(
        "ENKI_DIR points to '{0}', which does not exist or is not a directory; run `enki init` in the project"
    )]
    MissingEnkiDir(PathBuf),
    #[error(
        "no .enki/ folder found in '{0}' or any parent directory; run `enki init` in the project first"
    )]
    NotFound(PathBuf),
    #[error("'{0}' exists but is not initialised (no database); run `enki init` in the project")]
    NotInitialised(PathBuf),
    #[error("cannot read the current directory: {0}")]
    CurrentDir(std::io::Error),
}

impl Layout {
    pub fn new(dir: impl Into<PathBuf>) -> Layout {
        Layout { dir: dir.into() }
    }

    /// The layout for a project root (the folder that contains `.enki/`).
    pub fn for_project(root: &Path) -> Layout {
        Layout::new(root.join(ENKI_DIR_NAME))
    }

    /// The project root: the parent of `.enki/`.
    pub fn project_root(&self) -> &Path {
        self.dir.parent().unwrap_or(&self.dir)
    }

    pub fn db(&self) -> PathBuf {
        self.dir.join("db.sqlite")
    }
    pub fn events(&self) -> PathBuf {
        self.dir.join("events")
    }
    pub fn logs(&self) -> PathBuf {
        self.dir.join("logs")
    }
    /// enki's own log, written by the coordinator (TUI and `enki run`).
    pub fn log_file(&self) -> PathBuf {
        self.logs().join("enki.log")
    }
    /// The log of every `enki mcp` server of this project (one file, shared).
    pub fn mcp_log_file(&self) -> PathBuf {
        self.logs().join("mcp.log")
    }
    pub fn mcp_logs(&self) -> PathBuf {
        self.logs().join("mcp")
    }
    pub fn audit_log(&self) -> PathBuf {
        self.logs().join("audit.jsonl")
    }
    pub fn roles(&self) -> PathBuf {
        self.dir.join("roles")
    }
    pub fn copies(&self) -> PathBuf {
        self.dir.join("copies")
    }
    pub fn copy_of(&self, task_id: &str) -> PathBuf {
        self.copies().join(task_id)
    }
    /// Landed copies kept for the next task's copy (`enki_workspace`'s pool).
    pub fn pool(&self) -> PathBuf {
        self.dir.join("pool")
    }
    pub fn artifacts(&self) -> PathBuf {
        self.dir.join("artifacts")
    }
    pub fn config(&self) -> PathBuf {
        self.dir.join("enki.toml")
    }

    /// Finds the project's `.enki/`: `ENKI_DIR` when given, otherwise the
    /// nearest `.enki/` in `start` or its parents (like git finds `.git`).
    /// The folder must hold a database, i.e. `enki init` has run.
    pub fn locate(enki_dir_env: Option<&Path>, start: &Path) -> Result<Layout, LocateError> {
        let layout = match enki_dir_env {
            Some(dir) if !dir.as_os_str().is_empty() => {
                if !dir.is_absolute() {
                    return Err(LocateError::RelativeEnkiDir(dir.to_path_buf()));
                }
                if !dir.is_dir() {
                    return Err(LocateError::MissingEnkiDir(dir.to_path_buf()));
                }
                Layout::new(dir)
            }
            _ => start
                .ancestors()
                .map(|a| a.join(ENKI_DIR_NAME))
                .find(|candidate| candidate.is_dir())
                .map(Layout::new)
                .ok_or_else(|| LocateError::NotFound(start.to_path_buf()))?,
        };
        if !layout.db().is_file() {
            return Err(LocateError::NotInitialised(layout.dir));
        }
        Ok(layout)
    }

    /// [`Layout::locate`] using the process environment and current directory.
    pub fn locate_from_env() -> Result<Layout, LocateError> {
        let env = std::env::var_os("ENKI_DIR").map(PathBuf::from);
        let cwd = std::env::current_dir().map_err(LocateError::CurrentDir)?;
        Layout::locate(env.as_deref(), &cwd)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locate_searches_upward_and_requires_a_database() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let nested = root.join("a/b");
        std::fs::create_dir_all(&nested).unwrap();
        assert!(matches!(
            Layout::locate(None, &nested),
            Err(LocateError::NotFound(_))
        ));
        std::fs::create_dir(root.join(".enki")).unwrap();
        let err = Layout::locate(None, &nested).unwrap_err();
        assert!(matches!(err, LocateError::NotInitialised(_)), "{err}");
        std::fs::write(root.join(".enki/db.sqlite"), b"").unwrap();
        let layout = Layout::locate(None, &nested).unwrap();
        assert_eq!(layout.dir, root.join(".enki"));
        assert_eq!(layout.project_root(), root);
    }

    #[test]
    fn enki_dir_env_wins_and_is_checked() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join(".enki");
        let err = Layout::locate(Some(&dir), tmp.path()).unwrap_err();
        assert!(err.to_string().contains("does not exist"), "{err}");
        assert!(matches!(
            Layout::locate(Some(Path::new("rel/.enki")), tmp.path()),
            Err(LocateError::RelativeEnkiDir(_))
        ));
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("db.sqlite"), b"").unwrap();
        assert_eq!(Layout::locate(Some(&dir), Path::new("/")).unwrap().dir, dir);
    }
}
