//! Session modes: what `session/new` says about the modes a session can run
//! in (`modes {currentModeId, availableModes}`, or a `configOptions` entry of
//! category `mode`), and the request that changes it.
//!
//! Whether a mode asks the client before acting is not in the protocol;
//! callers judge the ids (see `enki_config::ModeKind`).

use serde_json::Value;

use crate::updates::str_field;

/// One mode the agent offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionMode {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
}

/// How the session's mode is changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModeControl {
    /// `session/set_mode {modeId}` (the `modes` field).
    SetMode,
    /// `session/set_config_option {configId, value}` (a `configOptions`
    /// entry of category `mode`, for agents without `modes`).
    ConfigOption { config_id: String },
}

/// The session's modes as the agent declared them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionModes {
    pub current: String,
    pub available: Vec<SessionMode>,
    pub control: ModeControl,
}

impl SessionModes {
    /// Reads the modes of a `session/new` (or `session/set_config_option`)
    /// result: `modes` when present (every agent that has it answers
    /// `session/set_mode`), else the first `configOptions` select of category
    /// `mode`. `None` when the agent declares neither.
    pub fn from_result(result: &Value) -> Option<SessionModes> {
        result
            .get("modes")
            .and_then(from_modes)
            .or_else(|| from_config_options(result))
    }

    /// Whether the agent offers `id`.
    pub fn offers(&self, id: &str) -> bool {
        self.available.iter().any(|m| m.id == id)
    }

    /// The offered ids, for messages.
    pub fn ids(&self) -> Vec<&str> {
        self.available.iter().map(|m| m.id.as_str()).collect()
    }
}

fn from_modes(modes: &Value) -> Option<SessionModes> {
    let current = str_field(modes, "currentModeId")?;
    let available = modes
        .get("availableModes")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|m| {
                    let id = str_field(m, "id")?;
                    Some(SessionMode {
                        name: str_field(m, "name").unwrap_or_else(|| id.clone()),
                        description: str_field(m, "description"),
                        id,
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    Some(SessionModes {
        current,
        available,
        control: ModeControl::SetMode,
    })
}

/// The mode entry of `configOptions`, when the result has one.
pub(crate) fn from_config_options(result: &Value) -> Option<SessionModes> {
    let option = result
        .get("configOptions")?
        .as_array()?
        .iter()
        .find(|o| str_field(o, "category").as_deref() == Some("mode"))?;
    let config_id = str_field(option, "id")?;
    let current = str_field(option, "currentValue")?;
    // Options may be flat or grouped (`{group, name, options: [...]}`).
    let mut available = Vec::new();
    for entry in option.get("options").and_then(Value::as_array)? {
        let flat = match entry.get("options").and_then(Value::as_array) {
            Some(group) => group.iter().collect(),
            None => vec![entry],
        };
        available.extend(flat.into_iter().filter_map(|o| {
            let id = str_field(o, "value")?;
            Some(SessionMode {
                name: str_field(o, "name").unwrap_or_else(|| id.clone()),
                description: str_field(o, "description"),
                id,
            })
        }));
    }
    Some(SessionModes {
        current,
        available,
        control: ModeControl::ConfigOption { config_id },
    })
}

/// The mode a `session/update` reports, when it reports one:
/// `current_mode_update {currentModeId}` or a `config_option_update` whose
/// mode option changed.
pub(crate) fn reported_mode(update: &Value) -> Option<String> {
    match str_field(update, "sessionUpdate")?.as_str() {
        "current_mode_update" => str_field(update, "currentModeId"),
        "config_option_update" => from_config_options(update).map(|m| m.current),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn modes_are_read_from_the_modes_field() {
        let result = json!({"sessionId": "s", "modes": {"currentModeId": "auto", "availableModes": [
            {"id": "auto", "name": "Auto"}, {"id": "default", "name": "Default", "description": "asks"},
            {"name": "no id"}]}});
        let modes = SessionModes::from_result(&result).unwrap();
        assert_eq!(modes.current, "auto");
        assert_eq!(modes.ids(), ["auto", "default"]);
        assert_eq!(modes.available[1].description.as_deref(), Some("asks"));
        assert_eq!(modes.control, ModeControl::SetMode);
        assert!(modes.offers("default") && !modes.offers("plan"));
    }

    #[test]
    fn config_options_stand_in_when_there_are_no_modes() {
        let result = json!({"sessionId": "s", "configOptions": [
            {"id": "model", "category": "model", "type": "select", "currentValue": "m", "options": []},
            {"id": "approval", "category": "mode", "type": "select", "currentValue": "full-access",
             "options": [{"value": "read-only", "name": "Read Only"},
                         {"group": "g", "name": "G", "options": [{"value": "full-access", "name": "Full"}]}]}]});
        let modes = SessionModes::from_result(&result).unwrap();
        assert_eq!(modes.current, "full-access");
        assert_eq!(modes.ids(), ["read-only", "full-access"]);
        assert_eq!(
            modes.control,
            ModeControl::ConfigOption {
                config_id: "approval".into()
            }
        );
    }

    #[test]
    fn no_modes_is_none() {
        assert_eq!(SessionModes::from_result(&json!({"sessionId": "s"})), None);
        assert_eq!(
            SessionModes::from_result(&json!({"modes": {"availableModes": []}})),
            None
        );
    }

    #[test]
    fn updates_report_modes() {
        assert_eq!(
            reported_mode(
                &json!({"sessionUpdate": "current_mode_update", "currentModeId": "default"})
            ),
            Some("default".into())
        );
        let update = json!({"sessionUpdate": "config_option_update", "configOptions": [
            {"id": "mode", "category": "mode", "currentValue": "plan", "options": []}]});
        assert_eq!(reported_mode(&update), Some("plan".into()));
        assert_eq!(reported_mode(&json!({"sessionUpdate": "plan"})), None);
    }
}
