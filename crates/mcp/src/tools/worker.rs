//! Worker progress reports.

use enki_signals::SignalKind;
use serde_json::json;

use super::{ToolOutput, ToolResult, WorkerReportArgs};
use crate::context::Context;

pub fn report(ctx: &mut Context, args: WorkerReportArgs) -> ToolResult {
    let status = args.status.trimmed().to_string();
    let task_id = ctx.my_task()?;
    ctx.store()?
        .record_worker_report(&task_id, &status, args.output.as_deref())
        .map_err(|e| e.to_string())?;
    ctx.signal(SignalKind::WorkerReport {
        task_id: task_id.clone(),
        status: status.clone(),
        output: args.output.clone(),
    });
    let saved = if args.output.is_some() {
        " and your output"
    } else {
        ""
    };
    Ok(ToolOutput::with_data(
        format!("Recorded your status{saved}: {status}"),
        json!({"task_id": task_id, "status": status, "output_recorded": args.output.is_some()}),
    ))
}
