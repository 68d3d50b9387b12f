//! Pages of a listing (`enki_task_list`, `enki_dag`, the mail listings): an
//! optional opaque `cursor` argument in, a `next_cursor` out while there is
//! more. A page holds at most [`PAGE_ITEMS`] items and about [`PAGE_BYTES`];
//! long strings in listed rows are cut to [`FIELD_MAX`] characters, titles
//! to [`TITLE_MAX`].
//!
//! A cursor names the listing, how far the last page went and its last item.
//! The next page starts right after that item when it is still listed (so an
//! item added before it, or one that left the listing, moves nothing), and
//! at the same position otherwise. Tasks and executions are never deleted,
//! so a page of them never skips one.

use std::ops::Range;

use serde_json::Value;

use crate::redact::cut_long_strings;

/// Most items on one page.
pub const PAGE_ITEMS: usize = 100;
/// About the most one page's items may weigh (their text and their data);
/// a single item heavier than this still gets a page of its own.
pub const PAGE_BYTES: usize = 128 * 1024;
/// Longest string kept in a listed row.
pub const FIELD_MAX: usize = 2000;
/// Longest title a listing shows (listings align titles in a column, so one
/// long title would widen every line).
pub const TITLE_MAX: usize = 200;

/// The items of one page, and the cursor of the next one when there is more.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub range: Range<usize>,
    pub total: usize,
    pub next_cursor: Option<String>,
}

impl Page {
    /// What a page's text ends with when there is more: where it stands and
    /// how to get the next page. Empty on the last page.
    pub fn more_note(&self, tool: &str, what: &str) -> String {
        match &self.next_cursor {
            Some(cursor) => format!(
                "\n… {what} {}-{} of {} shown; for the next page call {tool} again with \"cursor\": \"{cursor}\"",
                self.range.start + 1,
                self.range.end,
                self.total
            ),
            None => String::new(),
        }
    }

    /// `data` with `next_cursor` added when there is a next page.
    pub fn with_cursor(&self, mut data: Value) -> Value {
        if let (Some(cursor), Value::Object(map)) = (&self.next_cursor, &mut data) {
            map.insert("next_cursor".into(), Value::String(cursor.clone()));
        }
        data
    }
}

/// The page of `items` that `cursor` (from the last page of listing `kind`)
/// asks for; the first page without one. `id` names an item, `weight` is
/// about how many bytes it adds to the result.
pub fn page<T>(
    kind: &str,
    items: &[T],
    cursor: Option<&str>,
    id: impl Fn(&T) -> &str,
    weight: impl Fn(&T) -> usize,
) -> Result<Page, String> {
    let start = match cursor {
        None => 0,
        Some(text) => {
            let (offset, last) = parse_cursor(kind, text)?;
            items
                .iter()
                .position(|item| id(item) == last)
                .map_or(offset.min(items.len()), |at| at + 1)
        }
    };
    let mut end = start;
    let mut bytes = 0;
    while let Some(item) = items.get(end) {
        let w = weight(item);
        if end > start && (end - start >= PAGE_ITEMS || bytes + w > PAGE_BYTES) {
            break;
        }
        bytes += w;
        end += 1;
    }
    let next_cursor = (end < items.len() && end > start)
        .then(|| {
            items
                .get(end - 1)
                .map(|last| format!("{kind}.{end}.{}", id(last)))
        })
        .flatten();
    Ok(Page {
        range: start..end,
        total: items.len(),
        next_cursor,
    })
}

/// The offset and last item id of a cursor of listing `kind`.
fn parse_cursor<'a>(kind: &str, text: &'a str) -> Result<(usize, &'a str), String> {
    let refuse = || {
        format!(
            "`cursor`: \"{text}\" is not a cursor of this listing; pass the `next_cursor` of its previous page as it was, or leave `cursor` out to start from the first page"
        )
    };
    let mut parts = text.splitn(3, '.');
    let (Some(found), Some(offset), Some(last)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(refuse());
    };
    if found != kind || last.is_empty() {
        return Err(refuse());
    }
    let offset = offset.parse::<usize>().map_err(|_| refuse())?;
    Ok((offset, last))
}

/// A listed row as data: its long strings cut to [`FIELD_MAX`].
pub fn row_data(row: &impl serde::Serialize) -> Value {
    serde_json::to_value(row).map_or(Value::Null, |v| cut_long_strings(&v, FIELD_MAX))
}

/// `text` cut to `max` characters, saying how long it was.
pub fn clip(text: &str, max: usize) -> String {
    match cut_long_strings(&Value::String(text.to_string()), max) {
        Value::String(cut) => cut,
        _ => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("item-{i:03}")).collect()
    }

    fn walk(items: &[String], weight: impl Fn(&String) -> usize + Copy) -> Vec<Range<usize>> {
        let mut pages = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = page("things", items, cursor.as_deref(), String::as_str, weight)
                .expect("a valid cursor");
            pages.push(page.range.clone());
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => return pages,
            }
        }
    }

    #[test]
    fn pages_hold_at_most_the_item_count_and_cover_everything_once() {
        let items = ids(250);
        assert_eq!(walk(&items, |_| 10), [0..100, 100..200, 200..250]);
        assert_eq!(walk(&[], |_| 10), [Range { start: 0, end: 0 }]);
    }

    #[test]
    fn pages_hold_about_the_byte_budget_and_a_heavy_item_gets_its_own() {
        let items = ids(10);
        let weight = |item: &String| {
            if item == "item-003" {
                10 * PAGE_BYTES
            } else {
                PAGE_BYTES / 4
            }
        };
        assert_eq!(walk(&items, weight), [0..3, 3..4, 4..8, 8..10]);
    }

    #[test]
    fn the_next_page_starts_after_the_last_item_even_when_items_came_before_it() {
        let items = ids(150);
        let first = page("things", &items, None, String::as_str, |_| 1).expect("page");
        let cursor = first.next_cursor.expect("more");
        let mut grown = vec!["item-new".to_string()];
        grown.extend(items.iter().cloned());
        let second = page("things", &grown, Some(&cursor), String::as_str, |_| 1).expect("page");
        assert_eq!(second.range, 101..151, "no item seen twice");
        // The last item gone: the same position.
        let mut shrunk = items.clone();
        shrunk.remove(99);
        let second = page("things", &shrunk, Some(&cursor), String::as_str, |_| 1).expect("page");
        assert_eq!(second.range, 100..149);
    }

    #[test]
    fn a_cursor_of_another_listing_or_a_made_up_one_is_refused_with_what_to_do() {
        let items = ids(5);
        for bad in [
            "tasks.1.item-000",
            "things",
            "things.x.item-000",
            "things.1.",
            "other",
        ] {
            let text = page("things", &items, Some(bad), String::as_str, |_| 1).expect_err(bad);
            assert!(text.contains("next_cursor") && text.contains(bad), "{text}");
        }
        let past_the_end = page(
            "things",
            &items,
            Some("things.99.gone"),
            String::as_str,
            |_| 1,
        );
        assert_eq!(past_the_end.map(|p| p.range), Ok(5..5));
    }

    #[test]
    fn notes_and_data_carry_the_cursor_only_while_there_is_more() {
        let items = ids(120);
        let first = page("things", &items, None, String::as_str, |_| 1).expect("page");
        let note = first.more_note("enki_things", "things");
        assert!(
            note.contains("things 1-100 of 120")
                && note.contains("\"cursor\": \"things.100.item-099\""),
            "{note}"
        );
        assert_eq!(
            first.with_cursor(serde_json::json!({}))["next_cursor"],
            "things.100.item-099"
        );
        let last = page(
            "things",
            &items,
            first.next_cursor.as_deref(),
            String::as_str,
            |_| 1,
        )
        .expect("page");
        assert_eq!(last.more_note("enki_things", "things"), "");
        assert_eq!(
            last.with_cursor(serde_json::json!({})),
            serde_json::json!({})
        );
    }

    #[test]
    fn rows_and_texts_keep_their_long_strings_short() {
        let long = "t".repeat(FIELD_MAX * 10);
        let data = row_data(&serde_json::json!({"title": long, "n": 1}));
        let title = data["title"].as_str().unwrap_or_default();
        assert!(title.chars().count() < FIELD_MAX + 30, "{}", title.len());
        assert!(title.ends_with(&format!("({} chars)", FIELD_MAX * 10)));
        assert_eq!(clip(&long, FIELD_MAX), title);
        assert_eq!(clip("short", 3), "sho… (5 chars)");
        assert_eq!(clip("short", FIELD_MAX), "short");
    }
}
