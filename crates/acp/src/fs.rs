//! Serving `fs/read_text_file` and `fs/write_text_file`, confined to the
//! session's cwd. Blocking: the connection runs these on the blocking pool.
//!
//! These run in the coordinator, outside the agent's sandbox, while the agent
//! may be changing its copy (flipping a folder to a link out of it, planting
//! a link at a temporary name). The path check only gives a clear refusal;
//! the access itself goes through [`Beneath`], which resolves every name
//! beneath the held-open copy and never follows a link out of it.

use std::io;
use std::path::{Path, PathBuf};

use enki_jsonrpc::ErrorObject;
use enki_project::beneath::Beneath;
use enki_project::confine::{ConfineError, confine_file};
use serde_json::{Value, json};

use crate::updates::str_field;

/// ACP's "resource not found" error code.
pub const RESOURCE_NOT_FOUND: i64 = -32002;

/// The outcome of one fs request: the response to send and, when a path was
/// named, the event to report.
#[derive(Debug)]
pub(crate) struct FsOutcome {
    /// `(path, allowed)`: the resolved path when allowed, else as requested.
    pub event: Option<(PathBuf, bool)>,
    pub response: Result<Value, ErrorObject>,
}

impl FsOutcome {
    fn invalid(message: &str) -> Self {
        FsOutcome {
            event: None,
            response: Err(ErrorObject::invalid_params(message)),
        }
    }
}

/// `fs/read_text_file` {path, line?, limit?} inside `root`.
pub(crate) fn read_text_file(root: &Path, params: &Value) -> FsOutcome {
    let Some(requested) = str_field(params, "path") else {
        return FsOutcome::invalid("missing string path");
    };
    let (line, limit) = match (optional_u64(params, "line"), optional_u64(params, "limit")) {
        (Ok(line), Ok(limit)) => (line, limit),
        _ => return FsOutcome::invalid("line and limit must be non-negative integers"),
    };
    let (copy, path) = match locate(root, &requested) {
        Ok(located) => located,
        Err(refusal) => return refusal,
    };
    let read = read_beneath(&copy, &path).map(|bytes| {
        let text = String::from_utf8_lossy(&bytes);
        json!({"content": slice_lines(&text, line, limit)})
    });
    finish("read", path, read)
}

/// `fs/write_text_file` {path, content} inside `root`; creates missing
/// parent directories (they are inside the root by construction).
pub(crate) fn write_text_file(root: &Path, params: &Value) -> FsOutcome {
    let Some(requested) = str_field(params, "path") else {
        return FsOutcome::invalid("missing string path");
    };
    let Some(content) = params.get("content").and_then(Value::as_str) else {
        return FsOutcome::invalid("missing string content");
    };
    let (copy, path) = match locate(root, &requested) {
        Ok(located) => located,
        Err(refusal) => return refusal,
    };
    let written = beneath(&copy, &path)
        .and_then(|relative| copy.write(relative, content.as_bytes()))
        .map(|()| json!({}));
    finish("write", path, written)
}

/// The outcome of an access to the confined `path`. A path that led out of
/// the copy by the time it was opened (a folder flipped to a link meanwhile)
/// is reported as refused, like one refused up front.
fn finish(action: &str, path: PathBuf, result: io::Result<Value>) -> FsOutcome {
    match result {
        Ok(value) => FsOutcome {
            event: Some((path, true)),
            response: Ok(value),
        },
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => FsOutcome {
            response: Err(ErrorObject::invalid_params(format!(
                "refused: cannot {action} {}: {e}",
                path.display()
            ))),
            event: Some((path, false)),
        },
        Err(e) => FsOutcome {
            response: Err(io_error(action, &path, &e)),
            event: Some((path, true)),
        },
    }
}

/// The session's cwd held open and the requested file's confined path, or
/// the refusal to send.
fn locate(root: &Path, requested: &str) -> Result<(Beneath, PathBuf), FsOutcome> {
    let path = confine_file(root, requested).map_err(|e| refused(requested, &e))?;
    let copy = Beneath::open(root).map_err(|e| FsOutcome {
        event: Some((path.clone(), false)),
        response: Err(ErrorObject::internal(format!(
            "cannot open the session's folder {}: {e}",
            root.display()
        ))),
    })?;
    Ok((copy, path))
}

/// `path` relative to the held-open copy (it was confined to it).
fn beneath<'a>(copy: &Beneath, path: &'a Path) -> io::Result<&'a Path> {
    copy.relative(path).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::PermissionDenied,
            "the path left the session's folder; refused",
        )
    })
}

fn read_beneath(copy: &Beneath, path: &Path) -> io::Result<Vec<u8>> {
    copy.read(beneath(copy, path)?)?
        .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
}

fn refused(requested: &str, error: &ConfineError) -> FsOutcome {
    FsOutcome {
        event: Some((PathBuf::from(requested), false)),
        response: Err(ErrorObject::invalid_params(format!("refused: {error}"))),
    }
}

fn io_error(action: &str, path: &Path, error: &io::Error) -> ErrorObject {
    if error.kind() == io::ErrorKind::NotFound {
        ErrorObject::new(
            RESOURCE_NOT_FOUND,
            format!("cannot {action} {}: file not found", path.display()),
        )
    } else {
        ErrorObject::internal(format!("cannot {action} {}: {error}", path.display()))
    }
}

/// `Ok(None)` when absent or null; `Err` when present but not a u64.
fn optional_u64(params: &Value, key: &str) -> Result<Option<u64>, ()> {
    match params.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_u64().map(Some).ok_or(()),
    }
}

/// The lines from `line` (1-based; 0 counts as 1) on, at most `limit` of
/// them, with their line endings.
fn slice_lines(text: &str, line: Option<u64>, limit: Option<u64>) -> String {
    if line.is_none() && limit.is_none() {
        return text.to_owned();
    }
    let skip = usize::try_from(line.unwrap_or(1).saturating_sub(1)).unwrap_or(usize::MAX);
    let take = limit.map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX));
    text.split_inclusive('\n').skip(skip).take(take).collect()
}

#[cfg(test)]
#[path = "fs_races.rs"]
mod races;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slicing() {
        let text = "a\nb\r\nc\nd";
        assert_eq!(slice_lines(text, None, None), text);
        assert_eq!(slice_lines(text, Some(1), None), text);
        assert_eq!(slice_lines(text, Some(0), Some(1)), "a\n");
        assert_eq!(slice_lines(text, Some(2), Some(2)), "b\r\nc\n");
        assert_eq!(slice_lines(text, Some(4), Some(10)), "d");
        assert_eq!(slice_lines(text, Some(9), None), "");
        assert_eq!(slice_lines(text, None, Some(0)), "");
        assert_eq!(slice_lines(text, Some(u64::MAX), Some(u64::MAX)), "");
    }

    #[test]
    fn read_inside_and_outside() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("copy");
        std::fs::create_dir_all(root.join("src")).unwrap();
        std::fs::write(root.join("src/a.txt"), "one\ntwo\nthree\n").unwrap();
        std::fs::write(dir.path().join("secret"), "no").unwrap();

        let out = read_text_file(
            &root,
            &json!({"path": root.join("src/a.txt"), "line": 2, "limit": 1, "_meta": {}}),
        );
        assert_eq!(out.response.unwrap(), json!({"content": "two\n"}));
        let (path, allowed) = out.event.unwrap();
        assert!(allowed);
        assert!(path.ends_with("copy/src/a.txt"));

        let out = read_text_file(&root, &json!({"path": "src/a.txt", "line": null}));
        assert_eq!(
            out.response.unwrap(),
            json!({"content": "one\ntwo\nthree\n"})
        );

        for bad in [
            dir.path().join("secret").to_str().unwrap().to_owned(),
            "../secret".to_owned(),
            root.to_str().unwrap().to_owned(),
        ] {
            let out = read_text_file(&root, &json!({"path": bad}));
            let err = out.response.unwrap_err();
            assert_eq!(err.code, enki_jsonrpc::codes::INVALID_PARAMS);
            assert!(err.message.starts_with("refused: "), "{}", err.message);
            assert_eq!(out.event, Some((PathBuf::from(&bad), false)));
        }

        let out = read_text_file(&root, &json!({"path": "missing.txt"}));
        assert_eq!(out.response.unwrap_err().code, RESOURCE_NOT_FOUND);
        assert!(out.event.unwrap().1);

        let out = read_text_file(&root, &json!({"path": "src/a.txt", "line": "2"}));
        assert_eq!(
            out.response.unwrap_err().code,
            enki_jsonrpc::codes::INVALID_PARAMS
        );
        assert!(out.event.is_none());
        assert!(read_text_file(&root, &json!({})).event.is_none());
    }

    #[cfg(unix)]
    #[test]
    fn symlink_out_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("copy");
        std::fs::create_dir(&root).unwrap();
        std::fs::write(dir.path().join("secret"), "no").unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret"), root.join("link")).unwrap();
        let out = read_text_file(&root, &json!({"path": "link"}));
        assert!(out.response.is_err());
        assert!(!out.event.unwrap().1);
        let out = write_text_file(&root, &json!({"path": "link", "content": "x"}));
        assert!(out.response.is_err());
        assert_eq!(
            std::fs::read_to_string(dir.path().join("secret")).unwrap(),
            "no"
        );
    }

    #[test]
    fn write_creates_parents_inside_only() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("copy");
        std::fs::create_dir(&root).unwrap();
        let out = write_text_file(
            &root,
            &json!({"path": root.join("a/b/c.txt"), "content": "hi\n"}),
        );
        assert_eq!(out.response.unwrap(), json!({}));
        assert_eq!(
            std::fs::read_to_string(root.join("a/b/c.txt")).unwrap(),
            "hi\n"
        );
        assert!(out.event.unwrap().1);

        let out = write_text_file(&root, &json!({"path": "../x/y.txt", "content": "no"}));
        assert!(out.response.is_err());
        assert_eq!(out.event, Some((PathBuf::from("../x/y.txt"), false)));
        assert!(!dir.path().join("x").exists());

        let out = write_text_file(&root, &json!({"path": "a"}));
        assert!(out.event.is_none());
        assert!(out.response.is_err());
        let out = write_text_file(&root, &json!({"path": "a", "content": "dir"}));
        assert_eq!(out.event, Some((PathBuf::from("a"), false)));
    }
}
