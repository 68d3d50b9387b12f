//! `cargo xtask stress`: the slow proofs that do not run in every CI run —
//! 100 seeded random `kill -9` points of a landing and 5 × 200 steps at 16
//! workers (the ignored tests of `tests/tests/crash_safety/`).

use std::process::{Command, ExitCode};

pub fn run(args: &[String]) -> ExitCode {
    let root = crate::workspace_root();
    let cargo = crate::cargo();
    // `-p enki` with `-p enki-tests` builds the enki binary with its crash
    // points (the feature enki-tests turns on).
    let mut command = Command::new(&cargo);
    command
        .args([
            "test",
            "-p",
            "enki",
            "-p",
            "enki-tests",
            "--test",
            "crash_safety",
        ])
        .args(["--", "--ignored", "--test-threads", "1", "--nocapture"])
        .args(args)
        .current_dir(&root);
    eprintln!(
        "xtask stress: 100 random crash points and 5 × 200 steps at 16 workers (tens of minutes)"
    );
    match command.status() {
        Ok(status) if status.success() => ExitCode::SUCCESS,
        Ok(_) => ExitCode::from(1),
        Err(e) => {
            eprintln!("xtask stress: could not run cargo: {e}");
            ExitCode::from(1)
        }
    }
}
