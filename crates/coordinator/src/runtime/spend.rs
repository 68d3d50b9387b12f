//! What runs use, as it is reported: shown to the front ends with the
//! session's total.

use enki_core::usage::{RunUsage, Totals};
use enki_store::UsageFilter;

use crate::progress::Progress;

use super::Runtime;

impl Runtime {
    /// A run's usage changed (`task` is `None` for the planner): the front
    /// ends are told, with the session's total read back from the store.
    pub(super) async fn on_usage(&mut self, task: Option<String>, run: &str, usage: RunUsage) {
        let filter = UsageFilter {
            session: Some(self.ctx.session_id.clone()),
            ..UsageFilter::default()
        };
        let session = match self.ctx.db.call(move |s| s.usage_rows(&filter)).await {
            Ok(rows) => {
                let mut totals = Totals::default();
                for row in &rows {
                    totals.add(&row.usage, &self.ctx.config.prices);
                }
                totals
            }
            Err(e) => {
                tracing::warn!("cannot read the session's usage: {e}");
                return;
            }
        };
        let mut priced = Totals::default();
        priced.add(&usage, &self.ctx.config.prices);
        self.emit(Progress::Usage {
            task,
            run: run.to_string(),
            usage: Box::new(priced),
            session: Box::new(session),
        });
    }
}
