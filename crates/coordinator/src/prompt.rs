//! What a worker is told, and what enki takes back from its reply.

use std::fmt::Write;
use std::path::Path;

use enki_core::role::{OutputMode, Role};
use enki_store::{DependencyRow, TaskRow};

/// The file an artifact role writes its report to, at the root of its copy.
pub const ARTIFACT_FILE: &str = "ARTIFACT.md";

/// One upstream result shown to a worker.
pub struct Upstream<'a> {
    pub edge: &'a DependencyRow,
    pub output: Option<&'a str>,
}

pub struct PromptInput<'a> {
    pub task: &'a TaskRow,
    pub role: Option<&'a Role>,
    pub copy: &'a Path,
    pub upstream: Vec<Upstream<'a>>,
    /// Absolute paths of the execution's artifacts so far.
    pub artifacts: Vec<String>,
    /// The follow-up requests the task was given (`enki followup`), oldest
    /// first: the last one is its current round's.
    pub follow_ups: &'a [String],
    /// Whether the agent runs in enki's sandbox (`[sandbox] mode =
    /// "enforce"`), where its copy's git metadata is read-only to it.
    pub sandboxed: bool,
}

pub fn worker_prompt(input: &PromptInput<'_>) -> String {
    let task = input.task;
    let mut p = String::new();
    if let Some(role) = input.role
        && !role.system_prompt.is_empty()
    {
        let _ = writeln!(p, "{}\n", role.system_prompt.trim());
    }
    let _ = writeln!(p, "# Your task: {}\n", task.title);
    if !task.description.trim().is_empty() {
        let _ = writeln!(p, "{}\n", task.description.trim());
    }
    follow_up_section(&mut p, input.follow_ups);
    let _ = writeln!(
        p,
        "Task {} (step `{}` of execution {}, tier {}{}).",
        task.id,
        task.step_id,
        task.execution_id,
        task.tier,
        task.role
            .as_ref()
            .map(|r| format!(", role {r}"))
            .unwrap_or_default()
    );
    let _ = writeln!(
        p,
        "You work in your own copy of the project at {}; nobody else edits it.\n",
        input.copy.display()
    );
    if !input.upstream.is_empty() {
        let _ = writeln!(p, "# What the steps you depend on produced\n");
        for up in &input.upstream {
            let _ = writeln!(
                p,
                "## {} — {} ({}, needed {})",
                up.edge.needs_step_id, up.edge.needs_title, up.edge.needs_status, up.edge.condition
            );
            let _ = writeln!(p, "{}\n", up.output.unwrap_or("(no output yet)").trim());
        }
    }
    if !input.artifacts.is_empty() {
        let _ = writeln!(p, "# Artifacts you can read\n");
        for artifact in &input.artifacts {
            let _ = writeln!(p, "- {artifact}");
        }
        p.push('\n');
    }
    let _ = writeln!(p, "# How to work\n");
    let _ = writeln!(
        p,
        "- Report what you are doing with the enki_worker_report tool (`status`: a few words) as you go."
    );
    let _ = writeln!(
        p,
        "- If you are blocked or need a decision, mail `coordinator` with enki_mail_send (kind `request`) and check enki_mail_check."
    );
    match input.role.map(|r| r.output) {
        Some(OutputMode::Artifact) => {
            let _ = writeln!(
                p,
                "- Do not change the project. Write your report as markdown to `{ARTIFACT_FILE}` at the root of your copy (or give it as your final answer); enki saves it as this step's artifact."
            );
        }
        _ => {
            let _ = write!(
                p,
                "- Do not commit: when you finish, enki commits every change in your copy and merges it."
            );
            // Only the sandbox makes the metadata read-only; without it a
            // commit would succeed, and saying otherwise would mislead.
            if input.sandboxed {
                let _ = write!(
                    p,
                    " Your copy's git metadata is read-only to you, so `git commit`, `git add` and other git writes fail there; that is expected."
                );
            }
            p.push('\n');
        }
    }
    let _ = writeln!(
        p,
        "- End your final reply with a short summary for the steps that depend on you:\n\n[OUTPUT]\nwhat you did and what they need to know\n[/OUTPUT]"
    );
    p
}

/// For a task in a follow-up round: what was asked since its first run,
/// the latest request being what to do now (round `n + 1` is the `n`-th
/// follow-up).
fn follow_up_section(p: &mut String, follow_ups: &[String]) {
    let Some((now, earlier)) = follow_ups.split_last() else {
        return;
    };
    let _ = writeln!(p, "# Follow-up\n");
    let _ = writeln!(
        p,
        "This task was done before: what was changed then has landed on the base branch your copy starts from. Now do what the latest follow-up request asks.\n"
    );
    for (index, request) in earlier.iter().enumerate() {
        let _ = writeln!(p, "## Round {} (done)\n\n{}\n", index + 2, request.trim());
    }
    let _ = writeln!(
        p,
        "## Round {} (the request now)\n\n{}\n",
        follow_ups.len() + 1,
        now.trim()
    );
}

/// The text between the last `[OUTPUT]` and the following `[/OUTPUT]` (or
/// the end), trimmed; `None` when there is no marker or nothing inside.
pub fn extract_output(reply: &str) -> Option<String> {
    let start = reply.rfind("[OUTPUT]")? + "[OUTPUT]".len();
    let rest = &reply[start..];
    let inner = rest.find("[/OUTPUT]").map_or(rest, |end| &rest[..end]);
    let inner = inner.trim();
    (!inner.is_empty()).then(|| inner.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_follow_up_round_shows_every_request_the_latest_as_the_one_now() {
        let mut p = String::new();
        follow_up_section(&mut p, &[]);
        assert_eq!(p, "");
        follow_up_section(&mut p, &["add tests".into(), "handle negatives".into()]);
        assert!(p.starts_with("# Follow-up\n"), "{p}");
        assert!(p.contains("## Round 2 (done)\n\nadd tests\n"), "{p}");
        assert!(
            p.contains("## Round 3 (the request now)\n\nhandle negatives\n"),
            "{p}"
        );
    }

    #[test]
    fn the_prompt_says_git_writes_fail_only_inside_the_sandbox() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = enki_store::Store::open(&dir.path().join("db.sqlite")).unwrap();
        let created = store
            .create_execution(None, "Plan", false, &[enki_store::NewStep::new("a", "A")])
            .unwrap();
        let task = store.task(&created.steps[0].1).unwrap().unwrap();
        let prompt = |sandboxed| {
            worker_prompt(&PromptInput {
                task: &task,
                role: None,
                copy: dir.path(),
                upstream: Vec::new(),
                artifacts: Vec::new(),
                follow_ups: &[],
                sandboxed,
            })
        };
        let commit = "- Do not commit: when you finish, enki commits every change in your copy and merges it.";
        let fails = "so `git commit`, `git add` and other git writes fail there";
        let inside = prompt(true);
        assert!(
            inside.contains(&format!(
                "{commit} Your copy's git metadata is read-only to you"
            )),
            "{inside}"
        );
        assert!(inside.contains(fails), "{inside}");
        let outside = prompt(false);
        assert!(outside.contains(&format!("{commit}\n")), "{outside}");
        assert!(
            !outside.contains("read-only") && !outside.contains(fails),
            "{outside}"
        );
    }

    #[test]
    fn output_is_taken_from_the_last_marker() {
        assert_eq!(extract_output("no marker"), None);
        assert_eq!(extract_output("[OUTPUT]  [/OUTPUT]"), None);
        assert_eq!(
            extract_output("[OUTPUT]old[/OUTPUT] more [OUTPUT]\nnew lines\n[/OUTPUT] bye")
                .as_deref(),
            Some("new lines")
        );
        assert_eq!(
            extract_output("text [OUTPUT] unterminated").as_deref(),
            Some("unterminated")
        );
    }
}
