//! Roles are not the agent's to choose: a sandboxed `sim` worker reaches
//! enki's tools only through the coordinator's HTTP server, whose token
//! fixes its role and task. A worker that starts its own `enki mcp --role
//! planner`, writes the store or the events folder, or looks for other
//! agents' tokens in the server's process changes nothing, and its
//! legitimate work still lands.

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
