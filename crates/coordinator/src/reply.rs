//! A worker's reply with bounded memory: the first [`ROW_LIMIT`] bytes are
//! kept (they become the task's `message` event), a longer reply goes whole
//! to `.enki/logs/replies/<task>-<attempt>.txt` as it streams, and the last
//! [`TAIL_WINDOW`] bytes are kept to find the `[OUTPUT]` block, which ends
//! most replies. An agent that says 100 MiB costs about 1.5 MiB here.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::prompt::extract_output;

/// The most reply text held in memory from its start and stored in one event row.
pub const ROW_LIMIT: usize = 1024 * 1024;
/// How much of the end of a longer reply is kept to find its `[OUTPUT]`.
pub const TAIL_WINDOW: usize = 256 * 1024;
/// The most output stored for a task (it goes into every dependent's prompt).
pub const OUTPUT_LIMIT: usize = 64 * 1024;

/// Where a reply past [`ROW_LIMIT`] is written.
pub fn reply_file(logs: &Path, task: &str, attempt: i64) -> PathBuf {
    logs.join("replies").join(format!("{task}-{attempt}.txt"))
}

pub struct Reply {
    path: PathBuf,
    /// The agent message being streamed (its first [`ROW_LIMIT`] bytes)
    /// and its size: each message is its own `message` event.
    message: String,
    message_bytes: u64,
    /// The first [`ROW_LIMIT`] bytes (all of a short reply).
    head: String,
    /// Past [`ROW_LIMIT`]: the last [`TAIL_WINDOW`] bytes or up to twice that.
    tail: String,
    bytes: u64,
    spill: Spill,
}

enum Spill {
    /// The reply still fits in `head`.
    None,
    Writing(BufWriter<File>),
    /// The file could not be written; what was kept in memory is all there is.
    Failed(String),
}

impl Reply {
    /// An empty reply that spills to `path` if it grows past [`ROW_LIMIT`].
    pub fn new(path: PathBuf) -> Reply {
        Reply {
            path,
            message: String::new(),
            message_bytes: 0,
            head: String::new(),
            tail: String::new(),
            bytes: 0,
            spill: Spill::None,
        }
    }

    /// Whether the agent said nothing at all in this run.
    pub fn is_empty(&self) -> bool {
        self.bytes == 0
    }

    fn truncated(&self) -> bool {
        !matches!(self.spill, Spill::None)
    }

    /// Adds a streamed piece of the reply.
    pub fn push(&mut self, text: &str) {
        self.message_bytes += text.len() as u64;
        if self.message.len() <= ROW_LIMIT {
            self.message.push_str(text);
        }
        self.bytes += text.len() as u64;
        if !self.truncated() {
            self.head.push_str(text);
            if self.head.len() > ROW_LIMIT {
                self.start_spill();
            }
            return;
        }
        if let Spill::Writing(file) = &mut self.spill
            && let Err(e) = file.write_all(text.as_bytes())
        {
            self.fail(&e);
        }
        self.tail.push_str(text);
        if self.tail.len() > 2 * TAIL_WINDOW {
            let cut = self.tail.ceil_char_boundary(self.tail.len() - TAIL_WINDOW);
            self.tail.drain(..cut);
        }
    }

    /// `head` just grew past the limit: the file gets all of it, the tail
    /// window its end, and `head` keeps its first [`ROW_LIMIT`] bytes.
    fn start_spill(&mut self) {
        let cut = self
            .head
            .ceil_char_boundary(self.head.len().saturating_sub(TAIL_WINDOW));
        self.tail = self.head[cut..].to_string();
        let opened = self
            .path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| File::create(&self.path))
            .map(BufWriter::new);
        match opened.and_then(|mut file| file.write_all(self.head.as_bytes()).map(|()| file)) {
            Ok(file) => self.spill = Spill::Writing(file),
            Err(e) => self.fail(&e),
        }
        let keep = self.head.floor_char_boundary(ROW_LIMIT);
        self.head.truncate(keep);
        self.head.shrink_to_fit();
    }

    fn fail(&mut self, error: &std::io::Error) {
        let message = format!("cannot write {}: {error}", self.path.display());
        tracing::warn!("{message}; only the first {ROW_LIMIT} bytes of the reply are kept");
        self.spill = Spill::Failed(message);
    }

    /// Flushes the file of a long reply.
    pub fn finish(&mut self) {
        if let Spill::Writing(file) = &mut self.spill
            && let Err(e) = file.flush()
        {
            self.fail(&e);
        }
    }

    /// Ends the message being streamed: its `message` event (`None` when
    /// it has no text). A message past [`ROW_LIMIT`] keeps its start, its
    /// size and the file that holds the whole reply.
    pub fn end_message(&mut self) -> Option<Value> {
        if self.message_bytes == 0 {
            return None;
        }
        let bytes = std::mem::take(&mut self.message_bytes);
        let text = std::mem::take(&mut self.message);
        if bytes as usize <= ROW_LIMIT {
            return Some(json!({"text": text}));
        }
        let mut event = self.event();
        event["text"] = json!(row_prefix(&text));
        event["truncated"] = json!(true);
        event["bytes"] = json!(bytes);
        Some(event)
    }

    /// The reply's `message` event: the whole text of a short reply; of a
    /// long one its start (as much as keeps the row within [`ROW_LIMIT`]),
    /// its size and the file that holds all of it.
    pub fn event(&self) -> Value {
        match &self.spill {
            Spill::None => json!({"text": self.head}),
            Spill::Writing(_) => json!({
                "text": row_prefix(&self.head),
                "truncated": true,
                "bytes": self.bytes,
                "file": self.path.display().to_string(),
            }),
            Spill::Failed(error) => json!({
                "text": row_prefix(&self.head),
                "truncated": true,
                "bytes": self.bytes,
                "file_error": error,
            }),
        }
    }

    /// The end of the reply, at most about `max` characters, whitespace
    /// folded (what a stopped or failed attempt keeps of what its agent
    /// said).
    pub fn last_words(&self, max: usize) -> String {
        let text = if self.truncated() {
            &self.tail
        } else {
            &self.head
        };
        let mut kept: Vec<&str> = Vec::new();
        let mut length = 0;
        for word in text.split_whitespace().rev() {
            length += word.chars().count() + 1;
            if length > max && !kept.is_empty() {
                break;
            }
            kept.push(word);
        }
        kept.reverse();
        kept.join(" ")
    }

    /// The `[OUTPUT]` block (of a long reply: when it starts in the last
    /// [`TAIL_WINDOW`] bytes), cut to [`OUTPUT_LIMIT`] with a marker saying so.
    pub fn output(&self) -> Option<String> {
        let searched = if self.truncated() {
            &self.tail
        } else {
            &self.head
        };
        let mut output = extract_output(searched)?;
        if output.len() > OUTPUT_LIMIT {
            let total = output.len();
            output.truncate(output.floor_char_boundary(OUTPUT_LIMIT));
            let whole = match &self.spill {
                Spill::Writing(_) => format!("; the whole reply is in {}", self.path.display()),
                Spill::None => "; the whole reply is in the task's log".to_string(),
                Spill::Failed(_) => String::new(),
            };
            output.push_str(&format!(
                "\n[… output cut to its first {OUTPUT_LIMIT} of {total} bytes{whole}]"
            ));
        }
        Some(output)
    }

    /// Writes the whole reply to `target` (an artifact without a file of its own).
    pub fn save_to(&self, target: &Path) -> std::io::Result<()> {
        match &self.spill {
            Spill::Writing(_) => std::fs::copy(&self.path, target).map(|_| ()),
            _ => std::fs::write(target, &self.head),
        }
    }
}

/// The longest start of `text` whose JSON string, with room for the other
/// fields of the event, fits in [`ROW_LIMIT`] (escapes can make it longer).
fn row_prefix(text: &str) -> &str {
    const ROOM: usize = 4096;
    let mut size = 0;
    for (at, c) in text.char_indices() {
        size += match c {
            '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
            c if c < ' ' => 6,
            c => c.len_utf8(),
        };
        if size > ROW_LIMIT - ROOM {
            return &text[..at];
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_words_are_the_end_of_the_reply_folded() {
        let dir = tempfile::tempdir().unwrap();
        let mut reply = Reply::new(dir.path().join("r.txt"));
        reply.push("First I read the code.\n\nThen the tests ");
        reply.push("failed:   API Error: Connection error.");
        assert_eq!(
            reply.last_words(45),
            "tests failed: API Error: Connection error."
        );
        assert_eq!(reply.last_words(5), "error.");
    }

    /// About `bytes` of `line` repeated, cut at a character boundary.
    fn text(bytes: usize, line: &str) -> String {
        let mut text = line.repeat(bytes / line.len() + 1);
        text.truncate(text.floor_char_boundary(bytes));
        text
    }

    /// `text` in pieces of about `size` bytes, as an agent streams it.
    fn pieces(text: &str, size: usize) -> Vec<&str> {
        let mut pieces = Vec::new();
        let mut start = 0;
        while start < text.len() {
            let end = text.ceil_char_boundary(start + size);
            pieces.push(&text[start..end]);
            start = end;
        }
        pieces
    }

    #[test]
    fn a_short_reply_is_kept_whole_and_written_nowhere() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("replies/t-1.txt");
        let mut reply = Reply::new(path.clone());
        assert_eq!(reply.end_message(), None);
        reply.push("Looking.");
        assert_eq!(reply.end_message(), Some(json!({"text": "Looking."})));
        assert_eq!(reply.end_message(), None, "a message is logged once");
        for piece in ["Done. ", "[OUTPUT]\nwrote a.txt\n", "[/OUTPUT]"] {
            reply.push(piece);
        }
        reply.finish();
        assert_eq!(
            reply.end_message(),
            Some(json!({"text": "Done. [OUTPUT]\nwrote a.txt\n[/OUTPUT]"}))
        );
        assert_eq!(
            reply.event(),
            json!({"text": "Looking.Done. [OUTPUT]\nwrote a.txt\n[/OUTPUT]"})
        );
        assert_eq!(reply.output().as_deref(), Some("wrote a.txt"));
        assert!(!path.exists());
        let target = dir.path().join("artifact.md");
        reply.save_to(&target).unwrap();
        assert_eq!(std::fs::read_to_string(target).unwrap(), reply.head);
    }

    #[test]
    fn a_long_reply_keeps_its_start_in_memory_all_of_it_in_the_file_and_finds_its_output() {
        let dir = tempfile::tempdir().unwrap();
        let path = reply_file(dir.path(), "task-x", 2);
        let mut reply = Reply::new(path.clone());
        // Multi-byte characters, so that every cut must find a char boundary.
        let body = text(5 * ROW_LIMIT + 3, "ünïcode line of a long reply\n");
        let ending = "[OUTPUT]\nthe summary\n[/OUTPUT]\nbye";
        let mut whole = String::new();
        for piece in pieces(&body, 100_003) {
            reply.push(piece);
            whole.push_str(piece);
            assert!(reply.head.len() <= ROW_LIMIT);
            assert!(reply.tail.len() <= 2 * TAIL_WINDOW);
        }
        reply.push(ending);
        whole.push_str(ending);
        reply.finish();

        assert_eq!(std::fs::read_to_string(&path).unwrap(), whole);
        let event = reply.event();
        assert_eq!(event["truncated"], true);
        assert_eq!(event["bytes"], whole.len() as u64);
        assert_eq!(event["file"], path.display().to_string());
        let kept = event["text"].as_str().unwrap();
        assert!(kept.len() > ROW_LIMIT / 2 && whole.starts_with(kept));
        assert!(event.to_string().len() <= ROW_LIMIT, "the row fits");
        assert_eq!(reply.output().as_deref(), Some("the summary"));
        // The one message is as long as the reply: its event is the reply's.
        let message = reply.end_message().unwrap();
        assert_eq!(message["bytes"], whole.len() as u64);
        assert_eq!(message["file"], path.display().to_string());
        assert!(message.to_string().len() <= ROW_LIMIT, "the row fits");
        let target = dir.path().join("artifact.md");
        reply.save_to(&target).unwrap();
        assert_eq!(std::fs::read_to_string(target).unwrap(), whole);
    }

    #[test]
    fn the_text_kept_in_a_row_is_cut_to_fit_once_escaped() {
        assert_eq!(row_prefix("short \"quoted\"\n"), "short \"quoted\"\n");
        for line in ["plain text ", "a\tquoted \"line\"\n", "\u{1}\u{2}", "ünï "] {
            let text = text(ROW_LIMIT, line);
            let kept = row_prefix(&text);
            let row = json!({"text": kept}).to_string().len();
            assert!(
                row <= ROW_LIMIT - 4000 && row > ROW_LIMIT - 4200,
                "{line:?}: {row}"
            );
        }
    }

    #[test]
    fn a_huge_output_is_cut_with_a_marker_that_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.txt");
        let mut reply = Reply::new(path.clone());
        reply.push(&text(ROW_LIMIT, "preamble "));
        reply.push("[OUTPUT]");
        let summary = text(3 * OUTPUT_LIMIT, "é summary ");
        for piece in pieces(&summary, 10_000) {
            reply.push(piece);
        }
        reply.push("[/OUTPUT]");
        let output = reply.output().unwrap();
        assert!(output.starts_with("é summary é summary"));
        assert!(output.len() < OUTPUT_LIMIT + 200, "{}", output.len());
        assert!(
            output.ends_with(&format!(
                "[… output cut to its first {OUTPUT_LIMIT} of {} bytes; the whole reply is in {}]",
                summary.trim().len(),
                path.display()
            )),
            "{}",
            &output[output.len() - 200..]
        );
    }

    #[test]
    fn a_reply_whose_file_cannot_be_written_stays_bounded_and_says_why() {
        let dir = tempfile::tempdir().unwrap();
        // A file where the folder should be.
        std::fs::write(dir.path().join("replies"), "").unwrap();
        let mut reply = Reply::new(reply_file(dir.path(), "t", 1));
        reply.push(&text(ROW_LIMIT + 10, "x "));
        reply.push("[OUTPUT]found anyway[/OUTPUT]");
        reply.finish();
        let event = reply.event();
        assert_eq!(event["truncated"], true);
        assert!(
            event["file_error"]
                .as_str()
                .unwrap()
                .contains("cannot write"),
            "{event}"
        );
        assert_eq!(reply.head.len(), ROW_LIMIT);
        assert_eq!(reply.output().as_deref(), Some("found anyway"));
    }
}
