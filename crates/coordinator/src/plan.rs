//! `enki run --plan plan.toml`: a fixed execution, validated before
//! anything runs.
//!
//! ```toml
//! title = "Add subtraction"
//!
//! [[steps]]
//! id = "research"
//! title = "Survey the tests"
//! role = "researcher"
//! tier = "light"
//!
//! [[steps]]
//! id = "implement"
//! title = "Add sub(a, b)"
//! description = "..."
//! needs = ["research", { step = "research", condition = "completed" }, { task = "task-01J…" }]
//! checkpoint = false
//! ```

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use enki_core::Tier;
use enki_core::dag::{DagError, StepShape, validate_steps};
use enki_core::need::StepNeed;
use enki_core::role::{RoleSet, line_of_offset};
use enki_store::{NewNeed, NewStep};
use serde::Deserialize;
use toml::Spanned;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanError {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}: {}", self.file.display(), line, self.message),
            None => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

impl std::error::Error for PlanError {}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanFile {
    title: Option<String>,
    steps: Vec<Spanned<PlanStep>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanStep {
    id: String,
    title: String,
    #[serde(default)]
    description: String,
    tier: Option<Tier>,
    role: Option<String>,
    #[serde(default)]
    needs: Vec<StepNeed>,
    #[serde(default)]
    checkpoint: bool,
}

/// A validated plan, ready to be written as one execution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub title: String,
    pub steps: Vec<NewStep>,
    /// The plan file and the line of each step, for errors found later.
    pub file: PathBuf,
    pub step_lines: Vec<Option<usize>>,
}

impl Plan {
    /// Checks every `{ task = … }` need against the store (the task exists
    /// and the prefix is unique), naming the step's line on failure.
    pub fn check_task_references(&self, store: &enki_store::Store) -> Result<(), PlanError> {
        for (step, line) in self.steps.iter().zip(&self.step_lines) {
            for need in &step.needs {
                if let enki_store::NeedTarget::Task(id) = &need.target {
                    store.resolve_task(id).map_err(|e| PlanError {
                        file: self.file.clone(),
                        line: *line,
                        message: format!("step '{}' needs task {id}: {e}", step.step_id),
                    })?;
                }
            }
        }
        Ok(())
    }
}

/// Parses and validates a plan: syntax, unknown fields, roles, step
/// references, self-dependencies and cycles. Task references need the
/// database: [`Plan::check_task_references`].
pub fn parse_plan(file: &Path, text: &str, roles: &RoleSet) -> Result<Plan, PlanError> {
    let error = |line: Option<usize>, message: String| PlanError {
        file: file.to_path_buf(),
        line,
        message,
    };
    let parsed: PlanFile = toml::from_str(text).map_err(|e| {
        error(
            e.span().map(|s| line_of_offset(text, s.start)),
            e.message().trim().to_string(),
        )
    })?;
    let mut steps = Vec::with_capacity(parsed.steps.len());
    let mut lines = Vec::with_capacity(parsed.steps.len());
    for spanned in &parsed.steps {
        let line = Some(line_of_offset(text, spanned.span().start));
        let step = spanned.get_ref();
        if step.title.trim().is_empty() {
            return Err(error(
                line,
                format!("step '{}': the title is empty", step.id),
            ));
        }
        let role = match &step.role {
            Some(name) => Some(roles.get(name).ok_or_else(|| {
                error(
                    line,
                    format!("step '{}': {}", step.id, roles.unknown_role_message(name)),
                )
            })?),
            None => None,
        };
        steps.push(NewStep {
            step_id: step.id.clone(),
            title: step.title.trim().to_string(),
            description: step.description.clone(),
            tier: step.tier.or(role.and_then(|r| r.tier)).unwrap_or_default(),
            role: step.role.clone(),
            checkpoint: step.checkpoint,
            needs: step.needs.iter().map(NewNeed::from).collect(),
        });
        lines.push(line);
    }
    let shapes: Vec<StepShape<'_>> = parsed
        .steps
        .iter()
        .map(|s| StepShape {
            id: &s.get_ref().id,
            needs: s.get_ref().needs.iter().map(StepNeed::shape).collect(),
        })
        .collect();
    validate_steps(&shapes, &BTreeSet::new()).map_err(|e| {
        // Point at the step the error is about.
        let step = match &e {
            DagError::DuplicateStep(id)
            | DagError::SelfDependency(id)
            | DagError::ExistingStep(id) => Some(id.as_str()),
            DagError::UnknownStep { step, .. } => Some(step.as_str()),
            DagError::Cycle(path) => path.first().map(String::as_str),
            DagError::BadStepId { id, .. } => Some(id.as_str()),
            DagError::NoSteps => None,
        };
        // For a duplicate, the later step is the one to fix.
        let line = step
            .and_then(|id| steps.iter().rposition(|s| s.step_id == id))
            .and_then(|i| lines[i]);
        error(line, e.to_string())
    })?;
    let title = parsed
        .title
        .filter(|t| !t.trim().is_empty())
        .or_else(|| steps.first().map(|s| s.title.clone()))
        .unwrap_or_default();
    Ok(Plan {
        title,
        steps,
        file: file.to_path_buf(),
        step_lines: lines,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Plan, PlanError> {
        parse_plan(Path::new("plan.toml"), text, &RoleSet::builtin())
    }

    #[test]
    fn a_valid_plan_becomes_steps_with_roles_tiers_and_conditions() {
        let plan = parse(
            r#"title = "Demo"
[[steps]]
id = "a"
title = "A"
role = "researcher"
[[steps]]
id = "b"
title = "B"
tier = "heavy"
checkpoint = true
needs = ["a", { step = "a", condition = "completed" }]
"#,
        );
        let plan = plan.unwrap();
        assert_eq!(plan.title, "Demo");
        assert_eq!(plan.steps.len(), 2);
        assert_eq!(plan.steps[0].role.as_deref(), Some("researcher"));
        assert!(plan.steps[1].checkpoint);
        assert_eq!(plan.steps[1].tier, Tier::Heavy);
        assert_eq!(
            plan.steps[1].needs[1].condition,
            enki_core::Condition::Completed
        );
    }

    #[test]
    fn errors_name_the_file_and_line() {
        let missing = "[[steps]]\nid = \"a\"\n";
        let err = parse(missing).unwrap_err();
        assert!(err.to_string().starts_with("plan.toml:1:"), "{err}");
        assert!(err.message.contains("title"), "{err}");

        let cycle = "[[steps]]\nid = \"a\"\ntitle = \"A\"\nneeds = [\"b\"]\n\n[[steps]]\nid = \"b\"\ntitle = \"B\"\nneeds = [\"a\"]\n";
        let err = parse(cycle).unwrap_err();
        assert!(err.message.contains("cycle"), "{err}");
        assert!(err.line.is_some(), "{err}");

        let role = "[[steps]]\nid = \"a\"\ntitle = \"A\"\n\n[[steps]]\nid = \"b\"\ntitle = \"B\"\nrole = \"wizard\"\n";
        let err = parse(role).unwrap_err();
        assert_eq!(err.line, Some(5), "{err}");
        assert!(err.message.contains("unknown role 'wizard'"), "{err}");

        let need = "[[steps]]\nid = \"a\"\ntitle = \"A\"\n\n[[steps]]\nid = \"b\"\ntitle = \"B\"\nneeds = [{ step = \"a\", colour = \"red\" }]\n";
        let err = parse(need).unwrap_err();
        assert!(err.message.contains("unknown field `colour`"), "{err}");
        assert_eq!(err.line, Some(8), "{err}");

        let unknown = "[[steps]]\nid = \"a\"\ntitle = \"A\"\ncolour = \"red\"\n";
        let err = parse(unknown).unwrap_err();
        assert!(err.message.contains("colour"), "{err}");

        let duplicate =
            "[[steps]]\nid = \"a\"\ntitle = \"A\"\n\n[[steps]]\nid = \"a\"\ntitle = \"again\"\n";
        let err = parse(duplicate).unwrap_err();
        assert_eq!(err.line, Some(5), "the second 'a' is the one to fix: {err}");
    }

    #[test]
    fn task_references_are_checked_against_the_store_with_their_line() {
        let tmp = tempfile::tempdir().unwrap();
        let store = enki_store::Store::open(&tmp.path().join("db.sqlite")).unwrap();
        let plan = parse(
            "[[steps]]\nid = \"a\"\ntitle = \"A\"\n\n[[steps]]\nid = \"b\"\ntitle = \"B\"\nneeds = [{ task = \"task-01JAAAAAAAAAAAAAAAAAAAAAAA\" }]\n",
        )
        .unwrap();
        let err = plan.check_task_references(&store).unwrap_err();
        assert_eq!(err.line, Some(5), "{err}");
        assert!(
            err.to_string()
                .starts_with("plan.toml:5: step 'b' needs task task-01JAAAAAAAAAAAAAAAAAAAAAAA:"),
            "{err}"
        );
    }
}
