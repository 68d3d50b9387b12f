//! The scripted model behind the fake Messages API: which agent a request
//! comes from, and what that agent says next.
//!
//! Claude Code sends the whole conversation with every request, so the fake
//! keeps no session state: the agent is recognised from the request itself
//! (its role from the enki tools it is offered, its script from a
//! `[[e2e:NAME]]` marker in the first user message, which enki's prompt
//! carries from the request or the step description), and its place in the
//! script from the ids of the tool calls and the tags of the answers the fake
//! gave earlier in that conversation.

use std::collections::HashSet;

use serde_json::{Value, json};

/// Every tool-use id the fake hands out: `toolu_e2e_<step>_<kind>_<n>`, kind
/// `t` for the step's own tool call, `s` for the tool search before it.
const ID_PREFIX: &str = "toolu_e2e_";
/// Ends every scripted answer (`[e2e step N]`), so that a later turn of the
/// same session (the planner hears from enki between turns) goes on after it.
const ANSWER_TAG: &str = "[e2e step ";
/// Marks the script an agent follows, in its prompt.
const MARKER_OPEN: &str = "[[e2e:";
/// Claude Code names the agent's working directory in its system context.
const CWD_LINE: &str = "Primary working directory: ";
/// Claude Code's tool that loads the schemas of deferred (MCP) tools.
const TOOL_SEARCH: &str = "ToolSearch";
/// Written in a step's input, replaced by the agent's working directory.
pub const CWD: &str = "{cwd}";

/// The enki role an agent plays, told by the enki MCP tools it is offered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Planner,
    Worker,
    Merger,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Planner => "planner",
            Role::Worker => "worker",
            Role::Merger => "merger",
        }
    }

    /// The role whose tools `request` (serialised) names: only the planner
    /// has `enki_execution_create`, only a worker `enki_worker_report`, and a
    /// merger has the read-only tools alone.
    fn of(request: &str) -> Option<Role> {
        [
            ("mcp__enki__enki_execution_create", Role::Planner),
            ("mcp__enki__enki_worker_report", Role::Worker),
            ("mcp__enki__enki_dag", Role::Merger),
        ]
        .into_iter()
        .find_map(|(tool, role)| request.contains(tool).then_some(role))
    }
}

/// One thing a scripted agent does.
#[derive(Clone, Debug)]
pub enum Step {
    /// Calls a tool: one of Claude Code's (`Write`, `Bash`, …) or an MCP
    /// tool by its full name (`mcp__enki__enki_worker_report`). [`CWD`] in
    /// any string of `input` is replaced by the agent's working directory.
    Tool { name: &'static str, input: Value },
    /// Ends the turn with this text.
    Answer(String),
}

/// What one agent does, step by step.
#[derive(Clone, Debug)]
pub struct Script {
    pub role: Role,
    /// The marker (`[[e2e:NAME]]`, without the brackets) that selects it.
    pub marker: String,
    pub steps: Vec<Step>,
}

/// The fake model's reply to one request.
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    Tool {
        id: String,
        name: String,
        input: Value,
    },
    Text(String),
}

/// A tool result the agent sent back for one of the fake's tool calls.
#[derive(Clone, Debug)]
pub struct Observed {
    /// `worker conflict-a`: the role and the script's marker.
    pub agent: String,
    pub tool: String,
    pub input: Value,
    pub result: String,
    pub is_error: bool,
}

/// What the fake makes of one `POST /v1/messages`.
#[derive(Clone, Debug)]
pub struct Decision {
    /// The agent, when the request is one of a scripted agent's turns.
    pub agent: Option<String>,
    pub reply: Reply,
    /// Results of the fake's earlier tool calls carried by this request.
    pub results: Vec<Observed>,
    /// Something the scenario should fail on (a turn no script answers).
    pub anomaly: Option<String>,
}

/// Decides the reply to a Messages API request `body`. `seq` makes tool-use
/// ids unique.
pub fn decide(scripts: &[Script], body: &Value, seq: u64) -> Decision {
    let text = body.to_string();
    let offers_tools = body["tools"].as_array().is_some_and(|t| !t.is_empty());
    let role = Role::of(&text).filter(|_| offers_tools);
    let markers = markers(&first_user_text(body));
    let script = role.and_then(|role| {
        markers
            .iter()
            .find_map(|m| scripts.iter().find(|s| s.role == role && &s.marker == m))
    });
    let Some(script) = script else {
        // A side request (Claude Code titling the session, …), or an agent
        // turn no script knows.
        let anomaly = (offers_tools && !markers.is_empty()).then(|| {
            format!(
                "a turn with markers {markers:?} offers {} but no script matches",
                role.map_or("no enki tools", Role::as_str)
            )
        });
        return Decision {
            agent: None,
            reply: Reply::Text("Done.".into()),
            results: Vec::new(),
            anomaly,
        };
    };
    let agent = format!("{} {}", script.role.as_str(), script.marker);
    let results = results(body, &agent);
    let cwd = working_directory(&text);
    let (next, searched) = match progress(body) {
        None => (0, false),
        Some((step, Kind::Search)) => (step, true),
        Some((step, Kind::Done)) => (step + 1, false),
    };
    let mut anomaly = None;
    let reply = match script.steps.get(next) {
        None => Reply::Text("Nothing more to do.".into()),
        Some(Step::Answer(answer)) => Reply::Text(format!("{answer}\n\n{ANSWER_TAG}{next}]")),
        Some(Step::Tool { name, input }) => {
            if name.starts_with("mcp__") && !searched && !offered(body, name) {
                Reply::Tool {
                    id: format!("{ID_PREFIX}{next}_s_{seq}"),
                    name: TOOL_SEARCH.into(),
                    input: json!({"query": format!("select:{name}"), "max_results": 5}),
                }
            } else {
                let input = match &cwd {
                    Some(cwd) => with_cwd(input, cwd),
                    None => {
                        anomaly = Some(format!("{agent}: the request names no `{CWD_LINE}…`"));
                        input.clone()
                    }
                };
                Reply::Tool {
                    id: format!("{ID_PREFIX}{next}_t_{seq}"),
                    name: (*name).into(),
                    input,
                }
            }
        }
    };
    Decision {
        agent: Some(agent),
        reply,
        results,
        anomaly,
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    /// The tool search made before the step's own call.
    Search,
    /// The step itself (a tool call or an answer).
    Done,
}

/// The last step the fake took in this conversation: from the newest
/// assistant message that holds one of its tool ids or answer tags.
fn progress(body: &Value) -> Option<(usize, Kind)> {
    let messages = body["messages"].as_array()?;
    messages
        .iter()
        .rev()
        .filter(|m| m["role"] == "assistant")
        .find_map(|m| {
            blocks(&m["content"])
                .into_iter()
                .rev()
                .find_map(|block| match block["type"].as_str() {
                    Some("tool_use") => parse_id(block["id"].as_str()?),
                    Some("text") => {
                        let text = block["text"].as_str()?;
                        let tail = &text[text.rfind(ANSWER_TAG)? + ANSWER_TAG.len()..];
                        let step = tail.split(']').next()?.parse().ok()?;
                        Some((step, Kind::Done))
                    }
                    _ => None,
                })
        })
}

fn parse_id(id: &str) -> Option<(usize, Kind)> {
    let mut parts = id.strip_prefix(ID_PREFIX)?.split('_');
    let step = parts.next()?.parse().ok()?;
    let kind = match parts.next()? {
        "s" => Kind::Search,
        "t" => Kind::Done,
        _ => return None,
    };
    Some((step, kind))
}

/// A message's content as blocks (a plain string is one text block).
fn blocks(content: &Value) -> Vec<Value> {
    match content {
        Value::String(text) => vec![json!({"type": "text", "text": text})],
        Value::Array(blocks) => blocks.clone(),
        _ => Vec::new(),
    }
}

/// The text of the conversation's first user message (enki's prompt, after
/// Claude Code's reminders).
fn first_user_text(body: &Value) -> String {
    let Some(first) = body["messages"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["role"] == "user"))
    else {
        return String::new();
    };
    blocks(&first["content"])
        .iter()
        .filter_map(|b| b["text"].as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The `[[e2e:NAME]]` markers in `text`, in order.
fn markers(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(MARKER_OPEN) {
        rest = &rest[start + MARKER_OPEN.len()..];
        if let Some(end) = rest.find("]]") {
            found.push(rest[..end].to_owned());
            rest = &rest[end..];
        }
    }
    found
}

/// The agent's working directory, from Claude Code's environment section.
fn working_directory(request: &str) -> Option<String> {
    // `request` is JSON text: the line ends at an escaped newline.
    let start = request.find(CWD_LINE)? + CWD_LINE.len();
    let line = &request[start..];
    let end = line.find("\\n").unwrap_or(line.len());
    serde_json::from_str::<String>(&format!("\"{}\"", &line[..end])).ok()
}

/// Whether the tool's schema is loaded, i.e. it is in the request's tools.
fn offered(body: &Value, name: &str) -> bool {
    body["tools"]
        .as_array()
        .is_some_and(|tools| tools.iter().any(|t| t["name"] == name))
}

fn with_cwd(input: &Value, cwd: &str) -> Value {
    match input {
        Value::String(s) => Value::String(s.replace(CWD, cwd)),
        Value::Array(items) => items.iter().map(|v| with_cwd(v, cwd)).collect(),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| (k.clone(), with_cwd(v, cwd)))
            .collect(),
        other => other.clone(),
    }
}

/// The results of the fake's tool calls in the request's last user message,
/// with the call each answers.
fn results(body: &Value, agent: &str) -> Vec<Observed> {
    let Some(messages) = body["messages"].as_array() else {
        return Vec::new();
    };
    let calls: Vec<Value> = messages
        .iter()
        .filter(|m| m["role"] == "assistant")
        .flat_map(|m| blocks(&m["content"]))
        .filter(|b| b["type"] == "tool_use")
        .collect();
    let Some(last) = messages.iter().rev().find(|m| m["role"] == "user") else {
        return Vec::new();
    };
    let mut seen = HashSet::new();
    blocks(&last["content"])
        .iter()
        .filter(|b| b["type"] == "tool_result")
        .filter_map(|b| {
            let id = b["tool_use_id"].as_str()?;
            if !id.starts_with(ID_PREFIX) || !seen.insert(id.to_owned()) {
                return None;
            }
            let call = calls.iter().find(|c| c["id"] == id)?;
            Some(Observed {
                agent: agent.to_owned(),
                tool: call["name"].as_str().unwrap_or_default().to_owned(),
                input: call["input"].clone(),
                result: result_text(&b["content"]),
                is_error: b["is_error"].as_bool().unwrap_or(false),
            })
        })
        .collect()
}

fn result_text(content: &Value) -> String {
    blocks(content)
        .iter()
        .map(|b| match b["text"].as_str() {
            Some(text) => text.to_owned(),
            None => b.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn script() -> Vec<Script> {
        vec![Script {
            role: Role::Worker,
            marker: "w".into(),
            steps: vec![
                Step::Tool {
                    name: "mcp__enki__enki_worker_report",
                    input: json!({"status": "working"}),
                },
                Step::Tool {
                    name: "Write",
                    input: json!({"file_path": "{cwd}/a.txt", "content": "a"}),
                },
                Step::Answer("finished".into()),
            ],
        }]
    }

    fn request(messages: Value, tools: &[&str]) -> Value {
        let tools: Vec<Value> = tools.iter().map(|t| json!({"name": t})).collect();
        json!({
            "tools": tools,
            "messages": messages,
            "system": [{"type": "text", "text": "x"}],
        })
    }

    fn first() -> Value {
        json!({"role": "user", "content": [
            {"type": "text", "text": "<system-reminder>hi</system-reminder>"},
            {"type": "text", "text": "# Your task: A\n[[e2e:w]]"}
        ]})
    }

    fn context() -> Value {
        json!({"role": "system", "content":
            "Primary working directory: /copies/t1\n - mcp__enki__enki_worker_report"})
    }

    #[test]
    fn a_deferred_mcp_tool_is_searched_for_then_called() {
        let body = request(json!([first(), context()]), &["Bash", "ToolSearch"]);
        let d = decide(&script(), &body, 1);
        assert_eq!(d.agent.as_deref(), Some("worker w"));
        let Reply::Tool { id, name, input } = d.reply else {
            panic!("expected a tool call, got {:?}", d.reply)
        };
        assert_eq!(
            (id.as_str(), name.as_str()),
            ("toolu_e2e_0_s_1", "ToolSearch")
        );
        assert_eq!(input["query"], "select:mcp__enki__enki_worker_report");

        let searched = json!([first(), context(),
            {"role": "assistant", "content": [{"type": "tool_use", "id": id, "name": name, "input": input}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_e2e_0_s_1",
                "content": [{"type": "tool_reference", "tool_name": "mcp__enki__enki_worker_report"}]}]}]);
        let d = decide(&script(), &request(searched, &["Bash"]), 2);
        let Reply::Tool { id, name, .. } = &d.reply else {
            panic!("expected a tool call, got {:?}", d.reply)
        };
        assert_eq!(
            (id.as_str(), name.as_str()),
            ("toolu_e2e_0_t_2", "mcp__enki__enki_worker_report")
        );
        assert_eq!(d.results.len(), 1);
        assert_eq!(d.results[0].tool, "ToolSearch");
    }

    #[test]
    fn steps_follow_results_and_answers_are_tagged() {
        let called = json!([first(), context(),
            {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_e2e_0_t_2",
                "name": "mcp__enki__enki_worker_report", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_e2e_0_t_2",
                "content": "ok", "is_error": false}]}]);
        let d = decide(&script(), &request(called, &["Write"]), 3);
        assert_eq!(
            d.reply,
            Reply::Tool {
                id: "toolu_e2e_1_t_3".into(),
                name: "Write".into(),
                input: json!({"file_path": "/copies/t1/a.txt", "content": "a"}),
            }
        );
        assert_eq!(d.results[0].result, "ok");

        let written = json!([first(), context(),
            {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_e2e_1_t_3",
                "name": "Write", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_e2e_1_t_3",
                "content": [{"type": "text", "text": "denied"}], "is_error": true}]}]);
        let d = decide(&script(), &request(written, &["Write"]), 4);
        assert_eq!(d.reply, Reply::Text("finished\n\n[e2e step 2]".into()));
        assert!(d.results[0].is_error);

        // A later turn of the same session goes on after the answer.
        let later = json!([first(), context(),
            {"role": "assistant", "content": [{"type": "text", "text": "finished\n\n[e2e step 2]"}]},
            {"role": "user", "content": "what happened next"}]);
        let d = decide(&script(), &request(later, &["Write"]), 5);
        assert_eq!(d.reply, Reply::Text("Nothing more to do.".into()));
    }

    #[test]
    fn side_requests_get_a_plain_answer_and_unknown_turns_are_anomalies() {
        // Claude Code titling the session: no tools.
        let d = decide(&script(), &request(json!([first()]), &[]), 1);
        assert!(d.agent.is_none() && d.anomaly.is_none());
        // A marked turn whose agent has no enki tools (its MCP server failed).
        let d = decide(&script(), &request(json!([first()]), &["Bash"]), 1);
        assert!(d.anomaly.is_some_and(|a| a.contains("no enki tools")));
    }
}
