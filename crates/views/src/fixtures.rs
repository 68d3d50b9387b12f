//! Rows built in memory for the renderers' tests.

use enki_core::{Condition, ExecutionStatus, TaskStatus, Tier};
use enki_store::{DependencyRow, ExecutionRow, MessageRow, TaskRow};

pub const EXEC: &str = "exec-01JAAAAAAAAAAAAAAAAAAAAAAA";
pub const OTHER_EXEC: &str = "exec-01JBBBBBBBBBBBBBBBBBBBBBBB";
pub const T: &str = "2025-01-02T10:03:04.123456Z";

/// A full task id whose short form ends with `tag`
/// (`task-01JAAAAAAAAAA<tag>`).
pub fn task_id(tag: char) -> String {
    format!("task-01JAAAAAAAAAA{tag}{}", "Z".repeat(12))
}

pub fn execution() -> ExecutionRow {
    ExecutionRow {
        id: EXEC.to_string(),
        session_id: Some("sess-1".to_string()),
        title: "demo execution".to_string(),
        status: ExecutionStatus::Running,
        standalone: false,
        created_at: T.to_string(),
        updated_at: T.to_string(),
        paused_reason: None,
    }
}

pub fn task(tag: char, step: &str, index: i64, status: TaskStatus) -> TaskRow {
    TaskRow {
        id: task_id(tag),
        session_id: Some("sess-1".to_string()),
        execution_id: EXEC.to_string(),
        step_id: step.to_string(),
        step_index: index,
        title: format!("step {step} title"),
        description: String::new(),
        tier: Tier::Standard,
        role: None,
        checkpoint: false,
        status,
        attempts: 0,
        failures: 0,
        last_error: None,
        activity: None,
        activity_at: None,
        output: None,
        branch: None,
        copy_path: None,
        created_at: T.to_string(),
        updated_at: T.to_string(),
        started_at: None,
        finished_at: None,
        agent_state: enki_core::liveness::shown_state(status, None, None).0,
        agent_state_reason: None,
        agent_state_since: Some(T.to_string()),
        round: 1,
        followup: None,
    }
}

pub fn edge(to: &TaskRow, from: &TaskRow, condition: Condition) -> DependencyRow {
    DependencyRow {
        task_id: to.id.clone(),
        needs_task_id: from.id.clone(),
        condition,
        needs_title: from.title.clone(),
        needs_status: from.status,
        needs_step_id: from.step_id.clone(),
        needs_execution_id: from.execution_id.clone(),
        satisfied: condition.is_satisfied_by(from.status),
    }
}

pub fn message(tag: char, to: &str, subject: &str) -> MessageRow {
    let id = format!("msg-01JAAAAAAAAAA{tag}{}", "Z".repeat(12));
    MessageRow {
        id: id.clone(),
        session_id: Some("sess-1".to_string()),
        thread_id: id,
        reply_to: None,
        from: format!("worker/{}", task_id('W')),
        to: to.to_string(),
        subject: subject.to_string(),
        body: "line one\nline two".to_string(),
        priority: "high".to_string(),
        kind: "request".to_string(),
        reply_status: None,
        created_at: T.to_string(),
        expires_at: None,
        read_at: None,
    }
}
