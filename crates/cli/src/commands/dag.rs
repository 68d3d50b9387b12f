//! `enki dag`: the dependency graph of one execution or all of them.

use anyhow::Result;
use enki_views::{dag_json, dag_text, gather_dag};

use super::{open_store, print_json, print_text, session};

pub fn run(execution: Option<&str>, json: bool) -> Result<()> {
    let store = open_store()?;
    let execution_id = execution
        .map(|input| store.resolve_execution(input))
        .transpose()?;
    let dags = gather_dag(&store, execution_id.as_deref(), session().as_deref())?;
    if json {
        return print_json(&dag_json(&dags));
    }
    print_text(&dag_text(&dags))
}
