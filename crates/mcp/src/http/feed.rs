//! `--token-table -`: the token table fed on stdin by the process that
//! started the server (enki's coordinator), one whole JSON table per line.
//! Each line is acknowledged on stdout once it applies (`applied N` or
//! `refused N: why`, N counting lines from 1), so the feeder knows a token
//! works before handing it out. The table never touches the disk, where
//! agents could read it, and the end of stdin (its feeder gone, even by
//! `kill -9`) ends the server: nothing outlives the coordinator.

use std::io::{BufRead, Write};

use tokio::sync::oneshot;

use super::table::TokenTable;

/// The `--token-table` value that means stdin.
pub const STDIN: &str = "-";

/// A table fed on stdin, and what resolves when stdin ends.
pub(crate) fn from_stdin() -> (TokenTable, oneshot::Receiver<()>) {
    let (table, feed) = TokenTable::fed();
    let (ended, on_end) = oneshot::channel();
    let spawned = std::thread::Builder::new()
        .name("token-table-feed".into())
        .spawn(move || {
            let stdin = std::io::stdin();
            let mut stdout = std::io::stdout();
            for (index, line) in stdin.lock().lines().enumerate() {
                let Ok(line) = line else { break };
                let number = index + 1;
                let answer = match feed.replace(&line) {
                    Ok(entries) => {
                        tracing::info!(entries, "token table replaced from stdin");
                        format!("applied {number}\n")
                    }
                    Err(reason) => {
                        tracing::warn!(
                            "token table line {number} on stdin: {reason}; every request is refused until a valid table arrives"
                        );
                        format!("refused {number}: {reason}\n")
                    }
                };
                if stdout
                    .write_all(answer.as_bytes())
                    .and_then(|()| stdout.flush())
                    .is_err()
                {
                    break;
                }
            }
            let _ = ended.send(());
        });
    if let Err(e) = spawned {
        // Without the reader no token is ever valid; say so and end at once.
        tracing::warn!("cannot start the token table reader: {e}");
    }
    (table, on_end)
}
