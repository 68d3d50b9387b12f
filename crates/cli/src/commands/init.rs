//! `enki init [PATH]`: create `.enki/` and its database, keep it out of git.
//! Idempotent, and never touches tracked files.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use enki_project::Layout;
use enki_project::init::init_dirs;
use enki_store::{SCHEMA_VERSION, Store};
use serde_json::json;

use super::{print_json, print_text};

/// `path` relative to the project root, for messages (`.enki/events/`).
fn relative(root: &Path, path: &Path) -> String {
    let shown = path.strip_prefix(root).unwrap_or(path);
    format!("{}/", shown.display())
}

pub fn run(path: Option<PathBuf>, json: bool) -> Result<()> {
    let root = match path {
        Some(path) => path,
        None => std::env::current_dir().context("cannot read the current directory")?,
    };
    if !root.is_dir() {
        bail!("'{}' is not a directory", root.display());
    }
    let root = root
        .canonicalize()
        .with_context(|| format!("cannot resolve '{}'", root.display()))?;
    let database_existed = Layout::for_project(&root).db().is_file();
    let (layout, report) = init_dirs(&root)
        .with_context(|| format!("cannot create the .enki/ folder in '{}'", root.display()))?;
    // Creates the database, or brings an existing one up to date.
    drop(Store::open(&layout.db())?);
    let database_created = !database_existed;
    let already =
        report.created_dirs.is_empty() && !database_created && report.excluded_in.is_none();

    if json {
        return print_json(&json!({
            "enki_dir": layout.dir,
            "already_initialised": already,
            "created_dirs": report.created_dirs,
            "database": layout.db(),
            "database_created": database_created,
            "schema_version": SCHEMA_VERSION,
            "is_git": report.is_git,
            "excluded_in": report.excluded_in,
        }));
    }

    let mut lines = Vec::new();
    if already {
        lines.push(format!(
            "enki is already initialised in {}",
            layout.dir.display()
        ));
    } else {
        lines.push(format!("initialised enki in {}", layout.dir.display()));
    }
    if report.created_dirs.is_empty() {
        lines.push("  every folder was already there".to_string());
    } else {
        let created: Vec<String> = report
            .created_dirs
            .iter()
            .map(|dir| relative(&root, dir))
            .collect();
        lines.push(format!("  created {}", created.join(", ")));
    }
    let db = layout.db();
    let db_shown = db.strip_prefix(&root).unwrap_or(&db).display().to_string();
    if database_created {
        lines.push(format!(
            "  created the database {db_shown} (schema version {SCHEMA_VERSION})"
        ));
    } else {
        lines.push(format!(
            "  the database {db_shown} was already there (schema version {SCHEMA_VERSION})"
        ));
    }
    match (&report.excluded_in, report.is_git) {
        (Some(file), _) => lines.push(format!(
            "  added {} to {}",
            report.excluded_pattern.as_deref().unwrap_or("/.enki/"),
            file.display()
        )),
        (None, true) => lines.push("  .enki/ was already excluded from git".to_string()),
        (None, false) => lines.push("  not a git repository: enki tracks changes with its own metadata in .enki/git and leaves no repository in the project".to_string()),
    }
    print_text(&lines.join("\n"))
}
