//! What a run left behind, read the way a test checks it: a task's event
//! log (through `enki logs --json`) and the prompts the `sim` agent kept
//! for each of its sessions.

use serde_json::Value;

use crate::Project;

impl Project {
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
