//! Worker roles: named personas defined in TOML (STATE.md "Roles").
//!
//! The cascade is built-in roles, then `~/.enki/roles/`, then `.enki/roles/`;
//! a later file with the same `name` replaces the earlier role. Reading the
//! files is the caller's job; this module only parses and merges text.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::Tier;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputMode {
    /// Code changes committed to the task's branch and merged.
    #[default]
    Branch,
    /// A markdown file under `.enki/artifacts/`; other edits are discarded.
    Artifact,
}

impl OutputMode {
    pub const fn as_str(self) -> &'static str {
        match self {
            OutputMode::Branch => "branch",
            OutputMode::Artifact => "artifact",
        }
    }
}

fn default_true() -> bool {
    true
}

/// One role, exactly as its TOML file describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Role {
    pub name: String,
    #[serde(default)]
    pub label: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub system_prompt: String,
    #[serde(default = "default_true")]
    pub can_edit: bool,
    #[serde(default)]
    pub output: OutputMode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<Tier>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// Whether its work waits for a person's review before it lands
    /// (`"auto"` or `"ask"`); `None` takes `[merge] review`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review: Option<crate::ReviewMode>,
}

/// A role file that could not be used; the cascade skips it and reports this.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub struct RoleFileError {
    pub source_name: String,
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for RoleFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}: {}", self.source_name, line, self.message),
            None => write!(f, "{}: {}", self.source_name, self.message),
        }
    }
}

/// 1-based line number of a byte offset.
pub fn line_of_offset(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

impl Role {
    /// Parses one role file. `source_name` (usually the path) is used in errors.
    pub fn parse_toml(source_name: &str, text: &str) -> Result<Role, RoleFileError> {
        let role: Role = toml::from_str(text).map_err(|e| RoleFileError {
            source_name: source_name.to_string(),
            line: e.span().map(|span| line_of_offset(text, span.start)),
            message: e.message().trim().to_string(),
        })?;
        let name_ok = !role.name.is_empty()
            && role
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !name_ok {
            return Err(RoleFileError {
                source_name: source_name.to_string(),
                line: text
                    .lines()
                    .position(|l| l.trim_start().starts_with("name"))
                    .map(|i| i + 1),
                message: format!(
                    "role name '{}' must be non-empty and use only letters, digits, '_' and '-'",
                    role.name
                ),
            });
        }
        Ok(role)
    }
}

const BUILTIN_ROLES: &[(&str, &str, &str, bool, OutputMode, &str)] = &[
    (
        "feature_developer",
        "Feature developer",
        "Implements a feature end to end, with tests.",
        true,
        OutputMode::Branch,
        "You implement the feature described in your task inside your copy of the project. \
         Read the surrounding code first, follow its conventions, add or update tests, and make \
         sure the project still builds and its tests pass before you finish.",
    ),
    (
        "bug_fixer",
        "Bug fixer",
        "Reproduces a bug, fixes its cause, and adds a regression test.",
        true,
        OutputMode::Branch,
        "You fix the bug described in your task. Reproduce it first, find the root cause rather \
         than the symptom, fix it with the smallest sound change, and add a test that fails \
         without the fix.",
    ),
    (
        "ralph",
        "Ralph (verify-fix loop)",
        "Runs the project's checks and fixes what fails, in a loop, until everything passes.",
        true,
        OutputMode::Branch,
        "You run the project's build, linters and tests, fix the first failure, and repeat until \
         everything passes or you are sure the remaining failure is outside your task. Report \
         each iteration with enki_worker_report.",
    ),
    (
        "researcher",
        "Researcher",
        "Investigates a question and writes a markdown report; changes no code.",
        false,
        OutputMode::Artifact,
        "You investigate the question in your task by reading the code and documentation. You do \
         not change code. Your final answer is a markdown report: findings, evidence (files and \
         lines), and recommendations.",
    ),
    (
        "code_referencer",
        "Code referencer",
        "Maps the code relevant to a task and writes a reference document; changes no code.",
        false,
        OutputMode::Artifact,
        "You locate and summarise the code relevant to the topic in your task: files, types, \
         functions, how they connect, and pitfalls. You do not change code. Your final answer is \
         a markdown reference that later steps can rely on.",
    ),
    (
        "documenter",
        "Documenter",
        "Writes or updates documentation to match the code.",
        true,
        OutputMode::Branch,
        "You write or update documentation (README, guides, doc comments) so that it is accurate \
         for the current code. Check every claim against the code; keep the project's tone.",
    ),
];

/// The roles available to a project after the cascade.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleSet {
    roles: BTreeMap<String, Role>,
}

impl RoleSet {
    /// Only the built-in roles.
    pub fn builtin() -> RoleSet {
        let roles = BUILTIN_ROLES
            .iter()
            .map(|(name, label, description, can_edit, output, prompt)| {
                let role = Role {
                    name: (*name).to_string(),
                    label: (*label).to_string(),
                    description: (*description).to_string(),
                    system_prompt: (*prompt).to_string(),
                    can_edit: *can_edit,
                    output: *output,
                    tier: None,
                    agent: None,
                    review: None,
                };
                ((*name).to_string(), role)
            })
            .collect();
        RoleSet { roles }
    }

    /// Applies role files in cascade order (earlier files first). Bad files
    /// are skipped and returned so the caller can report them.
    pub fn with_files<'a>(
        mut self,
        files: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> (RoleSet, Vec<RoleFileError>) {
        let mut errors = Vec::new();
        for (source, text) in files {
            match Role::parse_toml(source, text) {
                Ok(role) => {
                    self.roles.insert(role.name.clone(), role);
                }
                Err(e) => errors.push(e),
            }
        }
        (self, errors)
    }

    pub fn get(&self, name: &str) -> Option<&Role> {
        self.roles.get(name)
    }

    pub fn contains(&self, name: &str) -> bool {
        self.roles.contains_key(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.roles.keys().map(String::as_str)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Role> {
        self.roles.values()
    }

    /// An error message for an unknown role, listing the known ones.
    pub fn unknown_role_message(&self, name: &str) -> String {
        format!(
            "unknown role '{name}' (known roles: {})",
            self.names().collect::<Vec<_>>().join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_are_the_six_documented_roles() {
        let set = RoleSet::builtin();
        let names: Vec<_> = set.names().collect();
        assert_eq!(
            names,
            [
                "bug_fixer",
                "code_referencer",
                "documenter",
                "feature_developer",
                "ralph",
                "researcher"
            ]
        );
        let researcher = set.get("researcher").unwrap();
        assert!(!researcher.can_edit);
        assert_eq!(researcher.output, OutputMode::Artifact);
        assert!(set.get("feature_developer").unwrap().can_edit);
    }

    #[test]
    fn later_files_replace_earlier_roles_with_the_same_name() {
        let home = r#"name = "researcher"
label = "Home researcher"
can_edit = true
"#;
        let project = r#"name = "researcher"
label = "Project researcher"
output = "artifact"
tier = "light"
"#;
        let custom = "name = \"auditor\"\ncan_edit = false\n";
        let (set, errors) = RoleSet::builtin().with_files([
            ("home/researcher.toml", home),
            ("proj/researcher.toml", project),
            ("proj/auditor.toml", custom),
        ]);
        assert!(errors.is_empty(), "{errors:?}");
        let researcher = set.get("researcher").unwrap();
        assert_eq!(researcher.label, "Project researcher");
        assert!(
            researcher.can_edit,
            "fields not set default, they are not inherited"
        );
        assert_eq!(researcher.tier, Some(Tier::Light));
        assert!(!set.get("auditor").unwrap().can_edit);
        assert_eq!(set.get("auditor").unwrap().output, OutputMode::Branch);
    }

    #[test]
    fn malformed_files_are_skipped_with_path_and_line() {
        let bad = "name = \"x\"\ncan_edit = \"yes\"\n";
        let unknown = "name = \"y\"\n\ncolour = \"blue\"\n";
        let broken = "name = \n";
        let (set, errors) = RoleSet::builtin().with_files([
            ("roles/x.toml", bad),
            ("roles/y.toml", unknown),
            ("roles/z.toml", broken),
        ]);
        assert!(!set.contains("x") && !set.contains("y"));
        assert_eq!(errors.len(), 3);
        assert_eq!(errors[0].line, Some(2), "{}", errors[0]);
        assert!(
            errors[0].to_string().starts_with("roles/x.toml:2:"),
            "{}",
            errors[0]
        );
        assert_eq!(errors[1].line, Some(3), "{}", errors[1]);
        assert!(errors[1].message.contains("colour"), "{}", errors[1]);
        assert!(
            errors[2].to_string().starts_with("roles/z.toml:1"),
            "{}",
            errors[2]
        );
    }

    #[test]
    fn a_role_may_set_its_review_and_a_wrong_one_is_named_with_its_line() {
        let role = Role::parse_toml("r.toml", "name = \"careful\"\nreview = \"ask\"\n").unwrap();
        assert_eq!(role.review, Some(crate::ReviewMode::Ask));
        assert_eq!(RoleSet::builtin().get("bug_fixer").unwrap().review, None);
        let err =
            Role::parse_toml("r.toml", "name = \"careful\"\nreview = \"later\"\n").unwrap_err();
        assert_eq!(err.line, Some(2), "{err}");
        assert!(err.message.contains("expected `auto` or `ask`"), "{err}");
    }

    #[test]
    fn role_names_are_validated() {
        let err = Role::parse_toml("r.toml", "name = \"a b\"\n").unwrap_err();
        assert!(err.message.contains("'a b'"), "{err}");
        assert_eq!(err.line, Some(1));
        let err = Role::parse_toml("r.toml", "label = \"no name\"\n").unwrap_err();
        assert!(err.message.contains("name"), "{err}");
    }

    #[test]
    fn unknown_role_message_lists_known_roles() {
        let msg = RoleSet::builtin().unknown_role_message("wizard");
        assert!(
            msg.starts_with("unknown role 'wizard'") && msg.contains("researcher"),
            "{msg}"
        );
    }
}
