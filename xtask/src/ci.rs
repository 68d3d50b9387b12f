//! `cargo xtask ci`: the checks CI runs, in order, stopping at the first failure.

use std::process::{Command, ExitCode};
use std::time::Instant;

/// The CI steps: cargo arguments, in the order they run.
const STEPS: &[&[&str]] = &[
    &["fmt", "--all", "--check"],
    &[
        "clippy",
        "--workspace",
        "--all-targets",
        "--locked",
        "--",
        "-D",
        "warnings",
    ],
    &["test", "--workspace", "--all-targets", "--locked"],
    &["test", "--workspace", "--doc", "--locked"],
];

pub fn run() -> ExitCode {
    let root = crate::workspace_root();
    let cargo = crate::cargo();
    let started = Instant::now();
    for (i, args) in STEPS.iter().enumerate() {
        let shown = format!("cargo {}", args.join(" "));
        eprintln!("\n==> [{}/{}] {shown}", i + 1, STEPS.len());
        // The environment (CI=true in particular) is inherited untouched.
        let status = Command::new(&cargo).args(*args).current_dir(&root).status();
        match status {
            Ok(status) if status.success() => {}
            Ok(status) => {
                let code = status.code().unwrap_or(1);
                let code = u8::try_from(code).ok().filter(|c| *c != 0).unwrap_or(1);
                eprintln!("\nxtask ci: FAILED at step {}: `{shown}` ({status})", i + 1);
                return ExitCode::from(code);
            }
            Err(err) => {
                eprintln!(
                    "\nxtask ci: FAILED at step {}: could not run `{shown}`: {err}",
                    i + 1
                );
                return ExitCode::from(1);
            }
        }
    }
    eprintln!(
        "\nxtask ci: all {} steps passed in {:.1}s",
        STEPS.len(),
        started.elapsed().as_secs_f64()
    );
    ExitCode::SUCCESS
}
