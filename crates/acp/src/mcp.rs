//! The MCP servers a client hands an agent in `session/new`: one the agent
//! starts itself over stdio, or one already listening over HTTP (ACP
//! `{"type": "http", name, url, headers}`), which an agent may take only
//! when its `initialize` declared `agentCapabilities.mcpCapabilities.http`.

use serde_json::{Value, json};

use crate::client::InitializeResult;

/// An MCP server for the agent to start (ACP stdio transport).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct McpServerSpec {
    pub name: String,
    pub command: String,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
}

/// An MCP server the agent connects to over Streamable HTTP.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpMcpServerSpec {
    pub name: String,
    pub url: String,
    /// Sent with every request (e.g. `Authorization: Bearer …`).
    pub headers: Vec<(String, String)>,
}

impl std::fmt::Debug for HttpMcpServerSpec {
    /// Header values may be secrets (a bearer token): only their names.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("HttpMcpServerSpec")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("headers", &names)
            .finish()
    }
}

/// One entry of `session/new`'s `mcpServers`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum McpServer {
    Stdio(McpServerSpec),
    Http(HttpMcpServerSpec),
}

impl From<McpServerSpec> for McpServer {
    fn from(spec: McpServerSpec) -> McpServer {
        McpServer::Stdio(spec)
    }
}

impl From<HttpMcpServerSpec> for McpServer {
    fn from(spec: HttpMcpServerSpec) -> McpServer {
        McpServer::Http(spec)
    }
}

/// `[(name, value)]` as ACP's `[{name, value}]`.
fn name_values(pairs: &[(String, String)]) -> Vec<Value> {
    pairs
        .iter()
        .map(|(name, value)| json!({"name": name, "value": value}))
        .collect()
}

impl McpServerSpec {
    /// The ACP wire form: `{name, command, args, env: [{name, value}]}`.
    pub fn to_json(&self) -> Value {
        json!({"name": self.name, "command": self.command, "args": self.args,
               "env": name_values(&self.env)})
    }
}

impl McpServer {
    /// The ACP wire form of either transport.
    pub fn to_json(&self) -> Value {
        match self {
            McpServer::Stdio(spec) => spec.to_json(),
            McpServer::Http(spec) => json!({"type": "http", "name": spec.name,
                "url": spec.url, "headers": name_values(&spec.headers)}),
        }
    }
}

impl InitializeResult {
    /// Whether the agent takes MCP servers over HTTP
    /// (`agentCapabilities.mcpCapabilities.http: true`).
    pub fn takes_http_mcp(&self) -> bool {
        self.raw["agentCapabilities"]["mcpCapabilities"]["http"] == Value::Bool(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mcp_server_env_is_an_array_of_name_value() {
        let spec = McpServerSpec {
            name: "enki".into(),
            command: "/bin/enki".into(),
            args: vec!["mcp".into()],
            env: vec![("A".into(), "1".into()), ("B".into(), "".into())],
        };
        assert_eq!(
            McpServer::from(spec).to_json(),
            json!({"name": "enki", "command": "/bin/enki", "args": ["mcp"],
                   "env": [{"name": "A", "value": "1"}, {"name": "B", "value": ""}]})
        );
        let empty = McpServerSpec::default().to_json();
        assert_eq!(empty["env"], json!([]));
        assert_eq!(empty["args"], json!([]));
    }

    #[test]
    fn an_http_server_is_typed_and_its_headers_stay_out_of_debug() {
        let spec = HttpMcpServerSpec {
            name: "enki".into(),
            url: "http://127.0.0.1:4000/mcp".into(),
            headers: vec![("Authorization".into(), "Bearer secret-token".into())],
        };
        assert!(!format!("{spec:?}").contains("secret"));
        assert_eq!(
            McpServer::from(spec).to_json(),
            json!({"type": "http", "name": "enki", "url": "http://127.0.0.1:4000/mcp",
                   "headers": [{"name": "Authorization", "value": "Bearer secret-token"}]})
        );
    }

    #[test]
    fn only_a_declared_http_capability_counts() {
        let init = |raw: Value| InitializeResult {
            protocol_version: 1,
            auth_methods: Vec::new(),
            raw,
        };
        let declared = json!({"agentCapabilities": {"mcpCapabilities": {"http": true}}});
        assert!(init(declared).takes_http_mcp());
        for raw in [
            json!({}),
            json!({"agentCapabilities": {"mcpCapabilities": {"http": "yes"}}}),
            json!({"agentCapabilities": {"mcpCapabilities": {"sse": true}}}),
        ] {
            assert!(!init(raw).takes_http_mcp());
        }
    }
}
