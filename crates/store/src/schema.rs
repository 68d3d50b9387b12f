//! Versioned migrations tracked with `PRAGMA user_version`.
//!
//! Migrations are append-only: a released entry is never edited, a change is
//! a new entry. A database newer than the last entry is refused.

use rusqlite::Connection;

/// Ordered migrations; `MIGRATIONS[i]` takes the schema from version `i` to `i + 1`.
pub(crate) const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE sessions (
    id          TEXT PRIMARY KEY,
    started_at  TEXT NOT NULL,
    ended_at    TEXT,
    pid         INTEGER,
    agent       TEXT
);

-- A named DAG of steps. A standalone task is an execution of one step.
CREATE TABLE executions (
    id          TEXT PRIMARY KEY,
    session_id  TEXT REFERENCES sessions(id),
    title       TEXT NOT NULL DEFAULT '',
    status      TEXT NOT NULL,
    standalone  INTEGER NOT NULL DEFAULT 0,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

-- Each step of an execution is backed by exactly one task row, so the step
-- fields (step id, order, checkpoint flag) live here.
CREATE TABLE tasks (
    id            TEXT PRIMARY KEY,
    session_id    TEXT REFERENCES sessions(id),
    execution_id  TEXT NOT NULL REFERENCES executions(id),
    step_id       TEXT NOT NULL,
    step_index    INTEGER NOT NULL,
    title         TEXT NOT NULL,
    description   TEXT NOT NULL DEFAULT '',
    tier          TEXT NOT NULL,
    role          TEXT,
    checkpoint    INTEGER NOT NULL DEFAULT 0,
    status        TEXT NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    failures      INTEGER NOT NULL DEFAULT 0,
    last_error    TEXT,
    activity      TEXT,
    activity_at   TEXT,
    output        TEXT,
    branch        TEXT,
    copy_path     TEXT,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    started_at    TEXT,
    finished_at   TEXT,
    UNIQUE (execution_id, step_id)
);
CREATE INDEX tasks_by_execution ON tasks(execution_id, step_index);
CREATE INDEX tasks_by_status ON tasks(status);
CREATE INDEX tasks_by_session ON tasks(session_id);

-- task_id needs needs_task_id, satisfied per condition. May cross executions.
CREATE TABLE dependencies (
    task_id        TEXT NOT NULL REFERENCES tasks(id),
    needs_task_id  TEXT NOT NULL REFERENCES tasks(id),
    condition      TEXT NOT NULL,
    PRIMARY KEY (task_id, needs_task_id),
    CHECK (task_id <> needs_task_id)
);
CREATE INDEX dependencies_by_target ON dependencies(needs_task_id);

-- Every worker attempt at a task.
CREATE TABLE attempts (
    task_id     TEXT NOT NULL REFERENCES tasks(id),
    number      INTEGER NOT NULL,
    started_at  TEXT NOT NULL,
    ended_at    TEXT,
    outcome     TEXT,
    error       TEXT,
    PRIMARY KEY (task_id, number)
);

CREATE TABLE merge_requests (
    id           TEXT PRIMARY KEY,
    task_id      TEXT NOT NULL REFERENCES tasks(id),
    status       TEXT NOT NULL,
    branch       TEXT NOT NULL,
    base_branch  TEXT,
    reason       TEXT,
    merged_commit TEXT,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);
CREATE INDEX merge_requests_by_task ON merge_requests(task_id);
CREATE INDEX merge_requests_by_status ON merge_requests(status);

CREATE TABLE messages (
    id          TEXT PRIMARY KEY,
    session_id  TEXT REFERENCES sessions(id),
    thread_id   TEXT NOT NULL,
    reply_to    TEXT REFERENCES messages(id),
    from_addr   TEXT NOT NULL,
    to_addr     TEXT NOT NULL,
    subject     TEXT NOT NULL,
    body        TEXT NOT NULL,
    priority    TEXT NOT NULL,
    priority_rank INTEGER NOT NULL,
    kind        TEXT NOT NULL,
    reply_status TEXT,
    created_at  TEXT NOT NULL,
    expires_at  TEXT,
    read_at     TEXT
);
CREATE INDEX messages_by_recipient ON messages(to_addr, read_at);
CREATE INDEX messages_by_thread ON messages(thread_id);

-- Append-only log of what happened to a task (reports, updates, errors).
CREATE TABLE task_events (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id  TEXT NOT NULL REFERENCES tasks(id),
    at       TEXT NOT NULL,
    kind     TEXT NOT NULL,
    data     TEXT NOT NULL
);
CREATE INDEX task_events_by_task ON task_events(task_id, seq);
"#,
    r#"
-- The process group of the agent that ran an attempt, so that a coordinator
-- adopting an interrupted attempt can stop what the old agent left running.
ALTER TABLE attempts ADD COLUMN agent_pgid INTEGER;
"#,
    r#"
-- The landing protocol (enki_core::landing): the commit about to land and
-- the base tip it lands on, recorded before the base branch moves, and how
-- far the landing got, so a restart finishes it or recognises it as done.
ALTER TABLE merge_requests ADD COLUMN landing_commit TEXT;
ALTER TABLE merge_requests ADD COLUMN landing_parent TEXT;
ALTER TABLE merge_requests ADD COLUMN phase TEXT;
-- The branch an execution's work lands on, whatever is checked out later.
ALTER TABLE executions ADD COLUMN base_branch TEXT;
"#,
    r#"
-- Every run of a merger agent on a task's conflicting merge, recorded like
-- a worker's attempt: its transcript goes to the task's log (kinds
-- `merger_*`), its `[OUTPUT]` and outcome here.
CREATE TABLE merger_runs (
    task_id           TEXT NOT NULL REFERENCES tasks(id),
    number            INTEGER NOT NULL,
    merge_request_id  TEXT NOT NULL REFERENCES merge_requests(id),
    files             TEXT NOT NULL,
    started_at        TEXT NOT NULL,
    ended_at          TEXT,
    outcome           TEXT,
    error             TEXT,
    output            TEXT,
    agent_pgid        INTEGER,
    PRIMARY KEY (task_id, number)
);
"#,
    r#"
-- The ACP session an attempt's agent worked in, and which agent that was,
-- so that the next attempt in the same kept copy (after a restart) or a
-- follow-up turn can take the session up again (session/load or resume).
ALTER TABLE attempts ADD COLUMN acp_session TEXT;
ALTER TABLE attempts ADD COLUMN acp_agent TEXT;
"#,
    r#"
-- What a running worker's agent is doing (enki_core::liveness): its state,
-- why, and since when, as the coordinator last judged it. A task that does
-- not run shows what its status says (enki_core::liveness::shown_state).
ALTER TABLE tasks ADD COLUMN agent_state TEXT;
ALTER TABLE tasks ADD COLUMN agent_state_reason TEXT;
ALTER TABLE tasks ADD COLUMN agent_state_at TEXT;
-- What the agent of an attempt said last, kept when the attempt ends.
ALTER TABLE attempts ADD COLUMN last_message TEXT;
"#,
    r#"
-- How many tasks and executions each session has in each status, kept by
-- triggers in the transaction of every change, so that `enki_status` (at
-- every turn of every agent) reads a few rows instead of counting every
-- task and execution of the project. `session_id` '' stands for none.
CREATE TABLE status_counts (
    session_id  TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('task', 'execution')),
    status      TEXT NOT NULL,
    n           INTEGER NOT NULL,
    PRIMARY KEY (session_id, kind, status)
) WITHOUT ROWID;
INSERT INTO status_counts
    SELECT coalesce(session_id, ''), 'task', status, count(*) FROM tasks GROUP BY 1, 3;
INSERT INTO status_counts
    SELECT coalesce(session_id, ''), 'execution', status, count(*) FROM executions GROUP BY 1, 3;
CREATE TRIGGER tasks_counted_in AFTER INSERT ON tasks BEGIN
    INSERT INTO status_counts VALUES (coalesce(NEW.session_id, ''), 'task', NEW.status, 1)
        ON CONFLICT DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER tasks_counted_out AFTER DELETE ON tasks BEGIN
    UPDATE status_counts SET n = n - 1
        WHERE session_id = coalesce(OLD.session_id, '') AND kind = 'task' AND status = OLD.status;
END;
CREATE TRIGGER tasks_counted_moved AFTER UPDATE OF status, session_id ON tasks
    WHEN OLD.status IS NOT NEW.status OR OLD.session_id IS NOT NEW.session_id BEGIN
    UPDATE status_counts SET n = n - 1
        WHERE session_id = coalesce(OLD.session_id, '') AND kind = 'task' AND status = OLD.status;
    INSERT INTO status_counts VALUES (coalesce(NEW.session_id, ''), 'task', NEW.status, 1)
        ON CONFLICT DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER executions_counted_in AFTER INSERT ON executions BEGIN
    INSERT INTO status_counts VALUES (coalesce(NEW.session_id, ''), 'execution', NEW.status, 1)
        ON CONFLICT DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER executions_counted_out AFTER DELETE ON executions BEGIN
    UPDATE status_counts SET n = n - 1
        WHERE session_id = coalesce(OLD.session_id, '') AND kind = 'execution' AND status = OLD.status;
END;
CREATE TRIGGER executions_counted_moved AFTER UPDATE OF status, session_id ON executions
    WHEN OLD.status IS NOT NEW.status OR OLD.session_id IS NOT NEW.session_id BEGIN
    UPDATE status_counts SET n = n - 1
        WHERE session_id = coalesce(OLD.session_id, '') AND kind = 'execution' AND status = OLD.status;
    INSERT INTO status_counts VALUES (coalesce(NEW.session_id, ''), 'execution', NEW.status, 1)
        ON CONFLICT DO UPDATE SET n = n + 1;
END;
"#,
    r#"
-- What each agent run used, as its agent reported (enki_core::usage): one
-- row per worker attempt, merger run and session planner, rewritten at each
-- report. A token kind or cost never reported is NULL, never 0. The run's
-- execution and role are copied in so roll-ups need no join.
CREATE TABLE usage (
    session_id          TEXT NOT NULL,
    run                 TEXT NOT NULL CHECK (run IN ('worker', 'merger', 'planner')),
    task_id             TEXT NOT NULL DEFAULT '',
    number              INTEGER NOT NULL,
    execution_id        TEXT,
    role                TEXT NOT NULL,
    agent               TEXT NOT NULL,
    model               TEXT,
    input_tokens        INTEGER,
    output_tokens       INTEGER,
    cache_read_tokens   INTEGER,
    cache_write_tokens  INTEGER,
    cost                REAL,
    currency            TEXT,
    updated_at          TEXT NOT NULL,
    PRIMARY KEY (session_id, run, task_id, number)
);
CREATE INDEX usage_by_task ON usage(task_id);
CREATE INDEX usage_by_execution ON usage(execution_id);
"#,
    r#"
-- The conversation with the planner, so that a restart shows it again: what
-- the person asked and each message the planner answered, per session.
CREATE TABLE chat (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id  TEXT NOT NULL,
    at          TEXT NOT NULL,
    speaker     TEXT NOT NULL CHECK (speaker IN ('user', 'planner')),
    text        TEXT NOT NULL
);
CREATE INDEX chat_by_session ON chat(session_id, id);
"#,
    r#"
-- Why an execution is paused when enki paused it ([budget]: which budget is
-- spent), cleared whenever its status changes from paused.
ALTER TABLE executions ADD COLUMN paused_reason TEXT;
CREATE TRIGGER executions_reason_cleared AFTER UPDATE OF status ON executions
    WHEN NEW.status <> 'paused' AND NEW.paused_reason IS NOT NULL BEGIN
    UPDATE executions SET paused_reason = NULL WHERE id = NEW.id;
END;
"#,
    r#"
-- Follow-up rounds (`enki followup`): a done task runs again with a further
-- request. `round` counts a task's rounds from 1 (its first run); `followup`
-- is the request of the current round. Each attempt and merge request
-- records the round it belongs to, so that landed work is recognised per
-- round (the merged request, the `Enki-Task` + `Enki-Round` trailers) and a
-- follow-up is never taken for the task's first landing.
ALTER TABLE tasks ADD COLUMN round INTEGER NOT NULL DEFAULT 1;
ALTER TABLE tasks ADD COLUMN followup TEXT;
ALTER TABLE attempts ADD COLUMN round INTEGER NOT NULL DEFAULT 1;
ALTER TABLE merge_requests ADD COLUMN round INTEGER NOT NULL DEFAULT 1;
"#,
    r#"
-- The planner's own ACP session in each enki session (and the agent that
-- ran it), so that the TUI's next start takes the planner's conversation up
-- (`session/resume` or `session/load`) instead of starting it over.
ALTER TABLE sessions ADD COLUMN planner_session TEXT;
ALTER TABLE sessions ADD COLUMN planner_agent TEXT;
"#,
    r#"
-- Agents whose account met a limit (a rate limit, an overloaded API, a usage
-- quota): dispatching to the agent waits until `until_ms` (Unix
-- milliseconds), so a restart does not hammer it. The row stays after the
-- wait ends, for its `streak` (limits in a row, which doubles a backoff),
-- and goes when a turn of the agent ends well.
CREATE TABLE agent_limits (
    agent        TEXT PRIMARY KEY,
    kind         TEXT NOT NULL CHECK (kind IN ('rate_limit', 'overloaded', 'quota')),
    until_ms     INTEGER NOT NULL,
    reset_given  INTEGER NOT NULL,
    streak       INTEGER NOT NULL,
    message      TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);
"#,
    r#"
-- A merger's resolution held for review (`[merge] review = "ask"`): the
-- resolution's commit and the base tip it was made on, recorded when the
-- request moves to `awaiting_review` (with its task, in one transaction),
-- so that an approval lands exactly that commit while the base stays put,
-- also after a restart.
ALTER TABLE merge_requests ADD COLUMN held_commit TEXT;
ALTER TABLE merge_requests ADD COLUMN held_base TEXT;
"#,
];

/// The schema version this binary writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

pub(crate) fn user_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA user_version", [], |row| row.get(0))
}

/// Applies the migrations after `from` inside the caller's transaction.
pub(crate) fn migrate(conn: &Connection, from: i64) -> rusqlite::Result<()> {
    let start = usize::try_from(from).unwrap_or(0);
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(start) {
        conn.execute_batch(sql)?;
        conn.pragma_update(None, "user_version", index as i64 + 1)?;
    }
    Ok(())
}
