//! Containment's claims, checked on the running kernel: the program is pid 2
//! under a reaping pid 1, its status comes back unchanged, and nothing it
//! starts (in the background, or daemonized with `setsid`) outlives the
//! keeper, whether the program ends or enki's spawning thread dies.

use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::*;

/// A number no other test's processes carry in their command lines.
fn marker() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "7{}.{}{}",
        NEXT.fetch_add(1, Ordering::SeqCst),
        std::process::id(),
        7
    )
}

/// Live (not zombie) processes whose command line holds `marker`.
fn carrying(marker: &str) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let alive = std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
                stat.rsplit_once(')')
                    .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z'))
            });
            alive && String::from_utf8_lossy(&cmdline).contains(marker)
        })
        .collect()
}

fn wait_until_none(marker: &str, limit: Duration) -> Vec<u32> {
    let started = Instant::now();
    loop {
        let left = carrying(marker);
        if left.is_empty() || started.elapsed() > limit {
            return left;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn contained(script: &str, how: &Containment) -> Command {
    let mut command = Command::new("/bin/sh");
    command.arg("-c").arg(script).stdin(Stdio::null());
    contain_as(how, &mut command, Environment::Inherit, None).unwrap();
    command
}

fn no_namespace() -> Containment {
    Containment::ParentDeathOnly {
        reason: "a test".into(),
    }
}

fn namespace_here() -> Containment {
    let found = containment().clone();
    assert!(
        found.is_complete(),
        "this machine cannot make a PID namespace: {}",
        found.describe()
    );
    found
}

/// Starts `sleep <marker>` in the background and a second one daemonized
/// (`setsid`, its own session, out of the process group), and prints `up`
/// once both run.
fn starting_two_sleepers(marker: &str) -> String {
    format!(
        "sleep {marker} >/dev/null 2>&1 & setsid sh -c 'sleep {marker}' >/dev/null 2>&1 < /dev/null & \
         while [ \"$(pgrep -c -f '^sleep {marker}$')\" != 2 ]; do sleep 0.01; done; echo up"
    )
}

#[test]
fn the_program_is_pid_2_under_a_pid_1_of_its_own() {
    let how = namespace_here();
    let output = contained("echo $$ $PPID", &how).output().unwrap();
    assert!(output.status.success(), "{output:?}");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "2 1\n");
}

#[test]
fn the_program_gets_the_commands_environment_and_is_found_on_its_path() {
    for how in [namespace_here(), no_namespace()] {
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg("echo \"$ENKI_A|${HOME-unset}\"; env | wc -l")
            .env("PATH", "/usr/bin:/bin")
            .env("ENKI_A", "a b");
        contain_as(&how, &mut command, Environment::Clear, None).unwrap();
        let output = command.output().unwrap();
        assert!(output.status.success(), "{how:?}: {output:?}");
        // PATH, ENKI_A and the PWD the shell sets itself.
        let out = String::from_utf8_lossy(&output.stdout).replace(' ', "");
        assert_eq!(out, "ab|unset\n3\n", "{how:?}");
    }
}

#[test]
fn the_sandbox_confines_the_contained_program() {
    if crate::landlock_abi().is_err() {
        eprintln!("skipped: no Landlock here");
        return;
    }
    let how = namespace_here();
    let dir = tempfile::tempdir().unwrap();
    let (inside, outside) = (dir.path().join("in"), dir.path().join("out"));
    std::fs::create_dir(&inside).unwrap();
    std::fs::create_dir(&outside).unwrap();
    let sandbox = crate::prepare(&crate::Policy {
        writable: vec![inside.clone()],
        ..crate::Policy::default()
    })
    .unwrap();
    let mut command = Command::new("/bin/sh");
    command
        .arg("-c")
        .arg("echo in > in/a; echo out > out/b; echo $$ > in/pid")
        .current_dir(dir.path());
    contain_as(&how, &mut command, Environment::Inherit, Some(sandbox)).unwrap();
    let output = command.output().unwrap();
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("out/b"),
        "{output:?}"
    );
    assert_eq!(std::fs::read_to_string(inside.join("a")).unwrap(), "in\n");
    assert_eq!(std::fs::read_to_string(inside.join("pid")).unwrap(), "2\n");
    assert!(!outside.join("b").exists());
}

#[test]
fn the_programs_exit_code_and_killing_signal_come_back_unchanged() {
    let how = namespace_here();
    let status = contained("exit 7", &how).status().unwrap();
    assert_eq!(status.code(), Some(7));
    let status = contained("kill -TERM $$", &how).status().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGTERM), "{status:?}");
    let status = contained("kill -KILL $$", &how).status().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGKILL), "{status:?}");
}

#[test]
fn a_program_that_does_not_exist_fails_the_spawn() {
    let how = namespace_here();
    for how in [how, no_namespace()] {
        let mut command = Command::new("/no/such/program");
        contain_as(&how, &mut command, Environment::Inherit, None).unwrap();
        let err = command.spawn().unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound, "{how:?}: {err}");
        let mut command = Command::new("no-such-program-of-enki");
        command.env("PATH", "/nowhere:/usr/bin");
        contain_as(&how, &mut command, Environment::Clear, None).unwrap();
        let err = command.spawn().unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound, "{how:?}: {err}");
    }
}

#[test]
fn what_the_program_started_ends_with_it() {
    let how = namespace_here();
    let marker = marker();
    let script = format!("{}; exit 3", starting_two_sleepers(&marker));
    let output = contained(&script, &how).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&output.stdout), "up\n");
    assert_eq!(output.status.code(), Some(3));
    // The keeper exits only once the namespace is empty: no waiting here.
    assert_eq!(carrying(&marker), Vec::<u32>::new());
}

#[test]
fn everything_dies_when_the_spawning_thread_does() {
    use std::io::BufRead;
    let how = namespace_here();
    let marker = marker();
    // enki dies by SIGKILL; here the stand-in is the end of the thread that
    // spawned the program, which fires the same parent-death signal.
    let script = format!("{}; sleep {marker}", starting_two_sleepers(&marker));
    let spawner = std::thread::spawn(move || {
        let mut child = contained(&script, &how)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line, "up\n");
        child
    });
    let mut child = spawner.join().unwrap();
    let left = wait_until_none(&marker, Duration::from_secs(10));
    assert!(left.is_empty(), "left running: {left:?}");
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGKILL), "{status:?}");
}

#[test]
fn an_unprivileged_user_gets_a_user_namespace_mapping_it_onto_itself() {
    // SAFETY: geteuid has no preconditions.
    #[allow(unsafe_code)]
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: becoming another user needs root");
        return;
    }
    let run_as_nobody = |script: &str, user_namespace: bool| {
        let mut command = Command::new("/bin/sh");
        command.arg("-c").arg(script).current_dir("/");
        // SAFETY: system calls only. A process that dropped root is not
        // dumpable, so its /proc/self files stay root's: made dumpable
        // again, as an ordinary user's process is.
        #[allow(unsafe_code)]
        unsafe {
            command.pre_exec(|| {
                if libc::setgid(65534) != 0
                    || libc::setuid(65534) != 0
                    || libc::prctl(libc::PR_SET_DUMPABLE, 1) != 0
                {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let how = Containment::PidNamespace { user_namespace };
        contain_as(&how, &mut command, Environment::Inherit, None).unwrap();
        command.output()
    };
    let output = run_as_nobody("echo $$ $PPID $(id -u) $(id -g)", true).unwrap();
    assert!(output.status.success(), "{output:?}");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "2 1 65534 65534\n");

    // Without the user namespace, the same user may not make one.
    let err = run_as_nobody("true", false).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EPERM), "{err}");
}

#[test]
fn without_a_namespace_the_program_is_enkis_own_child() {
    let how = no_namespace();
    let child = contained("echo $$", &how)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{output:?}");
    assert_eq!(String::from_utf8_lossy(&output.stdout), format!("{pid}\n"));
    assert!(!how.is_complete() && how.describe().contains("a test"));
}
