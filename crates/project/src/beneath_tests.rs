//! Links and races planted in a copy never reach a file outside it.

use std::os::unix::fs::symlink;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use rustix::fs::RenameFlags;

use super::Beneath;

/// A copy and, beside it, a folder with a secret the copy must never reach.
fn setup() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let (copy, outside) = (dir.path().join("copy"), dir.path().join("outside"));
    std::fs::create_dir_all(copy.join("d")).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(copy.join("d/f.txt"), "inside\n").unwrap();
    std::fs::write(outside.join("f.txt"), "SECRET\n").unwrap();
    (dir, copy, outside)
}

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
fn a_link_planted_at_the_old_temporary_name_is_never_written_through() {
    let (_dir, copy, outside) = setup();
    let planted = copy.join(format!("d/.f.txt.enki-edit-{}", std::process::id()));
    symlink(outside.join("f.txt"), &planted).unwrap();
    let before = listing(&outside);
    Beneath::open(&copy)
        .unwrap()
        .write(Path::new("d/f.txt"), b"edited\n")
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(copy.join("d/f.txt")).unwrap(),
        "edited\n"
    );
    assert_eq!(listing(&outside), before);
    assert!(planted.is_symlink(), "the planted link is left alone");
}

#[test]
fn links_out_of_the_copy_are_refused_for_reading_and_writing() {
    let (_dir, copy, outside) = setup();
    symlink(&outside, copy.join("out")).unwrap();
    symlink(outside.join("f.txt"), copy.join("secret.txt")).unwrap();
    let before = listing(&outside);
    let copy = Beneath::open(&copy).unwrap();
    for path in ["out/f.txt", "secret.txt"] {
        let err = copy.read(Path::new(path)).unwrap_err();
        assert!(err.to_string().contains("outside your copy"), "{err}");
        assert!(copy.write(Path::new(path), b"x").is_err());
    }
    assert!(copy.write(Path::new("out/new/f.txt"), b"x").is_err());
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
    let tool = Beneath::open(&copy).unwrap();
    let started = std::time::Instant::now();
    while flips.load(Ordering::Relaxed) == 0 {
        assert!(started.elapsed().as_secs() < 30, "the flipper never ran");
        std::thread::yield_now();
    }
    for round in 0..1000 {
        if let Ok(Some(bytes)) = tool.read(Path::new("d/f.txt")) {
            assert_ne!(bytes, b"SECRET\n", "round {round} read outside the copy");
        }
        let _ = tool.write(Path::new("d/f.txt"), format!("round {round}\n").as_bytes());
    }
    stop.store(true, Ordering::Relaxed);
    flipper.join().unwrap();
    assert_eq!(listing(&outside), before, "nothing outside was written");
    // Once the copy holds still, the same calls work.
    let real = if copy.join("d").is_symlink() {
        "swap"
    } else {
        "d"
    };
    tool.write(&Path::new(real).join("f.txt"), b"settled\n")
        .unwrap();
    assert_eq!(
        tool.read(&Path::new(real).join("f.txt")).unwrap().unwrap(),
        b"settled\n"
    );
}
