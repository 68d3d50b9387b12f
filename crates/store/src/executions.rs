//! Creating executions and steps, and the execution-level operations
//! (pause, resume, cancel, stop all).

use std::collections::HashMap;

use enki_core::need::StepNeed;
use enki_core::{Condition, ExecutionId, ExecutionStatus, IdKind, TaskId, TaskStatus, Tier, rules};
use rusqlite::{Connection, OptionalExtension, params};

use crate::error::StoreError;
use crate::ids;
use crate::rows::{ExecutionRow, get_enum};
use crate::store::Store;
use crate::task_events;
use crate::tasks::{cancel_reach, cancel_tasks, get_task, require_task};
use crate::time::now_rfc3339;

/// What a new step depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NeedTarget {
    /// A step of the same execution (being added now, or existing).
    Step(String),
    /// Any task, by id or unique prefix.
    Task(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewNeed {
    pub target: NeedTarget,
    pub condition: Condition,
}

impl NewNeed {
    /// Needs step `step` of the same execution.
    pub fn step(step: impl Into<String>, condition: Condition) -> NewNeed {
        NewNeed {
            target: NeedTarget::Step(step.into()),
            condition,
        }
    }

    /// Needs task `task` (an id or unique prefix), in any execution.
    pub fn task(task: impl Into<String>, condition: Condition) -> NewNeed {
        NewNeed {
            target: NeedTarget::Task(task.into()),
            condition,
        }
    }
}

impl From<&StepNeed> for NewNeed {
    fn from(need: &StepNeed) -> NewNeed {
        match need {
            StepNeed::Step { step, condition } => NewNeed::step(step.clone(), *condition),
            StepNeed::Task { task, condition } => NewNeed::task(task.clone(), *condition),
        }
    }
}

/// A step to write. The caller has validated the graph shape (see
/// `enki_core::dag`); the store checks references against the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewStep {
    pub step_id: String,
    pub title: String,
    pub description: String,
    pub tier: Tier,
    pub role: Option<String>,
    pub checkpoint: bool,
    pub needs: Vec<NewNeed>,
}

impl NewStep {
    /// A `standard` step with no description, role, checkpoint or needs.
    pub fn new(step_id: impl Into<String>, title: impl Into<String>) -> NewStep {
        NewStep {
            step_id: step_id.into(),
            title: title.into(),
            description: String::new(),
            tier: Tier::Standard,
            role: None,
            checkpoint: false,
            needs: Vec::new(),
        }
    }

    /// The same step with these needs.
    pub fn needing(mut self, needs: Vec<NewNeed>) -> NewStep {
        self.needs = needs;
        self
    }
}

pub(crate) fn ensure_session(conn: &Connection, session: Option<&str>) -> Result<(), StoreError> {
    if let Some(id) = session {
        conn.prepare_cached("INSERT OR IGNORE INTO sessions (id, started_at) VALUES (?1, ?2)")?
            .execute(params![id, now_rfc3339()])?;
    }
    Ok(())
}

pub(crate) fn get_execution(
    conn: &Connection,
    id: &str,
) -> Result<Option<ExecutionRow>, StoreError> {
    let sql = format!(
        "SELECT {} FROM executions WHERE id = ?1",
        ExecutionRow::COLUMNS
    );
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([id], ExecutionRow::from_row)
        .optional()?)
}

pub(crate) fn require_execution(conn: &Connection, id: &str) -> Result<ExecutionRow, StoreError> {
    get_execution(conn, id)?.ok_or_else(|| StoreError::invalid(format!("no execution {id}")))
}

/// Gives an execution the status its tasks settle it in
/// ([`rules::settled_execution_status`]); leaves it alone while work remains.
pub(crate) fn refresh_execution_status(
    conn: &Connection,
    execution_id: &str,
) -> Result<(), StoreError> {
    let execution = require_execution(conn, execution_id)?;
    let present = conn
        .prepare_cached("SELECT DISTINCT status FROM tasks WHERE execution_id = ?1")?
        .query_map([execution_id], |r| get_enum::<TaskStatus>(r, 0))?
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(status) = rules::settled_execution_status(execution.status, present)
        && status != execution.status
    {
        set_execution_status(conn, execution_id, status)?;
    }
    Ok(())
}

/// New work makes a finished execution run again
/// ([`rules::new_work_reopens`]).
pub(crate) fn reopen_execution(conn: &Connection, execution_id: &str) -> Result<(), StoreError> {
    if rules::new_work_reopens(require_execution(conn, execution_id)?.status) {
        set_execution_status(conn, execution_id, ExecutionStatus::Running)?;
    }
    Ok(())
}

/// Where one edge of a new step points, once resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    /// Another step of this batch, by index.
    New(usize),
    /// A task already in the database, by full id.
    Existing(String),
}

/// How a message about a new step's needs starts: a standalone task is
/// spoken of as a task (`needs task …`), a step by its id (`step 'b' needs …`).
fn who(step: &NewStep, standalone: bool) -> String {
    if standalone {
        String::new()
    } else {
        format!("step '{}' ", step.step_id)
    }
}

/// Inserts steps into an execution and their edges. `existing` maps step
/// ids already in the execution to task ids.
///
/// Every need is resolved before anything is inserted, so a task id prefix
/// can only match tasks that existed before this call. A step with a need
/// that can never hold ([`rules::need_is_lost`], the engine's rule too) is
/// created `blocked`.
fn insert_steps(
    tx: &Connection,
    session: Option<&str>,
    execution_id: &str,
    first_index: i64,
    steps: &[NewStep],
    existing: &HashMap<String, String>,
    standalone: bool,
) -> Result<CreatedSteps, StoreError> {
    let index_of: HashMap<&str, usize> = steps
        .iter()
        .enumerate()
        .map(|(i, s)| (s.step_id.as_str(), i))
        .collect();
    // 1. Resolve every need against the database as it was.
    let mut edges: Vec<Vec<(Target, Condition)>> = Vec::with_capacity(steps.len());
    for step in steps {
        let mut step_edges = Vec::with_capacity(step.needs.len());
        for need in &step.needs {
            let target = match &need.target {
                NeedTarget::Step(name) => match index_of.get(name.as_str()) {
                    Some(&index) => Target::New(index),
                    None => Target::Existing(existing.get(name).cloned().ok_or_else(|| {
                        StoreError::invalid(format!(
                            "{}needs unknown step '{name}'",
                            who(step, standalone)
                        ))
                    })?),
                },
                NeedTarget::Task(input) => {
                    Target::Existing(ids::resolve(tx, IdKind::Task, input).map_err(|e| {
                        StoreError::invalid(format!(
                            "{}needs task '{input}': {e}",
                            who(step, standalone)
                        ))
                    })?)
                }
            };
            step_edges.push((target, need.condition));
        }
        edges.push(step_edges);
    }
    for (index, step) in steps.iter().enumerate() {
        let mut seen: Vec<(&Target, Condition)> = Vec::new();
        for (target, condition) in &edges[index] {
            let condition = *condition;
            if *target == Target::New(index) {
                return Err(StoreError::invalid(format!(
                    "{}depends on itself",
                    who(step, standalone)
                )));
            }
            match seen.iter().find(|(t, _)| *t == target) {
                Some((_, c)) if *c != condition => {
                    let what = match target {
                        Target::New(i) => format!("step '{}'", steps[*i].step_id),
                        Target::Existing(id) => id.clone(),
                    };
                    return Err(StoreError::invalid(format!(
                        "{}needs {what} twice, with conditions '{c}' and '{condition}'",
                        who(step, standalone)
                    )));
                }
                Some(_) => {}
                None => seen.push((target, condition)),
            }
        }
    }
    // 2. Which new steps start blocked: a need that can never hold
    // (`rules::need_is_lost`); new steps pass it on.
    let mut existing_status: HashMap<&str, TaskStatus> = HashMap::new();
    for (target, _) in edges.iter().flatten() {
        if let Target::Existing(id) = target
            && !existing_status.contains_key(id.as_str())
        {
            existing_status.insert(id, require_task(tx, id)?.status);
        }
    }
    let mut blocked_by: Vec<Option<String>> = vec![None; steps.len()];
    loop {
        let mut changed = false;
        for index in 0..steps.len() {
            if blocked_by[index].is_some() {
                continue;
            }
            for (target, condition) in &edges[index] {
                let (status, what) = match target {
                    Target::New(i) if blocked_by[*i].is_some() => {
                        (TaskStatus::Blocked, format!("step '{}'", steps[*i].step_id))
                    }
                    Target::New(_) => continue,
                    Target::Existing(id) => match existing_status.get(id.as_str()) {
                        Some(status) => (*status, id.clone()),
                        None => continue,
                    },
                };
                if rules::need_is_lost(*condition, status) {
                    blocked_by[index] = Some(format!("needs {what}, which is {status}"));
                    changed = true;
                    break;
                }
            }
        }
        if !changed {
            break;
        }
    }
    // 3. Write the tasks, then the edges.
    let now = now_rfc3339();
    let mut created = Vec::with_capacity(steps.len());
    let mut blocked = Vec::new();
    for (offset, step) in steps.iter().enumerate() {
        let task_id = TaskId::generate().into_string();
        let status = if blocked_by[offset].is_some() {
            TaskStatus::Blocked
        } else {
            TaskStatus::Pending
        };
        tx.prepare_cached(
            "INSERT INTO tasks (id, session_id, execution_id, step_id, step_index, title, description,
                 tier, role, checkpoint, status, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12)",
        )?
        .execute(params![
            task_id,
            session,
            execution_id,
            step.step_id,
            first_index + offset as i64,
            step.title,
            step.description,
            step.tier.as_str(),
            step.role,
            step.checkpoint,
            status.as_str(),
            now,
        ])?;
        task_events::append(
            tx,
            &task_id,
            "created",
            &serde_json::json!({
                "execution": execution_id,
                "step": step.step_id,
                "status": status,
                "reason": blocked_by[offset],
            }),
        )?;
        if let Some(reason) = &blocked_by[offset] {
            blocked.push((step.step_id.clone(), reason.clone()));
        }
        created.push((step.step_id.clone(), task_id));
    }
    for (index, step_edges) in edges.iter().enumerate() {
        let task_id = &created[index].1;
        let mut written: Vec<&str> = Vec::new();
        for (target, condition) in step_edges {
            let target = match target {
                Target::New(i) => created[*i].1.as_str(),
                Target::Existing(id) => id.as_str(),
            };
            if written.contains(&target) {
                continue;
            }
            written.push(target);
            tx.prepare_cached(
                "INSERT INTO dependencies (task_id, needs_task_id, condition) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![task_id, target, condition.as_str()])?;
        }
    }
    Ok(CreatedSteps {
        execution_id: execution_id.to_string(),
        steps: created,
        blocked,
    })
}

/// The result of creating an execution or adding steps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedSteps {
    pub execution_id: String,
    /// `(step id, task id)` in the order given.
    pub steps: Vec<(String, String)>,
    /// `(step id, why)` for the steps created `blocked`: something they need
    /// failed, is blocked or was cancelled. Retrying it unblocks them.
    pub blocked: Vec<(String, String)>,
}

impl Store {
    /// Records that a coordinator session exists (idempotent).
    pub fn ensure_session(&mut self, session: &str) -> Result<(), StoreError> {
        self.write(|tx| ensure_session(tx, Some(session)))
    }

    /// Writes a new execution with all its steps and edges, or nothing.
    pub fn create_execution(
        &mut self,
        session: Option<&str>,
        title: &str,
        standalone: bool,
        steps: &[NewStep],
    ) -> Result<CreatedSteps, StoreError> {
        self.write(|tx| {
            ensure_session(tx, session)?;
            let execution_id = ExecutionId::generate().into_string();
            let now = now_rfc3339();
            tx.prepare_cached(
                "INSERT INTO executions (id, session_id, title, status, standalone, created_at, updated_at)
                 VALUES (?1, ?2, ?3, 'running', ?4, ?5, ?5)",
            )?
            .execute(params![execution_id, session, title, standalone, now])?;
            let created = insert_steps(
                tx,
                session,
                &execution_id,
                0,
                steps,
                &HashMap::new(),
                standalone,
            )?;
            refresh_execution_status(tx, &execution_id)?;
            Ok(created)
        })
    }

    /// Adds steps to an existing execution (they may need its existing
    /// steps), or nothing.
    pub fn add_steps(
        &mut self,
        session: Option<&str>,
        execution_id: &str,
        steps: &[NewStep],
    ) -> Result<CreatedSteps, StoreError> {
        self.write(|tx| {
            let execution = require_execution(tx, execution_id)?;
            if execution.status == ExecutionStatus::Cancelled {
                return Err(StoreError::invalid(format!(
                    "execution {} is cancelled; create a new execution instead",
                    execution.id
                )));
            }
            let existing = self_step_map(tx, &execution.id)?;
            for step in steps {
                if existing.contains_key(&step.step_id) {
                    return Err(StoreError::invalid(format!(
                        "step id '{}' already exists in execution {}",
                        step.step_id, execution.id
                    )));
                }
            }
            let next_index: i64 = tx.query_row(
                "SELECT coalesce(max(step_index) + 1, 0) FROM tasks WHERE execution_id = ?1",
                [&execution.id],
                |r| r.get(0),
            )?;
            let created = insert_steps(
                tx,
                session,
                &execution.id,
                next_index,
                steps,
                &existing,
                execution.standalone,
            )?;
            // Settling again puts it back if none of the new steps can run.
            reopen_execution(tx, &execution.id)?;
            refresh_execution_status(tx, &execution.id)?;
            Ok(created)
        })
    }

    /// Step id -> task id for an execution.
    pub fn step_map(&self, execution_id: &str) -> Result<HashMap<String, String>, StoreError> {
        self_step_map(&self.conn, execution_id)
    }

    pub fn resolve_execution(&self, input: &str) -> Result<String, StoreError> {
        ids::resolve(&self.conn, IdKind::Execution, input)
    }

    pub fn execution(&self, id: &str) -> Result<Option<ExecutionRow>, StoreError> {
        get_execution(&self.conn, id)
    }

    /// Executions, oldest first, optionally scoped to a session.
    pub fn executions(&self, session: Option<&str>) -> Result<Vec<ExecutionRow>, StoreError> {
        let sql = format!(
            "SELECT {} FROM executions WHERE (?1 IS NULL OR session_id = ?1) ORDER BY created_at, id",
            ExecutionRow::COLUMNS
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt
            .query_map([session], ExecutionRow::from_row)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Pauses an execution, or one step of it. Returns what changed.
    pub fn pause(
        &mut self,
        execution_id: &str,
        step_id: Option<&str>,
    ) -> Result<String, StoreError> {
        self.write(|tx| {
            let execution = require_execution(tx, execution_id)?;
            if execution.status.is_terminal() {
                return Err(StoreError::invalid(format!(
                    "execution {} is {}; there is nothing to pause",
                    execution.id, execution.status
                )));
            }
            match step_id {
                None => {
                    set_execution_status(tx, &execution.id, ExecutionStatus::Paused)?;
                    Ok(format!("execution {} paused", execution.id))
                }
                Some(step) => {
                    let task = step_task(tx, &execution.id, step)?;
                    if !rules::step_may_pause(task.status) {
                        return Err(StoreError::invalid(format!(
                            "step '{step}' is {}; only pending, ready or running steps can be paused",
                            task.status
                        )));
                    }
                    tx.execute(
                        "UPDATE tasks SET status = 'paused', updated_at = ?2 WHERE id = ?1",
                        params![task.id, now_rfc3339()],
                    )?;
                    task_events::append(tx, &task.id, "paused", &serde_json::json!({"was": task.status}))?;
                    Ok(format!("step '{step}' ({}) paused", task.id))
                }
            }
        })
    }

    /// Resumes a paused execution (and its paused steps), or one step.
    pub fn resume(
        &mut self,
        execution_id: &str,
        step_id: Option<&str>,
    ) -> Result<String, StoreError> {
        self.write(|tx| {
            let execution = require_execution(tx, execution_id)?;
            let now = now_rfc3339();
            match step_id {
                None => {
                    if execution.status.is_terminal() {
                        return Err(StoreError::invalid(format!(
                            "execution {} is {}; it cannot be resumed",
                            execution.id, execution.status
                        )));
                    }
                    set_execution_status(tx, &execution.id, ExecutionStatus::Running)?;
                    let resumed = tx.execute(
                        "UPDATE tasks SET status = 'pending', updated_at = ?2 WHERE execution_id = ?1 AND status = 'paused'",
                        params![execution.id, now],
                    )?;
                    Ok(format!("execution {} resumed ({resumed} paused steps back to pending)", execution.id))
                }
                Some(step) => {
                    let task = step_task(tx, &execution.id, step)?;
                    if task.status != TaskStatus::Paused {
                        return Err(StoreError::invalid(format!(
                            "step '{step}' is {}, not paused",
                            task.status
                        )));
                    }
                    tx.execute(
                        "UPDATE tasks SET status = 'pending', updated_at = ?2 WHERE id = ?1",
                        params![task.id, now],
                    )?;
                    task_events::append(tx, &task.id, "resumed", &serde_json::json!({}))?;
                    Ok(format!("step '{step}' ({}) resumed", task.id))
                }
            }
        })
    }

    /// Cancels an execution, or one step and everything that depends on it
    /// (in any execution). Finished tasks are left as they are. Returns the
    /// cancelled task ids.
    pub fn cancel(
        &mut self,
        execution_id: &str,
        step_id: Option<&str>,
    ) -> Result<Vec<String>, StoreError> {
        self.write(|tx| {
            let execution = require_execution(tx, execution_id)?;
            let roots: Vec<String> = match step_id {
                None => {
                    if matches!(
                        execution.status,
                        ExecutionStatus::Done | ExecutionStatus::Cancelled
                    ) {
                        return Err(StoreError::invalid(format!(
                            "execution {} is {}; there is nothing to cancel",
                            execution.id, execution.status
                        )));
                    }
                    self_step_map(tx, &execution.id)?.into_values().collect()
                }
                Some(step) => {
                    let task = step_task(tx, &execution.id, step)?;
                    // A failed step stays failed; cancelling it cancels
                    // its blocked dependents.
                    if matches!(task.status, TaskStatus::Done | TaskStatus::Cancelled) {
                        return Err(StoreError::invalid(format!(
                            "step '{step}' is {}; there is nothing to cancel",
                            task.status
                        )));
                    }
                    vec![task.id]
                }
            };
            let cancelled = cancel_reach(tx, &roots)?;
            cancel_tasks(tx, &cancelled)?;
            if step_id.is_none() {
                set_execution_status(tx, &execution.id, ExecutionStatus::Cancelled)?;
            }
            let mut touched: Vec<String> = vec![execution.id.clone()];
            for id in &cancelled {
                if let Some(task) = get_task(tx, id)?
                    && !touched.contains(&task.execution_id)
                {
                    touched.push(task.execution_id);
                }
            }
            for exec in touched {
                refresh_execution_status(tx, &exec)?;
            }
            Ok(cancelled)
        })
    }

    /// `enki_stop_all`: pauses every running execution. Returns their ids.
    pub fn pause_all(&mut self, session: Option<&str>) -> Result<Vec<String>, StoreError> {
        self.write(|tx| {
            let mut stmt = tx.prepare_cached(
                "SELECT id FROM executions WHERE status = 'running' AND (?1 IS NULL OR session_id = ?1) ORDER BY created_at, id",
            )?;
            let ids = stmt
                .query_map([session], |r| r.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            for id in &ids {
                set_execution_status(tx, id, ExecutionStatus::Paused)?;
            }
            Ok(ids)
        })
    }
}

fn set_execution_status(
    conn: &Connection,
    id: &str,
    status: ExecutionStatus,
) -> Result<(), StoreError> {
    conn.prepare_cached("UPDATE executions SET status = ?2, updated_at = ?3 WHERE id = ?1")?
        .execute(params![id, status.as_str(), now_rfc3339()])?;
    Ok(())
}

fn self_step_map(
    conn: &Connection,
    execution_id: &str,
) -> Result<HashMap<String, String>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT step_id, id FROM tasks WHERE execution_id = ?1")?;
    let map = stmt
        .query_map([execution_id], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<HashMap<String, String>, _>>()?;
    Ok(map)
}

fn step_task(
    conn: &Connection,
    execution_id: &str,
    step_id: &str,
) -> Result<crate::TaskRow, StoreError> {
    let id: Option<String> = conn
        .prepare_cached("SELECT id FROM tasks WHERE execution_id = ?1 AND step_id = ?2")?
        .query_row(params![execution_id, step_id], |r| r.get(0))
        .optional()?;
    match id {
        Some(id) => require_task(conn, &id),
        None => Err(StoreError::invalid(format!(
            "execution {execution_id} has no step '{step_id}'"
        ))),
    }
}
