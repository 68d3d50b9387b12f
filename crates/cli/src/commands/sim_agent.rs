//! `enki sim-agent`: the built-in scripted ACP agent (see WORKERS.md).

use std::path::PathBuf;

pub fn run(script: Option<PathBuf>, scripts_dir: Option<PathBuf>) -> i32 {
    enki_sim::run(enki_sim::SimOptions {
        script,
        scripts_dir,
    })
}
