//! File names in the events directory, in one place so writer, reader and watcher agree.

use std::sync::{Mutex, PoisonError};

use ulid::{Generator, Ulid};

/// Subdirectory of the events directory that bad signal files are moved to.
pub const REJECTED_DIR: &str = "rejected";

const PREFIX: &str = "sig-";
const SUFFIX: &str = ".json";

/// Whether `name` is a signal file the reader should pick up: `sig-*.json`. Hidden files
/// (including the writer's `.sig-*.tmp` temporaries) never match.
pub fn is_signal_file_name(name: &str) -> bool {
    name.len() > PREFIX.len() + SUFFIX.len() && name.starts_with(PREFIX) && name.ends_with(SUFFIX)
}

/// Final name of the signal with this id.
pub(crate) fn signal_file_name(id: Ulid) -> String {
    format!("{PREFIX}{id}{SUFFIX}")
}

/// Hidden temporary name the signal is written under before the rename.
pub(crate) fn temp_file_name(id: Ulid) -> String {
    format!(".{PREFIX}{id}.tmp")
}

/// A fresh ULID, strictly increasing within this process, so signals written in quick
/// succession (same millisecond) still sort in the order they were written.
pub(crate) fn next_ulid() -> Ulid {
    static GENERATOR: Mutex<Generator> = Mutex::new(Generator::new());
    let mut generator = GENERATOR.lock().unwrap_or_else(PoisonError::into_inner);
    // Overflow needs 2^80 ids in one millisecond; fall back to a random one rather than fail.
    generator.generate().unwrap_or_else(|_| Ulid::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(is_signal_file_name("sig-01ARZ3NDEKTSV4RRFFQ69G5FAV.json"));
        assert!(is_signal_file_name("sig-x.json"));
        assert!(!is_signal_file_name("sig-.json"));
        assert!(!is_signal_file_name(".sig-01ARZ3NDEKTSV4RRFFQ69G5FAV.tmp"));
        assert!(!is_signal_file_name(".sig-x.json"));
        assert!(!is_signal_file_name("sig-x.json.tmp"));
        assert!(!is_signal_file_name("rejected"));
        assert!(!is_signal_file_name("other.json"));
    }

    #[test]
    fn ulids_increase() {
        let ids: Vec<Ulid> = (0..1000).map(|_| next_ulid()).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
        assert!(ids.windows(2).all(|w| w[0].to_string() < w[1].to_string()));
    }
}
