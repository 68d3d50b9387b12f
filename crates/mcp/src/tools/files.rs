//! Hashline file tools, confined to the calling worker's copy.

use std::num::NonZeroUsize;
use std::path::PathBuf;

use enki_core::hashline::{self, Anchor, Edit};
use enki_project::beneath::Beneath;
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

/// The copy held open, and the requested file's path within it. The path
/// check gives clear errors; the open handle is what keeps every access in
/// the copy when the worker changes it meanwhile.
fn locate(ctx: &mut Context, requested: &str) -> Result<(Beneath, PathBuf), String> {
    let root = copy_root(ctx)?;
    let path = confine_file(&root, requested).map_err(|e| e.to_string())?;
    let copy = Beneath::open(&root)
        .map_err(|e| format!("cannot open your copy ({}): {e}", root.display()))?;
    let relative = copy
        .relative(&path)
        .map(PathBuf::from)
        .ok_or_else(|| format!("'{requested}' is not inside your copy"))?;
    Ok((copy, relative))
}

/// The file's text, or `None` when it does not exist.
fn read_text(
    copy: &Beneath,
    relative: &std::path::Path,
    shown: &str,
) -> Result<Option<String>, String> {
    let Some(bytes) = copy
        .read(relative)
        .map_err(|e| format!("cannot read '{shown}': {e}"))?
    else {
        return Ok(None);
    };
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|_| format!("'{shown}' is not a UTF-8 text file"))
}

pub fn read_file(ctx: &mut Context, args: ReadFileArgs) -> ToolResult {
    let (copy, relative) = locate(ctx, &args.path)?;
    let text = read_text(&copy, &relative, &args.path)?
        .ok_or_else(|| format!("'{}' does not exist in your copy", args.path))?;
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

pub fn edit_file(ctx: &mut Context, args: EditFileArgs) -> ToolResult {
    let (copy, relative) = locate(ctx, &args.path)?;
    let original = read_text(&copy, &relative, &args.path)?;
    let existed = original.is_some();
    let original = original.unwrap_or_default();
    let edits = args
        .edits
        .into_vec()
        .into_iter()
        .enumerate()
        .map(|(i, e)| to_edit(i, e))
        .collect::<Result<Vec<_>, _>>()?;
    let updated = hashline::apply(&original, &edits).map_err(|e| format!("{}: {e}", args.path))?;
    copy.write(&relative, updated.as_bytes())
        .map_err(|e| format!("cannot write '{}': {e}", args.path))?;
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
