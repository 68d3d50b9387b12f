//! `cargo xtask bench tui`: the time to render one frame of the TUI with 50
//! workers and a 10 000-line transcript (in-process, on ratatui's
//! TestBackend), and the CPU the real `enki` TUI uses while idle (in a
//! pseudo-terminal with the `sim` agent, from /proc/<pid>/stat).

use std::io::Read;
use std::path::Path;

use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use enki_tui::data::{ExecView, Snapshot, TaskView};
use enki_tui::msg::{Msg, Progress, ToolStatus, TranscriptEntry};
use enki_tui::state::{App, View};
use enki_tui::update::update;
use portable_pty::{CommandBuilder, PtySize, native_pty_system};
use ratatui::Terminal;

use super::project::sim_project;
use ratatui::backend::TestBackend;

use super::stats::Summary;
use super::{Options, Verdict, build_release_binary, mark};

const WORKERS: usize = 50;
const TRANSCRIPT_LINES: usize = 10_000;
const TARGET_FRAME_MS: f64 = 2.0;
/// "About zero": a tenth of a percent of one core would be ~1 tick in 10 s.
const TARGET_IDLE_CPU_PERCENT: f64 = 1.0;
const SCREEN: (u16, u16) = (200, 50);

fn task_id(i: usize) -> String {
    format!("task-01JBENCH{i:05}")
}

/// A session with 50 running workers, one of them with a 10 000-line
/// transcript, a 50-step execution and a long chat.
fn busy_app() -> App {
    let mut app = App::new();
    app.size = SCREEN;
    update(
        &mut app,
        Msg::Progress(Progress::SessionStarted {
            session: "sess-01JBENCH".into(),
            agent: "sim".into(),
            base_branch: "main".into(),
        }),
    );
    for i in 0..200 {
        update(
            &mut app,
            Msg::Progress(Progress::PlannerText {
                text: format!("- point {i}: **bold**, `code` and some more words to wrap\n"),
            }),
        );
    }
    update(&mut app, Msg::Progress(Progress::PlannerIdle));
    let tasks = (0..WORKERS)
        .map(|i| TaskView {
            id: task_id(i),
            execution: "exec-01JBENCH".into(),
            step: format!("step-{i}"),
            title: format!("Step number {i} of the benchmark"),
            status: "running".into(),
            tier: "standard".into(),
            role: Some("coder".into()),
            level: i % 5,
            checkpoint: false,
            attempts: 1,
            last_error: None,
        })
        .collect();
    update(
        &mut app,
        Msg::Snapshot(Snapshot {
            executions: vec![ExecView {
                id: "exec-01JBENCH".into(),
                title: "Benchmark execution".into(),
                status: "running".into(),
                earlier: false,
                tasks,
            }],
            ..Snapshot::default()
        }),
    );
    for i in 0..WORKERS {
        update(
            &mut app,
            Msg::Progress(Progress::WorkerStarted {
                task: task_id(i),
                step: format!("step-{i}"),
                title: format!("Step number {i} of the benchmark"),
                attempt: 1,
            }),
        );
        update(
            &mut app,
            Msg::Progress(Progress::WorkerActivity {
                task: task_id(i),
                text: format!("Edit src/module_{i}.rs"),
            }),
        );
    }
    app.view = View::Transcript(task_id(0));
    for i in 0..TRANSCRIPT_LINES {
        let entry = match i % 10 {
            0 => TranscriptEntry::Tool {
                id: format!("call-{i}"),
                title: format!("Edit src/file_{i}.rs"),
                status: Some(ToolStatus::Completed),
                output: None,
                exit_code: None,
            },
            1 => TranscriptEntry::Thought {
                text: format!("thinking about line {i}\n"),
            },
            _ => TranscriptEntry::Message {
                text: format!("line {i}: the worker explains what it is doing in some detail\n"),
            },
        };
        update(
            &mut app,
            Msg::Progress(Progress::WorkerTranscript {
                task: task_id(0),
                entry,
            }),
        );
    }
    app
}

/// Per-frame render times (ms) of `frames` frames; the clock moves every
/// frame so the elapsed times change as they do live.
fn render_frames(app: &mut App, frames: usize) -> Result<Summary> {
    let mut terminal = Terminal::new(TestBackend::new(SCREEN.0, SCREEN.1))?;
    let mut samples = Vec::with_capacity(frames);
    for i in 0..frames + 20 {
        app.now_ms = 60_000 + i as u64 * 1_000;
        let started = Instant::now();
        enki_tui::update::fit(app, SCREEN.0, SCREEN.1);
        terminal.draw(|frame| enki_tui::ui::draw(frame, app))?;
        if i >= 20 {
            samples.push(started.elapsed());
        }
    }
    Summary::of_durations(&samples).context("no samples")
}

/// utime + stime of a process, in seconds.
fn cpu_seconds(pid: u32) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    // Fields after the parenthesised command name; utime and stime are
    // fields 14 and 15 of the whole line.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .context("unexpected /proc stat format")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| -> Result<f64> {
        fields
            .get(i)
            .context("short /proc stat")?
            .parse::<f64>()
            .context("parsing /proc stat")
    };
    // `rest` starts at field 3 (state): utime is field 14 → index 11.
    let total = ticks(11)? + ticks(12)?;
    // SAFETY: sysconf has no preconditions.
    #[allow(unsafe_code)]
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if per_second <= 0 {
        bail!("sysconf(_SC_CLK_TCK) failed");
    }
    Ok(total / per_second as f64)
}

/// Waits until the output read so far contains `needle`.
fn wait_output(
    rx: &Receiver<Vec<u8>>,
    seen: &mut Vec<u8>,
    needle: &str,
    limit: Duration,
) -> Result<()> {
    let started = Instant::now();
    while !String::from_utf8_lossy(seen).contains(needle) {
        let left = limit.saturating_sub(started.elapsed());
        if left.is_zero() {
            bail!("the TUI did not show {needle:?} within {limit:?}");
        }
        match rx.recv_timeout(left) {
            Ok(bytes) => seen.extend(bytes),
            Err(_) => bail!("the TUI exited before showing {needle:?}"),
        }
    }
    Ok(())
}

/// Percent of one core the idle TUI uses over `seconds`.
fn idle_cpu(bin: &Path, seconds: u64) -> Result<f64> {
    let dir = sim_project(bin, "[agent]\ncommand = \"sim\"\n")?;
    let root = dir.path();

    let pair = native_pty_system()
        .openpty(PtySize {
            rows: 40,
            cols: 120,
            pixel_width: 0,
            pixel_height: 0,
        })
        .map_err(|e| anyhow::anyhow!("opening a pty: {e}"))?;
    let mut cmd = CommandBuilder::new(bin);
    cmd.cwd(root);
    cmd.env("TERM", "xterm-256color");
    cmd.env("ENKI_NO_DESKTOP_NOTIFY", "1");
    cmd.env_remove("ENKI_DIR");
    cmd.env_remove("ENKI_SESSION_ID");
    let mut child = pair
        .slave
        .spawn_command(cmd)
        .map_err(|e| anyhow::anyhow!("starting enki in a pty: {e}"))?;
    drop(pair.slave);
    let mut reader = pair
        .master
        .try_clone_reader()
        .map_err(|e| anyhow::anyhow!("pty reader: {e}"))?;
    let mut writer = pair
        .master
        .take_writer()
        .map_err(|e| anyhow::anyhow!("pty writer: {e}"))?;
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                return;
            }
        }
    });
    let measured = (|| -> Result<f64> {
        let pid = child.process_id().context("no pid for the TUI")?;
        let mut seen = Vec::new();
        wait_output(&rx, &mut seen, "Message", Duration::from_secs(30))?;
        // Let start-up work (file list, first snapshot) settle.
        std::thread::sleep(Duration::from_secs(1));
        let before = cpu_seconds(pid)?;
        let started = Instant::now();
        std::thread::sleep(Duration::from_secs(seconds));
        let after = cpu_seconds(pid)?;
        Ok((after - before) / started.elapsed().as_secs_f64() * 100.0)
    })();
    // Ctrl-C: nothing runs, so the TUI stops at once.
    use std::io::Write;
    let _ = writer.write_all(b"\x03");
    let _ = writer.flush();
    let started = Instant::now();
    loop {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        if started.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            break;
        }
        let _ = rx.recv_timeout(Duration::from_millis(50));
    }
    drop(pair.master);
    measured
}

pub fn run(opts: &Options) -> Result<Verdict> {
    let frames = if opts.quick { 100 } else { 1_000 };
    let idle_seconds = if opts.quick { 3 } else { 10 };
    let mut verdict = Verdict::Pass;

    eprintln!(
        "==> building a session with {WORKERS} workers and {TRANSCRIPT_LINES} transcript lines"
    );
    let mut app = busy_app();
    println!(
        "enki TUI benchmark ({}x{} screen; frames rendered in-process on TestBackend)\n",
        SCREEN.0, SCREEN.1
    );
    for (name, view) in [
        ("frame, transcript view", View::Transcript(task_id(0))),
        ("frame, chat view", View::Chat),
    ] {
        app.view = view;
        let s = render_frames(&mut app, frames)?;
        let ok = s.median <= TARGET_FRAME_MS;
        println!(
            "  {name:<24} n={:<5} median {:>6.3} ms   p99 {:>6.3} ms   max {:>6.3} ms   target median ≤ {TARGET_FRAME_MS} ms  {}",
            s.n,
            s.median,
            s.p99,
            s.max,
            mark(ok)
        );
        if !ok {
            verdict = Verdict::TargetMissed;
        }
    }

    let bin = match &opts.bin {
        Some(bin) => std::path::absolute(bin).context("resolving --bin")?,
        None => build_release_binary("enki", "enki")?,
    };
    eprintln!(
        "==> idle TUI in a pty for {idle_seconds} s: {}",
        bin.display()
    );
    match idle_cpu(&bin, idle_seconds) {
        Ok(percent) => {
            let ok = percent <= TARGET_IDLE_CPU_PERCENT;
            println!(
                "  idle CPU over {idle_seconds} s       {percent:>6.2} % of one core   target ≤ {TARGET_IDLE_CPU_PERCENT} %  {}",
                mark(ok)
            );
            if !ok && verdict == Verdict::Pass {
                verdict = Verdict::TargetMissed;
            }
        }
        Err(e) => {
            println!("  idle CPU: failed: {e:#}");
            verdict = Verdict::Failed;
        }
    }
    Ok(verdict)
}
