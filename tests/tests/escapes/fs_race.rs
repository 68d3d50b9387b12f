//! The coordinator serves an agent's `fs/write_text_file` outside the
//! sandbox, so a worker that flips a folder of its copy to a link out of it
//! while asking for writes there could make enki write where the worker
//! cannot. A real sandboxed `sim` worker flips a folder (atomically, with
//! `renameat2(RENAME_EXCHANGE)`, in a background process) through 1,000
//! writes: nothing outside its copy changes, and its legitimate work lands.

use std::path::Path;

use enki_tests::{Project, describe, one_turn};

const ONE_STEP: &str =
    "title = \"Race\"\n[[steps]]\nid = \"w\"\ntitle = \"Race\"\ndescription = \"[[sim:racer]]\"\n";

/// Run in the copy with the link's target: makes `swap` (a link out) and
/// `done.fifo`, flips `d` and `swap` twice, then leaves a background process
/// flipping them until `stop` appears; it then puts the folder back, counts
/// its flips in `flips.txt` and says so through the FIFO.
const FLIPPER: &str = r#"import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
def flip():
    if libc.renameat2(-100, b"d", -100, b"swap", 2) != 0:
        raise OSError(ctypes.get_errno(), "renameat2(RENAME_EXCHANGE)")
os.symlink(sys.argv[1], "swap")
os.mkfifo("done.fifo")
flip()
flip()
if os.fork() == 0:
    os.setsid()
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    flips = 2
    while not os.path.exists("stop"):
        flip()
        flips += 1
    if os.path.islink("d"):
        flip()
    os.unlink("swap")
    with open("flips.txt", "w") as f:
        f.write(f"{flips}\n")
    with open("done.fifo", "w") as f:
        f.write("done\n")
    os._exit(0)
"#;

/// Every entry below `dir` with its text, to compare before and after.
fn listing(dir: &Path) -> Vec<(String, String)> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            all.push((path.display().to_string(), "<folder>".to_string()));
            all.extend(listing(&path));
        } else {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            all.push((path.display().to_string(), text));
        }
    }
    all.sort();
    all
}

// Against the former check-then-write code this wrote `outside/f.txt` or
// `outside/new/f.txt` in each of three runs.
#[test]
fn a_folder_flipped_to_a_link_never_lets_enki_write_outside_the_copy() {
    // The flipper calls glibc's renameat2 through Python's ctypes.
    assert!(
        Path::new("/usr/bin/python3").is_file(),
        "this test's folder flipper needs /usr/bin/python3"
    );
    let project = Project::with_sim("[workers]\nretries = 0\n");
    std::fs::create_dir(project.root.join("d")).unwrap();
    project.commit_file("d/f.txt", "inside\n", "a folder to flip");
    let outside = project.home.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("f.txt"), "SECRET\n").unwrap();
    let flipper = project.home.path().join("flip.py");
    std::fs::write(&flipper, FLIPPER).unwrap();
    let before = listing(&outside);

    let mut steps = vec![format!(
        "  {{ run = '/usr/bin/python3 {} {}' }},",
        flipper.display(),
        outside.display()
    )];
    for round in 0..1000 {
        let path = if round % 2 == 0 {
            "d/f.txt"
        } else {
            "d/new/f.txt"
        };
        steps.push(format!(
            "  {{ write = \"{path}\", content = \"round {round}\\n\", allow_error = true }},"
        ));
    }
    steps.push("  { run = 'touch stop && read -r done < done.fifo && rm stop done.fifo' },".into());
    steps.push("  { write = \"legit.txt\", content = \"legit\\n\" },".into());
    steps.push("  { say = \"[OUTPUT]done[/OUTPUT]\" },".into());
    project.script("racer", &one_turn(&steps.join("\n")));

    let plan = project.plan(ONE_STEP);
    let output = project.run_enki(&["run", "--plan", plan.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));

    assert_eq!(listing(&outside), before, "enki wrote outside the copy");
    assert_eq!(
        std::fs::read_to_string(project.root.join("legit.txt")).unwrap(),
        "legit\n"
    );
    let flips: u64 = std::fs::read_to_string(project.root.join("flips.txt"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(flips > 2, "the folder was never flipped during the writes");
    let task = project.task_by_step("w");
    let writes = project.events_of(task["id"].as_str().unwrap(), "fs_write");
    assert!(
        !writes.is_empty(),
        "no write reached enki while the folder was flipped"
    );
}
