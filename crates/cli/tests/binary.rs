//! Smoke test of the built binary. Its presence also makes `cargo test`
//! build `target/<profile>/enki`, which the `enki-tests` crate drives.
// An integration test: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::process::Command;

#[test]
fn version_and_help_run() {
    let output = hermetic().arg("--version").output().expect("enki runs");
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.starts_with("enki "), "{text}");

    let output = hermetic()
        .arg("no-such-command")
        .output()
        .expect("enki runs");
    assert_eq!(output.status.code(), Some(2), "usage errors exit 2");
}

/// The binary with nothing of the developer's environment but `PATH`.
fn hermetic() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_enki"));
    cmd.env_clear();
    if let Some(path) = std::env::var_os("PATH") {
        cmd.env("PATH", path);
    }
    cmd
}
