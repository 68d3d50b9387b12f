//! Where in a TOML document something is: the dotted key path at a byte
//! offset, and the span of a key path. Used to give errors a line and a key.

use std::ops::Range;

use toml::de::{DeTable, DeValue};

fn contains(span: &Range<usize>, offset: usize) -> bool {
    // An empty span (e.g. at end of input) still "contains" its start.
    span.start <= offset && offset < span.end.max(span.start + 1)
}

/// The dotted key path of the entry whose key or value covers `offset`:
/// for an unknown key that is the key itself, for a wrong value the key that
/// holds it. Works for `[table]` headers, dotted keys, inline tables and
/// multi-line arrays alike, since it walks the parsed document.
pub(crate) fn key_path_at(doc: &DeTable<'_>, offset: usize) -> Option<Vec<String>> {
    let mut path = Vec::new();
    walk(doc, offset, &mut path).then_some(path)
}

fn walk(table: &DeTable<'_>, offset: usize, path: &mut Vec<String>) -> bool {
    for (key, value) in table.iter() {
        path.push(key.get_ref().to_string());
        if contains(&key.span(), offset) {
            return true;
        }
        match value.get_ref() {
            DeValue::Table(inner) => {
                // A table's children may lie outside its own span (headers),
                // so always look inside first.
                if walk(inner, offset, path) || contains(&value.span(), offset) {
                    return true;
                }
            }
            DeValue::Array(items) => {
                let in_tables = items.iter().any(|item| match item.get_ref() {
                    // `[[array]]` tables; `walk` leaves `path` as it was on a miss.
                    DeValue::Table(inner) => walk(inner, offset, path),
                    _ => false,
                });
                if in_tables || contains(&value.span(), offset) {
                    return true;
                }
            }
            _ => {
                if contains(&value.span(), offset) {
                    return true;
                }
            }
        }
        path.pop();
    }
    false
}

/// The span of the value at `path`, if the document sets it.
pub(crate) fn value_span(doc: &DeTable<'_>, path: &[&str]) -> Option<Range<usize>> {
    let (first, rest) = path.split_first()?;
    let (_, value) = doc.iter().find(|(k, _)| k.get_ref() == first)?;
    if rest.is_empty() {
        return Some(value.span());
    }
    match value.get_ref() {
        DeValue::Table(inner) => value_span(inner, rest),
        _ => None,
    }
}

/// The field name in a serde "unknown field `x`, expected ..." message.
pub(crate) fn unknown_field(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("unknown field `")?;
    rest.split_once('`').map(|(name, _)| name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path_at(text: &str, needle: &str) -> Option<String> {
        let doc = DeTable::parse(text).expect("valid toml");
        let offset = text.find(needle).expect("needle in text");
        key_path_at(doc.get_ref(), offset).map(|p| p.join("."))
    }

    #[test]
    fn finds_keys_under_headers() {
        let text = "[workers]\nmax_workers = 3\n\n[agent.worker]\ncomand = \"x\"\n";
        assert_eq!(
            path_at(text, "comand").as_deref(),
            Some("agent.worker.comand")
        );
        assert_eq!(path_at(text, "3\n").as_deref(), Some("workers.max_workers"));
        assert_eq!(path_at(text, "worker]").as_deref(), Some("agent.worker"));
    }

    #[test]
    fn finds_keys_in_dotted_keys_inline_tables_and_arrays() {
        let text = "[agent]\nworker.comand = 1\ncoordinator = { args = [\n  \"a\",\n  7,\n] }\n";
        assert_eq!(
            path_at(text, "comand").as_deref(),
            Some("agent.worker.comand")
        );
        assert_eq!(
            path_at(text, "7,").as_deref(),
            Some("agent.coordinator.args")
        );
    }

    #[test]
    fn nothing_at_comments_or_blank_space() {
        let text = "# hello\n[git]\nbase_branch = \"main\"\n";
        assert_eq!(path_at(text, "hello"), None);
    }

    #[test]
    fn value_spans_by_path() {
        let text = "[workers]\nmax_workers = 0\n";
        let doc = DeTable::parse(text).expect("valid toml");
        let span = value_span(doc.get_ref(), &["workers", "max_workers"]).expect("set");
        assert_eq!(&text[span], "0");
        assert_eq!(value_span(doc.get_ref(), &["workers", "retries"]), None);
        assert_eq!(
            value_span(doc.get_ref(), &["workers", "max_workers", "x"]),
            None
        );
    }

    #[test]
    fn unknown_field_names() {
        assert_eq!(
            unknown_field("unknown field `comand`, expected one of `command`"),
            Some("comand")
        );
        assert_eq!(unknown_field("invalid type: string"), None);
        assert_eq!(unknown_field("unknown field `broken"), None);
    }
}
