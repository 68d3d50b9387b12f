//! `completion/complete`: ids for the prompt arguments that take one and for
//! the `{id}` of the resource templates, from the store, newest first, by
//! what was typed so far (with or without the `task-`/`exec-` prefix, any
//! case). Other arguments (a free-text request) complete to nothing.

use enki_core::IdKind;
use enki_jsonrpc::ErrorObject;
use serde_json::{Value, json};

use crate::context::Context;
use crate::prompts;
use crate::resources::{TEMPLATES, role_has};

/// MCP allows at most 100 values per completion.
pub const MAX_VALUES: usize = 100;

/// Answers `completion/complete`.
pub fn complete(ctx: &mut Context, params: Option<&Value>) -> Result<Value, ErrorObject> {
    let params = params.and_then(Value::as_object).ok_or_else(|| {
        ErrorObject::invalid_params("completion/complete needs params with `ref` and `argument`")
    })?;
    let argument = params
        .get("argument")
        .and_then(Value::as_object)
        .ok_or_else(|| {
            ErrorObject::invalid_params("completion/complete needs `argument`: {name, value}")
        })?;
    let name = argument
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| ErrorObject::invalid_params("`argument.name` must be a string"))?;
    let typed = match argument.get("value") {
        Some(Value::String(value)) => value.as_str(),
        None | Some(Value::Null) => "",
        Some(other) => {
            return Err(ErrorObject::invalid_params(format!(
                "`argument.value` must be a string, got {other}"
            )));
        }
    };
    let kind = id_kind(ctx, params.get("ref"), name)?;
    let (values, more) = match kind {
        Some(kind) => ctx
            .store()
            .map_err(ErrorObject::internal)?
            .ids_starting_with(kind, typed, MAX_VALUES)
            .map_err(|e| ErrorObject::internal(format!("cannot complete `{name}`: {e}")))?,
        None => (Vec::new(), false),
    };
    Ok(json!({"completion": {"values": values, "hasMore": more}}))
}

/// The kind of id the referenced argument takes (`None`: it takes free
/// text), or why the reference is wrong.
fn id_kind(
    ctx: &mut Context,
    reference: Option<&Value>,
    argument: &str,
) -> Result<Option<IdKind>, ErrorObject> {
    let field = |key: &str| reference.and_then(|r| r.get(key)).and_then(Value::as_str);
    match field("type") {
        Some("ref/prompt") => {
            let name = field("name")
                .ok_or_else(|| ErrorObject::invalid_params("`ref.name` must be a string"))?;
            let prompt = prompts::find(ctx, name)?;
            let arg = prompt
                .args
                .iter()
                .find(|a| a.name == argument)
                .ok_or_else(|| {
                    let known: Vec<&str> = prompt.args.iter().map(|a| a.name).collect();
                    ErrorObject::invalid_params(format!(
                        "prompt '{name}' has no argument `{argument}` (its arguments: {})",
                        known.join(", ")
                    ))
                })?;
            Ok(arg.ids)
        }
        Some("ref/resource") => {
            let uri = field("uri")
                .ok_or_else(|| ErrorObject::invalid_params("`ref.uri` must be a string"))?;
            let template = TEMPLATES
                .iter()
                .find(|t| t.uri_template == uri && role_has(ctx, t.tool))
                .ok_or_else(|| {
                    let known: Vec<&str> = TEMPLATES
                        .iter()
                        .filter(|t| role_has(ctx, t.tool))
                        .map(|t| t.uri_template)
                        .collect();
                    ErrorObject::invalid_params(format!(
                        "no resource template '{uri}' (the templates: {})",
                        known.join(", ")
                    ))
                })?;
            if argument != "id" {
                return Err(ErrorObject::invalid_params(format!(
                    "template '{uri}' has one parameter, `id`, not `{argument}`"
                )));
            }
            Ok(Some(template.id_kind))
        }
        _ => Err(ErrorObject::invalid_params(
            "`ref` must be {\"type\": \"ref/prompt\", \"name\"} or {\"type\": \"ref/resource\", \"uri\"}",
        )),
    }
}
