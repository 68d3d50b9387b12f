//! `cargo xtask tidy`: the house rules that a compiler does not check,
//! checked over the source tree (and run as tests by `cargo xtask ci`):
//! every Rust file opens with a `//!` line and has at most 800 lines; no
//! `todo!`/`unimplemented!`; each crate depends only on crates of a lower
//! layer of `docs/ARCHITECTURE.md`; every crate inherits `[workspace.lints]`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Longer files are split along their seams.
pub const MAX_LINES: usize = 800;

/// Where the sources are, relative to the workspace root.
const SOURCE_DIRS: [&str; 3] = ["crates", "tests", "xtask"];

/// The heading of ARCHITECTURE.md's layer table.
const LAYERS_HEADING: &str = "## Layers";

/// One broken rule, where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: PathBuf,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.message)
    }
}

pub fn run() -> ExitCode {
    let root = crate::workspace_root();
    let problems = check(&root);
    if problems.is_empty() {
        eprintln!("xtask tidy: every rule holds");
        return ExitCode::SUCCESS;
    }
    for problem in &problems {
        eprintln!("{problem}");
    }
    eprintln!("xtask tidy: {} problem(s)", problems.len());
    ExitCode::from(1)
}

/// Every problem in the tree at `root`, paths relative to it.
pub fn check(root: &Path) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut files = Vec::new();
    for dir in SOURCE_DIRS {
        collect_rust_files(&root.join(dir), &mut files);
    }
    files.sort();
    for file in &files {
        let relative = file.strip_prefix(root).unwrap_or(file).to_path_buf();
        match std::fs::read_to_string(file) {
            Ok(text) => check_source(&relative, &text, &mut problems),
            Err(e) => problems.push(problem(&relative, format!("cannot read: {e}"))),
        }
    }
    check_manifests(root, &mut problems);
    problems
}

fn problem(path: &Path, message: impl Into<String>) -> Problem {
    Problem {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// Rust files below `dir`, leaving out build output and hidden folders.
fn collect_rust_files(dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || name == "target" {
            continue;
        }
        if path.is_dir() {
            collect_rust_files(&path, files);
        } else if name.ends_with(".rs") {
            files.push(path);
        }
    }
}

fn check_source(path: &Path, text: &str, problems: &mut Vec<Problem>) {
    if !text.starts_with("//!") {
        problems.push(problem(
            path,
            "does not open with a `//!` line saying why the file exists",
        ));
    }
    let lines = text.lines().count();
    if lines > MAX_LINES {
        problems.push(problem(
            path,
            format!("{lines} lines, over {MAX_LINES}: split it along its seams"),
        ));
    }
    // Spelled in two parts so that this file does not find itself.
    for unfinished in [concat!("todo", "!("), concat!("unimplemented", "!(")] {
        for (n, line) in text.lines().enumerate() {
            if line.contains(unfinished) {
                problems.push(problem(
                    path,
                    format!(
                        "line {}: `{unfinished}…)` on a path a user can reach",
                        n + 1
                    ),
                ));
            }
        }
    }
}

/// A crate of the workspace as its manifest describes it.
struct Manifest {
    /// Relative path of `Cargo.toml`.
    path: PathBuf,
    /// The folder name below `crates/` (the name ARCHITECTURE.md uses).
    short: String,
    package: String,
    /// Packages it depends on, normal and dev.
    depends_on: Vec<String>,
    inherits_lints: bool,
}

fn check_manifests(root: &Path, problems: &mut Vec<Problem>) {
    let root_manifest = Path::new("Cargo.toml");
    match read_toml(root, root_manifest) {
        Ok(table) => {
            let lints = table
                .get("workspace")
                .and_then(|w| w.get("lints"))
                .is_some();
            if !lints {
                problems.push(problem(root_manifest, "has no [workspace.lints] table"));
            }
        }
        Err(e) => problems.push(problem(root_manifest, e)),
    }

    let mut manifests = Vec::new();
    for dir in SOURCE_DIRS {
        let candidates: Vec<PathBuf> = if dir == "crates" {
            let mut found: Vec<PathBuf> = std::fs::read_dir(root.join(dir))
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| Path::new(dir).join(e.file_name()).join("Cargo.toml"))
                .filter(|p| root.join(p).is_file())
                .collect();
            found.sort();
            found
        } else {
            vec![Path::new(dir).join("Cargo.toml")]
        };
        for path in candidates.into_iter().filter(|p| root.join(p).is_file()) {
            match read_manifest(root, &path) {
                Ok(manifest) => manifests.push(manifest),
                Err(e) => problems.push(problem(&path, e)),
            }
        }
    }
    for manifest in &manifests {
        if !manifest.inherits_lints {
            problems.push(problem(
                &manifest.path,
                "does not inherit the workspace lints: add `[lints]` with `workspace = true`",
            ));
        }
    }
    check_layers(root, &manifests, problems);
}

fn read_toml(root: &Path, path: &Path) -> Result<toml::Table, String> {
    let text = std::fs::read_to_string(root.join(path)).map_err(|e| format!("cannot read: {e}"))?;
    text.parse::<toml::Table>()
        .map_err(|e| format!("not valid TOML: {e}"))
}

fn read_manifest(root: &Path, path: &Path) -> Result<Manifest, String> {
    let table = read_toml(root, path)?;
    let package = table
        .get("package")
        .and_then(|p| p.get("name"))
        .and_then(|n| n.as_str())
        .ok_or("has no [package] name")?
        .to_string();
    let mut depends_on = Vec::new();
    for section in ["dependencies", "dev-dependencies", "build-dependencies"] {
        if let Some(deps) = table.get(section).and_then(|d| d.as_table()) {
            depends_on.extend(deps.keys().cloned());
        }
    }
    let inherits_lints = table
        .get("lints")
        .and_then(|l| l.get("workspace"))
        .and_then(|w| w.as_bool())
        == Some(true);
    let folder = path.parent().unwrap_or(Path::new(""));
    let short = if folder.starts_with("crates") {
        folder
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    } else {
        folder.to_string_lossy().into_owned()
    };
    Ok(Manifest {
        path: path.to_path_buf(),
        short,
        package,
        depends_on,
        inherits_lints,
    })
}

/// Reads ARCHITECTURE.md's layer table: rows `| N | `a`, `b` |` below
/// [`LAYERS_HEADING`], a crate's short name to its layer.
fn read_layers(text: &str) -> Result<BTreeMap<String, u32>, String> {
    let section = text
        .split_once(LAYERS_HEADING)
        .map(|(_, rest)| rest)
        .ok_or_else(|| format!("has no `{LAYERS_HEADING}` section"))?;
    let mut layers = BTreeMap::new();
    for line in section.lines().skip(1) {
        if line.starts_with("## ") {
            break;
        }
        let cells: Vec<&str> = line
            .trim()
            .trim_matches('|')
            .split('|')
            .map(str::trim)
            .collect();
        let [layer, crates, ..] = cells.as_slice() else {
            continue;
        };
        let Ok(layer) = layer.parse::<u32>() else {
            continue;
        };
        for name in crates.split(',') {
            let name = name.trim().trim_matches('`');
            if !name.is_empty() {
                layers.insert(name.to_string(), layer);
            }
        }
    }
    if layers.is_empty() {
        return Err(format!(
            "its `{LAYERS_HEADING}` section has no `| layer | crates |` rows"
        ));
    }
    Ok(layers)
}

fn check_layers(root: &Path, manifests: &[Manifest], problems: &mut Vec<Problem>) {
    let doc = Path::new("docs/ARCHITECTURE.md");
    let layers = match std::fs::read_to_string(root.join(doc))
        .map_err(|e| format!("cannot read: {e}"))
        .and_then(|text| read_layers(&text))
    {
        Ok(layers) => layers,
        Err(e) => return problems.push(problem(doc, e)),
    };
    let by_package: BTreeMap<&str, &Manifest> =
        manifests.iter().map(|m| (m.package.as_str(), m)).collect();
    for manifest in manifests {
        let Some(&own) = layers.get(&manifest.short) else {
            problems.push(problem(
                &manifest.path,
                format!(
                    "crate `{}` has no layer in {}",
                    manifest.short,
                    doc.display()
                ),
            ));
            continue;
        };
        for dependency in &manifest.depends_on {
            let Some(other) = by_package.get(dependency.as_str()) else {
                continue; // not one of ours
            };
            let Some(&theirs) = layers.get(&other.short) else {
                continue; // reported for that crate
            };
            if theirs >= own {
                problems.push(problem(
                    &manifest.path,
                    format!(
                        "`{}` (layer {own}) depends on `{}` (layer {theirs}): a crate may only depend on lower layers ({})",
                        manifest.short,
                        other.short,
                        doc.display()
                    ),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_workspace_keeps_the_house_rules() {
        let problems = check(&crate::workspace_root());
        let list: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert!(problems.is_empty(), "tidy:\n{}", list.join("\n"));
    }

    /// A small tree that keeps every rule, to break one rule at a time.
    fn synthetic_tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let write = |path: &str, text: &str| {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        write(
            "Cargo.toml",
            "[workspace]\n[workspace.lints.rust]\nunsafe_code = \"deny\"\n",
        );
        write(
            "docs/ARCHITECTURE.md",
            "# a\n\n## Layers\n\n| layer | crates |\n|---|---|\n| 0 | `base` |\n| 1 | `top` |\n\n## Other\n| 0 | `ignored` |\n",
        );
        let manifest = |name: &str, deps: &str| {
            format!(
                "[package]\nname = \"{name}\"\n\n[dependencies]\n{deps}\n[lints]\nworkspace = true\n"
            )
        };
        write("crates/base/Cargo.toml", &manifest("my-base", ""));
        write("crates/base/src/lib.rs", "//! The base.\n");
        write(
            "crates/top/Cargo.toml",
            &manifest("my-top", "my-base = { path = \"../base\" }\n"),
        );
        write("crates/top/src/lib.rs", "//! The top.\npub fn f() {}\n");
        dir
    }

    #[test]
    fn a_tree_that_keeps_the_rules_has_no_problem() {
        let tree = synthetic_tree();
        assert_eq!(check(tree.path()), Vec::new());
    }

    #[test]
    fn a_file_of_801_lines_is_a_problem_and_one_of_800_is_not() {
        let tree = synthetic_tree();
        let file = tree.path().join("crates/base/src/long.rs");
        let text = |lines: usize| format!("//! Long.\n{}", "fn x() {}\n".repeat(lines - 1));
        std::fs::write(&file, text(800)).unwrap();
        assert_eq!(check(tree.path()), Vec::new());
        std::fs::write(&file, text(801)).unwrap();
        assert_eq!(
            check(tree.path()),
            vec![problem(
                Path::new("crates/base/src/long.rs"),
                "801 lines, over 800: split it along its seams"
            )]
        );
    }

    #[test]
    fn a_crate_that_depends_on_one_above_it_is_a_problem() {
        let tree = synthetic_tree();
        std::fs::write(
            tree.path().join("crates/base/Cargo.toml"),
            "[package]\nname = \"my-base\"\n\n[dev-dependencies]\nmy-top = { path = \"../top\" }\n\n[lints]\nworkspace = true\n",
        )
        .unwrap();
        let problems = check(tree.path());
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].path, Path::new("crates/base/Cargo.toml"));
        assert!(
            problems[0]
                .message
                .contains("`base` (layer 0) depends on `top` (layer 1)"),
            "{problems:?}"
        );
    }

    #[test]
    fn missing_docs_unfinished_code_lints_and_layers_are_problems() {
        let tree = synthetic_tree();
        let unfinished = concat!("fn f() { ", "todo", "!() }\n");
        std::fs::write(tree.path().join("crates/top/src/lib.rs"), unfinished).unwrap();
        std::fs::write(
            tree.path().join("crates/base/Cargo.toml"),
            "[package]\nname = \"my-base\"\n",
        )
        .unwrap();
        std::fs::create_dir_all(tree.path().join("crates/stray")).unwrap();
        std::fs::write(
            tree.path().join("crates/stray/Cargo.toml"),
            "[package]\nname = \"stray\"\n[lints]\nworkspace = true\n",
        )
        .unwrap();
        let problems: Vec<String> = check(tree.path()).iter().map(ToString::to_string).collect();
        let expected = [
            "crates/top/src/lib.rs: does not open with a `//!` line",
            concat!("crates/top/src/lib.rs: line 1: `", "todo", "!(…)`"),
            "crates/base/Cargo.toml: does not inherit the workspace lints",
            "crates/stray/Cargo.toml: crate `stray` has no layer",
        ];
        for want in expected {
            assert!(
                problems.iter().any(|p| p.starts_with(want)),
                "{want}\n{problems:#?}"
            );
        }
        assert_eq!(problems.len(), expected.len(), "{problems:#?}");
    }
}
