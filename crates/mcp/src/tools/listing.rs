//! The `tools/list` results, made from text checked in beside the code:
//! `described.jsonl` holds each tool of [`ALL_TOOLS`] as
//! [`ToolSpec::describe`] encodes it, one line per tool, in table order. A
//! server process so generates no schema: generating them (schemars, then
//! encoding) cost a fresh `enki mcp` about 1 ms of CPU before it could
//! answer its first `tools/list`. A test below keeps the file equal to what
//! the code describes, and rewrites it when asked to.

use std::sync::OnceLock;

use serde_json::Value;

use super::{ALL_TOOLS, ToolSpec};
use crate::roles::{McpRole, tools_for};

/// Each tool of [`ALL_TOOLS`] as `tools/list` describes it, encoded, one
/// line per tool, in table order.
const DESCRIBED: &str = include_str!("described.jsonl");

/// The environment variable that makes the test rewrite `described.jsonl`.
#[cfg(test)]
const REWRITE_ENV: &str = "ENKI_REWRITE_TOOL_LIST";

/// Each tool of [`ALL_TOOLS`] with its line of [`DESCRIBED`].
fn described_lines() -> impl Iterator<Item = (&'static ToolSpec, &'static str)> {
    ALL_TOOLS.iter().zip(DESCRIBED.lines())
}

/// [`DESCRIBED`] parsed, in [`ALL_TOOLS`] order; for the general paths
/// (`server/discover`, a `tools/list` of the stateless revision).
pub fn described() -> &'static [Value] {
    static PARSED: OnceLock<Vec<Value>> = OnceLock::new();
    PARSED.get_or_init(|| {
        described_lines()
            .filter_map(|(_, line)| serde_json::from_str(line).ok())
            .collect()
    })
}

/// Where a role's list is in [`LIST_TEXTS`] and [`LISTS`]: one per
/// distinct tool set.
fn list_index(role: McpRole, no_edit: bool) -> usize {
    match (role, no_edit) {
        (McpRole::Planner, _) => 0,
        (McpRole::Worker, false) => 1,
        (McpRole::Worker, true) => 2,
        (McpRole::Merger, _) => 3,
    }
}

/// Every role, with and without edits: one of each distinct tool set.
pub const EVERY_ROLE: &[(McpRole, bool)] = &[
    (McpRole::Planner, false),
    (McpRole::Worker, false),
    (McpRole::Worker, true),
    (McpRole::Merger, false),
];

/// Each role's `tools/list` result as JSON text, made once per process.
static LIST_TEXTS: [OnceLock<String>; 4] = [const { OnceLock::new() }; 4];

/// A role's `tools/list` result, `{"tools": [...]}`, as JSON text: the
/// lines of [`DESCRIBED`] of the tools it may use, in table order. Made on
/// first use by joining text (microseconds), kept for the process; the
/// answer to a `tools/list` of the handshake era (`Server::listed_tools`).
pub fn list_text_for(role: McpRole, no_edit: bool) -> &'static str {
    LIST_TEXTS[list_index(role, no_edit)].get_or_init(|| {
        let names = tools_for(role, no_edit);
        let lines: Vec<&str> = described_lines()
            .filter(|(tool, _)| names.contains(&tool.name))
            .map(|(_, line)| line)
            .collect();
        format!("{{\"tools\":[{}]}}", lines.join(","))
    })
}

/// Each role's `tools/list` result as a tree, made once per process.
static LISTS: [OnceLock<Value>; 4] = [const { OnceLock::new() }; 4];

/// A role's `tools/list` result ([`list_text_for`]) as a tree, for the
/// general path (results that are shaped further before they are sent).
pub fn list_for(role: McpRole, no_edit: bool) -> &'static Value {
    LISTS[list_index(role, no_edit)].get_or_init(|| {
        serde_json::from_str(list_text_for(role, no_edit)).unwrap_or_else(|_| {
            // Not reached while the tests below pass: describe them afresh.
            let names = tools_for(role, no_edit);
            let tools: Vec<Value> = ALL_TOOLS
                .iter()
                .filter(|tool| names.contains(&tool.name))
                .map(ToolSpec::describe)
                .collect();
            serde_json::json!({ "tools": tools })
        })
    })
}

/// The `tools/list` entries of the tools of `registry` named in `names`, in
/// `registry` order; from [`described`] when `registry` is [`ALL_TOOLS`].
pub fn list(registry: &'static [ToolSpec], names: &[&str]) -> Vec<Value> {
    let wanted = |tool: &&ToolSpec| names.contains(&tool.name);
    if std::ptr::eq(registry, ALL_TOOLS) {
        registry
            .iter()
            .zip(described())
            .filter(|(tool, _)| wanted(tool))
            .map(|(_, described)| described.clone())
            .collect()
    } else {
        registry
            .iter()
            .filter(wanted)
            .map(ToolSpec::describe)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// `described.jsonl` is what the tools describe now: a change to a
    /// tool's name, title, annotations, description or argument struct
    /// (its doc comments are the schema's descriptions) must rewrite it.
    #[test]
    fn the_checked_in_tool_descriptions_are_what_the_tools_describe() {
        let fresh: String = ALL_TOOLS
            .iter()
            .map(|tool| format!("{}\n", tool.describe()))
            .collect();
        if std::env::var_os(REWRITE_ENV).is_some() {
            let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/tools/described.jsonl");
            std::fs::write(path, &fresh).expect("rewriting described.jsonl");
            return;
        }
        let stale: Vec<&str> = ALL_TOOLS
            .iter()
            .zip(fresh.lines())
            .enumerate()
            .filter(|(i, (_, line))| DESCRIBED.lines().nth(*i) != Some(*line))
            .map(|(_, (tool, _))| tool.name)
            .collect();
        assert!(
            DESCRIBED == fresh,
            "crates/mcp/src/tools/described.jsonl is not what the tools describe (stale: {stale:?}, {} lines for {} tools): rewrite it with `{REWRITE_ENV}=1 cargo test -p enki-mcp checked_in_tool_descriptions` and review its diff",
            DESCRIBED.lines().count(),
            ALL_TOOLS.len()
        );
    }

    /// Each role's list is made once per process and is the role's tools
    /// as describing them gives, in table order, as text and as a tree.
    #[test]
    fn each_roles_list_is_made_once_and_describes_its_tools() {
        for &(role, no_edit) in EVERY_ROLE.iter().chain(&[(McpRole::Planner, true)]) {
            let text = list_text_for(role, no_edit);
            assert!(
                std::ptr::eq(text, list_text_for(role, no_edit)),
                "made twice"
            );
            let names = tools_for(role, no_edit);
            let expected: Vec<Value> = ALL_TOOLS
                .iter()
                .filter(|t| names.contains(&t.name))
                .map(ToolSpec::describe)
                .collect();
            assert_eq!(expected.len(), names.len(), "{role} {no_edit}");
            let expected = json!({"tools": expected});
            assert_eq!(text, expected.to_string(), "{role} {no_edit}");
            assert_eq!(list_for(role, no_edit), &expected, "{role} {no_edit}");
        }
        let fresh: Vec<Value> = ALL_TOOLS.iter().map(ToolSpec::describe).collect();
        assert_eq!(described(), fresh.as_slice());
    }

    /// The encoded lists may be kept in the traffic log as they are
    /// (`TrafficLog::record_clean`): nothing in them is a secret, and with
    /// the longest id a line stays under the size of a long entry.
    #[test]
    fn the_encoded_tool_lists_hold_no_secret_and_fit_a_log_entry() {
        for &(role, no_edit) in EVERY_ROLE {
            let text = list_text_for(role, no_edit);
            let list = list_for(role, no_edit);
            assert_eq!(&crate::redact::scrub(list, None), list, "{role} {no_edit}");
            let room = crate::logs::ENTRY_LIMIT - text.len();
            assert!(room > 4096, "{role} {no_edit}: {} bytes", text.len());
        }
    }
}
