//! Steps that do the work of a turn: say/think/plan with templating, file
//! steps with and without ACP fs, `run`, and permission requests.

use enki_tests::one_turn;

use crate::Fixture;
use crate::client::Permission;

#[test]
fn say_think_plan_and_templating() {
    let fixture = Fixture::new(&[(
        "s.toml",
        &one_turn(
            "{ say = \"Prompt was: {{prompt}}; who: {{env.SIM_TEST_WHO}}; cwd: {{cwd}}\" },\n\
             { think = \"thinking about {{session}}\" },\n\
             { plan = [\"read\", \"edit\", \"test\"] },",
        ),
    )]);
    let (mut agent, session) = fixture.agent(false);
    let turn = agent.prompt(&session, "[[sim:s]] hello");
    assert_eq!(turn.stop_reason(), "end_turn");
    assert_eq!(
        turn.text(),
        format!(
            "Prompt was: [[sim:s]] hello; who: tester; cwd: {}",
            fixture.cwd().display()
        )
    );
    assert!(
        turn.of_kind("agent_message_chunk").len() > 1,
        "long text is streamed in chunks"
    );
    let thought = turn.of_kind("agent_thought_chunk")[0];
    assert_eq!(
        thought["content"]["text"],
        format!("thinking about {session}")
    );
    let plan = turn.of_kind("plan")[0];
    let entries: Vec<&str> = plan["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["content"].as_str().unwrap())
        .collect();
    assert_eq!(entries, ["read", "edit", "test"]);
    assert_eq!(plan["entries"][0]["status"], "pending");
    assert_eq!(agent.finish().code(), Some(0));
}

#[test]
fn files_directly_when_the_client_offers_no_fs() {
    let fixture = Fixture::new(&[(
        "files.toml",
        &one_turn(
            "{ write = \"sub/a.txt\", content = \"one\\n\" },\n\
             { append = \"sub/a.txt\", content = \"two\\n\" },\n\
             { read = \"sub/a.txt\" },\n\
             { delete = \"old.txt\" },\n\
             { delete = \"never-existed.txt\" },",
        ),
    )]);
    std::fs::write(fixture.cwd().join("old.txt"), "bye").unwrap();
    let (mut agent, session) = fixture.agent(false);
    let turn = agent.prompt(&session, "[[sim:files]]");
    assert_eq!(turn.stop_reason(), "end_turn", "{}", turn.response);
    assert!(
        agent.served.is_empty(),
        "no fs requests: {:?}",
        agent.served
    );
    assert_eq!(
        std::fs::read_to_string(fixture.cwd().join("sub/a.txt")).unwrap(),
        "one\ntwo\n"
    );
    assert!(!fixture.cwd().join("old.txt").exists());
    assert!(
        turn.text().contains("one"),
        "read is echoed: {}",
        turn.text()
    );
    let kinds: Vec<&str> = turn
        .of_kind("tool_call")
        .iter()
        .map(|c| c["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["edit", "edit", "read", "delete", "delete"]);
    assert_eq!(agent.finish().code(), Some(0));
}

#[test]
fn files_through_acp_fs_when_offered_and_never_outside_cwd() {
    let fixture = Fixture::new(&[
        (
            "files.toml",
            &one_turn(
                "{ append = \"notes.md\", content = \"more\\n\" },\n\
                 { read = \"notes.md\" },",
            ),
        ),
        (
            "escape.toml",
            &one_turn("{ write = \"../outside.txt\", content = \"x\" }"),
        ),
    ]);
    let cwd = fixture.cwd();
    std::fs::write(cwd.join("notes.md"), "first\n").unwrap();
    let (mut agent, session) = fixture.agent(true);
    let turn = agent.prompt(&session, "[[sim:files]]");
    assert_eq!(turn.stop_reason(), "end_turn", "{}", turn.response);
    let methods: Vec<&str> = agent.served.iter().map(|(m, _)| m.as_str()).collect();
    assert_eq!(
        methods,
        [
            "fs/read_text_file",
            "fs/write_text_file",
            "fs/read_text_file"
        ]
    );
    assert_eq!(agent.served[1].1["content"], "first\nmore\n");
    assert_eq!(
        std::fs::read_to_string(cwd.join("notes.md")).unwrap(),
        "first\nmore\n"
    );
    assert!(turn.text().contains("first"), "{}", turn.text());

    agent.served.clear();
    let turn = agent.prompt(&session, "[[sim:escape]]");
    assert!(turn.error_message().contains("leaves"), "{}", turn.response);
    assert!(agent.served.is_empty(), "nothing was asked of the client");
    assert!(!cwd.parent().unwrap().join("outside.txt").exists());
    assert_eq!(agent.finish().code(), Some(0));
}

#[test]
fn run_reports_output_and_checks_the_exit_status() {
    let fixture = Fixture::new(&[
        (
            "ok.toml",
            &one_turn(
                "{ run = \"echo out-text; echo err-text >&2; pwd; exit 3\", expect_status = 3 }",
            ),
        ),
        (
            "bad.toml",
            &one_turn("{ run = \"exit 1\" },\n{ say = \"never\" }"),
        ),
    ]);
    let (mut agent, session) = fixture.agent(false);
    let turn = agent.prompt(&session, "[[sim:ok]]");
    assert_eq!(turn.stop_reason(), "end_turn", "{}", turn.response);
    let call = turn.of_kind("tool_call")[0];
    assert_eq!(call["kind"], "execute");
    let update = turn.of_kind("tool_call_update")[0];
    assert_eq!(update["status"], "completed");
    let text = update["content"][0]["content"]["text"].as_str().unwrap();
    for expected in ["exit status 3", "out-text", "err-text"] {
        assert!(text.contains(expected), "{expected} in {text}");
    }
    assert!(
        text.contains(&fixture.cwd().display().to_string()),
        "runs in the session cwd: {text}"
    );
    assert_eq!(update["rawOutput"]["exit_code"], 3);

    let turn = agent.prompt(&session, "[[sim:bad]]");
    assert!(
        turn.error_message().contains("exit status 1"),
        "{}",
        turn.response
    );
    assert!(!turn.text().contains("never"));
    assert_eq!(turn.of_kind("tool_call_update")[0]["status"], "failed");
    assert_eq!(agent.finish().code(), Some(0));
}

#[test]
fn permission_allowed_rejected_and_continue() {
    let fixture = Fixture::new(&[
        (
            "strict.toml",
            &one_turn(
                "{ permission = \"Edit src/lib.rs\", on_deny = \"fail\" },\n{ say = \"permitted\" }",
            ),
        ),
        (
            "lenient.toml",
            &one_turn(
                "{ permission = \"Edit src/lib.rs\", on_deny = \"continue\" },\n{ say = \"after\" }",
            ),
        ),
    ]);
    let (mut agent, session) = fixture.agent(false);

    agent.permission = Permission::Select("allow-once");
    let turn = agent.prompt(&session, "[[sim:strict]]");
    assert_eq!(turn.stop_reason(), "end_turn");
    assert_eq!(turn.text(), "permitted");
    let (method, params) = &agent.served[0];
    assert_eq!(method, "session/request_permission");
    assert_eq!(params["sessionId"], session.as_str());
    assert_eq!(params["toolCall"]["title"], "Edit src/lib.rs");
    assert!(params["toolCall"]["toolCallId"].is_string());
    let kinds: Vec<&str> = params["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["allow_once", "allow_always", "reject_once", "reject_always"]
    );

    // Denied with on_deny = "fail": stopReason refusal, the rest is skipped.
    agent.permission = Permission::Select("reject-once");
    let turn = agent.prompt(&session, "[[sim:strict]]");
    assert_eq!(turn.stop_reason(), "refusal", "{}", turn.response);
    assert!(!turn.text().contains("permitted"));
    assert!(turn.text().contains("denied"), "{}", turn.text());

    agent.permission = Permission::Select("reject-always");
    let turn = agent.prompt(&session, "[[sim:lenient]]");
    assert_eq!(turn.stop_reason(), "end_turn");
    assert!(turn.text().ends_with("after"), "{}", turn.text());

    // A cancelled permission request cancels the turn.
    agent.permission = Permission::Cancelled;
    let turn = agent.prompt(&session, "[[sim:strict]]");
    assert_eq!(turn.stop_reason(), "cancelled");
    assert_eq!(agent.finish().code(), Some(0));
}
