//! The signal format: envelope, type-specific fields, and validation of untrusted bytes.

use serde::ser::{Error as _, SerializeMap};
use serde::{Deserialize, Serialize, Serializer};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The `v` every signal carries. A file with another version is rejected, not guessed at.
pub const FORMAT_VERSION: u32 = 1;

/// Who wrote the signal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    pub role: String,
    /// Serialized as `null` when `None` (the key is always present).
    pub task_id: Option<String>,
}

/// The type-specific part of a signal, tagged by `"type"` exactly as in `SIGNALS.md`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SignalKind {
    TaskCreated {
        task_id: String,
    },
    ExecutionCreated {
        execution_id: String,
    },
    StepsAdded {
        execution_id: String,
        step_ids: Vec<String>,
    },
    RetryTask {
        task_id: String,
    },
    /// A done task got a follow-up round (`enki followup`).
    FollowupTask {
        task_id: String,
    },
    /// A person approved a task's work that awaited review (`enki approve`).
    ApproveTask {
        task_id: String,
    },
    /// A person rejected a task's work that awaited review (`enki reject`).
    RejectTask {
        task_id: String,
    },
    Pause {
        execution_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        step_id: Option<String>,
    },
    Resume {
        execution_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        step_id: Option<String>,
    },
    Cancel {
        execution_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        step_id: Option<String>,
    },
    StopAll,
    WorkerReport {
        task_id: String,
        status: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        output: Option<String>,
    },
    Mail {
        message_id: String,
        /// The sender's mail address (`coordinator`, `worker/<task id>`, `user`). In a signal
        /// file it is the envelope's `from.address`, next to the writer's role and task (see
        /// [`Signal`]); SIGNALS.md lists `from` among the mail fields.
        from: String,
        to: String,
        subject: String,
        priority: String,
    },
}

impl SignalKind {
    /// Whether the signal announces rows new in the store: a task, an execution, steps. What
    /// it says stays true (the store never deletes them), and the coordinator answers every
    /// accepted one alike, by comparing the whole store with its graph; so one such file,
    /// while it waits, wakes the coordinator for later ones of its writer too ([`write_signal`]
    /// renames it instead of writing another).
    ///
    /// [`write_signal`]: crate::write_signal
    pub fn announces_new_rows(&self) -> bool {
        matches!(
            self,
            SignalKind::TaskCreated { .. }
                | SignalKind::ExecutionCreated { .. }
                | SignalKind::StepsAdded { .. }
        )
    }
}

/// The envelope's `from` member that carries a mail signal's sender address.
/// (`WireOrigin` in `Serialize for Signal` names the same member.)
const MAIL_ADDRESS_KEY: &str = "address";

/// A whole signal file:
/// `{"v":1,"type":...,"at":"<RFC 3339>","session":...|null,"from":{...}, ...type fields}`.
///
/// Serializes with `v` and `type` first so files read naturally; readers must not depend on
/// key order. Unknown extra keys are ignored when reading (forward compatible).
///
/// A `mail` signal's sender address travels in the envelope:
/// `"from": {"role": "worker", "task_id": "task-…", "address": "worker/task-…"}`, and a mail
/// signal without `from.address` is rejected. In memory it is [`SignalKind::Mail`]'s `from`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signal {
    pub v: u32,
    /// RFC 3339 time the signal was written. Validated by [`Signal::parse`].
    pub at: String,
    /// The writer's `ENKI_SESSION_ID`, if any.
    pub session: Option<String>,
    pub from: Origin,
    /// The type and its fields, written beside the envelope keys.
    pub kind: SignalKind,
}

impl Signal {
    /// A version-1 signal stamped with the current UTC time.
    pub fn new(kind: SignalKind, session: Option<String>, from: Origin) -> Signal {
        let at = OffsetDateTime::now_utc()
            .format(&Rfc3339)
            // Only years past 9999 fail to format; the clock would have to be badly wrong.
            .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_owned());
        Signal {
            v: FORMAT_VERSION,
            at,
            session,
            from,
            kind,
        }
    }

    /// Parses and validates the bytes of a signal file. Never panics on bad input: every
    /// problem comes back as a [`ParseError`] whose message names what was wrong.
    pub fn parse(bytes: &[u8]) -> Result<Signal, ParseError> {
        let text = std::str::from_utf8(bytes).map_err(|e| ParseError::NotUtf8(e.to_string()))?;
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| ParseError::Json(e.to_string()))?;
        let serde_json::Value::Object(object) = &value else {
            return Err(ParseError::NotAnObject);
        };
        // Check the version before the shape: a future format may differ in any field, and
        // "unsupported version" is the useful message then.
        match object.get("v") {
            None => return Err(ParseError::Invalid("missing field `v`".to_owned())),
            Some(v) if v.as_u64() == Some(u64::from(FORMAT_VERSION)) => {}
            Some(v) => return Err(ParseError::UnsupportedVersion(v.to_string())),
        }
        let signal = Signal::from_object(value).map_err(ParseError::Invalid)?;
        if let Err(e) = OffsetDateTime::parse(&signal.at, &Rfc3339) {
            return Err(ParseError::BadTimestamp {
                at: signal.at,
                reason: e.to_string(),
            });
        }
        Ok(signal)
    }

    /// The JSON bytes written to a signal file.
    pub fn to_json(&self) -> serde_json::Result<Vec<u8>> {
        serde_json::to_vec(self)
    }

    /// Builds a signal from a parsed JSON value: the envelope, then the type's fields, with a
    /// mail signal's sender taken from `from.address`.
    fn from_object(value: serde_json::Value) -> Result<Signal, String> {
        #[derive(Deserialize)]
        struct Envelope {
            v: u32,
            at: String,
            #[serde(default)]
            session: Option<String>,
            from: Origin,
        }
        let serde_json::Value::Object(mut fields) = value else {
            return Err("not a JSON object".to_owned());
        };
        let envelope_keys = ["v", "at", "session", "from"];
        let envelope: serde_json::Map<String, serde_json::Value> = envelope_keys
            .iter()
            .filter_map(|key| fields.remove_entry(*key))
            .collect();
        let address = envelope
            .get("from")
            .and_then(|from| from.get(MAIL_ADDRESS_KEY))
            .cloned();
        let Envelope {
            v,
            at,
            session,
            from,
        } = serde_json::from_value(serde_json::Value::Object(envelope))
            .map_err(|e| e.to_string())?;
        if fields.get("type").and_then(serde_json::Value::as_str) == Some("mail") {
            match address {
                Some(serde_json::Value::String(address)) if !address.trim().is_empty() => {
                    fields.insert("from".to_owned(), serde_json::Value::String(address));
                }
                Some(other) => {
                    return Err(format!(
                        "a mail signal's `from.{MAIL_ADDRESS_KEY}` must be the sender's mail address (a non-empty string), got {other}"
                    ));
                }
                None => {
                    return Err(format!(
                        "missing field `from.{MAIL_ADDRESS_KEY}` (the sender's mail address) in a mail signal"
                    ));
                }
            }
        }
        let kind: SignalKind =
            serde_json::from_value(serde_json::Value::Object(fields)).map_err(|e| e.to_string())?;
        Ok(Signal {
            v,
            at,
            session,
            from,
            kind,
        })
    }
}

impl<'de> Deserialize<'de> for Signal {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(deserializer)?;
        Signal::from_object(value).map_err(serde::de::Error::custom)
    }
}

/// Hand-written so the envelope keys come first (`v`, `type`, `at`, `session`, `from`), as in
/// `SIGNALS.md`; a derive with `flatten` would put `type` after `from`.
impl Serialize for Signal {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let serde_json::Value::Object(mut fields) =
            serde_json::to_value(&self.kind).map_err(S::Error::custom)?
        else {
            return Err(S::Error::custom("signal kind is not a JSON object"));
        };
        let kind_type = fields.remove("type");
        /// The envelope's `from`: the origin, plus a mail's sender (see `Signal`).
        #[derive(Serialize)]
        struct WireOrigin<'a> {
            role: &'a str,
            task_id: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            address: Option<serde_json::Value>,
        }
        let address = match self.kind {
            SignalKind::Mail { .. } => fields.remove("from"),
            _ => None,
        };
        let from = WireOrigin {
            role: &self.from.role,
            task_id: self.from.task_id.as_deref(),
            address,
        };
        let mut map = serializer.serialize_map(Some(fields.len() + 5))?;
        map.serialize_entry("v", &self.v)?;
        map.serialize_entry("type", &kind_type)?;
        map.serialize_entry("at", &self.at)?;
        map.serialize_entry("session", &self.session)?;
        map.serialize_entry("from", &from)?;
        for (key, value) in &fields {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

/// Why a signal file was rejected. The `Display` text is what goes into the log and
/// [`crate::Rejected::reason`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("not UTF-8: {0}")]
    NotUtf8(String),
    #[error("not valid JSON: {0}")]
    Json(String),
    #[error("not a JSON object")]
    NotAnObject,
    #[error("unsupported format version `v`: {0} (expected {FORMAT_VERSION})")]
    UnsupportedVersion(String),
    /// Unknown `type`, missing or mistyped field; the text is serde's, e.g.
    /// "missing field `task_id`".
    #[error("{0}")]
    Invalid(String),
    #[error("bad `at` timestamp {at:?}: {reason}")]
    BadTimestamp { at: String, reason: String },
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn planner() -> Origin {
        Origin {
            role: "planner".into(),
            task_id: None,
        }
    }

    fn worker() -> Origin {
        Origin {
            role: "worker".into(),
            task_id: Some("T1".into()),
        }
    }

    /// Every kind, with the exact JSON its type-specific part must have.
    fn all_kinds() -> Vec<(SignalKind, Value)> {
        vec![
            (
                SignalKind::TaskCreated {
                    task_id: "T1".into(),
                },
                json!({"type": "task_created", "task_id": "T1"}),
            ),
            (
                SignalKind::ExecutionCreated {
                    execution_id: "E1".into(),
                },
                json!({"type": "execution_created", "execution_id": "E1"}),
            ),
            (
                SignalKind::StepsAdded {
                    execution_id: "E1".into(),
                    step_ids: vec!["a".into(), "b".into()],
                },
                json!({"type": "steps_added", "execution_id": "E1", "step_ids": ["a", "b"]}),
            ),
            (
                SignalKind::RetryTask {
                    task_id: "T2".into(),
                },
                json!({"type": "retry_task", "task_id": "T2"}),
            ),
            (
                SignalKind::FollowupTask {
                    task_id: "T3".into(),
                },
                json!({"type": "followup_task", "task_id": "T3"}),
            ),
            (
                SignalKind::Pause {
                    execution_id: "E1".into(),
                    step_id: None,
                },
                json!({"type": "pause", "execution_id": "E1"}),
            ),
            (
                SignalKind::Pause {
                    execution_id: "E1".into(),
                    step_id: Some("s".into()),
                },
                json!({"type": "pause", "execution_id": "E1", "step_id": "s"}),
            ),
            (
                SignalKind::Resume {
                    execution_id: "E1".into(),
                    step_id: None,
                },
                json!({"type": "resume", "execution_id": "E1"}),
            ),
            (
                SignalKind::Resume {
                    execution_id: "E1".into(),
                    step_id: Some("s".into()),
                },
                json!({"type": "resume", "execution_id": "E1", "step_id": "s"}),
            ),
            (
                SignalKind::Cancel {
                    execution_id: "E1".into(),
                    step_id: None,
                },
                json!({"type": "cancel", "execution_id": "E1"}),
            ),
            (
                SignalKind::Cancel {
                    execution_id: "E1".into(),
                    step_id: Some("s".into()),
                },
                json!({"type": "cancel", "execution_id": "E1", "step_id": "s"}),
            ),
            (SignalKind::StopAll, json!({"type": "stop_all"})),
            (
                SignalKind::WorkerReport {
                    task_id: "T1".into(),
                    status: "running tests".into(),
                    output: None,
                },
                json!({"type": "worker_report", "task_id": "T1", "status": "running tests"}),
            ),
            (
                SignalKind::WorkerReport {
                    task_id: "T1".into(),
                    status: "done".into(),
                    output: Some("added X".into()),
                },
                json!({"type": "worker_report", "task_id": "T1", "status": "done",
                       "output": "added X"}),
            ),
            (
                SignalKind::Mail {
                    message_id: "M1".into(),
                    from: "T1".into(),
                    to: "coordinator".into(),
                    subject: "help".into(),
                    priority: "high".into(),
                },
                // The sender is the envelope's `from.address` (added below).
                json!({"type": "mail", "message_id": "M1",
                       "to": "coordinator", "subject": "help", "priority": "high"}),
            ),
        ]
    }

    #[test]
    fn every_kind_round_trips_to_the_documented_shape() {
        for (kind, kind_json) in all_kinds() {
            for (session, from) in [(None, planner()), (Some("S1".to_owned()), worker())] {
                let signal = Signal::new(kind.clone(), session.clone(), from.clone());
                let bytes = signal.to_json().expect("serializes");
                let text = String::from_utf8(bytes.clone()).expect("utf-8");

                let mut expected = kind_json.as_object().expect("object").clone();
                expected.insert("v".into(), json!(1));
                expected.insert("at".into(), json!(signal.at));
                expected.insert("session".into(), json!(session));
                let mut envelope_from = serde_json::to_value(&from).expect("origin");
                if let SignalKind::Mail { from: sender, .. } = &kind {
                    envelope_from["address"] = json!(sender);
                }
                expected.insert("from".into(), envelope_from);
                let actual: Value = serde_json::from_str(&text).expect("valid JSON");
                assert_eq!(actual, Value::Object(expected), "{text}");

                // Envelope first, exactly as in SIGNALS.md.
                let ty = kind_json["type"].as_str().expect("type");
                assert!(
                    text.starts_with(&format!(r#"{{"v":1,"type":"{ty}","at":""#)),
                    "{text}"
                );
                assert_eq!(Signal::parse(&bytes), Ok(signal.clone()));
                assert_eq!(serde_json::from_str::<Signal>(&text).ok(), Some(signal));
            }
        }
    }

    #[test]
    fn exact_text_of_a_planner_signal() {
        let mut signal = Signal::new(
            SignalKind::StepsAdded {
                execution_id: "E1".into(),
                step_ids: vec!["a".into()],
            },
            None,
            planner(),
        );
        signal.at = "2025-01-02T03:04:05Z".into();
        let text = String::from_utf8(signal.to_json().expect("serializes")).expect("utf-8");
        assert_eq!(
            text,
            r#"{"v":1,"type":"steps_added","at":"2025-01-02T03:04:05Z","session":null,"from":{"role":"planner","task_id":null},"execution_id":"E1","step_ids":["a"]}"#
        );
    }

    #[test]
    fn new_stamps_version_and_current_rfc3339_time() {
        let signal = Signal::new(SignalKind::StopAll, None, planner());
        assert_eq!(signal.v, FORMAT_VERSION);
        let at = OffsetDateTime::parse(&signal.at, &Rfc3339).expect("RFC 3339");
        let age = OffsetDateTime::now_utc() - at;
        assert!(age.whole_seconds().abs() < 60, "{}", signal.at);
        assert_eq!(at.offset(), time::UtcOffset::UTC);
    }

    #[test]
    fn unknown_extra_fields_are_tolerated() {
        let text = r#"{"v":1,"type":"stop_all","at":"2025-01-02T03:04:05+01:00","session":"S",
            "from":{"role":"planner","task_id":null,"pid":7},"future":{"x":[1]}}"#;
        let signal = Signal::parse(text.as_bytes()).expect("valid");
        assert_eq!(signal.kind, SignalKind::StopAll);
        assert_eq!(signal.session.as_deref(), Some("S"));

        let text = r#"{"v":1,"type":"task_created","task_id":"T","extra":true,
            "at":"2025-01-02T03:04:05Z","session":null,"from":{"role":"r","task_id":"T"}}"#;
        let signal = Signal::parse(text.as_bytes()).expect("valid");
        assert_eq!(
            signal.kind,
            SignalKind::TaskCreated {
                task_id: "T".into()
            }
        );
    }

    #[test]
    fn exact_text_of_a_mail_signal_puts_the_sender_in_the_envelope() {
        let mut signal = Signal::new(
            SignalKind::Mail {
                message_id: "M1".into(),
                from: "worker/T1".into(),
                to: "coordinator".into(),
                subject: "help".into(),
                priority: "high".into(),
            },
            Some("S1".into()),
            worker(),
        );
        signal.at = "2025-01-02T03:04:05Z".into();
        let text = String::from_utf8(signal.to_json().expect("serializes")).expect("utf-8");
        assert_eq!(
            text,
            r#"{"v":1,"type":"mail","at":"2025-01-02T03:04:05Z","session":"S1","from":{"role":"worker","task_id":"T1","address":"worker/T1"},"message_id":"M1","priority":"high","subject":"help","to":"coordinator"}"#
        );
        assert_eq!(Signal::parse(text.as_bytes()), Ok(signal));
    }

    #[test]
    fn a_mail_signal_needs_the_sender_address_in_the_envelope() {
        let fields = r#""type":"mail","message_id":"M1","to":"coordinator","subject":"s","priority":"normal","at":"2025-01-02T03:04:05Z","session":null"#;
        let missing = format!(r#"{{"v":1,{fields},"from":{{"role":"planner","task_id":null}}}}"#);
        assert!(
            reason(missing.as_bytes()).contains("from.address"),
            "{}",
            reason(missing.as_bytes())
        );
        // The old layout (`mail_from` beside the envelope) is not the contract.
        let old = format!(
            r#"{{"v":1,{fields},"mail_from":"coordinator","from":{{"role":"planner","task_id":null}}}}"#
        );
        assert!(reason(old.as_bytes()).contains("from.address"));
        for bad in ["null", "7", r#""""#, r#""  ""#] {
            let text = format!(
                r#"{{"v":1,{fields},"from":{{"role":"planner","task_id":null,"address":{bad}}}}}"#
            );
            assert!(reason(text.as_bytes()).contains("from.address"), "{bad}");
        }
        let good = format!(
            r#"{{"v":1,{fields},"from":{{"role":"planner","task_id":null,"address":"coordinator"}}}}"#
        );
        let signal = Signal::parse(good.as_bytes()).expect("valid");
        assert!(
            matches!(&signal.kind, SignalKind::Mail { from, .. } if from == "coordinator"),
            "{signal:?}"
        );
        // Other types do not need (and ignore) an address.
        let stop = r#"{"v":1,"type":"stop_all","at":"2025-01-02T03:04:05Z","session":null,"from":{"role":"user","task_id":null,"address":"user"}}"#;
        assert_eq!(
            Signal::parse(stop.as_bytes()).map(|s| s.kind),
            Ok(SignalKind::StopAll)
        );
    }

    fn reason(bytes: &[u8]) -> String {
        match Signal::parse(bytes) {
            Ok(signal) => panic!("accepted {signal:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn bad_input_is_refused_with_a_reason() {
        let ok = r#""at":"2025-01-02T03:04:05Z","session":null,"from":{"role":"r","task_id":null}"#;
        assert!(reason(b"\x00garbage\xff").starts_with("not UTF-8"));
        assert!(reason(b"{not json").starts_with("not valid JSON"));
        assert!(reason(b"").starts_with("not valid JSON"));
        assert_eq!(reason(b"[1,2]"), "not a JSON object");
        assert_eq!(reason(b"\"sig\""), "not a JSON object");
        assert!(
            reason(format!(r#"{{"v":2,"type":"stop_all",{ok}}}"#).as_bytes()).contains("version")
        );
        assert!(
            reason(format!(r#"{{"v":"1","type":"stop_all",{ok}}}"#).as_bytes()).contains("version")
        );
        assert_eq!(
            reason(format!(r#"{{"type":"stop_all",{ok}}}"#).as_bytes()),
            "missing field `v`"
        );
        assert!(
            reason(format!(r#"{{"v":1,"type":"explode",{ok}}}"#).as_bytes())
                .contains("unknown variant `explode`")
        );
        assert!(reason(format!(r#"{{"v":1,{ok}}}"#).as_bytes()).contains("missing field `type`"));
        assert!(
            reason(format!(r#"{{"v":1,"type":"task_created",{ok}}}"#).as_bytes())
                .contains("missing field `task_id`")
        );
        assert!(
            reason(format!(r#"{{"v":1,"type":"steps_added","execution_id":"E",{ok}}}"#).as_bytes())
                .contains("missing field `step_ids`")
        );
        assert!(
            reason(
                br#"{"v":1,"type":"stop_all","session":null,"from":{"role":"r","task_id":null}}"#
            )
            .contains("missing field `at`")
        );
        assert!(
            reason(br#"{"v":1,"type":"stop_all","at":"2025-01-02T03:04:05Z","session":null}"#)
                .contains("missing field `from`")
        );
        assert!(
            reason(br#"{"v":1,"type":"stop_all","at":"yesterday","session":null,"from":{"role":"r","task_id":null}}"#)
                .starts_with("bad `at` timestamp")
        );
        assert!(
            reason(format!(r#"{{"v":1,"type":"task_created","task_id":7,{ok}}}"#).as_bytes())
                .contains("invalid type")
        );
    }
}
