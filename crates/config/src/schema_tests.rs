//! Parsing one `enki.toml`: every key, wrong types, unknown keys and
//! bad values named with their file, line and dotted key.

use super::*;

/// The error for `text`, checked to name the file.
fn error(text: &str) -> ConfigError {
    let err = parse_file(Path::new("/p/.enki/enki.toml"), text).unwrap_err();
    assert_eq!(err.file, Path::new("/p/.enki/enki.toml"));
    err
}

fn check(text: &str, line: usize, key: Option<&str>, message: &str) {
    let err = error(text);
    assert_eq!(err.line, Some(line), "{err}");
    assert_eq!(err.key.as_deref(), key, "{err}");
    assert!(err.message.contains(message), "{err}");
}

#[test]
fn a_full_file_parses() {
    let text = r#"
[workers]
max_workers = 6
max_light = 4
max_standard = 2
max_heavy = 1
retries = 0
stall_timeout_secs = 300
api_retry_limit_secs = 45
limit_backoff_secs = 5
limit_backoff_max_secs = 40

[agent]
command = "claude"
args = []
env = { X = "1" }
auth_method = "oauth"
init_timeout_secs = 10

[agent.coordinator]
command = "codex"
turn_timeout_secs = 120
[agent.worker]
args = ["-v"]
[agent.merger]
env.Y = "2"
[agent.light]
command = "sim"
[agent.standard]
[agent.heavy]
command = "'/opt/big agent' --think"

[git]
commit_suffix = "x"
base_branch = "main"

[merge]
verify = "make test"
verify_timeout_secs = 60

[permissions]
policy = "deny_all"

[sim]
scripts = "s"

[mcp]
rate_limit = { per_second = 5, burst = 10 }
busy_timeout_ms = 500
traffic_log_max_bytes = 65536
"#;
    let f = parse_file(Path::new("enki.toml"), text).unwrap();
    assert_eq!(f.mcp.rate_limit.burst, Some(10));
    assert_eq!(f.workers.api_retry_limit_secs, Some(45));
    assert_eq!(f.workers.limit_backoff_secs, Some(5));
    assert_eq!(f.workers.limit_backoff_max_secs, Some(40));
    assert_eq!(f.workers.max_heavy, Some(1));
    assert_eq!(f.agent.merger.env["Y"], "2");
    assert_eq!(f.agent.coordinator.turn_timeout_secs, Some(120));
    assert_eq!(f.permissions.policy, Some(PermissionPolicyName::DenyAll));
    assert!(parse_file(Path::new("enki.toml"), "").is_ok());
}

#[test]
fn unknown_top_level_table() {
    check(
        "[workers]\nmax_workers = 2\n\n[colours]\nred = 1\n",
        4,
        Some("colours"),
        "unknown field `colours`",
    );
}

#[test]
fn unknown_key_in_a_sub_table() {
    check(
        "[agent]\ncommand = \"codex\"\n\n[agent.worker]\ncomand = \"x\"\n",
        5,
        Some("agent.worker.comand"),
        "unknown field `comand`",
    );
    check(
        "[agent]\nworker = { args = [], comand = \"x\" }\n",
        2,
        Some("agent.worker.comand"),
        "unknown field `comand`",
    );
    check(
        "[agent.wroker]\ncommand = \"x\"\n",
        1,
        Some("agent.wroker"),
        "unknown field `wroker`",
    );
    check(
        "[git]\nbranch = \"main\"\n",
        2,
        Some("git.branch"),
        "unknown field",
    );
}

#[test]
fn wrong_types() {
    check(
        "[workers]\nmax_workers = \"four\"\n",
        2,
        Some("workers.max_workers"),
        "invalid type: string \"four\"",
    );
    check(
        "[agent.worker]\nargs = \"x\"\n",
        2,
        Some("agent.worker.args"),
        "invalid type",
    );
    check(
        "[agent]\nargs = [\n  \"a\",\n  7,\n]\n",
        4,
        Some("agent.args"),
        "invalid type",
    );
    check(
        "[agent]\nenv = { A = 1 }\n",
        2,
        Some("agent.env.A"),
        "invalid type",
    );
    check("agent = 3\n", 1, Some("agent"), "expected a table");
    check(
        "[merge]\nverify_timeout_secs = 1.5\n",
        2,
        Some("merge.verify_timeout_secs"),
        "invalid type",
    );
    check(
        "[merge]\nverify = \"x\"\nreview = \"sometimes\"\n",
        3,
        Some("merge.review"),
        "expected `auto` or `ask`",
    );
}

#[test]
fn negative_and_zero_numbers() {
    check(
        "[workers]\nretries = -1\n",
        2,
        Some("workers.retries"),
        "-1",
    );
    check(
        "[workers]\n\nmax_workers = 0\n",
        3,
        Some("workers.max_workers"),
        "must be at least 1",
    );
    check(
        "[workers]\nmax_heavy = 0\n",
        2,
        Some("workers.max_heavy"),
        "must be at least 1",
    );
    check(
        "[workers]\nstall_timeout_secs = 0\n",
        2,
        Some("workers.stall_timeout_secs"),
        "must be at least 1",
    );
    check(
        "[workers]\napi_retry_limit_secs = 0\n",
        2,
        Some("workers.api_retry_limit_secs"),
        "must be at least 1",
    );
    let ok = parse_file(Path::new("x"), "[workers]\nretries = 0\n").unwrap();
    assert_eq!(ok.workers.retries, Some(0));
}

#[test]
fn mcp_limits_are_checked_where_they_are_written() {
    check(
        "[mcp]\nrate_limit = { per_second = 0, burst = 5 }\n",
        2,
        Some("mcp.rate_limit.per_second"),
        "must be at least 1",
    );
    check(
        "[mcp.rate_limit]\nper_second = 3\n\nburst = 0\n",
        4,
        Some("mcp.rate_limit.burst"),
        "must be at least 1",
    );
    check(
        "[mcp]\nrate_limit = { per_second = 2.5 }\n",
        2,
        Some("mcp.rate_limit.per_second"),
        "invalid type",
    );
    check(
        "[mcp]\nrate_limit = 20\n",
        2,
        Some("mcp.rate_limit"),
        "expected a table like { per_second = 20, burst = 100 }",
    );
    check(
        "[mcp]\nrate_limit = { per_minute = 20 }\n",
        2,
        Some("mcp.rate_limit.per_minute"),
        "unknown field `per_minute`",
    );
    check(
        "[mcp]\nbusy_timeout_ms = 0\n",
        2,
        Some("mcp.busy_timeout_ms"),
        "must be at least 1",
    );
    check(
        "[mcp]\ntraffic_log_max_bytes = -1\n",
        2,
        Some("mcp.traffic_log_max_bytes"),
        "-1",
    );
}

#[test]
fn sandbox_network_is_any_loopback_or_none_with_forwarded_ports() {
    let f = parse_file(
        Path::new("x"),
        "[sandbox]\nnetwork = \"loopback\"\nloopback_ports = [11434, 8080]\n",
    )
    .unwrap();
    assert_eq!(f.sandbox.network(), Ok(Some(Network::Loopback)));
    assert_eq!(f.sandbox.loopback_ports, Some(vec![11434, 8080]));
    check(
        "[sandbox]\nnetwork = \"lan\"\n",
        2,
        Some("sandbox.network"),
        "expected any, loopback or none",
    );
    check(
        "[sandbox]\nloopback_ports = [0]\n",
        2,
        Some("sandbox.loopback_ports"),
        "port 0",
    );
    check(
        "[sandbox]\nloopback_ports = [70000]\n",
        2,
        Some("sandbox.loopback_ports"),
        "70000",
    );
    let many: Vec<String> = (1..=40).map(|p| p.to_string()).collect();
    check(
        &format!("[sandbox]\nloopback_ports = [{}]\n", many.join(", ")),
        2,
        Some("sandbox.loopback_ports"),
        "at most 31",
    );
    check(
        "[sandbox]\nmode = \"maybe\"\n",
        2,
        Some("sandbox.mode"),
        "unknown variant",
    );
    let f = parse_file(Path::new("x"), "[sandbox]\nnetwork = \"none\"\n").unwrap();
    assert_eq!(f.sandbox.network(), Ok(Some(Network::None)));
}

#[test]
fn only_the_coordinator_has_a_turn_timeout_and_it_is_never_zero() {
    let err = error("[agent.coordinator]\nturn_timeout_secs = 0\n");
    assert_eq!(
        err.key.as_deref(),
        Some("agent.coordinator.turn_timeout_secs")
    );
    assert!(err.message.contains("at least 1"), "{err}");
    let err = error("[agent.worker]\nturn_timeout_secs = 60\n");
    assert_eq!(err.key.as_deref(), Some("agent.worker.turn_timeout_secs"));
}

#[test]
fn bad_permission_policy() {
    let err = error("[permissions]\npolicy = \"maybe\"\n");
    assert_eq!(err.line, Some(2));
    assert_eq!(err.key.as_deref(), Some("permissions.policy"));
    assert!(err.message.contains("unknown variant `maybe`"), "{err}");
    assert!(err.message.contains("within_copy"), "{err}");
}

#[test]
fn agent_decides_is_a_boolean() {
    let err = error("[permissions]\nagent_decides = \"yes\"\n");
    assert_eq!(err.line, Some(2));
    assert_eq!(err.key.as_deref(), Some("permissions.agent_decides"));
    assert!(err.message.contains("bool"), "{err}");
}

#[test]
fn invalid_toml() {
    let err = error("[workers]\nmax_workers = \n");
    assert_eq!((err.line, err.key.as_deref()), (Some(2), None), "{err}");
    let err = error("[agent]\ncommand = \"codex\"\ncommand = \"gemini\"\n");
    assert_eq!(err.line, Some(3), "{err}");
    assert_eq!(err.key.as_deref(), Some("agent.command"), "{err}");
    assert_eq!(
        err.to_string(),
        "/p/.enki/enki.toml:3: `agent.command`: duplicate key"
    );
    let err = error("\n\n[agent\n");
    assert_eq!(err.line, Some(3), "{err}");
}

#[test]
fn duplicate_keys_are_named() {
    for (text, line, key) in [
        (
            "[workers]\nretries = 1\n\nretries = 2\n",
            4,
            "workers.retries",
        ),
        (
            "[agent]\nenv = { A = \"1\", A = \"2\" }\n",
            2,
            "agent.env.A",
        ),
        (
            "[agent.worker]\nenv.X = \"1\"\nenv.X = \"2\"\n",
            3,
            "agent.worker.env.X",
        ),
        (
            "[agent]\n\"command\" = \"a\"\ncommand = \"b\"\n",
            3,
            "agent.command",
        ),
        ("[git]\nbase_branch = \"m\"\n[git]\n", 3, "git"),
        ("[agent.heavy]\n[agent.heavy]\n", 2, "agent.heavy"),
        ("max = 1\nmax = 2\n", 2, "max"),
    ] {
        check(text, line, Some(key), "duplicate key");
    }
}

#[test]
fn bad_commands_and_env() {
    check(
        "[agent.heavy]\ncommand = \"agent 'unclosed\"\n",
        2,
        Some("agent.heavy.command"),
        "unbalanced '",
    );
    check(
        "[agent]\ncommand = \"  \"\n",
        2,
        Some("agent.command"),
        "must not be empty",
    );
    check(
        "[agent]\nenv = { CLAUDECODE = \"1\" }\n",
        2,
        Some("agent.env.CLAUDECODE"),
        "cannot be set",
    );
    check(
        "[agent.worker]\nenv.ENKI_DIR = \"/x\"\n",
        2,
        Some("agent.worker.env.ENKI_DIR"),
        "set by enki",
    );
    check(
        "[agent]\nenv = { \"A=B\" = \"1\" }\n",
        2,
        Some("agent.env.A=B"),
        "not a valid environment variable name",
    );
    check(
        "[git]\nbase_branch = \"\"\n",
        2,
        Some("git.base_branch"),
        "must not be empty",
    );
}

#[test]
fn display_has_file_line_and_key() {
    let err = error("[agent.worker]\ncomand = \"x\"\n");
    assert!(
        err.to_string()
            .starts_with("/p/.enki/enki.toml:2: `agent.worker.comand`: unknown field `comand`"),
        "{err}"
    );
}

#[test]
fn no_input_panics() {
    let text = "[workers]\nmax_workers = 2\n[agent]\ncommand = \"a 'b c'\"\nenv = { K = \"v\" }\n[agent.worker]\nargs = [\"x\", \"y\"]\n[permissions]\npolicy = \"ask\"\n[sim]\nscripts = \"s\"\n";
    let file = Path::new("f.toml");
    for (i, _) in text.char_indices() {
        let _ = parse_file(file, &text[..i]);
        for insert in [
            "\"", "'", "[", "]", "=", "\n", "0", "-", "{", ".", "\\", "é",
        ] {
            let mut mutated = text.to_string();
            mutated.insert_str(i, insert);
            let _ = parse_file(file, &mutated);
        }
        let mut removed = text.to_string();
        removed.remove(i);
        let _ = parse_file(file, &removed);
    }
}

#[test]
fn copies_take_the_listed_ignored_files_and_a_setup_command() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("enki.toml");
    std::fs::write(
        &path,
        "[workers]\ncopy_ignored = \"listed\"\ninclude = [\".env\", \"config/*.local\"]\nsetup = \"npm ci\"\nsetup_timeout_secs = 30\n",
    )
    .unwrap();
    let config = crate::Config::load_files(std::slice::from_ref(&path)).unwrap();
    assert_eq!(config.workers.copy_ignored, crate::CopyIgnored::Listed);
    assert_eq!(config.workers.include, [".env", "config/*.local"]);
    assert_eq!(config.workers.setup.as_deref(), Some("npm ci"));
    assert_eq!(config.workers.setup_timeout_secs, 30);
    for (text, line, key) in [
        (
            "[workers]\ncopy_ignored = \"some\"\n",
            2,
            "workers.copy_ignored",
        ),
        ("[workers]\ninclude = [\"\"]\n", 2, "workers.include"),
        ("[workers]\nsetup = \" \"\n", 2, "workers.setup"),
    ] {
        let err = error(text);
        assert_eq!(
            (err.line, err.key.as_deref()),
            (Some(line), Some(key)),
            "{err}"
        );
    }
}
