//! Renderers of enki's state, shared by the `enki mcp` tools and the CLI.
//!
//! Everything here is pure: the renderers take rows read from the store and
//! return text or JSON values; the `gather_*` functions only read through a
//! [`enki_store::Store`] reference. No printing, no clock, no files.

mod agents;
mod dag;
mod format;
mod mail;
mod status;
mod task;
mod usage;

pub use agents::{
    agent_state_glyph, agent_state_label, agent_state_text, agent_state_words, duration_words,
    interrupted_text, workers_json, workers_text,
};
pub use dag::{
    DagView, dag_json, dag_json_windows, dag_levels, dag_text, dag_text_windows, gather_dag,
};
pub use format::timestamp;
pub use mail::{mail_list_text, message_text};
pub use status::status_text;
pub use task::{TaskDetail, gather_task_detail, task_detail_text, task_list_text};
pub use usage::{UsageBy, UsageGroup, UsageReport, gather_usage, usage_text, usage_totals};

#[cfg(test)]
mod fixtures;
