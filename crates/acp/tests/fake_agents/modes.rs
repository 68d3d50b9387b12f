//! Session modes: `session/new` answers `modes` (or a mode config option),
//! and `session/set_mode` / `session/set_config_option` switch it; the
//! client returns the mode the agent reports.

use enki_acp::{AcpClient, ModeControl};

use crate::{Fixture, options};

/// Starts in `auto`; `set_mode` to `default` is reported by a
/// `current_mode_update`, to anything else refused; the config option
/// answers its new value.
const MODES: &str = r#"
while IFS= read -r line; do
  id=$(idof "$line")
  case "$line" in
    *'"method":"initialize"'*) reply "$id" "$INIT" ;;
    *'"method":"session/new"'*) reply "$id" '{"sessionId":"sess-1","modes":{"currentModeId":"auto","availableModes":[{"id":"auto","name":"Auto"},{"id":"default","name":"Default","description":"asks"}]}}' ;;
    *'"method":"session/set_mode"'*'"modeId":"default"'*)
      update '{"sessionUpdate":"current_mode_update","currentModeId":"default"}'
      reply "$id" '{}' ;;
    *'"method":"session/set_mode"'*'"modeId":"sticky"'*)
      update '{"sessionUpdate":"current_mode_update","currentModeId":"auto"}'
      reply "$id" '{}' ;;
    *'"method":"session/set_mode"'*)
      printf '{"jsonrpc":"2.0","id":%s,"error":{"code":-32602,"message":"no such mode"}}\n' "$id" ;;
    *'"method":"session/set_config_option"'*'"value":"read-only"'*)
      reply "$id" '{"configOptions":[{"id":"approval","category":"mode","type":"select","currentValue":"read-only","options":[]}]}' ;;
  esac
done
"#;

#[tokio::test]
async fn modes_are_parsed_and_switched() {
    let fx = Fixture::new();
    let (client, _events) = AcpClient::spawn(fx.agent("modes.sh", MODES), options())
        .await
        .unwrap();
    client.initialize().await.unwrap();
    let session = client.open_session(&fx.cwd(), &[]).await.unwrap();
    assert_eq!(session.session_id, "sess-1");
    let modes = session.modes.unwrap();
    assert_eq!(modes.current, "auto");
    assert_eq!(modes.ids(), ["auto", "default"]);
    assert_eq!(modes.control, ModeControl::SetMode);

    let now = client
        .set_mode("sess-1", &modes.control, "default")
        .await
        .unwrap();
    assert_eq!(now, "default");
    // An agent that answers but reports it stayed is believed.
    let now = client
        .set_mode("sess-1", &modes.control, "sticky")
        .await
        .unwrap();
    assert_eq!(now, "auto");
    let refused = client
        .set_mode("sess-1", &modes.control, "plan")
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("no such mode"), "{refused}");
    let control = ModeControl::ConfigOption {
        config_id: "approval".into(),
    };
    let now = client
        .set_mode("sess-1", &control, "read-only")
        .await
        .unwrap();
    assert_eq!(now, "read-only");
    client.shutdown().await;
}

#[tokio::test]
async fn an_agent_without_modes_has_none() {
    let fx = Fixture::new();
    let (client, _events) = AcpClient::spawn(fx.agent("happy.sh", crate::HAPPY), options())
        .await
        .unwrap();
    client.initialize().await.unwrap();
    let session = client.open_session(&fx.cwd(), &[]).await.unwrap();
    assert_eq!(session.modes, None);
    client.shutdown().await;
}
