//! `cargo xtask ci`: the checks CI runs, in order, stopping at the first
//! failure, saying before each step what it does and after it how long it took.

use std::process::{Command, ExitCode};
use std::time::Instant;

/// The cargo steps: what the step is for, then the cargo arguments.
const STEPS: &[(&str, &[&str])] = &[
    ("formatting", &["fmt", "--all", "--check"]),
    (
        "lints (warnings denied)",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--locked",
            "--",
            "-D",
            "warnings",
        ],
    ),
    (
        "tests: unit, integration, end-to-end and tidy (the first run compiles for minutes)",
        &["test", "--workspace", "--all-targets", "--locked"],
    ),
    ("doc tests", &["test", "--workspace", "--doc", "--locked"]),
];

pub fn run() -> ExitCode {
    let root = crate::workspace_root();
    let cargo = crate::cargo();
    let started = Instant::now();
    let total = STEPS.len() + 1;
    eprintln!(
        "xtask ci: {total} steps in {}: tidy, fmt, clippy, tests, doc tests",
        root.display()
    );

    // The house rules first: they need no build and fail in a second.
    eprintln!("\n==> [1/{total}] house rules (cargo xtask tidy)");
    let problems = crate::tidy::check(&root);
    if !problems.is_empty() {
        for problem in &problems {
            eprintln!("{problem}");
        }
        eprintln!(
            "\nxtask ci: FAILED at step 1: {} house rule problem(s)",
            problems.len()
        );
        return ExitCode::from(1);
    }

    for (i, (what, args)) in STEPS.iter().enumerate() {
        let n = i + 2;
        let shown = format!("cargo {}", args.join(" "));
        eprintln!("\n==> [{n}/{total}] {what}: {shown}");
        let step_started = Instant::now();
        // The environment (CI=true in particular) is inherited untouched.
        let status = Command::new(&cargo).args(*args).current_dir(&root).status();
        match status {
            Ok(status) if status.success() => eprintln!(
                "==> [{n}/{total}] passed in {:.1}s",
                step_started.elapsed().as_secs_f64()
            ),
            Ok(status) => {
                let code = status.code().unwrap_or(1);
                let code = u8::try_from(code).ok().filter(|c| *c != 0).unwrap_or(1);
                eprintln!("\nxtask ci: FAILED at step {n}: `{shown}` ({status})");
                return ExitCode::from(code);
            }
            Err(err) => {
                eprintln!("\nxtask ci: FAILED at step {n}: could not run `{shown}`: {err}");
                return ExitCode::from(1);
            }
        }
    }
    eprintln!(
        "\nxtask ci: all {total} steps passed in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    ExitCode::SUCCESS
}
