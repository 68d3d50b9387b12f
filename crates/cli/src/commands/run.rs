//! `enki run "<request>"` and `enki run --plan plan.toml`: a coordinator
//! without the TUI, printing progress as lines (or JSON lines) and exiting
//! with a status a script can trust (see [`EXIT_OK`] and the codes below it).

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use enki_coordinator::plan::parse_plan;
use enki_coordinator::{Control, Outcome, Progress, RunOptions, StartOptions, TranscriptEntry};
use enki_notify::{Notifier, TerminalEnv};
use enki_project::Layout;
use tokio::sync::mpsc;

pub struct RunArgs {
    pub request: Option<String>,
    pub plan: Option<PathBuf>,
    pub agent: Option<String>,
    pub json: bool,
}

/// Every task is done (or was cancelled on purpose).
pub const EXIT_OK: u8 = 0;
/// Work ran but not all of it: a task failed or was blocked, tasks were
/// left unfinished, the planner failed, or the run was stopped.
pub const EXIT_FAILED: u8 = 1;
/// The command line, the plan or enki.toml is wrong, or there is no
/// project here; nothing was started.
pub const EXIT_USAGE: u8 = 2;
/// No task ran: nothing was planned (the planner made no task, its calls
/// were refused or failed, it did not start or its turn timed out) or the
/// coordinator could not start. Why is on stderr and in `--json`'s
/// `finished` event.
pub const EXIT_NOTHING_RAN: u8 = 3;
/// A budget (`[budget]` in enki.toml) is spent: the work it covered is
/// paused and kept, and waits for the budget to be raised and the
/// execution resumed. Which budget is on stderr and in `finished`.
pub const EXIT_BUDGET_SPENT: u8 = 4;

/// The exit status of a run that ended with `outcome`.
pub fn exit_code(outcome: Outcome) -> u8 {
    match outcome {
        Outcome::Done => EXIT_OK,
        Outcome::Failed => EXIT_FAILED,
        Outcome::NothingRan => EXIT_NOTHING_RAN,
        Outcome::BudgetSpent => EXIT_BUDGET_SPENT,
    }
}

/// Runs and turns every way it can end into an exit status, saying why on
/// stderr when it is not 0.
pub fn run(args: RunArgs) -> u8 {
    match run_in(args, None) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("enki run: {err:#}");
            eprintln!("enki run: nothing ran");
            EXIT_NOTHING_RAN
        }
    }
}

/// [`run`] for the project whose `.enki/` is `enki_dir` (absolute) instead
/// of the one found through `ENKI_DIR` or the current directory.
pub fn run_in(args: RunArgs, enki_dir: Option<&Path>) -> Result<u8> {
    let located = match enki_dir {
        Some(dir) => Layout::locate(Some(dir), dir),
        None => Layout::locate_from_env(),
    };
    let layout = match located {
        Ok(layout) => layout,
        Err(e) => {
            eprintln!("enki run: {e}");
            return Ok(EXIT_USAGE);
        }
    };
    let request = args.request.filter(|r| !r.trim().is_empty());
    if request.is_some() && args.plan.is_some() {
        eprintln!("enki run: give either a request (enki run \"...\") or --plan FILE, not both");
        return Ok(EXIT_USAGE);
    }
    // Only the clean-up of landed work, which a coordinator killed after
    // recording it done did not finish, is left to do.
    let mut only_clean_up = false;
    if request.is_none() && args.plan.is_none() {
        // Without a request or a plan, `enki run` resumes unfinished work.
        let store = enki_store::Store::open_existing(&layout.db())?;
        if store.unfinished_executions()?.is_empty() {
            // Copies kept for reuse (`.enki/pool`) by a run that did not
            // end normally go too.
            let kept = std::fs::read_dir(layout.pool()).is_ok_and(|mut d| d.next().is_some());
            if store.uncleaned_landings()?.is_empty() && !kept {
                eprintln!(
                    "enki run: nothing to resume; give a request (enki run \"...\") or --plan FILE"
                );
                return Ok(EXIT_USAGE);
            }
            only_clean_up = true;
        }
    }
    // A plan is checked completely before anything starts.
    let plan = match &args.plan {
        Some(path) => {
            let (roles, _) = enki_project::roles::load_roles(&layout);
            let text = match std::fs::read_to_string(path) {
                Ok(text) => text,
                Err(e) => {
                    eprintln!("enki run: cannot read {}: {e}", path.display());
                    return Ok(EXIT_USAGE);
                }
            };
            let store = enki_store::Store::open_existing(&layout.db())?;
            match parse_plan(path, &text, &roles)
                .and_then(|plan| plan.check_task_references(&store).map(|()| plan))
            {
                Ok(plan) => Some(plan),
                Err(e) => {
                    eprintln!("enki run: invalid plan: {e}");
                    return Ok(EXIT_USAGE);
                }
            }
        }
        None => None,
    };
    let prepared = enki_coordinator::prepare(&StartOptions {
        enki_dir: enki_dir.map(Path::to_path_buf),
        agent: args.agent.clone(),
        ask_policy: None,
    });
    let (ctx, _lock) = match prepared {
        Ok(prepared) => prepared,
        Err(e) => {
            eprintln!("enki run: {e}");
            if e.is_usage() {
                return Ok(EXIT_USAGE);
            }
            eprintln!("enki run: nothing ran");
            return Ok(EXIT_NOTHING_RAN);
        }
    };
    // Kept to the end of the run: dropping it flushes the log.
    let _log = enki_log::init(enki_log::LogOptions {
        file: ctx.layout.log_file(),
        warnings: Some(enki_log::WarningSink::Stderr),
        buffered_lines: enki_log::LONG_RUN_BUFFERED_LINES,
    });
    if only_clean_up {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the async runtime")?;
        let landings = runtime.block_on(enki_coordinator::finish_clean_ups(ctx));
        if landings == 0 {
            println!("nothing to resume; removed the copies kept for reuse");
        } else {
            println!(
                "nothing to resume; removed the copies and branches that {landings} landed task(s) had left behind"
            );
        }
        return Ok(EXIT_OK);
    }
    if let Some(plan) = &plan {
        let mut store = enki_store::Store::open_existing(&ctx.layout.db())?;
        if let Err(e) =
            store.create_execution(Some(&ctx.session_id), &plan.title, false, &plan.steps)
        {
            let path = args
                .plan
                .as_deref()
                .unwrap_or_else(|| std::path::Path::new("plan"));
            eprintln!("enki run: invalid plan: {}: {e}", path.display());
            let _ = store.end_session(&ctx.session_id);
            return Ok(EXIT_USAGE);
        }
    }

    let notifier = Notifier::new(
        &ctx.config.notify,
        &TerminalEnv::from_process(),
        &ctx.project_root,
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let summary = runtime.block_on(async move {
        let (progress_tx, mut progress_rx) = mpsc::unbounded_channel();
        let (control_tx, control_rx) = mpsc::unbounded_channel();
        let json = args.json;
        let printer = tokio::spawn(async move {
            let mut printer = Printer::new(json, notifier);
            while let Some(progress) = progress_rx.recv().await {
                printer.print(&progress);
            }
            printer.flush_planner();
            printer.notifier
        });
        // SIGINT, SIGTERM and SIGHUP stop the workers cleanly.
        let interrupt = control_tx.clone();
        tokio::spawn(async move {
            let name = enki_coordinator::stop_signal().await;
            eprintln!("enki run: {name}: stopping the workers");
            let _ = interrupt.send(Control::Shutdown);
        });
        let options = RunOptions {
            request,
            exit_when_idle: true,
            continue_planner: false,
        };
        let result = enki_coordinator::run(ctx, options, progress_tx, control_rx).await;
        drop(control_tx);
        (result, printer.await.ok())
    });
    let (summary, notifier) = summary;
    let summary = summary.map_err(anyhow::Error::msg)?;
    if let Some(reason) = &summary.reason {
        eprintln!("enki run: {reason}");
    }
    if let Some(mut notifier) = notifier {
        let (title, body) = ending_note(&summary);
        let mut terminal = attention_terminal();
        notifier.notify(&mut terminal, &title, &body, false);
        notifier.finish(&mut terminal);
    }
    Ok(exit_code(summary.outcome()))
}

/// The notification that the run ended, and how.
fn ending_note(summary: &enki_coordinator::RunSummary) -> (String, String) {
    let title = match summary.outcome() {
        Outcome::Done => "enki: run finished",
        Outcome::Failed => "enki: run failed",
        Outcome::NothingRan => "enki: nothing ran",
        Outcome::BudgetSpent => "enki: a budget is spent",
    };
    let mut body = format!(
        "{} done, {} failed or blocked, {} cancelled, {} unfinished",
        summary.done, summary.failed, summary.cancelled, summary.unfinished
    );
    if let Some(reason) = &summary.reason {
        body.push_str(&format!("; {reason}"));
    }
    (title.to_string(), body)
}

/// Where the bell and a terminal's notification escape go: stderr when it
/// is a terminal, nowhere when it is a file or a pipe.
fn attention_terminal() -> Box<dyn Write> {
    use std::io::IsTerminal;
    if std::io::stderr().is_terminal() {
        Box::new(std::io::stderr())
    } else {
        Box::new(std::io::sink())
    }
}

/// Human-readable progress lines.
struct Printer {
    json: bool,
    steps: HashMap<String, String>,
    last_activity: HashMap<String, String>,
    planner_line: String,
    /// Tasks whose merge failure was just printed in full, so that their
    /// `failed` status line need not repeat it.
    merge_failed: std::collections::HashSet<String>,
    /// The bell, desktop and webhook (`[notify]`).
    notifier: Notifier,
    /// What the session's agents used, as last reported (said at the end).
    usage: Option<enki_core::usage::Totals>,
}

impl Printer {
    fn new(json: bool, notifier: Notifier) -> Printer {
        Printer {
            notifier,
            json,
            steps: HashMap::new(),
            last_activity: HashMap::new(),
            planner_line: String::new(),
            merge_failed: std::collections::HashSet::new(),
            usage: None,
        }
    }

    fn out(&self, line: &str) {
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{line}");
        let _ = stdout.flush();
    }

    fn step(&self, task: &str) -> String {
        self.steps
            .get(task)
            .cloned()
            .unwrap_or_else(|| enki_core::id::short(task).to_string())
    }

    /// A mail address as people read it: `worker/<task>` becomes the
    /// worker's step, `[div]`, once the step is known.
    fn mailbox(&self, address: &str) -> String {
        match address.strip_prefix("worker/") {
            Some(task) => match self.steps.get(task) {
                Some(step) => format!("[{step}]"),
                None => address.to_string(),
            },
            None => address.to_string(),
        }
    }

    fn flush_planner(&mut self) {
        let text = std::mem::take(&mut self.planner_line);
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            self.out(&format!("planner: {line}"));
        }
    }

    fn print(&mut self, progress: &Progress) {
        if self.json {
            // When enki reported it: the printer gets each event as it happens.
            #[derive(serde::Serialize)]
            struct Stamped<'a> {
                at: String,
                #[serde(flatten)]
                progress: &'a Progress,
            }
            let stamped = Stamped {
                at: enki_store::now_rfc3339(),
                progress,
            };
            if let Ok(line) = serde_json::to_string(&stamped) {
                self.out(&line);
            }
            return;
        }
        if !matches!(progress, Progress::PlannerText { .. }) {
            self.flush_planner();
        }
        match progress {
            Progress::SessionStarted {
                session,
                agent,
                base_branch,
            } => self.out(&format!("enki {session} · agent {agent} · landing on {base_branch}")),
            Progress::Adopted { executions } => self.out(&format!(
                "resuming {} unfinished execution(s) of an earlier run",
                executions.len()
            )),
            Progress::ExecutionLoaded { execution, title, steps } => self.out(&format!(
                "execution {} \"{title}\" ({steps} steps)",
                enki_core::id::short(execution)
            )),
            Progress::TaskStatus {
                task,
                step,
                title,
                status,
                reason,
            } => {
                self.steps.insert(task.clone(), step.clone());
                let why = if self.merge_failed.remove(task) {
                    " — its merge failed (above)".to_string()
                } else {
                    reason.as_ref().map(|r| format!(" — {r}")).unwrap_or_default()
                };
                let mark = match status.as_str() {
                    "done" => "✔",
                    "failed" | "blocked" => "✘",
                    "cancelled" => "⊘",
                    "paused" => "⏸",
                    _ => "·",
                };
                match status.as_str() {
                    "ready" | "pending" => {}
                    // Said in words: the merge lines that follow tell the rest.
                    "worker_done" => {
                        self.out(&format!("{mark} [{step}] {title}: worker finished"))
                    }
                    _ => self.out(&format!("{mark} [{step}] {title}: {status}{why}")),
                }
            }
            Progress::WorkerStarted {
                task,
                step,
                title,
                attempt,
            } => {
                self.steps.insert(task.clone(), step.clone());
                let again = if *attempt > 1 { format!(" (attempt {attempt})") } else { String::new() };
                self.out(&format!("▶ [{step}] {title}: started{again}"));
            }
            // Working and idle are the ordinary course; the rest say why.
            Progress::AgentState { task, state, reason } => {
                if !matches!(state, enki_core::AgentState::Working | enki_core::AgentState::Idle) {
                    let why = reason.as_ref().map(|r| format!(": {r}")).unwrap_or_default();
                    self.out(&format!(
                        "{} [{}] {state}{why}",
                        enki_views::agent_state_glyph(*state),
                        self.step(task)
                    ));
                }
            }
            Progress::WorkerActivity { task, text } => {
                if text == "writing" || text == "thinking" || self.last_activity.get(task) == Some(text) {
                    return;
                }
                self.last_activity.insert(task.clone(), text.clone());
                self.out(&format!("  [{}] {text}", self.step(task)));
            }
            // A final failure is the task's `failed` status line; only
            // attempts that will be retried get a line of their own.
            Progress::WorkerFailed { task, error, will_retry } => {
                if *will_retry {
                    self.out(&format!("✘ [{}] attempt failed: {error}; retrying", self.step(task)));
                }
            }
            Progress::MergeQueued { task } => self.out(&format!("⇡ [{}] merge queued", self.step(task))),
            Progress::AwaitingReview { step, title, resolution, .. } => {
                let what = if *resolution {
                    "the merger's resolution of its conflict awaits your review"
                } else {
                    "its work awaits your review"
                };
                self.out(&format!("⏸ [{step}] {title}: {what}; nothing lands until you decide"));
                self.out(&format!(
                    "  see it: enki review {step}    land it: enki approve {step}    drop it: enki reject {step} --note \"why\"    ask for changes: enki followup {step} \"what to change\""
                ));
                let title = format!("enki: [{step}] needs you");
                self.notifier.notify(&mut attention_terminal(), &title, what, true);
            }
            Progress::Approved { task } => self.out(&format!("✓ [{}] approved", self.step(task))),
            Progress::MergeLanded { task, commit } => {
                let commit = commit.as_deref().map(|c| c.chars().take(8).collect::<String>());
                self.out(&format!(
                    "⛙ [{}] merged{}",
                    self.step(task),
                    commit.map(|c| format!(" as {c}")).unwrap_or_default()
                ));
            }
            Progress::MergeStatus { task, status, reason } => {
                let mark = if status == "resolving" { "⇄" } else { "⧗" };
                self.out(&format!("{mark} [{}] {status}: {reason}", self.step(task)));
            }
            Progress::MergeWaiting { task, reason } => self.out(&format!("… [{}] {reason}", self.step(task))),
            Progress::MergeFailed { task, error } => {
                self.merge_failed.insert(task.clone());
                self.out(&format!("✘ [{}] merge failed: {error}", self.step(task)));
            }
            Progress::ExecutionStatus { execution, title, status } => self.out(&format!(
                "execution {} \"{title}\": {status}",
                enki_core::id::short(execution)
            )),
            Progress::Checkpoint { execution, task } => self.out(&format!(
                "⏸ checkpoint [{}] reached; execution {} paused",
                self.step(task),
                enki_core::id::short(execution)
            )),
            Progress::PlannerText { text } => {
                self.planner_line.push_str(text);
                if self.planner_line.contains('\n') {
                    let (done, rest) = match self.planner_line.rfind('\n') {
                        Some(i) => (self.planner_line[..i].to_string(), self.planner_line[i + 1..].to_string()),
                        None => (String::new(), self.planner_line.clone()),
                    };
                    for line in done.lines().filter(|l| !l.trim().is_empty()) {
                        self.out(&format!("planner: {line}"));
                    }
                    self.planner_line = rest;
                }
            }
            Progress::PlannerTool { title } => self.out(&format!("planner ⚙ {title}")),
            // A refused permission is the one transcript entry worth a line:
            // the agent will work around it or fail for it.
            Progress::WorkerTranscript {
                task,
                entry: TranscriptEntry::Refusal { title, decision, reason },
            } => self.out(&format!(
                "⚿ [{}] refused {title}: {decision}: {reason}",
                self.step(task)
            )),
            Progress::MergerTranscript {
                task,
                entry: TranscriptEntry::Refusal { title, decision, reason },
            } => self.out(&format!(
                "⚿ [{}] merger refused {title}: {decision}: {reason}",
                self.step(task)
            )),
            // Ended by the flush above: the next message starts a line.
            Progress::PlannerIdle
            | Progress::PlannerMessageEnd
            | Progress::WorkerTranscript { .. }
            | Progress::MergerTranscript { .. }
            // Told by the `resolving` line before it.
            | Progress::MergerStarted { .. } => {}
            Progress::MergerActivity { task, text } => {
                let text = format!("merger: {text}");
                if text == "merger: writing" || text == "merger: thinking" || self.last_activity.get(task) == Some(&text) {
                    return;
                }
                self.last_activity.insert(task.clone(), text.clone());
                self.out(&format!("  [{}] {text}", self.step(task)));
            }
            Progress::Mail { from, to, subject } => {
                if to == "user" {
                    let title = format!("enki: mail from {}", self.mailbox(from));
                    self.notifier
                        .notify(&mut attention_terminal(), &title, subject, true);
                }
                let (from, to) = (self.mailbox(from), self.mailbox(to));
                self.out(&format!("✉ {from} → {to}: {subject}"))
            }
            Progress::Warning { message } => self.out(&format!("⚠ {message}")),
            Progress::AgentHeld { hold, met_by } => self.out(&format!("⏸ {}", hold.announce(met_by))),
            Progress::AgentFree { agent } => {
                self.out(&format!("▶ agent {agent}'s limit has reset: its tasks start again"))
            }
            Progress::BudgetSpent { title, reason, .. } => {
                self.out(&format!("$ \"{title}\" paused: {reason}"))
            }
            // Said once, before the last line: `enki usage` has the details.
            Progress::Usage { session, .. } => self.usage = Some(session.as_ref().clone()),
            Progress::Finished {
                done,
                failed,
                cancelled,
                other,
                ..
            } => {
                if let Some(usage) = self.usage.take() {
                    self.out(&format!("usage: {} (`enki usage` per task)", usage.describe()));
                }
                self.out(&format!(
                    "finished: {done} done, {failed} failed or blocked, {cancelled} cancelled, {other} unfinished"
                ))
            }
        }
    }
}
