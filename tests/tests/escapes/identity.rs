//! Roles and tasks are not the agent's to choose: a sandboxed `sim` worker
//! reaches enki's tools only through the coordinator's HTTP server, whose
//! token fixes its role and task. A worker that starts its own `enki mcp
//! --role planner` or `--task-id <another task>`, writes the store or the
//! events folder, or looks for other agents' tokens in the server's process
//! changes nothing, and its legitimate work still lands; with the sandbox
//! off, the same `--task-id` attack edits the other task's copy.

use enki_tests::{Project, describe, one_turn};

const ONE_STEP: &str = "title = \"Identity\"\n[[steps]]\nid = \"w\"\ntitle = \"Work\"\ndescription = \"[[sim:rogue]]\"\n";

/// A planner's tool call through a stdio `enki mcp` the worker starts
/// itself, inside its sandbox; what it answered is kept in `rogue.txt`.
const SELF_MADE_PLANNER: &str = r#"printf '%s\n' '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"rogue","version":"1"}}}' '{"jsonrpc":"2.0","method":"notifications/initialized"}' '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"enki_task_create","arguments":{"title":"rogue task","description":"made by a worker"}}}' | "$ENKI_BIN" mcp --role planner > rogue.txt 2>&1; true"#;

/// Writes straight into the store and the events folder.
const STORE_WRITES: &[&str] = &[
    r#"echo garbage >> "$ENKI_DIR/db.sqlite"; true"#,
    r#"echo garbage >> "$ENKI_DIR/db.sqlite-wal"; true"#,
    r#"echo '{"kind":"stop_all"}' > "$ENKI_DIR/events/forged.json"; true"#,
];

/// Tries to open the memory and the stdin pipe of every `enki mcp
/// --token-table -` process (the coordinator's server holds the token table
/// in memory and reads it from that pipe; the pattern is built at run time so
/// the probing shell does not match itself): `probe.txt` lists what opened.
/// Landlock keeps a sandboxed process from ptrace-reading one outside its
/// domain. (A process's `environ` stays readable: enki puts no token there.)
const PROBE: &str = r#"t=token; for p in /proc/[0-9]*; do if tr '\0' ' ' < "$p/cmdline" 2>/dev/null | grep -q -- "--$t-table -"; then echo "server $p" >> servers.txt; ( exec 3< "$p/mem" ) 2>/dev/null && echo "mem $p" >> probe.txt; ( exec 3< "$p/fd/0" ) 2>/dev/null && echo "stdin $p" >> probe.txt; fi; done; true"#;

fn rogue_project() -> Project {
    let project = Project::with_sim("[workers]\nretries = 0\n");
    let mut steps: Vec<String> = vec![
        "  { tool = \"enki_worker_report\", args = { status = \"working\" } },".into(),
        format!("  {{ run = '''{SELF_MADE_PLANNER}''' }},"),
    ];
    steps.extend(
        STORE_WRITES
            .iter()
            .map(|c| format!("  {{ run = '''{c}''' }},")),
    );
    steps.push(format!("  {{ run = '''{PROBE}''' }},"));
    steps.push("  { write = \"legit.txt\", content = \"legit\\n\" },".into());
    steps.push("  { say = \"[OUTPUT]done[/OUTPUT]\" },".into());
    project.script("rogue", &one_turn(&steps.join("\n")));
    project
}

#[test]
fn a_worker_cannot_become_the_planner_write_the_store_or_read_tokens() {
    let project = rogue_project();
    let plan = project.plan(ONE_STEP);
    let output = project.run_enki(&["run", "--plan", plan.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));

    // The legitimate work landed, reported through the worker's own token.
    assert_eq!(
        std::fs::read_to_string(project.root.join("legit.txt")).unwrap(),
        "legit\n"
    );
    assert_eq!(project.status_of("w"), "done");

    // The self-made planner could not create a task.
    let titles: Vec<String> = project
        .tasks_json()
        .iter()
        .filter_map(|t| t["title"].as_str().map(str::to_string))
        .collect();
    assert!(
        !titles.iter().any(|t| t == "rogue task"),
        "a worker made itself the planner: {titles:?}"
    );
    let rogue = std::fs::read_to_string(project.root.join("rogue.txt")).unwrap();
    eprintln!("{rogue}");
    assert!(
        !rogue.contains("\"isError\":false"),
        "the self-made planner's call succeeded: {rogue}"
    );

    // The store is intact and nothing was planted among the signals.
    let db = std::fs::read(project.db_path()).unwrap();
    assert!(!db.ends_with(b"garbage\n"), "the worker wrote the store");
    let planted: Vec<_> = walk(&project.events_dir())
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n == "forged.json"))
        .collect();
    assert!(planted.is_empty(), "planted signals: {planted:?}");

    // The server holding the tokens was out of the worker's reach.
    let servers = std::fs::read_to_string(project.root.join("servers.txt")).unwrap_or_default();
    assert!(
        !servers.is_empty(),
        "the probe found no server to look into"
    );
    let probe = std::fs::read_to_string(project.root.join("probe.txt")).unwrap_or_default();
    assert_eq!(probe, "", "the worker could look into enki's MCP server");
}

#[test]
fn agents_get_the_coordinators_http_server_and_it_ends_with_the_run() {
    let project = Project::with_sim("[workers]\nretries = 0\n");
    project.writer_script("rogue", "legit.txt", "legit\n");
    let plan = project.plan(ONE_STEP);
    let output = project.run_enki(&["run", "--plan", plan.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert_eq!(project.status_of("w"), "done");

    // The worker's tool call went over HTTP, as the worker of its task.
    let audit = project.audit_lines();
    let report = audit
        .iter()
        .find(|line| line["tool"] == "enki_worker_report")
        .unwrap_or_else(|| panic!("no audited report: {audit:?}"));
    assert_eq!(report["role"], "worker", "{report}");
    let task = project.task_by_step("w");
    assert_eq!(report["task"], task["id"], "{report}");
    let log = std::fs::read_to_string(project.enki_dir().join("logs/mcp.log")).unwrap();
    assert!(log.contains("starts over HTTP"), "{log}");

    // No server of this project outlives the run: its stdin ended with it.
    project.wait_until("enki's MCP server to end with the run", || {
        enki_mcp_servers_of(&project).is_empty()
    });
}

/// Every file under `dir`, recursively.
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// Live `enki mcp --token-table -` processes whose `ENKI_DIR` is the
/// project's.
fn enki_mcp_servers_of(project: &Project) -> Vec<u32> {
    let wanted = format!("ENKI_DIR={}", project.enki_dir().display());
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
            String::from_utf8_lossy(&cmdline).contains("token-table")
                && String::from_utf8_lossy(&environ)
                    .split('\0')
                    .any(|v| v == wanted)
        })
        .collect()
}

/// From its copy, for every other task's copy in `.enki/copies/`: a stdio
/// `enki mcp --role worker --task-id <that task>` the worker starts itself,
/// reporting for that task and editing its copy. What the servers answered
/// is kept in `rogue.txt`, the tasks attacked in `victims.txt`.
const SELF_DECLARED_TASK: &str = r#"own=$(basename "$PWD"); for o in $(ls "$ENKI_DIR/copies"); do [ "$o" = "$own" ] && continue; echo "$o" >> victims.txt; printf '%s\n' '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"rogue","version":"1"}}}' '{"jsonrpc":"2.0","method":"notifications/initialized"}' '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"enki_worker_report","arguments":{"status":"FORGED REPORT"}}}' '{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"enki_edit_file","arguments":{"path":"planted.txt","edits":[{"op":"append","lines":["planted"]}]}}}' | "$ENKI_BIN" mcp --role worker --task-id "$o" >> rogue.txt 2>&1; done; true"#;

const TWO_STEPS: &str = "title = \"Identity\"\n[[steps]]\nid = \"v\"\ntitle = \"Victim\"\ndescription = \"[[sim:victim]]\"\n[[steps]]\nid = \"r\"\ntitle = \"Rogue\"\ndescription = \"[[sim:rogue]]\"\n";

/// A run where the rogue worker attacks the victim's task while both run
/// (the rogue waits for `$ENKI_DIR/attack`, the victim for `go`); returns
/// the run's exit code once both ended, the victim's task id and its
/// activity right after the attack.
fn attack_another_task(project: &Project) -> (Option<i32>, String, serde_json::Value) {
    project.gated_script("victim", "go", "victim.txt");
    let steps = [
        "  { tool = \"enki_worker_report\", args = { status = \"working\" } },".to_string(),
        "  { run = 'while [ ! -f \"$ENKI_DIR/attack\" ]; do sleep 0.02; done' },".to_string(),
        format!("  {{ run = '''{SELF_DECLARED_TASK}''' }},"),
        "  { write = \"legit.txt\", content = \"legit\\n\" },".to_string(),
        "  { say = \"[OUTPUT]done[/OUTPUT]\" },".to_string(),
    ];
    project.script("rogue", &one_turn(&steps.join("\n")));
    let plan = project.plan(TWO_STEPS);
    let child = project.spawn_enki(&["run", "--plan", plan.to_str().unwrap()]);
    project.wait_until("both workers run, the victim waiting", || {
        project.status_of("r") == "running"
            && project.status_of("v") == "running"
            && project.task_by_step("v")["activity"] == "waiting for go"
    });
    let victim = project.task_id("v");
    std::fs::write(project.enki_dir().join("attack"), "").unwrap();
    project.wait_until("the rogue is done", || project.status_of("r") == "done");
    let activity = project.task_by_step("v")["activity"].clone();
    std::fs::write(project.enki_dir().join("go"), "").unwrap();
    let output = enki_tests::wait_output(child, std::time::Duration::from_secs(120));
    assert!(output.status.code().is_some(), "{}", describe(&output));
    let victims = std::fs::read_to_string(project.root.join("victims.txt")).unwrap_or_default();
    assert_eq!(victims.trim(), victim, "the rogue found the victim's copy");
    (output.status.code(), victim, activity)
}

#[test]
fn a_worker_cannot_act_as_another_task() {
    let project = Project::with_sim("[workers]\nretries = 0\n");
    let (code, victim, activity) = attack_another_task(&project);
    assert_eq!(code, Some(0));
    assert_eq!(
        activity, "waiting for go",
        "a worker reported for another task"
    );
    for (file, content) in [("legit.txt", "legit\n"), ("victim.txt", "victim.txt\n")] {
        assert_eq!(
            std::fs::read_to_string(project.root.join(file)).unwrap(),
            content,
            "{file} landed"
        );
    }
    assert!(
        !project.root.join("planted.txt").exists(),
        "the rogue edited the victim's copy"
    );
    // The server ran, inside the sandbox, and both calls failed there.
    let rogue = std::fs::read_to_string(project.root.join("rogue.txt")).unwrap();
    assert_eq!(rogue.matches("\"isError\":true").count(), 2, "{rogue}");
    assert!(
        !rogue.contains("\"isError\":false"),
        "a self-declared task's call succeeded: {rogue}"
    );
    let forged: Vec<_> = project
        .audit_lines()
        .into_iter()
        .filter(|line| line["task"] == victim.as_str() && line["tool"] != "enki_worker_report")
        .collect();
    assert!(forged.is_empty(), "audited as the victim: {forged:?}");
    assert!(
        !project
            .events_of(&victim, "worker_report")
            .iter()
            .any(|e| e.to_string().contains("FORGED")),
        "a forged report was recorded"
    );
}

#[test]
fn without_the_sandbox_the_same_worker_acts_as_another_task() {
    let project = Project::with_sim("[workers]\nretries = 0\n[sandbox]\nmode = \"off\"\n");
    let (code, _, activity) = attack_another_task(&project);
    assert_eq!(code, Some(0));
    assert_eq!(activity, "FORGED REPORT");
    // The edit went into the victim's copy and landed with its work.
    assert_eq!(
        std::fs::read_to_string(project.root.join("planted.txt")).unwrap(),
        "planted\n"
    );
}
