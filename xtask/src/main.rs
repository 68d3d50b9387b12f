//! Project automation for enki: `cargo xtask <command>`.
//!
//! Commands:
//! - `ci`: the checks CI runs (fmt, clippy, tests, doc tests).
//! - `tidy`: the house rules the compiler does not check (also run as tests).
//! - `stress`: the slow crash and load proofs left out of `ci`.
//! - `bench [NAME] [--quick] [--check]`: performance benchmarks against the release binary.
//! - `interop-mcp [--bin P]`: `enki mcp` against the official MCP Python SDK (needs the network
//!   the first time, to install the SDK; not part of `ci`).
//! - `e2e-agents [--bin P] [--keep] [SCENARIO…]`: real Claude Code (its ACP adapter from npm)
//!   driven by enki against a scripted fake of the model API (needs the npm registry the first
//!   time; not part of `ci`).
//! - `help`: usage.

mod bench;
mod ci;
mod e2e_agents;
mod interop;
mod stress;
mod tidy;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <command> [args]

commands:
  ci                    run the CI checks in order, stopping at the first failure:
                          cargo xtask tidy
                          cargo fmt --all --check
                          cargo clippy --workspace --all-targets --locked -- -D warnings
                          cargo test --workspace --all-targets --locked
                          cargo test --workspace --doc --locked
  tidy                  check the house rules: a `//!` opening and at most 800 lines per
                          Rust file, no todo!/unimplemented!, crate layers as
                          docs/ARCHITECTURE.md draws them, workspace lints in every crate
  stress [TEST]         the slow proofs left out of ci: kill -9 at 100 seeded random
                          points of a landing (ENKI_STRESS_SEED picks the seed) and
                          5 x 200 sim steps at 16 workers with no retry
  bench                 list the available benchmarks
  bench <name> [opts]   build `enki` and this harness in release mode and run one benchmark
                          --quick   about 10x fewer iterations (smoke test)
                          --check   exit 1 if a target is missed
                          --bin P   use binary P instead of building (mcp)
                          --files N merge: one landing in an N-file repository,
                                    the real queue against the git floor
  interop-mcp [--bin P] check `enki mcp` with the official MCP Python SDK over stdio
                          and HTTP; installs the SDK version that
                          xtask/interop/mcp_client.py pins into target/interop/venv
                          with pip (needs the network the first time; not in ci)
  e2e-agents [opts] [SCENARIO...]
                        real Claude Code under enki: installs Claude Code's ACP
                          adapter and Node from npm into target/e2e-agents (needs
                          the npm registry the first time; not in ci), runs
                          `enki run` against a scripted fake of the model API in
                          each scenario (conflict, worker-escape, planner-writes)
                          and prints PASS or FAIL for each
                          --bin P   use enki binary P instead of building it
                          --keep    keep every scenario's folder (failed ones are)
  help                  print this message
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (cmd, rest) = match args.split_first() {
        Some((cmd, rest)) => (cmd.as_str(), rest),
        None => {
            eprint!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match cmd {
        "help" | "-h" | "--help" => {
            print!("{USAGE}");
            ExitCode::SUCCESS
        }
        "ci" => {
            if let Some(extra) = rest.first() {
                eprintln!("xtask ci: unexpected argument `{extra}`\n\n{USAGE}");
                return ExitCode::from(2);
            }
            ci::run()
        }
        "tidy" => tidy::run(),
        "stress" => stress::run(rest),
        "bench" => bench::run(rest),
        "interop-mcp" => interop::run(rest),
        "e2e-agents" => e2e_agents::run(rest),
        other => {
            eprintln!("xtask: unknown command `{other}`\n\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

/// The workspace root (the parent of this crate's directory).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

/// The cargo to run sub-steps with: the one that runs us (`$CARGO`), else `cargo` on PATH.
pub fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}
