//! What a run left behind, read the way a test checks it: tasks and their
//! details (`enki tasks|task --json`), a task's event log (through `enki
//! logs --json`), a `--json` run's events, and the prompts the `sim` agent
//! kept for each of its sessions.

use serde_json::Value;

use crate::Project;

impl Project {
    /// Everything `enki task <id> --json` says about a task.
    pub fn task_detail(&self, id: &str) -> Value {
        let output = self
            .enki(&["task", id, "--json"])
            .output()
            .expect("enki task");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).expect("task JSON")
    }

    /// [`Project::task_detail`] of a step, by step id.
    pub fn step_detail(&self, step: &str) -> Value {
        self.task_detail(&self.task_id(step))
    }

    /// Tasks as `enki tasks --json` reports them.
    pub fn tasks_json(&self) -> Vec<Value> {
        let output = self
            .enki(&["tasks", "--json"])
            .output()
            .expect("enki tasks");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let value: Value = serde_json::from_slice(&output.stdout).expect("tasks JSON");
        value["tasks"].as_array().cloned().unwrap_or_default()
    }

    /// The task row of a step, by step id.
    pub fn task_by_step(&self, step: &str) -> Value {
        self.tasks_json()
            .into_iter()
            .find(|t| t["step_id"] == step)
            .unwrap_or_else(|| panic!("no task for step {step}"))
    }

    /// The id of the task of `step`.
    pub fn task_id(&self, step: &str) -> String {
        self.task_by_step(step)["id"]
            .as_str()
            .unwrap_or_else(|| panic!("task of step {step} has no id"))
            .to_string()
    }

    /// Cancels `step` in its execution with `enki cancel`, which must succeed.
    pub fn cancel_step(&self, step: &str) {
        let detail = self.step_detail(step);
        let execution = detail["task"]["execution_id"]
            .as_str()
            .unwrap_or_else(|| panic!("step {step} has no execution: {detail}"));
        let cancelled = self
            .enki(&["cancel", execution, step])
            .output()
            .expect("run enki cancel");
        assert!(
            cancelled.status.success(),
            "{}",
            crate::describe(&cancelled)
        );
    }

    /// The status of a step's task, or "" while the plan is not written yet.
    pub fn status_of(&self, step: &str) -> String {
        self.tasks_json()
            .into_iter()
            .find(|t| t["step_id"] == step)
            .and_then(|t| t["status"].as_str().map(str::to_string))
            .unwrap_or_default()
    }
    /// The data of the task's events of `kind`, oldest first (every one:
    /// `enki task` shows only the latest).
    pub fn events_of(&self, task_id: &str, kind: &str) -> Vec<Value> {
        let output = self
            .enki(&["logs", task_id, "--json"])
            .output()
            .expect("enki logs");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(|line| serde_json::from_str::<Value>(line).expect("an event as JSON"))
            .filter(|event| event["kind"] == kind)
            .map(|event| event["data"].clone())
            .collect()
    }

    /// The prompts every session the sim agent kept was given.
    pub fn sim_prompts(&self) -> Vec<String> {
        let dir = self.home.path().join(".local/state/enki-sim/sessions");
        let mut prompts = Vec::new();
        for entry in std::fs::read_dir(&dir).expect("the sim's sessions") {
            let path = entry.expect("a session file").path();
            if path.extension().is_some_and(|e| e == "json") {
                let bytes = std::fs::read(&path).expect("read a session");
                let saved: Value = serde_json::from_slice(&bytes).expect("a session as JSON");
                for prompt in saved["prompts"].as_array().into_iter().flatten() {
                    prompts.extend(prompt.as_str().map(str::to_string));
                }
            }
        }
        prompts
    }
}

/// The JSON objects of a `--json` run's output, one per line (other lines
/// skipped).
pub fn json_lines(output: &std::process::Output) -> Vec<Value> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// The kinds of a task's events, oldest first, from `enki task --json`.
pub fn event_kinds(detail: &Value) -> Vec<String> {
    detail["events"]
        .as_array()
        .map(|events| {
            events
                .iter()
                .filter_map(|e| e["kind"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}
