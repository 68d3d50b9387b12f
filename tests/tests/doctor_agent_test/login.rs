//! `enki doctor`'s login check against `/bin/sh` fake agents: one that
//! refuses a session until it is authenticated (as codex-acp does), and
//! ones that push their login in `_auth/status_update` (as Claude's adapter
//! does), logged in, logged out or silent.

use enki_tests::Project;

use crate::fake_agents::{NEEDS_AUTH, fake_agent};
use crate::{doctor_json, one_check};

/// Declares `_meta.authStatus` and pushes `$STATUS` (when set) after
/// `initialize`.
fn pushing(status: Option<&str>) -> String {
    let push = match status {
        Some(status) => format!(
            r#"printf '%s\n' '{{"jsonrpc":"2.0","method":"_auth/status_update","params":{{"authStatus":{status}}}}}'"#
        ),
        None => ":".into(),
    };
    format!(
        r#"
while IFS= read -r line; do
  id=$(idof "$line")
  case "$line" in
    *'"method":"initialize"'*)
      reply "$id" '{{"protocolVersion":1,"agentCapabilities":{{"_meta":{{"authStatus":{{}}}}}},"authMethods":[{{"id":"claude-login","name":"Log in"}}]}}'
      {push} ;;
    *'"method":"session/new"'*) reply "$id" '{{"sessionId":"s1"}}' ;;
  esac
done
"#
    )
}

fn login_of(project: &Project, agent: &str) -> (Option<i32>, serde_json::Value) {
    let (code, report) = doctor_json(project, &["--agent", agent]);
    (code, one_check(&report, "login of agent ").clone())
}

#[test]
fn an_agent_that_refuses_a_session_for_want_of_a_login_fails_the_login_check() {
    let project = Project::with_sim("");
    let agent = fake_agent(&project, "auth.sh", NEEDS_AUTH);
    let (code, login) = login_of(&project, &agent);
    assert_eq!(code, Some(1), "{login}");
    assert_eq!(login["level"], "error", "{login}");
    assert_eq!(
        login["detail"],
        "not logged in: the agent refused a session (agent answered `session/new` with error -32000: Authentication required)"
    );
    assert_eq!(
        login["fix"],
        "log the agent in with its own tool, or give it its API key in the [agent] `env`; or set `auth_method` in the [agent] section of enki.toml to one the agent offers: key, oauth"
    );

    // With a method it offers configured, doctor authenticates and passes.
    let config = project.enki_dir().join("enki.toml");
    let base = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        base.replace("[agent]\n", "[agent]\nauth_method = \"key\"\n"),
    )
    .unwrap();
    let (_, login) = login_of(&project, &agent);
    assert_eq!(login["level"], "ok", "{login}");
    assert!(
        login["detail"]
            .as_str()
            .unwrap()
            .contains("(it offers: key, oauth)"),
        "{login}"
    );
}

#[test]
fn the_login_an_agent_pushes_is_reported_and_a_logged_out_one_fails() {
    let project = Project::with_sim("");
    let account =
        r#"{"kind":"account","label":"Claude Max","account":{"email":"dev@example.com"}}"#;
    let agent = fake_agent(&project, "in.sh", &pushing(Some(account)));
    let (code, login) = login_of(&project, &agent);
    assert_eq!(code, Some(0), "{login}");
    assert_eq!(login["level"], "ok", "{login}");
    assert_eq!(
        login["detail"],
        "the agent reports: Claude Max (dev@example.com)"
    );

    let none = r#"{"kind":"none","label":"Not logged in"}"#;
    let agent = fake_agent(&project, "out.sh", &pushing(Some(none)));
    let (code, login) = login_of(&project, &agent);
    assert_eq!(code, Some(1), "{login}");
    assert_eq!(login["level"], "error", "{login}");
    assert_eq!(
        login["detail"],
        "the agent reports: Not logged in; its turns would fail"
    );
    assert!(
        login["fix"]
            .as_str()
            .unwrap()
            .ends_with("to one the agent offers: claude-login"),
        "{login}"
    );
}

#[test]
fn an_agent_that_declares_a_login_report_but_sends_none_is_a_warning() {
    let project = Project::with_sim("");
    let config = project.enki_dir().join("enki.toml");
    let base = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        base.replace("[agent]\n", "[agent]\ninit_timeout_secs = 1\n"),
    )
    .unwrap();
    let agent = fake_agent(&project, "silent.sh", &pushing(None));
    let (code, login) = login_of(&project, &agent);
    assert_eq!(code, Some(0), "{login}");
    assert_eq!(login["level"], "warning", "{login}");
    assert_eq!(
        login["detail"],
        "the agent declares that it reports its login, but reported none within 1 s"
    );
}
