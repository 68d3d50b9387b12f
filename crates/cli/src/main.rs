//! The `enki` binary: the command line, dispatch and exit codes. Each
//! command lives in its own file under `commands/`.
//!
//! Exit codes: 0 success, 1 an error (printed on stderr), 2 a usage error
//! (clap's own message).

mod commands;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use enki_core::TaskStatus;

const LONG_ABOUT: &str = "\
enki is a multi-agent coding coordinator for the terminal: a planner agent breaks a request \
into a graph of tasks, enki runs a worker agent for each task in its own copy of the project, \
in dependency order, and merges their work back through a queue.

`enki` with no command opens the interactive session (the TUI) in the current project, \
initialising .enki/ on first run.

The inspection commands (status, tasks, task, dag, mail) read the project's database and work \
from any terminal while enki runs.";

const AFTER_HELP: &str = "\
Environment:
  ENKI_DIR         absolute path of the project's .enki/ folder (default: the nearest .enki/
                   in the current directory or its parents)
  ENKI_SESSION_ID  limit status, tasks, dag and mail to one coordinator session

Ids: wherever an id is expected, any unique prefix of it works (the short form lists print).
A task can also be named by its step (`mul`) when one execution has that step, or as
EXECUTION:step (`exec-01JX:mul`).";

#[derive(Debug, Parser)]
#[command(
    name = "enki",
    version,
    about = "A multi-agent coding coordinator for the terminal",
    long_about = LONG_ABOUT,
    after_help = AFTER_HELP
)]
struct Cli {
    /// Agent for every role in the interactive session (`enki` with no command): claude, codex,
    /// gemini, opencode, sim, or a command.
    #[arg(long, value_name = "AGENT")]
    agent: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

/// `--json` for the commands that print data.
#[derive(Debug, Clone, Copy, Default, Args, PartialEq, Eq)]
struct Output {
    /// Print one JSON document on stdout instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Subcommand, PartialEq, Eq)]
enum Command {
    /// Create .enki/ in a project and keep it out of git (safe to run again).
    Init {
        /// The project's root folder [default: the current directory].
        path: Option<PathBuf>,
        #[command(flatten)]
        output: Output,
    },
    /// Task counts by status, workers, the merge queue and the executions.
    Status {
        #[command(flatten)]
        output: Output,
    },
    /// List tasks, one line each.
    Tasks {
        /// Only tasks in this status (pending, ready, running, worker_done, awaiting_review, done,
        /// failed, blocked, paused, cancelled).
        #[arg(long, value_name = "STATUS")]
        status: Option<TaskStatus>,
        /// Only tasks of this execution (id or unique prefix).
        #[arg(long, value_name = "EXECUTION")]
        execution: Option<String>,
        #[command(flatten)]
        output: Output,
    },
    /// What agent runs used (tokens, cost), as their agents reported it, rolled up.
    Usage {
        /// Only this execution (id or unique prefix), whichever session ran it.
        #[arg(long, value_name = "EXECUTION")]
        execution: Option<String>,
        /// Group by task, execution, role, agent or model.
        #[arg(long, value_name = "GROUP", default_value = "task",
              value_parser = ["task", "execution", "role", "agent", "model"])]
        by: String,
        #[command(flatten)]
        output: Output,
    },
    /// Everything about one task: fields, dependencies, merge requests, recent events.
    Task {
        /// Task: id or unique prefix, step name, or EXECUTION:step.
        id: String,
        #[command(flatten)]
        output: Output,
    },
    /// The dependency graph of one execution, or of all of them.
    Dag {
        /// Execution id or unique prefix [default: every execution].
        execution: Option<String>,
        #[command(flatten)]
        output: Output,
    },
    /// List mail, or show one message in full (without marking it read).
    Mail {
        /// Show this message (id or unique prefix) instead of a list.
        message: Option<String>,
        /// Only mail for this mailbox: coordinator, user or worker/<task id or prefix>.
        #[arg(long, value_name = "ADDR", conflicts_with = "message")]
        to: Option<String>,
        /// Only unread mail (most pressing first).
        #[arg(long, conflicts_with = "message")]
        unread: bool,
        #[command(flatten)]
        output: Output,
    },
    /// Run the MCP server that enki's agents talk to: on stdin/stdout, or over Streamable
    /// HTTP with bearer tokens (`--transport http`).
    Mcp(commands::mcp::McpArgs),
    /// Run the coordinator without the TUI: plan a request with the planner agent, run a
    /// fixed plan, or (with neither) resume unfinished executions.
    ///
    /// Exit status: 0 every task is done (or was cancelled); 1 a task failed or was blocked,
    /// or work was left unfinished (the run was stopped, the planner failed); 2 a usage error
    /// (arguments, plan, enki.toml, no project), nothing started; 3 nothing ran: the planner
    /// made no task (it only answered, its calls were refused or failed, it did not start or
    /// its turn passed `[agent.coordinator] turn_timeout_secs`) or the coordinator could not
    /// start. Unless it is 0, stderr says why, as does the `finished` event of `--json`.
    Run {
        /// What the planner should do.
        request: Option<String>,
        /// Run this plan (TOML) instead of asking a planner.
        #[arg(long, value_name = "FILE", conflicts_with = "request")]
        plan: Option<PathBuf>,
        /// Agent for every role: claude, codex, gemini, opencode, sim, or a command.
        #[arg(long, value_name = "AGENT")]
        agent: Option<String>,
        /// Print progress as JSON lines.
        #[arg(long)]
        json: bool,
    },
    /// Pause an execution (no new steps start), or one step of it.
    Pause {
        /// Execution id or unique prefix.
        execution: String,
        /// A step id of the execution.
        step: Option<String>,
    },
    /// Resume a paused execution, or one paused step.
    Resume {
        /// Execution id or unique prefix.
        execution: String,
        /// A step id of the execution.
        step: Option<String>,
    },
    /// Cancel an execution, or one step and everything that depends on it.
    Cancel {
        /// Execution id or unique prefix.
        execution: String,
        /// A step id of the execution.
        step: Option<String>,
    },
    /// Send a failed or blocked task back to pending with a fresh retry budget.
    Retry {
        /// Task: id or unique prefix, step name, or EXECUTION:step.
        task: String,
    },
    /// Give a done task a follow-up turn: it runs again as its next round, in its last session
    /// where the agent can take it up, and the new work lands through the merge queue.
    ///
    /// The task's agent gets REQUEST in the session that did the work when it can continue
    /// sessions (session/resume or session/load), else a fresh session with the task restated,
    /// the request and its history. It works in a fresh copy made from the base branch, which
    /// holds its earlier work. Dependents that already ran are not run again; those that have not
    /// started wait for the follow-up. A running coordinator starts it at once; otherwise the
    /// next `enki run` (or `enki`) does. Only a done task can get a follow-up, or one whose
    /// work awaits review (review's "request changes": it goes on from its unlanded branch in
    /// its kept copy and comes back for review): retry a failed or blocked one instead.
    #[command(name = "followup")]
    FollowUp {
        /// Task: id or unique prefix, step name, or EXECUTION:step.
        task: String,
        /// What the task's agent should do next (several words are joined with spaces).
        #[arg(required = true, num_args = 1.., value_name = "REQUEST")]
        request: Vec<String>,
    },
    /// Show the work that awaits review (`[merge] review = "ask"`): each task's output and its
    /// diff against the branch it lands on, per file with stats (all such tasks without TASK).
    Review {
        /// Task: id or unique prefix, step name, or EXECUTION:step.
        task: Option<String>,
        #[command(flatten)]
        output: Output,
    },
    /// Approve work that awaits review: it goes to the merge queue and lands.
    Approve {
        /// Task: id or unique prefix, step name, or EXECUTION:step.
        task: String,
    },
    /// Reject work that awaits review: nothing lands, the task fails with the note (its branch
    /// is kept, its dependents are blocked; `enki retry` runs it again). To ask for changes
    /// instead, use `enki followup TASK "what to change"`: the task's agent gets it as its next
    /// turn and the work comes back for review.
    Reject {
        /// Task: id or unique prefix, step name, or EXECUTION:step.
        task: String,
        /// Why, kept as the task's last error.
        #[arg(long, value_name = "TEXT")]
        note: Option<String>,
    },
    /// Stop every running worker and pause every execution (nothing is deleted).
    Stop,
    /// A task's event log.
    Logs {
        /// Task: id or unique prefix, step name, or EXECUTION:step.
        task: String,
        /// Keep printing new events until the task finishes.
        #[arg(short, long)]
        follow: bool,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Check git, the configured agents, reflink support, file-watch limits and the database.
    Doctor {
        /// Check this agent instead of the configured ones.
        #[arg(long, value_name = "AGENT")]
        agent: Option<String>,
        #[command(flatten)]
        output: Output,
    },
    /// Run one handshake and one prompt against an agent and print the transcript.
    AgentTest {
        /// The agent: claude, codex, gemini, opencode, sim, or a command [default: the
        /// configured worker agent].
        #[arg(long, value_name = "AGENT")]
        agent: Option<String>,
        /// The prompt to send.
        #[arg(long)]
        prompt: Option<String>,
        /// Give the turn this many seconds; then cancel it, stop the agent and fail.
        #[arg(
            long,
            value_name = "SECS",
            default_value_t = commands::agent_test::DEFAULT_TURN_TIMEOUT_SECS,
            value_parser = clap::value_parser!(u64).range(1..)
        )]
        timeout: u64,
    },
    /// Show enki end to end in a scratch git project with the scripted `sim` agent: a planner,
    /// parallel workers, a researcher's artifact, a conflict resolved by a merger, a verify hook.
    /// No network, no API key. Exits 0 when every step is done.
    Demo {
        /// Create the project here (a new or empty folder) [default: a new temporary folder,
        /// kept afterwards].
        #[arg(long, value_name = "PATH")]
        dir: Option<PathBuf>,
    },
    /// Run the built-in scripted ACP agent (for demos and tests).
    SimAgent {
        /// The script for prompts that no [[sim:NAME]] marker or role selects.
        #[arg(long, value_name = "FILE")]
        script: Option<PathBuf>,
        /// Where [[sim:NAME]] markers and roles find NAME.toml or NAME.json
        /// [default: $ENKI_SIM_SCRIPTS when no option is given].
        #[arg(long, value_name = "DIR")]
        scripts_dir: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let Some(command) = cli.command else {
        // No command: the interactive session (initialising .enki/ on first run).
        let agent = commands::agents::anchor_agent_arg(cli.agent);
        return ExitCode::from(enki_tui::run_tui(enki_tui::TuiOptions { agent }));
    };
    let result = match command {
        Command::Init { path, output } => commands::init::run(path, output.json),
        Command::Status { output } => commands::status::run(output.json),
        Command::Tasks {
            status,
            execution,
            output,
        } => commands::tasks::run(status, execution.as_deref(), output.json),
        Command::Task { id, output } => commands::task::run(&id, output.json),
        Command::Usage {
            execution,
            by,
            output,
        } => commands::usage::run(execution.as_deref(), &by, output.json),
        Command::Dag { execution, output } => commands::dag::run(execution.as_deref(), output.json),
        Command::Mail {
            message,
            to,
            unread,
            output,
        } => commands::mail::run(message.as_deref(), to.as_deref(), unread, output.json),
        Command::Mcp(args) => {
            let code = commands::mcp::run(args);
            return ExitCode::from(u8::try_from(code).unwrap_or(1));
        }
        Command::Run {
            request,
            plan,
            agent,
            json,
        } => {
            return ExitCode::from(commands::run::run(commands::run::RunArgs {
                request,
                plan,
                agent: commands::agents::anchor_agent_arg(agent),
                json,
            }));
        }
        Command::Pause { execution, step } => {
            commands::ops::execution(commands::ops::Operation::Pause, &execution, step.as_deref())
        }
        Command::Resume { execution, step } => commands::ops::execution(
            commands::ops::Operation::Resume,
            &execution,
            step.as_deref(),
        ),
        Command::Cancel { execution, step } => commands::ops::execution(
            commands::ops::Operation::Cancel,
            &execution,
            step.as_deref(),
        ),
        Command::Retry { task } => commands::ops::retry(&task),
        Command::FollowUp { task, request } => commands::ops::follow_up(&task, &request.join(" ")),
        Command::Review { task, output } => commands::review::review(task.as_deref(), output.json),
        Command::Approve { task } => commands::review::approve(&task),
        Command::Reject { task, note } => commands::review::reject(&task, note.as_deref()),
        Command::Stop => commands::ops::stop(),
        Command::Logs { task, follow, json } => commands::logs::run(&task, follow, json),
        Command::Doctor { agent, output } => {
            return match commands::doctor::run(agent, output.json) {
                Ok(true) => ExitCode::SUCCESS,
                Ok(false) => ExitCode::from(1),
                Err(err) => {
                    eprintln!("enki: error: {err:#}");
                    ExitCode::from(1)
                }
            };
        }
        Command::AgentTest {
            agent,
            prompt,
            timeout,
        } => {
            return match commands::agent_test::run(agent, prompt, timeout) {
                Ok(true) => ExitCode::SUCCESS,
                Ok(false) => ExitCode::from(1),
                Err(err) => {
                    eprintln!("enki: error: {err:#}");
                    ExitCode::from(1)
                }
            };
        }
        Command::Demo { dir } => {
            return match commands::demo::run(dir) {
                Ok(code) => ExitCode::from(code),
                Err(err) => {
                    eprintln!("enki demo: error: {err:#}");
                    ExitCode::from(1)
                }
            };
        }
        Command::SimAgent {
            script,
            scripts_dir,
        } => {
            let code = commands::sim_agent::run(script, scripts_dir);
            return ExitCode::from(u8::try_from(code).unwrap_or(1));
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("enki: error: {err:#}");
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;
    use clap::error::ErrorKind;

    use super::*;

    fn parse(args: &[&str]) -> Result<Option<Command>, clap::Error> {
        Cli::try_parse_from(std::iter::once("enki").chain(args.iter().copied())).map(|c| c.command)
    }

    fn json() -> Output {
        Output { json: true }
    }

    #[test]
    fn the_command_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn init_takes_an_optional_path() {
        assert_eq!(
            parse(&["init"]).unwrap(),
            Some(Command::Init {
                path: None,
                output: Output::default()
            })
        );
        assert_eq!(
            parse(&["init", "/tmp/p", "--json"]).unwrap(),
            Some(Command::Init {
                path: Some(PathBuf::from("/tmp/p")),
                output: json()
            })
        );
    }

    #[test]
    fn tasks_filters_parse_and_bad_statuses_are_usage_errors() {
        assert_eq!(
            parse(&[
                "tasks",
                "--status",
                "worker_done",
                "--execution",
                "exec-01J",
                "--json"
            ])
            .unwrap(),
            Some(Command::Tasks {
                status: Some(TaskStatus::WorkerDone),
                execution: Some("exec-01J".to_string()),
                output: json(),
            })
        );
        let err = parse(&["tasks", "--status", "sleeping"]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ValueValidation);
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("pending"), "{err}");
    }

    #[test]
    fn task_requires_an_id() {
        assert_eq!(
            parse(&["task", "01JAB"]).unwrap(),
            Some(Command::Task {
                id: "01JAB".to_string(),
                output: Output::default()
            })
        );
        let err = parse(&["task"]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::MissingRequiredArgument);
        assert_eq!(err.exit_code(), 2);
    }

    #[test]
    fn dag_and_mail_options() {
        assert_eq!(
            parse(&["dag"]).unwrap(),
            Some(Command::Dag {
                execution: None,
                output: Output::default()
            })
        );
        assert_eq!(
            parse(&["dag", "exec-01J", "--json"]).unwrap(),
            Some(Command::Dag {
                execution: Some("exec-01J".to_string()),
                output: json()
            })
        );
        assert_eq!(
            parse(&["mail", "--to", "worker/01JAB", "--unread"]).unwrap(),
            Some(Command::Mail {
                message: None,
                to: Some("worker/01JAB".to_string()),
                unread: true,
                output: Output::default(),
            })
        );
        assert_eq!(
            parse(&["mail", "msg-01J", "--json"]).unwrap(),
            Some(Command::Mail {
                message: Some("msg-01J".to_string()),
                to: None,
                unread: false,
                output: json(),
            })
        );
    }

    #[test]
    fn showing_one_message_does_not_take_list_filters() {
        assert_eq!(
            parse(&["mail", "msg-01J", "--unread"]).unwrap_err().kind(),
            ErrorKind::ArgumentConflict
        );
        assert_eq!(
            parse(&["mail", "msg-01J", "--to", "user"])
                .unwrap_err()
                .kind(),
            ErrorKind::ArgumentConflict
        );
    }

    #[test]
    fn mcp_defaults_to_stdio_and_the_planner_role() {
        let Some(Command::Mcp(args)) = parse(&["mcp"]).unwrap() else {
            panic!("mcp parses as the mcp command");
        };
        assert_eq!(args.transport, commands::mcp::Transport::Stdio);
        assert_eq!(args.role, None, "planner unless said otherwise");
        let Some(Command::Mcp(args)) = parse(&[
            "mcp",
            "--role",
            "worker",
            "--task-id",
            "task-01J",
            "--no-edit",
        ])
        .unwrap() else {
            panic!("mcp parses as the mcp command");
        };
        assert_eq!(args.role.as_deref(), Some("worker"));
        assert_eq!(args.task_id.as_deref(), Some("task-01J"));
        assert!(args.no_edit);
        let Some(Command::Mcp(args)) = parse(&[
            "mcp",
            "--transport",
            "http",
            "--addr",
            "127.0.0.1:0",
            "--token-table",
            "tokens.json",
            "--idle-timeout",
            "5",
        ])
        .unwrap() else {
            panic!("mcp parses as the mcp command");
        };
        assert_eq!(args.transport, commands::mcp::Transport::Http);
        assert_eq!(args.addr.as_deref(), Some("127.0.0.1:0"));
        assert_eq!(args.idle_timeout, Some(5));
        // The MCP server has no --json: its stdout is the protocol.
        assert!(parse(&["mcp", "--json"]).is_err());
        assert!(parse(&["mcp", "--transport", "carrier-pigeon"]).is_err());
    }

    #[test]
    fn unknown_commands_and_flags_are_usage_errors() {
        let err = parse(&["frobnicate"]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidSubcommand);
        assert_eq!(err.exit_code(), 2);
        assert_eq!(
            parse(&["status", "--verbose"]).unwrap_err().kind(),
            ErrorKind::UnknownArgument
        );
        assert_eq!(
            parse(&["--version"]).unwrap_err().kind(),
            ErrorKind::DisplayVersion
        );
        assert_eq!(parse(&[]).unwrap(), None);
    }

    #[test]
    fn agent_before_any_command_is_for_the_interactive_session() {
        let cli = Cli::try_parse_from(["enki", "--agent", "sim"]).unwrap();
        assert_eq!(cli.agent.as_deref(), Some("sim"));
        assert_eq!(cli.command, None);
        // `enki run --agent` keeps its own option.
        let cli = Cli::try_parse_from(["enki", "run", "x", "--agent", "codex"]).unwrap();
        assert_eq!(cli.agent, None);
        assert!(
            matches!(cli.command, Some(Command::Run { agent: Some(ref a), .. }) if a == "codex")
        );
    }

    #[test]
    fn agent_test_timeout_defaults_and_must_be_positive() {
        assert!(matches!(
            parse(&["agent-test"]).unwrap(),
            Some(Command::AgentTest { timeout: 120, .. })
        ));
        assert!(matches!(
            parse(&["agent-test", "--timeout", "5"]).unwrap(),
            Some(Command::AgentTest { timeout: 5, .. })
        ));
        assert_eq!(
            parse(&["agent-test", "--timeout", "0"])
                .unwrap_err()
                .exit_code(),
            2
        );
    }
}
