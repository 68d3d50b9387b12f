//! A full disk during a landing: the user's checkout is left as it was (no
//! half-written file), the request waits saying why, and it lands by itself
//! once there is room again. Needs root to mount a small tmpfs; skipped
//! with a message otherwise.

use std::path::{Path, PathBuf};
use std::process::Command;

use enki_tests::{Project, describe, git, wait_output};

/// A tmpfs of `size`, unmounted when dropped.
struct SmallDisk {
    _dir: tempfile::TempDir,
    mount: PathBuf,
}

impl SmallDisk {
    fn mount(size: &str) -> Result<SmallDisk, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let mount = dir.path().join("disk");
        std::fs::create_dir(&mount).map_err(|e| e.to_string())?;
        let output = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&mount)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !output.status.success() {
            return Err(String::from_utf8_lossy(&output.stderr).trim().to_string());
        }
        Ok(SmallDisk { _dir: dir, mount })
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.mount).status();
    }
}

fn merge_reason(project: &Project) -> String {
    let output = project.enki(&["status", "--json"]).output().unwrap();
    let status: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_default();
    status["merge_queue"][0]["request"]["reason"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn a_full_disk_during_a_landing_leaves_the_checkout_alone_and_lands_when_room_comes_back() {
    let disk = match SmallDisk::mount("24m") {
        Ok(disk) => disk,
        Err(why) => {
            eprintln!("skipped: a full-disk test needs to mount a small tmpfs (as root): {why}");
            return;
        }
    };
    let project = Project::new_at(&disk.mount);
    let filler = project.enki_dir().join("filler");
    // The verify hook (which runs just before the checkout moves) fills the
    // disk but for a little room: enough for the store, not for big.txt.
    let verify = format!(
        "avail=$(df -k --output=avail . | tail -1); \
         dd if=/dev/zero of={} bs=1k count=$((avail - 384)) 2>/dev/null; true",
        filler.display()
    );
    let config = format!(
        "[agent]\ncommand = \"sim\"\n\n[sim]\nscripts = \"sim\"\n\n[merge]\nverify = {verify:?}\n"
    );
    std::fs::create_dir_all(project.enki_dir().join("sim")).unwrap();
    std::fs::write(project.enki_dir().join("enki.toml"), config).unwrap();
    project.script(
        "big",
        "[[turn]]\nsteps = [\n  { run = \"head -c 2097152 /dev/zero | tr '\\\\0' x > big.txt\", expect_status = 0 },\n  { say = \"[OUTPUT]wrote big.txt[/OUTPUT]\" },\n]\n",
    );
    let plan =
        project.plan("[[steps]]\nid = \"big\"\ntitle = \"Big\"\ndescription = \"[[sim:big]]\"\n");
    let child = project.spawn_enki(&["run", "--plan", plan.to_str().unwrap()]);

    project.wait_until("the merge to wait for room", || {
        merge_reason(&project).contains("could not be updated")
    });
    let reason = merge_reason(&project);
    assert!(reason.contains("unable to write file big.txt"), "{reason}");
    // Nothing of the landing reached the checkout, not even an empty file.
    assert!(
        !project.root.join("big.txt").exists(),
        "a half-written big.txt was left"
    );
    let status = git(&project.root, &["status", "--porcelain"]);
    assert!(status.trim().is_empty(), "{status}");
    assert_eq!(
        git(&project.root, &["log", "--format=%s", "main"])
            .lines()
            .count(),
        1
    );

    // Room again: the queue lands it by itself.
    std::fs::remove_file(&filler).unwrap();
    let output = wait_output(child, std::time::Duration::from_secs(120));
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let big = std::fs::metadata(project.root.join("big.txt")).unwrap();
    assert_eq!(big.len(), 2 * 1024 * 1024);
    let status = git(&project.root, &["status", "--porcelain"]);
    assert!(status.trim().is_empty(), "{status}");
    drop_project_before(project, disk);
}

/// The project's files live on the disk: let go of them before unmounting.
fn drop_project_before(project: Project, disk: SmallDisk) {
    let _root: &Path = &project.root;
    drop(project);
    drop(disk);
}
