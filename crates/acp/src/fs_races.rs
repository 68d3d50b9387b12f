//! The coordinator's `fs/*` never reaches a file outside the session's
//! folder while the agent changes that folder under it.

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use rustix::fs::RenameFlags;
use serde_json::json;

use super::{read_text_file, write_text_file};

/// A copy and, beside it, a folder with a secret the copy must never reach.
fn setup() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let (copy, outside) = (dir.path().join("copy"), dir.path().join("outside"));
    std::fs::create_dir_all(copy.join("d")).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(copy.join("d/f.txt"), "inside\n").unwrap();
    std::fs::write(outside.join("f.txt"), "SECRET\n").unwrap();
    (dir, copy, outside)
}

/// Every entry below `dir` with its text, to compare before and after.
fn listing(dir: &Path) -> Vec<(String, String)> {
    let mut all: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let path = e.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            (path.display().to_string(), text)
        })
        .collect();
    all.sort();
    all
}

#[test]
fn a_link_planted_at_a_temporary_name_is_never_written_through() {
    let (_dir, copy, outside) = setup();
    // The name a predictable writer would use, and a link to every file.
    for planted in [
        format!("d/.f.txt.enki-edit-{}", std::process::id()),
        "d/.f.txt.tmp".to_owned(),
    ] {
        symlink(outside.join("f.txt"), copy.join(planted)).unwrap();
    }
    let before = listing(&outside);
    let out = write_text_file(&copy, &json!({"path": "d/f.txt", "content": "edited\n"}));
    assert_eq!(out.response.unwrap(), json!({}));
    assert_eq!(
        std::fs::read_to_string(copy.join("d/f.txt")).unwrap(),
        "edited\n"
    );
    assert_eq!(listing(&outside), before);
}

#[test]
fn a_folder_flipped_to_a_link_outside_never_lets_a_read_or_write_escape() {
    let (_dir, copy, outside) = setup();
    // `d` and `swap` trade places atomically: a folder, then a link out.
    symlink(&outside, copy.join("swap")).unwrap();
    let before = listing(&outside);
    let stop = Arc::new(AtomicBool::new(false));
    let flips = Arc::new(AtomicUsize::new(0));
    let flipper = {
        let (stop, flips, copy) = (stop.clone(), flips.clone(), copy.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                flips.fetch_add(1, Ordering::Relaxed);
                rustix::fs::renameat_with(
                    rustix::fs::CWD,
                    copy.join("d"),
                    rustix::fs::CWD,
                    copy.join("swap"),
                    RenameFlags::EXCHANGE,
                )
                .unwrap();
            }
        })
    };
    let started = std::time::Instant::now();
    while flips.load(Ordering::Relaxed) == 0 {
        assert!(started.elapsed().as_secs() < 30, "the flipper never ran");
        std::thread::yield_now();
    }
    // At least 1,000 rounds, and on until a flip met an access at least once.
    let mut refused = 0;
    let mut round = 0;
    while round < 1000 || refused == 0 {
        assert!(started.elapsed().as_secs() < 120, "no access met a flip");
        round += 1;
        let read = read_text_file(&copy, &json!({"path": "d/f.txt"}));
        if let Ok(value) = &read.response {
            assert_ne!(value["content"], "SECRET\n", "round {round} read outside");
        }
        let content = format!("round {round}\n");
        let written = write_text_file(&copy, &json!({"path": "d/new/f.txt", "content": content}));
        let replaced = write_text_file(&copy, &json!({"path": "d/f.txt", "content": content}));
        for out in [read, written, replaced] {
            if out.response.is_err() && out.event.is_some_and(|(_, allowed)| !allowed) {
                refused += 1;
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    flipper.join().unwrap();
    assert_eq!(listing(&outside), before, "nothing outside was written");
    // Once the copy holds still, the same requests work.
    let real = if copy.join("d").is_symlink() {
        "swap"
    } else {
        "d"
    };
    let path = format!("{real}/f.txt");
    let out = write_text_file(&copy, &json!({"path": path, "content": "settled\n"}));
    assert_eq!(out.response.unwrap(), json!({}));
    let out = read_text_file(&copy, &json!({"path": path}));
    assert_eq!(out.response.unwrap(), json!({"content": "settled\n"}));
}
