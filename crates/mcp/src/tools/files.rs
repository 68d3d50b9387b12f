//! Hashline file tools, confined to the calling worker's copy.

use std::io::Write;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};

use enki_core::hashline::{self, Anchor, Edit};
use enki_project::confine::confine_file;
use serde_json::json;

use super::{EditArg, EditFileArgs, ReadFileArgs, ToolOutput, ToolResult};
use crate::context::Context;

/// Lines shown when the caller gives no limit, to keep results readable.
const DEFAULT_READ_LIMIT: usize = 2000;
/// Files up to this many lines are shown again after an edit.
const SHOW_AFTER_EDIT: usize = 200;

/// The worker's copy: the path recorded on the task, else `.enki/copies/<task>`.
fn copy_root(ctx: &mut Context) -> Result<PathBuf, String> {
    let task_id = ctx.my_task()?;
    let recorded = ctx
        .store()?
        .task(&task_id)
        .map_err(|e| e.to_string())?
        .and_then(|t| t.copy_path);
    let root = match recorded {
        Some(path) => PathBuf::from(path),
        None => ctx.layout()?.copy_of(&task_id),
    };
    if !root.is_dir() {
        return Err(format!(
            "your copy of the project ({}) does not exist yet",
            root.display()
        ));
    }
    Ok(root)
}

fn read_text(path: &Path, shown: &str) -> Result<String, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read '{shown}': {e}"))?;
    String::from_utf8(bytes).map_err(|_| format!("'{shown}' is not a UTF-8 text file"))
}

pub fn read_file(ctx: &mut Context, args: ReadFileArgs) -> ToolResult {
    let root = copy_root(ctx)?;
    let path = confine_file(&root, &args.path).map_err(|e| e.to_string())?;
    if !path.is_file() {
        return Err(format!("'{}' does not exist in your copy", args.path));
    }
    let text = read_text(&path, &args.path)?;
    let offset = args.offset.map_or(1, NonZeroUsize::get);
    let limit = args.limit.map_or(DEFAULT_READ_LIMIT, NonZeroUsize::get);
    let rendered = hashline::render(&text, offset, Some(limit));
    let header = if rendered.total_lines == 0 {
        format!("{} is empty (0 lines)", args.path)
    } else if rendered.last_line == 0 {
        format!(
            "{}: no lines from {} (the file has {} lines)",
            args.path, offset, rendered.total_lines
        )
    } else if rendered.first_line == 1 && rendered.last_line == rendered.total_lines {
        format!("{} ({} lines)", args.path, rendered.total_lines)
    } else {
        format!(
            "{} (lines {}-{} of {}; use offset/limit for more)",
            args.path, rendered.first_line, rendered.last_line, rendered.total_lines
        )
    };
    let body = if rendered.text.is_empty() {
        header.clone()
    } else {
        format!("{header}\n{}", rendered.text)
    };
    Ok(ToolOutput::with_data(
        body,
        json!({
            "path": args.path,
            "first_line": rendered.first_line,
            "last_line": rendered.last_line,
            "total_lines": rendered.total_lines,
        }),
    ))
}

fn anchor(index: usize, field: &str, text: &str) -> Result<Anchor, String> {
    Anchor::parse(text).map_err(|e| format!("`edits[{index}].{field}`: {e}"))
}

fn to_edit(index: usize, arg: EditArg) -> Result<Edit, String> {
    Ok(match arg {
        EditArg::Replace { start, end, lines } => Edit::Replace {
            start: anchor(index, "start", &start)?,
            end: end.map(|e| anchor(index, "end", &e)).transpose()?,
            lines,
        },
        EditArg::InsertBefore { anchor: a, lines } => Edit::InsertBefore {
            anchor: anchor(index, "anchor", &a)?,
            lines,
        },
        EditArg::InsertAfter { anchor: a, lines } => Edit::InsertAfter {
            anchor: anchor(index, "anchor", &a)?,
            lines,
        },
        EditArg::Delete { start, end } => Edit::Delete {
            start: anchor(index, "start", &start)?,
            end: end.map(|e| anchor(index, "end", &e)).transpose()?,
        },
        EditArg::Prepend { lines } => Edit::Prepend { lines },
        EditArg::Append { lines } => Edit::Append { lines },
    })
}

/// Replaces the file's content atomically (temp file + rename), keeping its
/// permissions.
fn write_atomically(path: &Path, content: &str) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = dir.join(format!(".{name}.enki-edit-{}", std::process::id()));
    let result = (|| {
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(content.as_bytes())?;
        file.flush()?;
        if let Ok(meta) = std::fs::metadata(path) {
            std::fs::set_permissions(&temp, meta.permissions())?;
        }
        std::fs::rename(&temp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

pub fn edit_file(ctx: &mut Context, args: EditFileArgs) -> ToolResult {
    let root = copy_root(ctx)?;
    let path = confine_file(&root, &args.path).map_err(|e| e.to_string())?;
    let existed = path.is_file();
    let original = if existed {
        read_text(&path, &args.path)?
    } else {
        String::new()
    };
    let edits = args
        .edits
        .into_vec()
        .into_iter()
        .enumerate()
        .map(|(i, e)| to_edit(i, e))
        .collect::<Result<Vec<_>, _>>()?;
    let updated = hashline::apply(&original, &edits).map_err(|e| format!("{}: {e}", args.path))?;
    write_atomically(&path, &updated).map_err(|e| format!("cannot write '{}': {e}", args.path))?;
    let lines = hashline::count_lines(&updated);
    let verb = if existed { "Edited" } else { "Created" };
    let mut text = format!(
        "{verb} {} ({} edits; {} lines now, {} before)",
        args.path,
        edits.len(),
        lines,
        hashline::count_lines(&original)
    );
    if lines <= SHOW_AFTER_EDIT && lines > 0 {
        text.push_str("\nCurrent anchors:\n");
        text.push_str(&hashline::render(&updated, 1, None).text);
    } else {
        text.push_str("\nRead the file again for fresh anchors.");
    }
    Ok(ToolOutput::with_data(
        text,
        json!({"path": args.path, "created": !existed, "lines": lines}),
    ))
}
