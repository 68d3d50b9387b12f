//! The TUI's imports point one way: base modules (text, layout, wrapping,
//! the message editor, the store's rows) know nothing of the state; the
//! state and messages know nothing of `update` or the drawing; drawing
//! reads the state and never changes it; only `run` and its helpers do IO.

use std::path::{Path, PathBuf};

/// What no base module (text, layout, wrapping, the editor, the store's
/// rows) may name.
const ABOVE_BASE: &[&str] = &["state", "msg", "update", "ui", "run", "backend", "ops"];

/// Modules under `src/` (a file or a folder) and the crate modules their
/// code may not name.
const RULES: &[(&str, &[&str])] = &[
    ("text", ABOVE_BASE),
    ("theme", ABOVE_BASE),
    ("wrap", ABOVE_BASE),
    ("layout", ABOVE_BASE),
    ("input", ABOVE_BASE),
    ("data", ABOVE_BASE),
    ("markdown", ABOVE_BASE),
    ("help", ABOVE_BASE),
    ("msg", &["state", "update", "ui", "run", "backend", "ops"]),
    ("state", &["update", "ui", "run", "backend", "ops"]),
    ("update", &["ui", "run", "backend", "ops", "permission"]),
    ("ui", &["update", "run", "backend", "ops", "permission"]),
];

fn sources(path: &Path) -> Vec<PathBuf> {
    if path.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)
            .expect("read a source folder")
            .flat_map(|entry| sources(&entry.expect("a folder entry").path()))
            .collect();
        files.sort();
        files
    } else {
        vec![path.to_path_buf()]
    }
}

#[test]
fn imports_point_one_way() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut wrong = Vec::new();
    for (module, forbidden) in RULES {
        let folder = src.join(module);
        let path = if folder.is_dir() {
            folder
        } else {
            src.join(format!("{module}.rs"))
        };
        assert!(path.exists(), "{} is gone: update RULES", path.display());
        for file in sources(&path) {
            let text = std::fs::read_to_string(&file).expect("read a source file");
            for (n, line) in text.lines().enumerate() {
                let code = line.split("//").next().unwrap_or("");
                for name in *forbidden {
                    if code.contains(&format!("crate::{name}::"))
                        || code.contains(&format!("crate::{name};"))
                        || code.contains(&format!("crate::{{{name}"))
                    {
                        wrong.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
                    }
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the layering:\n{}",
        wrong.join("\n")
    );
}
