//! Calls that fail without side effects: role refusals, argument and graph
//! validation, and id prefixes that are ambiguous or match nothing.

use enki_store::{TaskFilter, TaskRow};
use enki_tests::Project;
use serde_json::{Value, json};

use crate::{copy_dir, create_task, last_audit, planner, refused_without_effect, store, worker};

fn all_tasks(project: &Project) -> Vec<TaskRow> {
    store(project)
        .tasks(&TaskFilter::default())
        .expect("list tasks")
}

#[test]
fn a_worker_cannot_create_tasks_and_the_refusal_has_no_side_effect() {
    let project = Project::new();
    let task = create_task(&mut planner(&project), "existing");
    project.clear_signals();
    let mut client = worker(&project, &task);
    let audit_before = project.audit_lines().len();

    let text = refused_without_effect(
        &project,
        &mut client,
        "enki_task_create",
        json!({"title": "sneaky"}),
    );
    assert_eq!(
        text,
        "tool 'enki_task_create' is not available for role 'worker'"
    );
    assert_eq!(all_tasks(&project).len(), 1, "no task was written");
    assert!(project.signals().is_empty(), "no signal file");

    let audit = project.audit_lines();
    assert_eq!(audit.len(), audit_before + 1);
    let line = &audit[audit_before];
    assert_eq!(line["tool"], "enki_task_create");
    assert_eq!(line["role"], "worker");
    assert_eq!(line["task"], task.as_str());
    assert_eq!(line["outcome"], "refused");
}

#[test]
fn a_merger_cannot_send_mail_and_a_no_edit_worker_cannot_edit() {
    let project = Project::new();
    let task = create_task(&mut planner(&project), "work");
    project.clear_signals();
    std::fs::create_dir_all(copy_dir(&project, &task)).unwrap();

    let mut merger = project.mcp(&["--role", "merger", "--task-id", &task]);
    let text = refused_without_effect(
        &project,
        &mut merger,
        "enki_mail_send",
        json!({"to": "coordinator", "subject": "hi", "body": "x"}),
    );
    assert_eq!(
        text,
        "tool 'enki_mail_send' is not available for role 'merger'"
    );
    assert_eq!(last_audit(&project)["outcome"], "refused");

    let mut reader = project.mcp(&["--role", "worker", "--task-id", &task, "--no-edit"]);
    let text = refused_without_effect(
        &project,
        &mut reader,
        "enki_edit_file",
        json!({"path": "new.txt", "edits": [{"op": "append", "lines": ["x"]}]}),
    );
    assert_eq!(
        text,
        "tool 'enki_edit_file' is not available for role 'worker'"
    );
    assert!(
        !copy_dir(&project, &task).join("new.txt").exists(),
        "nothing was written"
    );
    assert_eq!(last_audit(&project)["outcome"], "refused");
    // The same worker may still read.
    std::fs::write(copy_dir(&project, &task).join("a.txt"), "x\n").unwrap();
    reader.call_ok("enki_read_file", json!({"path": "a.txt"}));
}

#[test]
fn task_create_arguments_are_validated_without_side_effects() {
    let project = Project::new();
    let mut client = planner(&project);
    let existing = create_task(&mut client, "existing");
    project.clear_signals();
    let mut fails = |arguments: Value| {
        refused_without_effect(&project, &mut client, "enki_task_create", arguments)
    };

    let text = fails(json!({"description": "no title"}));
    assert!(text.contains("title"), "{text}");

    let text = fails(json!({"title": 5}));
    assert!(text.contains("title") && text.contains("string"), "{text}");

    let text = fails(json!({"title": "t", "tier": "huge"}));
    assert!(text.contains("tier") && text.contains("huge"), "{text}");
    for level in ["light", "standard", "heavy"] {
        assert!(text.contains(level), "lists {level}: {text}");
    }

    let text = fails(json!({"title": "t", "colour": "red"}));
    assert!(text.contains("colour"), "{text}");

    let text = fails(json!({"title": "t", "needs": [{"task": existing, "condition": "soon"}]}));
    assert!(text.contains("needs") && text.contains("soon"), "{text}");
    assert!(
        text.contains("merged") && text.contains("started"),
        "lists the conditions: {text}"
    );

    let text = fails(json!({"title": "t", "needs": [{"task": existing, "when": "now"}]}));
    assert!(text.contains("when"), "{text}");

    let text = fails(json!({"title": "t", "role": "wizard"}));
    assert!(
        text.contains("role") && text.contains("wizard") && text.contains("researcher"),
        "{text}"
    );

    let missing = "task-01ZZZZZZZZZZZZZZZZZZZZZZZZ";
    let text = fails(json!({"title": "t", "needs": [missing]}));
    assert!(text.contains(missing), "names the missing task: {text}");

    let text = fails(json!({"title": "   "}));
    assert!(text.contains("title"), "{text}");

    assert_eq!(all_tasks(&project).len(), 1);
    assert!(project.signals().is_empty());
}

#[test]
fn execution_create_validates_the_graph_without_side_effects() {
    let project = Project::new();
    let mut client = planner(&project);
    let mut fails = |steps: Value| {
        refused_without_effect(
            &project,
            &mut client,
            "enki_execution_create",
            json!({"steps": steps}),
        )
    };

    let text = fails(json!([{"id": "a", "title": "A", "role": "wizard"}]));
    assert!(
        text.contains("steps[0].role") && text.contains("wizard"),
        "{text}"
    );
    for role in [
        "feature_developer",
        "bug_fixer",
        "ralph",
        "researcher",
        "code_referencer",
        "documenter",
    ] {
        assert!(text.contains(role), "lists {role}: {text}");
    }

    let text = fails(json!([
        {"id": "a", "title": "A", "needs": ["b"]},
        {"id": "b", "title": "B", "needs": ["a"]},
    ]));
    assert!(
        text.contains("cycle") && text.contains("a") && text.contains("b"),
        "{text}"
    );

    let text = fails(json!([{"id": "a", "title": "A", "needs": [{"step": "a"}]}]));
    assert!(text.contains("itself") && text.contains("'a'"), "{text}");

    let text = fails(json!([{"id": "a", "title": "A"}, {"id": "a", "title": "again"}]));
    assert!(
        text.contains("'a'") && text.contains("more than once"),
        "{text}"
    );

    let text = fails(json!([{"id": "a", "title": "A", "needs": ["ghost"]}]));
    assert!(text.contains("ghost"), "{text}");

    let missing = "task-01ZZZZZZZZZZZZZZZZZZZZZZZZ";
    let text = fails(json!([
        {"id": "a", "title": "A"},
        {"id": "b", "title": "B", "needs": ["a", {"task": missing}]},
    ]));
    assert!(text.contains(missing), "{text}");

    let text = fails(json!([{"id": "a", "title": "A", "needs": [{"step": "x", "task": "y"}]}]));
    assert!(text.contains("step") && text.contains("task"), "{text}");

    let text = fails(
        json!([{"id": "a", "title": "A", "needs": [{"step": "b", "condition": "later"}]}, {"id": "b", "title": "B"}]),
    );
    assert!(
        text.contains("later") && text.contains("completed"),
        "{text}"
    );

    let text = fails(json!([]));
    assert!(
        text.contains("`steps`") && text.contains("at least one"),
        "{text}"
    );

    let text = fails(json!([{"id": "a b", "title": "A"}]));
    assert!(
        text.contains("steps[0].id") && text.contains("a b"),
        "{text}"
    );

    assert!(all_tasks(&project).is_empty());
    assert!(project.signals().is_empty());
}

#[test]
fn an_ambiguous_id_prefix_lists_the_candidates() {
    let project = Project::new();
    let mut client = planner(&project);
    let first = create_task(&mut client, "one");
    let second = create_task(&mut client, "two");
    let common: String = first
        .chars()
        .zip(second.chars())
        .take_while(|(a, b)| a == b)
        .map(|(a, _)| a)
        .collect();
    assert!(
        common.len() > "task-".len(),
        "ids made together share a time prefix: {common}"
    );

    let text = client.call_err("enki_task_show", json!({"task_id": common}));
    assert!(text.contains("ambiguous"), "{text}");
    assert!(
        text.contains(&first) && text.contains(&second),
        "lists the candidates: {text}"
    );

    let text = client.call_err("enki_task_show", json!({"task_id": "task-"}));
    assert!(text.contains("task-"), "{text}");
    let text = client.call_err("enki_task_show", json!({"task_id": "task-01ZZZZZZZZZZ"}));
    assert!(text.contains("no task matches"), "{text}");

    // A unique prefix works, with or without the kind prefix and in lower case.
    let unique = &first[..first.len() - 2];
    let shown = client.call_ok("enki_task_show", json!({"task_id": unique.to_lowercase()}));
    assert_eq!(shown["structuredContent"]["task"]["id"], first.as_str());
}

#[test]
fn a_prefix_in_needs_never_matches_the_task_being_created() {
    let project = Project::new();
    let mut client = planner(&project);

    // An empty database: `task-0` matches nothing (not the new task itself).
    let text = refused_without_effect(
        &project,
        &mut client,
        "enki_task_create",
        json!({"title": "t", "needs": ["task-0"]}),
    );
    assert_eq!(
        text, "needs task 'task-0': no task matches 'task-0'",
        "a standalone task is spoken of as a task"
    );
    let text = refused_without_effect(
        &project,
        &mut client,
        "enki_execution_create",
        json!({"steps": [{"id": "a", "title": "A", "needs": [{"task": "task-0"}]}]}),
    );
    assert_eq!(
        text,
        "step 'a' needs task 'task-0': no task matches 'task-0'"
    );

    // With two tasks, the ambiguity lists exactly those two.
    let first = create_task(&mut client, "one");
    let second = create_task(&mut client, "two");
    let common: String = first
        .chars()
        .zip(second.chars())
        .take_while(|(a, b)| a == b)
        .map(|(a, _)| a)
        .collect();
    let text = refused_without_effect(
        &project,
        &mut client,
        "enki_task_create",
        json!({"title": "three", "needs": [common]}),
    );
    let (_, candidates) = text
        .split_once("it matches tasks ")
        .unwrap_or_else(|| panic!("an ambiguity: {text}"));
    let mut candidates: Vec<&str> = candidates.split(", ").collect();
    candidates.sort();
    let mut expected = vec![first.as_str(), second.as_str()];
    expected.sort();
    assert_eq!(
        candidates, expected,
        "the two existing tasks, not the one being created: {text}"
    );
}
